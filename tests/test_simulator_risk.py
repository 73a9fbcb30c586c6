"""Risk (helpers.simulator.risk): rates and gradients match their real calibration, the oracle is high and similar
in every hospital, part of the risk is never written, and the documented probability uses only what the note says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
import simulator_systems as systems

from helpers import schema
from helpers.simulator import simulate_health_system


def test_readmission_and_mortality_rates_are_realistic(mid_table):
    alive = systems.alive(mid_table)
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


def test_readmission_rises_with_prior_admissions_as_calibrated(mid):
    alive = systems.alive(mid.admissions)
    rate = alive.groupby(alive.prior_admissions_12m.clip(upper=4)).readmitted_30d.mean()
    # UCI Diabetes 130-US: 8.6 % with no inpatient visit in the prior year, about 31 % with four or more
    assert 0.07 <= rate[0] <= 0.13
    assert 0.22 <= rate[4] <= 0.44
    assert rate[0] < rate[1] < rate[2] < rate[4]
    # as an odds ratio (the base rates differ): UCI (0.31 / 0.69) / (0.086 / 0.914) = 4.8
    odds = rate / (1 - rate)
    assert 2.5 <= odds[4] / odds[0] <= 7.0


def test_readmission_rises_with_number_of_diagnoses_as_calibrated(mid):
    alive = systems.alive(mid.admissions)
    few = alive[alive.n_diagnoses <= 3].readmitted_30d.mean()
    many = alive[alive.n_diagnoses >= 10].readmitted_30d.mean()
    # UCI Diabetes 130-US: about 7 % with at most 3 diagnoses, about 15 % with 10 or more
    assert 0.03 <= few <= 0.10
    assert 0.12 <= many <= 0.22
    assert many / few > 1.8


def test_surgical_complications_drive_readmission_at_the_specialty_hospital(mid):
    h4 = systems.alive(mid.admissions[mid.admissions.hospital == "Hospital 4"])
    complicated = h4.surgical_complication != "none"
    assert 0.05 < complicated[h4.surgical == 1].mean() < 0.35
    assert h4[complicated].readmitted_30d.mean() > 2 * h4[~complicated].readmitted_30d.mean()


def test_oracle_auroc_is_high_and_similar_in_every_hospital(mid_table):
    alive = systems.alive(mid_table)
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



def test_documented_probability_is_the_model_at_the_documented_facts(mid_table):
    t = mid_table
    assert np.allclose(t.documented_probability, 1 / (1 + np.exp(-(t.hospital_term + t.documented_logit))))
    alive = systems.alive(t)
    true_auc = roc_auc_score(alive.readmitted_30d, alive.true_probability)
    noted_auc = roc_auc_score(alive.readmitted_30d, alive.documented_probability)
    recorded_auc = roc_auc_score(alive.readmitted_30d, alive.recorded_logit + alive.hospital_term)
    # the note holds less than the record, which holds less than the whole truth
    assert noted_auc < recorded_auc < true_auc
    assert noted_auc > 0.65


def test_an_empty_note_leaves_only_age_and_diagnosis():
    from helpers.simulator.catalogues import _DIAGNOSES
    from helpers.simulator.risk import READMISSION_COEFFICIENTS as c

    sim = simulate_health_system(n_admissions=800, seed=9, documentation_probability=0.001)
    t = sim.admissions.merge(sim.oracle, on="admission_id")
    blank = t[(t.facts_documented == 0) & (t.died_in_hospital == 0)]
    assert len(blank) > 300
    effect = {d.label: d.readmission_effect for d in _DIAGNOSES}
    # by hand: age term + principal diagnosis term; every other fact at its reference level, insurance left out.
    # The table floors age to whole years, so allow a tenth of a year's age effect.
    by_hand = (c["age_per_decade"] * (blank.age - 65) / 10
               + c["diagnosis_effect_scale"] * blank.primary_diagnosis.map(lambda label: effect[label.replace(
                   "right hip", "hip").replace("left hip", "hip")]))
    assert np.allclose(blank.documented_logit, by_hand, atol=c["age_per_decade"] / 10 + 1e-9)


@pytest.mark.slow
def test_documented_probability_follows_how_much_is_written():
    aucs = []
    for p in (0.3, 1.0):
        sim = simulate_health_system(n_admissions=3000, seed=4, documentation_probability=p)
        t = systems.alive(sim.admissions.merge(sim.oracle, on="admission_id"))
        aucs.append(roc_auc_score(t.readmitted_30d, t.documented_probability))
    assert aucs[1] > aucs[0] + 0.03
