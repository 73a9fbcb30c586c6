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
from helpers.simulator.hospitals import NOTE_STYLES, HospitalProfile
from helpers.simulator.clinicians import Clinician, add_typos, reword
from helpers.simulator.lexicon import ADMISSION_LABS, ALLERGENS, CLINICS, CONSULT_SERVICES, DIAGNOSIS_DETAILS, \
    DICTATION_MARKS, \
    FAMILY_HISTORY, FIRST_NAMES, HEDGES, OVER_THE_COUNTER, ARRIVALS, ONSETS, PROCEDURES, REVIEW_OF_SYSTEMS, CONSULT_REASONS, MORE_FAMILY_HISTORY, MORE_OCCUPATIONS, NARRATIVE_MORE, INCIDENTAL_MORE, CLASS_ALTERNATIVES, CONDITION_AT_DISCHARGE, DIETS, LAY_TERMS, LETTER_ADVICE, LETTER_OPENINGS, NARRATIVE_EXTRA, PHARMACIES, STREETS, HOME_MEDICATIONS, IMAGING_STUDIES, INCIDENTAL_FINDINGS, NEIGHBOURHOODS, NEW_TERMS, \
    OCCUPATIONS, PAST_SURGERY, PROBLEM_ACTIONS, REACTIONS, SURNAMES
from helpers.simulator.timeline import _ICD10_DAY, _adoption, _date

# ----------------------------------------------------------------------------------------------------------------
# Notes
# ----------------------------------------------------------------------------------------------------------------



# General narrative sentences shared by the general hospitals (each dialect rewrites them). None of them mentions a
# future hospital stay or anything that depends on the label.
_FILLER_GENERAL = (
    "Vital signs were reviewed each morning and remained within acceptable limits.",
    "On examination {he} was alert, oriented and in no acute distress.",
    "Blood pressure was {sbp}/{dbp} with a heart rate of {hr} on the day of discharge.",
    "Oxygen saturation was {spo2} percent on room air at rest.",
    "{He} tolerated a regular diet without nausea.",
    "Pain was controlled with oral analgesics.",
    "Physical therapy evaluated {him} and recommended a rolling walker for longer distances.",
    "Home medications were reviewed with pharmacy and reconciled at discharge.",
    "Electrolytes were repleted as needed.",
    "{He} was ambulating in the hallway with a steady gait.",
    "Case management met with {him} and {his} family to discuss discharge needs.",
    "Deep vein thrombosis prophylaxis was provided with subcutaneous heparin.",
    "The plan of care was discussed with {him} at the bedside and {he} agreed with it.",
    "A basic metabolic panel on the morning of discharge was unremarkable apart from the values noted.",
    "{He} remained afebrile for more than 48 hours before discharge.",
    "Telemetry was discontinued after the first day.",
    "Bowel regimen was continued throughout the stay.",
    "Nutrition was consulted and recommended oral supplements.",
    "Glucose was monitored before meals and at bedtime.",
    "Intravenous access was removed prior to discharge.",
    "{He} slept well overnight and reported improved energy.",
    "Incentive spirometry was encouraged.",
    "The attending physician examined {him} on the day of discharge.",
    "Labs were trended daily and reviewed with the team.",
    "Medication teaching was completed with {him} and {his} caregiver.",
    "{He} was seen by the social worker, who reviewed community resources.",
    "Fall precautions were maintained during the stay.",
    "Urine output was adequate throughout.",
    "{He} expressed understanding of the discharge instructions.",
    "Temperature maximum over the last day was {temp} degrees Fahrenheit.",
    "Respiratory rate was {rr} and unlabored.",
    "Skin examination was notable only for mild dryness.",
    "Mental status remained at baseline per family.",
    "The team reviewed goals of care and {he} wishes to remain full code.",
    "Outside records were obtained and reviewed.",
    "Weight on the day of discharge was {weight} kilograms.",
    "Home oxygen needs were assessed with an ambulatory saturation test.",
    "No new medication allergies were identified.",
    "Chest radiograph on the day of discharge showed no new findings.",
    "{He} was encouraged to increase activity gradually at home.",
)

_FILLER_ORTHO = (
    "Pain was well controlled with a multimodal regimen.",
    "{He} worked with physical therapy twice daily.",
    "Dressing was changed on postoperative day 2.",
    "Neurovascular examination of the operative extremity remained intact.",
    "Vital signs remained stable: blood pressure {sbp}/{dbp}, heart rate {hr}.",
    "{He} tolerated a regular diet.",
    "Foley catheter was removed on postoperative day 1.",
    "Occupational therapy reviewed activities of daily living.",
    "Cryotherapy was used for swelling.",
    "Range of motion improved daily.",
    "{He} climbed stairs with supervision before discharge.",
    "Postoperative radiographs showed well-positioned components.",
    "Antibiotic prophylaxis was completed within 24 hours of surgery.",
    "Incentive spirometry was encouraged.",
    "Bowel regimen was continued while on opioid analgesia.",
    "{He} was independent with transfers by the day of discharge.",
    "Oxygen saturation was {spo2} percent on room air.",
    "Home exercise program was reviewed with {him}.",
    "Temperature maximum was {temp} degrees Fahrenheit.",
    "Hemoglobin was checked on postoperative day 1.",
    "The surgical team saw {him} on morning rounds.",
    "Ice and elevation were encouraged.",
    "Case management arranged durable medical equipment.",
    "{He} expressed understanding of the discharge instructions.",
)

# Dialects: canonical phrase -> hospital wording. Applied to the whole note, longest phrase first.
_DIALECT_ACADEMIC = {
    "heart failure": "heart failure", "the patient": "the patient",
}
_DIALECT_COMMUNITY = {
    "the patient": "pt", "The patient": "Pt", "heart failure": "CHF",
    "chronic obstructive pulmonary disease": "COPD", "diabetes mellitus": "DM2", "chronic kidney disease": "CKD",
    "history of": "h/o", "shortness of breath": "SOB", "blood pressure": "BP", "heart rate": "HR",
    "without": "w/o", "hemoglobin": "Hgb", "creatinine": "Cr", "ejection fraction": "EF", "physical therapy": "PT",
    "hypertension": "HTN", "hyperlipidemia": "HLD", "atrial fibrillation": "afib", "intravenous": "IV",
    "by mouth": "PO", "twice daily": "BID", "three times daily": "TID", "four times daily": "QID",
    "as needed": "PRN", "daily": "qd", "Oxygen saturation": "SpO2", "room air": "RA",
    "gastroesophageal reflux disease": "GERD", "obstructive sleep apnea": "OSA",
    "coronary artery disease": "CAD", "myocardial infarction": "MI", "urinary tract infection": "UTI",
    "skilled nursing facility": "SNF", "primary care physician": "PCP",
}
_DIALECT_SUBURBAN = {
    "heart failure": "congestive heart failure", "the patient": "patient", "The patient": "Patient",
    "history of": "hx of", "hemoglobin": "Hb", "diabetes mellitus": "diabetes", "chronic kidney disease": "CKD",
    "intravenous": "IV", "primary care physician": "primary doctor", "skilled nursing facility": "nursing home",
}
_DIALECT_ORTHO = {
    "the patient": "pt", "The patient": "Pt", "heart failure": "CHF",
    "chronic obstructive pulmonary disease": "COPD", "diabetes mellitus": "DM", "chronic kidney disease": "CKD",
    "postoperative day": "POD", "physical therapy": "PT", "occupational therapy": "OT",
    "total knee arthroplasty": "TKA", "total hip arthroplasty": "THA", "total shoulder arthroplasty": "TSA",
    "weight bearing as tolerated": "WBAT", "deep vein thrombosis": "DVT", "history of": "h/o",
    "blood pressure": "BP", "heart rate": "HR", "twice daily": "BID", "as needed": "PRN",
    "intravenous": "IV", "hemoglobin": "Hgb", "status post": "s/p", "hypertension": "HTN",
    "skilled nursing facility": "SNF", "acute rehabilitation": "acute rehab",
}

_STYLES: dict[str, dict] = {
    "academic": {
        "title": "DISCHARGE SUMMARY",
        "headers": {"reason": "Chief Complaint:", "history": "History of Present Illness:",
                    "course": "Brief Hospital Course:", "diagnoses": "Discharge Diagnoses:",
                    "medications": "Discharge Medications:", "disposition": "Discharge Disposition:",
                    "follow_up": "Followup Instructions:"},
        "headers_new": {"reason": "Reason for Admission:", "course": "Hospital Course by Problem:",
                        "follow_up": "Follow-up Appointments:"},
        "order": ("reason", "history", "course", "diagnoses", "medications", "disposition", "follow_up"),
        "dialect": _DIALECT_ACADEMIC, "codes": True, "filler": _FILLER_GENERAL,
        "man": "man", "woman": "woman",
    },
    "community": {
        "title": "DISCHARGE SUMMARY - MEDICINE",
        "headers": {"reason": "REASON FOR ADMISSION:", "history": "HPI/PMH/SH:", "course": "HOSPITAL COURSE:",
                    "diagnoses": "DX:", "medications": "DISCHARGE MEDS:", "disposition": "DISPO:",
                    "follow_up": "F/U:"},
        "headers_new": {"medications": "MEDICATION RECONCILIATION:", "course": "ASSESSMENT AND PLAN BY PROBLEM:"},
        "order": ("reason", "history", "course", "medications", "diagnoses", "disposition", "follow_up"),
        "dialect": _DIALECT_COMMUNITY, "codes": True, "filler": _FILLER_GENERAL,
        "man": "M", "woman": "F",
    },
    "suburban": {
        "title": "Discharge Summary",
        "headers": {"diagnoses": "Admission and Discharge Diagnoses:", "reason": "Chief Complaint:",
                    "history": "History:", "course": "Hospital Course:", "medications": "Medications at Discharge:",
                    "disposition": "Disposition:", "follow_up": "Follow Up:"},
        "headers_new": {"reason": "Reason for Hospitalization:", "diagnoses": "Problem List:"},
        "order": ("diagnoses", "reason", "history", "course", "medications", "disposition", "follow_up"),
        "dialect": _DIALECT_SUBURBAN, "codes": False, "filler": _FILLER_GENERAL,
        "man": "male", "woman": "female",
    },
    "orthopaedic": {
        "title": "ORTHOPAEDIC SURGERY DISCHARGE NOTE",
        "headers": {"reason": "Procedure/Indication:", "history": "History:", "course": "Postoperative Course:",
                    "diagnoses": "Diagnoses:", "medications": "Medications:", "disposition": "Disposition:",
                    "follow_up": "Follow-up:"},
        "headers_new": {"course": "Postoperative Course (ERAS pathway):", "follow_up": "Clinic Follow-up:"},
        "order": ("reason", "history", "course", "diagnoses", "medications", "disposition", "follow_up"),
        "dialect": _DIALECT_ORTHO, "codes": True, "filler": _FILLER_ORTHO,
        "man": "M", "woman": "F",
    },
}


assert tuple(_STYLES) == NOTE_STYLES

# absent conditions that notes commonly state as pertinent negatives
_NEGATABLE = ("chf", "copd", "diabetes", "ckd", "cancer", "mi", "cvd")
_COMPLICATION_NEGATIVES = {
    "wound_infection": "Incision clean, dry and intact without erythema or drainage.",
    "dvt_pe": "Calves soft and non-tender, no signs of deep vein thrombosis.",
    "postop_anemia": "No transfusion was required.",
    "fall": "No falls during the stay.",
    "urinary_retention": "Voiding without difficulty after catheter removal.",
    "ileus": "Passing flatus and tolerating diet, no ileus.",
}
_COMPLICATION_COURSE = {
    "wound_infection": ("On postoperative day {d} the incision developed erythema and serous drainage, consistent "
                        "with a superficial surgical site infection; {he} was started on cephalexin."),
    "dvt_pe": ("On postoperative day {d} {he} developed calf swelling and duplex ultrasound confirmed a deep vein "
               "thrombosis; therapeutic anticoagulation was started."),
    "postop_anemia": ("Hemoglobin fell to {hgb} on postoperative day {d} with lightheadedness, consistent with acute "
                      "blood loss anemia, and {he} was transfused one unit of packed red blood cells."),
    "fall": "On postoperative day {d} {he} had an inpatient fall while walking to the bathroom without assistance.",
    "urinary_retention": ("{He} developed postoperative urinary retention requiring straight catheterization on "
                          "postoperative day {d}."),
    "ileus": "Course was complicated by postoperative ileus managed with bowel rest until postoperative day {d}.",
}
_DISPOSITION_TEXT = {
    "home": ("Discharged home.", "Home with family.", "Discharged home in stable condition."),
    "home with services": ("Discharged home with visiting nurse services.", "Home with home health services.",
                           "Home with visiting nurse and home physical therapy."),
    "skilled nursing facility": ("Discharged to a skilled nursing facility for short-term rehabilitation.",
                                 "Skilled nursing facility.", "Transferred to a skilled nursing facility."),
    "acute rehabilitation": ("Discharged to acute rehabilitation.", "Acute rehabilitation facility.",
                             "Transferred to an inpatient acute rehabilitation unit."),
    "left against medical advice": ("The patient left against medical advice after risks were discussed.",
                                    "Left against medical advice."),
}


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
    style_name = profile.note_style
    style = _STYLES[style_name]
    year = f["year"]
    drift = cfg.drift_strength
    p_doc = min(1.0, cfg.documentation_probability * profile.documentation_factor)
    counts = [0, 0]  # facts in the record, facts written
    rec: dict = {"conditions": set(), "secondary": set()}

    def documented(salience: float = 1.0) -> bool:
        counts[0] += 1
        hit = dice.chance(min(1.0, p_doc * salience))
        counts[1] += hit
        return hit

    fmt = dict(_pronouns(f["female"]))
    fmt.update(sbp=dice.integer(102, 148), dbp=dice.integer(58, 88), hr=dice.integer(60, 98),
               spo2=dice.integer(93, 99), temp=f"{98.0 + dice.u() * 1.2:.1f}", rr=dice.integer(14, 20),
               weight=dice.integer(52, 110))
    dx: _Diagnosis = f["dx"]
    ortho = style_name == "orthopaedic"
    side = dice.pick(("right", "left"))
    sections: dict[str, list[str]] = {k: [] for k in style["order"]}
    new_terms = cfg.time_new_terms_and_drugs
    # how much this note tells: the writer's verbosity, the day's time pressure and the length of the stay
    extent = writer.verbosity * math.exp(0.6 * dice.normal()) * (f["los"] / 4.0) ** 0.35
    optional = min(1.0, 0.55 * extent)  # chance of each optional section (exam, labs, family history...)

    # --- reason for admission
    sex_word = style["woman"] if f["female"] else style["man"]
    age = int(f["age"])
    dx_label = dx.label.replace("hip fracture", f"{side} hip fracture")
    said = f"{dice.pick(HEDGES)} {dx_label}" if dice.chance(writer.hedge_rate) else dx_label
    if ortho and dx.surgical:
        sections["reason"].append(f"{dx_label[0].upper()}{dx_label[1:]}.")
        sections["reason"].append(f"{age} y/o {sex_word}.")
    elif style_name == "community":
        sections["reason"].append(f"{age}{sex_word} admitted with {said}.")
    else:
        sections["reason"].append(f"{age}-year-old {sex_word} admitted with {said}.")

    # --- history: HPI, pertinent negatives, past history, prior stays, social history
    hist = sections["history"]
    symptoms = dice.sample(dx.symptoms, 1 + dice.integer(0, max(0, len(dx.symptoms) - 1)))
    onset = "" if dx.surgical else f" {dice.pick(ONSETS)}"  # elective surgery has no acute onset
    hist.append(f"The patient presented with {_join(symptoms)}{onset}.")
    if dice.chance(0.5 * optional):
        hist.append(dice.pick(ARRIVALS))
    if dice.chance(0.4 * optional):
        hist.append(f"Review of systems otherwise negative for {_join(dice.sample(REVIEW_OF_SYSTEMS, 3))}.")
    if f["after_early_return"] and documented(0.9):
        hist.append(f"{fmt['He']} was recently discharged from this hospital {f['days_since_last']} days ago.")
    negatable_symptoms = ("chest pain", "fevers", "headache", "abdominal pain", "palpitations", "dysuria")
    denied = [s for s in dice.sample(negatable_symptoms, 2) if s not in " ".join(symptoms)]
    if denied:
        hist.append(f"Denies {_join(denied, 'or')}.")
    if cfg.time_covid and year >= 2020 and dx.key != "covid" and \
            dice.chance(0.9 * float(_adoption(year, 2020, 1, drift))):
        hist.append("SARS-CoV-2 PCR was negative on admission.")
    described = _described_by_refinement(f["cond_keys"])
    # copy-forward: the previous note's past and social history, word for word as printed there (its writer's
    # wording and typos); sentences written here are printed in this writer's style, once, so they can be carried on
    copied = previous is not None and dice.chance(writer.copy_forward)

    def printed(sentence: str) -> str:
        return add_typos(reword(sentence.format_map(fmt), writer, pattern), writer.typo_rate, dice)

    if copied:
        pmh_keys = [k for k in previous["pmh_keys"]]
        pmh = [_CONDITIONS[_COND_INDEX[k]].label for k in pmh_keys]
        pmh_text = previous["pmh_text"]
    else:
        pmh_keys = [c.key for c in _CONDITIONS if c.key in f["cond_keys"] and c.key not in described
                    and documented()]
        pmh = [_CONDITIONS[_COND_INDEX[k]].label for k in pmh_keys]
        pmh_text = printed(f"Past medical history is notable for {_join(pmh)}.") if pmh else ""
    if pmh_text:
        hist.append(_PMH_SLOT)
    rec["conditions"].update(pmh_keys)
    psh = patient.sample(PAST_SURGERY, patient.integer(0, 3))
    if psh and dice.chance(0.9 * optional):
        hist.append(f"Past surgical history: {_join(psh)}.")
    for key in _NEGATABLE:
        if key not in f["cond_keys"] and dice.chance(cfg.negation_probability * 0.35):
            hist.append(f"No history of {_CONDITIONS[_COND_INDEX[key]].label}.")
    prior = f["prior_12m"]
    if prior > 0 and documented(0.8):
        rec["prior"] = True
        hist.append(f"{fmt['He']} has had {prior} hospitalization{'s' if prior > 1 else ''} in the past 12 months.")
    elif prior == 0 and dice.chance(0.3):
        hist.append("No hospitalizations in the past year.")
    social = []
    if copied and previous["social_text"]:
        social_text = previous["social_text"]
        rec.update(previous["social_facts"])
    else:
        if f["lives_alone"] and documented(0.7):
            social.append("Lives alone")
            rec["lives_alone"] = True
        elif not f["lives_alone"] and dice.chance(0.4):
            social.append(dice.pick(("Lives with spouse", "Lives with family", "Lives with daughter")))
        if f["housing_unstable"] and documented(0.7):
            social.append("currently without stable housing and staying in a shelter")
            rec["housing_unstable"] = True
        if f["substance_use"] and documented(0.75):
            social.append("reports daily alcohol use")
            rec["substance_use"] = True
        elif not f["substance_use"] and dice.chance(cfg.negation_probability * 0.6):
            social.append("denies alcohol or drug use")
        if social and dice.chance(0.5):
            social.append(patient.pick(OCCUPATIONS + MORE_OCCUPATIONS))
        social_text = printed("Social history: " + "; ".join(social) + ".") if social else ""
    if social_text:
        hist.append(_SOCIAL_SLOT)
    if dice.chance(0.6 * optional):
        hist.append(f"Family history: {_join(patient.sample(FAMILY_HISTORY + MORE_FAMILY_HISTORY, patient.integer(1, 2)))}.")
    allergies = patient.sample(ALLERGENS, min(patient.integer(0, 4), patient.integer(0, 4)))
    if allergies:
        reacts = [f"{a} ({patient.pick(REACTIONS)})" if writer.lists_allergy_reactions else a for a in allergies]
        hist.append(f"Allergies: {', '.join(reacts)}.")
    else:
        hist.append(dice.pick(("Allergies: NKDA.", "No known drug allergies.", "Allergies: none known.")))
    rec["carry"] = {"pmh_keys": list(pmh_keys), "pmh_text": pmh_text, "social_text": social_text,
                    "social_facts": {k: rec[k] for k in ("lives_alone", "housing_unstable", "substance_use")
                                     if k in rec}}

    # --- hospital course: diagnosis narrative, complication, labs, filler
    course = sections["course"]
    comp = f["complication"]
    n_course = len(dx.course) if dice.chance(0.6) else max(1, len(dx.course) - 1)
    story = list(dx.course[:n_course])
    if comp is not None:  # a complicated stay is not described as uncomplicated
        story = [s.replace("an uncomplicated ", "a ").replace(" without complication", "") for s in story]
    course.extend(story)
    if comp is not None and documented(1.15):
        rec["complication"] = True
        day = dice.integer(1, max(1, min(3, int(f["los"]) - 1)))
        course.append(_COMPLICATION_COURSE[comp].replace("{d}", str(day)).replace("{hgb}", f"{f['hemoglobin']:.1f}"))
    if dx.surgical:
        for key, sentence in _COMPLICATION_NEGATIVES.items():
            if key != comp and dice.chance(cfg.negation_probability * (0.6 if ortho else 0.2)):
                course.append(sentence)
    labs = []
    if documented(0.9):
        labs.append(f"creatinine {f['creatinine']:.1f}")
        rec["creatinine"] = True
    if documented(0.9):
        labs.append(f"hemoglobin {f['hemoglobin']:.1f}")
        rec["hemoglobin"] = True
    if documented(0.8):
        labs.append(f"sodium {f['sodium']}")
        rec["sodium"] = True
    if labs:
        course.append(f"Discharge labs: {', '.join(labs)}.")
    if not math.isnan(f["ejection_fraction"]) and documented(0.9):
        rec["ejection_fraction"] = True
        course.append(f"Echocardiogram showed an ejection fraction of {int(f['ejection_fraction'])} percent.")
    if documented(0.6):
        rec["los"] = True
        course.append(f"Total length of stay was {int(f['los'])} days.")
    pool = style["filler"] + NARRATIVE_EXTRA + NARRATIVE_MORE
    keep = max(3, int(round(writer.narrative_share * len(pool))))
    start = writer.narrative_seed % len(pool)
    filler_pool = tuple((pool + pool)[start:start + keep])
    n_filler = profile.note_filler_sentences * cfg.note_length_scale * extent * math.exp(0.6 * dice.normal())
    n_filler = int(round(n_filler))
    filler: list[str] = []
    while len(filler) < n_filler:  # draw without repeats until the pool is used up, then start a new round
        filler.extend(dice.sample(filler_pool, min(len(filler_pool), n_filler - len(filler))))
    filler = [sentence.format_map(fmt) for sentence in filler]
    # long stays are told day by day, which pushes later sections further into the note
    for i, sentence in enumerate(filler):
        if i % 4 == 3 and i // 4 + 2 <= f["los"]:
            filler[i] = f"On {'postoperative' if ortho else 'hospital'} day {i // 4 + 2}, " \
                        f"{sentence[0].lower()}{sentence[1:]}"
    insert_at = min(len(course), 2)
    course[insert_at:insert_at] = filler[: len(filler) // 2]
    course.extend(filler[len(filler) // 2:])
    # each clinician tells the details they habitually mention (a personal subset of the catalogue)
    details = tuple(d for j, d in enumerate(DIAGNOSIS_DETAILS.get(dx.key, ()))
                    if (writer.narrative_seed >> (j % 30)) & 1)
    if details:
        course.extend(dice.sample(details, dice.integer(0, min(len(details), int(round(4 * optional))))))
    # chronic problems, one line each: sicker patients get longer notes, as in real discharge summaries
    problems = pmh + [sec.label for sec in _SECONDARY if sec.key in f["sec_keys"]]
    for label in problems:
        if dice.chance(min(1.0, 0.35 * extent)):
            course.append(f"{label[0].upper()}{label[1:]}: {dice.pick(PROBLEM_ACTIONS)}.")
    if dice.chance(0.7 * optional):
        service = dice.pick(CONSULT_SERVICES)
        course.append(f"{service[0].upper()}{service[1:]} was consulted (Dr. {dice.pick(SURNAMES)}) "
                      f"{dice.pick(CONSULT_REASONS)}.")
    for first_year, sentence in NEW_TERMS:
        if new_terms and year >= first_year and dice.chance(0.25 * float(_adoption(year, first_year, 2, drift))):
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
    n_labs = dice.integer(2, 8) if dice.chance(optional) else 0
    for key in dice.sample(tuple(ADMISSION_LABS), n_labs):
        names, mean, sd, digits, unit = ADMISSION_LABS[key]
        value = max(0.1, mean + sd * dice.normal())
        number = f"{value:.{digits}f}"
        name = names[writer.lab_style % len(names)]
        results.append(f"{name}-{number}" if writer.lab_style == 1 else
                       (f"{name} {number} {unit}".strip() if writer.lab_style == 2 else f"{name} {number}"))
    if dice.chance(0.3 * optional):
        course.append(f"Procedures: {dice.pick(PROCEDURES)}.")
    if results:
        course.append("Admission labs: " + ", ".join(results) + ".")
    if dice.chance(0.8 * optional):
        study = dice.pick(IMAGING_STUDIES)
        finding = dice.pick(INCIDENTAL_FINDINGS + INCIDENTAL_MORE)
        course.append(f"{study[0].upper()}{study[1:]} also showed {finding}.")

    # --- diagnoses
    use_icd10 = cfg.time_icd10_transition and style["codes"] and (f["admit_day"] >= _ICD10_DAY) and \
        dice.chance(float(min(drift, 1.0)))
    code = dx.icd10 if (use_icd10 or not dx.icd9) else dx.icd9
    dx_lines = [f"1. {dx_label}" + (f" ({code})" if style["codes"] and code else "")]
    for sec in [s for s in _SECONDARY if s.key in f["sec_keys"] and documented()]:
        rec["secondary"].add(sec.key)
        dx_lines.append(f"{len(dx_lines) + 1}. {sec.label}")
    if f["hemoglobin"] < 10 and documented(0.8):
        rec["hemoglobin"] = True
        dx_lines.append(f"{len(dx_lines) + 1}. anemia")
    if f["sodium"] < 133 and documented(0.8):
        rec["sodium"] = True
        dx_lines.append(f"{len(dx_lines) + 1}. hyponatremia")
    if comp is not None and documented():
        rec["complication"] = True
        dx_lines.append(f"{len(dx_lines) + 1}. {_COMPLICATIONS[[c[0] for c in _COMPLICATIONS].index(comp)][1]}"
                        .replace(". a ", ". ").replace(". an ", ". "))
    for label in pmh:
        if dice.chance(0.7):
            dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    minor = dice.sample(_MINOR_DIAGNOSES, f["n_minor"])
    for label in minor:
        if documented(0.7):
            dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    if writer.problem_list is False and dice.chance(0.3):  # some prose writers run the diagnoses into one line
        dx_lines = ["; ".join(line.split(". ", 1)[1] for line in dx_lines)]
    sections["diagnoses"].extend(dx_lines)

    # --- medications
    meds = [m for m in f["medications"] if dice.chance(0.95)] if f["disposition"] != "expired" else []
    if meds:
        for key in sorted(f["cond_keys"] | f["sec_keys"]):
            if key in CLASS_ALTERNATIVES and dice.chance(0.8 * optional):
                meds.append(CLASS_ALTERNATIVES[key][patient.integer(0, len(CLASS_ALTERNATIVES[key]) - 1)])
        for key in sorted(f["sec_keys"]) + list(minor):
            options = HOME_MEDICATIONS.get(key)
            if options and dice.chance(0.7 * optional):
                generic, brand, dose = options[patient.integer(0, len(options) - 1)]
                meds.append(f"{generic} ({brand}) {dose}" if brand != generic and dice.chance(writer.brand_names)
                            else f"{generic} {dose}")
        for item in patient.sample(OVER_THE_COUNTER, patient.integer(0, 3)):
            if dice.chance(0.8 * optional):
                meds.append(item)
    bullet = ("{i}. {m}", "- {m}", "* {m}")[writer.slot % 3]
    sections["medications"].extend(bullet.format(i=i + 1, m=m) for i, m in enumerate(meds))

    # --- disposition
    disp = f["disposition"]
    if disp == "expired":
        sections["disposition"].append(f"Expired on hospital day {int(f['los'])}.")
    elif documented(1.1):
        rec["disposition"] = True
        sections["disposition"].append(dice.pick(_DISPOSITION_TEXT[disp]))
    else:
        sections["disposition"].append("Discharged.")
    if ortho and dx.surgical:
        sections["disposition"].append("Activity: weight bearing as tolerated." if dice.chance(0.8)
                                       else "Activity: touch-down weight bearing on the operative side.")

    # --- follow-up
    fu = sections["follow_up"]
    if disp != "expired":
        if f["follow_up"] and documented(1.05):
            rec["follow_up"] = True
            if ortho:
                fu.append("Follow up in orthopaedic clinic in 2 weeks for wound check and staple removal.")
            else:
                fu.append(f"Appointment with primary care physician within {dice.integer(3, 7)} days.")
            when = _date(f["discharge_day"] + dice.integer(3, 14), writer.date_format)
            if dice.chance(0.5):
                fu.append(f"Prescriptions were sent to {patient.pick(PHARMACIES)} on {patient.pick(STREETS)}.")
            fu.append(f"Dr. {patient.pick(FIRST_NAMES)} {patient.pick(SURNAMES)}, {patient.pick(CLINICS)} ({patient.pick(NEIGHBOURHOODS)}), "
                      f"{when} at {dice.integer(8, 16)}:{dice.pick(('00', '15', '30', '45'))}, "
                      f"phone ({dice.pick(('212', '718', '516', '347', '646'))}) 555-{dice.integer(100, 199):04d}.")
        elif not f["follow_up"] and dice.chance(0.7):
            fu.append("Follow up with primary care physician as needed; no appointment was scheduled.")
        if dice.chance(0.5):
            fu.append("Seek urgent care for fevers, chest pain, shortness of breath or worsening symptoms."
                      if not ortho else "Call the office for fevers above 101.5, wound drainage or calf pain.")

    # --- assemble with the template of the year
    switch = cfg.time_template_change and dice.chance(float(_adoption(year, profile.template_change_year, 1,
                                                                         drift)))
    headers = dict(style["headers"])
    if switch:
        headers.update(style["headers_new"])
    if writer.header_case == 1:
        headers = {k: v.upper() for k, v in headers.items()}
    elif writer.header_case == 2:
        headers = {k: (v.title().replace("By", "by").replace("And", "and") if any(ch.islower() for ch in v) else v)
                   for k, v in headers.items()}
    dates_written = documented(0.9)
    rec["los"] = rec.get("los", False) or dates_written
    top = style["title"]
    if dates_written:
        top += (f"\nAdmission Date: {_date(f['admit_day'], writer.date_format)}   "
                f"Discharge Date: {_date(f['discharge_day'], writer.date_format)}")
    top += f"\nAttending: Dr. {dice.pick(FIRST_NAMES)} {dice.pick(SURNAMES)}"
    parts = [top]
    for key in style["order"]:
        body = sections[key]
        if not body:
            continue
        joiner = "\n" if key in ("diagnoses", "medications") or (key == "course" and writer.problem_list) else " "
        parts.append(headers[key] + "\n" + joiner.join(body))
    exam = [f"{heading}: {finding}" for system, (heading, finding) in list(writer.exam_wording.items())
            [:writer.exam_systems]]
    fmt["sex_word"] = sex_word
    if dice.chance(optional):
        parts.insert(len(parts) - 2, "Discharge Exam:\n" + ("\n" if writer.problem_list else "; ").join(exam))
    if dice.chance(0.5 * optional):
        parts.insert(len(parts) - 1, dice.pick(DIETS) + ". " + dice.pick(CONDITION_AT_DISCHARGE))
    if writer.writes_letter and disp != "expired" and dice.chance(optional):
        letter = [f"Dear {'Ms.' if f['female'] else 'Mr.'} {patient.pick(SURNAMES)},", dice.pick(LETTER_OPENINGS)]
        letter.append(f"You came to the hospital with {LAY_TERMS.get(dx.key, 'an illness')}.")
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
    text = "\n\n".join(parts)
    text = text.format_map(fmt) if "{" in text else text
    text = reword(text, writer, pattern)
    if writer.dictates and dice.chance(0.5):  # a word lost in transcription
        words = text.split(" ")
        k = 20 + dice.integer(0, max(0, len(words) - 40))
        if k < len(words) and words[k].isalpha():  # a plain word, never a header, number or line break
            words[k] = dice.pick(DICTATION_MARKS)
        text = " ".join(words)
    text = add_typos(text, writer.typo_rate, dice)
    text = text.replace(_PMH_SLOT, pmh_text).replace(_SOCIAL_SLOT, social_text)
    return text, counts[0], counts[1], rec






def _described_by_refinement(cond_keys: set[str]) -> set[str]:
    """Base conditions not listed separately because a refinement (e.g. metastatic cancer) describes them."""
    return {base for refined, base in _REFINES.items() if refined in cond_keys}


def _join(items: list[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]

