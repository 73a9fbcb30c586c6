"""The metrics file ``runs/<name>/metrics.csv``: its columns, its checks, reading, writing, and finding rows in it.

The file is long format (docs/contracts.md#metrics-table) with the contract columns :data:`METRIC_COLUMNS` first,
followed by one free-text column, ``note``, that carries the reason a value is NaN or how many bootstrap resamples
were kept. :func:`write_metrics` replaces one notebook's rows at a time, atomically. :func:`select_rows` is the one
way the chapters find rows in it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

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
# the key of a row, and each column's type in the file
KEY_COLUMNS = ["notebook", "experiment", "model", "split", "group_var", "group", "metric", "seed"]
STRING_COLUMNS = ["notebook", "experiment", "model", "split", "group_var", "group", "metric", NOTE_COLUMN]
FLOAT_COLUMNS = ["value", "ci_low", "ci_high"]
INT_COLUMNS = ["n", "n_pos", "seed"]


def typed_rows(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    for column in FLOAT_COLUMNS:
        out[column] = out[column].astype(float)
    for column in INT_COLUMNS:
        out[column] = out[column].astype(np.int64)
    for column in STRING_COLUMNS:
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
    for column in FLOAT_COLUMNS:
        try:
            out[column] = pd.to_numeric(out[column], errors="raise").astype(float)
        except (TypeError, ValueError):
            raise ValueError(
                f"metrics column '{column}' must hold numbers (NaN allowed for groups that cannot be scored)."
            ) from None
        if np.isinf(out[column]).any():
            raise ValueError(f"metrics column '{column}' has infinite values; use NaN for an undefined metric.")
    for column in INT_COLUMNS:
        values = pd.to_numeric(out[column], errors="coerce")
        if values.isna().any() or (values != values.round()).any():
            raise ValueError(f"metrics column '{column}' must hold whole numbers in every row.")
        out[column] = values.astype(np.int64)
    if (out["n"] < 0).any() or (out["n_pos"] < 0).any() or (out["n_pos"] > out["n"]).any():
        raise ValueError("metrics columns 'n'/'n_pos' must satisfy 0 <= n_pos <= n in every row.")
    duplicated = out.duplicated(KEY_COLUMNS)
    if duplicated.any():
        first = out.loc[duplicated, KEY_COLUMNS].iloc[0].tolist()
        raise ValueError(f"metrics rows repeat the key {KEY_COLUMNS} (e.g. {first}); each number appears once.")
    return typed_rows(out[METRICS_FILE_COLUMNS]).reset_index(drop=True)


def _read_metrics_file(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        dtype={c: str for c in STRING_COLUMNS},
        keep_default_na=False,
        na_values={c: [""] for c in FLOAT_COLUMNS},
    )
    return validate_metric_rows(frame)


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """All metric rows of a run (``runs/<name>/metrics.csv``), typed; an empty table when none exist yet."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return typed_rows(pd.DataFrame(columns=METRICS_FILE_COLUMNS))
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


def select_rows(rows: pd.DataFrame, **filters) -> pd.DataFrame:
    """The rows matching every filter, compared as text (``seed=0`` matches "0"); a tuple or list of values allows
    any of them. The one way the chapters find metric rows."""
    mask = np.ones(len(rows), dtype=bool)
    for column, value in filters.items():
        allowed = [str(v) for v in value] if isinstance(value, (tuple, list)) else [str(value)]
        mask &= rows[column].astype(str).isin(allowed).to_numpy()
    return rows[mask]


def first_row(rows: pd.DataFrame, **filters) -> pd.Series | None:
    """The first row :func:`select_rows` finds, or None when there is none."""
    found = select_rows(rows, **filters)
    return found.iloc[0] if len(found) else None


def lookup(rows: pd.DataFrame, **filters) -> pd.Series:
    """The one metric row matching ``filters`` (e.g. experiment='global', split='temporal_test', metric='auroc')."""
    found = select_rows(rows, **filters)
    if len(found) != 1:
        raise KeyError(f"expected one metric row for {filters}, found {len(found)}")
    return found.iloc[0]
