"""ROC and calibration curves as tables, ready for :mod:`helpers.figures`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import contracts
from helpers.evaluation.scores import as_labels, as_scores


def calibration_curve_table(y_true, y_score, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Observed readmission rate against mean predicted risk per bin (empty bins are left out).

    ``strategy="quantile"`` puts about the same number of admissions in every bin, which suits a rare outcome
    whose scores crowd near zero; ``"uniform"`` uses equal-width bins on [0, 1]. Bins are closed on the left,
    as in scikit-learn's ``calibration_curve``, so the two agree bin for bin.
    """
    labels = as_labels(y_true)
    scores = as_scores(y_score, len(labels))
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
    scores = as_scores(y_score, len(labels))
    if labels.min(initial=0) == labels.max(initial=0):
        raise ValueError("roc_curve_table needs both outcome classes in y_true; this group has only one.")
    if int(max_points) != max_points or max_points < 2:
        raise ValueError(f"max_points must be an integer of at least 2; got {max_points!r}.")
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, int(max_points)).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


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
