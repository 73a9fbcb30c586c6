"""Tests of the simulated health system: each checks one mechanism by its effect on the generated data.

Statistical checks run on one mid-size system (12,000 admissions) with tolerances of about three standard errors;
the known answers are the real-world figures the simulator is calibrated to (UCI Diabetes 130-US gradients, CMS
hospital spreads, discharge-summary lengths), and AUROCs are computed with scikit-learn, an implementation
independent of the simulator.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import schema
from helpers.simulator import (
    DEFAULT_HOSPITALS,
    HospitalProfile,
    SimulatedHealthSystem,
    SimulationConfig,
    simulate_health_system,
    simulation_knobs,
)


@pytest.fixture(scope="module")
def mid() -> SimulatedHealthSystem:
    return simulate_health_system(n_admissions=12000, seed=11)


@pytest.fixture(scope="module")
def mid_table(mid) -> pd.DataFrame:
    return mid.admissions.merge(mid.oracle, on="admission_id", validate="one_to_one")


@pytest.fixture(scope="module")
def small() -> SimulatedHealthSystem:
    return simulate_health_system(n_admissions=3000, seed=5)


def _alive(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.died_in_hospital == 0]


# --- schema and sizes ---------------------------------------------------------------------------------------------


def test_admissions_follow_the_shared_schema(small):
    a = small.admissions
    for column in schema.ADMISSION_COLUMNS:
        assert column in a.columns, column
    assert a.admission_id.is_unique
    assert a.admission_id.str.fullmatch(r"A\d{7}").all()
    assert a.patient_id.str.fullmatch(r"P\d{6}").all()
    assert (a.admit_date == a.admit_date.dt.normalize()).all()  # day resolution
    assert (a.discharge_date > a.admit_date).all()
    assert np.array_equal(a.length_of_stay, (a.discharge_date - a.admit_date).dt.days)
    assert np.array_equal(a.comorbidity_level, schema.comorbidity_level(a.comorbidity_index))
    assert set(a.insurance.astype(str)) <= set(schema.INSURANCE_CATEGORIES)
    assert set(a.borough.astype(str)) <= set(schema.BOROUGHS)
    assert set(a.sex.astype(str)) == {"F", "M"}
    assert a.age.between(18, 110).all()
    assert a.discharge_date.dt.year.between(2013, 2021).all()
    assert (small.oracle.admission_id.values == a.admission_id.values).all()
    assert small.oracle.true_probability.between(0, 1).all()
    # a death ends the trajectory and carries no readmission
    assert (a.loc[a.died_in_hospital == 1, "readmitted_30d"] == 0).all()


def test_each_hospital_gets_exactly_its_share_of_admissions(small):
    counts = small.admissions.hospital.value_counts()
    # 3000 x (0.40, 0.32, 0.20, 0.08) by hand
    assert counts.to_dict() == {"Hospital 1": 1200, "Hospital 2": 960, "Hospital 3": 600, "Hospital 4": 240}
    assert list(small.hospitals.name) == ["Hospital 1", "Hospital 2", "Hospital 3", "Hospital 4"]
    assert small.hospitals.kind.iloc[3].startswith("small orthopaedic")


def test_readmission_and_mortality_rates_are_realistic(mid_table):
    alive = _alive(mid_table)
    overall = alive.readmitted_30d.mean()
    assert 0.10 <= overall <= 0.15  # US all-cause 30-day readmission is about 11-14 %
    by_hospital = alive.groupby("hospital").readmitted_30d.mean()
    for name in ("Hospital 1", "Hospital 2", "Hospital 3"):
        assert 0.09 <= by_hospital[name] <= 0.18, (name, by_hospital[name])
    # the specialty hospital has a low base rate (hip/knee replacement 4.1 % in CMS HRRP)
    assert by_hospital["Hospital 4"] < 0.09
    assert by_hospital.idxmin() == "Hospital 4"
    mortality = mid_table.groupby("hospital").died_in_hospital.mean()
    assert 0.01 <= mid_table.died_in_hospital.mean() <= 0.04
    assert mortality.idxmin() == "Hospital 4"


def test_medicare_tracks_age(mid):
    a = mid.admissions
    medicare = a.insurance == "Medicare"
    assert medicare[a.age >= 65].mean() > 0.8
    assert medicare[a.age < 65].mean() < 0.2
    # the older suburban hospital therefore has the most Medicare patients
    assert medicare.groupby(a.hospital).mean().idxmax() == "Hospital 3"


def test_case_mix_differs_by_hospital(mid):
    a = mid.admissions
    mean_age = a.groupby("hospital").age.mean()
    assert mean_age.idxmax() == "Hospital 3"  # suburban hospital with an older population
    top_borough = a.groupby("hospital").borough.agg(lambda s: s.value_counts().idxmax())
    assert top_borough["Hospital 1"] == "Manhattan"
    assert top_borough["Hospital 2"] == "Brooklyn"
    assert top_borough["Hospital 3"] == "Long Island"
    h4 = a[a.hospital == "Hospital 4"]
    assert h4.surgical.mean() > 0.7  # orthopaedic/surgical specialty
    assert a[a.hospital != "Hospital 4"].surgical.mean() < 0.2
    assert h4.comorbidity_index.mean() < a[a.hospital == "Hospital 1"].comorbidity_index.mean()


# --- trajectories ---------------------------------------------------------------------------------------------------


def test_label_is_the_next_admission_within_30_days(mid):
    a = mid.admissions.sort_values(["patient_id", "admit_date"])
    next_admit = a.groupby("patient_id").admit_date.shift(-1)
    has_next = next_admit.notna()
    gap = (next_admit - a.discharge_date).dt.days
    assert (gap[has_next] >= 1).all()  # stays do not overlap
    expected = (gap[has_next] <= 30).astype(int)
    assert np.array_equal(a.readmitted_30d[has_next].values, expected.values)
    # a readmission that is not a row must fall after the window: only late-2021 discharges can carry it
    orphan = a[~has_next & (a.readmitted_30d == 1)]
    assert (orphan.discharge_date >= pd.Timestamp("2021-09-01")).all()
    # and readmissions are real rows: most positive labels are followed by one
    assert has_next[a.readmitted_30d == 1].mean() > 0.9


def test_prior_admissions_count_real_history(mid):
    a = mid.admissions[["admission_id", "patient_id", "admit_date", "prior_admissions_12m"]]
    pairs = a.merge(a[["patient_id", "admit_date"]], on="patient_id", suffixes=("", "_other"))
    days_before = (pairs.admit_date - pairs.admit_date_other).dt.days
    counted = pairs[(days_before > 0) & (days_before < 365)].groupby("admission_id").size()
    table_count = a.set_index("admission_id").index.map(counted).fillna(0).astype(int)
    # from 2014 on, the 12-month window lies inside the table; earlier stays also count burn-in history
    late = (a.admit_date >= pd.Timestamp("2014-01-02")).values
    assert np.array_equal(a.prior_admissions_12m.values[late], np.asarray(table_count)[late])
    assert (a.prior_admissions_12m.values[~late] >= np.asarray(table_count)[~late]).all()
    assert (a.prior_admissions_12m.values[~late] > np.asarray(table_count)[~late]).any()


# --- risk calibration -----------------------------------------------------------------------------------------------


def test_readmission_rises_with_prior_admissions_as_calibrated(mid):
    alive = _alive(mid.admissions)
    rate = alive.groupby(alive.prior_admissions_12m.clip(upper=4)).readmitted_30d.mean()
    # UCI Diabetes 130-US: 8.6 % with no inpatient visit in the prior year, about 31 % with four or more
    assert 0.07 <= rate[0] <= 0.13
    assert 0.22 <= rate[4] <= 0.50
    assert rate[0] < rate[1] < rate[2] < rate[4]


def test_readmission_rises_with_number_of_diagnoses_as_calibrated(mid):
    alive = _alive(mid.admissions)
    few = alive[alive.n_diagnoses <= 3].readmitted_30d.mean()
    many = alive[alive.n_diagnoses >= 10].readmitted_30d.mean()
    # UCI Diabetes 130-US: about 7 % with at most 3 diagnoses, about 15 % with 10 or more
    assert 0.03 <= few <= 0.10
    assert 0.12 <= many <= 0.22
    assert many / few > 1.8


def test_surgical_complications_drive_readmission_at_the_specialty_hospital(mid):
    h4 = _alive(mid.admissions[mid.admissions.hospital == "Hospital 4"])
    complicated = h4.surgical_complication != "none"
    assert 0.05 < complicated[h4.surgical == 1].mean() < 0.35
    assert h4[complicated].readmitted_30d.mean() > 2 * h4[~complicated].readmitted_30d.mean()


def test_oracle_auroc_is_high_and_similar_in_every_hospital(mid_table):
    alive = _alive(mid_table)
    overall = roc_auc_score(alive.readmitted_30d, alive.true_probability)
    assert 0.79 <= overall <= 0.86
    per_hospital = pd.Series({name: roc_auc_score(g.readmitted_30d, g.true_probability)
                              for name, g in alive.groupby("hospital")})
    assert per_hospital.between(0.75, 0.90).all(), per_hospital.to_dict()
    assert per_hospital.max() - per_hospital.min() < 0.10
    # the recorded part alone predicts less well than the whole truth: some risk is never written down
    recorded = roc_auc_score(alive.readmitted_30d, alive.recorded_logit + alive.hospital_term)
    assert recorded < overall - 0.02


def test_unrecorded_risk_grows_with_age_and_comorbidity(mid_table):
    groups = schema.age_group(mid_table.age)
    young = mid_table[groups == "18-39"]
    old = mid_table[groups == "80+"]
    # share = 0.30 + 0.05 per decade above 65 + 0.03 per level above 1, clipped to [0, 0.9]
    assert old.unrecorded_share.mean() - young.unrecorded_share.mean() > 0.15
    assert old.unrecorded_logit.var() > 1.5 * young.unrecorded_logit.var()
    row = mid_table.iloc[0]
    expected = np.clip(0.30 + 0.05 * (row.age - 65) / 10 + 0.03 * (row.comorbidity_level - 1), 0, 0.9)
    assert row.unrecorded_share == pytest.approx(expected, abs=0.006)  # the table floors age to whole years
    by_level = mid_table.groupby("comorbidity_level").unrecorded_share.mean()
    assert by_level.is_monotonic_increasing


def test_flat_unrecorded_share_when_slopes_are_zero():
    system = simulate_health_system(n_admissions=600, seed=2, unrecorded_age_slope=0.0,
                                    unrecorded_comorbidity_slope=0.0, unrecorded_risk_share=0.2)
    assert np.allclose(system.oracle.unrecorded_share, 0.2)


# --- notes ----------------------------------------------------------------------------------------------------------

_GIVE_AWAY = re.compile(r"readmi|return(?:ed|s)? (?:to|within)|bounce|rehospitali|came back|within 30 days|"
                        r"30-day|probability|risk score", re.IGNORECASE)


def test_notes_never_state_the_label_or_the_oracle(mid_table):
    notes = mid_table.note_text
    assert not notes.str.contains(_GIVE_AWAY).any()
    # no note quotes its own true probability
    for text, p in zip(notes.head(2000), mid_table.true_probability.head(2000)):
        assert f"{p:.3f}" not in text


def test_note_length_matches_real_discharge_summaries(mid):
    words = mid.admissions.note_words
    assert np.array_equal(words, mid.admissions.note_text.str.split().str.len())
    # real discharge summaries: median about 360 words, IQR about 270-530
    assert 320 <= words.median() <= 400
    assert 240 <= words.quantile(0.25) <= 310
    assert 430 <= words.quantile(0.75) <= 580
    medians = mid.admissions.groupby("hospital").note_words.median()
    assert medians["Hospital 1"] > medians["Hospital 2"] > medians["Hospital 4"]
    assert medians["Hospital 1"] - medians["Hospital 4"] > 60


def test_negations_are_written_and_are_true(mid):
    a = mid.admissions
    h1 = a[a.hospital == "Hospital 1"]
    negated = h1.note_text.str.contains("No history of heart failure.", regex=False)
    assert negated.mean() > 0.05
    assert not h1.chronic_conditions[negated].str.contains("heart failure").any()
    h2 = a[a.hospital == "Hospital 2"]
    negated = h2.note_text.str.contains("No h/o CHF.", regex=False)
    assert negated.mean() > 0.05
    assert not h2.chronic_conditions[negated].str.contains("heart failure").any()
    denies = a.note_text.str.contains(r"\bDenies\b|\bdenies\b")
    assert denies.mean() > 0.5
    h4 = a[(a.hospital == "Hospital 4") & (a.surgical == 1)]
    clean = h4.note_text.str.contains("without erythema or drainage", regex=False)
    assert clean.mean() > 0.1
    assert (h4.surgical_complication[clean] != "wound_infection").all()


def test_numbers_in_notes_are_the_admission_facts(mid):
    h1 = mid.admissions[mid.admissions.hospital == "Hospital 1"]
    creatinine = h1.note_text.str.extract(r"Discharge labs: creatinine (\d+\.\d)")[0].astype(float)
    found = creatinine.notna()
    assert found.mean() > 0.6
    assert np.allclose(creatinine[found], h1.creatinine[found])
    ef = h1.note_text.str.extract(r"ejection fraction of (\d+) percent")[0].astype(float)
    assert ef.notna().sum() > 100
    assert np.allclose(ef[ef.notna()], h1.ejection_fraction[ef.notna()])
    assert h1.ejection_fraction[ef.notna()].notna().all()
    los = h1.note_text.str.extract(r"Total length of stay was (\d+) days")[0].astype(float)
    assert np.allclose(los[los.notna()], h1.length_of_stay[los.notna()])


def test_documentation_is_incomplete_and_follows_its_knob():
    sparse = simulate_health_system(n_admissions=800, seed=4, documentation_probability=0.4)
    full = simulate_health_system(n_admissions=800, seed=4, documentation_probability=1.0)
    share_sparse = sparse.admissions.facts_documented.sum() / sparse.admissions.facts_in_record.sum()
    share_full = full.admissions.facts_documented.sum() / full.admissions.facts_in_record.sum()
    # each fact is written with probability min(1, knob x salience), saliences 0.6-1.15: at 0.4 no fact reaches the
    # cap, so the written share scales with the knob (ratio 0.4, a little more because of the capped saliences)
    assert 0.37 <= share_sparse / share_full <= 0.45
    assert 0.75 <= share_full < 0.97
    default = simulate_health_system(n_admissions=800, seed=4)
    share_default = default.admissions.facts_documented.sum() / default.admissions.facts_in_record.sum()
    assert share_sparse < share_default < 1.0


def test_note_length_scale_lengthens_notes():
    short = simulate_health_system(n_admissions=600, seed=3, note_length_scale=0.5)
    long = simulate_health_system(n_admissions=600, seed=3, note_length_scale=2.0)
    assert long.admissions.note_words.median() > 1.5 * short.admissions.note_words.median()


def test_vocabulary_shifts_between_early_and_late_years(mid):
    a = mid.admissions
    year = a.discharge_date.dt.year
    early, late = a[year <= 2014].note_text, a[year >= 2020].note_text
    assert not early.str.contains("sacubitril").any()
    assert late.str.contains("sacubitril").sum() > 10
    assert not early.str.contains("SARS-CoV-2").any()
    assert late.str.contains("SARS-CoV-2").mean() > 0.5
    assert a[year <= 2019].primary_diagnosis.ne("COVID-19 pneumonia").all()
    assert (a[year >= 2020].primary_diagnosis == "COVID-19 pneumonia").sum() > 20
    # warfarin gives way to apixaban
    assert early.str.contains("warfarin").sum() > late.str.contains("warfarin").sum()
    # ICD-9 codes before 1 October 2015, ICD-10 after
    admitted = a.admit_date
    hf9 = a.note_text.str.contains("(428.0)", regex=False)
    hf10 = a.note_text.str.contains("(I50.9)", regex=False)
    assert hf9.sum() > 10 and hf10.sum() > 10
    assert (admitted[hf9] < pd.Timestamp("2015-10-01")).all()
    assert (admitted[hf10] >= pd.Timestamp("2015-10-01")).all()
    # Hospital 1 renames its course section in 2018
    h1 = a[a.hospital == "Hospital 1"]
    renamed = h1.note_text.str.contains("Hospital Course by Problem:", regex=False)
    assert (h1.admit_date[renamed].dt.year >= 2018).all()
    assert renamed[h1.admit_date.dt.year >= 2018].mean() > 0.9
    assert not h1.note_text[h1.admit_date.dt.year < 2018].str.contains("Hospital Course by Problem").any()


def test_zero_drift_freezes_the_vocabulary():
    frozen = simulate_health_system(n_admissions=1500, seed=6, drift_strength=0.0)
    notes = frozen.admissions.note_text
    for term in ("sacubitril", "SARS-CoV-2", "Hospital Course by Problem", "(I50.9)", "empagliflozin"):
        assert not notes.str.contains(term, regex=False).any(), term
    assert (frozen.admissions.primary_diagnosis != "COVID-19 pneumonia").all()


def test_late_facts_are_lost_when_notes_are_truncated(mid):
    a = mid.admissions
    long_notes = a[a.note_words > 256]
    assert len(long_notes) > 0.5 * len(a)

    def word_position(text: str, marker: str) -> int:
        at = text.find(marker)
        return -1 if at < 0 else len(text[:at].split())

    labs = long_notes.note_text.map(lambda t: word_position(t, "Discharge labs:"))
    assert (labs > 256).mean() > 0.2  # the lab values fall beyond a 256-word window in many long notes
    h1 = long_notes[long_notes.hospital == "Hospital 1"]
    disposition = h1.note_text.map(lambda t: word_position(t, "Discharge Disposition:"))
    assert (disposition > 256).mean() > 0.5
    assert (disposition[disposition >= 0] < h1.note_words[disposition >= 0]).all()


def test_hospital_4_writes_its_own_template_and_dialect(mid):
    a = mid.admissions
    h4 = a.hospital == "Hospital 4"
    assert a.note_text[h4].str.startswith("ORTHOPAEDIC SURGERY DISCHARGE NOTE").all()
    assert not a.note_text[~h4].str.contains("ORTHOPAEDIC SURGERY").any()
    assert a.note_text[h4].str.contains(r"\bPOD\b").mean() > 0.5
    assert a.note_text[h4].str.contains(r"\bWBAT\b").mean() > 0.5
    h1 = a.hospital == "Hospital 1"
    assert not a.note_text[h1].str.contains(r"\bPOD\b|\bpt\b|\bWBAT\b").any()
    # abbreviations differ: "CHF" at the community hospital, "heart failure" at the academic centre
    h2 = a.hospital == "Hospital 2"
    assert a.note_text[h2].str.contains(r"\bCHF\b").mean() > 0.05
    assert not a.note_text[h1].str.contains(r"\bCHF\b").any()
    # section order: the suburban hospital lists diagnoses first
    h3 = a[a.hospital == "Hospital 3"].note_text
    first_header = h3.str.split("\n").str[2]
    assert first_header.isin(["Admission and Discharge Diagnoses:", "Problem List:"]).all()


# --- determinism, sizes, knobs --------------------------------------------------------------------------------------


def test_same_seed_gives_identical_data_and_another_seed_differs(small):
    again = simulate_health_system(n_admissions=3000, seed=5)
    for table in ("admissions", "oracle"):
        first = pd.util.hash_pandas_object(getattr(small, table), index=True)
        second = pd.util.hash_pandas_object(getattr(again, table), index=True)
        assert first.equals(second), table
    other = simulate_health_system(n_admissions=3000, seed=6)
    assert not pd.util.hash_pandas_object(other.admissions).equals(pd.util.hash_pandas_object(small.admissions))
    config = SimulationConfig(n_admissions=3000, seed=5)
    via_config = simulate_health_system(config)
    assert pd.util.hash_pandas_object(via_config.admissions).equals(
        pd.util.hash_pandas_object(small.admissions))


def test_default_run_has_ten_readmissions_per_hospital_in_the_temporal_test():
    system = simulate_health_system(seed=0)
    a = system.admissions
    assert len(a) == SimulationConfig().n_admissions
    temporal = a[(a.discharge_date.dt.year == 2021) & (a.died_in_hospital == 0)]
    positives = temporal.groupby("hospital").readmitted_30d.sum()
    assert len(positives) == 4
    assert (positives >= 10).all(), positives.to_dict()


def test_config_validation_names_the_parameter_and_the_range():
    with pytest.raises(ValueError, match=r"documentation_probability = 1\.5 is outside its valid range"):
        SimulationConfig(documentation_probability=1.5)
    with pytest.raises(ValueError, match=r"n_admissions must be a whole number"):
        SimulationConfig(n_admissions="many")
    with pytest.raises(ValueError, match=r"n_admissions = 10 is outside"):
        SimulationConfig(n_admissions=10)
    with pytest.raises(ValueError, match=r"end_year = 2012 is before start_year = 2013"):
        SimulationConfig(end_year=2012)
    with pytest.raises(ValueError, match=r"drift_strength must be a number"):
        SimulationConfig(drift_strength=float("nan"))
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['n_patients'\]"):
        simulate_health_system(n_patients=100)
    with pytest.raises(TypeError, match="config must be a SimulationConfig"):
        simulate_health_system({"seed": 1})
    uneven = tuple(dataclasses.replace(h, admission_share=0.5) for h in DEFAULT_HOSPITALS)
    with pytest.raises(ValueError, match="admission_share values sum to 2.0000"):
        SimulationConfig(hospitals=uneven)
    with pytest.raises(ValueError, match=r"diagnosis_mix names unknown diagnoses \['flu'\]"):
        HospitalProfile(name="X", kind="test", admission_share=1.0, diagnosis_mix={"flu": 1.0})
    with pytest.raises(ValueError, match="borough_mix must be 7 non-negative shares"):
        HospitalProfile(name="X", kind="test", admission_share=1.0, borough_mix=(1.0,))
    # whole-number floats from YAML are accepted and normalised
    assert SimulationConfig(n_admissions=3000.0, drift_strength=1).n_admissions == 3000


def test_simulation_knobs_describe_every_flat_field():
    knobs = simulation_knobs()
    fields = {f.name for f in dataclasses.fields(SimulationConfig)} - {"hospitals"}
    assert set(knobs) == fields
    default = SimulationConfig()
    for name, (kind, value, doc) in knobs.items():
        assert getattr(default, name) == value
        assert kind in (int, float)
        assert isinstance(value, kind)
        assert len(doc) > 20
    assert knobs["n_admissions"][1] == 24000


def test_a_single_custom_hospital_can_be_simulated():
    only = HospitalProfile(name="Solo", kind="single centre", admission_share=1.0)
    system = simulate_health_system(n_admissions=400, seed=1, hospitals=(only,))
    assert (system.admissions.hospital == "Solo").all()
    assert len(system.admissions) == 400
    assert len(system.hospitals) == 1
