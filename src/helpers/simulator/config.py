"""Configuration: every knob of the simulated health system, validated, with a one-line description each."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

import numpy as np

from helpers.simulator.draws import _check_range
from helpers.simulator.hospitals import DEFAULT_HOSPITALS, HospitalProfile

# ----------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------


def _knob(default, doc: str, low: float | None = None, high: float | None = None, low_open: bool = False):
    return field(default=default, metadata={"doc": doc, "low": low, "high": high, "low_open": low_open})


@dataclass
class SimulationConfig:
    """Every knob of the simulated health system, flat and scalar so that a params YAML can set it by name.

    ``hospitals`` is the exception: a tuple of :class:`HospitalProfile` that only Python code changes.
    """

    n_admissions: int = _knob(24000, "admissions in the study window (2013-2021 by default), split across hospitals "
                                     "by their admission_share; 24,000 lets the default study run in ~15 min on CPU",
                              200, 5_000_000)
    seed: int = _knob(0, "seed of the random generator (numpy PCG64); same seed and knobs give identical data",
                      0, 2**63 - 1)
    start_year: int = _knob(2013, "first calendar year of discharges kept in the data", 1990, 2100)
    end_year: int = _knob(2021, "last calendar year of discharges kept (the temporal test year)", 1990, 2100)
    burn_in_years: int = _knob(12, "years simulated before start_year (not kept) so that the population is in its "
                                   "steady state when the window opens: with 2 years, patients prone to readmission "
                                   "were still accumulating during the window (mean Charlson index +0.18, age +1.2 "
                                   "years from 2013 to 2021); 12 years leaves no such trend", 0, 40)
    unrecorded_risk_share: float = _knob(0.30, "share of the readmission logit's variance that is never written in "
                                               "the note (frailty, social support), for a 65-year-old at level 1", 0.0,
                                         0.9)
    unrecorded_age_slope: float = _knob(0.05, "increase of the unrecorded share per decade of age above 65 "
                                              "(decrease below)", 0.0, 0.5)
    unrecorded_comorbidity_slope: float = _knob(0.03, "increase of the unrecorded share per comorbidity level above "
                                                      "1", 0.0, 0.5)
    unrecorded_persistence: float = _knob(0.1, "share of the unrecorded variance that belongs to the patient "
                                               "(frailty, lasting social support) rather than to the stay (a "
                                               "caregiver away this week)", 0.0, 1.0)
    documentation_probability: float = _knob(0.85, "chance that a recorded fact is written in the note (times "
                                                   "each hospital's documentation_factor and each fact's salience)",
                                             0.0, 1.0, low_open=True)
    negation_probability: float = _knob(0.5, "chance that a pertinent negative ('no history of heart failure') is "
                                             "written for an absent condition", 0.0, 1.0)
    drift_strength: float = _knob(1.0, "how strongly templates, vocabulary, drugs and base rates change over the "
                                       "years (0 = frozen at the first year, 1 = calibrated default)", 0.0, 3.0)
    base_rate_trend: float = _knob(-0.02, "readmission log-odds change per year (times drift_strength); US rates "
                                          "fell under the readmission penalty programme", -0.5, 0.5)
    time_template_change: bool = _knob(True, "time mechanism: each hospital revises its note template (section "
                                             "headers) in its template_change_year; False keeps the first template")
    time_new_terms_and_drugs: bool = _knob(True, "time mechanism: new drugs replace old ones (apixaban, "
                                                 "sacubitril-valsartan, SGLT2 inhibitors, aspirin after arthroplasty) "
                                                 "and new terms enter the notes; False keeps the 2013 formulary")
    time_icd10_transition: bool = _knob(True, "time mechanism: ICD-9-CM codes give way to ICD-10-CM on 1 October "
                                              "2015 (the US transition date); False keeps ICD-9-CM codes")
    time_covid: bool = _knob(True, "time mechanism: COVID-19 admissions and SARS-CoV-2 testing from 2020; False "
                                   "leaves the pandemic out")
    time_base_rate_trend: bool = _knob(True, "time mechanism: readmission log-odds change by base_rate_trend per "
                                             "year; False holds the hospital terms constant")
    time_clinician_turnover: bool = _knob(True, "time mechanism: clinicians leave and are replaced at "
                                                "clinician_turnover_rate per year, so late notes are written by "
                                                "other people than early ones; False keeps one staff throughout")
    time_volume_growth: bool = _knob(True, "time mechanism: each hospital's new-patient volume grows by its "
                                           "volume_growth per year; False holds it constant")
    clinician_staff_scale: float = _knob(1.0, "multiplies every hospital's staff of note-writing clinicians (its "
                                              "clinicians field); fewer clinicians, fewer writing habits", 0.0, 20.0,
                                         low_open=True)
    clinician_turnover_rate: float = _knob(0.07, "share of a hospital's clinicians replaced each year: 13 % of "
                                                 "472 physicians of two academic hospitals left within two years, "
                                                 "about 7 % a year (Hamidi et al., BMC Health Serv Res 2018;18:851)", 0.0, 0.9)
    note_length_scale: float = _knob(1.0, "multiplies the amount of narrative in every note (note length)", 0.0, 5.0,
                                     low_open=True)
    recorded_risk_scale: float = _knob(1.0, "multiplies every recorded effect in the readmission logit (how "
                                            "strongly the recorded facts drive risk)", 0.0, 3.0)
    readmission_rate_shift: float = _knob(0.0, "log-odds added to every hospital's readmission term (moves all base "
                                               "rates together)", -3.0, 3.0)
    hospitals: tuple[HospitalProfile, ...] = field(default=DEFAULT_HOSPITALS, metadata={"doc": "hospital profiles"})

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(SimulationConfig)
        for f in dataclasses.fields(self):
            if f.name == "hospitals":
                continue
            value = getattr(self, f.name)
            low, high, low_open = f.metadata["low"], f.metadata["high"], f.metadata["low_open"]
            if hints[f.name] is bool:
                if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
                    setattr(self, f.name, bool(value))
                    continue
                raise ValueError(f"SimulationConfig.{f.name} must be true or false ({f.metadata['doc']}); "
                                 f"got {value!r}.")
            if hints[f.name] is int:
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise ValueError(f"SimulationConfig.{f.name} must be a whole number in [{low}, {high}] "
                                     f"({f.metadata['doc']}); got {value!r}.")
                value = int(value)
            else:
                if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                    value = float(value)
            _check_range(f"SimulationConfig.{f.name}", value, low, high, low_open=low_open)
            setattr(self, f.name, value)
        if self.end_year < self.start_year:
            raise ValueError(f"SimulationConfig.end_year = {self.end_year} is before start_year = {self.start_year}; "
                             f"the study window needs end_year >= start_year.")
        hospitals = tuple(self.hospitals)
        if not hospitals or not all(isinstance(h, HospitalProfile) for h in hospitals):
            raise ValueError("SimulationConfig.hospitals must be a non-empty tuple of HospitalProfile; "
                             f"got {self.hospitals!r}.")
        names = [h.name for h in hospitals]
        if len(set(names)) != len(names):
            raise ValueError(f"SimulationConfig.hospitals has duplicate names {names}; give each hospital its own.")
        total = sum(h.admission_share for h in hospitals)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"SimulationConfig.hospitals: admission_share values sum to {total:.4f}, not 1; "
                             f"rescale them so that they sum to 1.")
        self.hospitals = hospitals
        smallest = min(h.admission_share for h in hospitals) * self.n_admissions
        if smallest < 20:
            raise ValueError(f"SimulationConfig.n_admissions = {self.n_admissions} leaves the smallest hospital "
                             f"about {smallest:.0f} admissions; raise n_admissions so every hospital has >= 20.")


def simulation_knobs() -> dict[str, tuple[type, object, str]]:
    """Name -> (type, default, one-line doc) of every flat knob of :class:`SimulationConfig`, for the book."""
    hints = typing.get_type_hints(SimulationConfig)
    return {f.name: (hints[f.name], f.default, f.metadata["doc"])
            for f in dataclasses.fields(SimulationConfig) if f.name != "hospitals"}

