"""Chapter 2's warning that ClinicLLM learned little, carried to every chapter built on the model.

Chapter 2 checks its model on the validation admissions with the rules of :mod:`helpers.clinicllm.checks`: the
model *did not learn* when its validation scores hardly vary or its validation AUROC is not clearly above chance
(:func:`~helpers.clinicllm.checks.learning_check`), and it *learned little* when its validation AUROC is more than
:data:`~helpers.clinicllm.checks.MAX_BASELINE_GAP` below the TF-IDF baseline's on the same admissions
(:func:`~helpers.clinicllm.checks.baseline_gap_admonition`). Chapters 3 to 6 read the global model's predictions
and so inherit whatever chapter 2 found. This module applies the same rules to the predictions chapter 2 saved
(``artifacts/02_clinicllm/predictions_02_clinicllm.parquet``, validation rows included), so the verdict is
chapter 2's, never a second opinion; the book build puts the resulting box at the top of chapters 3-6 and chapter 6 gives it as its
first reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from helpers.artifacts import RunPaths
from helpers.clinicllm import checks

PREDICTIONS_FILE = "predictions_02_clinicllm.parquet"
CARRYING_CHAPTERS = ("03_disparities", "04_feature_analysis", "05_mitigation", "06_summary")
MODEL, BASELINE, SPLIT = "global", "tfidf_lr", "validation"


@dataclass(frozen=True)
class LearningWarning:
    """What chapter 2 warned about: a short title, and the reason as a phrase ("ClinicLLM learned little ...")."""

    title: str
    reason: str


def _auroc(rows: pd.DataFrame) -> float:
    return float(roc_auc_score(rows["y_true"], rows["y_score"])) if rows["y_true"].nunique() == 2 else np.nan


def learning_warning(predictions: pd.DataFrame) -> LearningWarning | None:
    """Chapter 2's warning for these predictions (its ``experiment`` column names global, tfidf_lr, oracle), or
    None when the model passed both checks."""
    missing = [c for c in ("experiment", "model", "split", "y_true", "y_score", "patient_id")
               if c not in predictions.columns]
    if missing:
        raise ValueError(f"learning_warning: the predictions lack column(s) {missing}; pass chapter 2's "
                         f"{PREDICTIONS_FILE}.")
    model = predictions[(predictions["experiment"] == MODEL) & (predictions["split"] == SPLIT)]
    if model.empty:
        return None
    check = checks.learning_check(model, split=SPLIT)
    if not check.learned:
        return LearningWarning("ClinicLLM did not learn in this run",
                               f"ClinicLLM did not learn in this run ({'; '.join(check.problems)})")
    baseline = predictions[(predictions["experiment"] == BASELINE) & (predictions["split"] == SPLIT)]
    if baseline.empty:
        return None
    # chapter 2's own rule decides; the numbers below only word it
    both = pd.concat([model, baseline], ignore_index=True)
    if not checks.baseline_gap_admonition(both, model=str(model["model"].iloc[0]),
                                          baseline=str(baseline["model"].iloc[0]), split=SPLIT):
        return None
    ours, theirs = _auroc(model), _auroc(baseline)
    return LearningWarning(
        "ClinicLLM learned little in this run",
        f"ClinicLLM learned little in this run: its validation AUROC is {ours:.3f}, {theirs - ours:.3f} below the "
        f"TF-IDF baseline's {theirs:.3f} on the same admissions (chapter 2 warns beyond {checks.MAX_BASELINE_GAP})")


def read_warning(run_dir: str | os.PathLike) -> LearningWarning | None:
    """The warning of a run, from chapter 2's saved predictions (None when the file is missing or all is well)."""
    path = RunPaths.from_run_dir(run_dir).written_by("02_clinicllm") / PREDICTIONS_FILE
    if not path.exists():
        return None
    return learning_warning(pd.read_parquet(path))


def warning_markdown(warning: LearningWarning, chapter2: str = "02_clinicllm") -> str:
    """The MyST warning box a chapter shows at its top (the link goes to chapter 2's check)."""
    return (f":::{{warning}} {warning.title}\n"
            f"{warning.reason}. Chapter 2 ({{doc}}`{chapter2}`) says so in its warning box; every number on this "
            "page that comes from ClinicLLM describes that weak model, so read the differences between hospitals "
            "and groups as a weak model's, not as what a language model can learn from these notes.\n:::\n")
