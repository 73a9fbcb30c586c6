"""The embedded simulated health system: four hospitals, 2013-2021, admissions with discharge notes.

The original study's notes are private, so the study runs by default on data that this module generates
(docs/contracts.md#simulated-data). The simulator models *mechanisms*, never results: nothing here names an AUROC, a
gap between groups or the gain of a mitigation. Each mechanism is a documented, parameterised cause, calibrated to a
published real-world magnitude where one exists, so that the study's findings can emerge from the analysis (or fail
to) and the book can say which mechanism produced which finding.

The mechanisms, and the file where each lives:

* **Catalogues** (``catalogues.py``): chronic (Charlson) conditions, principal and secondary diagnoses with their
  ICD-9-CM/ICD-10-CM codes, minor coded diagnoses, surgical complications, dispositions.
* **Hospital mix and case mix** (``hospitals.py``: :class:`HospitalProfile`, :data:`DEFAULT_HOSPITALS`): a large
  academic centre, a large community teaching hospital, a suburban hospital with an older population and a small
  orthopaedic/surgical specialty hospital, each with its own age, insurance, borough, comorbidity and diagnosis mix,
  template and staff of clinicians.
* **Configuration** (``config.py``: :class:`SimulationConfig`, :func:`simulation_knobs`): every knob, validated.
* **Population and trajectories** (``population.py``): every patient is followed from a first admission through
  later ones, so that "prior admissions in the last 12 months" is real history and ``readmitted_30d`` is 1 exactly
  when the patient's next admission starts within 30 days of discharge. A burn-in of ``burn_in_years`` puts the
  population in its steady state before the study window opens.
* **Risk** (``risk.py``): a logistic model in age, comorbidity, prior admissions, diagnoses, disposition, length of
  stay, laboratory values, social factors, surgical complications and a hospital term, plus an **unrecorded** part
  (frailty, social support) that is never written in the note and whose share grows with age and comorbidity; and the
  same model evaluated at only the facts a note states (``documented_probability``).
* **Documentation** (``documentation.py``): discharge summaries written from the admission's facts; each fact is
  written with a probability below one; each hospital has its own template, section order, dialect and length.
* **Clinician style** (``clinicians.py``, word lists in ``lexicon.py``): each note is written by one clinician of the
  hospital's staff, with their own synonyms and abbreviations, hedges, problem lists or prose, typo rate,
  copy-forward from the patient's previous note, dictation, dates and headers; vocabulary grows with the staff.
* **Time** (``timeline.py`` and the ``time_*`` knobs, each on/off): template change, new terms and drugs
  (sacubitril-valsartan after 2015, SGLT2 inhibitors, apixaban replacing warfarin), ICD-9 to ICD-10 on 1 October
  2015, COVID-19 from 2020, a downward base-rate trend (US readmission penalty programme), clinician turnover and
  volume growth.
* **Draws** (``draws.py``) and **assembly** (``system.py``: :func:`simulate_health_system`).

Entry points: :func:`simulate_health_system` and :func:`simulation_knobs`.
"""

from __future__ import annotations

from helpers.simulator.config import SimulationConfig, simulation_knobs
from helpers.simulator.hospitals import DEFAULT_HOSPITALS, NOTE_STYLES, HospitalProfile
from helpers.simulator.risk import MORTALITY_COEFFICIENTS, READMISSION_COEFFICIENTS
from helpers.simulator.system import SimulatedHealthSystem, simulate_health_system

__all__ = [
    "DEFAULT_HOSPITALS", "HospitalProfile", "MORTALITY_COEFFICIENTS", "NOTE_STYLES", "READMISSION_COEFFICIENTS",
    "SimulatedHealthSystem", "SimulationConfig", "simulate_health_system", "simulation_knobs",
]
