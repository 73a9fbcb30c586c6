"""The simulated health system as a whole (helpers.simulator.system): the admissions table follows the shared
schema, every hospital gets its share, and the same seed gives the same data.

Statistical checks across the simulator's test files run on shared systems (tests/simulator_systems.py) with
tolerances of about three standard errors; the known answers are the real-world figures the simulator is calibrated
to, and AUROCs are computed with scikit-learn, an implementation independent of the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simulator_systems as systems

from helpers import schema
from helpers.simulator import HospitalProfile, SimulationConfig, simulate_health_system


@pytest.fixture
def small():
    return systems.small()


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_default_run_has_ten_readmissions_per_hospital_in_the_temporal_test():
    system = simulate_health_system(seed=0)
    a = system.admissions
    assert len(a) == SimulationConfig().n_admissions
    temporal = a[(a.discharge_date.dt.year == 2021) & (a.died_in_hospital == 0)]
    positives = temporal.groupby("hospital").readmitted_30d.sum()
    assert len(positives) == 4
    assert (positives >= 10).all(), positives.to_dict()


def test_a_single_custom_hospital_can_be_simulated():
    only = HospitalProfile(name="Solo", kind="single centre", admission_share=1.0)
    system = simulate_health_system(n_admissions=400, seed=1, hospitals=(only,))
    assert (system.admissions.hospital == "Solo").all()
    assert len(system.admissions) == 400
    assert len(system.hospitals) == 1


@pytest.mark.slow
def test_same_seed_gives_the_same_data_in_another_process_with_another_string_hash():
    # set iteration order changes with PYTHONHASHSEED: nothing the simulator writes may depend on it
    import subprocess
    import sys

    code = ("import hashlib, pandas as pd; from helpers.simulator import simulate_health_system as s; "
            "r = s(n_admissions=400, seed=3); "
            "print(hashlib.sha256(pd.util.hash_pandas_object(r.admissions).values.tobytes()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": str(k)}).stdout
               for k in (1, 2)}
    assert len(digests) == 1
