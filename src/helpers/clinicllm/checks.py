"""Did the model learn? A check on its validation scores, run by every chapter that trains a model.

A fine-tuned model that has learned nothing still produces an AUROC (around 0.5) and the chapter would report it as a
finding. Two symptoms tell such a model apart, both read on the validation admissions (never on a test split):

* its scores hardly vary: a model collapsed to the base rate gives every admission almost the same probability
  (standard deviation ~0.0005 in the case that prompted this check), so whatever ranking it has is noise;
* its validation AUROC is not clearly above chance: the lower end of the 95 % patient-level bootstrap CI is at or
  below ``min_auroc`` (0.5 by default).

:func:`learning_check` returns both figures and a verdict; :func:`learning_admonition` turns a failed check into
the warning a chapter shows in place of its results, with the likely causes.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

__all__ = ["LearningCheck", "learning_check", "learning_admonition", "learning_display", "learning_texts",
           "LIKELY_CAUSES", "MAX_BASELINE_GAP", "baseline_gap_admonition", "baseline_gap_display"]

MIN_SCORE_SD = 1e-4
"""Below this standard deviation of the predicted probabilities the model is taken as collapsed to a constant.
A collapsed model spreads its scores by well under a thousandth and ranks at chance, which the AUROC rule below
catches too. The spread alone is no verdict: a model that ranks well can still squeeze its scores near the base
rate (measured: validation AUROC 0.73 with a standard deviation of 0.002 on short structured notes)."""

LIKELY_CAUSES = (
    "too few fine-tuning steps: a small model on a small cohort first sits at the base rate for a few hundred "
    "steps (raise finetune_min_steps or finetune_epochs)",
    "a classifier that reads the [CLS] vector after a short pretraining, which hardly depends on the note "
    "(classifier_input: mean)",
    "a learning rate too high for the model size, which drives the classifier to the base rate "
    "(lower finetune_learning_rate)",
    "pretraining too short for the notes' vocabulary (raise pretrain_max_steps or pretrain_epochs)",
    "too few readmissions in the training split for the model to find a signal (use more admissions)",
    "notes that carry little of the outcome: compare with the TF-IDF baseline",
)

@dataclass
class LearningCheck:
    """Verdict and figures of :func:`learning_check`."""

    learned: bool
    validation_auroc: float
    auroc_ci_low: float
    auroc_ci_high: float
    score_sd: float
    score_p10: float
    score_p90: float
    n: int
    n_pos: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def learning_check(predictions: pd.DataFrame, *, split: str = "validation", min_auroc: float = 0.5,
                   min_score_sd: float = MIN_SCORE_SD, n_resamples: int = 200, seed: int = 0) -> LearningCheck:
    """Check that a model learned, from its predictions (the evaluation contract) on the ``split`` rows.

    ``learned`` is False when the scores' standard deviation is below ``min_score_sd`` (collapsed to a constant)
    or when the lower end of the validation AUROC's 95 % patient-level bootstrap CI is at or below ``min_auroc``.
    """
    from helpers.evaluation import bootstrap_metrics

    needed = {"split", "y_true", "y_score", "patient_id"}
    missing = sorted(needed - set(predictions.columns))
    if missing:
        raise ValueError(f"learning_check: the predictions lack column(s) {missing}; pass a predictions table "
                         "(evaluation.PREDICTION_COLUMNS).")
    rows = predictions[predictions["split"] == split]
    if rows.empty:
        raise ValueError(f"learning_check: no rows with split == {split!r}; the check reads the validation scores.")
    scores = rows["y_score"].to_numpy(dtype=float)
    estimate = bootstrap_metrics(rows["y_true"].to_numpy(), scores, rows["patient_id"].to_numpy(),
                                 metrics=("auroc",), n_resamples=n_resamples, seed=seed)["auroc"]
    sd = float(np.std(scores))
    problems = []
    if sd < min_score_sd:
        problems.append(
            f"its {split} scores hardly vary (standard deviation {sd:.5f}, below {min_score_sd}): it gives every "
            "admission about the same probability"
        )
    if not np.isfinite(estimate.ci_low) or estimate.ci_low <= min_auroc:
        problems.append(
            f"its {split} AUROC {estimate.value:.3f} (95 % CI {estimate.ci_low:.3f}-{estimate.ci_high:.3f}) is not "
            f"clearly above {min_auroc}"
        )
    p10, p90 = np.percentile(scores, [10, 90])
    return LearningCheck(learned=not problems, validation_auroc=float(estimate.value),
                         auroc_ci_low=float(estimate.ci_low), auroc_ci_high=float(estimate.ci_high), score_sd=sd,
                         score_p10=float(p10), score_p90=float(p90), n=int(estimate.n), n_pos=int(estimate.n_pos),
                         problems=problems)


def learning_admonition(check: LearningCheck, model: str = "ClinicLLM") -> str:
    """HTML for the book: empty when the model learned, else a warning box naming the symptoms and likely causes.

    Display it with ``IPython.display.HTML`` (rendered as the book theme's warning admonition); the chapter then
    reads its numbers as the record of a failed training, not as a finding.
    """
    if check.learned:
        return ""
    symptoms = "; ".join(html.escape(problem) for problem in check.problems)
    causes = "".join(f"<li>{html.escape(cause)}</li>" for cause in LIKELY_CAUSES)
    return (
        '<div class="admonition warning">'
        f'<p class="admonition-title">{html.escape(model)} did not learn in this run</p>'
        f"<p>The check on the validation admissions failed: {symptoms}. The test AUROCs below are those of a model "
        "that ranks admissions no better than chance: read them as a failed training, not as a result about the "
        "notes or the hospitals.</p>"
        f"<p>Likely causes, most likely first:</p><ul>{causes}</ul></div>"
    )


def learning_display(check: LearningCheck, model: str = "ClinicLLM"):
    """The warning box as a displayable object when the model did not learn; None (nothing shown) when it did."""
    from IPython.display import HTML

    box = learning_admonition(check, model)
    return HTML(box) if box else None


def learning_texts(check: LearningCheck) -> dict[str, str]:
    """Phrases for the chapter's prose, on both verdicts (each is glued, so the page reads right either way)."""
    from helpers.evaluation import format_estimate

    verdict = ("it passes the check: its scores vary across admissions and rank validation admissions better than "
               "chance, so its test AUROCs below are findings" if check.learned else
               "it FAILS the check (see the warning above): the AUROCs below describe a failed training")
    return {"check_validation_auroc": format_estimate(check.validation_auroc, check.auroc_ci_low,
                                                      check.auroc_ci_high),
            "check_score_sd": f"{check.score_sd:.4f}",
            "check_score_range": f"{check.score_p10:.3f}-{check.score_p90:.3f}",
            "check_verdict": verdict}


MAX_BASELINE_GAP = 0.1
"""How far ClinicLLM's validation AUROC may fall below the TF-IDF baseline's before the chapter says that the model
learned little. On the default cohort the two differ by about 0.05; one pretraining draw in four of the tiny preset
gave an encoder whose features barely vary across notes, and a model 0.16 below TF-IDF that still passed the
learning check (validation AUROC 0.548, CI 0.517-0.583)."""

WEAK_MODEL_CAUSES = (
    "a pretraining draw whose encoder features barely vary across notes (try another seed, or raise "
    "pretrain_max_steps)",
    "pretraining too short for the notes' vocabulary (raise pretrain_max_steps or pretrain_epochs)",
    "too few fine-tuning steps or too low a learning rate to move far from the linear probe (raise "
    "finetune_min_steps or finetune_learning_rate)",
)


def _validation_auroc(predictions: pd.DataFrame, model: str, split: str) -> float | None:
    from sklearn.metrics import roc_auc_score

    rows = predictions[(predictions["model"] == model) & (predictions["split"] == split)]
    if rows.empty or rows["y_true"].nunique() < 2:
        return None
    return float(roc_auc_score(rows["y_true"], rows["y_score"]))


def baseline_gap_admonition(predictions: pd.DataFrame, *, model: str = "clinicllm", baseline: str = "tfidf_lr",
                            split: str = "validation", max_gap: float = MAX_BASELINE_GAP,
                            model_label: str = "ClinicLLM",
                            baseline_label: str = "TF-IDF with logistic regression") -> str:
    """HTML for the book: empty unless ``model``'s AUROC on ``split`` is more than ``max_gap`` below ``baseline``'s
    on the same admissions, else a warning box saying the model learned little, with the likely causes.

    It reads the chapter's predictions table (columns model, split, y_true, y_score); a model or split that is
    missing (or has a single class) gives no box.
    """
    model_auroc = _validation_auroc(predictions, model, split)
    baseline_auroc = _validation_auroc(predictions, baseline, split)
    if model_auroc is None or baseline_auroc is None or baseline_auroc - model_auroc <= max_gap:
        return ""
    causes = "".join(f"<li>{html.escape(cause)}</li>" for cause in WEAK_MODEL_CAUSES)
    return (
        '<div class="admonition warning">'
        f'<p class="admonition-title">{html.escape(model_label)} learned little in this run</p>'
        f"<p>Its {html.escape(split)} AUROC is {model_auroc:.3f}, {baseline_auroc - model_auroc:.3f} below the "
        f"baseline's ({html.escape(baseline_label)}) {baseline_auroc:.3f} on the same admissions, more than "
        f"{max_gap}. A bag of words reads these notes much better: the results below, and the chapters built on "
        "this model, describe a weak model rather than what a language model can learn from the notes.</p>"
        f"<p>Likely causes, most likely first:</p><ul>{causes}</ul></div>"
    )


def baseline_gap_display(predictions: pd.DataFrame, **options):
    """The box of :func:`baseline_gap_admonition` as a displayable object; None (nothing shown) when not needed."""
    from IPython.display import HTML

    box = baseline_gap_admonition(predictions, **options)
    return HTML(box) if box else None
