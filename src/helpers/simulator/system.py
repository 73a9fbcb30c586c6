"""The whole system: generate every hospital, choose whole patients, write the notes, assemble the tables."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from helpers import schema
from helpers.simulator.catalogues import _BASE_CONDITIONS, _COMPLICATIONS, _COND_INDEX, _CONDITIONS, _DIAGNOSES, \
    _DISPOSITIONS, _SECONDARY
from helpers.simulator.config import SimulationConfig
from helpers.simulator.draws import _Dice
from helpers.simulator.clinicians import build_staff, wording_pattern
from helpers.simulator.documentation import _medications, _write_note
from helpers.simulator.note_templates import _STYLES
from helpers.simulator.risk import _documented_logit
from helpers.simulator.population import _select_patients, _simulate_hospital
from helpers.simulator.timeline import _day, _year_of

@dataclass
class SimulatedHealthSystem:
    """The generated data: admissions (what a study may read), oracle (hidden truth), hospital profiles, config."""

    admissions: pd.DataFrame
    oracle: pd.DataFrame
    hospitals: pd.DataFrame
    config: SimulationConfig



# ----------------------------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------------------------


def _hospital_targets(cfg: SimulationConfig) -> list[int]:
    """Split n_admissions across hospitals by share (largest remainder, so the total is exact)."""
    shares = np.array([h.admission_share for h in cfg.hospitals])
    raw = shares * cfg.n_admissions
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: cfg.n_admissions - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def simulate_health_system(config: SimulationConfig | None = None, **overrides) -> SimulatedHealthSystem:
    """Generate the simulated health system.

    ``overrides`` are SimulationConfig field names, e.g. ``simulate_health_system(n_admissions=3000, seed=7)``;
    they replace the matching fields of ``config`` (or of the default config).
    """
    valid = {f.name for f in dataclasses.fields(SimulationConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"simulate_health_system got unknown parameter(s) {unknown}; valid names are "
                         f"{sorted(valid)}.")
    if config is None:
        cfg = SimulationConfig(**overrides)
    elif not isinstance(config, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig or None; got {type(config).__name__}. Pass knobs as "
                        f"keyword arguments or build SimulationConfig(**knobs).")
    else:
        cfg = dataclasses.replace(config, **overrides) if overrides else config

    window_start, window_end = _day(cfg.start_year), _day(cfg.end_year, 12, 31)
    pieces = []
    for h_index, (profile, target) in enumerate(zip(cfg.hospitals, _hospital_targets(cfg))):
        n_patients = max(100, int(target * 0.9))
        for attempt in range(8):
            # one stream per (seed, hospital, attempt size): deterministic, and hospitals do not share draws
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([cfg.seed, h_index, n_patients])))
            sim = _simulate_hospital(profile, n_patients, cfg, rng)
            in_window = (sim["discharge"] >= window_start) & (sim["discharge"] <= window_end)
            chosen = _select_patients(sim["patient"], in_window, target, rng)
            if chosen is not None:
                break
            per_patient = max(in_window.sum(), 1) / n_patients
            n_patients = int(math.ceil(target / per_patient * 1.15)) + 50
        else:  # pragma: no cover - only with extreme profiles
            raise RuntimeError(f"could not simulate {target} admissions for {profile.name}; check its profile.")
        keep = np.isin(sim["patient"], chosen) & in_window
        part = {k: v[keep] for k, v in sim.items()}
        part["hospital_index"] = np.full(keep.sum(), h_index)
        part["patient"] = part["patient"] + h_index * 10**9
        pieces.append(part)

    data = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    order = np.lexsort((data["hospital_index"], data["patient"], data["admit"]))
    data = {k: v[order] for k, v in data.items()}
    return _assemble(data, cfg)


def _previous_discharge(data: dict[str, np.ndarray]) -> np.ndarray:
    """Each admission's previous discharge day of the same patient (-1 for a first admission): the days since the
    last discharge, for stays that follow within 30 days."""
    n = len(data["admit"])
    prev_discharge = np.full(n, -1)
    order = np.lexsort((data["admit"], data["patient"]))
    pd_sorted = np.full(n, -1)
    dis_sorted = data["discharge"][order]
    same = data["patient"][order][1:] == data["patient"][order][:-1]
    pd_sorted[1:] = np.where(same, dis_sorted[:-1], -1)
    prev_discharge[order] = pd_sorted
    return prev_discharge


def _write_notes(data: dict[str, np.ndarray], cfg: SimulationConfig, years: np.ndarray, prev_discharge: np.ndarray,
                 disposition: np.ndarray, dx_objects: list, cond_keys_list: list[set[str]],
                 sec_keys_list: list[set[str]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[dict],
                                                         list[str]]:
    """Every admission's note, in admission order, by its hospital's clinician of the year: the notes, the facts in
    the record and those written, the medications listed, what each note states, and who wrote it."""
    n = len(data["admit"])
    notes, n_facts, n_written, n_meds = [], np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    hospitals = cfg.hospitals
    staffs, patterns = [], {}
    for h_index, profile in enumerate(hospitals):
        dialect = dict(_STYLES[profile.note_style]["dialect"])
        staffs.append(build_staff(profile.name, max(1, int(round(profile.clinicians * cfg.clinician_staff_scale))),
                                  dialect, seed=cfg.seed, hospital_index=h_index, start_year=cfg.start_year,
                                  end_year=cfg.end_year, turnover_rate=cfg.clinician_turnover_rate,
                                  turnover=cfg.time_clinician_turnover))
    records: list[dict] = []
    carried: dict[int, dict] = {}  # patient -> what their last note lets the next one copy forward
    writer_names = []
    drug_drift = cfg.drift_strength if cfg.time_new_terms_and_drugs else 0.0
    for i in range(n):
        dice = _Dice((cfg.seed, 0x6E6F7465, i))
        h_index = int(data["hospital_index"][i])
        profile = hospitals[h_index]
        patient_key = int(data["patient"][i])
        writer = staffs[h_index].writer(int(years[i]), dice.u())
        writer_names.append(f"{profile.name} / {writer.name} ({writer.slot}.{writer.hired})")
        comp = data["complication"][i]
        facts = {
            "year": int(years[i]), "admit_day": int(data["admit"][i]), "age": float(data["age"][i]),
            "female": bool(data["female"][i]), "dx": dx_objects[i], "cond_keys": cond_keys_list[i],
            "sec_keys": sec_keys_list[i], "prior_12m": int(data["prior_12m"][i]),
            "after_early_return": bool(data["after_early_return"][i]) and prev_discharge[i] >= 0,
            "days_since_last": int(data["admit"][i] - prev_discharge[i]) if prev_discharge[i] >= 0 else 0,
            "lives_alone": bool(data["lives_alone"][i]), "housing_unstable": bool(data["housing_unstable"][i]),
            "substance_use": bool(data["substance_use"][i]),
            "complication": None if comp < 0 else _COMPLICATIONS[comp][0],
            "creatinine": float(data["creatinine"][i]), "hemoglobin": float(data["hemoglobin"][i]),
            "sodium": int(data["sodium"][i]), "ejection_fraction": float(data["ejection_fraction"][i]),
            "los": float(data["los"][i]), "disposition": disposition[i], "follow_up": bool(data["follow_up"][i]),
            "n_minor": int(data["n_minor"][i]), "discharge_day": int(data["discharge"][i]),
        }
        facts["medications"] = _medications(facts, facts["year"], drug_drift, dice, profile.note_style)
        n_meds[i] = len(facts["medications"])
        patient_dice = _Dice((cfg.seed, 0x70617469, patient_key % 2**32, patient_key // 2**32), block=48)
        if id(writer) not in patterns:
            patterns[id(writer)] = wording_pattern(writer)
        text, total, written, record = _write_note(facts, profile, cfg, dice, writer, patterns[id(writer)],
                                                   patient_dice, carried.get(patient_key))
        carried[patient_key] = record.pop("carry")
        records.append(record)
        notes.append(text)
        n_facts[i], n_written[i] = total, written
    return notes, n_facts, n_written, n_meds, records, writer_names


def _assemble(data: dict[str, np.ndarray], cfg: SimulationConfig) -> SimulatedHealthSystem:
    n = len(data["admit"])
    admission_id = np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), max(7, len(str(n)))))
    _, first_pos, inverse = np.unique(data["patient"], return_index=True, return_inverse=True)
    rank = np.empty(len(first_pos), dtype=int)
    rank[np.argsort(first_pos)] = np.arange(len(first_pos))
    patient_num = rank[inverse] + 1
    patient_id = np.char.add("P", np.char.zfill(patient_num.astype(str), max(6, len(str(patient_num.max())))))

    admit = data["admit"].astype("datetime64[D]")
    discharge = data["discharge"].astype("datetime64[D]")
    hospital_names = np.array([h.name for h in cfg.hospitals])[data["hospital_index"]]
    disp_names = np.array(list(_DISPOSITIONS) + ["expired"])
    disposition = disp_names[np.where(data["died"], len(_DISPOSITIONS), data["disposition"])]
    comp_names = np.array(["none"] + [c[0] for c in _COMPLICATIONS])[data["complication"] + 1]
    dx_objects = [_DIAGNOSES[i] for i in data["dx"]]
    cond_matrix = data["conditions"].astype(bool)
    sec_matrix = data["secondary"].astype(bool)
    cond_keys_list = [{_CONDITIONS[j].key for j in np.flatnonzero(row)} for row in cond_matrix]
    sec_keys_list = [{_SECONDARY[j].key for j in np.flatnonzero(row)} for row in sec_matrix]
    prev_discharge = _previous_discharge(data)
    years = _year_of(data["admit"])
    notes, n_facts, n_written, n_meds, records, writer_names = _write_notes(
        data, cfg, years, prev_discharge, disposition, dx_objects, cond_keys_list, sec_keys_list)

    charlson = data["charlson"].astype(int)
    n_base_conditions = cond_matrix[:, [_COND_INDEX[k] for k in _BASE_CONDITIONS]].sum(axis=1)
    admissions = pd.DataFrame({
        "admission_id": admission_id.astype(object),
        "patient_id": patient_id.astype(object),
        "hospital": hospital_names.astype(object),
        "admit_date": pd.to_datetime(admit).astype("datetime64[ns]"),
        "discharge_date": pd.to_datetime(discharge).astype("datetime64[ns]"),
        "age": np.floor(data["age"]).astype(float),
        "sex": pd.Categorical(np.where(data["female"], "F", "M"), categories=schema.SEX_CATEGORIES),
        "insurance": pd.Categorical(np.array(schema.INSURANCE_CATEGORIES)[data["insurance"]],
                                    categories=schema.INSURANCE_CATEGORIES),
        "borough": pd.Categorical(np.array(schema.BOROUGHS)[data["borough"]], categories=schema.BOROUGHS),
        "comorbidity_index": charlson.astype(np.int64),
        "comorbidity_level": schema.comorbidity_level(charlson).astype(np.int64),
        "length_of_stay": data["los"].astype(float),
        "died_in_hospital": data["died"].astype(np.int64),
        "note_text": pd.Series(notes, dtype=object).values,
        "readmitted_30d": data["readmitted"].astype(np.int64),
        # extra facts (the note may or may not mention them), to explain results later
        "primary_diagnosis": np.array([d.label for d in dx_objects], dtype=object),
        "surgical": np.array([d.surgical for d in dx_objects]).astype(np.int64),
        "prior_admissions_12m": data["prior_12m"].astype(np.int64),
        "n_diagnoses": (1 + n_base_conditions + sec_matrix.sum(axis=1) + data["n_minor"] + (data["hemoglobin"] < 10)
                        + (data["sodium"] < 133) + (data["complication"] >= 0)).astype(np.int64),
        "chronic_conditions": np.array(["; ".join(c.label for c in _CONDITIONS if c.key in keys)
                                        for keys in cond_keys_list], dtype=object),
        "secondary_diagnoses": np.array(["; ".join(s.label for s in _SECONDARY if s.key in keys)
                                         for keys in sec_keys_list], dtype=object),
        "surgical_complication": comp_names.astype(object),
        "discharge_disposition": disposition.astype(object),
        "follow_up_scheduled": data["follow_up"].astype(np.int64),
        "lives_alone": data["lives_alone"].astype(np.int64),
        "housing_unstable": data["housing_unstable"].astype(np.int64),
        "substance_use": data["substance_use"].astype(np.int64),
        "creatinine": data["creatinine"].astype(float),
        "hemoglobin": data["hemoglobin"].astype(float),
        "sodium": data["sodium"].astype(float),
        "ejection_fraction": data["ejection_fraction"].astype(float),
        "n_medications": n_meds.astype(np.int64),
        "facts_in_record": n_facts.astype(np.int64),
        "facts_documented": n_written.astype(np.int64),
        "note_words": np.array([len(t.split()) for t in notes], dtype=np.int64),
    })
    admissions_writers = np.array(writer_names, dtype=object)
    documented_logit = _documented_logit(data, records, cfg)
    oracle = pd.DataFrame({
        "admission_id": admission_id.astype(object),
        "true_probability": data["p_readmit"].astype(float),
        "recorded_logit": data["recorded_logit"].astype(float),
        "hospital_term": data["hospital_term"].astype(float),
        "unrecorded_logit": data["unrecorded_logit"].astype(float),
        "documented_logit": documented_logit,
        "documented_probability": 1.0 / (1.0 + np.exp(-(data["hospital_term"] + documented_logit))),
        "unrecorded_share": data["unrecorded_share"].astype(float),
        "frailty": data["frailty"].astype(float),
        "social_support": data["social_support"].astype(float),
        "mortality_probability": data["p_death"].astype(float),
    })
    oracle["note_writer"] = admissions_writers
    return SimulatedHealthSystem(admissions=admissions, oracle=oracle, hospitals=_hospital_table(cfg), config=cfg)


def _hospital_table(cfg: SimulationConfig) -> pd.DataFrame:
    """One row per hospital profile, with mixes written as readable strings, for the data chapter."""
    rows = []
    for h in cfg.hospitals:
        row = {}
        for f in dataclasses.fields(h):
            value = getattr(h, f.name)
            if f.name == "borough_mix":
                value = ", ".join(f"{b} {s:.2f}" for b, s in zip(schema.BOROUGHS, value))
            elif f.name == "under65_insurance_mix":
                value = ", ".join(f"{b} {s:.2f}" for b, s in zip(("Medicaid", "Private", "Self-pay", "Unspecified"),
                                                                  value))
            elif isinstance(value, Mapping):
                total = sum(value.values())
                value = ", ".join(f"{k} {v / total:.2f}" for k, v in sorted(value.items(), key=lambda kv: -kv[1]))
            elif value is None:
                value = "same as diagnosis_mix"
            elif isinstance(value, tuple):
                value = ", ".join(f"{v:g}" for v in value)
            row[f.name] = value
        rows.append(row)
    return pd.DataFrame(rows)
