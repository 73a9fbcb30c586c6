"""A predictions table (one row per admission and model) turned into metric rows for every group and split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import contracts
from helpers.contracts import SPLITS
from helpers.evaluation.bootstrap import (
    DEFAULT_MIN_CASES, DEFAULT_MIN_NEGATIVES, DEFAULT_MIN_POSITIVES, bootstrap_metrics,
)
from helpers.evaluation.metrics_file import METRICS_FILE_COLUMNS, NOTE_COLUMN, typed_rows
from helpers.evaluation.scores import SUPPORTED_METRICS, as_scores, check_metric_names


PREDICTION_COLUMNS: list[str] = list(contracts.PREDICTION_COLUMNS)
EVALUATION_SPLITS: tuple[str, ...] = contracts.EVALUATION_SPLITS


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
        out["y_score"] = as_scores(out["y_score"].to_numpy(), len(out), name="predictions column 'y_score'")
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
    names = check_metric_names(metrics)
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
    return typed_rows(pd.DataFrame(rows, columns=METRICS_FILE_COLUMNS))


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
