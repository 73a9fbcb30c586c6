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
           "LIKELY_CAUSES"]

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
