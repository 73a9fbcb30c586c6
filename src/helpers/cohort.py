"""Cohort construction: from a data source's admissions to the index admissions the study models.

The data source is a parameter (``data_source``): the embedded simulated health system (default), a user's own
CSV/Parquet export (``file``), or MIMIC-IV (``mimic``). Every source yields the admission schema of
:mod:`helpers.schema`; :func:`build_cohort` then applies the study's exclusions one step at a time and counts what
each step removes, which is the cohort-construction table of chapter 1.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from helpers import schema

GROUP_VARS = ("hospital", "insurance", "age_group", "comorbidity_level", "borough")
DATA_SOURCES = ("simulated", "file", "mimic")


@dataclass
class SourceData:
    """What a data source hands the study: all admissions (deaths included), and for simulated data the oracle."""

    admissions: pd.DataFrame
    oracle: pd.DataFrame | None
    hospitals: pd.DataFrame | None
    simulated: bool
    description: str
    config: Any = None


def load_source(
    data_source: str,
    *,
    seed: int = 0,
    n_admissions: int | None = None,
    simulation: dict[str, Any] | None = None,
    data_path: str = "",
    notes_path: str = "",
    column_map: dict[str, str] | None = None,
    value_maps: dict[str, dict[str, str]] | None = None,
    site_column: str = "hospital",
) -> SourceData:
    """Load admissions from the chosen source.

    ``simulation`` holds extra simulator knobs by name (see ``helpers.simulator.simulation_knobs``);
    ``data_path`` is the user's file (``file``) or the MIMIC-IV ``hosp`` folder (``mimic``); ``notes_path`` the
    MIMIC-IV-Note ``discharge`` table; ``column_map`` renames the file's columns to the schema's and ``value_maps``
    translates category spellings (see :mod:`helpers.loaders`); ``site_column`` the column that plays the study's
    "hospital".
    """
    if data_source == "simulated":
        from helpers.simulator import SimulationConfig, simulate_health_system

        knobs = dict(simulation or {})
        valid = set(SimulationConfig.__dataclass_fields__) - {"hospitals"}
        unknown = sorted(set(knobs) - valid)
        if unknown:
            raise ValueError(
                f"parameter 'simulation' has unknown knob(s) {unknown}; valid knobs: {sorted(valid)}"
            )
        if n_admissions is not None:
            knobs["n_admissions"] = n_admissions
        system = simulate_health_system(seed=seed, **knobs)
        admissions = system.admissions
        if site_column != "hospital":
            admissions = _use_site_column(admissions, site_column)
        return SourceData(admissions, system.oracle, system.hospitals, True,
                          f"the simulated health system (seed {seed}, {len(admissions):,} admissions)", system.config)
    if data_source == "file":
        from helpers.loaders import load_admissions

        if not data_path:
            raise ValueError("parameter 'data_path' is empty: with data_source='file' give the CSV or Parquet file")
        admissions = load_admissions(data_path, column_map=column_map or None, value_maps=value_maps or None,
                                     site_column=site_column)
        return SourceData(admissions, None, None, False, f"the file {data_path}")
    if data_source == "mimic":
        from helpers.mimic import load_mimic_iv

        if not data_path:
            raise ValueError("parameter 'data_path' is empty: with data_source='mimic' give the MIMIC-IV hosp folder")
        admissions = load_mimic_iv(data_path, notes_path or None, require_notes=bool(notes_path))
        if site_column != "hospital":
            admissions = _use_site_column(admissions, site_column)
        return SourceData(admissions, None, None, False, f"MIMIC-IV from {data_path}")
    raise ValueError(f"parameter 'data_source' is {data_source!r}; choose one of {list(DATA_SOURCES)}")


def _use_site_column(admissions: pd.DataFrame, site_column: str) -> pd.DataFrame:
    if site_column not in admissions.columns:
        raise ValueError(
            f"parameter 'site_column' is {site_column!r}, which is not a column; columns: {list(admissions.columns)}"
        )
    out = admissions.copy()
    out["hospital"] = out[site_column].astype(str)
    return out


def add_derived_columns(admissions: pd.DataFrame) -> pd.DataFrame:
    """Add the columns every chapter groups by: age group, comorbidity level, words per note, discharge year."""
    out = admissions.copy()
    out["age_group"] = schema.age_group(out["age"]).astype(str)
    if "comorbidity_level" not in out.columns or out["comorbidity_level"].isna().any():
        out["comorbidity_level"] = schema.comorbidity_level(out["comorbidity_index"])
    out["comorbidity_level"] = out["comorbidity_level"].astype(int)
    notes = out["note_text"].fillna("").astype(str)
    out["words_per_note"] = notes.str.split().str.len().astype(int)
    out["discharge_year"] = pd.to_datetime(out["discharge_date"]).dt.year.astype(int)
    return out


def build_cohort(
    admissions: pd.DataFrame, *, min_age: int = 18, followup_days: int = 30, require_full_followup: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the study's exclusions in order; return the cohort and a table of counts at each step.

    Steps: in-hospital deaths out (no one can be readmitted after dying; they still count for mortality rates);
    patients under ``min_age`` out; admissions without a note out; and, when ``require_full_followup``, admissions
    discharged in the last ``followup_days`` of the data, whose 30-day outcome cannot be observed.
    """
    steps = []
    current = admissions

    def record(step: str, kept: pd.DataFrame) -> pd.DataFrame:
        steps.append({
            "step": step,
            "excluded": len(current) - len(kept),
            "admissions": len(kept),
            "patients": kept["patient_id"].nunique(),
            "readmissions": int(kept["readmitted_30d"].sum()),
        })
        return kept

    steps.append({"step": "all admissions in the source", "excluded": 0, "admissions": len(current),
                  "patients": current["patient_id"].nunique(), "readmissions": int(current["readmitted_30d"].sum())})
    current = record("exclude in-hospital deaths", current[current["died_in_hospital"] == 0])
    current = record(f"exclude patients under {min_age}", current[current["age"] >= min_age])
    has_note = current["note_text"].fillna("").astype(str).str.strip().str.len() > 0
    current = record("exclude admissions without a discharge note", current[has_note])
    if require_full_followup:
        data_end = pd.to_datetime(admissions["admit_date"]).max()
        cutoff = data_end - pd.Timedelta(days=followup_days)
        current = record(
            f"exclude discharges after {cutoff.date()} (less than {followup_days} days of follow-up)",
            current[pd.to_datetime(current["discharge_date"]) <= cutoff],
        )
    cohort = add_derived_columns(current.reset_index(drop=True))
    return cohort, pd.DataFrame(steps)


def _median_iqr(values: pd.Series, digits: int = 0) -> str:
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{med:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def _percent(mask: pd.Series) -> str:
    return f"{int(mask.sum()):,} ({100 * mask.mean():.1f}%)"


def table_one(cohort: pd.DataFrame, admissions: pd.DataFrame, by: str = "hospital") -> pd.DataFrame:
    """Table 1: patient and stay characteristics by ``by`` (columns) with an overall column.

    Counts are shown as "n (%)", continuous values as mean (SD) or median (IQR). In-hospital mortality comes from
    all admissions (``admissions``, deaths included), everything else from the cohort.
    """
    groups = [(str(name), frame) for name, frame in cohort.groupby(by, sort=True, observed=True)]
    groups.append(("Overall", cohort))
    all_by = dict(list(admissions.groupby(by, sort=True, observed=True)))
    columns: dict[str, dict[str, str]] = {}
    for name, frame in groups:
        source = admissions if name == "Overall" else all_by.get(name, admissions.iloc[0:0])
        col = {
            "Admissions": f"{len(frame):,}",
            "Patients": f"{frame['patient_id'].nunique():,}",
            "Age, mean (SD)": f"{frame['age'].mean():.1f} ({frame['age'].std():.1f})",
            "Female": _percent(frame["sex"] == "F"),
        }
        for value in schema.INSURANCE_CATEGORIES:
            col[f"Insurance: {value}"] = _percent(frame["insurance"] == value)
        if "borough" in frame.columns:
            for value in schema.BOROUGHS:
                col[f"Borough: {value}"] = _percent(frame["borough"] == value)
        col["Comorbidity index, median (IQR)"] = _median_iqr(frame["comorbidity_index"])
        for level in schema.COMORBIDITY_LEVEL_LABELS:
            col[f"Comorbidity level {level}"] = _percent(frame["comorbidity_level"] == level)
        if "length_of_stay" in frame.columns:
            col["Length of stay (days), median (IQR)"] = _median_iqr(frame["length_of_stay"])
        col["Words per note, median (IQR)"] = _median_iqr(frame["words_per_note"])
        col["30-day readmission"] = _percent(frame["readmitted_30d"] == 1)
        col["In-hospital mortality (all admissions)"] = _percent(source["died_in_hospital"] == 1)
        columns[name] = col
    return pd.DataFrame(columns)


def _wilson(successes: pd.Series, totals: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    low, high = proportion_confint(successes.to_numpy(), totals.to_numpy(), alpha=0.05, method="wilson")
    return np.asarray(low), np.asarray(high)


def hospital_rates(cohort: pd.DataFrame, admissions: pd.DataFrame, by: str = "hospital") -> pd.DataFrame:
    """Per hospital: 30-day readmission rate (cohort) and in-hospital mortality (all admissions), Wilson 95 % CIs."""
    readm = cohort.groupby(by, observed=True)["readmitted_30d"].agg(["sum", "count"])
    deaths = admissions.groupby(by, observed=True)["died_in_hospital"].agg(["sum", "count"])
    out = pd.DataFrame({
        "admissions": deaths["count"],
        "in_hospital_deaths": deaths["sum"],
        "cohort_admissions": readm["count"],
        "readmissions": readm["sum"],
    }).fillna(0).astype(int)
    out["readmission_rate"] = out["readmissions"] / out["cohort_admissions"]
    out["readmission_ci_low"], out["readmission_ci_high"] = _wilson(out["readmissions"], out["cohort_admissions"])
    out["mortality_rate"] = out["in_hospital_deaths"] / out["admissions"]
    out["mortality_ci_low"], out["mortality_ci_high"] = _wilson(out["in_hospital_deaths"], out["admissions"])
    return out.reset_index().rename(columns={by: "hospital"})


def rates_long(rates: pd.DataFrame) -> pd.DataFrame:
    """The two hospital-level rates in long form, for one seaborn plot."""
    rows = []
    for _, row in rates.iterrows():
        for label, prefix in (("30-day readmission", "readmission"), ("in-hospital mortality", "mortality")):
            rows.append({"hospital": row["hospital"], "rate": label, "value": row[f"{prefix}_rate"],
                         "ci_low": row[f"{prefix}_ci_low"], "ci_high": row[f"{prefix}_ci_high"]})
    return pd.DataFrame(rows)


def words_by_hospital_year(cohort: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of words per note by hospital and discharge year."""
    grouped = cohort.groupby(["hospital", "discharge_year"], observed=True)["words_per_note"]
    out = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out.columns = ["q1", "median", "q3"]
    out["admissions"] = grouped.size()
    return out.reset_index()


def subgroup_summary(cohort: pd.DataFrame, group_vars: tuple[str, ...] = GROUP_VARS) -> pd.DataFrame:
    """Size, patients, readmissions and prevalence of every subgroup the study evaluates."""
    rows = []
    for var in group_vars:
        if var not in cohort.columns:
            continue
        for group, frame in cohort.groupby(var, observed=True, sort=True):
            rows.append({
                "group_var": var,
                "group": str(group),
                "admissions": len(frame),
                "patients": frame["patient_id"].nunique(),
                "readmissions": int(frame["readmitted_30d"].sum()),
                "prevalence": float(frame["readmitted_30d"].mean()),
            })
    return pd.DataFrame(rows)


def prevalence_trend(summary: pd.DataFrame, group_var: str) -> str:
    """How prevalence moves from the first to the last (ordered) group of ``group_var``, as a phrase for the prose."""
    part = summary[summary["group_var"] == group_var]
    first, last = part.iloc[0], part.iloc[-1]
    verb = "rises" if last["prevalence"] > first["prevalence"] else "falls"
    return (f"{verb} from {100 * first['prevalence']:.1f} % ({first['group']}) "
            f"to {100 * last['prevalence']:.1f} % ({last['group']})")


def format_subgroups(summary: pd.DataFrame) -> pd.DataFrame:
    """The subgroup summary for reading: prevalence in percent, grouping and group as the index."""
    out = summary.copy()
    out["prevalence (%)"] = (100 * out.pop("prevalence")).round(1)
    return out.set_index(["group_var", "group"])


def example_note(cohort: pd.DataFrame, *, simulated: bool, seed: int = 0) -> str:
    """One discharge note to read, from the simulated data only (real notes are never shown in the book)."""
    if not simulated:
        return "(Note text is never shown for real data.)"
    typical = cohort[cohort["words_per_note"].between(*cohort["words_per_note"].quantile([0.4, 0.6]))]
    row = typical.sample(1, random_state=seed).iloc[0]
    header = (f"{row['admission_id']}, {row['hospital']}, discharged {pd.Timestamp(row['discharge_date']).date()}, "
              f"{row['words_per_note']} words")
    # Wrap long lines for the page; the words and line breaks of the note are unchanged.
    lines = [textwrap.fill(line, width=100) if line else "" for line in str(row["note_text"]).splitlines()]
    return header + "\n\n" + "\n".join(lines)


PROFILE_FIELDS = {
    "kind": "kind of hospital",
    "admission_share": "share of admissions",
    "volume_growth": "yearly growth of admissions",
    "female_share": "share female",
    "medicare_share_65plus": "Medicare share, age 65+",
    "chronic_burden": "chronic-disease burden",
    "readmission_intercept": "hospital readmission term (log-odds)",
    "mortality_intercept": "hospital mortality term (log-odds)",
    "chronic_risk_weight": "weight of chronic-disease drivers",
    "surgical_risk_weight": "weight of surgical drivers",
    "complication_rate": "surgical complication rate",
    "follow_up_rate": "follow-up appointment rate",
    "note_style": "note template and dialect",
    "note_filler_sentences": "narrative sentences per note",
    "documentation_factor": "documentation factor",
    "template_change_year": "year the template changes",
}


def hospital_profiles(hospitals: pd.DataFrame) -> pd.DataFrame:
    """The simulator's hospital profiles as a readable table: one column per hospital, one row per mechanism."""
    fields = [f for f in PROFILE_FIELDS if f in hospitals.columns]
    table = hospitals.set_index("name")[fields].T
    table.index = [PROFILE_FIELDS[f] for f in fields]
    table.columns.name = None
    return table


def simulation_knob_table(config) -> pd.DataFrame:
    """Every simulator knob: the value this run used, its default and what it models."""
    from helpers.simulator import simulation_knobs

    rows = []
    for name, (_, default, doc) in simulation_knobs().items():
        # shown as text so integers stay integers in a column that mixes them with fractions
        rows.append({"knob": name, "this run": str(getattr(config, name)), "default": str(default),
                     "what it models": doc})
    return pd.DataFrame(rows).set_index("knob")


def study_frame(cohort: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """The cohort joined with its split assignment: what the model chapters read."""
    frame = cohort.merge(splits[["admission_id", "split"]], on="admission_id", how="inner", validate="one_to_one")
    if len(frame) != len(cohort):
        raise ValueError(
            f"{len(cohort) - len(frame)} cohort admissions have no split: cohort.parquet and splits.parquet come "
            "from different runs; re-run chapter 1"
        )
    frame["split"] = frame["split"].astype(str)
    return frame
