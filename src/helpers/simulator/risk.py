"""Risk: the readmission and mortality models, and the unrecorded part of the readmission risk."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from helpers import schema
from helpers.simulator.catalogues import _COMPLICATIONS, _COND_INDEX, _CONDITIONS, _DIAGNOSES, _DISPOSITIONS, \
    _REFINES, _SECONDARY

if TYPE_CHECKING:  # annotations only: the config and hospital modules import this one's callers
    from helpers.simulator.config import SimulationConfig
    from helpers.simulator.hospitals import HospitalProfile

# ----------------------------------------------------------------------------------------------------------------
# Risk model coefficients
# ----------------------------------------------------------------------------------------------------------------

#: Log-odds effects of the recorded facts on 30-day readmission (besides the per-condition and per-diagnosis
#: effects in the catalogues above). Magnitudes are chosen so that the simulated data reproduce the gradients of
#: real encounter data: in the UCI "Diabetes 130-US hospitals" data (Strack et al., BioMed Res Int 2014;781670) the
#: 30-day rate rises from 8.6 % with no inpatient visit in the prior year to about 31 % with four or more, and from
#: about 7 % with at most 3 diagnoses to about 15 % with 10 or more. Part of the prior-admission gradient arises by
#: itself (high-risk patients come back more), so the direct effect is smaller than the crude gradient.
READMISSION_COEFFICIENTS: dict[str, float] = {
    "age_per_decade": 0.05,  # centred at 65
    "charlson_point": 0.07,  # per Charlson point, capped at 10 (times the hospital's chronic_risk_weight)
    "prior_admission_log": 0.05,  # times log(1 + admissions in the prior 12 months)
    "secondary_diagnosis": 0.02,
    "diagnosis_effect_scale": 1.5,  # multiplies the per-diagnosis effects of the diagnosis catalogue  # per secondary (non-Charlson) diagnosis of the catalogue
    "log_length_of_stay": 0.40,  # times log(length of stay / 4 days)
    "hemoglobin_below_10": 0.40,
    "creatinine_above_2": 0.35,
    "sodium_below_133": 0.35,
    "ejection_fraction_below_35": 0.40,
    "lives_alone": 0.35,
    "housing_unstable": 0.80,
    "substance_use": 0.50,
    "medicaid": 0.15,
    "self_pay": 0.10,
    "follow_up_scheduled": -0.45,
    "disposition_home with services": 0.20,
    "disposition_skilled nursing facility": 0.50,
    "disposition_acute rehabilitation": 0.10,
    "disposition_left against medical advice": 1.10,
}

#: Log-odds effects on in-hospital death (per decade above 65, per Charlson point, per SD of frailty).
MORTALITY_COEFFICIENTS: dict[str, float] = {"age_per_decade": 0.45, "charlson_point": 0.12, "frailty": 0.45}

#: Standard deviation (log-odds) of the recorded part of the readmission logit under the default case mix (measured
#: 1.16 on the default run, seed 0). The unrecorded part is scaled against this constant rather than against each
#: sample, so that ``unrecorded_risk_share`` reads as "share of the risk's variance that no note records" and means
#: the same thing at every sample size.
RECORDED_LOGIT_SD = 1.15


# ----------------------------------------------------------------------------------------------------------------
# Risk
# ----------------------------------------------------------------------------------------------------------------


def _charlson_index(conditions: np.ndarray) -> np.ndarray:
    """Charlson-like index from a condition matrix, with refinements replacing their base weight."""
    weights = np.array([c.charlson_weight for c in _CONDITIONS], dtype=float)
    index = conditions @ weights
    for refined, base in _REFINES.items():
        index -= conditions[:, _COND_INDEX[refined]] * weights[_COND_INDEX[base]]
    return index.astype(int)


def _readmission_logit(f: dict[str, np.ndarray], profile: HospitalProfile, cfg: SimulationConfig) -> np.ndarray:
    """Recorded part of the readmission log-odds, before the hospital term, of a batch of admissions.

    Everything here is recorded: a fact the discharge note can state (age, conditions, labs, disposition,
    complications...), whether or not it does, or, for insurance, a field of the admission table that the note never
    mentions. The hospital term, the drift and the unrecorded part (frailty, social support) are added by the caller.
    """
    c = READMISSION_COEFFICIENTS
    conditions = f["conditions"]
    cond_effect = conditions @ np.array([x.readmission_effect for x in _CONDITIONS])
    chronic = c["charlson_point"] * np.minimum(f["charlson"], 10) + cond_effect
    dx_effect = c["diagnosis_effect_scale"] * np.array([d.readmission_effect for d in _DIAGNOSES])[f["dx"]]
    sec_effect = f["secondary"] @ np.array([s.readmission_effect for s in _SECONDARY])
    comp_effect = np.array([0.0] + [x[3] for x in _COMPLICATIONS])[f["complication"] + 1]
    disposition = np.zeros(len(f["dx"]))
    for i, name in enumerate(_DISPOSITIONS):
        disposition += (f["disposition"] == i) * c.get(f"disposition_{name}", 0.0)
    ef = f["ejection_fraction"]
    logit = (
        c["age_per_decade"] * (f["age"] - 65.0) / 10.0
        + profile.chronic_risk_weight * chronic
        + c["prior_admission_log"] * np.log1p(f["prior_12m"])
        + c["secondary_diagnosis"] * f["secondary"].sum(axis=1)
        + sec_effect
        + dx_effect
        + profile.surgical_risk_weight * comp_effect
        + c["log_length_of_stay"] * np.log(f["los"] / 4.0)
        + c["hemoglobin_below_10"] * (f["hemoglobin"] < 10)
        + c["creatinine_above_2"] * (f["creatinine"] > 2)
        + c["sodium_below_133"] * (f["sodium"] < 133)
        + c["ejection_fraction_below_35"] * (np.nan_to_num(ef, nan=60.0) < 35)
        + c["lives_alone"] * f["lives_alone"]
        + c["housing_unstable"] * f["housing_unstable"]
        + c["substance_use"] * f["substance_use"]
        + c["medicaid"] * (f["insurance"] == schema.INSURANCE_CATEGORIES.index("Medicaid"))
        + c["self_pay"] * (f["insurance"] == schema.INSURANCE_CATEGORIES.index("Self-pay"))
        + c["follow_up_scheduled"] * f["follow_up"]
        + disposition
    )
    return cfg.recorded_risk_scale * logit


def _unrecorded_share(age: np.ndarray, level: np.ndarray, cfg: SimulationConfig) -> np.ndarray:
    """Per-admission share of risk variance that is unrecorded: grows with age and comorbidity level."""
    share = (cfg.unrecorded_risk_share + cfg.unrecorded_age_slope * (age - 65.0) / 10.0
             + cfg.unrecorded_comorbidity_slope * (level - 1))
    return np.clip(share, 0.0, 0.9)



def _documented_logit(data: dict[str, np.ndarray], records: list[dict], cfg) -> np.ndarray:
    """The recorded part of the readmission logit recomputed from only the facts each note states.

    The same model as :func:`_readmission_logit` (same coefficients, same hospital weights), evaluated at the
    documented facts, with every fact the note leaves out set to its reference level, the level that adds nothing:
    a condition or secondary diagnosis not written counts as absent (and the Charlson index is recomputed from the
    written conditions; a written refinement such as metastatic cancer implies its base condition); prior
    admissions not written count as none; an unwritten complication as none; a length of stay stated neither by
    the admission and discharge dates nor in words as 4 days (the reference of the log-LOS term); unwritten
    haemoglobin, creatinine and sodium as normal (14 g/dL, 1.0 mg/dL, 140 mmol/L) unless an anaemia or hyponatraemia
    diagnosis line states the low value; an unwritten ejection fraction as normal; unwritten social facts (lives
    alone, unstable housing, substance use) as absent; an unwritten disposition as home; an unwritten follow-up
    appointment as none. Age and the principal diagnosis are always written. Insurance is never in a note, so its
    terms (Medicaid, self-pay) are left out. The unrecorded part (frailty, social support) is left out; the caller
    adds the hospital term (with its base-rate trend), which the note's hospital identifies.
    """
    from helpers.simulator.catalogues import _COND_INDEX as cond_index, _CONDITIONS as conditions_catalogue

    n = len(records)
    cond = np.zeros((n, len(conditions_catalogue)))
    sec = np.zeros_like(data["secondary"])
    sec_index = {s.key: j for j, s in enumerate(_SECONDARY)}
    flags = {k: np.zeros(n, dtype=bool) for k in ("prior", "complication", "los", "hemoglobin", "creatinine",
                                                   "sodium", "ejection_fraction", "lives_alone", "housing_unstable",
                                                   "substance_use", "disposition", "follow_up")}
    for i, rec in enumerate(records):
        for key in rec["conditions"]:
            cond[i, cond_index[key]] = 1.0
            if key in _REFINES:
                cond[i, cond_index[_REFINES[key]]] = 1.0
        for key in rec["secondary"]:
            sec[i, sec_index[key]] = 1.0
        for key, column in flags.items():
            if rec.get(key):
                column[i] = True
    cond = cond * data["conditions"]  # a copied history never states a condition the patient does not have
    f = {
        "conditions": cond, "charlson": _charlson_index(cond), "dx": data["dx"], "secondary": sec,
        "complication": np.where(flags["complication"], data["complication"], -1),
        "disposition": np.where(flags["disposition"] & (data["disposition"] >= 0), data["disposition"], 0),
        "ejection_fraction": np.where(flags["ejection_fraction"], data["ejection_fraction"], np.nan),
        "age": data["age"], "prior_12m": np.where(flags["prior"], data["prior_12m"], 0),
        "los": np.where(flags["los"], data["los"], 4.0),
        "hemoglobin": np.where(flags["hemoglobin"], data["hemoglobin"], 14.0),
        "creatinine": np.where(flags["creatinine"], data["creatinine"], 1.0),
        "sodium": np.where(flags["sodium"], data["sodium"], 140),
        "lives_alone": data["lives_alone"] * flags["lives_alone"],
        "housing_unstable": data["housing_unstable"] * flags["housing_unstable"],
        "substance_use": data["substance_use"] * flags["substance_use"],
        "insurance": np.full(n, schema.INSURANCE_CATEGORIES.index("Medicare")),
        "follow_up": data["follow_up"] * flags["follow_up"],
    }
    out = np.zeros(n)
    for h_index, profile in enumerate(cfg.hospitals):
        rows = data["hospital_index"] == h_index
        if rows.any():
            out[rows] = _readmission_logit({k: v[rows] for k, v in f.items()}, profile, cfg)
    return out
