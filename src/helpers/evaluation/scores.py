"""Labels and scores checked once, and AUROC, AUPRC and Brier score for many weightings of one group at once.

A bootstrap resample is a weight vector over admissions, so ``B`` resamples are a ``B x n`` weight matrix; every
metric is computed for all of them with weighted, tie-aware array operations on scores sorted a single time
(:func:`batched_weighted_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import contracts


SUPPORTED_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier")
RANKING_METRICS: frozenset[str] = frozenset({"auroc", "auprc"})


def as_labels(y_true, name: str = "y_true") -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {labels.shape}; pass one label per admission.")
    return contracts.binary_labels(labels, column=name, where="evaluation").astype(np.int8)


def as_scores(y_score, n: int, name: str = "y_score") -> np.ndarray:
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


def as_weights(sample_weight, n: int) -> np.ndarray:
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


def check_metric_names(metrics: Iterable[str]) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = tuple(metrics)
    unknown = [m for m in names if m not in SUPPORTED_METRICS]
    if unknown or not names:
        raise ValueError(f"metrics must be a non-empty subset of {SUPPORTED_METRICS}; got unknown {unknown}.")
    return names


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
    scores = as_scores(y_score, len(labels))
    names = check_metric_names(metrics)
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
    scores = as_scores(y_score, len(labels))
    weights = as_weights(sample_weight, len(labels))
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
