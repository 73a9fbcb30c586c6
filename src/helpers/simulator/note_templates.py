"""The hospitals' note templates: section headers and order, dialects and the stock sentences notes are built from.

Data only; :mod:`helpers.simulator.documentation` writes the notes with them.
"""

from __future__ import annotations

from helpers.simulator.hospitals import NOTE_STYLES



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
