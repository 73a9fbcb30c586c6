"""Population and trajectories: each hospital's patients, followed from a first admission through every later one."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from helpers import schema
from helpers.simulator.catalogues import _COMPLICATIONS, _COND_INDEX, _CONDITIONS, _DIAGNOSES, _DISPOSITIONS, \
    _DX_INDEX, _MINOR_CODING_MEAN, _MINOR_CODING_SHAPE, _MINOR_DIAGNOSES, _REFINES, _SECONDARY, _TOBACCO
from helpers.simulator.config import SimulationConfig
from helpers.simulator.draws import _categorical, _logit, _sigmoid
from helpers.simulator.hospitals import HospitalProfile
from helpers.simulator.risk import MORTALITY_COEFFICIENTS, RECORDED_LOGIT_SD, _charlson_index, _readmission_logit, \
    _unrecorded_share
from helpers.simulator.timeline import _adoption, _day, _year_of

# ----------------------------------------------------------------------------------------------------------------
# Trajectories of one hospital's patients
# ----------------------------------------------------------------------------------------------------------------

_HISTORY = 24  # admissions remembered per patient (enough for any 12-month window here)


def _simulate_hospital(profile: HospitalProfile, n_patients: int, cfg: SimulationConfig,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Follow ``n_patients`` patients of one hospital from a first admission through every later one.

    A patient's first admission falls uniformly in [start of burn-in, end of window]. After each discharge the
    patient dies in hospital (trajectory ends), comes back within 30 days with the true readmission probability,
    comes back later (after day 30) with the hospital's return probability, or is never seen again. So
    ``readmitted_30d`` is, by construction, "the next admission starts within 30 days of discharge".
    """
    # the steps draw from ``rng`` in this order; changing it changes every system of a seed
    last_day = _day(cfg.end_year, 12, 31)
    people = _patients(profile, n_patients, cfg, rng, _day(cfg.start_year - cfg.burn_in_years), last_day)
    tables = _diagnosis_tables(profile)
    history = np.full((n_patients, _HISTORY), -10**7, dtype=np.int64)
    next_admit = people.first_admit.copy()
    came_back_early = np.zeros(n_patients, dtype=bool)
    alive = np.ones(n_patients, dtype=bool)
    records: list[dict[str, np.ndarray]] = []
    while True:
        idx = np.flatnonzero(alive & (next_admit <= last_day))
        if idx.size == 0:
            break
        stay = _admissions(idx, next_admit[idx], people, tables, history, came_back_early, profile, cfg, rng)
        _outcomes(stay, idx, people, tables, profile, cfg, rng)
        records.append(stay.facts)
        # next admission: within 30 days if readmitted, after day 30 if the patient comes back later
        m, died, readmitted, discharge = idx.size, stay.facts["died"], stay.facts["readmitted"], stay.discharge
        gap_early = 1 + np.floor(30 * rng.beta(1.0, 2.2, size=m)).astype(int)
        gap_early = np.minimum(gap_early, 30)
        p_return = _sigmoid(_logit(profile.return_probability) + 0.15 * (np.minimum(stay.charlson, 8) - 2))
        returns = ~died & ~readmitted & (rng.random(m) < p_return)
        gap_late = 31 + np.round(rng.exponential(profile.return_gap_days, size=m)).astype(int)
        history[idx, 1:] = history[idx, :-1]
        history[idx, 0] = stay.admit
        next_admit[idx] = np.where(readmitted, discharge + gap_early, discharge + gap_late)
        alive[idx] = readmitted | returns
        came_back_early[idx] = readmitted
        # chronic conditions accumulate slowly between admissions
        gained = rng.random((m, len(_CONDITIONS))) < 0.012 * np.exp(0.4 * people.burden[idx])[:, None]
        new_cond = stay.cond | gained
        for j in np.flatnonzero(tables.refine_cols):
            new_cond[:, j] &= new_cond[:, tables.base_of[j]]
        people.conditions[idx] = new_cond

    out = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
    return out


def _patients(profile: HospitalProfile, n: int, cfg: SimulationConfig, rng: np.random.Generator, first_day: int,
              last_day: int) -> SimpleNamespace:
    """Patient-level attributes, fixed for life unless noted: first admission, birth, sex, borough, insurance
    draws, the lasting traits (burden, frailty, support), social facts and the chronic conditions at first."""
    a, b = profile.age_beta
    span = last_day + 1 - first_day
    g = (profile.volume_growth if cfg.time_volume_growth else 0.0) / 365.25
    u_arrival = rng.random(n)
    if abs(g) > 1e-12:  # density of first admissions grows like exp(g t)
        offset = np.log1p(u_arrival * np.expm1(g * span)) / g
    else:
        offset = u_arrival * span
    first_admit = first_day + np.minimum(np.floor(offset).astype(np.int64), span - 1)
    age_at_first = 18.0 + 82.0 * rng.beta(a, b, size=n)
    birth_day = first_admit - age_at_first * 365.25
    female = rng.random(n) < profile.female_share
    borough = _categorical(rng, np.tile(np.asarray(profile.borough_mix), (n, 1)))
    u_medicare = rng.random(n)
    under65_ins = _categorical(rng, np.tile(np.asarray(profile.under65_insurance_mix), (n, 1)))
    older_private = rng.random(n) < 0.7  # 65+ without Medicare: mostly Private, the rest Unspecified
    burden = rng.standard_normal(n)
    frailty = rng.standard_normal(n)
    support = rng.standard_normal(n)
    age_dec0 = (age_at_first - 65.0) / 10.0
    lives_alone = rng.random(n) < _sigmoid(-1.2 + 0.3 * age_dec0)
    substance = rng.random(n) < _sigmoid(-2.5 - 0.4 * age_dec0)
    housing = rng.random(n) < _sigmoid(-3.6 + 1.2 * substance - 0.3 * age_dec0)

    cond_logit0 = np.array([_logit(c.prevalence_at_65) for c in _CONDITIONS])
    cond_age = np.log([c.odds_ratio_per_decade for c in _CONDITIONS])
    refine_cols = np.array([c.key in _REFINES for c in _CONDITIONS])
    base_of = np.array([_COND_INDEX[_REFINES[c.key]] if c.key in _REFINES else -1 for c in _CONDITIONS])
    shift = np.where(refine_cols, 0.0, profile.chronic_burden + 0.5 * burden[:, None])
    prob = _sigmoid(cond_logit0 + cond_age * age_dec0[:, None] + shift)
    conditions = rng.random((n, len(_CONDITIONS))) < prob
    for j in np.flatnonzero(refine_cols):
        conditions[:, j] &= conditions[:, base_of[j]]
    return SimpleNamespace(first_admit=first_admit, birth_day=birth_day, female=female, borough=borough,
                           u_medicare=u_medicare, under65_ins=under65_ins, older_private=older_private,
                           burden=burden, frailty=frailty, support=support, lives_alone=lives_alone,
                           substance=substance, housing=housing, conditions=conditions)


def _diagnosis_tables(profile: HospitalProfile) -> SimpleNamespace:
    """The catalogues as arrays: condition refinements, secondary diagnoses' risk, the hospital's diagnosis mixes
    (first stays and early returns), each diagnosis's age affinity, first year, stay, surgery and mortality."""
    dx_base = np.zeros(len(_DIAGNOSES))
    for k, w in profile.diagnosis_mix.items():
        dx_base[_DX_INDEX[k]] = w
    readm_mix = profile.readmission_diagnosis_mix or profile.diagnosis_mix
    dx_readm = np.zeros(len(_DIAGNOSES))
    for k, w in readm_mix.items():
        dx_readm[_DX_INDEX[k]] = w
    affinity_cols: dict[str, list] = {}
    for i, d in enumerate(_DIAGNOSES):
        for key, mult in d.affinity:
            affinity_cols.setdefault(key, []).append((i, mult))
    return SimpleNamespace(
        refine_cols=np.array([c.key in _REFINES for c in _CONDITIONS]),
        base_of=np.array([_COND_INDEX[_REFINES[c.key]] if c.key in _REFINES else -1 for c in _CONDITIONS]),
        sec_logit0=np.array([_logit(s.prevalence_at_65) for s in _SECONDARY]),
        sec_age=np.log([s.odds_ratio_per_decade for s in _SECONDARY]),
        dx_base=dx_base, dx_readm=dx_readm,
        dx_age=np.array([d.age_affinity for d in _DIAGNOSES]),
        dx_first_year=np.array([d.first_year for d in _DIAGNOSES]),
        dx_los=np.array([d.mean_los for d in _DIAGNOSES]),
        dx_surgical=np.array([d.surgical for d in _DIAGNOSES]),
        dx_mort=np.array([d.mortality_effect for d in _DIAGNOSES]),
        affinity_cols=affinity_cols,
        joint_surgery=np.isin(np.arange(len(_DIAGNOSES)),
                              [_DX_INDEX[k] for k in ("tka", "tha", "hip_fracture", "revision", "spinal_fusion")]),
    )


def _admissions(idx: np.ndarray, admit: np.ndarray, people: SimpleNamespace, tables: SimpleNamespace,
                history: np.ndarray, came_back_early: np.ndarray, profile: HospitalProfile, cfg: SimulationConfig,
                rng: np.random.Generator) -> SimpleNamespace:
    """One admission of each patient in ``idx``: insurance, diagnosis, stay, complication, diagnoses, labs,
    disposition and follow-up (``facts``), with the values the outcomes are drawn from."""
    m = idx.size
    year = _year_of(admit)
    age = (admit - people.birth_day[idx]) / 365.25
    age_dec = (age - 65.0) / 10.0
    cond = people.conditions[idx]
    charlson = _charlson_index(cond)
    level = schema.comorbidity_level(charlson)
    prior = (history[idx] > (admit - 365)[:, None]).sum(axis=1)

    # insurance follows age: crossing 65 moves most patients to Medicare
    ins = np.where(people.u_medicare[idx] < profile.medicare_share_under65, 0, people.under65_ins[idx] + 1)
    older_ins = np.where(people.u_medicare[idx] < profile.medicare_share_65plus, 0,
                         np.where(people.older_private[idx], 2, 4))
    ins = np.where(age >= 65, older_ins, ins)

    # principal diagnosis: hospital mix x age x conditions, new diagnoses only once they exist
    base = np.where(came_back_early[idx][:, None], tables.dx_readm, tables.dx_base)
    pandemic = min(cfg.drift_strength, 1.0) if cfg.time_covid else 0.0
    available = np.where(tables.dx_first_year > 0,
                         _adoption(year[:, None], tables.dx_first_year, 1.0, pandemic), 1.0)
    weights = base * available * np.exp(tables.dx_age * age_dec[:, None])
    for key, pairs in tables.affinity_cols.items():
        flag = cond[:, _COND_INDEX[key]] if key in _COND_INDEX else people.substance[idx]
        for i, mult in pairs:
            weights[:, i] *= np.where(flag, mult, 1.0)
    empty = weights.sum(axis=1) <= 0
    if empty.any():
        weights[empty] = base[empty] + 1e-9
    dx = _categorical(rng, weights)
    surgical = tables.dx_surgical[dx]

    # length of stay (days), lognormal around the diagnosis mean
    los_mean = tables.dx_los[dx] * profile.los_scale * np.exp(0.06 * age_dec + 0.05 * charlson)
    los = np.maximum(1, np.round(los_mean * np.exp(0.45 * rng.standard_normal(m) - 0.1))).astype(int)

    # in-stay surgical complication
    p_comp = np.clip(profile.complication_rate * np.exp(0.2 * age_dec + 0.12 * np.minimum(charlson, 6)), 0, 0.9)
    has_comp = surgical & (rng.random(m) < p_comp)
    comp_kind = _categorical(rng, np.tile([x[2] for x in _COMPLICATIONS], (m, 1)))
    complication = np.where(has_comp, comp_kind, -1)
    los = los + has_comp * rng.integers(1, 4, size=m)

    # secondary diagnoses
    sec_p = _sigmoid(tables.sec_logit0 + tables.sec_age * age_dec[:, None] + 0.25 * people.burden[idx][:, None])
    secondary = rng.random((m, len(_SECONDARY))) < sec_p
    secondary[:, _TOBACCO] |= people.substance[idx] & (rng.random(m) < 0.5)  # half of heavy drinkers also smoke

    # minor coded diagnoses: coding depth varies by admission, unrelated to risk
    n_minor = np.minimum(rng.poisson(rng.gamma(_MINOR_CODING_SHAPE, _MINOR_CODING_MEAN / _MINOR_CODING_SHAPE,
                                               size=m)), len(_MINOR_DIAGNOSES))
    dx_key = np.array([d.key for d in _DIAGNOSES])[dx]
    labs = _labs(rng, m, cond, dx_key, people.female[idx], complication, surgical, age_dec)
    disposition, follow_up = _disposition(rng, m, los, age_dec, charlson, cond, dx, dx_key, surgical, people, idx,
                                          tables, profile)
    la, sub_use, house = people.lives_alone[idx], people.substance[idx], people.housing[idx]
    facts = {
        "patient": idx, "admit": admit, "los": los.astype(float), "age": age, "female": people.female[idx],
        "insurance": ins, "borough": people.borough[idx], "conditions": cond.astype(float), "charlson": charlson,
        "level": level, "prior_12m": prior, "dx": dx, "secondary": secondary.astype(float),
        "complication": complication, **labs, "disposition": disposition, "follow_up": follow_up.astype(float),
        "lives_alone": la.astype(float), "housing_unstable": house.astype(float),
        "substance_use": sub_use.astype(float), "after_early_return": came_back_early[idx],
        "n_minor": n_minor,
    }
    return SimpleNamespace(facts=facts, admit=admit, los=los, age=age, age_dec=age_dec, cond=cond,
                           charlson=charlson, level=level, dx=dx, disposition=disposition)


def _labs(rng: np.random.Generator, m: int, cond: np.ndarray, dx_key: np.ndarray, female: np.ndarray,
          complication: np.ndarray, surgical: np.ndarray, age_dec: np.ndarray) -> dict[str, np.ndarray]:
    """Creatinine, hemoglobin, sodium and (when an echocardiogram was done) the ejection fraction."""
    ckd = cond[:, _COND_INDEX["ckd"]]
    creat = np.exp(np.log(0.95) + 0.25 * rng.standard_normal(m)) * np.where(ckd, 2.0, 1.0) \
        * np.where(dx_key == "aki", 2.2, 1.0) * np.where(dx_key == "sepsis", 1.3, 1.0)
    creat = np.round(np.clip(creat, 0.4, 9.0), 1)
    anemia_draw = rng.random(m) < 0.08
    hgb = (13.4 - 1.0 * female + 1.3 * rng.standard_normal(m) - 2.8 * (dx_key == "gi_bleed")
           - 1.2 * ckd - 1.2 * cond[:, _COND_INDEX["cancer"]] - 2.6 * (complication == 2)
           - 2.5 * (dx_key == "postop_anemia") - 0.9 * surgical - 2.0 * anemia_draw)
    hgb = np.round(np.clip(hgb, 5.5, 18.0), 1)
    hypo_na = rng.random(m) < 0.06 * np.exp(0.3 * age_dec) * np.where(
        cond[:, _COND_INDEX["chf"]] | cond[:, _COND_INDEX["liver_severe"]], 2.0, 1.0)
    sodium = np.round(139 + 2.8 * rng.standard_normal(m) - 8.0 * hypo_na).astype(int)
    echo = cond[:, _COND_INDEX["chf"]] | np.isin(dx_key, ["heart_failure", "nstemi", "syncope", "stroke"])
    reduced = cond[:, _COND_INDEX["chf"]] & (rng.random(m) < 0.5)
    ef = np.where(reduced, 30 + 7 * rng.standard_normal(m), 58 + 6 * rng.standard_normal(m))
    ef = np.where(echo, np.round(np.clip(ef, 10, 75)), np.nan)
    return {"creatinine": creat, "hemoglobin": hgb, "sodium": sodium, "ejection_fraction": ef}


def _disposition(rng, m, los, age_dec, charlson, cond, dx, dx_key, surgical, people, idx, tables,
                 profile) -> tuple[np.ndarray, np.ndarray]:
    """Discharge disposition (a multinomial logit) and whether a follow-up appointment was made."""
    scores = np.zeros((m, len(_DISPOSITIONS)))
    log_los = np.log(los / 4.0)
    la, sub_use, house = people.lives_alone[idx], people.substance[idx], people.housing[idx]
    scores[:, 1] = -1.4 + 0.35 * age_dec + 0.12 * charlson + 0.4 * la + 0.3 * log_los
    scores[:, 2] = (-2.8 + 0.7 * age_dec + 0.15 * charlson + 0.9 * cond[:, _COND_INDEX["dementia"]]
                    + 0.6 * log_los + 0.4 * la + 1.0 * (dx_key == "hip_fracture"))
    scores[:, 3] = -3.2 + 0.3 * age_dec + 2.3 * tables.joint_surgery[dx] + 1.8 * (dx_key == "stroke")
    scores[:, 4] = -4.2 + 1.8 * sub_use + 0.8 * house - 0.3 * age_dec - 2.0 * surgical
    disposition = _categorical(rng, np.exp(scores))
    follow_up = (rng.random(m) < _sigmoid(_logit(profile.follow_up_rate) - 0.8 * house - 0.3 * sub_use)) & (
        disposition != 4)
    return disposition, follow_up


def _outcomes(stay: SimpleNamespace, idx: np.ndarray, people: SimpleNamespace, tables: SimpleNamespace,
              profile: HospitalProfile, cfg: SimulationConfig, rng: np.random.Generator) -> None:
    """The true readmission probability (recorded + hospital term + drift + unrecorded) and death in hospital;
    adds them, and the drawn outcomes, to ``stay.facts``."""
    m, facts, age, age_dec, charlson = idx.size, stay.facts, stay.age, stay.age_dec, stay.charlson
    recorded = _readmission_logit(facts, profile, cfg)
    discharge = stay.admit + stay.los
    years_from_mid = (_year_of(discharge) - (cfg.start_year + cfg.end_year) / 2.0)
    hospital_term = profile.readmission_intercept + cfg.readmission_rate_shift \
        + cfg.time_base_rate_trend * cfg.drift_strength * cfg.base_rate_trend * years_from_mid
    share = _unrecorded_share(age, stay.level, cfg)
    scale = RECORDED_LOGIT_SD * np.sqrt(share / (1.0 - share))
    # frailty and social support are lasting traits; part of the unrecorded risk is specific to this stay
    lasting = (people.frailty[idx] - people.support[idx]) / math.sqrt(2.0)
    stay_specific = rng.standard_normal(m)
    latent = math.sqrt(cfg.unrecorded_persistence) * lasting \
        + math.sqrt(1.0 - cfg.unrecorded_persistence) * stay_specific
    unrecorded = scale * latent
    p_readmit = _sigmoid(hospital_term + recorded + unrecorded)

    mort_logit = (profile.mortality_intercept + MORTALITY_COEFFICIENTS["age_per_decade"] * age_dec
                  + MORTALITY_COEFFICIENTS["charlson_point"] * np.minimum(charlson, 10) + tables.dx_mort[stay.dx]
                  + MORTALITY_COEFFICIENTS["frailty"] * people.frailty[idx])
    p_death = _sigmoid(mort_logit)
    died = rng.random(m) < p_death
    readmitted = ~died & (rng.random(m) < p_readmit)
    stay.discharge = discharge
    facts.update({
        "discharge": discharge, "died": died, "readmitted": readmitted, "p_readmit": p_readmit,
        "p_death": p_death, "recorded_logit": recorded, "hospital_term": hospital_term,
        "unrecorded_logit": unrecorded, "unrecorded_share": share, "frailty": people.frailty[idx],
        "social_support": people.support[idx], "disposition": np.where(died, -1, stay.disposition),
    })


def _select_patients(patient: np.ndarray, in_window: np.ndarray, target: int,
                     rng: np.random.Generator) -> np.ndarray | None:
    """Choose whole patients, in random order, whose in-window admissions add up to exactly ``target``.

    Whole trajectories are kept so that every label stays consistent with the next admission. Returns the chosen
    patient ids, or None when the simulated patients hold too few admissions.
    """
    counts = np.bincount(patient[in_window], minlength=patient.max() + 1)
    candidates = np.flatnonzero(counts > 0)
    if counts.sum() < target:
        return None
    order = rng.permutation(candidates)
    c = counts[order]
    cum = np.cumsum(c)
    take = cum <= target
    chosen = list(order[take])
    remaining = target - (int(cum[take][-1]) if take.any() else 0)
    if remaining:
        for pid, cnt in zip(order[~take], c[~take]):
            if cnt <= remaining:
                chosen.append(pid)
                remaining -= cnt
                if remaining == 0:
                    break
    if remaining:
        return None
    return np.asarray(chosen)

