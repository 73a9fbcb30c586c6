"""MIMIC-IV adapter: admissions in the study's schema from the MIMIC-IV ``hosp`` tables and MIMIC-IV-Note.

MIMIC-IV (Johnson et al., PhysioNet, https://doi.org/10.13026/07hj-2a80) holds the records of patients admitted
to the Beth Israel Deaconess Medical Center (BIDMC), Boston. Its discharge notes are a separate credentialed module,
MIMIC-IV-Note (https://physionet.org/content/mimic-iv-note/), file ``note/discharge.csv.gz``. The open MIMIC-IV
demo (100 patients, ODbL) has the ``hosp`` tables but no notes.

How each schema column is made (all choices are parameters or documented here):

- ``admission_id`` = ``hadm_id``, ``patient_id`` = ``subject_id`` (as text, like every loader's ids; the integer
  originals are kept as ``hadm_id`` and ``subject_id``).
- ``admit_date`` / ``discharge_date`` = ``admittime`` / ``dischtime``. MIMIC shifts every patient's dates into the
  future (years 2100-2200) to de-identify them; they are kept as they are. Order within a patient and intervals are
  real; calendar years are not, so a temporal split on MIMIC should use ``anchor_year_group`` (the real 3-year
  window, kept as an extra column) rather than the shifted year.
- ``readmitted_30d``: admissions of a patient are sorted by ``admittime``; an admission is readmitted when the
  patient's next admission starts at most ``readmission_window_days`` (30) days after this discharge, measured as
  an exact time difference (30 days 11 hours is *not* within 30 days). All causes count, planned ones too. Every
  admission ending alive is an index admission, so a readmission can itself be an index admission.
- ``died_in_hospital`` = 1 when ``hospital_expire_flag`` is 1 or ``deathtime`` is set. Such admissions get
  ``readmitted_30d`` = 0 (a dead patient cannot be readmitted); the cohort step excludes them from the readmission
  cohort and counts them for mortality. An admission *after* an in-hospital death is impossible in consistent
  data; if one occurs, it is kept as an ordinary admission, a message names it (terminal and run log), and
  ``attrs["admissions_after_death"]`` lists its ids.
- ``age`` = ``anchor_age + (admit year - anchor_year)``, per MIMIC's documentation of the anchor fields. MIMIC
  reports every age above 89 as 91 at the anchor year, so old ages are capped, not exact.
- ``sex`` = ``patients.gender`` (F / M).
- ``insurance``: MIMIC-IV v2.2 (and its demo) has Medicare, Medicaid and Other; later releases split out more
  payers, such as Private and No charge. Mapping (:data:`MIMIC_INSURANCE`): Medicare, Medicaid and Private keep
  their names; No charge -> Self-pay (care not billed to any payer, the nearest category for the uninsured); Other
  -> Other, its own category (in v2.2 it lumps private insurance with every other payer, and the two cannot be told
  apart, so it is never relabelled as one of them); empty -> Unspecified. Pass ``insurance_map`` to choose
  otherwise. Any other value is kept as Other, with a message naming it (terminal and run log). The raw value is kept as
  ``insurance_mimic``.
- ``borough``: absent. BIDMC is in Boston and MIMIC has no patient geography, so the study leaves this optional
  column out rather than inventing a constant.
- ``comorbidity_index``: Charlson index from ``diagnoses_icd`` via comorbidipy (Quan 2005 ICD coding algorithms,
  original Charlson 1987 weights, milder forms zeroed when the severe form is present); see :func:`charlson_index`.
  Admissions without any diagnosis code get 0.
- ``length_of_stay`` in days from the two times; ``words_per_note`` = whitespace-separated words of the note.
- ``note_text``: the discharge notes of the admission (``note_type`` DS, and addenda AD if any) joined in
  ``note_seq`` order. Admissions without a discharge note are dropped when ``require_notes`` is True (the labels are
  computed before, on all admissions, so a readmission without a note still counts), or kept with an empty note.
- ``hospital``: MIMIC is one centre, so the site is a constant (``site_name``, "BIDMC") unless ``site_column`` names
  a column to study across, e.g. ``admission_location``, ``admission_type``, ``insurance_mimic`` or ``race``, by
  the study's one site-column rule (:func:`helpers.contracts.use_site_column`: missing values become "Unknown").
- Kept as extra columns: ``admission_type``, ``admission_location``, ``discharge_location``, ``race``,
  ``language``, ``marital_status``, ``anchor_year_group``, ``dod`` (date of death, also after discharge),
  ``days_to_next_admission`` and ``prior_admissions`` (earlier admissions of the patient in the data).

The result is checked by :func:`helpers.loaders.validate_admissions` before it is returned.
``df.attrs["has_notes"]`` says whether notes were read.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from helpers.contracts import use_site_column
from helpers.loaders import DataValidationError, Problem, validate_admissions
from helpers.progress import report

MIMIC_INSURANCE = {
    "Medicare": "Medicare",
    "Medicaid": "Medicaid",
    "Private": "Private",
    "No charge": "Self-pay",
    "Other": "Other",
}
"""MIMIC-IV ``admissions.insurance`` value -> the schema's insurance category (anything else -> Other)."""

DEFAULT_SITE_NAME = "BIDMC"
NOTE_SOURCE_HINT = (
    "MIMIC-IV-Note (credentialed access on PhysioNet: https://physionet.org/content/mimic-iv-note/ ; after "
    "signing its data use agreement download note/discharge.csv.gz and pass its path as discharge_notes), or pass "
    "require_notes=False to load the hosp tables without notes (note_text is then empty)"
)

CHARLSON_SCORE = "charlson"
CHARLSON_VARIANT = "quan"
CHARLSON_WEIGHTING = "charlson"

ADMISSION_COLUMNS_USED = [
    "subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type", "admission_location",
    "discharge_location", "insurance", "language", "marital_status", "race", "hospital_expire_flag",
]
PATIENT_COLUMNS_USED = ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"]
DIAGNOSES_COLUMNS_USED = ["hadm_id", "icd_code", "icd_version"]
NOTE_COLUMNS_USED = ["hadm_id", "note_type", "note_seq", "text"]


def _import_comorbidipy():
    """Import comorbidipy 0.5.0, which imports ``SettingWithCopyWarning`` from ``pandas.core.common``.

    pandas moved that warning to ``pandas.errors`` (and removed the old name), so the import fails on current
    pandas. Putting the class back under its old name is enough: comorbidipy only uses it to silence the warning.
    """
    import pandas.core.common as pandas_common
    import pandas.errors

    if not hasattr(pandas_common, "SettingWithCopyWarning"):
        pandas_common.SettingWithCopyWarning = getattr(pandas.errors, "SettingWithCopyWarning", Warning)
    import comorbidipy
    from comorbidipy.assignzero import assignzero
    from comorbidipy.colnames import get_colnames
    from comorbidipy.weights import weights

    return comorbidipy, assignzero, get_colnames, weights


def charlson_index(diagnoses_icd: pd.DataFrame,
                   icd_version_mix: Literal["union", "max"] = "union") -> pd.DataFrame:
    """Charlson comorbidity index per admission from MIMIC-style diagnosis codes, computed by comorbidipy.

    ``diagnoses_icd`` needs ``hadm_id``, ``icd_code`` (with or without dots, e.g. "4280" or "I5023") and
    ``icd_version`` (9 or 10). MIMIC codes an admission in ICD-9 or ICD-10 (switch in October 2015), and a table
    mixes both, so each version is mapped with its own Quan (2005) code list. ``icd_version_mix`` says how an
    admission with codes of both versions is combined: "union" (default) pools its conditions and counts each
    once before weighting; "max" scores each version alone and keeps the higher score.

    Returns one row per ``hadm_id`` with ``comorbidity_index`` (int) and one 0/1 column per Charlson condition
    (comorbidipy's short names, prefixed ``charlson_``, e.g. ``charlson_chf``), before the milder-form zeroing.
    """
    missing = [c for c in DIAGNOSES_COLUMNS_USED if c not in diagnoses_icd.columns]
    if missing:
        raise DataValidationError("diagnoses_icd", [Problem(
            c, "required column is missing", f"give the MIMIC-IV diagnoses_icd table with columns "
            f"{DIAGNOSES_COLUMNS_USED}") for c in missing])
    if icd_version_mix not in ("union", "max"):
        raise ValueError(f"icd_version_mix={icd_version_mix!r} is not known. Fix: use 'union' or 'max'.")
    comorbidipy, assignzero, get_colnames, weights = _import_comorbidipy()
    conditions = list(get_colnames(CHARLSON_SCORE))

    codes = diagnoses_icd[DIAGNOSES_COLUMNS_USED].dropna(subset=["icd_code"]).copy()
    codes["icd_code"] = codes["icd_code"].astype(str).str.strip().str.upper().str.replace(".", "", regex=False)
    version = pd.to_numeric(codes["icd_version"], errors="coerce")
    unknown = ~version.isin([9, 10])
    if unknown.any():
        positions = np.flatnonzero(unknown.to_numpy()).tolist()
        raise DataValidationError("diagnoses_icd", [Problem(
            "icd_version", "has values other than 9 and 10", "give 9 for ICD-9-CM and 10 for ICD-10-CM codes",
            positions, codes["icd_version"].iloc[positions].tolist())])

    per_version = []
    for icd in (9, 10):
        subset = codes.loc[version == icd, ["hadm_id", "icd_code"]]
        if subset.empty:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # comorbidipy's pandas idioms raise FutureWarnings on pandas 2
            scored = comorbidipy.comorbidity(
                subset.rename(columns={"hadm_id": "id", "icd_code": "code"}), id="id", code="code", age=None,
                score=CHARLSON_SCORE, icd=f"icd{icd}", variant=CHARLSON_VARIANT, weighting=CHARLSON_WEIGHTING,
                assign0=True)
        per_version.append(scored.rename(columns={"id": "hadm_id"})[["hadm_id", "comorbidity_score", *conditions]])

    if not per_version:
        return pd.DataFrame({"hadm_id": pd.Series(dtype=diagnoses_icd["hadm_id"].dtype),
                             "comorbidity_index": pd.Series(dtype="int64"),
                             **{f"charlson_{c}": pd.Series(dtype="int64") for c in conditions}})
    stacked = pd.concat(per_version, ignore_index=True)
    flags = stacked.groupby("hadm_id", sort=True)[conditions].max()
    if icd_version_mix == "max":
        index = stacked.groupby("hadm_id", sort=True)["comorbidity_score"].max()
    else:
        # Weigh the pooled conditions the way comorbidipy weighs one version's: milder forms zeroed, then summed.
        weighted = assignzero(flags.copy(), f"{CHARLSON_SCORE}_icd10_{CHARLSON_VARIANT}")
        condition_weights = pd.Series(weights[f"{CHARLSON_SCORE}_icd10_{CHARLSON_VARIANT}"][CHARLSON_WEIGHTING])
        index = weighted[conditions].mul(condition_weights[conditions]).sum(axis=1)
    result = flags.astype("int64").add_prefix("charlson_")
    result.insert(0, "comorbidity_index", index.round().astype("int64"))
    return result.reset_index()


def _read_csv_table(path: Path, columns: list[str], table: str, parse_dates: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(
            f"{table}: no file at '{path}'. Fix: point hosp_dir at the MIMIC-IV 'hosp' folder, which holds "
            f"{table}.csv.gz (or {table}.csv).")
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataValidationError(str(path), [Problem(
            c, "required column is missing", f"give the MIMIC-IV {table} table, which has columns {columns}")
            for c in missing])
    return pd.read_csv(path, usecols=columns, parse_dates=parse_dates)


def _table_path(hosp_dir: Path, table: str) -> Path:
    for suffix in (".csv.gz", ".csv"):
        if (hosp_dir / f"{table}{suffix}").is_file():
            return hosp_dir / f"{table}{suffix}"
    return hosp_dir / f"{table}.csv.gz"


def derive_readmissions(admissions: pd.DataFrame, window_days: float = 30) -> pd.DataFrame:
    """Add ``died_in_hospital``, ``days_to_next_admission``, ``prior_admissions`` and ``readmitted_30d``.

    Needs ``subject_id``, ``hadm_id``, ``admittime``, ``dischtime``, ``deathtime``, ``hospital_expire_flag``.
    Returns a copy sorted by patient and admission time (ties broken by discharge time, then ``hadm_id``).
    ``attrs["admissions_after_death"]`` lists the ``hadm_id`` of admissions that follow an in-hospital death.
    """
    out = admissions.sort_values(["subject_id", "admittime", "dischtime", "hadm_id"]).reset_index(drop=True)
    flag = pd.to_numeric(out["hospital_expire_flag"], errors="coerce").fillna(0)
    out["died_in_hospital"] = ((flag == 1) | out["deathtime"].notna()).astype("int64")
    by_patient = out.groupby("subject_id", sort=False)
    next_admit = by_patient["admittime"].shift(-1)
    gap = next_admit - out["dischtime"]
    out["days_to_next_admission"] = gap / pd.Timedelta(days=1)
    out["prior_admissions"] = by_patient.cumcount().astype("int64")
    within = gap.notna() & (gap <= pd.Timedelta(days=window_days))
    out["readmitted_30d"] = (within & (out["died_in_hospital"] == 0)).astype("int64")

    after_death = by_patient["died_in_hospital"].shift(1).fillna(0).astype(bool)
    # any earlier death of the same patient, not only the directly preceding admission
    after_death = after_death.groupby(out["subject_id"]).cummax()
    ids = out.loc[after_death, "hadm_id"].tolist()
    out.attrs["admissions_after_death"] = ids
    if ids:
        # to the terminal and the run's log, not as a Python warning: warnings would print into the book
        report(f"admissions: {len(ids)} admissions start after the patient died in hospital (hadm_id "
               f"{ids[:5]}); kept as ordinary admissions. Check the source tables.")
    return out


def _read_notes(path: Path) -> pd.DataFrame:
    """Discharge notes per admission: notes of one ``hadm_id`` joined in ``note_seq`` order."""
    if not path.is_file():
        raise FileNotFoundError(f"discharge_notes: no file at '{path}'. Fix: give the path of {NOTE_SOURCE_HINT}.")
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in ("hadm_id", "text") if c not in header]
    if missing:
        raise DataValidationError(str(path), [Problem(
            c, "required column is missing", "give MIMIC-IV-Note discharge.csv.gz (columns note_id, subject_id, "
            "hadm_id, note_type, note_seq, charttime, storetime, text)") for c in missing])
    columns = [c for c in NOTE_COLUMNS_USED if c in header]
    notes = pd.read_csv(path, usecols=columns, dtype={"text": str})
    notes = notes.dropna(subset=["hadm_id", "text"])
    notes["hadm_id"] = notes["hadm_id"].astype("int64")  # read as float when some notes lack an admission
    order = [c for c in ("hadm_id", "note_seq") if c in notes.columns]
    notes = notes.sort_values(order, kind="stable")
    joined = notes.groupby("hadm_id", sort=False)["text"].agg("\n\n".join)
    return joined.rename("note_text").reset_index()


def load_mimic_iv(
    hosp_dir: str | Path,
    discharge_notes: str | Path | None = None,
    *,
    require_notes: bool = True,
    icd_version_mix: Literal["union", "max"] = "union",
    site_column: str | None = None,
    site_name: str = DEFAULT_SITE_NAME,
    readmission_window_days: float = 30,
    insurance_map: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Admissions from MIMIC-IV ``hosp`` tables (and MIMIC-IV-Note discharge notes) in the study's schema.

    ``hosp_dir`` holds ``admissions``, ``patients`` and ``diagnoses_icd`` (``.csv.gz`` or ``.csv``);
    ``discharge_notes`` is MIMIC-IV-Note ``discharge.csv.gz``. With ``require_notes=True`` notes must be given and
    admissions without one are dropped; with ``require_notes=False`` notes are optional and missing ones are empty.
    ``site_column`` names a column to use as the study's hospital axis (default: the constant ``site_name``).
    ``insurance_map`` overrides entries of :data:`MIMIC_INSURANCE`. See the module docstring for every derivation.
    ``attrs``: ``has_notes``, ``n_admissions_without_note`` (dropped or left empty) and ``admissions_after_death``.
    """
    if require_notes and discharge_notes is None:
        raise ValueError(f"discharge_notes: no discharge notes were given, and require_notes is True. Fix: give "
                         f"{NOTE_SOURCE_HINT}.")
    hosp_dir = Path(hosp_dir)
    if not hosp_dir.is_dir():
        raise FileNotFoundError(f"hosp_dir: '{hosp_dir}' is not a folder. Fix: give the MIMIC-IV 'hosp' folder "
                                "(with admissions.csv.gz, patients.csv.gz, diagnoses_icd.csv.gz).")
    admissions = _read_csv_table(_table_path(hosp_dir, "admissions"), ADMISSION_COLUMNS_USED, "admissions",
                                 ["admittime", "dischtime", "deathtime"])
    patients = _read_csv_table(_table_path(hosp_dir, "patients"), PATIENT_COLUMNS_USED, "patients", ["dod"])
    diagnoses = _read_csv_table(_table_path(hosp_dir, "diagnoses_icd"), DIAGNOSES_COLUMNS_USED, "diagnoses_icd",
                                [])

    frame = derive_readmissions(admissions, window_days=readmission_window_days)
    after_death = frame.attrs.get("admissions_after_death", [])
    frame = frame.merge(patients, on="subject_id", how="left", validate="many_to_one")
    no_patient = frame["gender"].isna() & frame["anchor_age"].isna()
    if no_patient.any():
        raise DataValidationError("patients", [Problem(
            "subject_id", "has admissions whose patient is not in the patients table",
            "use admissions and patients from the same MIMIC-IV release",
            np.flatnonzero(no_patient.to_numpy()).tolist(), frame.loc[no_patient, "subject_id"].tolist())])

    frame["admission_id"] = frame["hadm_id"].astype(str)
    frame["patient_id"] = frame["subject_id"].astype(str)
    frame["admit_date"] = frame["admittime"]
    frame["discharge_date"] = frame["dischtime"]
    frame["age"] = (frame["anchor_age"] + (frame["admittime"].dt.year - frame["anchor_year"])).astype(float)
    frame["sex"] = frame["gender"]
    insurance_lookup = {**MIMIC_INSURANCE, **(insurance_map or {})}
    frame["insurance_mimic"] = frame["insurance"]
    unmapped = sorted(set(frame["insurance"].dropna()) - set(insurance_lookup))
    if unmapped:
        report(f"admissions.insurance: values {unmapped} are not in MIMIC_INSURANCE and are kept as their own "
               "category 'Other'; pass insurance_map={value: category} when one of them is a named category under "
               "another spelling.")
    frame["insurance"] = frame["insurance"].map(insurance_lookup).where(frame["insurance"].notna(), "Unspecified")
    frame["insurance"] = frame["insurance"].fillna("Other")

    charlson = charlson_index(diagnoses, icd_version_mix=icd_version_mix)[["hadm_id", "comorbidity_index"]]
    frame = frame.merge(charlson, on="hadm_id", how="left", validate="one_to_one")
    frame["comorbidity_index"] = frame["comorbidity_index"].fillna(0).astype("int64")
    frame["length_of_stay"] = (frame["dischtime"] - frame["admittime"]) / pd.Timedelta(days=1)

    has_notes = discharge_notes is not None
    if has_notes:
        notes = _read_notes(Path(discharge_notes))
        frame = frame.merge(notes, on="hadm_id", how="left", validate="one_to_one")
        without_note = frame["note_text"].isna() | frame["note_text"].str.strip().eq("")
        n_without_note = int(without_note.sum())
        if require_notes:
            frame = frame.loc[~without_note].reset_index(drop=True)
        frame["note_text"] = frame["note_text"].fillna("")
    else:
        n_without_note = len(frame)
        frame["note_text"] = ""
    frame["words_per_note"] = frame["note_text"].str.split().str.len().fillna(0).astype("int64")

    if site_column is None:
        frame["hospital"] = site_name
    else:
        frame = use_site_column(frame.drop(columns=["hospital"], errors="ignore"), site_column,
                                where="MIMIC-IV (parameter 'site_column')")

    kept = ["admission_type", "admission_location", "discharge_location", "race", "language", "marital_status",
            "insurance_mimic", "anchor_year_group", "dod", "deathtime", "days_to_next_admission", "prior_admissions",
            "words_per_note", "subject_id", "hadm_id"]
    schema_part = ["admission_id", "patient_id", "hospital", "admit_date", "discharge_date", "age", "sex",
                   "insurance", "comorbidity_index", "length_of_stay", "died_in_hospital", "note_text",
                   "readmitted_30d"]
    result = validate_admissions(frame[schema_part + kept], source=f"MIMIC-IV ({hosp_dir})",
                                 require_notes=has_notes and require_notes)
    result.attrs = {"has_notes": has_notes, "n_admissions_without_note": n_without_note,
                    "admissions_after_death": after_death, "source": "MIMIC-IV", "dates_shifted": True}
    return result
