"""Configuration (helpers.simulator.config): every knob is validated with an error that names it and its range,
and described for the book."""

from __future__ import annotations

import dataclasses

import pytest

from helpers.simulator import DEFAULT_HOSPITALS, HospitalProfile, SimulationConfig, simulate_health_system, \
    simulation_knobs


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
        assert kind in (int, float, bool)
        assert isinstance(value, kind)
        assert len(doc) > 20
    assert knobs["n_admissions"][1] == 24000
