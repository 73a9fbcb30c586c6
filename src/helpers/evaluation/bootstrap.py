"""Patient-level bootstrap confidence intervals, and the smallest change a test of a given size could detect.

Why a patient-level bootstrap. A patient can have several admissions in one test split, and those admissions share
the patient's unrecorded risk and the way their notes are written. Resampling admissions as if they were
independent would understate the uncertainty. We therefore resample *patients* with replacement; a patient drawn
``k`` times brings all of its admissions ``k`` times, which is the weight "number of times its patient was drawn"
(:mod:`.scores` evaluates every resample at once).

Why groups can be NaN. A subgroup with a single outcome class has no AUROC, and one with three positives has an
AUROC whose interval spans almost everything. Such groups get value NaN and a ``reason`` ("only one class", "3
positives < min 5"), never a crash and never a misleading 0. Defaults (:data:`DEFAULT_MIN_CASES`,
:data:`DEFAULT_MIN_POSITIVES`, :data:`DEFAULT_MIN_NEGATIVES`) follow the common advice that a ranking metric needs
at least a handful of events in each class; they are parameters, and chapters may raise them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from helpers.evaluation.scores import (
    RANKING_METRICS, SUPPORTED_METRICS, SortedScores, as_labels, as_patient_codes, as_scores, check_metric_names,
    metrics_for_sorted_weights,
)


DEFAULT_MIN_CASES = 20
"""Admissions a group needs before any metric is reported for it."""
DEFAULT_MIN_POSITIVES = 5
"""Readmitted admissions a group needs before AUROC/AUPRC are reported (ranking needs events)."""
DEFAULT_MIN_NEGATIVES = 5
"""Non-readmitted admissions a group needs before AUROC/AUPRC are reported."""
DEFAULT_CONFIDENCE = 0.95
# Bound on the number of float64 cells of one B x n block (about 16 MB), so that a bootstrap over a large split
# runs in chunks of resamples instead of allocating the full weight matrix at once.
_BLOCK_CELLS = 2_000_000


@dataclass
class MetricResult:
    """One metric for one group: point estimate, percentile CI, counts, and why it is NaN when it is.

    ``n_resamples_used`` is the number of bootstrap resamples that entered the CI: resamples in which one outcome
    class vanished have no AUROC/AUPRC and are dropped, and ``n_resamples_requested`` says how many were drawn.
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    n_pos: int
    reason: str | None = None
    n_resamples_used: int = 0
    n_resamples_requested: int = 0

    @property
    def note(self) -> str:
        """Text for the metrics file: the NaN reason, or how many resamples were kept when some were dropped."""
        if self.reason:
            return self.reason
        if self.n_resamples_used < self.n_resamples_requested:
            return (
                f"bootstrap kept {self.n_resamples_used}/{self.n_resamples_requested} resamples "
                "(the others lost an outcome class)"
            )
        return ""


def insufficiency_reason(
    metric: str, n: int, n_pos: int, min_cases: int, min_positives: int, min_negatives: int
) -> str | None:
    """Why a group is too small for ``metric``, or None when it is large enough."""
    if n == 0:
        return "no admissions"
    if n < min_cases:
        return f"{n} admissions < min {min_cases}"
    if metric in RANKING_METRICS:
        n_neg = n - n_pos
        if n_pos == 0 or n_neg == 0:
            return "only one class"
        if n_pos < min_positives:
            return f"{n_pos} positives < min {min_positives}"
        if n_neg < min_negatives:
            return f"{n_neg} negatives < min {min_negatives}"
    return None


def check_bootstrap_parameters(n_resamples: int, confidence: float, thresholds: Mapping[str, int]) -> None:
    if int(n_resamples) != n_resamples or n_resamples < 0:
        raise ValueError(f"n_resamples must be a non-negative integer (0 = no CI); got {n_resamples!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence!r}.")
    for name, value in thresholds.items():
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")


def patient_resample_blocks(patient_codes: np.ndarray, n_patients: int, n_resamples: int, seed: int):
    """Yield admission weight blocks (rows = resamples): each weight is how often the admission's patient was drawn.

    Each resample draws ``n_patients`` patients uniformly with replacement; the per-patient counts are obtained
    with one ``bincount`` per block. Blocks keep memory bounded on large splits.
    """
    rng = np.random.default_rng(seed)
    rows_per_block = max(1, min(n_resamples, _BLOCK_CELLS // max(len(patient_codes), n_patients, 1)))
    done = 0
    while done < n_resamples:
        rows = min(rows_per_block, n_resamples - done)
        draws = rng.integers(0, n_patients, size=(rows, n_patients))
        offsets = (np.arange(rows) * n_patients)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=rows * n_patients).reshape(rows, n_patients)
        yield counts[:, patient_codes].astype(float)
        done += rows


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    kept = values[np.isfinite(values)]
    if kept.size == 0:
        return np.nan, np.nan, 0
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(kept, [tail, 100 - tail])
    return float(low), float(high), int(kept.size)


def bootstrap_metrics(
    y_true,
    y_score,
    patient_id,
    metrics: Sequence[str] = SUPPORTED_METRICS,
    n_resamples: int = 1000,
    seed: int = 0,
    min_cases: int = DEFAULT_MIN_CASES,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    min_negatives: int = DEFAULT_MIN_NEGATIVES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, MetricResult]:
    """Point estimates and patient-level percentile bootstrap CIs for several metrics of one group.

    All ``n_resamples`` resamples are drawn as a weight matrix and evaluated with array operations, so 1,000
    resamples of a few thousand admissions take about a second. ``n_resamples=0`` gives point estimates with NaN
    CIs. A group below the thresholds gets NaN value and CI with a ``reason`` (see module docstring).
    """
    labels = as_labels(y_true)
    scores = as_scores(y_score, len(labels))
    patient_codes, n_patients = as_patient_codes(patient_id, len(labels))
    names = check_metric_names(metrics)
    check_bootstrap_parameters(
        n_resamples,
        confidence,
        {"min_cases": min_cases, "min_positives": min_positives, "min_negatives": min_negatives},
    )
    n, n_pos = len(labels), int(labels.sum())

    reasons = {m: insufficiency_reason(m, n, n_pos, min_cases, min_positives, min_negatives) for m in names}
    estimable = [m for m in names if reasons[m] is None]
    results = {
        m: MetricResult(np.nan, np.nan, np.nan, n, n_pos, reasons[m], 0, n_resamples) for m in names if reasons[m]
    }
    if not estimable:
        return results

    sorted_scores = SortedScores.build(labels, scores)
    point = metrics_for_sorted_weights(sorted_scores, np.ones((1, n)), estimable)
    per_resample: dict[str, list[np.ndarray]] = {m: [] for m in estimable}
    sorted_codes = patient_codes[sorted_scores.order]
    for block in patient_resample_blocks(sorted_codes, n_patients, n_resamples, seed):
        for metric, values in metrics_for_sorted_weights(sorted_scores, block, estimable).items():
            per_resample[metric].append(values)

    for metric in estimable:
        values = np.concatenate(per_resample[metric]) if per_resample[metric] else np.empty(0)
        low, high, used = percentile_interval(values, confidence)
        results[metric] = MetricResult(float(point[metric][0]), low, high, n, n_pos, None, used, n_resamples)
    return {m: results[m] for m in names}


def bootstrap_resample_values(
    y_true, y_score, patient_id, metric: str = "auroc", n_resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """The metric in every patient-level resample (NaN where a class vanished), e.g. to plot its distribution."""
    labels = as_labels(y_true)
    scores = as_scores(y_score, len(labels))
    patient_codes, n_patients = as_patient_codes(patient_id, len(labels))
    (name,) = check_metric_names((metric,))
    check_bootstrap_parameters(n_resamples, 0.95, {})
    sorted_scores = SortedScores.build(labels, scores)
    blocks = patient_resample_blocks(patient_codes[sorted_scores.order], n_patients, n_resamples, seed)
    values = [metrics_for_sorted_weights(sorted_scores, block, (name,))[name] for block in blocks]
    return np.concatenate(values) if values else np.empty(0)


def paired_bootstrap_delta(
    y_true,
    score_a,
    score_b,
    patient_id,
    n_resamples: int = 1000,
    seed: int = 0,
    min_cases: int = DEFAULT_MIN_CASES,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    min_negatives: int = DEFAULT_MIN_NEGATIVES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> MetricResult:
    """AUROC(b) - AUROC(a) on the same admissions, with a CI from the *same* patient resamples for both models.

    Pairing matters: the two models' AUROCs on one resample move together (same patients, same difficulty), so
    the CI of their difference is much narrower than what two independent CIs would suggest.
    """
    labels = as_labels(y_true)
    scores_a = as_scores(score_a, len(labels), name="score_a")
    scores_b = as_scores(score_b, len(labels), name="score_b")
    patient_codes, n_patients = as_patient_codes(patient_id, len(labels))
    check_bootstrap_parameters(
        n_resamples,
        confidence,
        {"min_cases": min_cases, "min_positives": min_positives, "min_negatives": min_negatives},
    )
    n, n_pos = len(labels), int(labels.sum())
    reason = insufficiency_reason("auroc", n, n_pos, min_cases, min_positives, min_negatives)
    if reason:
        return MetricResult(np.nan, np.nan, np.nan, n, n_pos, reason, 0, n_resamples)

    sorted_a = SortedScores.build(labels, scores_a)
    sorted_b = SortedScores.build(labels, scores_b)
    # Back from a's sorted order to admission order, then into b's sorted order: one weight block serves both.
    a_to_b = np.argsort(sorted_a.order)[sorted_b.order]
    point = (
        metrics_for_sorted_weights(sorted_b, np.ones((1, n)), ("auroc",))["auroc"][0]
        - metrics_for_sorted_weights(sorted_a, np.ones((1, n)), ("auroc",))["auroc"][0]
    )
    deltas = []
    for block in patient_resample_blocks(patient_codes[sorted_a.order], n_patients, n_resamples, seed):
        auroc_a = metrics_for_sorted_weights(sorted_a, block, ("auroc",))["auroc"]
        auroc_b = metrics_for_sorted_weights(sorted_b, block[:, a_to_b], ("auroc",))["auroc"]
        deltas.append(auroc_b - auroc_a)
    low, high, used = percentile_interval(np.concatenate(deltas) if deltas else np.empty(0), confidence)
    return MetricResult(float(point), low, high, n, n_pos, None, used, n_resamples)


Z_95 = 1.959964
"""Half-width of a 95 % interval in standard errors."""
Z_POWER_80 = 0.841621
"""Standard normal quantile of 0.80: a true difference of (1.96 + 0.84) standard errors is detected with 80 % power."""
MDE_FACTOR = Z_95 + Z_POWER_80


def minimum_detectable(se: float) -> float:
    """The smallest true difference a two-sided 5 % test detects with 80 % power: (1.96 + 0.84) standard errors."""
    return MDE_FACTOR * se


def size_to_detect(n: int, se: float, effect: float) -> float:
    """Admissions that would detect ``effect`` with 80 % power, when ``n`` admissions give standard error ``se``.

    The standard error shrinks with the square root of the sample size (the case mix held fixed), so the size is
    ``n * (MDE / effect)^2``.
    """
    if not (np.isfinite(se) and np.isfinite(effect)) or effect == 0 or n <= 0:
        return np.nan
    return n * (minimum_detectable(se) / abs(effect)) ** 2
