"""Cohort construction: from a data source's admissions to the index admissions the study models.

The data source is a parameter (``data_source``): the embedded simulated health system (default), a user's own
CSV/Parquet export (``file``), or MIMIC-IV (``mimic``). Every source yields the admission schema of
:mod:`helpers.schema`; :func:`build_cohort` then applies the study's exclusions one step at a time and counts what
each step removes, which is the cohort-construction table of chapter 1.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from helpers import contracts, privacy, schema


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
    csv_options: dict[str, Any] | None = None,
    date_format: str = "",
) -> SourceData:
    """Load admissions from the chosen source.

    ``simulation`` holds extra simulator knobs by name (see ``helpers.simulator.simulation_knobs``);
    ``data_path`` is the user's file (``file``) or the MIMIC-IV ``hosp`` folder (``mimic``); ``notes_path`` the
    MIMIC-IV-Note ``discharge`` table; ``column_map`` renames the file's columns to the schema's and ``value_maps``
    translates category spellings (see :mod:`helpers.loaders`); ``site_column`` the column that plays the study's
    "hospital" (one rule for every source: :func:`helpers.contracts.use_site_column`); ``csv_options`` (encoding,
    separator ...) and ``date_format`` tell the file loader how a CSV is written.
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
        if site_column != "hospital":  # the simulator's own hospital column is used as it is
            admissions = contracts.use_site_column(admissions, site_column, where="parameter 'site_column'")
        return SourceData(admissions, system.oracle, system.hospitals, True,
                          f"the simulated health system (seed {seed}, {len(admissions):,} admissions)", system.config)
    if data_source == "file":
        from helpers.loaders import load_admissions

        if not data_path:
            raise ValueError("parameter 'data_path' is empty: with data_source='file' give the CSV or Parquet file")
        admissions = load_admissions(data_path, column_map=column_map or None, value_maps=value_maps or None,
                                     site_column=site_column, csv_options=csv_options or None,
                                     date_format=date_format or None)
        # the file's name only: the description is printed in the book, where no absolute path may appear
        return SourceData(admissions, None, None, False, f"the file {Path(data_path).name}")
    if data_source == "mimic":
        from helpers.mimic import load_mimic_iv

        if not data_path:
            raise ValueError("parameter 'data_path' is empty: with data_source='mimic' give the MIMIC-IV hosp folder")
        admissions = load_mimic_iv(data_path, notes_path or None, require_notes=bool(notes_path),
                                   site_column=None if site_column == "hospital" else site_column)
        return SourceData(admissions, None, None, False, "MIMIC-IV")
    raise ValueError(f"parameter 'data_source' is {data_source!r}; choose one of {list(DATA_SOURCES)}")


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
    fixes = {
        "deaths": "every admission is an in-hospital death: check that died_in_hospital is 1 only for deaths "
                  "(its column_map and its 0/1 coding)",
        "age": f"every patient is younger than min_age ({min_age}): check that age is in years (not months or "
               "days), or lower the parameter min_age",
        "note": "no admission has a discharge note: check that note_text is mapped onto the notes column",
        "followup": f"every remaining discharge falls in the last {followup_days} days of the data: export a "
                    "longer period, or set the parameter require_full_followup: false",
    }

    def refuse_if_empty(kept: pd.DataFrame, step: str, reason: str) -> None:
        if len(current) and kept.empty:
            raise ValueError(f"the cohort is empty: the step '{step}' removed the last {len(current):,} admissions. "
                             f"Fix: {fixes[reason]}.")

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
    for step, reason, keep in (
            ("exclude in-hospital deaths", "deaths", lambda frame: frame["died_in_hospital"] == 0),
            (f"exclude patients under {min_age}", "age", lambda frame: frame["age"] >= min_age),
            ("exclude admissions without a discharge note", "note",
             lambda frame: frame["note_text"].fillna("").astype(str).str.strip().str.len() > 0)):
        kept = current[keep(current)]
        refuse_if_empty(kept, step, reason)
        current = record(step, kept)
    if require_full_followup:
        data_end = pd.to_datetime(admissions["admit_date"]).max()
        cutoff = data_end - pd.Timedelta(days=followup_days)
        step = f"exclude discharges after {cutoff.date()} (less than {followup_days} days of follow-up)"
        kept = current[pd.to_datetime(current["discharge_date"]) <= cutoff]
        refuse_if_empty(kept, step, "followup")
        current = record(step, kept)
    cohort = add_derived_columns(current.reset_index(drop=True))
    return cohort, pd.DataFrame(steps)


def rate_with_interval(events, totals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rate and its 95 % Wilson interval, from one place: ``(rate, low, high)`` arrays for each events/total.

    The interval always holds the rate (``low <= rate <= high``, within [0, 1]): at 0 events ``low`` is exactly 0
    and at ``events == total`` ``high`` is exactly 1 (the Wilson formula gives values a rounding error off, which a
    figure's error bars refuse as negative lengths). A total of 0 gives NaN for all three (no rate to estimate).
    """
    events = np.asarray(events, dtype=float).reshape(-1)
    totals = np.asarray(totals, dtype=float).reshape(-1)
    rate = np.full(len(totals), np.nan)
    low = np.full(len(totals), np.nan)
    high = np.full(len(totals), np.nan)
    ok = totals > 0
    if ok.any():
        lo, hi = proportion_confint(events[ok], totals[ok], alpha=0.05, method="wilson")
        rate[ok] = events[ok] / totals[ok]
        low[ok] = np.clip(np.minimum(np.asarray(lo, dtype=float), rate[ok]), 0.0, 1.0)
        high[ok] = np.clip(np.maximum(np.asarray(hi, dtype=float), rate[ok]), 0.0, 1.0)
        low[ok & (events == 0)] = 0.0
        high[ok & (events == totals)] = 1.0
    return rate, low, high


def hospital_rates(cohort: pd.DataFrame, admissions: pd.DataFrame, by: str = "hospital") -> pd.DataFrame:
    """Per hospital: 30-day readmission rate (cohort) and in-hospital mortality (all admissions), with 95 % Wilson
    intervals from :func:`rate_with_interval` (a hospital without events has rate 0 and an interval from 0)."""
    readm = cohort.groupby(by, observed=True)["readmitted_30d"].agg(["sum", "count"])
    deaths = admissions.groupby(by, observed=True)["died_in_hospital"].agg(["sum", "count"])
    out = pd.DataFrame({
        "admissions": deaths["count"],
        "in_hospital_deaths": deaths["sum"],
        "cohort_admissions": readm["count"],
        "readmissions": readm["sum"],
    }).fillna(0).astype(int)
    for prefix, events, total in (("readmission", "readmissions", "cohort_admissions"),
                                  ("mortality", "in_hospital_deaths", "admissions")):
        (out[f"{prefix}_rate"], out[f"{prefix}_ci_low"],
         out[f"{prefix}_ci_high"]) = rate_with_interval(out[events], out[total])
    return out.reset_index().rename(columns={by: "hospital"})


def hospital_rate_texts(rates: pd.DataFrame, *, real_data: bool) -> dict[str, str]:
    """The sentences after the hospital-rates figure (key ``rates_comment``), for any number of sites.

    One site: its two rates, and that nothing is compared. Several: where readmission is highest and lowest and how
    the two rates correlate across sites, among the rates real data may show (``real_data``,
    :func:`helpers.privacy.share_hidden`); a site without readmissions or deaths is named with its interval, and a
    correlation that cannot be computed (fewer than three sites, or a rate equal everywhere) says why.
    """
    def rate(row, prefix: str, events: str, total: str) -> str:
        if real_data and privacy.share_hidden(row[events], row[total]):
            return "not shown (a count under 11)"
        if row[total] == 0:
            return "not estimable (no admissions)"
        return (f"{100 * row[f'{prefix}_rate']:.1f} % (95 % CI {100 * row[f'{prefix}_ci_low']:.1f}-"
                f"{100 * row[f'{prefix}_ci_high']:.1f} %)")

    def readmission(row) -> str:
        return rate(row, "readmission", "readmissions", "cohort_admissions")

    def mortality(row) -> str:
        return rate(row, "mortality", "in_hospital_deaths", "admissions")

    if len(rates) == 1:
        row = rates.iloc[0]
        return {"rates_comment": (
            f"This cohort has one site, {row['hospital']}: its 30-day readmission rate is {readmission(row)} and its "
            f"in-hospital mortality {mortality(row)}. With one site nothing is compared between hospitals, and "
            "hospital-level rates cannot explain where the model generalizes badly (chapter 4 says so too).")}
    shown = rates[[not (real_data and privacy.share_hidden(r.readmissions, r.cohort_admissions))
                   for r in rates.itertuples()] & (rates["cohort_admissions"] > 0).to_numpy()]
    parts = []
    if len(shown) >= 2 and shown["readmission_rate"].nunique() == 1:
        parts.append(f"The 30-day readmission rate is the same at every site shown, "
                     f"{100 * shown['readmission_rate'].iloc[0]:.1f} %.")
    elif len(shown) >= 2:
        highest = shown.loc[shown["readmission_rate"].idxmax()]
        lowest = shown.loc[shown["readmission_rate"].idxmin()]
        parts.append(f"The 30-day readmission rate is highest at {highest['hospital']} ({readmission(highest)}) and "
                     f"lowest at {lowest['hospital']} ({readmission(lowest)}).")
    hidden = len(rates) - len(shown)
    if hidden:
        parts.append(f"{hidden} of {len(rates)} sites' readmission rates are not shown (a count under 11 or no "
                     "admissions).")
    without = rates[(rates["readmissions"] == 0) & (rates["cohort_admissions"] > 0)]
    if len(without):
        names = ", ".join(str(h) for h in without["hospital"][:5]) + (" ..." if len(without) > 5 else "")
        parts.append(f"{len(without)} site{'s have' if len(without) > 1 else ' has'} no readmission in the cohort "
                     f"({names}): a rate of 0 % whose 95 % interval still reaches "
                     f"{100 * without['readmission_ci_high'].min():.1f} % or more; no AUROC can be estimated there.")
    varying = rates[rates["cohort_admissions"] > 0]
    if len(varying) < 3:
        parts.append("With fewer than three sites, no correlation between readmission and mortality rates is "
                     "computed.")
    elif varying["readmission_rate"].nunique() < 2 or varying["mortality_rate"].nunique() < 2:
        parts.append("Readmission and mortality rates cannot be correlated across sites: one of them is the same at "
                     "every site.")
    else:
        r = varying["readmission_rate"].corr(varying["mortality_rate"])
        parts.append(f"Across {len(varying)} sites, readmission and in-hospital mortality rates correlate at {r:.2f}"
                     + (" (with this few sites, a description rather than an estimate)." if len(varying) < 10
                        else "."))
    return {"rates_comment": " ".join(parts)}


def rates_long(rates: pd.DataFrame, *, real_data: bool = False) -> pd.DataFrame:
    """The two hospital-level rates in long form, for one seaborn plot.

    With ``real_data``, a rate whose events, non-events or total number 1 to 10 is left out (NaN): with
    the hospital's size in Table 1 it would give the count away (:func:`helpers.privacy.share_hidden`).
    """
    rows = []
    for _, row in rates.iterrows():
        for label, prefix, events, total in (("30-day readmission", "readmission", "readmissions", "cohort_admissions"),
                                             ("in-hospital mortality", "mortality", "in_hospital_deaths",
                                              "admissions")):
            hide = real_data and bool(privacy.share_hidden(row[events], row[total]))
            rows.append({"hospital": row["hospital"], "rate": label,
                         **{key: (np.nan if hide else row[f"{prefix}_{part}"])
                            for key, part in (("value", "rate"), ("ci_low", "ci_low"), ("ci_high", "ci_high"))}})
    return pd.DataFrame(rows)


def publishable_site_rates(table: pd.DataFrame, rates: pd.DataFrame, count_columns: list[str], *, real_data: bool,
                           rate_columns=("readmission_rate", "mortality_rate")) -> pd.DataFrame:
    """A per-site table (indexed by site) that carries chapter 1's rates, as real data may show it: ``count_columns``
    of 1 to 10 hidden, and a rate left empty where its events, non-events or total are 1 to 10 (``rates`` is
    :func:`hospital_rates`, whose counts decide). ``rate_columns`` names the rate columns, each either a rate's name
    (``readmission_rate``, ``mortality_rate``) or a pair (column shown, rate's name) for a table with other headers."""
    if not real_data:
        return table
    out = privacy.hide_counts(table, count_columns, real_data=True)
    by_site = rates.assign(hospital=rates["hospital"].astype(str)).set_index("hospital")
    behind = {"readmission_rate": ("readmissions", "cohort_admissions"),
              "mortality_rate": ("in_hospital_deaths", "admissions")}
    for entry in rate_columns:
        column, rate = (entry, entry) if isinstance(entry, str) else entry
        if column not in out.columns:
            continue
        events, total = behind[rate]
        hidden = privacy.share_hidden(by_site[events].reindex(out.index.astype(str)).to_numpy(),
                                      by_site[total].reindex(out.index.astype(str)).to_numpy())
        out[column] = out[column].astype(object)
        out.loc[np.asarray(hidden, dtype=bool), column] = privacy.HIDDEN_SHARE
    return out


def words_by_hospital_year(cohort: pd.DataFrame, *, real_data: bool = False) -> pd.DataFrame:
    """Median and quartiles of words per note by hospital and discharge year.

    With ``real_data``, hospital-years of fewer than 11 admissions are left out.
    """
    grouped = cohort.groupby(["hospital", "discharge_year"], observed=True)["words_per_note"]
    out = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out.columns = ["q1", "median", "q3"]
    out["admissions"] = grouped.size()
    out = out.reset_index()
    if real_data:
        out = out[~privacy.is_small(out["admissions"])].reset_index(drop=True)
    return out


POOLED_SITES = "smaller sites (pooled)"
"""The label of the one row that holds the sites too small, or too many, for a row of their own."""


@dataclass
class SiteRows:
    """Which sites get their own row in the per-site results, and the one row the rest are pooled into."""

    mapping: dict[str, str]
    own: list[str]
    pooled: list[str]
    min_admissions: int
    max_sites: int

    def apply(self, frame: pd.DataFrame, column: str = "hospital") -> pd.DataFrame:
        """``frame`` with its site column relabelled: pooled sites carry :data:`POOLED_SITES`."""
        out = frame.copy()
        out[column] = out[column].astype(str).map(self.mapping).fillna(out[column].astype(str))
        return out

    def text(self, *, real_data: bool = False) -> str:
        """The rule and what it did, for the page."""
        rule = (f"A site gets a row of its own when it has at least {self.min_admissions:,} cohort admissions, "
                f"and at most the {self.max_sites:,} largest sites do (parameters min_site_admissions and "
                "max_site_rows)")
        if not self.pooled:
            return f"{rule}: every one of this cohort's {len(self.own):,} sites has its own row."
        return (f"{rule}: {len(self.own):,} sites have their own row; the other {len(self.pooled):,} are pooled into "
                f"one row, '{POOLED_SITES}', whose results describe those sites together, not any one of them.")


def site_rows(cohort: pd.DataFrame, *, min_admissions: int, max_sites: int, column: str = "hospital") -> SiteRows:
    """Decide which sites get their own row: those with at least ``min_admissions`` cohort admissions, the
    ``max_sites`` largest of them at most (ties broken by name); every other site is pooled into one row.

    Many small sites (an eICU-like export of 150 sites) would give a table and a forest plot of hundreds of rows,
    nearly all of them too small to estimate, and a bootstrap per row; pooling keeps the chapter readable and its
    time bounded, and the pooled row still counts every admission.
    """
    if min_admissions < 0 or max_sites < 1:
        raise ValueError(f"parameters min_site_admissions ({min_admissions}) and max_site_rows ({max_sites}): give "
                         "0 or more admissions and at least 1 row")
    sizes = cohort[column].astype(str).value_counts()
    order = sorted(sizes.index, key=lambda site: (-sizes[site], site))
    own = [site for site in order if sizes[site] >= min_admissions][:max_sites]
    pooled = [site for site in order if site not in own]
    mapping = {site: (site if site in own else POOLED_SITES) for site in order}
    return SiteRows(mapping, own, pooled, min_admissions, max_sites)


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


def subgroups_for_figure(summary: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """The subgroup summary for the prevalence figure: on real data a group of 1 to 10 admissions or readmissions
    is left out, since its bar (prevalence) and label (admissions) would give the count away."""
    if not real_data:
        return summary
    small = privacy.is_small(summary["admissions"]) | privacy.is_small(summary["readmissions"])
    return summary[~small].reset_index(drop=True)


def prevalence_trend(summary: pd.DataFrame, group_var: str, *, real_data: bool = False) -> str:
    """How prevalence moves from the first to the last (ordered) group of ``group_var``, as a phrase for the prose.

    On real data (``real_data``) a prevalence resting on a count under 11 is not given; one group only, or no group,
    says so.
    """
    part = summary[summary["group_var"] == group_var]
    if part.empty:
        return "cannot be described (the data have no such groups)"
    if len(part) == 1:
        return f"cannot be compared (every admission is in one group, {part.iloc[0]['group']})"
    first, last = part.iloc[0], part.iloc[-1]
    if real_data and (privacy.share_hidden(first["readmissions"], first["admissions"])
                     or privacy.share_hidden(last["readmissions"], last["admissions"])):
        return (f"is not described from {first['group']} to {last['group']} (one of them rests on a count under 11, "
                "which real data do not show)")
    if round(100 * last["prevalence"], 1) == round(100 * first["prevalence"], 1):
        return f"stays at {100 * first['prevalence']:.1f} % from {first['group']} to {last['group']}"
    verb = "rises" if last["prevalence"] > first["prevalence"] else "falls"
    return (f"{verb} from {100 * first['prevalence']:.1f} % ({first['group']}) "
            f"to {100 * last['prevalence']:.1f} % ({last['group']})")


def format_subgroups(summary: pd.DataFrame, *, real_data: bool = False) -> pd.DataFrame:
    """The subgroup summary for reading: prevalence in percent, grouping and group as the index.

    With ``real_data``, counts of 1 to 10 show "<11", a prevalence resting on such a count (or on its
    complement) is left empty, since prevalence times admissions would give the count back, and within each grouping
    one more count is hidden where the cohort total minus the shown groups would give a hidden one back
    (:mod:`helpers.privacy`).
    """
    out = summary.copy()
    out["prevalence (%)"] = (100 * out.pop("prevalence")).round(1)
    if real_data:
        # the groups of one grouping add up to the cohort: one more hidden where a total minus the rest would tell
        out = privacy.hide_counts(out.reset_index(drop=True), ["admissions", "patients", "readmissions"],
                                  real_data=True, complements=[("admissions", "readmissions")],
                                  share_columns={"prevalence (%)": ("readmissions", "admissions")},
                                  sums_within=["group_var"])
    return out.set_index(["group_var", "group"])


def example_note(cohort: pd.DataFrame, *, real_data: bool, seed: int = 0) -> str:
    """One discharge note to read, from the simulated data only (real notes are never shown in the book)."""
    if real_data:
        return "(Note text is never shown for real data.)"
    typical = cohort[cohort["words_per_note"].between(*cohort["words_per_note"].quantile([0.4, 0.6]))]
    row = typical.sample(1, random_state=seed).iloc[0]
    header = (f"{row['admission_id']}, {row['hospital']}, discharged {pd.Timestamp(row['discharge_date']).date()}, "
              f"{row['words_per_note']} words")
    # Wrap long lines for the page; the words and line breaks of the note are unchanged.
    lines = [textwrap.fill(line, width=100) if line else "" for line in str(row["note_text"]).splitlines()]
    return header + "\n\n" + "\n".join(lines)


def example_note_comment(*, real_data: bool) -> str:
    """The sentence after the example note, for each data path (glued into chapter 1's prose)."""
    if not real_data:
        return ("The note is written from the admission's facts, but not all of them: each fact is documented with a "
                "probability below one, some are negated, numbers come with units, and part of every patient's risk "
                "(frailty, social support) is never written at all.")
    return ("This run reads real data, so no note is shown: the book never prints patient text, and no table or "
            "figure shows words taken from the notes.")


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
    """The cohort joined with its split assignment: what the model chapters read.

    The frame is checked here, once, against :data:`helpers.contracts.STUDY_FRAME_COLUMNS` (columns, one row per
    admission, split names, 0/1 labels as int64, text notes); the chapters and helpers that read it trust it.
    """
    contracts.check_columns(cohort, contracts.COHORT_COLUMNS, where="cohort.parquet",
                            fix="re-run chapter 1, which writes the cohort")
    contracts.check_columns(splits, contracts.SPLIT_COLUMNS, where="splits.parquet",
                            fix="re-run chapter 1, which writes the splits")
    frame = cohort.merge(splits[["admission_id", "split"]], on="admission_id", how="inner", validate="one_to_one")
    if len(frame) != len(cohort):
        raise ValueError(
            f"{len(cohort) - len(frame)} cohort admissions have no split: cohort.parquet and splits.parquet come "
            "from different runs; re-run chapter 1"
        )
    frame["split"] = frame["split"].astype(str)
    return contracts.check_study_frame(frame, where="study frame (cohort.parquet joined with splits.parquet)")
