"""The study's data contracts, in one place: split names, column lists, 0/1 labels, table checks and the site rule.

Every module that reads a table another stage wrote checks it with the functions here, so a table is described and
refused in the same words everywhere:

- :data:`SPLITS` and friends name the four splits (docs/contracts.md#splits).
- :data:`COHORT_COLUMNS`, :data:`STUDY_FRAME_COLUMNS`, :data:`PREDICTION_COLUMNS` list what each table must hold.
- :func:`binary_labels` is the single parser of 0/1 columns (the label ``readmitted_30d``, ``died_in_hospital``,
  ``y_true``): it accepts 0/1 as numbers, booleans or the texts ``"0"``/``"1"``/``"true"``/``"false"`` (any case,
  surrounding spaces ignored), and refuses anything else, missing values included, naming the column, the bad
  values, the rows and the fix. :func:`parse_binary` is the same rule without raising, for validators that collect
  every problem before reporting.
- :func:`check_columns` refuses a table that lacks columns and suggests the closest names it does have.
- :func:`use_site_column` is the site-column rule: which column plays the study's ``hospital``.
- :func:`check_study_frame` checks the table the model chapters read; :func:`helpers.cohort.study_frame` calls it
  once, where the frame is built, and everything downstream trusts it.

Errors are :class:`ContractError`, a ``ValueError`` whose message reads
``<where>: column '<name>' <problem> (<rows and values>). Fix: <what to do>``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------------

SPLITS: tuple[str, ...] = ("train", "validation", "random_test", "temporal_test")
"""Every split, in the order the study uses them."""
EVALUATION_SPLITS: tuple[str, ...] = ("validation", "random_test", "temporal_test")
"""Splits a model is scored on (never train)."""
TEST_SPLITS: tuple[str, ...] = ("random_test", "temporal_test")
"""The two held-out test splits the results are read from."""

LABEL_COLUMN = "readmitted_30d"
"""The outcome: 30-day readmission, 0 or 1."""
TEXT_COLUMN = "note_text"
"""The discharge note, the only model input."""
SITE_COLUMN = "hospital"
"""The study's site axis; :func:`use_site_column` lets any column play it."""
UNKNOWN_SITE = "Unknown"
"""The site of an admission whose site value is missing: its own group, never another site."""

COHORT_COLUMNS: tuple[str, ...] = (
    "admission_id", "patient_id", "hospital", "admit_date", "discharge_date", "age", "age_group", "sex",
    "insurance", "comorbidity_index", "comorbidity_level", "note_text", "words_per_note", "discharge_year",
    "readmitted_30d",
)
"""Columns every cohort holds (``borough`` and ``length_of_stay`` are optional; simulated data add hidden facts)."""
STUDY_FRAME_COLUMNS: tuple[str, ...] = COHORT_COLUMNS + ("split",)
"""The cohort joined with its split: what the model chapters read."""
SPLIT_COLUMNS: tuple[str, ...] = ("admission_id", "patient_id", "hospital", "split")
"""Columns of ``splits.parquet``."""
PREDICTION_COLUMNS: tuple[str, ...] = ("admission_id", "patient_id", "hospital", "split", "model", "y_true",
                                       "y_score")
"""Columns of every predictions table (one row per model, split and admission)."""

MAX_LISTED = 5
"""How many offending rows or values a message lists before saying how many more there are."""

_TRUE_TEXTS = frozenset({"1", "1.0", "true"})
_FALSE_TEXTS = frozenset({"0", "0.0", "false"})
BINARY_FIX = ("recode it to 0 or 1 (True/False and the texts '0'/'1'/'true'/'false' are accepted too) and drop or "
              "fill rows with a missing value")


class ContractError(ValueError):
    """A table does not meet its contract; the message names the column, the problem, the rows and the fix."""


# --------------------------------------------------------------------------------------------------------------
# Small helpers for messages
# --------------------------------------------------------------------------------------------------------------


def describe_rows(rows: Sequence[object], values: Sequence[object] | None = None, *, noun: str = "row") -> str:
    """``"3 rows: 4, 9, 12 with values 'x', 2, nan"``; lists at most :data:`MAX_LISTED` and counts the rest."""
    rows = list(rows)
    shown = rows[:MAX_LISTED]
    text = f"{len(rows)} {noun}{'' if len(rows) == 1 else 's'}: " + ", ".join(str(r) for r in shown)
    if values is not None:
        text += " with value" + ("" if len(shown) == 1 else "s") + " " + ", ".join(
            repr(v) for v in list(values)[:MAX_LISTED])
    if len(rows) > MAX_LISTED:
        text += f", and {len(rows) - MAX_LISTED} more"
    return text


def closest_names(name: str, candidates: Iterable[object], n: int = 3) -> list[str]:
    """Names among ``candidates`` that look like ``name``, ignoring case, spaces and dashes ("Admit Date")."""
    normal: dict[str, str] = {}
    for candidate in candidates:
        key = str(candidate).strip().lower().replace(" ", "_").replace("-", "_")
        normal.setdefault(key, str(candidate))
    hits = difflib.get_close_matches(name.lower(), list(normal), n=n, cutoff=0.6)
    return [normal[h] for h in hits]


def _row_labels(positions: np.ndarray, row_ids: Sequence[object] | None) -> list[object]:
    """Rows as the message names them: by ``row_ids`` when given, else 1-based positions."""
    if row_ids is not None:
        return list(pd.Series(row_ids).iloc[positions])
    return [int(p) + 1 for p in positions]


# --------------------------------------------------------------------------------------------------------------
# 0/1 labels
# --------------------------------------------------------------------------------------------------------------


def parse_binary(values) -> tuple[np.ndarray, np.ndarray]:
    """Read 0/1 values without raising: ``(parsed, bad)`` where ``parsed`` is float (0.0, 1.0, NaN where bad).

    Accepted: the numbers 0 and 1 (int or float), booleans, and the texts ``"0"``, ``"1"``, ``"0.0"``, ``"1.0"``,
    ``"true"``, ``"false"`` in any case with surrounding spaces. Everything else is bad, missing values included.
    """
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if series.ndim != 1:
        raise ContractError(f"0/1 values must be one-dimensional, got shape {np.shape(values)}")
    if series.dtype.kind in "biuf":  # fast path for plain numeric and boolean arrays (the common case)
        numbers = series.to_numpy(dtype=float)
        ok = (numbers == 0.0) | (numbers == 1.0)
        return np.where(ok, numbers, np.nan), ~ok
    missing = series.isna().to_numpy()
    # One text path for every other dtype: booleans print as 'True', ints as '1', floats as '1.0'.
    text = series.astype(str).str.strip().str.lower()
    parsed = np.full(len(series), np.nan)
    parsed[text.isin(_TRUE_TEXTS).to_numpy()] = 1.0
    parsed[text.isin(_FALSE_TEXTS).to_numpy()] = 0.0
    parsed[missing] = np.nan
    return parsed, np.isnan(parsed)


def binary_labels(values, *, column: str, where: str, row_ids: Sequence[object] | None = None) -> np.ndarray:
    """The one 0/1 parser of the study: ``values`` as an int64 array of 0 and 1, or a :class:`ContractError`.

    ``column`` names the column and ``where`` the table or stage (both appear in the message). Rows are reported
    as 1-based positions (row 1 is the first value), or by ``row_ids`` (e.g. the admission ids) when given.
    """
    series = pd.Series(values) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    parsed, bad = parse_binary(series)
    if bad.any():
        positions = np.flatnonzero(bad)
        noun = "admission" if row_ids is not None else "row"
        examples = series.iloc[positions].tolist()
        distinct = list(dict.fromkeys("missing" if pd.isna(v) else repr(v) for v in examples))
        raise ContractError(
            f"{where}: column '{column}' must hold only 0 or 1, but has "
            f"{', '.join(distinct[:MAX_LISTED])}{' ...' if len(distinct) > MAX_LISTED else ''} "
            f"({describe_rows(_row_labels(positions, row_ids), examples, noun=noun)}). Fix: {BINARY_FIX}."
        )
    return parsed.astype(np.int64)


# --------------------------------------------------------------------------------------------------------------
# Tables and columns
# --------------------------------------------------------------------------------------------------------------


def check_columns(frame: pd.DataFrame, required: Iterable[str], *, where: str, fix: str = "") -> None:
    """Raise naming every column of ``required`` that ``frame`` lacks, with the closest names it does have."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
    present = [str(c) for c in frame.columns]
    missing = [c for c in required if c not in present]
    if not missing:
        return
    parts = []
    for name in missing:
        close = closest_names(name, [c for c in present if c not in required])
        parts.append(f"'{name}'" + (f" (closest in the table: {close})" if close else ""))
    raise ContractError(
        f"{where}: missing column{'s' if len(missing) > 1 else ''} {', '.join(parts)}. "
        f"Fix: {fix or 'rename or add the column'}. The table has: {present}"
    )


def check_unique(values: pd.Series, *, column: str, where: str, fix: str = "") -> None:
    """Raise if ``values`` repeats a value (ids), naming the repeated values and their rows."""
    values = values.reset_index(drop=True)
    repeated = values.notna() & values.duplicated(keep=False)
    if repeated.any():
        positions = np.flatnonzero(repeated.to_numpy())
        distinct = list(dict.fromkeys(values.iloc[positions]))
        raise ContractError(
            f"{where}: column '{column}' repeats {len(distinct)} value(s) "
            f"{', '.join(repr(v) for v in distinct[:MAX_LISTED])}{' ...' if len(distinct) > MAX_LISTED else ''} "
            f"({describe_rows([int(p) + 1 for p in positions])}). Fix: {fix or 'give each row its own ' + column}."
        )


def check_split_names(values: pd.Series, *, where: str, column: str = "split") -> None:
    """Raise if ``values`` holds anything but the four split names."""
    unknown = sorted(set(pd.Series(values).astype(str)) - set(SPLITS))
    if unknown:
        raise ContractError(
            f"{where}: column '{column}' has unknown value(s) {unknown}, which are not split names. Fix: use only "
            f"{list(SPLITS)}; "
            "splits come from chapter 1 (helpers.splits.assign_splits)."
        )


def check_study_frame(frame: pd.DataFrame, *, where: str = "study frame") -> pd.DataFrame:
    """Check the table the model chapters read, once, where it is built; return it with ``readmitted_30d`` int64.

    It must hold :data:`STUDY_FRAME_COLUMNS`, one row per admission, split names from :data:`SPLITS`, 0/1 labels
    and text notes.
    """
    check_columns(frame, STUDY_FRAME_COLUMNS, where=where, fix="re-run chapter 1, which writes the cohort and splits")
    check_unique(frame["admission_id"], column="admission_id", where=where,
                 fix="cohort.parquet and splits.parquet must hold one row per admission; re-run chapter 1")
    check_split_names(frame["split"], where=where)
    out = frame.copy()
    out[LABEL_COLUMN] = binary_labels(out[LABEL_COLUMN], column=LABEL_COLUMN, where=where,
                                      row_ids=out["admission_id"])
    notes = out[TEXT_COLUMN]
    not_text = ~notes.map(lambda v: isinstance(v, str)).astype(bool)
    if not_text.any():
        positions = np.flatnonzero(not_text.to_numpy())
        raise ContractError(
            f"{where}: column '{TEXT_COLUMN}' must hold text ("
            f"{describe_rows(out['admission_id'].iloc[positions].tolist(), noun='admission')} do not). "
            "Fix: re-run chapter 1, which checks the notes when it loads the data."
        )
    return out


# --------------------------------------------------------------------------------------------------------------
# The site-column rule
# --------------------------------------------------------------------------------------------------------------


def use_site_column(frame: pd.DataFrame, site_column: str = SITE_COLUMN, *, where: str = "data") -> pd.DataFrame:
    """Let ``site_column`` play the study's ``hospital`` axis; the one rule for every data source.

    - ``site_column="hospital"`` (the default): the ``hospital`` column must exist and is used as it is.
    - any other name: that column must exist (the closest names are suggested if not); its values are copied, as
      text, into ``hospital``, and the source column is kept. A ``hospital`` column already there is kept as
      ``hospital_in_file``.
    - in both cases a missing site value becomes its own group, :data:`UNKNOWN_SITE` ("Unknown"), never another
      site; ids that are whole numbers read as floats (``3.0``) are written ``3``.
    """
    columns = [str(c) for c in frame.columns]
    if site_column not in columns:
        close = closest_names(site_column, columns)
        what = ("the site column 'hospital' is missing" if site_column == SITE_COLUMN
                else f"site_column is {site_column!r}, which is not a column")
        raise ContractError(
            f"{where}: {what}. Fix: name the column that holds the site with the parameter 'site_column' (or "
            f"rename it with 'column_map')" + (f"; closest columns: {close}" if close else "")
            + f". Columns: {columns}"
        )
    out = frame.copy()
    site = out[site_column]
    if site_column != SITE_COLUMN and SITE_COLUMN in out.columns:
        out = out.rename(columns={SITE_COLUMN: "hospital_in_file"})
    if pd.api.types.is_float_dtype(site):
        known = site.dropna()
        if len(known) and (known == np.round(known)).all():
            site = site.astype("Int64")
    text = site.astype("string").str.strip()
    text = text.where(text.notna() & text.ne(""), UNKNOWN_SITE)
    out[SITE_COLUMN] = text.astype(object)
    return out
