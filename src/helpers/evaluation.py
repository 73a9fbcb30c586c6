"""Metrics, patient-level bootstrap confidence intervals and the metrics file shared by every chapter.

Every model in the study writes a *predictions table* (one row per admission: ``admission_id, patient_id,
hospital, split, model, y_true, y_score``) and every number the book shows comes from this module, so the chapters
report AUROC, AUPRC and Brier score in exactly the same way.

Why a patient-level bootstrap. A patient can have several admissions in one test split, and those admissions share
the patient's unrecorded risk and the way their notes are written. Resampling admissions as if they were
independent would understate the uncertainty. We therefore resample *patients* with replacement; a patient drawn
``k`` times brings all of its admissions ``k`` times. That is the same as giving every admission the weight "number
of times its patient was drawn", which is what makes the bootstrap cheap: one resample is a weight vector, ``B``
resamples are a ``B x n`` weight matrix, and every metric is computed for all resamples at once with weighted,
tie-aware array operations on scores sorted a single time (:func:`batched_weighted_metrics`).

Why groups can be NaN. A subgroup with a single outcome class has no AUROC, and one with three positives has an
AUROC whose interval spans almost everything. Such groups get value NaN and a ``reason`` ("only one class", "3
positives < min 5"), never a crash and never a misleading 0. Defaults (:data:`DEFAULT_MIN_CASES`,
:data:`DEFAULT_MIN_POSITIVES`, :data:`DEFAULT_MIN_NEGATIVES`) follow the common advice that a ranking metric needs
at least a handful of events in each class; they are parameters, and chapters may raise them.

The metrics file ``runs/<name>/metrics.csv`` is long format (docs/contracts.md#metrics-table) with the contract columns
:data:`METRIC_COLUMNS` first, followed by one free-text column, ``note``, that carries the reason a value is NaN or
how many bootstrap resamples were kept. :func:`write_metrics` replaces one notebook's rows at a time, atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import contracts
from helpers.contracts import SPLITS

METRIC_COLUMNS: list[str] = [
    "notebook",
    "experiment",
    "model",
    "split",
    "group_var",
    "group",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "n_pos",
    "seed",
]
NOTE_COLUMN = "note"
METRICS_FILE_COLUMNS: list[str] = METRIC_COLUMNS + [NOTE_COLUMN]

PREDICTION_COLUMNS: list[str] = list(contracts.PREDICTION_COLUMNS)
EVALUATION_SPLITS: tuple[str, ...] = contracts.EVALUATION_SPLITS
SUPPORTED_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier")
RANKING_METRICS: frozenset[str] = frozenset({"auroc", "auprc"})

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

_KEY_COLUMNS = ["notebook", "experiment", "model", "split", "group_var", "group", "metric", "seed"]
_STRING_COLUMNS = ["notebook", "experiment", "model", "split", "group_var", "group", "metric", NOTE_COLUMN]
_FLOAT_COLUMNS = ["value", "ci_low", "ci_high"]
_INT_COLUMNS = ["n", "n_pos", "seed"]


# --------------------------------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------------------------------


def as_labels(y_true, name: str = "y_true") -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {labels.shape}; pass one label per admission.")
    return contracts.binary_labels(labels, column=name, where="evaluation").astype(np.int8)


def _as_scores(y_score, n: int, name: str = "y_score") -> np.ndarray:
    scores = np.asarray(y_score)
    if scores.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {scores.shape}; pass one score per admission.")
    try:
        scores = scores.astype(float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric scores; could not read it as numbers ({error}).") from None
    if len(scores) != n:
        raise ValueError(f"{name} has {len(scores)} values but y_true has {n}; they must be aligned row by row.")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} missing or infinite value(s) (first at position {int(np.argmax(bad))});"
            " every admission needs a finite predicted score."
        )
    return scores


def _as_weights(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    weights = np.asarray(sample_weight, dtype=float)
    if weights.shape != (n,):
        raise ValueError(f"sample_weight must have one value per admission ({n}), got shape {weights.shape}.")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("sample_weight must be finite and non-negative (a weight is a count of repetitions).")
    return weights


def as_patient_codes(patient_id, n: int) -> tuple[np.ndarray, int]:
    ids = pd.Series(np.asarray(patient_id))
    if len(ids) != n:
        raise ValueError(f"patient_id has {len(ids)} values but y_true has {n}; they must be aligned row by row.")
    if ids.isna().any():
        raise ValueError(
            f"patient_id has {int(ids.isna().sum())} missing value(s); every admission needs its patient so the "
            "bootstrap can resample patients. Use the admission_id as patient_id if patients are unknown."
        )
    codes, uniques = pd.factorize(ids, sort=False)
    return codes.astype(np.int64), len(uniques)


def _check_metric_names(metrics: Iterable[str]) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = tuple(metrics)
    unknown = [m for m in names if m not in SUPPORTED_METRICS]
    if unknown or not names:
        raise ValueError(f"metrics must be a non-empty subset of {SUPPORTED_METRICS}; got unknown {unknown}.")
    return names


# --------------------------------------------------------------------------------------------------------------
# Weighted metrics for many weight vectors at once
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortedScores:
    """Scores sorted once, ascending, with the start of every run of tied scores (a "level")."""

    order: np.ndarray
    labels: np.ndarray  # 0/1 labels in sorted order, float
    level_starts: np.ndarray
    squared_error: np.ndarray  # (y - s)^2 in sorted order

    @classmethod
    def build(cls, labels: np.ndarray, scores: np.ndarray) -> SortedScores:
        order = np.argsort(scores, kind="stable")
        sorted_scores = scores[order]
        new_level = np.empty(len(order), dtype=bool)
        if len(order):
            new_level[0] = True
            new_level[1:] = sorted_scores[1:] != sorted_scores[:-1]
        sorted_labels = labels[order].astype(float)
        return cls(
            order=order,
            labels=sorted_labels,
            level_starts=np.flatnonzero(new_level),
            squared_error=(sorted_labels - sorted_scores) ** 2,
        )


def metrics_for_sorted_weights(
    sorted_scores: SortedScores, weights: np.ndarray, metrics: Sequence[str]
) -> dict[str, np.ndarray]:
    """Weighted metrics for each row of ``weights`` (B x n, columns already in sorted-score order).

    AUROC is the weighted probability that a positive outranks a negative, ties counting one half, which is the
    area under the (trapezoidal) ROC curve that scikit-learn computes. AUPRC is average precision: the sum over
    score thresholds, from the highest down, of the recall gained at that threshold times the precision there
    (scikit-learn's ``average_precision_score``). Both work on per-level sums, so ties are handled exactly.
    """
    out: dict[str, np.ndarray] = {}
    positive_weights = weights * sorted_scores.labels
    negative_weights = weights - positive_weights
    total_pos = positive_weights.sum(axis=1)
    total_neg = negative_weights.sum(axis=1)
    both_classes = (total_pos > 0) & (total_neg > 0)

    if "brier" in metrics:
        total = total_pos + total_neg
        with np.errstate(invalid="ignore", divide="ignore"):
            out["brier"] = np.where(total > 0, weights @ sorted_scores.squared_error / total, np.nan)

    if RANKING_METRICS.intersection(metrics):
        starts = sorted_scores.level_starts
        pos_per_level = np.add.reduceat(positive_weights, starts, axis=1)
        neg_per_level = np.add.reduceat(negative_weights, starts, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if "auroc" in metrics:
                neg_below = np.cumsum(neg_per_level, axis=1) - neg_per_level
                concordant = (pos_per_level * (neg_below + 0.5 * neg_per_level)).sum(axis=1)
                out["auroc"] = np.where(both_classes, concordant / (total_pos * total_neg), np.nan)
            if "auprc" in metrics:
                # Walk thresholds from the highest score down: reverse the level axis, then accumulate.
                tp = np.cumsum(pos_per_level[:, ::-1], axis=1)
                predicted_pos = tp + np.cumsum(neg_per_level[:, ::-1], axis=1)
                precision = np.divide(tp, predicted_pos, out=np.zeros_like(tp), where=predicted_pos > 0)
                recall_gain = (pos_per_level[:, ::-1] * precision).sum(axis=1)
                out["auprc"] = np.where(total_pos > 0, recall_gain / total_pos, np.nan)
    return out


def batched_weighted_metrics(
    y_true, y_score, weights, metrics: Sequence[str] = SUPPORTED_METRICS
) -> dict[str, np.ndarray]:
    """AUROC, AUPRC and Brier score for every row of a ``B x n`` weight matrix, computed with array operations.

    A row of ``weights`` is one bootstrap resample (or any weighting, e.g. all ones for the point estimate). A
    metric that is undefined for a row (no positive or no negative weight left) is NaN in that row.
    """
    labels = as_labels(y_true)
    scores = _as_scores(y_score, len(labels))
    names = _check_metric_names(metrics)
    weight_matrix = np.atleast_2d(np.asarray(weights, dtype=float))
    if weight_matrix.ndim != 2 or weight_matrix.shape[1] != len(labels):
        raise ValueError(
            f"weights must have shape (n_resamples, {len(labels)}) (one column per admission); "
            f"got {np.shape(weights)}."
        )
    if not np.isfinite(weight_matrix).all() or (weight_matrix < 0).any():
        raise ValueError("weights must be finite and non-negative.")
    sorted_scores = SortedScores.build(labels, scores)
    if len(labels) == 0:
        return {m: np.full(weight_matrix.shape[0], np.nan) for m in names}
    return metrics_for_sorted_weights(sorted_scores, weight_matrix[:, sorted_scores.order], names)


def _single_metric(name: str, y_true, y_score, sample_weight) -> float:
    labels = as_labels(y_true)
    scores = _as_scores(y_score, len(labels))
    weights = _as_weights(sample_weight, len(labels))
    return float(batched_weighted_metrics(labels, scores, weights[None, :], (name,))[name][0])


def auroc(y_true, y_score, sample_weight=None) -> float:
    """Area under the ROC curve (ties count one half); NaN when only one class carries weight."""
    return _single_metric("auroc", y_true, y_score, sample_weight)


def auprc(y_true, y_score, sample_weight=None) -> float:
    """Average precision, as scikit-learn's ``average_precision_score``; NaN when no positive carries weight."""
    return _single_metric("auprc", y_true, y_score, sample_weight)


def brier(y_true, y_score, sample_weight=None) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome (lower is better)."""
    return _single_metric("brier", y_true, y_score, sample_weight)


# --------------------------------------------------------------------------------------------------------------
# Patient-level bootstrap
# --------------------------------------------------------------------------------------------------------------


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
    scores = _as_scores(y_score, len(labels))
    patient_codes, n_patients = as_patient_codes(patient_id, len(labels))
    names = _check_metric_names(metrics)
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
    scores = _as_scores(y_score, len(labels))
    patient_codes, n_patients = as_patient_codes(patient_id, len(labels))
    (name,) = _check_metric_names((metric,))
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
    scores_a = _as_scores(score_a, len(labels), name="score_a")
    scores_b = _as_scores(score_b, len(labels), name="score_b")
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


# --------------------------------------------------------------------------------------------------------------
# Curves for plotting
# --------------------------------------------------------------------------------------------------------------


def calibration_curve_table(y_true, y_score, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Observed readmission rate against mean predicted risk per bin (empty bins are left out).

    ``strategy="quantile"`` puts about the same number of admissions in every bin, which suits a rare outcome
    whose scores crowd near zero; ``"uniform"`` uses equal-width bins on [0, 1]. Bins are closed on the left,
    as in scikit-learn's ``calibration_curve``, so the two agree bin for bin.
    """
    labels = as_labels(y_true)
    scores = _as_scores(y_score, len(labels))
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    if strategy == "quantile":
        edges = np.percentile(scores, np.linspace(0, 100, int(n_bins) + 1)) if len(scores) else np.zeros(2)
    elif strategy == "uniform":
        if len(scores) and (scores.min() < 0 or scores.max() > 1):
            raise ValueError("y_score must lie in [0, 1] for strategy='uniform' (probabilities); rescale it first.")
        edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform'; got {strategy!r}.")
    bin_index = np.searchsorted(edges[1:-1], scores, side="right")
    counts = np.bincount(bin_index, minlength=len(edges) - 1)
    score_sums = np.bincount(bin_index, weights=scores, minlength=len(edges) - 1)
    label_sums = np.bincount(bin_index, weights=labels, minlength=len(edges) - 1)
    filled = counts > 0
    return pd.DataFrame(
        {
            "bin": np.flatnonzero(filled),
            "bin_low": edges[:-1][filled],
            "bin_high": edges[1:][filled],
            "mean_pred": score_sums[filled] / counts[filled],
            "frac_pos": label_sums[filled] / counts[filled],
            "n": counts[filled],
        }
    )


def roc_curve_table(y_true, y_score, max_points: int = 300) -> pd.DataFrame:
    """ROC curve points (fpr, tpr, threshold) thinned to at most ``max_points`` for plotting.

    Thinning keeps the first and last point and evenly spaced points between them along the curve, so a plot of
    a 100k-admission split stays light without changing its shape visibly.
    """
    from sklearn.metrics import roc_curve

    labels = as_labels(y_true)
    scores = _as_scores(y_score, len(labels))
    if labels.min(initial=0) == labels.max(initial=0):
        raise ValueError("roc_curve_table needs both outcome classes in y_true; this group has only one.")
    if int(max_points) != max_points or max_points < 2:
        raise ValueError(f"max_points must be an integer of at least 2; got {max_points!r}.")
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, int(max_points)).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


# --------------------------------------------------------------------------------------------------------------
# Predictions table -> metrics rows
# --------------------------------------------------------------------------------------------------------------


def validate_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Check a predictions table against the contract; return it with ``y_true`` as int and ``y_score`` float."""
    if not isinstance(predictions, pd.DataFrame):
        raise TypeError(f"predictions must be a pandas DataFrame, got {type(predictions).__name__}.")
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"predictions is missing column(s) {missing}; a predictions table needs {PREDICTION_COLUMNS}."
        )
    contracts.check_split_names(predictions["split"], where="predictions")
    duplicated = predictions.duplicated(["model", "split", "admission_id"])
    if duplicated.any():
        first = predictions.loc[duplicated, ["model", "split", "admission_id"]].iloc[0].tolist()
        raise ValueError(
            f"predictions has {int(duplicated.sum())} repeated (model, split, admission_id) row(s), e.g. {first}; "
            "each model must score each admission once per split."
        )
    out = predictions.copy()
    try:
        out["y_true"] = contracts.binary_labels(out["y_true"], column="y_true", where="predictions",
                                                row_ids=out["admission_id"]).astype(np.int8)
        out["y_score"] = _as_scores(out["y_score"].to_numpy(), len(out), name="predictions column 'y_score'")
    except ValueError as error:
        raise ValueError(str(error)) from None
    return out


def _attach_groups(predictions: pd.DataFrame, group_frame: pd.DataFrame | None, group_vars: Sequence[str]):
    needed = [g for g in group_vars if g != "overall"]
    from_groups = [g for g in needed if g not in predictions.columns]
    if not from_groups:
        return predictions
    if group_frame is None:
        raise ValueError(
            f"group_vars {from_groups} are not columns of the predictions; pass group_frame (admission_id plus "
            "those columns, e.g. the cohort) so they can be joined on admission_id."
        )
    absent = [g for g in from_groups + ["admission_id"] if g not in group_frame.columns]
    if absent:
        raise ValueError(f"group_frame is missing column(s) {absent}; it needs admission_id and every group_var.")
    lookup = group_frame[["admission_id"] + from_groups]
    if lookup["admission_id"].duplicated().any():
        raise ValueError("group_frame has repeated admission_id values; it must hold one row per admission.")
    joined = predictions.merge(lookup, on="admission_id", how="left", validate="many_to_one", indicator=True)
    unmatched = joined["_merge"] == "left_only"
    if unmatched.any():
        example = joined.loc[unmatched, "admission_id"].iloc[0]
        raise ValueError(
            f"{int(unmatched.sum())} prediction row(s) have an admission_id missing from group_frame "
            f"(e.g. {example!r}); pass the cohort the predictions were made on."
        )
    return joined.drop(columns="_merge")


def _group_label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def evaluate_predictions(
    predictions: pd.DataFrame,
    *,
    notebook: str,
    experiment: str,
    group_frame: pd.DataFrame | None = None,
    group_vars: Sequence[str] = ("overall",),
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] = SUPPORTED_METRICS,
    n_resamples: int = 1000,
    seed: int = 0,
    min_cases: int = DEFAULT_MIN_CASES,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    min_negatives: int = DEFAULT_MIN_NEGATIVES,
) -> pd.DataFrame:
    """Metrics rows (contract columns, then ``note``) for each model x split x group_var x group.

    Group columns are taken from the predictions when present (``hospital`` always is) and otherwise joined from
    ``group_frame`` on ``admission_id``. Admissions whose group value is missing (e.g. an age outside every age
    group) are left out of that group_var only. ``splits=None`` evaluates every split present except ``train``.
    Groups too small for a metric keep their row, with value NaN and the reason in ``note``, so the book can show
    that a group exists but could not be scored.
    """
    if not notebook or not experiment:
        raise ValueError("notebook and experiment must be non-empty names (e.g. '02_clinicllm', 'global').")
    group_vars = (group_vars,) if isinstance(group_vars, str) else tuple(group_vars)
    if not group_vars:
        raise ValueError("group_vars must name at least one grouping, e.g. ('overall', 'hospital').")
    names = _check_metric_names(metrics)
    table = _attach_groups(validate_predictions(predictions), group_frame, group_vars)
    if splits is None:
        chosen_splits = [s for s in EVALUATION_SPLITS if s in set(table["split"])]
    else:
        chosen_splits = [splits] if isinstance(splits, str) else list(splits)
        unknown = [s for s in chosen_splits if s not in SPLITS]
        if unknown:
            raise ValueError(f"splits has unknown value(s) {unknown}; allowed: {list(SPLITS)}.")

    rows = []
    for (model, split), part in table[table["split"].isin(chosen_splits)].groupby(["model", "split"], sort=True):
        for group_var in group_vars:
            if group_var == "overall":
                groups = [("all", part)]
            else:
                present = part[part[group_var].notna()]
                groups = [(_group_label(k), g) for k, g in present.groupby(group_var, sort=True, observed=True)]
            for group, members in groups:
                results = bootstrap_metrics(
                    members["y_true"].to_numpy(),
                    members["y_score"].to_numpy(),
                    members["patient_id"].to_numpy(),
                    metrics=names,
                    n_resamples=n_resamples,
                    seed=seed,
                    min_cases=min_cases,
                    min_positives=min_positives,
                    min_negatives=min_negatives,
                )
                for metric, result in results.items():
                    rows.append(
                        {
                            "notebook": notebook,
                            "experiment": experiment,
                            "model": str(model),
                            "split": split,
                            "group_var": group_var,
                            "group": group,
                            "metric": metric,
                            "value": result.value,
                            "ci_low": result.ci_low,
                            "ci_high": result.ci_high,
                            "n": result.n,
                            "n_pos": result.n_pos,
                            "seed": seed,
                            NOTE_COLUMN: result.note,
                        }
                    )
    return _typed(pd.DataFrame(rows, columns=METRICS_FILE_COLUMNS))


# --------------------------------------------------------------------------------------------------------------
# metrics.csv
# --------------------------------------------------------------------------------------------------------------


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    for column in _FLOAT_COLUMNS:
        out[column] = out[column].astype(float)
    for column in _INT_COLUMNS:
        out[column] = out[column].astype(np.int64)
    for column in _STRING_COLUMNS:
        if column in out.columns:
            out[column] = out[column].astype(object)
    return out


def validate_metric_rows(rows: pd.DataFrame, *, notebook: str | None = None) -> pd.DataFrame:
    """Check metrics rows against the contract; return them typed, with a ``note`` column, in file column order."""
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"metrics rows must be a pandas DataFrame, got {type(rows).__name__}.")
    missing = [c for c in METRIC_COLUMNS if c not in rows.columns]
    extra = [c for c in rows.columns if c not in METRICS_FILE_COLUMNS]
    if missing or extra:
        raise ValueError(
            f"metrics rows have wrong columns: missing {missing}, unexpected {extra}. The contract is "
            f"{METRIC_COLUMNS} plus an optional '{NOTE_COLUMN}'."
        )
    out = rows.copy()
    if NOTE_COLUMN not in out.columns:
        out[NOTE_COLUMN] = ""
    out[NOTE_COLUMN] = out[NOTE_COLUMN].fillna("").astype(str)
    for column in ["notebook", "experiment", "model", "split", "group_var", "group", "metric"]:
        text = out[column].astype(str).str.strip()
        empty = out[column].isna() | (text == "")
        if empty.any():
            raise ValueError(
                f"metrics column '{column}' is empty in {int(empty.sum())} row(s) (first at row "
                f"{int(np.argmax(empty.to_numpy()))}); every row needs a {column} name."
            )
        out[column] = out[column].astype(str)
    bad_splits = sorted(set(out["split"]) - set(SPLITS))
    if bad_splits:
        raise ValueError(f"metrics column 'split' has unknown value(s) {bad_splits}; allowed: {list(SPLITS)}.")
    if notebook is not None:
        other = sorted(set(out["notebook"]) - {notebook})
        if other:
            raise ValueError(
                f"metrics column 'notebook' has {other} but these rows are written for notebook {notebook!r}; "
                "a notebook writes only its own rows."
            )
    for column in _FLOAT_COLUMNS:
        try:
            out[column] = pd.to_numeric(out[column], errors="raise").astype(float)
        except (TypeError, ValueError):
            raise ValueError(
                f"metrics column '{column}' must hold numbers (NaN allowed for groups that cannot be scored)."
            ) from None
        if np.isinf(out[column]).any():
            raise ValueError(f"metrics column '{column}' has infinite values; use NaN for an undefined metric.")
    for column in _INT_COLUMNS:
        values = pd.to_numeric(out[column], errors="coerce")
        if values.isna().any() or (values != values.round()).any():
            raise ValueError(f"metrics column '{column}' must hold whole numbers in every row.")
        out[column] = values.astype(np.int64)
    if (out["n"] < 0).any() or (out["n_pos"] < 0).any() or (out["n_pos"] > out["n"]).any():
        raise ValueError("metrics columns 'n'/'n_pos' must satisfy 0 <= n_pos <= n in every row.")
    duplicated = out.duplicated(_KEY_COLUMNS)
    if duplicated.any():
        first = out.loc[duplicated, _KEY_COLUMNS].iloc[0].tolist()
        raise ValueError(f"metrics rows repeat the key {_KEY_COLUMNS} (e.g. {first}); each number appears once.")
    return _typed(out[METRICS_FILE_COLUMNS]).reset_index(drop=True)


def _read_metrics_file(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        dtype={c: str for c in _STRING_COLUMNS},
        keep_default_na=False,
        na_values={c: [""] for c in _FLOAT_COLUMNS},
    )
    return validate_metric_rows(frame)


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """All metric rows of a run (``runs/<name>/metrics.csv``), typed; an empty table when none exist yet."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return _typed(pd.DataFrame(columns=METRICS_FILE_COLUMNS))
    return _read_metrics_file(path)


def combine_rows(*frames: pd.DataFrame) -> pd.DataFrame:
    """Metric rows of several computations in one frame. Empty ones (no oracle on real data, no further seeds) are
    left out: pandas warns, with a path, when it concatenates an empty frame, and the warning reached the book."""
    kept = [frame for frame in frames if frame is not None and len(frame)]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=METRICS_FILE_COLUMNS)


def write_metrics(run_dir: str | os.PathLike, rows: pd.DataFrame, *, notebook: str) -> Path:
    """Replace ``notebook``'s rows in ``run_dir/metrics.csv``, keep every other notebook's rows; return the path.

    The file is written to a temporary file in the same folder and moved into place with ``os.replace``, so a
    crash mid-write leaves the previous file intact and no partial file behind.
    """
    if not notebook or not str(notebook).strip():
        raise ValueError("notebook must be a non-empty name, e.g. '02_clinicllm'.")
    new_rows = validate_metric_rows(rows, notebook=notebook)
    run_path = Path(run_dir)
    run_path.mkdir(parents=True, exist_ok=True)
    path = run_path / "metrics.csv"
    existing = read_metrics(run_path)
    kept = existing[existing["notebook"] != notebook]
    combined = validate_metric_rows(pd.concat([kept, new_rows], ignore_index=True) if len(kept) else new_rows)

    from helpers.artifacts import atomic_write

    return atomic_write(path, lambda tmp: combined.to_csv(tmp, index=False, na_rep=""))


def format_estimate(value: float, low: float, high: float, digits: int = 3) -> str:
    """'0.736 [0.701, 0.770]', or 'n/a' for a NaN estimate.

    Square brackets and a comma, never a hyphen: Markdown renderers turn '--' into an en dash, so
    '-1.5 (-2.8--0.2)' would read '-1.5 (-2.8–0.2)' on the page and lose the upper bound's sign. The two spaces
    are non-breaking (:data:`NBSP`), so that an interval stays on one line in a narrow table column.
    """
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f}{NBSP}[{low:.{digits}f},{NBSP}{high:.{digits}f}]"


NBSP = "\u00a0"
"""The non-breaking space inside a formatted interval."""


MODEL_NAMES = {"global": "ClinicLLM", "tfidf_lr": "TF-IDF", "oracle": "oracle", "note_ceiling": "note ceiling"}
METRIC_NAMES = {"auroc": "AUROC", "auprc": "AUPRC", "brier": "Brier score"}
SPLIT_NAMES = {"random_test": "random test", "temporal_test": "temporal test", "validation": "validation",
               "train": "training"}
"""How the book names the metrics file's experiments, metrics and splits."""


def metrics_display(rows: pd.DataFrame, *, index: Sequence[str] = ("experiment", "metric"),
                    columns: Sequence[str] = ("split",), digits: int = 3) -> pd.DataFrame:
    """Metric rows as a readable table: each cell 'value [95 % CI]', models, metrics and tests named as the book
    names them; by default one row per model and metric and one column per test, so that it fits the page."""
    shown = rows.copy()
    shown["estimate"] = [format_estimate(v, lo, hi, digits)
                         for v, lo, hi in zip(shown["value"], shown["ci_low"], shown["ci_high"])]
    names = {"experiment": MODEL_NAMES, "metric": METRIC_NAMES, "split": SPLIT_NAMES}
    for column, mapping in names.items():
        if column in shown:
            shown[column] = [mapping.get(str(v), str(v)) for v in shown[column]]
    table = shown.pivot_table(index=list(index), columns=list(columns), values="estimate", aggfunc="first",
                              sort=False)
    table = table.rename_axis(index={"experiment": "model"}, columns={"split": "test"})
    return table


def lookup(rows: pd.DataFrame, **filters) -> pd.Series:
    """The one metric row matching ``filters`` (e.g. experiment='global', split='temporal_test', metric='auroc')."""
    mask = np.ones(len(rows), dtype=bool)
    for column, value in filters.items():
        mask &= (rows[column].astype(str) == str(value)).to_numpy()
    found = rows[mask]
    if len(found) != 1:
        raise KeyError(f"expected one metric row for {filters}, found {len(found)}")
    return found.iloc[0]


def describe_difference(value: float, reference: float, digits: int = 3) -> str:
    """'0.021 lower' / '0.015 higher' / 'the same' for value compared with reference."""
    diff = value - reference
    if not np.isfinite(diff):
        return "not measurable"
    if round(abs(diff), digits) == 0:
        return "the same"
    return f"{abs(diff):.{digits}f} {'higher' if diff > 0 else 'lower'}"


def evaluate_experiments(predictions: pd.DataFrame, *, notebook: str, splits: Sequence[str],
                         n_resamples: int = 1000, seed: int = 0, **options) -> pd.DataFrame:
    """Metric rows for every experiment of a predictions table that has an ``experiment`` column."""
    if "experiment" not in predictions.columns:
        raise ValueError("predictions needs an 'experiment' column (e.g. global, tfidf_lr, oracle)")
    return pd.concat([
        evaluate_predictions(part, notebook=notebook, experiment=str(experiment), splits=splits,
                             n_resamples=n_resamples, seed=seed, **options)
        for experiment, part in predictions.groupby("experiment", sort=False)
    ], ignore_index=True)


def curves_by_experiment(predictions: pd.DataFrame, kind: str,
                         splits: Sequence[str] = contracts.TEST_SPLITS) -> pd.DataFrame:
    """ROC (``kind='roc'``) or calibration (``kind='calibration'``) tables for each split and experiment.

    The result has the columns of :func:`roc_curve_table` or :func:`calibration_curve_table` plus ``split`` and
    ``model`` (the experiment's name), ready for :func:`helpers.figures.roc_curves` or ``calibration_curves``.
    """
    builders = {"roc": roc_curve_table, "calibration": calibration_curve_table}
    if kind not in builders:
        raise ValueError(f"kind is {kind!r}; choose 'roc' or 'calibration'")
    part = predictions[predictions["split"].isin(list(splits))]
    return pd.concat([
        builders[kind](group["y_true"], group["y_score"]).assign(split=split, model=experiment)
        for (split, experiment), group in part.groupby(["split", "experiment"], sort=False)
    ], ignore_index=True)


# --------------------------------------------------------------------------------------------------------------
# Power: the smallest change a test of this size could detect (chapters 5 and 6)
# --------------------------------------------------------------------------------------------------------------

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
