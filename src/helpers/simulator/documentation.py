"""Documentation: how a discharge summary is written from an admission's facts.

Each fact is written with a probability below one; each hospital has its own template, section order, dialect and
length; each note is then written in the style of one clinician (see :mod:`helpers.simulator.clinicians`).
"""

from __future__ import annotations

import math
import re

from helpers.simulator.catalogues import _COMPLICATIONS, _COND_INDEX, _CONDITIONS, _MINOR_DIAGNOSES, _REFINES, \
    _SECONDARY, _Diagnosis
from helpers.simulator.config import SimulationConfig
from helpers.simulator.draws import _Dice
from helpers.simulator.hospitals import HospitalProfile
from helpers.simulator.clinicians import Clinician, add_typos, reword
from helpers.simulator.lexicon import ADMISSION_LABS, ALLERGENS, CLINICS, CONSULT_SERVICES, DIAGNOSIS_DETAILS, \
    DICTATION_MARKS, \
    FAMILY_HISTORY, FIRST_NAMES, HEDGES, OVER_THE_COUNTER, ARRIVALS, ONSETS, PROCEDURES, REVIEW_OF_SYSTEMS, CONSULT_REASONS, MORE_FAMILY_HISTORY, MORE_OCCUPATIONS, NARRATIVE_MORE, INCIDENTAL_MORE, CLASS_ALTERNATIVES, CONDITION_AT_DISCHARGE, DIETS, LAY_TERMS, LETTER_ADVICE, LETTER_OPENINGS, NARRATIVE_EXTRA, PHARMACIES, STREETS, HOME_MEDICATIONS, IMAGING_STUDIES, INCIDENTAL_FINDINGS, NEIGHBOURHOODS, NEW_TERMS, \
    OCCUPATIONS, PAST_SURGERY, PROBLEM_ACTIONS, REACTIONS, SURNAMES
from helpers.simulator.note_templates import _COMPLICATION_COURSE, _COMPLICATION_NEGATIVES, _DISPOSITION_TEXT, \
    _NEGATABLE, _STYLES
from helpers.simulator.timeline import _ICD10_DAY, _adoption, _date

# ----------------------------------------------------------------------------------------------------------------
# Notes
# ----------------------------------------------------------------------------------------------------------------

def _medications(f: dict, year: int, drift: float, dice: _Dice, style: str) -> list[str]:
    """Discharge medication list from the patient's conditions and diagnosis; drug choices follow the calendar."""
    meds: list[str] = []
    cond = f["cond_keys"]
    if "chf" in cond:
        meds.append("furosemide 40 mg by mouth daily")
        meds.append("metoprolol succinate 50 mg daily")
        # sacubitril-valsartan (FDA approval July 2015) gradually replaces ACE inhibitors in reduced EF
        if dice.chance(float(_adoption(year, 2016, 4, drift, 0.7))):
            meds.append("sacubitril-valsartan 49-51 mg twice daily")
        else:
            meds.append("lisinopril 10 mg daily")
    if "diabetes" in cond:
        meds.append("metformin 1000 mg twice daily")
        # SGLT2 inhibitors (empagliflozin approved August 2014) displace sulfonylureas
        if dice.chance(float(_adoption(year, 2015, 5, drift, 0.6))):
            meds.append("empagliflozin 10 mg daily")
        else:
            meds.append("glipizide 5 mg daily")
        if "diabetes_complicated" in cond:
            meds.append("insulin glargine 20 units at bedtime")
    if "copd" in cond:
        meds.append("tiotropium inhaler daily")
        meds.append("albuterol inhaler as needed")
    if "ckd" in cond:
        meds.append("calcitriol 0.25 mcg daily")
    if "mi" in cond or "pvd" in cond or "cvd" in cond:
        meds.append("aspirin 81 mg daily")
        meds.append("atorvastatin 40 mg nightly")
    if "dementia" in cond:
        meds.append("donepezil 10 mg nightly")
    if "atrial_fibrillation" in f["sec_keys"]:
        # apixaban (approved December 2012) gradually replaces warfarin
        meds.append("apixaban 5 mg twice daily" if dice.chance(float(_adoption(year, 2013, 6, drift, 0.85)))
                    else "warfarin 5 mg daily, dose per INR")
    if "hypertension" in f["sec_keys"] and "chf" not in cond:
        meds.append("amlodipine 5 mg daily")
    if "hypothyroidism" in f["sec_keys"]:
        meds.append("levothyroxine 75 mcg daily")
    if "depression" in f["sec_keys"]:
        meds.append("sertraline 50 mg daily")
    meds.extend(f["dx"].medications)
    if f["dx"].surgical and style == "orthopaedic":
        # thromboprophylaxis after arthroplasty: enoxaparin, increasingly aspirin in later years
        if dice.chance(float(_adoption(year, 2017, 3, drift, 0.75))):
            meds = [m for m in meds if not m.startswith("aspirin 81 mg daily")]
            meds.append("aspirin 81 mg twice daily for 4 weeks")
        else:
            meds.append("enoxaparin 40 mg subcutaneously daily for 14 days")
        meds.append("docusate 100 mg twice daily")
    # one line per drug: a diagnosis-specific dose (listed later) replaces the chronic one
    by_drug: dict[str, str] = {}
    for med in meds:
        by_drug.pop(med.split()[0], None)
        by_drug[med.split()[0]] = med
    return list(by_drug.values())


def _pronouns(female: bool) -> dict[str, str]:
    if female:
        return {"he": "she", "He": "She", "his": "her", "His": "Her", "him": "her"}
    return {"he": "he", "He": "He", "his": "his", "His": "His", "him": "him"}


# placeholders for sentences printed ahead (copy-forward material): no rewording or typo can touch them
_PMH_SLOT, _SOCIAL_SLOT = "\x01PMH\x01", "\x01SOC\x01"


class _Draft:
    """One note being written: the admission's facts, the writer, the dice, and what is written so far.

    The sections are written in the order of :func:`_write_note`; each step draws from ``dice`` (and ``patient``)
    in the same order as ever, so a seed still gives the same note, character for character.
    """

    def __init__(self, f: dict, profile: HospitalProfile, cfg: SimulationConfig, dice: _Dice, writer: Clinician,
                 pattern: re.Pattern, patient: _Dice, previous: dict | None) -> None:
        self.f, self.profile, self.cfg, self.dice, self.writer = f, profile, cfg, dice, writer
        self.pattern, self.patient, self.previous = pattern, patient, previous
        self.style_name = profile.note_style
        self.style = _STYLES[self.style_name]
        self.year = f["year"]
        self.drift = cfg.drift_strength
        self.p_doc = min(1.0, cfg.documentation_probability * profile.documentation_factor)
        self.counts = [0, 0]  # facts in the record, facts written
        self.rec: dict = {"conditions": set(), "secondary": set()}
        self.fmt = dict(_pronouns(f["female"]))
        self.fmt.update(sbp=dice.integer(102, 148), dbp=dice.integer(58, 88), hr=dice.integer(60, 98),
                        spo2=dice.integer(93, 99), temp=f"{98.0 + dice.u() * 1.2:.1f}", rr=dice.integer(14, 20),
                        weight=dice.integer(52, 110))
        self.dx: _Diagnosis = f["dx"]
        self.ortho = self.style_name == "orthopaedic"
        self.side = dice.pick(("right", "left"))
        self.sections: dict[str, list[str]] = {k: [] for k in self.style["order"]}
        # how much this note tells: the writer's verbosity, the day's time pressure and the length of the stay
        self.extent = writer.verbosity * math.exp(0.6 * dice.normal()) * (f["los"] / 4.0) ** 0.35
        self.optional = min(1.0, 0.55 * self.extent)  # chance of each optional section (exam, labs, family history...)
        # set by the steps, read by later ones
        self.sex_word = self.dx_label = self.pmh_text = self.social_text = ""
        self.pmh: list[str] = []
        self.minor: list[str] = []

    def documented(self, salience: float = 1.0) -> bool:
        """Whether a fact of the record is written (counted either way)."""
        self.counts[0] += 1
        hit = self.dice.chance(min(1.0, self.p_doc * salience))
        self.counts[1] += hit
        return hit

    def printed(self, sentence: str) -> str:
        """A sentence as this writer prints it (wording and typos), for history that later notes copy forward."""
        return add_typos(reword(sentence.format_map(self.fmt), self.writer, self.pattern), self.writer.typo_rate,
                         self.dice)


def _write_reason(d: _Draft) -> None:
    f, dice, style = d.f, d.dice, d.style
    d.sex_word = style["woman"] if f["female"] else style["man"]
    age = int(f["age"])
    d.dx_label = d.dx.label.replace("hip fracture", f"{d.side} hip fracture")
    said = f"{dice.pick(HEDGES)} {d.dx_label}" if dice.chance(d.writer.hedge_rate) else d.dx_label
    reason = d.sections["reason"]
    if d.ortho and d.dx.surgical:
        reason.append(f"{d.dx_label[0].upper()}{d.dx_label[1:]}.")
        reason.append(f"{age} y/o {d.sex_word}.")
    elif d.style_name == "community":
        reason.append(f"{age}{d.sex_word} admitted with {said}.")
    else:
        reason.append(f"{age}-year-old {d.sex_word} admitted with {said}.")


def _write_presentation(d: _Draft) -> None:
    """The history of present illness, its pertinent negatives and any recent stay."""
    f, dice, cfg, dx, hist = d.f, d.dice, d.cfg, d.dx, d.sections["history"]
    symptoms = dice.sample(dx.symptoms, 1 + dice.integer(0, max(0, len(dx.symptoms) - 1)))
    onset = "" if dx.surgical else f" {dice.pick(ONSETS)}"  # elective surgery has no acute onset
    hist.append(f"The patient presented with {_join(symptoms)}{onset}.")
    if dice.chance(0.5 * d.optional):
        hist.append(dice.pick(ARRIVALS))
    if dice.chance(0.4 * d.optional):
        hist.append(f"Review of systems otherwise negative for {_join(dice.sample(REVIEW_OF_SYSTEMS, 3))}.")
    if f["after_early_return"] and d.documented(0.9):
        hist.append(f"{d.fmt['He']} was recently discharged from this hospital {f['days_since_last']} days ago.")
    negatable_symptoms = ("chest pain", "fevers", "headache", "abdominal pain", "palpitations", "dysuria")
    denied = [s for s in dice.sample(negatable_symptoms, 2) if s not in " ".join(symptoms)]
    if denied:
        hist.append(f"Denies {_join(denied, 'or')}.")
    if cfg.time_covid and d.year >= 2020 and dx.key != "covid" and \
            dice.chance(0.9 * float(_adoption(d.year, 2020, 1, d.drift))):
        hist.append("SARS-CoV-2 PCR was negative on admission.")


def _write_past_history(d: _Draft, copied: bool) -> list[str]:
    """Past medical and surgical history, pertinent negatives and prior stays; a copied note reuses its past history."""
    f, dice, patient, hist = d.f, d.dice, d.patient, d.sections["history"]
    described = _described_by_refinement(f["cond_keys"])
    if copied:
        pmh_keys = [k for k in d.previous["pmh_keys"]]
        d.pmh = [_CONDITIONS[_COND_INDEX[k]].label for k in pmh_keys]
        d.pmh_text = d.previous["pmh_text"]
    else:
        pmh_keys = [c.key for c in _CONDITIONS if c.key in f["cond_keys"] and c.key not in described
                    and d.documented()]
        d.pmh = [_CONDITIONS[_COND_INDEX[k]].label for k in pmh_keys]
        d.pmh_text = d.printed(f"Past medical history is notable for {_join(d.pmh)}.") if d.pmh else ""
    if d.pmh_text:
        hist.append(_PMH_SLOT)
    d.rec["conditions"].update(pmh_keys)
    psh = patient.sample(PAST_SURGERY, patient.integer(0, 3))
    if psh and dice.chance(0.9 * d.optional):
        hist.append(f"Past surgical history: {_join(psh)}.")
    for key in _NEGATABLE:
        if key not in f["cond_keys"] and dice.chance(d.cfg.negation_probability * 0.35):
            hist.append(f"No history of {_CONDITIONS[_COND_INDEX[key]].label}.")
    prior = f["prior_12m"]
    if prior > 0 and d.documented(0.8):
        d.rec["prior"] = True
        hist.append(f"{d.fmt['He']} has had {prior} hospitalization{'s' if prior > 1 else ''} in the past 12 months.")
    elif prior == 0 and dice.chance(0.3):
        hist.append("No hospitalizations in the past year.")
    return pmh_keys


def _write_social_history(d: _Draft, copied: bool) -> None:
    """Social history (a copied note reuses it), family history and allergies."""
    f, dice, patient, rec, hist = d.f, d.dice, d.patient, d.rec, d.sections["history"]
    social = []
    if copied and d.previous["social_text"]:
        d.social_text = d.previous["social_text"]
        rec.update(d.previous["social_facts"])
    else:
        if f["lives_alone"] and d.documented(0.7):
            social.append("Lives alone")
            rec["lives_alone"] = True
        elif not f["lives_alone"] and dice.chance(0.4):
            social.append(dice.pick(("Lives with spouse", "Lives with family", "Lives with daughter")))
        if f["housing_unstable"] and d.documented(0.7):
            social.append("currently without stable housing and staying in a shelter")
            rec["housing_unstable"] = True
        if f["substance_use"] and d.documented(0.75):
            social.append("reports daily alcohol use")
            rec["substance_use"] = True
        elif not f["substance_use"] and dice.chance(d.cfg.negation_probability * 0.6):
            social.append("denies alcohol or drug use")
        if social and dice.chance(0.5):
            social.append(patient.pick(OCCUPATIONS + MORE_OCCUPATIONS))
        d.social_text = d.printed("Social history: " + "; ".join(social) + ".") if social else ""
    if d.social_text:
        hist.append(_SOCIAL_SLOT)
    if dice.chance(0.6 * d.optional):
        hist.append(f"Family history: {_join(patient.sample(FAMILY_HISTORY + MORE_FAMILY_HISTORY, patient.integer(1, 2)))}.")
    allergies = patient.sample(ALLERGENS, min(patient.integer(0, 4), patient.integer(0, 4)))
    if allergies:
        reacts = [f"{a} ({patient.pick(REACTIONS)})" if d.writer.lists_allergy_reactions else a for a in allergies]
        hist.append(f"Allergies: {', '.join(reacts)}.")
    else:
        hist.append(dice.pick(("Allergies: NKDA.", "No known drug allergies.", "Allergies: none known.")))


def _write_history(d: _Draft) -> None:
    """HPI, past history, prior stays and social history; records what the patient's next note may copy forward."""
    _write_presentation(d)
    # copy-forward: the previous note's past and social history, word for word as printed there (its writer's
    # wording and typos); sentences written here are printed in this writer's style, once, so they can be carried on
    copied = d.previous is not None and d.dice.chance(d.writer.copy_forward)
    pmh_keys = _write_past_history(d, copied)
    _write_social_history(d, copied)
    d.rec["carry"] = {"pmh_keys": list(pmh_keys), "pmh_text": d.pmh_text, "social_text": d.social_text,
                      "social_facts": {k: d.rec[k] for k in ("lives_alone", "housing_unstable", "substance_use")
                                       if k in d.rec}}


def _write_course_facts(d: _Draft) -> None:
    """The diagnosis narrative, the complication and the recorded numbers (labs, ejection fraction, length of stay)."""
    f, dice, dx, rec, course = d.f, d.dice, d.dx, d.rec, d.sections["course"]
    comp = f["complication"]
    n_course = len(dx.course) if dice.chance(0.6) else max(1, len(dx.course) - 1)
    story = list(dx.course[:n_course])
    if comp is not None:  # a complicated stay is not described as uncomplicated
        story = [s.replace("an uncomplicated ", "a ").replace(" without complication", "") for s in story]
    course.extend(story)
    if comp is not None and d.documented(1.15):
        rec["complication"] = True
        day = dice.integer(1, max(1, min(3, int(f["los"]) - 1)))
        course.append(_COMPLICATION_COURSE[comp].replace("{d}", str(day)).replace("{hgb}", f"{f['hemoglobin']:.1f}"))
    if dx.surgical:
        for key, sentence in _COMPLICATION_NEGATIVES.items():
            if key != comp and dice.chance(d.cfg.negation_probability * (0.6 if d.ortho else 0.2)):
                course.append(sentence)
    labs = []
    if d.documented(0.9):
        labs.append(f"creatinine {f['creatinine']:.1f}")
        rec["creatinine"] = True
    if d.documented(0.9):
        labs.append(f"hemoglobin {f['hemoglobin']:.1f}")
        rec["hemoglobin"] = True
    if d.documented(0.8):
        labs.append(f"sodium {f['sodium']}")
        rec["sodium"] = True
    if labs:
        course.append(f"Discharge labs: {', '.join(labs)}.")
    if not math.isnan(f["ejection_fraction"]) and d.documented(0.9):
        rec["ejection_fraction"] = True
        course.append(f"Echocardiogram showed an ejection fraction of {int(f['ejection_fraction'])} percent.")
    if d.documented(0.6):
        rec["los"] = True
        course.append(f"Total length of stay was {int(f['los'])} days.")


def _write_course_narrative(d: _Draft) -> None:
    """The writer's stock narrative, told day by day for long stays, and the diagnosis details they mention."""
    f, dice, writer, course = d.f, d.dice, d.writer, d.sections["course"]
    pool = d.style["filler"] + NARRATIVE_EXTRA + NARRATIVE_MORE
    keep = max(3, int(round(writer.narrative_share * len(pool))))
    start = writer.narrative_seed % len(pool)
    filler_pool = tuple((pool + pool)[start:start + keep])
    n_filler = d.profile.note_filler_sentences * d.cfg.note_length_scale * d.extent * math.exp(0.6 * dice.normal())
    n_filler = int(round(n_filler))
    filler: list[str] = []
    while len(filler) < n_filler:  # draw without repeats until the pool is used up, then start a new round
        filler.extend(dice.sample(filler_pool, min(len(filler_pool), n_filler - len(filler))))
    filler = [sentence.format_map(d.fmt) for sentence in filler]
    # long stays are told day by day, which pushes later sections further into the note
    for i, sentence in enumerate(filler):
        if i % 4 == 3 and i // 4 + 2 <= f["los"]:
            filler[i] = f"On {'postoperative' if d.ortho else 'hospital'} day {i // 4 + 2}, " \
                        f"{sentence[0].lower()}{sentence[1:]}"
    insert_at = min(len(course), 2)
    course[insert_at:insert_at] = filler[: len(filler) // 2]
    course.extend(filler[len(filler) // 2:])
    # each clinician tells the details they habitually mention (a personal subset of the catalogue)
    details = tuple(detail for j, detail in enumerate(DIAGNOSIS_DETAILS.get(d.dx.key, ()))
                    if (writer.narrative_seed >> (j % 30)) & 1)
    if details:
        course.extend(dice.sample(details, dice.integer(0, min(len(details), int(round(4 * d.optional))))))


def _write_course_extras(d: _Draft) -> None:
    """Chronic problems, consults, new terms of the year, the writer's habits, admission labs and imaging."""
    f, dice, writer, course = d.f, d.dice, d.writer, d.sections["course"]
    # chronic problems, one line each: sicker patients get longer notes, as in real discharge summaries
    problems = d.pmh + [sec.label for sec in _SECONDARY if sec.key in f["sec_keys"]]
    for label in problems:
        if dice.chance(min(1.0, 0.35 * d.extent)):
            course.append(f"{label[0].upper()}{label[1:]}: {dice.pick(PROBLEM_ACTIONS)}.")
    if dice.chance(0.7 * d.optional):
        service = dice.pick(CONSULT_SERVICES)
        course.append(f"{service[0].upper()}{service[1:]} was consulted (Dr. {dice.pick(SURNAMES)}) "
                      f"{dice.pick(CONSULT_REASONS)}.")
    for first_year, sentence in NEW_TERMS:
        if d.cfg.time_new_terms_and_drugs and d.year >= first_year and \
                dice.chance(0.25 * float(_adoption(d.year, first_year, 2, d.drift))):
            course.append(sentence)
    course.extend(writer.stock)
    if writer.problem_list:  # problem-oriented writers list the course, prose writers tell it
        course[:] = [f"- {sentence}" for sentence in course]
    if writer.opener.endswith(","):  # "In brief, the patient..." runs on into the first sentence
        if course and not writer.problem_list and course[0][:1].isupper() and course[0][1:2].islower():
            course[0] = course[0][0].lower() + course[0][1:]
            course.insert(0, writer.opener)
    else:
        course.insert(0, writer.opener)
    results = []
    n_labs = dice.integer(2, 8) if dice.chance(d.optional) else 0
    for key in dice.sample(tuple(ADMISSION_LABS), n_labs):
        names, mean, sd, digits, unit = ADMISSION_LABS[key]
        value = max(0.1, mean + sd * dice.normal())
        number = f"{value:.{digits}f}"
        name = names[writer.lab_style % len(names)]
        results.append(f"{name}-{number}" if writer.lab_style == 1 else
                       (f"{name} {number} {unit}".strip() if writer.lab_style == 2 else f"{name} {number}"))
    if dice.chance(0.3 * d.optional):
        course.append(f"Procedures: {dice.pick(PROCEDURES)}.")
    if results:
        course.append("Admission labs: " + ", ".join(results) + ".")
    if dice.chance(0.8 * d.optional):
        study = dice.pick(IMAGING_STUDIES)
        finding = dice.pick(INCIDENTAL_FINDINGS + INCIDENTAL_MORE)
        course.append(f"{study[0].upper()}{study[1:]} also showed {finding}.")


def _write_diagnoses(d: _Draft) -> None:
    f, dice, dx, rec, style = d.f, d.dice, d.dx, d.rec, d.style
    comp = f["complication"]
    use_icd10 = d.cfg.time_icd10_transition and style["codes"] and (f["admit_day"] >= _ICD10_DAY) and \
        dice.chance(float(min(d.drift, 1.0)))
    code = dx.icd10 if (use_icd10 or not dx.icd9) else dx.icd9
    dx_lines = [f"1. {d.dx_label}" + (f" ({code})" if style["codes"] and code else "")]
    for sec in [s for s in _SECONDARY if s.key in f["sec_keys"] and d.documented()]:
        rec["secondary"].add(sec.key)
        dx_lines.append(f"{len(dx_lines) + 1}. {sec.label}")
    if f["hemoglobin"] < 10 and d.documented(0.8):
        rec["hemoglobin"] = True
        dx_lines.append(f"{len(dx_lines) + 1}. anemia")
    if f["sodium"] < 133 and d.documented(0.8):
        rec["sodium"] = True
        dx_lines.append(f"{len(dx_lines) + 1}. hyponatremia")
    if comp is not None and d.documented():
        rec["complication"] = True
        dx_lines.append(f"{len(dx_lines) + 1}. {_COMPLICATIONS[[c[0] for c in _COMPLICATIONS].index(comp)][1]}"
                        .replace(". a ", ". ").replace(". an ", ". "))
    for label in d.pmh:
        if dice.chance(0.7):
            dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    d.minor = dice.sample(_MINOR_DIAGNOSES, f["n_minor"])
    for label in d.minor:
        if d.documented(0.7):
            dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    if d.writer.problem_list is False and dice.chance(0.3):  # some prose writers run the diagnoses into one line
        dx_lines = ["; ".join(line.split(". ", 1)[1] for line in dx_lines)]
    d.sections["diagnoses"].extend(dx_lines)


def _write_medications(d: _Draft) -> None:
    f, dice, patient, writer = d.f, d.dice, d.patient, d.writer
    meds = [m for m in f["medications"] if dice.chance(0.95)] if f["disposition"] != "expired" else []
    if meds:
        for key in sorted(f["cond_keys"] | f["sec_keys"]):
            if key in CLASS_ALTERNATIVES and dice.chance(0.8 * d.optional):
                meds.append(CLASS_ALTERNATIVES[key][patient.integer(0, len(CLASS_ALTERNATIVES[key]) - 1)])
        for key in sorted(f["sec_keys"]) + list(d.minor):
            options = HOME_MEDICATIONS.get(key)
            if options and dice.chance(0.7 * d.optional):
                generic, brand, dose = options[patient.integer(0, len(options) - 1)]
                meds.append(f"{generic} ({brand}) {dose}" if brand != generic and dice.chance(writer.brand_names)
                            else f"{generic} {dose}")
        for item in patient.sample(OVER_THE_COUNTER, patient.integer(0, 3)):
            if dice.chance(0.8 * d.optional):
                meds.append(item)
    bullet = ("{i}. {m}", "- {m}", "* {m}")[writer.slot % 3]
    d.sections["medications"].extend(bullet.format(i=i + 1, m=m) for i, m in enumerate(meds))


def _write_disposition(d: _Draft) -> None:
    f, dice, disposition = d.f, d.dice, d.sections["disposition"]
    disp = f["disposition"]
    if disp == "expired":
        disposition.append(f"Expired on hospital day {int(f['los'])}.")
    elif d.documented(1.1):
        d.rec["disposition"] = True
        disposition.append(dice.pick(_DISPOSITION_TEXT[disp]))
    else:
        disposition.append("Discharged.")
    if d.ortho and d.dx.surgical:
        disposition.append("Activity: weight bearing as tolerated." if dice.chance(0.8)
                           else "Activity: touch-down weight bearing on the operative side.")


def _write_follow_up(d: _Draft) -> None:
    f, dice, patient, fu = d.f, d.dice, d.patient, d.sections["follow_up"]
    if f["disposition"] == "expired":
        return
    if f["follow_up"] and d.documented(1.05):
        d.rec["follow_up"] = True
        if d.ortho:
            fu.append("Follow up in orthopaedic clinic in 2 weeks for wound check and staple removal.")
        else:
            fu.append(f"Appointment with primary care physician within {dice.integer(3, 7)} days.")
        when = _date(f["discharge_day"] + dice.integer(3, 14), d.writer.date_format)
        if dice.chance(0.5):
            fu.append(f"Prescriptions were sent to {patient.pick(PHARMACIES)} on {patient.pick(STREETS)}.")
        fu.append(f"Dr. {patient.pick(FIRST_NAMES)} {patient.pick(SURNAMES)}, {patient.pick(CLINICS)} ({patient.pick(NEIGHBOURHOODS)}), "
                  f"{when} at {dice.integer(8, 16)}:{dice.pick(('00', '15', '30', '45'))}, "
                  f"phone ({dice.pick(('212', '718', '516', '347', '646'))}) 555-{dice.integer(100, 199):04d}.")
    elif not f["follow_up"] and dice.chance(0.7):
        fu.append("Follow up with primary care physician as needed; no appointment was scheduled.")
    if dice.chance(0.5):
        fu.append("Seek urgent care for fevers, chest pain, shortness of breath or worsening symptoms."
                  if not d.ortho else "Call the office for fevers above 101.5, wound drainage or calf pain.")


def _note_headers(d: _Draft) -> dict[str, str]:
    """The section headers of the year's template, in the writer's case."""
    switch = d.cfg.time_template_change and d.dice.chance(float(_adoption(d.year, d.profile.template_change_year, 1,
                                                                          d.drift)))
    headers = dict(d.style["headers"])
    if switch:
        headers.update(d.style["headers_new"])
    if d.writer.header_case == 1:
        headers = {k: v.upper() for k, v in headers.items()}
    elif d.writer.header_case == 2:
        headers = {k: (v.title().replace("By", "by").replace("And", "and") if any(ch.islower() for ch in v) else v)
                   for k, v in headers.items()}
    return headers


def _note_parts(d: _Draft, headers: dict[str, str]) -> list[str]:
    """The title block, the sections in the template's order, the optional exam, diet and letter, the signature."""
    f, dice, writer, patient = d.f, d.dice, d.writer, d.patient
    dates_written = d.documented(0.9)
    d.rec["los"] = d.rec.get("los", False) or dates_written
    top = d.style["title"]
    if dates_written:
        top += (f"\nAdmission Date: {_date(f['admit_day'], writer.date_format)}   "
                f"Discharge Date: {_date(f['discharge_day'], writer.date_format)}")
    top += f"\nAttending: Dr. {dice.pick(FIRST_NAMES)} {dice.pick(SURNAMES)}"
    parts = [top]
    for key in d.style["order"]:
        body = d.sections[key]
        if not body:
            continue
        joiner = "\n" if key in ("diagnoses", "medications") or (key == "course" and writer.problem_list) else " "
        parts.append(headers[key] + "\n" + joiner.join(body))
    exam = [f"{heading}: {finding}" for system, (heading, finding) in list(writer.exam_wording.items())
            [:writer.exam_systems]]
    d.fmt["sex_word"] = d.sex_word
    if dice.chance(d.optional):
        parts.insert(len(parts) - 2, "Discharge Exam:\n" + ("\n" if writer.problem_list else "; ").join(exam))
    if dice.chance(0.5 * d.optional):
        parts.insert(len(parts) - 1, dice.pick(DIETS) + ". " + dice.pick(CONDITION_AT_DISCHARGE))
    if writer.writes_letter and f["disposition"] != "expired" and dice.chance(d.optional):
        letter = [f"Dear {'Ms.' if f['female'] else 'Mr.'} {patient.pick(SURNAMES)},", dice.pick(LETTER_OPENINGS)]
        letter.append(f"You came to the hospital with {LAY_TERMS.get(d.dx.key, 'an illness')}.")
        advice = tuple(a for j, a in enumerate(LETTER_ADVICE) if (writer.narrative_seed >> (j % 30 + 1)) & 1)
        letter.extend(dice.sample(advice or LETTER_ADVICE, dice.integer(1, 3)))
        letter.append("We wish you the best. Your care team")
        parts.append("Discharge Instructions:\n" + " ".join(letter))
    sign = f"{writer.name}, {writer.credential}"
    if writer.dictates:
        sign = (f"Dictated by: {sign}\nD: {_date(f['discharge_day'], 0)} {dice.integer(7, 19):02d}:"
                f"{dice.integer(0, 59):02d}\nT: {_date(f['discharge_day'] + dice.integer(0, 2), 0)}\n"
                f"Job #: {dice.integer(100000, 999999)}")
    else:
        sign = f"Electronically signed by {sign}, {writer.role}"
    parts.append(sign)
    return parts


def _finish_text(d: _Draft, parts: list[str]) -> str:
    """Join the parts and print them in the writer's hand: wording, transcription, typos, then the copied history."""
    dice, writer = d.dice, d.writer
    text = "\n\n".join(parts)
    text = text.format_map(d.fmt) if "{" in text else text
    text = reword(text, writer, d.pattern)
    if writer.dictates and dice.chance(0.5):  # a word lost in transcription
        words = text.split(" ")
        k = 20 + dice.integer(0, max(0, len(words) - 40))
        if k < len(words) and words[k].isalpha():  # a plain word, never a header, number or line break
            words[k] = dice.pick(DICTATION_MARKS)
        text = " ".join(words)
    text = add_typos(text, writer.typo_rate, dice)
    return text.replace(_PMH_SLOT, d.pmh_text).replace(_SOCIAL_SLOT, d.social_text)


def _write_note(f: dict, profile: HospitalProfile, cfg: SimulationConfig, dice: _Dice, writer: Clinician,
                pattern: re.Pattern, patient: _Dice, previous: dict | None = None) -> tuple[str, int, int, dict]:
    """Write one discharge summary from an admission's facts in the style of clinician ``writer``.

    Returns (text, facts in record, facts written, record). ``record`` says which risk facts the note states (the
    keys ``conditions``, ``secondary``, ``prior``, ``complication``, ``los``, ``hemoglobin``, ``creatinine``,
    ``sodium``, ``ejection_fraction``, ``lives_alone``, ``housing_unstable``, ``substance_use``, ``disposition``,
    ``follow_up``) and carries the history the patient's next note may copy forward (``carry``).

    ``f`` holds the admission's recorded facts only; the label and the true probability are never passed in, so
    no note can state them. Each fact is written with probability documentation_probability x the hospital's
    documentation_factor x the fact's salience; the clinician changes how a fact is worded, never whether it is
    written, except that a history copied forward from ``previous`` states the facts that note stated (all still
    true: conditions only accumulate and social facts are the patient's) and misses conditions gained since.
    ``patient`` is the patient's own dice: the same surgical history, allergies and work in every note.
    """
    d = _Draft(f, profile, cfg, dice, writer, pattern, patient, previous)
    # the steps draw in this order; changing it changes every note of a seed
    _write_reason(d)
    _write_history(d)
    _write_course_facts(d)
    _write_course_narrative(d)
    _write_course_extras(d)
    _write_diagnoses(d)
    _write_medications(d)
    _write_disposition(d)
    _write_follow_up(d)
    text = _finish_text(d, _note_parts(d, _note_headers(d)))
    return text, d.counts[0], d.counts[1], d.rec


def _described_by_refinement(cond_keys: set[str]) -> set[str]:
    """Base conditions not listed separately because a refinement (e.g. metastatic cancer) describes them."""
    return {base for refined, base in _REFINES.items() if refined in cond_keys}


def _join(items: list[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]

