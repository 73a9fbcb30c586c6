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
from pathlib import Path

import pandas as pd

from helpers import contracts
from helpers.admission_checks import (  # noqa: F401  (re-exported: the loader's public names)
    MAX_PLAUSIBLE_AGE,
    MAX_ROWS_LISTED,
    DataValidationError,
    Problem,
    validate_admissions,
)
from helpers.admission_checks import refuse_duplicate_columns

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

CSV_OPTIONS = ("encoding", "sep", "decimal", "quotechar", "thousands", "skiprows", "na_values", "encoding_errors")
"""Keys ``csv_options`` may hold; they are passed to :func:`pandas.read_csv` unchanged."""
_SNIFF_BYTES = 1 << 16
_OTHER_SEPARATORS = (";", "\t", "|")



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
        refuse_duplicate_columns(path, frame)
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


