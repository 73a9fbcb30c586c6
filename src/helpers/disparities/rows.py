"""Chapter 3's rows of ``metrics.csv``: per split, group and model the metrics, the difference to the rest of the
split and the oracle gap, each with its bootstrap interval.

Point estimates of the per-group metrics come from fairlearn's :class:`~fairlearn.metrics.MetricFrame` with
scikit-learn's metric functions (the field's disaggregation tool); the bootstrap engine computes the same points
with weights of one, and the tests check that the two agree.

Too small to estimate. A group gets a value only when it has at least ``min_cases`` admissions, and AUROC/AUPRC
only with ``min_positives`` readmitted and ``min_negatives`` non-readmitted admissions (the defaults of
:mod:`helpers.evaluation`); otherwise the row keeps value NaN and the reason in ``note``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from helpers import evaluation
from helpers.contracts import TEST_SPLITS
from helpers.disparities.bootstrap import SplitBootstrap, bootstrap_split
from helpers.disparities.groups import (
    CALIBRATION_METRIC, CONTRAST, EXPERIMENTS, MODEL_METRICS, NOTEBOOK, Group, level_label, split_table, study_groups,
)
from helpers.progress import report


def _auroc_or_nan(y_true, y_score) -> float:
    return float(roc_auc_score(y_true, y_score)) if len(np.unique(y_true)) == 2 else np.nan


def _auprc_or_nan(y_true, y_score) -> float:
    return float(average_precision_score(y_true, y_score)) if np.sum(y_true) > 0 else np.nan


def _prevalence(y_true, y_score) -> float:
    return float(np.mean(y_true))


_FRAME_METRICS = {"auroc": _auroc_or_nan, "auprc": _auprc_or_nan, "brier": brier_score_loss}


def metric_frame_by_variable(table: pd.DataFrame, group_var: str, experiment: str) -> pd.DataFrame:
    """The disaggregation of one grouping variable with fairlearn's MetricFrame (one row per level, ``by_group``).

    AUROC/AUPRC are NaN for a level with one outcome class (scikit-learn would raise); the size rules are applied
    afterwards, where the rows are written.
    """
    present = table[table[group_var].notna()]
    frame = MetricFrame(metrics={**_FRAME_METRICS, "prevalence": _prevalence}, y_true=present["y_true"].to_numpy(),
                        y_pred=present[f"score:{experiment}"].to_numpy(dtype=float),
                        sensitive_features=present[group_var].map(level_label).rename(group_var))
    return frame.by_group


def point_estimates(table: pd.DataFrame, groups: Sequence[Group], experiments: Sequence[str],
                    store: SplitBootstrap) -> dict[tuple, float]:
    """Point estimates keyed like the bootstrap store: MetricFrame's for the grouping variables' levels, the
    bootstrap engine's (weights of one, the same numbers) for the overall row and the overlapping contrasts."""
    points = dict(store.points)
    by_variable = {}
    for index, group in enumerate(groups):
        if group.group_var in ("overall", CONTRAST):
            continue
        for experiment in experiments:
            key = (group.group_var, experiment)
            if key not in by_variable:
                by_variable[key] = metric_frame_by_variable(table, group.group_var, experiment)
            values = by_variable[key].loc[group.group]
            for metric in MODEL_METRICS:
                points[(index, experiment, metric)] = float(values[metric])
            points[(index, "", "prevalence")] = float(values["prevalence"])
    return points


def _row(base: dict, metric: str, value: float, values: np.ndarray | None, n_resamples: int, confidence: float,
         reason: str | None = None) -> dict:
    if reason is not None or values is None or not np.isfinite(value):
        note = reason or "not estimable"
        return {**base, "metric": metric, "value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": note}
    low, high, used = evaluation.percentile_interval(values, confidence)
    note = "" if used >= n_resamples else (f"bootstrap kept {used}/{n_resamples} resamples (the others lost an "
                                            "outcome class)")
    return {**base, "metric": metric, "value": float(value), "ci_low": low, "ci_high": high, "note": note}


def split_rows(table: pd.DataFrame, split: str, groups: Sequence[Group], experiments: Sequence[str],
               models: dict[str, str], *, n_resamples: int, seed: int, thresholds: dict[str, int],
               confidence: float = evaluation.DEFAULT_CONFIDENCE, notebook: str = NOTEBOOK,
               rest_experiments: Sequence[str] = ("global", "oracle")) -> list[dict]:
    """Metric rows of one split: per group and experiment the metrics, vs-rest difference and oracle gap.

    ``delta_auroc_vs_rest`` is written for ``rest_experiments`` only (the global model, and the oracle that the
    verdict compares it with).
    """
    store = bootstrap_split(table, groups, experiments, n_resamples=n_resamples, seed=seed, thresholds=thresholds,
                            rest_experiments=rest_experiments)
    points = point_estimates(table, groups, experiments, store)
    labels = table["y_true"].to_numpy()
    rows = []
    for index, group in enumerate(groups):
        members = group.mask
        n, n_pos = int(members.sum()), int(labels[members].sum())
        others = ~members
        rest_reason = evaluation.insufficiency_reason("auroc", int(others.sum()), int(labels[others].sum()),
                                                       **thresholds)
        prevalence_reason = group.missing_reason or evaluation.insufficiency_reason("brier", n, n_pos, **thresholds)
        for experiment in experiments:
            base = {"notebook": notebook, "experiment": experiment, "model": models[experiment], "split": split,
                    "group_var": group.group_var, "group": group.group, "n": n, "n_pos": n_pos, "seed": seed}
            for metric in MODEL_METRICS:
                reason = group.missing_reason or evaluation.insufficiency_reason(metric, n, n_pos, **thresholds)
                rows.append(_row(base, metric, points.get((index, experiment, metric), np.nan),
                                 store.values((index, experiment, metric)), n_resamples, confidence, reason))
            rows.append(_row(base, "prevalence", points.get((index, "", "prevalence"), np.nan),
                             store.values((index, "", "prevalence")), n_resamples, confidence, prevalence_reason))
            if group.group_var in ("overall", "hospital"):
                citl_reason = prevalence_reason
                observed = store.values((index, "", "prevalence"))
                predicted = store.values((index, experiment, "mean_prediction"))
                value = store.points.get((index, "", "prevalence"), np.nan) - store.points.get(
                    (index, experiment, "mean_prediction"), np.nan)
                rows.append(_row(base, CALIBRATION_METRIC, value, observed - predicted, n_resamples, confidence,
                                 citl_reason))
            if group.group_var != "overall" and experiment in rest_experiments:
                auroc_reason = group.missing_reason or evaluation.insufficiency_reason("auroc", n, n_pos,
                                                                                         **thresholds)
                reason = (f"group: {auroc_reason}" if auroc_reason else
                          (f"rest of the split: {rest_reason}" if rest_reason else None))
                key = (index, experiment)
                value = store.points.get(key + ("auroc",), np.nan) - store.points.get(key + ("rest_auroc",), np.nan)
                deltas = store.values(key + ("auroc",)) - store.values(key + ("rest_auroc",)) if not reason else None
                rows.append(_row(base, "delta_auroc_vs_rest", value, deltas, n_resamples, confidence, reason))
            if experiment != "oracle" and "oracle" in experiments:
                reason = group.missing_reason or evaluation.insufficiency_reason("auroc", n, n_pos, **thresholds)
                key_o, key_e = (index, "oracle", "auroc"), (index, experiment, "auroc")
                value = store.points.get(key_o, np.nan) - store.points.get(key_e, np.nan)
                gaps = store.values(key_o) - store.values(key_e) if not reason else None
                rows.append(_row(base, "oracle_gap", value, gaps, n_resamples, confidence, reason))
    return rows


def disparity_rows(frame: pd.DataFrame, group_vars: Sequence[str], *, smallest: str | None,
                   highest_comorbidity: int | None, age_threshold: float = 60, n_resamples: int = 1000,
                   seed: int = 0, min_cases: int = evaluation.DEFAULT_MIN_CASES,
                   min_positives: int = evaluation.DEFAULT_MIN_POSITIVES,
                   min_negatives: int = evaluation.DEFAULT_MIN_NEGATIVES,
                   splits: Sequence[str] = TEST_SPLITS, notebook: str = NOTEBOOK) -> pd.DataFrame:
    """All of chapter 3's metric rows (contract columns plus ``note``), for every experiment present.

    ``frame`` is :func:`.groups.disparity_frame`'s table. Experiments are taken in the order of
    :data:`.groups.EXPERIMENTS`; the oracle exists on simulated data only, and without it no ``oracle_gap`` rows are
    written.
    """
    evaluation.check_bootstrap_parameters(n_resamples, evaluation.DEFAULT_CONFIDENCE,
                                           {"min_group_size": min_cases, "min_positives": min_positives,
                                            "min_negatives": min_negatives})
    experiments = [e for e in EXPERIMENTS if e in set(frame["experiment"])]
    if "global" not in experiments:
        raise ValueError("predictions have no 'global' experiment; chapter 2 writes it (the global ClinicLLM).")
    models = frame.groupby("experiment")["model"].first().astype(str).to_dict()
    thresholds = {"min_cases": min_cases, "min_positives": min_positives, "min_negatives": min_negatives}
    rows = []
    for split in splits:
        started = time.perf_counter()
        table = split_table(frame, split, experiments)
        groups = study_groups(table, group_vars, age_threshold=age_threshold, smallest=smallest,
                              highest_comorbidity=highest_comorbidity)
        rows += split_rows(table, split, groups, experiments, models, n_resamples=n_resamples, seed=seed,
                           thresholds=thresholds, notebook=notebook)
        report(f"03_disparities: {split}: {len(groups)} groups x {len(experiments)} models, {n_resamples} "
               f"bootstrap rounds, {time.perf_counter() - started:.1f} s")
    out = pd.DataFrame(rows, columns=evaluation.METRICS_FILE_COLUMNS)
    return evaluation.validate_metric_rows(out, notebook=notebook)
