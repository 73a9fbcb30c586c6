"""Using your own data: load an admissions file into the study's schema.

The study reads one table with one row per hospital admission. Any CSV (``.csv`` or ``.csv.gz``) or Parquet
(``.parquet`` or ``.pq``) export can be used once its columns carry the names below, either in the file itself or
through a ``column_map`` that renames them at load time. The file is checked once, when it is loaded: every problem
found (missing columns, values that cannot be read, impossible dates, duplicate ids, empty or non-text notes)
is reported together in one :class:`DataValidationError` that names the column, the problem, the first
offending data rows (row 1 is the first row after the header) and how to fix it. Nothing is written anywhere while
loading; the caller saves the table only after it passed validation.

Columns
-------

===================== ======== =====================================================================================
column                required meaning and accepted values
===================== ======== =====================================================================================
``admission_id``      yes      unique id of the admission (read as text, so ``007`` stays ``007``)
``patient_id``        yes      id of the patient; bootstrap confidence intervals resample patients
``hospital``          yes      the site; any other column can play this part (``site_column``)
``admit_date``        yes      admission date or date-time in ISO form, e.g. ``2019-03-04`` or ``2019-03-04 13:20``;
                               other layouts need ``date_format`` (e.g. ``%d/%m/%Y``)
``discharge_date``    yes      discharge date or date-time, not before ``admit_date``
``age``               yes      age in years at admission, a number from 0 to 120
``sex``               yes      ``F`` or ``M`` (any case; also ``female``/``male``); empty or "unknown" values are
                               ``Unknown``, any other value ``Other``
``insurance``         yes      Medicare, Medicaid, Private or Self-pay; empty or "unknown" values are
                               ``Unspecified``, any other payer ``Other``
``borough``           no       Manhattan, Brooklyn, Queens, Bronx, Staten Island, Long Island or Other; empty or
                               "unknown" values are ``Unknown``; the column stays absent when the file has none
``comorbidity_index`` yes      Charlson-like index, a whole number 0 or more
``comorbidity_level`` no       1 to 4; derived from ``comorbidity_index`` when absent (0 / 1-2 / 3-4 / 5+)
``length_of_stay``    no       days in hospital; derived from the two dates when absent
``died_in_hospital``  yes      0 or 1 (also ``True``/``False``, ``"0"``/``"1"``, ``"true"``/``"false"``)
``note_text``         yes      the discharge note; must not be empty
``readmitted_30d``    yes      the label, 0 or 1 as above; must be 0 when ``died_in_hospital`` is 1
===================== ======== =====================================================================================

Columns that are not in this list are kept unchanged, so they can serve as the site axis or in the feature
analysis. Category values are matched ignoring case, spaces, dashes and underscores. A value outside the named
categories is never refused and never moved onto another real category: it becomes its own category, ``Other``,
or ``Unknown`` (``Unspecified`` for insurance) when it is empty or says it is not known; the loader reports which
values went there (terminal and run log). When you know that a value of your export is a named category under
another spelling, translate it with ``value_maps``, e.g. ``{"insurance": {"Commercial": "Private"}}``.

CSV files are read as UTF-8 with ``,`` between columns; ``csv_options`` (e.g. ``{"encoding": "latin-1", "sep":
";"}``) describes other files, and a file that does not match is refused with that fix before it is parsed.

Example
-------

A file ``my_export.csv`` whose column names differ from the schema::

    encounter,mrn,site,admitted,discharged,age_years,sex,payer,charlson,died,text,readmit30
    E1,P1,North,2020-01-03,2020-01-07,71,F,Medicare,3,0,"Admitted for CHF exacerbation ...",1
    E2,P1,North,2020-01-20,2020-01-22,71,F,Medicare,3,0,"Readmitted with dyspnea ...",0
    E3,P2,South,2020-02-11,2020-02-12,45,M,Commercial,0,0,"Elective knee replacement ...",0

is loaded with::

    from helpers.loaders import load_admissions
    admissions = load_admissions(
        "my_export.csv",
        column_map={"encounter": "admission_id", "mrn": "patient_id", "site": "hospital",
                    "admitted": "admit_date", "discharged": "discharge_date", "age_years": "age",
                    "payer": "insurance", "charlson": "comorbidity_index", "died": "died_in_hospital",
                    "text": "note_text", "readmit30": "readmitted_30d"},
        value_maps={"insurance": {"Commercial": "Private"}},
    )

To compare groups other than hospitals (a single-centre dataset, for instance), name the grouping column as the
site: ``load_admissions(path, column_map=..., site_column="admission_location")`` copies that column's values
into ``hospital`` and keeps the original column; a ``hospital`` column already in the file is kept as
``hospital_in_file``.
"""

from __future__ import annotations

import difflib
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

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

CSV_OPTIONS = ("encoding", "sep", "decimal", "quotechar", "thousands", "skiprows", "na_values", "encoding_errors")
"""Keys ``csv_options`` may hold; they are passed to :func:`pandas.read_csv` unchanged."""
_SNIFF_BYTES = 1 << 16
_OTHER_SEPARATORS = (";", "\t", "|")


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


def _check_csv_options(csv_options: dict) -> dict:
    unknown = sorted(set(csv_options) - set(CSV_OPTIONS))
    if unknown:
        raise ValueError(
            f"parameter 'csv_options' has unknown key(s) {unknown}. Fix: use only {list(CSV_OPTIONS)} (they are "
            "passed to pandas.read_csv), e.g. csv_options: {encoding: latin-1, sep: ';'}"
        )
    return dict(csv_options)


def _sniff_csv(path: Path, csv_options: dict) -> None:
    """Refuse, before pandas reads it, a CSV whose encoding or separator differs from ``csv_options``.

    The first 64 KiB are decoded with the chosen encoding (UTF-8 by default); a file that does not decode is refused
    naming the first undecodable byte and its line. A header line that holds a single column while containing ';',
    tabs or '|' is refused naming the separator it seems to use. Either message gives the ``csv_options`` fix.
    """
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    encoding = csv_options.get("encoding", "utf-8")
    try:
        text = head.decode(encoding, errors=csv_options.get("encoding_errors", "strict"))
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 4 and len(head) == _SNIFF_BYTES:  # a character cut at the sniff boundary
            text = head[:error.start].decode(encoding)
        else:
            line = head[:error.start].count(b"\n") + 1
            raise ValueError(
                f"parameter 'data_path': the file '{path.name}' is not {encoding} text (byte "
                f"0x{head[error.start]:02x} on line {line} cannot be read as {encoding}). Fix: give its encoding "
                "with the parameter csv_options, e.g. csv_options: {encoding: latin-1} (Western European exports; "
                "cp1252 for Windows exports), or save the file as UTF-8."
            ) from None
    except LookupError:
        raise ValueError(
            f"parameter 'csv_options': encoding {encoding!r} is not an encoding Python knows. Fix: use a name such "
            "as utf-8, latin-1 or cp1252."
        ) from None
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if not header:
        raise ValueError(f"parameter 'data_path': the file '{path.name}' is empty. Fix: export the admissions "
                         "table with a header line and one row per admission.")
    sep = csv_options.get("sep", ",")
    if sep in header:
        _refuse_duplicate_header(path, text.lstrip("\ufeff"), csv_options)
        return
    for other in _OTHER_SEPARATORS:
        if header.count(other) >= 2:
            # in YAML a tab needs double quotes ("\t"); ';' and '|' read the same either way
            said, written = ("tabs", '"\\t"') if other == "\t" else (repr(other), repr(other))
            raise ValueError(
                f"parameter 'data_path': the file '{path.name}' seems to separate its columns with {said}, not "
                f"{sep!r} (its header line reads as one column: {header[:80]!r}). Fix: give the separator with the "
                f"parameter csv_options, e.g. csv_options: {{sep: {written}}}."
            )


def _refuse_duplicate_header(path: Path, text: str, csv_options: dict) -> None:
    """Refuse a CSV whose header names a column twice: pandas would rename the second copy ('hospital.1') and
    which one holds the data the study needs would be a guess."""
    import csv

    skip = csv_options.get("skiprows", 0)
    if not isinstance(skip, int):  # a list or function of rows to skip: the header line cannot be told here
        return
    lines = text.splitlines()
    if len(lines) <= skip:
        return
    sep = csv_options.get("sep", ",")
    if len(sep) != 1:
        return
    names = next(csv.reader([lines[skip]], delimiter=sep, quotechar=csv_options.get("quotechar", '"')))
    positions: dict[str, list[int]] = {}
    for number, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(number)
    repeated = {name: where for name, where in positions.items() if len(where) > 1}
    if repeated:
        raise DataValidationError(str(path), [Problem(
            name, f"is the name of {len(where)} columns of the header (columns {', '.join(map(str, where))})",
            "give each column its own name in the export (rename or drop the copies); the study cannot tell which "
            "copy holds the data") for name, where in repeated.items()])


def _refuse_duplicate_columns(path: Path | str, frame: pd.DataFrame) -> None:
    """The same rule for a table read some other way (Parquet): every column name once."""
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataValidationError(str(path), [Problem(
            name, f"is the name of {names.count(name)} columns (columns "
            f"{', '.join(str(i + 1) for i, n in enumerate(names) if n == name)})",
            "give each column its own name in the export (rename or drop the copies); the study cannot tell which "
            "copy holds the data") for name in repeated])


def _read_table(path: Path, id_columns_in_file: list[str], csv_options: dict | None = None) -> pd.DataFrame:
    name = path.name.lower()
    csv_options = _check_csv_options(csv_options or {})
    if name.endswith(CSV_SUFFIXES):
        _sniff_csv(path, csv_options)
        # ids and notes are read as text: numeric inference would turn "007" into 7 and ids into floats once a
        # value is missing.
        try:
            return pd.read_csv(path, dtype={c: str for c in id_columns_in_file}, **csv_options)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise ValueError(
                f"parameter 'data_path': the file '{path.name}' cannot be read as CSV with csv_options="
                f"{csv_options} ({str(error).strip().splitlines()[0]}). Fix: check the separator, quote character "
                "and encoding in csv_options, e.g. csv_options: {sep: ';', encoding: latin-1}."
            ) from None
    if name.endswith(PARQUET_SUFFIXES):
        if csv_options:
            raise ValueError("parameter 'csv_options' is set, but the data file is Parquet. Fix: leave csv_options "
                             "empty ({}) for Parquet files.")
        if path.stat().st_size == 0:
            raise ValueError(f"parameter 'data_path': the file '{path.name}' is empty. Fix: export the admissions "
                             "table with one row per admission.")
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow's errors have several types; the message names the file either way
            raise ValueError(
                f"parameter 'data_path': the file '{path.name}' cannot be read as Parquet "
                f"({str(error).strip().splitlines()[0][:200]}). Fix: export it again as Parquet, or as CSV."
            ) from None
        _refuse_duplicate_columns(path, frame)
        return frame
    raise ValueError(
        f"parameter 'data_path': '{path.name}' has an unknown file type. Fix: give a CSV file "
        f"({', '.join(CSV_SUFFIXES)}) or a Parquet file ({', '.join(PARQUET_SUFFIXES)}); rename the file if it has "
        "one of these formats under another name."
    )


def _missing_file_message(path: Path) -> str:
    where = path.parent if str(path.parent) else Path(".")
    hint = ""
    if where.is_dir():
        names = [p.name for p in where.iterdir() if p.is_file()]
        close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
        if close:
            hint = f" Files with similar names there: {close}."
    elif str(path.parent):
        hint = f" Its folder '{path.parent}' does not exist either."
    what = "is a folder, not a file" if path.is_dir() else "does not exist"
    return (f"parameter 'data_path': '{path}' {what}. Fix: give the path of the CSV or Parquet export, relative "
            f"to the project root or absolute.{hint}")


def load_admissions(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    site_column: str = "hospital",
    date_format: str | None = None,
    *,
    value_maps: dict[str, dict[str, str]] | None = None,
    require_notes: bool = True,
    csv_options: dict | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet admissions export, rename its columns and validate it against the schema.

    ``column_map`` maps the file's names to schema names (``{"their_name": "schema_name"}``); ``site_column`` names
    the column (after renaming) that plays the study's ``hospital`` axis; ``date_format`` is passed to
    :func:`pandas.to_datetime` for both date columns (default: ISO 8601 only, so that 03/04 is never guessed);
    ``value_maps`` translates
    category spellings per column before checking them; ``require_notes=False`` accepts empty notes (for
    descriptive analyses only; the language model needs notes); ``csv_options`` (keys :data:`CSV_OPTIONS`, e.g.
    ``{"encoding": "latin-1", "sep": ";"}``) tells :func:`pandas.read_csv` how the CSV is written; a file whose
    encoding or separator does not match is refused with the option that fixes it. Returns the validated copy
    described in :func:`validate_admissions`; raises :class:`DataValidationError` listing every problem.
    Writes nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(_missing_file_message(path))
    column_map = dict(column_map or {})
    inverse_map = {schema_name: their_name for their_name, schema_name in column_map.items()}
    id_like = ["admission_id", "patient_id", "note_text"]
    raw = _read_table(path, [inverse_map.get(c, c) for c in id_like], csv_options)
    if raw.empty:
        what = "has a header line but no data rows" if len(raw.columns) else "has no columns and no rows"
        raise ValueError(
            f"parameter 'data_path': the file '{path.name}' {what} (columns: {[str(c) for c in raw.columns][:20]}). "
            "Fix: export the admissions table with one row per admission under the header (check the export's "
            "filters and date range)."
        )
    frame = apply_column_map(raw, column_map, source=str(path))
    frame = use_site_column(frame, site_column, source=str(path))
    if value_maps:
        frame = apply_value_maps(frame, value_maps, source=str(path))
    return validate_admissions(frame, source=str(path), date_format=date_format, require_notes=require_notes)


def apply_column_map(frame: pd.DataFrame, column_map: dict[str, str], source: str = "data") -> pd.DataFrame:
    """Rename columns ``{"their_name": "schema_name"}``, refusing names absent from the data and name collisions."""
    problems = []
    present = [str(c) for c in frame.columns]
    for their_name, schema_name in column_map.items():
        if their_name not in present:
            close = difflib.get_close_matches(their_name, present, n=3, cutoff=0.6)
            hint = f" Close matches in the data: {close}." if close else ""
            problems.append(Problem(
                their_name, f"is named in column_map (-> '{schema_name}') but is not in the data",
                f"use one of the data's column names as the key.{hint} The data has: {present}"))
    targets = list(column_map.values())
    for schema_name in sorted({t for t in targets if targets.count(t) > 1}):
        sources = [k for k, v in column_map.items() if v == schema_name]
        problems.append(Problem(schema_name, f"column_map maps several columns onto it: {sources}",
                                "map exactly one column onto each schema name"))
    for their_name, schema_name in column_map.items():
        if schema_name in present and schema_name not in column_map and schema_name != their_name:
            problems.append(Problem(
                schema_name, f"is already in the data, and column_map also maps '{their_name}' onto it",
                f"drop or rename the existing '{schema_name}' column first, or leave '{their_name}' out of "
                "column_map"))
    if problems:
        raise DataValidationError(source, problems)
    return frame.rename(columns=column_map)


def use_site_column(frame: pd.DataFrame, site_column: str, source: str = "data") -> pd.DataFrame:
    """The site-column rule of :func:`helpers.contracts.use_site_column`, reported as a :class:`DataValidationError`.

    ``site_column`` (after ``column_map``) is copied, as text, into ``hospital``; the source column is kept and a
    ``hospital`` column already there is kept as ``hospital_in_file``; a missing site value is its own group,
    "Unknown".
    """
    if site_column == "hospital" and "hospital" not in [str(c) for c in frame.columns]:
        return frame  # reported by validate_admissions, together with every other missing column
    if site_column not in [str(c) for c in frame.columns]:
        close = contracts.closest_names(site_column, frame.columns)
        if site_column == "hospital":
            problem = "required column is missing (it names each admission's site)"
            fix = ("add it, map your column onto it with column_map, or name the column that holds the site with "
                   "site_column")
        else:
            problem = "was given as site_column but is not in the data (after column_map)"
            fix = "name one of the columns as site_column"
        raise DataValidationError(source, [Problem(
            site_column, problem, fix + (f"; close matches: {close}" if close else "")
            + f". The data has: {[str(c) for c in frame.columns]}")])
    return contracts.use_site_column(frame, site_column, where=source)


def apply_value_maps(frame: pd.DataFrame, value_maps: dict[str, dict[str, str]], source: str = "data") -> pd.DataFrame:
    """Translate values per column (``{"insurance": {"Commercial": "Private"}}``); unmapped values stay as they are."""
    missing = [c for c in value_maps if c not in frame.columns]
    if missing:
        raise DataValidationError(source, [Problem(
            c, "is named in value_maps but is not in the data (after column_map)",
            "use a column name of the data or of the schema") for c in missing])
    out = frame.copy()
    for column, mapping in value_maps.items():
        out[column] = out[column].replace(mapping)
    return out


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
    _refuse_duplicate_columns(source, out)
    if out.empty:
        raise DataValidationError(source, [Problem(
            "admission_id", "the table has no rows", "give the study one row per admission")])
    problems: list[Problem] = []

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

    def present(name: str) -> bool:
        return name in out.columns

    for name in ("admission_id", "patient_id"):
        if present(name):
            out[name], found = _as_text(out[name], name)
            problems += found
    if present("hospital"):
        out = contracts.use_site_column(out, "hospital", where=source)
    if present("admission_id"):
        problems += _duplicate_ids(out["admission_id"])

    for name in ("admit_date", "discharge_date"):
        if present(name):
            out[name], found = _as_dates(out[name], name, date_format)
            problems += found
    if present("admit_date") and present("discharge_date"):
        before = out["discharge_date"] < out["admit_date"]
        if before.any():
            positions = _positions(before)
            problems.append(Problem(
                "discharge_date", "is before admit_date", "check the two dates of these rows (swapped columns?)",
                positions, [f"{out['admit_date'][p]} -> {out['discharge_date'][p]}" for p in positions]))

    if present("age"):
        out["age"], found = _as_numbers(out["age"], "age", "the age in years at admission as a number")
        problems += found
        negative = out["age"] < 0
        if negative.any():
            positions = _positions(negative)
            problems.append(Problem("age", "is negative", "give the age in years at admission, 0 or more",
                                    positions, out["age"].iloc[positions].tolist()))
        too_old = out["age"] > MAX_PLAUSIBLE_AGE
        if too_old.any():
            positions = _positions(too_old)
            problems.append(Problem(
                "age", f"is above {MAX_PLAUSIBLE_AGE}", "give the age in years (not months or days) at admission",
                positions, out["age"].iloc[positions].tolist()))

    category_notes: list[str] = []
    for name in CATEGORY_VALUES:
        if present(name):
            out[name], note = _as_category(out[name], name)
            category_notes += note

    if present("comorbidity_index"):
        out["comorbidity_index"], found = _as_whole_numbers(out["comorbidity_index"], "comorbidity_index",
                                                            minimum=0)
        problems += found
    if present("comorbidity_level"):
        out["comorbidity_level"], found = _as_whole_numbers(out["comorbidity_level"], "comorbidity_level",
                                                            minimum=1, maximum=4)
        problems += found
    elif present("comorbidity_index") and not any(p.column == "comorbidity_index" for p in problems):
        out["comorbidity_level"] = comorbidity_level(out["comorbidity_index"]).astype("int64")

    if present("length_of_stay"):
        out["length_of_stay"], found = _as_numbers(out["length_of_stay"], "length_of_stay",
                                                   "the length of stay in days as a number, or drop the column "
                                                   "to derive it from the dates")
        problems += found
        negative = out["length_of_stay"] < 0
        if negative.any():
            positions = _positions(negative)
            problems.append(Problem("length_of_stay", "is negative", "give the stay in days, 0 or more",
                                    positions, out["length_of_stay"].iloc[positions].tolist()))
    elif present("admit_date") and present("discharge_date"):
        out["length_of_stay"] = (out["discharge_date"] - out["admit_date"]) / pd.Timedelta(days=1)

    for name in ("died_in_hospital", "readmitted_30d"):
        if present(name):
            out[name], found = _as_binary(out[name], name)
            problems += found
    label_problems = [p for p in problems if p.column in ("died_in_hospital", "readmitted_30d")]
    if present("died_in_hospital") and present("readmitted_30d") and not label_problems:
        impossible = (out["died_in_hospital"] == 1) & (out["readmitted_30d"] == 1)
        if impossible.any():
            problems.append(Problem(
                "readmitted_30d", "is 1 although died_in_hospital is 1 (a patient who died in hospital cannot be "
                "readmitted)", "set readmitted_30d to 0 for in-hospital deaths, or correct died_in_hospital",
                _positions(impossible)))

    if present("note_text"):
        text = out["note_text"]
        is_text = text.map(lambda v: isinstance(v, str)).astype(bool)
        not_text = text.notna() & ~is_text
        if not_text.any():
            positions = _positions(not_text)
            # the values are not shown: they may be pieces of a note
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
