"""Hospitals: the profile of each hospital (case mix, drivers, template, clinician staff) and the four defaults."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from helpers import schema
from helpers.simulator.catalogues import _DX_INDEX
from helpers.simulator.draws import _check_range

NOTE_STYLES = ("academic", "community", "suburban", "orthopaedic")


# ----------------------------------------------------------------------------------------------------------------
# Hospital profiles
# ----------------------------------------------------------------------------------------------------------------

_GENERAL_MIX = {
    "heart_failure": 8, "pneumonia": 8, "copd": 5, "sepsis": 7, "nstemi": 5, "stroke": 5, "gi_bleed": 5,
    "dka": 2, "aki": 4, "cellulitis": 5, "syncope": 4, "chest_pain": 6, "pyelonephritis": 4,
    "alcohol_withdrawal": 3, "neutropenic_fever": 2, "cirrhosis": 2, "covid": 8, "pulmonary_embolism": 2,
    "cholecystitis": 4, "bowel_obstruction": 4, "hip_fracture": 2, "tka": 0.5, "tha": 0.5, "spinal_fusion": 0.5,
}


def _mix(base: Mapping[str, float], **changes: float) -> dict[str, float]:
    merged = dict(base)
    merged.update(changes)
    return merged


@dataclass(frozen=True)
class HospitalProfile:
    """One hospital of the simulated health system: who it admits, why, how they fare and how its notes read.

    Every field is a cause, never an outcome: the realised readmission and mortality rates follow from the
    case mix, the drivers and the hospital terms, and are measured, not set.
    """

    name: str
    kind: str
    #: share of the health system's admissions in the study window
    admission_share: float
    #: yearly growth of the number of new patients (a growing service admits more in later years)
    volume_growth: float = 0.01
    #: age at first admission is 18 + 82 * Beta(a, b)
    age_beta: tuple[float, float] = (2.6, 2.7)
    female_share: float = 0.53
    #: patients aged 65+ are Medicare with this probability (the rest Private or Unspecified): Medicare tracks age
    medicare_share_65plus: float = 0.88
    #: patients under 65 with Medicare (disability, end-stage renal disease)
    medicare_share_under65: float = 0.10
    #: insurance of other patients under 65: (Medicaid, Private, Self-pay, Unspecified)
    under65_insurance_mix: tuple[float, float, float, float] = (0.30, 0.52, 0.06, 0.12)
    #: borough of residence, in the order of ``schema.BOROUGHS``
    borough_mix: tuple[float, ...] = (0.38, 0.17, 0.14, 0.10, 0.03, 0.08, 0.10)
    #: log-odds shift of every chronic condition's prevalence (case mix sicker or healthier than average)
    chronic_burden: float = 0.0
    #: relative frequency of principal diagnoses (keys of the diagnosis catalogue)
    diagnosis_mix: Mapping[str, float] = field(default_factory=lambda: dict(_GENERAL_MIX))
    #: principal-diagnosis mix of stays that follow within 30 days of a discharge (None: same as diagnosis_mix)
    readmission_diagnosis_mix: Mapping[str, float] | None = None
    #: hospital term of the readmission logit (care quality, discharge practice, local population)
    readmission_intercept: float = -2.6
    #: hospital term of the in-hospital mortality logit
    mortality_intercept: float = -4.3
    #: multiplies the chronic-disease effects (Charlson points and conditions) in the readmission logit
    chronic_risk_weight: float = 1.0
    #: multiplies the surgical-complication effects in the readmission logit
    surgical_risk_weight: float = 1.0
    #: probability that a surgical stay has an in-stay complication (for a 65-year-old without comorbidity)
    complication_rate: float = 0.08
    #: multiplies the diagnosis' mean length of stay
    los_scale: float = 1.0
    #: probability that a discharged patient who was not readmitted within 30 days comes back later at all
    return_probability: float = 0.45
    #: mean gap (days, beyond the first 30) before such a later admission
    return_gap_days: float = 420.0
    #: probability that a follow-up appointment is booked before discharge
    follow_up_rate: float = 0.65
    #: which note template and dialect the hospital writes in (see _STYLES)
    note_style: str = "academic"
    #: median number of filler sentences in a note (sets note length)
    note_filler_sentences: float = 14.0
    #: multiplies ``SimulationConfig.documentation_probability`` for this hospital
    documentation_factor: float = 1.0
    #: year in which the hospital's note template is revised (section headers renamed)
    template_change_year: int = 2018
    #: clinicians who write its discharge summaries at any one time (times SimulationConfig.clinician_staff_scale)
    clinicians: int = 40

    def __post_init__(self) -> None:
        # freeze the mixes so that profiles shared between configs cannot be changed behind their back
        for attr in ("diagnosis_mix", "readmission_diagnosis_mix"):
            if getattr(self, attr) is not None:
                object.__setattr__(self, attr, types.MappingProxyType(dict(getattr(self, attr))))
        where = f"HospitalProfile {self.name!r}"
        _check_range(f"{where}.admission_share", self.admission_share, 0.0, 1.0, low_open=True)
        _check_range(f"{where}.female_share", self.female_share, 0.0, 1.0)
        _check_range(f"{where}.medicare_share_65plus", self.medicare_share_65plus, 0.0, 1.0)
        _check_range(f"{where}.medicare_share_under65", self.medicare_share_under65, 0.0, 1.0)
        _check_range(f"{where}.volume_growth", self.volume_growth, -0.3, 0.3)
        _check_range(f"{where}.complication_rate", self.complication_rate, 0.0, 0.9)
        _check_range(f"{where}.return_probability", self.return_probability, 0.0, 0.99)
        _check_range(f"{where}.follow_up_rate", self.follow_up_rate, 0.0, 1.0)
        _check_range(f"{where}.documentation_factor", self.documentation_factor, 0.0, 2.0, low_open=True)
        _check_range(f"{where}.los_scale", self.los_scale, 0.1, 5.0)
        _check_range(f"{where}.return_gap_days", self.return_gap_days, 1.0, 5000.0)
        _check_range(f"{where}.note_filler_sentences", self.note_filler_sentences, 0.0, 200.0)
        if isinstance(self.clinicians, bool) or not isinstance(self.clinicians, (int, np.integer)) or \
                not 1 <= self.clinicians <= 100_000:
            raise ValueError(f"{where}.clinicians must be a whole number of clinicians >= 1; got {self.clinicians!r}.")
        if len(self.age_beta) != 2 or min(self.age_beta) <= 0:
            raise ValueError(f"{where}.age_beta must be two positive Beta parameters (a, b); got {self.age_beta!r}.")
        for attr, size in (("under65_insurance_mix", 4), ("borough_mix", len(schema.BOROUGHS))):
            values = np.asarray(getattr(self, attr), dtype=float)
            if values.shape != (size,) or (values < 0).any() or abs(values.sum() - 1.0) > 1e-6:
                raise ValueError(f"{where}.{attr} must be {size} non-negative shares that sum to 1; "
                                 f"got {getattr(self, attr)!r}.")
        for attr in ("diagnosis_mix", "readmission_diagnosis_mix"):
            mix = getattr(self, attr)
            if mix is None:
                continue
            unknown = sorted(set(mix) - set(_DX_INDEX))
            if unknown:
                raise ValueError(f"{where}.{attr} names unknown diagnoses {unknown}; known: {sorted(_DX_INDEX)}.")
            if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
                raise ValueError(f"{where}.{attr} needs non-negative weights with a positive sum; got {dict(mix)}.")
        if self.note_style not in NOTE_STYLES:
            raise ValueError(f"{where}.note_style {self.note_style!r} is unknown; choose one of {NOTE_STYLES}.")


#: The four default hospitals, modelled on the kinds of hospital in the original health system.
#: Hospital-level spread: in the CMS Hospital Compare release of 2012 (shared/data/cms-hospital-outcomes), the 65
#: hospitals of New York City and Long Island had heart-failure 30-day readmission rates of 22.0-32.9 % (10th-90th
#: percentile 24.3-29.9 %) and heart-failure 30-day mortality of 7.0-14.3 % (8.8-12.6 %), correlated at r = 0.04;
#: the hospital terms below therefore vary readmission by about +-10 % relative and mortality independently of it.
#: The specialty hospital's low base rate follows the CMS HRRP FY2024 pooled hip/knee replacement readmission rate
#: of 4.1 % (3.6 % in New York), against 13.9-20.1 % for the medical conditions.
DEFAULT_HOSPITALS: tuple[HospitalProfile, ...] = (
    HospitalProfile(
        name="Hospital 1", kind="large academic medical centre", admission_share=0.40,
        age_beta=(2.4, 2.7), female_share=0.53, medicare_share_65plus=0.88, medicare_share_under65=0.10,
        under65_insurance_mix=(0.30, 0.52, 0.06, 0.12), borough_mix=(0.38, 0.17, 0.14, 0.10, 0.03, 0.08, 0.10),
        chronic_burden=0.1, diagnosis_mix=_mix(_GENERAL_MIX, neutropenic_fever=4, cirrhosis=3, nstemi=6),
        readmission_intercept=-3.5, mortality_intercept=-4.60, follow_up_rate=0.70, note_style="academic",
        note_filler_sentences=8.5, template_change_year=2018, clinicians=90,
    ),
    HospitalProfile(
        name="Hospital 2", kind="large community teaching hospital", admission_share=0.32,
        age_beta=(2.7, 2.6), female_share=0.54, medicare_share_65plus=0.90, medicare_share_under65=0.12,
        under65_insurance_mix=(0.42, 0.38, 0.08, 0.12), borough_mix=(0.08, 0.52, 0.22, 0.05, 0.05, 0.05, 0.03),
        chronic_burden=0.15, diagnosis_mix=_mix(_GENERAL_MIX, alcohol_withdrawal=5, cellulitis=6, neutropenic_fever=1),
        readmission_intercept=-3.55, mortality_intercept=-4.45, follow_up_rate=0.60, note_style="community",
        note_filler_sentences=5.0, template_change_year=2017, clinicians=65,
    ),
    HospitalProfile(
        name="Hospital 3", kind="suburban hospital with an older population", admission_share=0.20,
        age_beta=(3.6, 2.2), female_share=0.55, medicare_share_65plus=0.91, medicare_share_under65=0.08,
        under65_insurance_mix=(0.20, 0.64, 0.04, 0.12), borough_mix=(0.02, 0.05, 0.20, 0.01, 0.12, 0.55, 0.05),
        chronic_burden=0.2, diagnosis_mix=_mix(_GENERAL_MIX, heart_failure=10, hip_fracture=4, syncope=5,
                                               alcohol_withdrawal=1, neutropenic_fever=1),
        readmission_intercept=-3.75, mortality_intercept=-4.75, follow_up_rate=0.65, note_style="suburban",
        note_filler_sentences=4.5, template_change_year=2019, clinicians=40,
    ),
    HospitalProfile(
        name="Hospital 4", kind="small orthopaedic and surgical specialty hospital", admission_share=0.08,
        volume_growth=0.08,
        age_beta=(4.5, 3.6), female_share=0.58, medicare_share_65plus=0.85, medicare_share_under65=0.06,
        under65_insurance_mix=(0.14, 0.74, 0.02, 0.10), borough_mix=(0.22, 0.15, 0.15, 0.06, 0.07, 0.20, 0.15),
        chronic_burden=-0.8,
        diagnosis_mix={"tka": 30, "tha": 25, "spinal_fusion": 15, "hip_fracture": 8, "shoulder": 8, "revision": 8},
        readmission_diagnosis_mix={"surgical_site_infection": 30, "joint_infection": 15, "pulmonary_embolism": 15,
                                   "postop_anemia": 12, "fall_injury": 12, "cellulitis": 8, "pneumonia": 8},
        readmission_intercept=-2.9, mortality_intercept=-4.3, chronic_risk_weight=0.5, surgical_risk_weight=1.0,
        complication_rate=0.14, los_scale=0.9, return_probability=0.30, return_gap_days=500.0, follow_up_rate=0.92,
        note_style="orthopaedic", note_filler_sentences=0.8, template_change_year=2016,
        clinicians=15,
    ),
)
