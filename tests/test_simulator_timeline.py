"""Time (helpers.simulator.timeline and the time_* knobs): each time mechanism moves its own quantity, and switching
its knob off removes the effect; with every mechanism off the population is stationary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulator_systems import system

from helpers.simulator import SimulationConfig
from helpers.simulator.population import _simulate_hospital
from helpers.simulator.timeline import _adoption, _date, _day, _year_of

TIME_KNOBS = ("time_template_change", "time_new_terms_and_drugs", "time_icd10_transition", "time_covid",
              "time_base_rate_trend", "time_clinician_turnover", "time_volume_growth")
N = 2500


def _year(a: pd.DataFrame) -> pd.Series:
    return a.discharge_date.dt.year


def test_every_time_mechanism_has_an_on_off_knob():
    default = SimulationConfig()
    for knob in TIME_KNOBS:
        assert getattr(default, knob) is True
        assert getattr(SimulationConfig(**{knob: False}), knob) is False
    with pytest.raises(ValueError, match="time_covid must be true or false"):
        SimulationConfig(time_covid="sometimes")


def test_adoption_and_dates_by_hand():
    # 0 before the first year, then (year - first + 1) / years_to_full x drift, capped at the ceiling
    assert _adoption(2015, 2016, 4, 1.0) == 0.0
    assert _adoption(2017, 2016, 4, 1.0) == pytest.approx(0.5)
    assert _adoption(2030, 2016, 4, 1.0, 0.7) == pytest.approx(0.7)
    assert np.allclose(_adoption(np.array([2016, 2018]), 2016, 4, 0.5), [0.125, 0.375])
    day = _day(2019, 3, 14)
    assert _year_of(np.array([day])).tolist() == [2019]
    assert [_date(day, k) for k in range(4)] == ["03/14/2019", "3/14/19", "2019-03-14", "March 14, 2019"]


@pytest.mark.slow
def test_template_change_knob():
    on, off = system(N, 21).admissions, system(N, 21, time_template_change=False).admissions
    renamed = "hospital course by problem"  # Hospital 1's revised header (2018), in any letter case
    h1_on = on[on.hospital == "Hospital 1"]
    late = _year(h1_on) >= 2018
    hit = h1_on.note_text.str.lower().str.contains(renamed, regex=False)
    assert hit[late].mean() > 0.9
    assert not hit[~late].any()
    assert not off.note_text.str.lower().str.contains(renamed, regex=False).any()


def test_new_terms_and_drugs_knob():
    on, off = system(N, 21).admissions, system(N, 21, time_new_terms_and_drugs=False).admissions
    new = r"sacubitril|empagliflozin|telehealth|patient portal|[Nn]aloxone nasal"
    assert on.note_text[_year(on) >= 2019].str.contains(new).mean() > 0.05
    assert not on.note_text[_year(on) <= 2013].str.contains(r"sacubitril|telehealth|patient portal").any()
    assert not off.note_text.str.contains(new).any()
    # warfarin gives way to apixaban only with the mechanism on
    warf_on = on.note_text.str.contains("warfarin")
    assert warf_on[_year(on) <= 2014].mean() > 2 * warf_on[_year(on) >= 2020].mean()
    warf_off = off.note_text.str.contains("warfarin")
    assert warf_off[_year(off) >= 2020].mean() > 0.5 * warf_off[_year(off) <= 2014].mean()


def test_icd10_transition_knob():
    on, off = system(N, 21).admissions, system(N, 21, time_icd10_transition=False).admissions
    hf9, hf10 = on.note_text.str.contains("(428.0)", regex=False), on.note_text.str.contains("(I50.9)", regex=False)
    assert hf9.sum() > 5 and hf10.sum() > 5
    assert (on.admit_date[hf9] < pd.Timestamp("2015-10-01")).all()
    assert (on.admit_date[hf10] >= pd.Timestamp("2015-10-01")).all()
    assert not off.note_text.str.contains("(I50.9)", regex=False).any()
    assert off.note_text[_year(off) == 2021].str.contains("(428.0)", regex=False).any()


@pytest.mark.slow
def test_covid_knob():
    on, off = system(N, 21).admissions, system(N, 21, time_covid=False).admissions
    covid_on = on.primary_diagnosis == "COVID-19 pneumonia"
    assert covid_on[_year(on) >= 2020].sum() > 5
    assert not covid_on[_year(on) <= 2019].any()
    assert on.note_text[_year(on) >= 2020].str.contains("SARS-CoV-2").mean() > 0.5
    assert not (off.primary_diagnosis == "COVID-19 pneumonia").any()
    assert not off.note_text.str.contains("SARS-CoV-2").any()


@pytest.mark.slow
def test_base_rate_trend_knob():
    on = system(N, 21)
    off = system(N, 21, time_base_rate_trend=False)
    for sim, slope in ((on, SimulationConfig().base_rate_trend), (off, 0.0)):
        table = sim.admissions[["admission_id", "hospital", "discharge_date"]].merge(sim.oracle, on="admission_id")
        for _, part in table.groupby("hospital"):
            fitted = np.polyfit(part.discharge_date.dt.year, part.hospital_term, 1)[0]
            assert fitted == pytest.approx(slope, abs=1e-9)


def test_clinician_turnover_knob():
    # share of the 2021 notes' writers who wrote none of the 2013-2014 notes
    on, off = _new_share(system(N, 21)), _new_share(system(N, 21, time_clinician_turnover=False))
    assert on > 0.25  # about 7 % of the staff replaced each year for 7-8 years
    assert off < on - 0.15  # without turnover only writers not drawn early by chance are "new"


def _new_share(sim) -> float:
    writers, year = sim.oracle.note_writer, _year(sim.admissions)
    early, late = set(writers[year <= 2014]), set(writers[year == 2021])
    return len(late - early) / len(late)


def test_volume_growth_knob():
    on, off = system(N, 21).admissions, system(N, 21, time_volume_growth=False).admissions

    def h4_growth(a):
        share = (a.hospital == "Hospital 4").groupby(_year(a)).mean()
        return share.loc[2019:2021].mean() / share.loc[2013:2015].mean()

    assert h4_growth(on) > 1.2  # 8 % more new patients a year
    assert h4_growth(off) < h4_growth(on)


def _pooled_trajectories(burn_in: int) -> pd.DataFrame:
    """Admissions of Hospital 1's patients without notes (fast), every time mechanism off."""
    cfg = SimulationConfig(burn_in_years=burn_in, **{k: False for k in TIME_KNOBS})
    profile = cfg.hospitals[0]
    rng = np.random.Generator(np.random.PCG64(7))
    out = _simulate_hospital(profile, 30000 * (9 + burn_in) // 9, cfg, rng)
    frame = pd.DataFrame({"year": _year_of(out["discharge"]), "charlson": out["charlson"], "age": out["age"],
                          "prior": out["prior_12m"], "p": out["p_readmit"], "died": out["died"]})
    return frame[(frame.year >= 2013) & (frame.year <= 2021) & ~frame.died]


def test_population_is_stationary_without_time_mechanisms():
    # a two-year burn-in leaves patients prone to readmission still accumulating during the window
    young = _pooled_trajectories(2)
    early, late = young[young.year <= 2015], young[young.year >= 2019]
    assert late.charlson.mean() - early.charlson.mean() > 0.08
    # the default burn-in reaches the steady state: no trend in case mix, prior admissions or risk
    steady = _pooled_trajectories(SimulationConfig().burn_in_years)
    early, late = steady[steady.year <= 2015], steady[steady.year >= 2019]
    assert abs(late.charlson.mean() - early.charlson.mean()) < 0.06
    assert abs(late.prior.mean() - early.prior.mean()) < 0.04
    assert abs(late.p.mean() - early.p.mean()) < 0.006
    assert abs(late.age.mean() - early.age.mean()) < 0.6
