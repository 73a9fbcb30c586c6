"""Metric rows as the book shows them: an estimate with its interval, and the names of models, metrics and tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


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


def describe_difference(value: float, reference: float, digits: int = 3) -> str:
    """'0.021 lower' / '0.015 higher' / 'the same' for value compared with reference."""
    diff = value - reference
    if not np.isfinite(diff):
        return "not measurable"
    if round(abs(diff), digits) == 0:
        return "the same"
    return f"{abs(diff):.{digits}f} {'higher' if diff > 0 else 'lower'}"
