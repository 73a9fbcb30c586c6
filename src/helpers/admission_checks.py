"""The checks of an admissions table: every value against the schema, every problem of the file reported at once.

:func:`validate_admissions` is what :func:`helpers.loaders.load_admissions` runs on a loaded file (and what any
other source's table may be checked with); a :class:`DataValidationError` lists each :class:`Problem` with its
column, its rows (row 1 is the first data row) and the fix. The schema is docs/contracts.md#data-schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import contracts
from helpers.schema import (
    ADMISSION_COLUMNS,
    CATEGORY_SYNONYMS,
    CATEGORY_VALUES,
    NOT_KNOWN_CATEGORY,
    NOT_KNOWN_SPELLINGS,
    OTHER_CATEGORY,
    REQUIRED_COLUMNS,
    category_key,
    comorbidity_level,
)

MAX_ROWS_LISTED = 5
"""How many offending row numbers an error message lists before saying how many more there are."""

MAX_PLAUSIBLE_AGE = 120

@dataclass
class Problem:
    """One validation finding: which column, what is wrong, where (0-based positions) and how to fix it."""

    column: str
    problem: str
    fix: str
    positions: list[int] = field(default_factory=list)
    examples: list[object] = field(default_factory=list)

    @property
    def rows(self) -> list[int]:
        """Data row numbers as the user sees them in the file: 1 is the first row after the header."""
        return [p + 1 for p in self.positions]

    def describe(self) -> str:
        text = f"column '{self.column}': {self.problem}"
        if self.positions:
            text += f" ({_describe_rows(self.rows, self.examples)})"
        return f"{text}. Fix: {self.fix}"


class DataValidationError(ValueError):
    """Raised when admission data do not fit the schema; ``problems`` lists every finding, the message all of them.

    Each line of the message names the column, the problem, the first offending data rows (1-based, row 1 is the
    first row after the header, as a spreadsheet shows it minus the header line) and the fix.
    """

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = [f"{source}: {count} found; nothing was loaded."]
        lines += [f"- {p.describe()}" for p in problems]
        super().__init__("\n".join(lines))


def _describe_rows(rows: list[int], examples: list[object]) -> str:
    shown = rows[:MAX_ROWS_LISTED]
    label = "data row" if len(rows) == 1 else "data rows"
    text = f"{len(rows)} {label}: " + ", ".join(str(r) for r in shown)
    if examples:
        text += " with values " + ", ".join(repr(e) for e in examples[:MAX_ROWS_LISTED])
    if len(rows) > MAX_ROWS_LISTED:
        text += f", and {len(rows) - MAX_ROWS_LISTED} more"
    return text


def _rows(count) -> str:
    return f"{int(count):,} row" + ("" if int(count) == 1 else "s")


def _positions(mask: pd.Series | np.ndarray) -> list[int]:
    return np.flatnonzero(np.asarray(mask, dtype=bool)).tolist()


def _flag_values(out: pd.DataFrame, column: str, bad: pd.Series, problem: str, fix: str,
                 problems: list[Problem]) -> None:
    """One problem for the rows where ``bad`` holds, showing their values of ``column``."""
    if bad.any():
        positions = _positions(bad)
        problems.append(Problem(column, problem, fix, positions, out[column].iloc[positions].tolist()))


def refuse_duplicate_columns(path: Path | str, frame: pd.DataFrame) -> None:
    """The same rule for a table read some other way (Parquet): every column name once."""
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataValidationError(str(path), [Problem(
            name, f"is the name of {names.count(name)} columns (columns "
            f"{', '.join(str(i + 1) for i, n in enumerate(names) if n == name)})",
            "give each column its own name in the export (rename or drop the copies); the study cannot tell which "
            "copy holds the data") for name in repeated])


def validate_admissions(
    df: pd.DataFrame,
    source: str = "data",
    *,
    date_format: str | None = None,
    require_notes: bool = True,
) -> pd.DataFrame:
    """Check an admissions table against the schema and return a coerced copy; raise listing every problem.

    The copy has the schema columns first, in schema order, then the extra columns unchanged, and a fresh
    0..n-1 index. Types: ids, hospital, categories and notes as text; dates as datetime64; age and length of stay
    as float; comorbidity index and level, died_in_hospital and readmitted_30d as int64 (labels 0/1). Filled when
    absent: ``borough`` (Other), ``insurance`` values (Unspecified), ``comorbidity_level`` (from the index via
    :func:`helpers.schema.comorbidity_level`) and ``length_of_stay`` (discharge minus admission, in days).
    Row numbers in messages count data rows from 1 in the order given. ``source`` names the data in messages.
    """
    out = df.reset_index(drop=True).copy()
    out.columns = [str(c) for c in out.columns]
    refuse_duplicate_columns(source, out)
    if out.empty:
        raise DataValidationError(source, [Problem(
            "admission_id", "the table has no rows", "give the study one row per admission")])
    # each step coerces the columns it checks and adds its problems; all are reported together
    problems = _missing_columns(out)
    out = _check_ids_and_dates(out, problems, source, date_format)
    _check_age(out, problems)
    category_notes: list[str] = []
    for name in CATEGORY_VALUES:
        if name in out.columns:
            out[name], note = _as_category(out[name], name)
            category_notes += note
    _check_comorbidity_and_stay(out, problems)
    _check_labels(out, problems)
    if "note_text" in out.columns:
        _check_notes(out, problems, require_notes)
    if problems:
        raise DataValidationError(source, problems)
    ordered = [c for c in ADMISSION_COLUMNS if c in out.columns]
    result = out[ordered + [c for c in out.columns if c not in ADMISSION_COLUMNS]]
    result.attrs["category_notes"] = category_notes
    if category_notes:
        from helpers.progress import report

        for line in category_notes:
            report(f"{Path(source).name}: {line}")
    return result


def _missing_columns(out: pd.DataFrame) -> list[Problem]:
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    if missing:
        extras = [c for c in out.columns if c not in ADMISSION_COLUMNS]
        for name in missing:
            close = _close_names(name, extras)
            hint = f" Close matches in the data: {close}; rename with column_map={{'{close[0]}': '{name}'}}." \
                if close else ""
            problems.append(Problem(
                name, "required column is missing",
                f"add it, or map your column onto it with column_map.{hint} Expected columns: "
                f"{list(ADMISSION_COLUMNS)} (optional: borough, comorbidity_level, length_of_stay)"))
    return problems


def _check_ids_and_dates(out: pd.DataFrame, problems: list[Problem], source: str,
                         date_format: str | None) -> pd.DataFrame:
    """Ids as text and unique, the site column, the two dates readable and in order; returns the table."""
    for name in ("admission_id", "patient_id"):
        if name in out.columns:
            out[name], found = _as_text(out[name], name)
            problems += found
    if "hospital" in out.columns:
        out = contracts.use_site_column(out, "hospital", where=source)
    if "admission_id" in out.columns:
        problems += _duplicate_ids(out["admission_id"])
    for name in ("admit_date", "discharge_date"):
        if name in out.columns:
            out[name], found = _as_dates(out[name], name, date_format)
            problems += found
    if "admit_date" in out.columns and "discharge_date" in out.columns:
        before = out["discharge_date"] < out["admit_date"]
        if before.any():
            positions = _positions(before)
            problems.append(Problem(
                "discharge_date", "is before admit_date", "check the two dates of these rows (swapped columns?)",
                positions, [f"{out['admit_date'][p]} -> {out['discharge_date'][p]}" for p in positions]))
    return out


def _check_age(out: pd.DataFrame, problems: list[Problem]) -> None:
    if "age" not in out.columns:
        return
    out["age"], found = _as_numbers(out["age"], "age", "the age in years at admission as a number")
    problems += found
    _flag_values(out, "age", out["age"] < 0, "is negative", "give the age in years at admission, 0 or more",
                 problems)
    _flag_values(out, "age", out["age"] > MAX_PLAUSIBLE_AGE, f"is above {MAX_PLAUSIBLE_AGE}",
                 "give the age in years (not months or days) at admission", problems)


def _check_comorbidity_and_stay(out: pd.DataFrame, problems: list[Problem]) -> None:
    """The comorbidity index and level (the level derived when absent) and the length of stay (derived from the
    dates when absent)."""
    if "comorbidity_index" in out.columns:
        out["comorbidity_index"], found = _as_whole_numbers(out["comorbidity_index"], "comorbidity_index",
                                                            minimum=0)
        problems += found
    if "comorbidity_level" in out.columns:
        out["comorbidity_level"], found = _as_whole_numbers(out["comorbidity_level"], "comorbidity_level",
                                                            minimum=1, maximum=4)
        problems += found
    elif "comorbidity_index" in out.columns and not any(p.column == "comorbidity_index" for p in problems):
        out["comorbidity_level"] = comorbidity_level(out["comorbidity_index"]).astype("int64")
    if "length_of_stay" in out.columns:
        out["length_of_stay"], found = _as_numbers(out["length_of_stay"], "length_of_stay",
                                                   "the length of stay in days as a number, or drop the column "
                                                   "to derive it from the dates")
        problems += found
        _flag_values(out, "length_of_stay", out["length_of_stay"] < 0, "is negative",
                     "give the stay in days, 0 or more", problems)
    elif "admit_date" in out.columns and "discharge_date" in out.columns:
        out["length_of_stay"] = (out["discharge_date"] - out["admit_date"]) / pd.Timedelta(days=1)


def _check_labels(out: pd.DataFrame, problems: list[Problem]) -> None:
    """died_in_hospital and readmitted_30d as 0/1, and never both 1."""
    for name in ("died_in_hospital", "readmitted_30d"):
        if name in out.columns:
            out[name], found = _as_binary(out[name], name)
            problems += found
    label_problems = [p for p in problems if p.column in ("died_in_hospital", "readmitted_30d")]
    if "died_in_hospital" in out.columns and "readmitted_30d" in out.columns and not label_problems:
        impossible = (out["died_in_hospital"] == 1) & (out["readmitted_30d"] == 1)
        if impossible.any():
            problems.append(Problem(
                "readmitted_30d", "is 1 although died_in_hospital is 1 (a patient who died in hospital cannot be "
                "readmitted)", "set readmitted_30d to 0 for in-hospital deaths, or correct died_in_hospital",
                _positions(impossible)))


def _check_notes(out: pd.DataFrame, problems: list[Problem], require_notes: bool) -> None:
    """Each note is text, not empty, with at least one letter (the values are never shown: they may be notes)."""
    text = out["note_text"]
    is_text = text.map(lambda v: isinstance(v, str)).astype(bool)
    not_text = text.notna() & ~is_text
    if not_text.any():
        positions = _positions(not_text)
        kinds = sorted({type(v).__name__ for v in text.iloc[positions]})
        problems.append(Problem(
            "note_text", f"holds values that are not text (of type {', '.join(kinds)})",
            "give each admission its discharge note as text; check that note_text is mapped onto the notes "
            "column (column_map) and that the export wrote the notes as text", positions))
    empty = text.isna() | (is_text & text.where(is_text, "").astype(str).str.strip().eq(""))
    out["note_text"] = text.where(text.notna(), "").astype(str)
    if require_notes and empty.any():
        problems.append(Problem(
            "note_text", "is empty or missing", "give each admission its discharge note, or drop these "
            "admissions before loading", _positions(empty)))
    wordless = is_text & ~empty & ~text.where(is_text, "").astype(str).str.contains(r"[^\W\d_]", regex=True)
    if require_notes and wordless.any():
        problems.append(Problem(
            "note_text", "has notes without a single letter (only digits or punctuation)",
            "check that note_text is mapped onto the notes column (column_map), or drop these admissions",
            _positions(wordless)))


def _close_names(name: str, candidates: list[str]) -> list[str]:
    """Column names that look like ``name``, ignoring case, spaces and dashes ("Admit Date" ~ "admit_date")."""
    return contracts.closest_names(name, candidates)


def _blank(values: pd.Series) -> pd.Series:
    """True where a value is missing or a text of only spaces."""
    blank = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        blank |= values.astype("string").str.strip().eq("").fillna(True).astype(bool)
    return blank


def _missing_problem(values: pd.Series, name: str, fix: str) -> list[Problem]:
    missing = _blank(values)
    if missing.any():
        return [Problem(name, "has missing values", fix, _positions(missing))]
    return []


def _as_text(values: pd.Series, name: str) -> tuple[pd.Series, list[Problem]]:
    """Ids and names as stripped text; whole floats (an integer column with gaps) lose their '.0'."""
    problems = _missing_problem(values, name, "give every row a value")
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.round(whole)).all():
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.astype(object).where(text.notna(), None), problems


def _duplicate_ids(ids: pd.Series) -> list[Problem]:
    duplicated = ids.notna() & ids.duplicated(keep=False)
    if not duplicated.any():
        return []
    positions = _positions(duplicated)
    repeated = list(dict.fromkeys(ids.iloc[positions]))
    shown = ", ".join(repr(i) for i in repeated[:MAX_ROWS_LISTED])
    more = f" and {len(repeated) - MAX_ROWS_LISTED} more" if len(repeated) > MAX_ROWS_LISTED else ""
    return [Problem("admission_id", f"has duplicate ids {shown}{more}",
                    "give each admission one row with its own id", positions)]


_TIME_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
"""A time-zone designator at the end of an ISO date-time: 'Z' (UTC) or an offset such as +01:00, -0500 or +05."""


def _as_dates(values: pd.Series, name: str, date_format: str | None) -> tuple[pd.Series, list[Problem]]:
    """Read a date column; every date-time ends up time-zone-naive, in one convention.

    The convention: values without a time zone are read as written (the export's own clock); values with a zone
    ('Z', '+01:00', a zone-aware Parquet column) are converted to UTC and the zone is dropped. A column that
    mixes the two is refused (which clock the plain values use cannot be known), naming the rows of the rarer kind.
    """
    problems = _missing_problem(values, name, "give every admission its date")
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values, problems
    given = values.notna() & values.astype(str).str.strip().ne("")
    text = values.astype("string").str.strip()
    zoned = given & text.str.contains(r"\d[T ]?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*" + _TIME_ZONE,
                                      regex=True).fillna(False).astype(bool)
    plain = given & ~zoned
    if zoned.any() and plain.any():
        fewer, kind, other = ((zoned, "with a time zone", "without one") if zoned.sum() <= plain.sum()
                              else (plain, "without a time zone", "with one"))
        positions = _positions(fewer)
        example_zoned = text[zoned].iloc[0]
        example_plain = text[plain].iloc[0]
        problems.append(Problem(
            name, f"mixes date-times with a time zone (e.g. {example_zoned!r}, {_rows(zoned.sum())}) and without one "
            f"(e.g. {example_plain!r}, {_rows(plain.sum())}); listed: the rows {kind}",
            "export every value of the column in one form: all with their offset (they are converted to UTC) or "
            "all without (read as written, in the export's local time); see 'Dates and time zones' in "
            "book/own_data.md", positions, values.iloc[positions].tolist()))
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"), problems
    # Without a format only ISO 8601 is read (2019-03-04, 2019-03-04 13:20, ...): guessing would read 03/04/2019
    # as March or April depending on the first row, silently.
    try:
        parsed = pd.to_datetime(values.where(given, None), format=date_format or "ISO8601", errors="coerce",
                                utc=bool(zoned.any()))
    except (ValueError, TypeError) as error:  # a layout pandas refuses as a whole, e.g. a broken date_format
        problems.append(Problem(name, f"has dates that cannot be read ({str(error).splitlines()[0]})",
                                "write dates as YYYY-MM-DD (optionally with HH:MM), or pass date_format for other "
                                "layouts (e.g. '%d/%m/%Y')", _positions(given)[:MAX_ROWS_LISTED]))
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"), problems
    if zoned.any():
        parsed = parsed.dt.tz_localize(None)  # already converted to UTC
    bad = given & parsed.isna()
    if bad.any():
        positions = _positions(bad)
        fix = ("write dates as YYYY-MM-DD (optionally with HH:MM), or pass date_format for other layouts (e.g. "
               "'%d/%m/%Y')")
        read = given & parsed.notna()
        what = "has dates that cannot be read" + (f" with date_format={date_format!r}" if date_format else "")
        if read.any():  # some rows read, others not: the column mixes layouts
            what += (f"; the column mixes layouts ({_rows(read.sum())} read, e.g. "
                     f"{str(values[read].iloc[0]).strip()!r})")
            fix = "export every date of the column in one layout, then " + fix
        problems.append(Problem(name, what, fix, positions, values.iloc[positions].tolist()))
    return parsed, problems


def _as_numbers(values: pd.Series, name: str, fix: str) -> tuple[pd.Series, list[Problem]]:
    problems = _missing_problem(values, name, f"give {fix}")
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(float)
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    given = values.notna() & values.astype(str).str.strip().ne("")
    bad = given & numbers.isna()
    if bad.any():
        positions = _positions(bad)
        problems.append(Problem(name, "has values that are not numbers", f"write {fix}", positions,
                                values.iloc[positions].tolist()))
    return numbers, problems


def _as_whole_numbers(values: pd.Series, name: str, minimum: int, maximum: int | None = None
                      ) -> tuple[pd.Series, list[Problem]]:
    span = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
    numbers, problems = _as_numbers(values, name, f"a whole number {span}")
    fractional = numbers.notna() & (numbers != np.round(numbers))
    out_of_range = numbers.notna() & ((numbers < minimum) | ((numbers > maximum) if maximum is not None else False))
    for mask, what in ((fractional, "has values that are not whole numbers"),
                       (out_of_range & ~fractional, f"has values outside {span}")):
        if mask.any():
            positions = _positions(mask)
            problems.append(Problem(name, what, f"give a whole number {span}", positions,
                                    numbers.iloc[positions].tolist()))
    if problems:
        return numbers, problems
    return numbers.astype("int64"), problems


def _as_binary(values: pd.Series, name: str) -> tuple[pd.Series, list[Problem]]:
    """0/1 columns through the study's one parser (:func:`helpers.contracts.parse_binary`), collected as problems."""
    parsed, bad = contracts.parse_binary(values.reset_index(drop=True))
    if bad.any():
        positions = _positions(bad)
        missing = values.isna().to_numpy()[positions]
        if missing.all():
            what = "has missing values"
        else:
            shown = list(dict.fromkeys(repr(v) for v in values.iloc[positions] if not pd.isna(v)))
            what = (f"has values that are not 0 or 1 ({', '.join(shown[:MAX_ROWS_LISTED])}"
                    f"{' ...' if len(shown) > MAX_ROWS_LISTED else ''}"
                    + (", and missing values" if missing.any() else "") + ")")
        return pd.Series(parsed, index=values.index), [Problem(
            name, what, contracts.BINARY_FIX, positions, values.iloc[positions].tolist())]
    return pd.Series(parsed.astype("int64"), index=values.index), []


def _as_category(values: pd.Series, name: str) -> tuple[pd.Series, list[str]]:
    """Read a category column: every value becomes one of :data:`helpers.schema.CATEGORY_VALUES` ``[name]``.

    Values are matched ignoring case, spaces, dashes and underscores, plus the exact synonyms of
    :data:`helpers.schema.CATEGORY_SYNONYMS` (``female`` -> ``F``). An empty value or one that says it is not known
    (``Unknown``, ``unk``, ``not recorded`` ...) becomes the column's not-known category (``Unknown``, or
    ``Unspecified`` for insurance); any other value becomes ``Other``, its own category. No value is ever moved to
    another real category, and no row is refused. Returns the values and one line per column saying which values
    went to Other or Unknown and how many rows, so the person loading the data can translate real synonyms with
    ``value_maps`` if they wish (e.g. ``{"insurance": {"Commercial": "Private"}}`` when that is what it means).
    """
    allowed = CATEGORY_VALUES[name]
    lookup = {category_key(a): a for a in allowed}
    lookup.update({category_key(k): v for k, v in CATEGORY_SYNONYMS.get(name, {}).items()})
    not_known = NOT_KNOWN_CATEGORY[name]
    keys = values.astype("string").str.strip()
    blank = _blank(values).to_numpy()
    key = keys.fillna("").map(category_key)
    matched = key.map(lookup).astype(object).to_numpy()
    said_unknown = key.isin(NOT_KNOWN_SPELLINGS).to_numpy() & pd.isna(matched)
    result = np.where(blank | said_unknown, not_known, np.where(pd.isna(matched), OTHER_CATEGORY, matched))
    notes = []
    for target, mask in ((not_known, blank | said_unknown), (OTHER_CATEGORY, ~blank & ~said_unknown &
                                                             pd.isna(matched))):
        if not mask.any():
            continue
        raw = sorted(set(keys[mask & ~blank].astype(str)))
        parts = [f"{int((mask & blank).sum())} empty"] if (mask & blank).any() else []
        if raw:
            parts.append("values " + ", ".join(repr(v) for v in raw[:MAX_ROWS_LISTED])
                         + (" ..." if len(raw) > MAX_ROWS_LISTED else ""))
        count = int(mask.sum())
        notes.append(f"column '{name}': {count} row{'' if count == 1 else 's'} ({' and '.join(parts)}) "
                     f"{'is kept as its' if count == 1 else 'are kept as their'} own category '{target}'")
    return pd.Series(result, index=values.index, dtype=object), notes
