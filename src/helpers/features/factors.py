"""The factor table: one row per test admission with the model's error and the study's candidate factors.

The study (Rahman et al., 2024) names its candidate explanations of poor generalization: fine-tuning sample size,
words per note, comorbidity level, age, insurance type, borough, the hospital, and the hospital's 30-day
readmission and mortality rates (:data:`FACTOR_LABELS`).

The error measure. An admission is *misclassified* when the model's score falls on the wrong side of one threshold
fixed on the validation split before any test admission is looked at. The threshold maximises Youden's J
(sensitivity + specificity - 1) on validation, so the two kinds of error are weighed by their rates: at that point
the share of readmitted admissions missed and the share of others falsely flagged are of similar size, and a factor
that only raises the readmission rate does not by itself raise the error rate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from helpers import evaluation
from helpers.contracts import TEST_SPLITS, binary_labels, check_columns


FACTOR_LABELS: dict[str, str] = {
    "train_size": "fine-tuning sample size",
    "words_per_note": "words per note",
    "comorbidity_level": "comorbidity level",
    "age": "age",
    "insurance": "insurance",
    "borough": "borough",
    "hospital": "hospital",
    "readmission_rate": "hospital readmission rate",
    "mortality_rate": "hospital mortality rate",
}
"""The study's candidate factors: column in the factor table -> the name the book uses."""
HOSPITAL_LEVEL_FACTORS: tuple[str, ...] = ("hospital", "train_size", "readmission_rate", "mortality_rate")
"""Factors that take one value per hospital (and therefore identify one another)."""
HOSPITAL_BLOCK = "hospital block (hospital, sample size, readmission and mortality rates)"
"""Name of the joint permutation of :data:`HOSPITAL_LEVEL_FACTORS`."""
CATEGORICAL_FACTORS: tuple[str, ...] = ("insurance", "borough", "hospital")
HIDDEN_LABELS: dict[str, str] = {
    "documented_share": "share of the admission's facts the note documents",
    "share_unread": "share of the note past the model's input limit",
    "unrecorded_share": "share of risk never recorded (oracle)",
}
"""The simulator's hidden variables (simulated data only), column -> book name."""
GOVERNMENT_INSURANCE = ("Medicare", "Medicaid")


def hospital_factors(data: pd.DataFrame, hospital_rates: pd.DataFrame,
                     max_train_samples: int | None = None) -> pd.DataFrame:
    """Per hospital: fine-tuning sample size (training admissions) and the 30-day readmission and mortality rates.

    ``hospital_rates`` is chapter 1's ``hospital_rates.csv``. When chapter 2 capped its training set
    (``max_train_samples``), the sample sizes are scaled to the share it kept (the cap samples at random).
    """
    check_columns(data, ["hospital", "split"], where="hospital_factors: study frame")
    check_columns(hospital_rates, ["hospital", "readmission_rate", "mortality_rate"],
                  where="hospital_factors: hospital_rates.csv", fix="re-run chapter 1 (01_data), which writes it")
    train = data[data["split"] == "train"]
    if train.empty:
        raise ValueError("hospital_factors: the study frame has no 'train' rows; the sample sizes come from them.")
    kept = 1.0 if not max_train_samples else min(1.0, max_train_samples / len(train))
    sizes = (train.groupby("hospital").size() * kept).round().astype(int).rename("train_size")
    rates = hospital_rates.assign(hospital=hospital_rates["hospital"].astype(str)).set_index("hospital")
    out = pd.DataFrame({"hospital": sorted(data["hospital"].astype(str).unique())}).set_index("hospital")
    out["train_size"] = sizes.reindex(out.index).fillna(0).astype(int)
    missing = [h for h in out.index if h not in rates.index]
    if missing:
        raise ValueError(
            f"hospital_factors: hospital_rates.csv has no row for {missing}; it comes from another cohort. Re-run "
            "chapter 1 so that both files describe the same admissions."
        )
    out["readmission_rate"] = rates.loc[out.index, "readmission_rate"].astype(float)
    out["mortality_rate"] = rates.loc[out.index, "mortality_rate"].astype(float)
    return out.reset_index()


def youden_threshold(y_true, y_score) -> float:
    """The score threshold (flag when score >= threshold) that maximises sensitivity + specificity - 1."""
    labels = binary_labels(y_true, column="y_true", where="youden_threshold")
    scores = np.asarray(y_score, dtype=float)
    if len(np.unique(labels)) < 2:
        raise ValueError("youden_threshold: the validation labels hold one class only; the threshold needs both.")
    fpr, tpr, thresholds = roc_curve(labels, scores)
    finite = np.isfinite(thresholds)
    best = np.argmax(np.where(finite, tpr - fpr, -np.inf))
    return float(thresholds[best])


def misclassified(y_true, y_score, threshold: float) -> np.ndarray:
    """1 where the flag ``score >= threshold`` disagrees with the outcome (a missed readmission or a false alarm)."""
    labels = binary_labels(y_true, column="y_true", where="misclassified")
    scores = np.asarray(y_score, dtype=float)
    if scores.shape != labels.shape:
        raise ValueError(f"misclassified: y_score has shape {scores.shape} but y_true {labels.shape}; align them.")
    return ((scores >= threshold).astype(np.int8) != labels).astype(np.int8)


def note_share_read(tokenizer, texts: Sequence[str], max_length: int, note_reading: str = "head") -> np.ndarray:
    """Share of each note's tokens ([CLS] and [SEP] included) that the model reads.

    A model that reads the head of the note (``note_reading='head'``) sees the first ``max_length`` tokens; one
    that reads the whole note in windows (``'windows'``, chapter 2's option) sees all of it.
    """
    if note_reading not in ("head", "windows"):
        raise ValueError(f"note_reading is {note_reading!r}; chapter 2's model reads 'head' or 'windows'.")
    if note_reading == "windows":
        return np.ones(len(texts))
    from helpers.clinicllm.tokenizer import token_lengths

    lengths = token_lengths(tokenizer, list(texts))
    return np.minimum(lengths, max_length) / np.maximum(lengths, 1)


def admission_factors(data: pd.DataFrame, predictions: pd.DataFrame, hospitals: pd.DataFrame, threshold: float,
                      *, splits: Sequence[str] = TEST_SPLITS, share_read: pd.Series | None = None,
                      oracle: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per test admission: the model's score, the error measure, the candidate factors (and hidden ones).

    ``predictions`` is one model's predictions table; ``hospitals`` comes from :func:`hospital_factors`;
    ``share_read`` (indexed by admission_id) is the share of the note the model reads; ``oracle`` (simulated data
    only) adds the hidden variables of :data:`HIDDEN_LABELS`.
    """
    evaluation.validate_predictions(predictions)
    if predictions["model"].nunique() != 1 or predictions["admission_id"].duplicated().any():
        raise ValueError("admission_factors: pass the predictions of one model (one row per admission).")
    wanted = ["admission_id", "age", "age_group", "insurance", "comorbidity_level", "words_per_note"]
    check_columns(data, wanted, where="admission_factors: study frame")
    extra = [c for c in ("borough", "facts_documented", "facts_in_record") if c in data.columns]
    part = predictions[predictions["split"].isin(list(splits))]
    table = part[["admission_id", "patient_id", "hospital", "split", "y_true", "y_score"]].merge(
        data[wanted + extra], on="admission_id", how="left", validate="one_to_one")
    table["hospital"] = table["hospital"].astype(str)
    table = table.merge(hospitals, on="hospital", how="left", validate="many_to_one")
    table["error"] = misclassified(table["y_true"], table["y_score"], threshold)
    for column in ("insurance", "borough", "age_group"):
        if column in table:
            table[column] = table[column].astype(str)
    if share_read is not None:
        table["share_read"] = table["admission_id"].map(share_read).astype(float)
        table["share_unread"] = 1.0 - table["share_read"]
    if oracle is not None:
        if {"facts_documented", "facts_in_record"} <= set(table.columns):
            table["documented_share"] = table["facts_documented"] / table["facts_in_record"].clip(lower=1)
        table = table.merge(oracle[["admission_id", "unrecorded_share"]], on="admission_id", how="left",
                            validate="one_to_one")
    return table.drop(columns=[c for c in ("facts_documented", "facts_in_record") if c in table.columns])


def visible_factors(factors: pd.DataFrame) -> list[str]:
    """The candidate factors the table holds for every admission.

    Borough is absent from some real data, and on real data chapter 1 suppresses a hospital's mortality rate when
    it rests on fewer than 11 deaths; a factor missing for some admissions is left out (:func:`left_out_factors`).
    """
    return [c for c in FACTOR_LABELS if c in factors.columns and factors[c].notna().all()]


def left_out_factors(factors: pd.DataFrame) -> str:
    """The candidate factors the analysis cannot use, and why, in words ('none' when all are used)."""
    reasons = []
    for column, label in FACTOR_LABELS.items():
        if column not in factors.columns:
            reasons.append(f"{label} (not in the data)")
        elif factors[column].isna().any():
            reasons.append(f"{label} (missing for some hospitals or admissions, e.g. suppressed under 11)")
    return "; ".join(reasons) if reasons else "none"


def length_bins(factors: pd.DataFrame, n_bins: int = 4) -> pd.DataFrame:
    """admission_id with note-length and share-read bins (quantile bins of the test admissions), for grouping."""
    out = factors[["admission_id"]].copy()
    words = pd.qcut(factors["words_per_note"], n_bins, duplicates="drop")
    out["words_per_note_bin"] = [f"{int(np.ceil(b.left))}-{int(b.right)} words" for b in words]
    if "share_read" in factors:
        share = factors["share_read"]
        edges = np.unique(np.quantile(share, np.linspace(0, 1, n_bins + 1)))
        if len(edges) > 2:
            binned = pd.cut(share, edges, include_lowest=True, duplicates="drop")
            out["share_read_bin"] = [f"{100 * max(b.left, 0):.0f}-{100 * b.right:.0f} % read" for b in binned]
        else:
            out["share_read_bin"] = f"{100 * share.iloc[0]:.0f} % read"
    return out


def bin_order(labels: pd.Series) -> list[str]:
    """Bin labels in numeric order of their lower edge."""
    return sorted(pd.unique(labels), key=lambda s: float(re.match(r"[0-9.]+", str(s)).group()))
