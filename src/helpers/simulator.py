"""The embedded simulated health system: four hospitals, 2013-2021, admissions with discharge notes.

The original study's notes are private, so the study runs by default on data that this module generates (DESIGN.md,
section 2a). The simulator models *mechanisms*, never results: nothing here names an AUROC, a gap between groups or
the gain of a mitigation. Each mechanism is a documented, parameterised cause, calibrated to a published real-world
magnitude where one exists, so that the study's findings can emerge from the analysis (or fail to) and the book can
say which mechanism produced which finding.

The mechanisms, and where each lives:

* **Hospital mix and case mix** (:class:`HospitalProfile`, :data:`DEFAULT_HOSPITALS`): a large academic centre, a
  large community teaching hospital, a suburban hospital with an older population and a small orthopaedic/surgical
  specialty hospital, each with its own age, insurance, borough, comorbidity and diagnosis mix.
* **Patient trajectories** (:func:`_simulate_hospital`): every patient is followed from a first admission through
  later ones, so that "prior admissions in the last 12 months" is real history and the label
  ``readmitted_30d`` is 1 exactly when the patient's next admission starts within 30 days of discharge.
* **Readmission risk** (:func:`_readmission_logit`, :data:`READMISSION_COEFFICIENTS`): a logistic model in age,
  comorbidity, prior admissions, diagnoses, disposition, length of stay, laboratory values, social factors,
  surgical complications and a hospital term, plus an **unrecorded** part (frailty, social support) that is never
  written in the note and whose share grows with age and comorbidity.
* **Documentation** (:func:`_write_note`): discharge summaries written from the admission's facts; each fact is
  written with a probability below one; each hospital has its own template, section order, dialect and length.
* **Time** (``drift_strength``): new drugs and codes replace old ones (ICD-9 to ICD-10 in October 2015,
  sacubitril-valsartan after 2015, apixaban replacing warfarin, SARS-CoV-2 from 2020), section headers are renamed
  in a hospital-specific year, and base rates drift downwards as they did under the US readmission penalty
  programme.

Entry points: :func:`simulate_health_system` and :func:`simulation_knobs`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from helpers import schema

__all__ = [
    "DEFAULT_HOSPITALS", "HospitalProfile", "MORTALITY_COEFFICIENTS", "NOTE_STYLES", "READMISSION_COEFFICIENTS",
    "SimulatedHealthSystem", "SimulationConfig", "simulate_health_system", "simulation_knobs",
]


def _check_range(name: str, value, low: float, high: float, *, low_open: bool = False) -> None:
    """Raise a ValueError naming the parameter, its bad value and the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a number in {'(' if low_open else '['}{low}, {high}]; got {value!r}.")
    ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        raise ValueError(f"{name} = {value!r} is outside its valid range {'(' if low_open else '['}{low}, {high}]; "
                         f"set it to a value inside that range.")


#: Note templates and dialects that a hospital can write in (defined with the note writer below).
NOTE_STYLES = ("academic", "community", "suburban", "orthopaedic")


# ----------------------------------------------------------------------------------------------------------------
# Catalogues: chronic conditions, diagnoses, secondary diagnoses, surgical complications
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Condition:
    """A chronic (Charlson) condition: its index weight, prevalence among inpatients aged 65 and its risk effect."""

    key: str
    label: str  # canonical wording in a note; hospital dialects abbreviate it
    charlson_weight: int
    prevalence_at_65: float
    odds_ratio_per_decade: float
    readmission_effect: float  # log-odds added to readmission risk, on top of the index itself
    mortality_effect: float


# Charlson weights follow Charlson et al., J Chronic Dis 1987;40:373-83 (1 for most conditions, 2 for renal disease,
# diabetes with end-organ damage and any tumour, 3 for severe liver disease, 6 for metastatic tumour). The
# "complicated"/"severe"/"metastatic" rows are refinements of the row before them and replace its weight.
# Prevalences are rough inpatient figures for a 65-year-old (diabetes about a quarter of US adult inpatients, heart
# failure and COPD each about one in six in general medicine); they are a case-mix assumption, not a result.
_CONDITIONS: tuple[_Condition, ...] = (
    _Condition("mi", "prior myocardial infarction", 1, 0.08, 1.3, 0.05, 0.1),
    _Condition("chf", "heart failure", 1, 0.14, 1.5, 0.25, 0.3),
    _Condition("pvd", "peripheral vascular disease", 1, 0.06, 1.3, 0.10, 0.1),
    _Condition("cvd", "cerebrovascular disease", 1, 0.07, 1.5, 0.05, 0.2),
    _Condition("dementia", "dementia", 1, 0.05, 2.2, 0.15, 0.4),
    _Condition("copd", "chronic obstructive pulmonary disease", 1, 0.16, 1.2, 0.20, 0.2),
    _Condition("rheum", "rheumatoid arthritis", 1, 0.04, 1.1, 0.05, 0.0),
    _Condition("diabetes", "diabetes mellitus", 1, 0.26, 1.15, 0.10, 0.0),
    _Condition("diabetes_complicated", "diabetes mellitus with nephropathy", 2, 0.35, 1.0, 0.15, 0.1),
    _Condition("ckd", "chronic kidney disease", 2, 0.14, 1.5, 0.20, 0.3),
    _Condition("cancer", "malignancy", 2, 0.08, 1.3, 0.20, 0.4),
    _Condition("metastatic", "metastatic cancer", 6, 0.30, 1.0, 0.35, 0.8),
    _Condition("liver", "chronic liver disease", 1, 0.04, 1.0, 0.15, 0.3),
    _Condition("liver_severe", "cirrhosis with portal hypertension", 3, 0.30, 1.0, 0.35, 0.6),
)
_COND_INDEX = {c.key: i for i, c in enumerate(_CONDITIONS)}
# refinement -> the base condition it requires (its prevalence is conditional on the base)
_REFINES = {"diabetes_complicated": "diabetes", "metastatic": "cancer", "liver_severe": "liver"}
_BASE_CONDITIONS = [c.key for c in _CONDITIONS if c.key not in _REFINES]


@dataclass(frozen=True)
class _Diagnosis:
    """A principal diagnosis: how it raises readmission and death, how long it keeps a patient, how notes tell it."""

    key: str
    label: str
    surgical: bool
    readmission_effect: float
    mortality_effect: float
    mean_los: float
    age_affinity: float  # log relative frequency per decade of age above 65
    affinity: tuple[tuple[str, float], ...]  # (condition or social key, frequency multiplier when present)
    icd9: str
    icd10: str
    symptoms: tuple[str, ...]
    course: tuple[str, ...]
    medications: tuple[str, ...] = ()
    first_year: int = 0  # the diagnosis does not exist before this year (COVID-19)


# Illustrative ICD codes (ICD-9-CM before 1 October 2015, ICD-10-CM after, the US transition date).
_DIAGNOSES: tuple[_Diagnosis, ...] = (
    _Diagnosis("heart_failure", "acute on chronic heart failure", False, 0.35, 0.3, 5.0, 0.25, (("chf", 8.0),),
               "428.0", "I50.9",
               ("progressive shortness of breath on exertion", "orthopnea", "bilateral lower extremity swelling",
                "a weight gain of several pounds"),
               ("{He} was diuresed with intravenous furosemide with good urine output.",
                "Daily weights trended down and {his} oxygen requirement resolved.",
                "{He} was transitioned to oral diuretics before discharge."),
               ("furosemide 40 mg by mouth daily",)),
    _Diagnosis("pneumonia", "community-acquired pneumonia", False, 0.15, 0.4, 5.0, 0.2, (("copd", 2.0),),
               "486", "J18.9",
               ("productive cough", "fevers", "pleuritic chest pain", "shortness of breath"),
               ("Chest radiograph showed a right lower lobe infiltrate.",
                "{He} was treated with ceftriaxone and azithromycin.",
                "Fevers resolved and {he} was weaned to room air."),
               ("amoxicillin-clavulanate 875 mg twice daily for 5 days",)),
    _Diagnosis("copd", "acute exacerbation of chronic obstructive pulmonary disease", False, 0.30, 0.2, 4.0, 0.1,
               (("copd", 10.0),), "491.21", "J44.1",
               ("worsening shortness of breath", "wheezing", "increased sputum production"),
               ("{He} received nebulized bronchodilators and a course of prednisone.",
                "Oxygen was titrated to a goal saturation of 88 to 92 percent.",
                "{His} work of breathing improved over the following days."),
               ("prednisone 40 mg daily for 3 more days", "albuterol inhaler as needed")),
    _Diagnosis("sepsis", "sepsis due to urinary tract infection", False, 0.20, 1.0, 7.0, 0.3, (("dementia", 2.0),),
               "038.9", "A41.9",
               ("fevers", "rigors", "confusion", "dysuria"),
               ("{He} met sepsis criteria on arrival and received intravenous fluids and broad-spectrum antibiotics.",
                "Urine culture grew pan-sensitive Escherichia coli and antibiotics were narrowed.",
                "Lactate normalized and blood pressure stabilized."),
               ("cefpodoxime 200 mg twice daily for 7 days",)),
    _Diagnosis("nstemi", "non-ST elevation myocardial infarction", False, 0.10, 0.3, 4.0, 0.1,
               (("mi", 3.0), ("diabetes", 1.5)), "410.71", "I21.4",
               ("substernal chest pressure", "diaphoresis", "nausea"),
               ("Troponin peaked on the second day.",
                "Cardiac catheterization showed a culprit lesion that was treated with a drug-eluting stent.",
                "{He} was started on dual antiplatelet therapy."),
               ("aspirin 81 mg daily", "ticagrelor 90 mg twice daily")),
    _Diagnosis("stroke", "acute ischemic stroke", False, 0.00, 0.4, 5.0, 0.3, (("cvd", 3.0),), "434.91", "I63.9",
               ("sudden right arm weakness", "slurred speech", "facial droop"),
               ("MRI of the brain confirmed a left middle cerebral artery territory infarct.",
                "Speech and swallow evaluation recommended a modified diet.",
                "{He} was started on high-intensity statin therapy."),
               ("atorvastatin 80 mg nightly",)),
    _Diagnosis("gi_bleed", "upper gastrointestinal bleeding", False, 0.20, 0.3, 4.0, 0.1, (("liver", 3.0),),
               "578.9", "K92.2",
               ("black tarry stools", "lightheadedness", "coffee-ground emesis"),
               ("Upper endoscopy showed a gastric ulcer that was treated endoscopically.",
                "{He} received a proton pump inhibitor infusion.",
                "Serial hemoglobin checks remained stable after the procedure."),
               ("pantoprazole 40 mg twice daily",)),
    _Diagnosis("dka", "diabetic ketoacidosis", False, 0.30, 0.2, 3.0, -0.3, (("diabetes", 12.0),),
               "250.12", "E11.10",
               ("polyuria", "polydipsia", "abdominal pain", "vomiting"),
               ("{He} was treated with an insulin infusion and aggressive fluid resuscitation.",
                "The anion gap closed and {he} was transitioned to subcutaneous insulin.",
                "Diabetes education was provided."),
               ("insulin lispro with meals per sliding scale",)),
    _Diagnosis("aki", "acute kidney injury", False, 0.30, 0.3, 4.0, 0.2, (("ckd", 3.0),), "584.9", "N17.9",
               ("decreased urine output", "fatigue", "poor oral intake"),
               ("Renal ultrasound showed no hydronephrosis.",
                "Nephrotoxic medications were held and {he} received intravenous fluids.",
                "Creatinine improved toward baseline."),
               ()),
    _Diagnosis("cellulitis", "cellulitis of the lower extremity", False, -0.20, -0.5, 4.0, 0.0,
               (("diabetes", 1.5), ("pvd", 2.0)), "682.6", "L03.116",
               ("redness and swelling of the left leg", "warmth", "low-grade fevers"),
               ("{He} was treated with intravenous cefazolin.",
                "Erythema receded within the marked borders.",
                "{He} was transitioned to oral cephalexin."),
               ("cephalexin 500 mg four times daily for 7 days",)),
    _Diagnosis("syncope", "syncope", False, -0.30, -0.5, 2.0, 0.3, (), "780.2", "R55",
               ("a brief loss of consciousness while standing", "lightheadedness"),
               ("Telemetry showed no arrhythmia.",
                "Orthostatic vital signs were positive and improved with fluids.",
                "Echocardiogram showed no structural disease."),
               ()),
    _Diagnosis("chest_pain", "chest pain, acute coronary syndrome ruled out", False, -0.50, -1.5, 2.0, -0.1,
               (("mi", 1.5),), "786.50", "R07.9",
               ("intermittent chest tightness", "palpitations"),
               ("Serial troponins were negative.",
                "A stress test showed no inducible ischemia.",
                "Symptoms were thought to be musculoskeletal."),
               ()),
    _Diagnosis("pyelonephritis", "acute pyelonephritis", False, -0.10, -0.5, 3.0, -0.1, (), "590.10", "N10",
               ("flank pain", "fevers", "dysuria"),
               ("{He} was treated with intravenous ceftriaxone.",
                "Fevers resolved within 48 hours.",
                "{He} was transitioned to oral antibiotics guided by culture data."),
               ("ciprofloxacin 500 mg twice daily for 7 days",)),
    _Diagnosis("alcohol_withdrawal", "alcohol withdrawal", False, 0.40, -0.5, 4.0, -0.6, (("substance", 15.0),),
               "291.81", "F10.239",
               ("tremors", "anxiety", "sweats", "nausea"),
               ("{He} was managed with a symptom-triggered benzodiazepine protocol.",
                "Thiamine and folate were given.",
                "Addiction medicine was consulted and outpatient treatment options were discussed."),
               ("thiamine 100 mg daily", "folic acid 1 mg daily")),
    _Diagnosis("neutropenic_fever", "neutropenic fever", False, 0.60, 0.6, 5.0, 0.0, (("cancer", 15.0),),
               "288.00", "D70.9",
               ("fevers", "chills", "fatigue after recent chemotherapy"),
               ("Blood cultures were drawn and {he} was started on cefepime.",
                "Absolute neutrophil count recovered.",
                "The oncology team followed during the admission."),
               ("levofloxacin 500 mg daily for 5 days",)),
    _Diagnosis("cirrhosis", "decompensated cirrhosis with ascites", False, 0.60, 0.6, 5.0, -0.1, (("liver", 15.0),),
               "571.5", "K74.60",
               ("increasing abdominal girth", "leg swelling", "confusion"),
               ("Diagnostic and therapeutic paracentesis removed several liters of fluid.",
                "Spontaneous bacterial peritonitis was excluded.",
                "Diuretics were adjusted and lactulose was titrated."),
               ("spironolactone 100 mg daily", "lactulose 20 g three times daily")),
    _Diagnosis("covid", "COVID-19 pneumonia", False, 0.20, 1.0, 7.0, 0.3, (), "", "U07.1",
               ("fevers", "dry cough", "shortness of breath", "loss of taste"),
               ("SARS-CoV-2 PCR was positive on admission.",
                "{He} was treated with dexamethasone and remdesivir and required supplemental oxygen.",
                "Oxygen was weaned as {his} respiratory status improved."),
               ("dexamethasone 6 mg daily to complete 10 days",), first_year=2020),
    _Diagnosis("pulmonary_embolism", "acute pulmonary embolism", False, 0.20, 0.3, 4.0, 0.0, (("cancer", 2.0),),
               "415.19", "I26.99",
               ("acute shortness of breath", "pleuritic chest pain", "calf swelling"),
               ("CT angiography of the chest confirmed segmental pulmonary emboli.",
                "{He} was started on therapeutic anticoagulation.",
                "Echocardiogram showed no right ventricular strain."),
               ("apixaban 5 mg twice daily",)),
    _Diagnosis("cholecystitis", "acute cholecystitis, status post laparoscopic cholecystectomy", True, -0.30, -0.5,
               3.0, 0.0, (), "574.00", "K80.00",
               ("right upper quadrant pain", "nausea", "fevers"),
               ("Ultrasound showed gallstones with gallbladder wall thickening.",
                "{He} underwent laparoscopic cholecystectomy without complication.",
                "Diet was advanced as tolerated."),
               ("oxycodone 5 mg every 6 hours as needed for pain",)),
    _Diagnosis("bowel_obstruction", "small bowel obstruction", True, 0.20, 0.0, 5.0, 0.2, (), "560.9", "K56.609",
               ("abdominal distension", "vomiting", "no bowel movement for several days"),
               ("CT of the abdomen showed a transition point in the mid small bowel.",
                "{He} was managed with bowel rest and nasogastric decompression.",
                "Recovery of bowel function allowed the diet to be advanced."),
               ()),
    _Diagnosis("hip_fracture", "hip fracture, status post open reduction and internal fixation", True, 0.20, 0.5,
               5.0, 0.8, (("dementia", 2.0),), "820.8", "S72.009A",
               ("a mechanical fall at home", "hip pain", "inability to bear weight"),
               ("{He} underwent open reduction and internal fixation on the day after admission.",
                "Physical therapy worked on transfers and gait.",
                "Pain was controlled with a multimodal regimen."),
               ("oxycodone 5 mg every 6 hours as needed for pain", "acetaminophen 1 g every 8 hours")),
    _Diagnosis("tka", "primary osteoarthritis of the knee, status post total knee arthroplasty", True, -0.40, -2.5,
               2.0, 0.0, (), "715.96", "M17.9",
               ("chronic knee pain that failed conservative management",),
               ("{He} underwent an uncomplicated total knee arthroplasty under spinal anesthesia.",
                "Physical therapy began on the day of surgery.",
                "{He} was ambulating with a walker before discharge."),
               ("oxycodone 5 mg every 6 hours as needed for pain", "acetaminophen 1 g every 8 hours")),
    _Diagnosis("tha", "primary osteoarthritis of the hip, status post total hip arthroplasty", True, -0.40, -2.5,
               2.0, 0.0, (), "715.95", "M16.9",
               ("chronic hip pain limiting ambulation",),
               ("{He} underwent an uncomplicated total hip arthroplasty through a posterior approach.",
                "Hip precautions were reviewed with physical therapy.",
                "{He} was ambulating independently with a walker before discharge."),
               ("oxycodone 5 mg every 6 hours as needed for pain", "acetaminophen 1 g every 8 hours")),
    _Diagnosis("spinal_fusion", "lumbar spinal stenosis, status post posterior lumbar fusion", True, -0.30, -2.0,
               3.0, 0.0, (), "724.02", "M48.06",
               ("low back pain radiating to both legs", "neurogenic claudication"),
               ("{He} underwent posterior decompression and instrumented fusion.",
                "The drain was removed on the second postoperative day.",
                "Lower extremity strength remained intact."),
               ("oxycodone 5 mg every 4 hours as needed for pain", "cyclobenzaprine 5 mg three times daily")),
    _Diagnosis("shoulder", "glenohumeral osteoarthritis, status post total shoulder arthroplasty", True, -0.80, -2.5,
               1.5, 0.0, (), "715.11", "M19.019",
               ("chronic shoulder pain and loss of motion",),
               ("{He} underwent an uncomplicated total shoulder arthroplasty.",
                "The arm was placed in a sling.",
                "Occupational therapy reviewed the sling and motion restrictions."),
               ("oxycodone 5 mg every 6 hours as needed for pain",)),
    _Diagnosis("revision", "aseptic loosening of a prosthetic joint, status post revision arthroplasty", True, 0.10,
               -1.5, 4.0, 0.2, (), "996.41", "T84.039A",
               ("progressive pain in a previously replaced joint",),
               ("{He} underwent revision arthroplasty with exchange of components.",
                "Intraoperative cultures were sent and showed no growth.",
                "Weight bearing was protected with a walker."),
               ("oxycodone 5 mg every 4 hours as needed for pain", "acetaminophen 1 g every 8 hours")),
    _Diagnosis("surgical_site_infection", "surgical site infection", True, 0.40, -1.0, 5.0, 0.0,
               (("diabetes", 1.5),), "998.59", "T81.4XXA",
               ("redness and drainage from the surgical incision", "fevers"),
               ("{He} was taken to the operating room for irrigation and debridement.",
                "Intraoperative cultures grew methicillin-sensitive Staphylococcus aureus.",
                "A peripherally inserted central catheter was placed for intravenous antibiotics."),
               ("cefazolin 2 g intravenously every 8 hours for 6 weeks",)),
    _Diagnosis("joint_infection", "periprosthetic joint infection", True, 0.50, -1.0, 6.0, 0.1, (("diabetes", 1.5),),
               "996.66", "T84.59XA",
               ("increasing joint pain and swelling", "fevers"),
               ("Joint aspiration showed an elevated cell count.",
                "{He} underwent debridement, antibiotics and implant retention.",
                "Infectious disease recommended six weeks of intravenous antibiotics."),
               ("vancomycin intravenously per pharmacy dosing",)),
    _Diagnosis("postop_anemia", "symptomatic postoperative anemia", False, 0.30, -1.0, 3.0, 0.2, (("ckd", 1.5),),
               "285.1", "D62",
               ("fatigue", "lightheadedness on standing"),
               ("{He} was transfused one unit of packed red blood cells.",
                "Hemoglobin rose appropriately after transfusion.",
                "Anticoagulation was reviewed with the surgical team."),
               ("ferrous sulfate 325 mg daily",)),
    _Diagnosis("fall_injury", "fall at home with injury", False, 0.30, -0.5, 3.0, 0.6, (("dementia", 2.0),),
               "E888.9", "W19.XXXA",
               ("a fall at home", "pain at the operative site"),
               ("Imaging showed no periprosthetic fracture.",
                "Physical therapy reassessed gait and assistive devices.",
                "A home safety evaluation was requested."),
               ()),
)
_DX_INDEX = {d.key: i for i, d in enumerate(_DIAGNOSES)}


@dataclass(frozen=True)
class _Secondary:
    """A secondary (non-Charlson) discharge diagnosis; most only add to the diagnosis count."""

    key: str
    label: str
    prevalence_at_65: float
    odds_ratio_per_decade: float
    readmission_effect: float


_SECONDARY: tuple[_Secondary, ...] = (
    _Secondary("hypertension", "hypertension", 0.55, 1.4, 0.0),
    _Secondary("hyperlipidemia", "hyperlipidemia", 0.40, 1.2, 0.0),
    _Secondary("atrial_fibrillation", "atrial fibrillation", 0.12, 1.8, 0.10),
    _Secondary("obesity", "obesity", 0.20, 0.9, 0.0),
    _Secondary("depression", "depression", 0.15, 0.9, 0.10),
    _Secondary("gerd", "gastroesophageal reflux disease", 0.15, 1.0, 0.0),
    _Secondary("hypothyroidism", "hypothyroidism", 0.10, 1.2, 0.0),
    _Secondary("sleep_apnea", "obstructive sleep apnea", 0.08, 1.0, 0.0),
    _Secondary("tobacco", "tobacco use", 0.15, 0.7, 0.10),
    _Secondary("delirium", "delirium", 0.06, 2.0, 0.30),
    _Secondary("malnutrition", "moderate protein-calorie malnutrition", 0.05, 1.5, 0.35),
    _Secondary("hypokalemia", "hypokalemia", 0.10, 1.0, 0.0),
    _Secondary("pressure_injury", "stage 2 pressure injury", 0.03, 2.0, 0.30),
)

_TOBACCO = [s.key for s in _SECONDARY].index("tobacco")

# Minor coded diagnoses: conditions coded on the discharge abstract that carry no readmission risk. How many are
# coded depends mostly on coding practice (Poisson with an admission-level rate), which is why real diagnosis counts
# are only a weak marker of risk (UCI Diabetes 130-US: 7 % with <= 3 diagnoses vs 15 % with >= 10).
_MINOR_DIAGNOSES = (
    "vitamin D deficiency", "constipation", "insomnia", "benign prostatic hyperplasia", "osteoarthritis",
    "chronic low back pain", "anxiety", "glaucoma", "allergic rhinitis", "osteoporosis", "gout",
    "peripheral neuropathy", "hearing loss", "iron deficiency", "restless legs syndrome", "cataract",
    "seasonal allergies", "vitamin B12 deficiency", "plantar fasciitis", "hemorrhoids",
)
_MINOR_CODING_SHAPE, _MINOR_CODING_MEAN = 1.2, 3.5

# In-stay surgical complications: the readmission drivers of an orthopaedic/surgical hospital. Frequencies are the
# relative mix among complicated stays (post-operative anaemia needing transfusion the most common after joint
# replacement); their risk effects are the strongest recorded drivers for surgical patients.
_COMPLICATIONS: tuple[tuple[str, str, float, float], ...] = (
    # key, canonical wording, relative frequency, readmission log-odds
    ("wound_infection", "a superficial surgical site infection", 0.18, 1.3),
    ("dvt_pe", "a deep vein thrombosis", 0.14, 1.1),
    ("postop_anemia", "acute blood loss anemia requiring transfusion", 0.30, 0.6),
    ("fall", "an inpatient fall", 0.12, 0.9),
    ("urinary_retention", "postoperative urinary retention", 0.16, 0.4),
    ("ileus", "postoperative ileus", 0.10, 0.5),
)

_DISPOSITIONS = ("home", "home with services", "skilled nursing facility", "acute rehabilitation",
                 "left against medical advice")

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
        note_filler_sentences=24.0, template_change_year=2018,
    ),
    HospitalProfile(
        name="Hospital 2", kind="large community teaching hospital", admission_share=0.32,
        age_beta=(2.7, 2.6), female_share=0.54, medicare_share_65plus=0.90, medicare_share_under65=0.12,
        under65_insurance_mix=(0.42, 0.38, 0.08, 0.12), borough_mix=(0.08, 0.52, 0.22, 0.05, 0.05, 0.05, 0.03),
        chronic_burden=0.15, diagnosis_mix=_mix(_GENERAL_MIX, alcohol_withdrawal=5, cellulitis=6, neutropenic_fever=1),
        readmission_intercept=-3.55, mortality_intercept=-4.45, follow_up_rate=0.60, note_style="community",
        note_filler_sentences=20.0, template_change_year=2017,
    ),
    HospitalProfile(
        name="Hospital 3", kind="suburban hospital with an older population", admission_share=0.20,
        age_beta=(3.6, 2.2), female_share=0.55, medicare_share_65plus=0.91, medicare_share_under65=0.08,
        under65_insurance_mix=(0.20, 0.64, 0.04, 0.12), borough_mix=(0.02, 0.05, 0.20, 0.01, 0.12, 0.55, 0.05),
        chronic_burden=0.2, diagnosis_mix=_mix(_GENERAL_MIX, heart_failure=10, hip_fracture=4, syncope=5,
                                               alcohol_withdrawal=1, neutropenic_fever=1),
        readmission_intercept=-3.75, mortality_intercept=-4.75, follow_up_rate=0.65, note_style="suburban",
        note_filler_sentences=18.0, template_change_year=2019,
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
        note_style="orthopaedic", note_filler_sentences=13.0, template_change_year=2016,
    ),
)

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
    burn_in_years: int = _knob(2, "years simulated before start_year so that early admissions have real prior "
                                  "history (those years are not kept)", 0, 10)
    unrecorded_risk_share: float = _knob(0.30, "share of the readmission logit's variance that is never written in "
                                               "the note (frailty, social support), for a 65-year-old at level 1", 0.0,
                                         0.9)
    unrecorded_age_slope: float = _knob(0.05, "increase of the unrecorded share per decade of age above 65 "
                                              "(decrease below)", 0.0, 0.5)
    unrecorded_comorbidity_slope: float = _knob(0.03, "increase of the unrecorded share per comorbidity level above "
                                                      "1", 0.0, 0.5)
    unrecorded_persistence: float = _knob(0.3, "share of the unrecorded variance that belongs to the patient "
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


@dataclass
class SimulatedHealthSystem:
    """The generated data: admissions (what a study may read), oracle (hidden truth), hospital profiles, config."""

    admissions: pd.DataFrame
    oracle: pd.DataFrame
    hospitals: pd.DataFrame
    config: SimulationConfig


# ----------------------------------------------------------------------------------------------------------------
# Helpers for vectorised draws
# ----------------------------------------------------------------------------------------------------------------

_EPOCH = np.datetime64("1970-01-01", "D")


def _day(year: int, month: int = 1, day: int = 1) -> int:
    return int((np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D") - _EPOCH).astype(int))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _year_of(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970).astype(int)


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Draw one column index per row of a non-negative weight matrix (rows need a positive sum)."""
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random(weights.shape[0]) * cumulative[:, -1]
    return np.minimum((cumulative <= draws[:, None]).sum(axis=1), weights.shape[1] - 1)


def _adoption(year: np.ndarray | float, first_year: float, years_to_full: float, drift: float,
              ceiling: float = 1.0) -> np.ndarray:
    """Share of notes using a new term/drug/template in ``year``: 0 before ``first_year``, then rising linearly
    (scaled by ``drift_strength``) to ``ceiling``. drift 0 freezes the vocabulary of the first years."""
    share = drift * (np.asarray(year, dtype=float) - first_year + 1.0) / years_to_full
    return np.clip(share, 0.0, 1.0) * ceiling


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
    first_day = _day(cfg.start_year - cfg.burn_in_years)
    last_day = _day(cfg.end_year, 12, 31)
    n = n_patients

    # --- patient-level attributes (fixed for life unless noted)
    a, b = profile.age_beta
    span = last_day + 1 - first_day
    g = profile.volume_growth / 365.25
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

    sec_logit0 = np.array([_logit(s.prevalence_at_65) for s in _SECONDARY])
    sec_age = np.log([s.odds_ratio_per_decade for s in _SECONDARY])

    dx_base = np.zeros(len(_DIAGNOSES))
    for k, w in profile.diagnosis_mix.items():
        dx_base[_DX_INDEX[k]] = w
    readm_mix = profile.readmission_diagnosis_mix or profile.diagnosis_mix
    dx_readm = np.zeros(len(_DIAGNOSES))
    for k, w in readm_mix.items():
        dx_readm[_DX_INDEX[k]] = w
    dx_age = np.array([d.age_affinity for d in _DIAGNOSES])
    dx_first_year = np.array([d.first_year for d in _DIAGNOSES])
    dx_los = np.array([d.mean_los for d in _DIAGNOSES])
    dx_surgical = np.array([d.surgical for d in _DIAGNOSES])
    dx_mort = np.array([d.mortality_effect for d in _DIAGNOSES])
    affinity_cols = {}
    for i, d in enumerate(_DIAGNOSES):
        for key, mult in d.affinity:
            affinity_cols.setdefault(key, []).append((i, mult))
    joint_surgery = np.isin(np.arange(len(_DIAGNOSES)),
                            [_DX_INDEX[k] for k in ("tka", "tha", "hip_fracture", "revision", "spinal_fusion")])

    history = np.full((n, _HISTORY), -10**7, dtype=np.int64)
    next_admit = first_admit.copy()
    came_back_early = np.zeros(n, dtype=bool)
    alive = np.ones(n, dtype=bool)
    records: list[dict[str, np.ndarray]] = []

    while True:
        idx = np.flatnonzero(alive & (next_admit <= last_day))
        if idx.size == 0:
            break
        m = idx.size
        admit = next_admit[idx]
        year = _year_of(admit)
        age = (admit - birth_day[idx]) / 365.25
        age_dec = (age - 65.0) / 10.0
        cond = conditions[idx]
        charlson = _charlson_index(cond)
        level = schema.comorbidity_level(charlson)
        prior = (history[idx] > (admit - 365)[:, None]).sum(axis=1)

        # insurance follows age: crossing 65 moves most patients to Medicare
        ins = np.where(u_medicare[idx] < profile.medicare_share_under65, 0, under65_ins[idx] + 1)
        older_ins = np.where(u_medicare[idx] < profile.medicare_share_65plus, 0,
                             np.where(older_private[idx], 2, 4))
        ins = np.where(age >= 65, older_ins, ins)

        # principal diagnosis: hospital mix x age x conditions, new diagnoses only once they exist
        base = np.where(came_back_early[idx][:, None], dx_readm, dx_base)
        available = np.where(dx_first_year > 0, _adoption(year[:, None], dx_first_year, 1.0,
                                                          min(cfg.drift_strength, 1.0)), 1.0)
        weights = base * available * np.exp(dx_age * age_dec[:, None])
        for key, pairs in affinity_cols.items():
            flag = cond[:, _COND_INDEX[key]] if key in _COND_INDEX else substance[idx]
            for i, mult in pairs:
                weights[:, i] *= np.where(flag, mult, 1.0)
        empty = weights.sum(axis=1) <= 0
        if empty.any():
            weights[empty] = base[empty] + 1e-9
        dx = _categorical(rng, weights)
        surgical = dx_surgical[dx]

        # length of stay (days), lognormal around the diagnosis mean
        los_mean = dx_los[dx] * profile.los_scale * np.exp(0.06 * age_dec + 0.05 * charlson)
        los = np.maximum(1, np.round(los_mean * np.exp(0.45 * rng.standard_normal(m) - 0.1))).astype(int)

        # in-stay surgical complication
        p_comp = np.clip(profile.complication_rate * np.exp(0.2 * age_dec + 0.12 * np.minimum(charlson, 6)), 0, 0.9)
        has_comp = surgical & (rng.random(m) < p_comp)
        comp_kind = _categorical(rng, np.tile([x[2] for x in _COMPLICATIONS], (m, 1)))
        complication = np.where(has_comp, comp_kind, -1)
        los = los + has_comp * rng.integers(1, 4, size=m)

        # secondary diagnoses
        sec_p = _sigmoid(sec_logit0 + sec_age * age_dec[:, None] + 0.25 * burden[idx][:, None])
        secondary = rng.random((m, len(_SECONDARY))) < sec_p
        secondary[:, _TOBACCO] |= substance[idx] & (rng.random(m) < 0.5)  # half of heavy drinkers also smoke

        # minor coded diagnoses: coding depth varies by admission, unrelated to risk
        n_minor = np.minimum(rng.poisson(rng.gamma(_MINOR_CODING_SHAPE, _MINOR_CODING_MEAN / _MINOR_CODING_SHAPE,
                                                   size=m)), len(_MINOR_DIAGNOSES))

        # laboratory values
        dx_key = np.array([d.key for d in _DIAGNOSES])[dx]
        ckd = cond[:, _COND_INDEX["ckd"]]
        creat = np.exp(np.log(0.95) + 0.25 * rng.standard_normal(m)) * np.where(ckd, 2.0, 1.0) \
            * np.where(dx_key == "aki", 2.2, 1.0) * np.where(dx_key == "sepsis", 1.3, 1.0)
        creat = np.round(np.clip(creat, 0.4, 9.0), 1)
        anemia_draw = rng.random(m) < 0.08
        hgb = (13.4 - 1.0 * female[idx] + 1.3 * rng.standard_normal(m) - 2.8 * (dx_key == "gi_bleed")
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

        # disposition (multinomial logit), follow-up appointment
        scores = np.zeros((m, len(_DISPOSITIONS)))
        log_los = np.log(los / 4.0)
        la, sub_use, house = lives_alone[idx], substance[idx], housing[idx]
        scores[:, 1] = -1.4 + 0.35 * age_dec + 0.12 * charlson + 0.4 * la + 0.3 * log_los
        scores[:, 2] = (-2.8 + 0.7 * age_dec + 0.15 * charlson + 0.9 * cond[:, _COND_INDEX["dementia"]]
                        + 0.6 * log_los + 0.4 * la + 1.0 * (dx_key == "hip_fracture"))
        scores[:, 3] = -3.2 + 0.3 * age_dec + 2.3 * joint_surgery[dx] + 1.8 * (dx_key == "stroke")
        scores[:, 4] = -4.2 + 1.8 * sub_use + 0.8 * house - 0.3 * age_dec - 2.0 * surgical
        disposition = _categorical(rng, np.exp(scores))
        follow_up = (rng.random(m) < _sigmoid(_logit(profile.follow_up_rate) - 0.8 * house - 0.3 * sub_use)) & (
            disposition != 4)

        facts = {
            "patient": idx, "admit": admit, "los": los.astype(float), "age": age, "female": female[idx],
            "insurance": ins, "borough": borough[idx], "conditions": cond.astype(float), "charlson": charlson,
            "level": level, "prior_12m": prior, "dx": dx, "secondary": secondary.astype(float),
            "complication": complication, "creatinine": creat, "hemoglobin": hgb, "sodium": sodium,
            "ejection_fraction": ef, "disposition": disposition, "follow_up": follow_up.astype(float),
            "lives_alone": la.astype(float), "housing_unstable": house.astype(float),
            "substance_use": sub_use.astype(float), "after_early_return": came_back_early[idx],
            "n_minor": n_minor,
        }

        # readmission probability: recorded + hospital term + drift + unrecorded
        recorded = _readmission_logit(facts, profile, cfg)
        discharge = admit + los
        years_from_mid = (_year_of(discharge) - (cfg.start_year + cfg.end_year) / 2.0)
        hospital_term = profile.readmission_intercept + cfg.readmission_rate_shift \
            + cfg.drift_strength * cfg.base_rate_trend * years_from_mid
        share = _unrecorded_share(age, level, cfg)
        scale = RECORDED_LOGIT_SD * np.sqrt(share / (1.0 - share))
        # frailty and social support are lasting traits; part of the unrecorded risk is specific to this stay
        lasting = (frailty[idx] - support[idx]) / math.sqrt(2.0)
        stay_specific = rng.standard_normal(m)
        latent = math.sqrt(cfg.unrecorded_persistence) * lasting \
            + math.sqrt(1.0 - cfg.unrecorded_persistence) * stay_specific
        unrecorded = scale * latent
        p_readmit = _sigmoid(hospital_term + recorded + unrecorded)

        mort_logit = (profile.mortality_intercept + MORTALITY_COEFFICIENTS["age_per_decade"] * age_dec
                      + MORTALITY_COEFFICIENTS["charlson_point"] * np.minimum(charlson, 10) + dx_mort[dx]
                      + MORTALITY_COEFFICIENTS["frailty"] * frailty[idx])
        p_death = _sigmoid(mort_logit)
        died = rng.random(m) < p_death
        readmitted = ~died & (rng.random(m) < p_readmit)
        disposition = np.where(died, -1, disposition)

        facts.update({
            "discharge": discharge, "died": died, "readmitted": readmitted, "p_readmit": p_readmit,
            "p_death": p_death, "recorded_logit": recorded, "hospital_term": hospital_term,
            "unrecorded_logit": unrecorded, "unrecorded_share": share, "frailty": frailty[idx],
            "social_support": support[idx], "disposition": disposition,
        })
        records.append(facts)

        # next admission: within 30 days if readmitted, after day 30 if the patient comes back later
        gap_early = 1 + np.floor(30 * rng.beta(1.0, 2.2, size=m)).astype(int)
        gap_early = np.minimum(gap_early, 30)
        p_return = _sigmoid(_logit(profile.return_probability) + 0.15 * (np.minimum(charlson, 8) - 2))
        returns = ~died & ~readmitted & (rng.random(m) < p_return)
        gap_late = 31 + np.round(rng.exponential(profile.return_gap_days, size=m)).astype(int)
        history[idx, 1:] = history[idx, :-1]
        history[idx, 0] = admit
        next_admit[idx] = np.where(readmitted, discharge + gap_early, discharge + gap_late)
        alive[idx] = readmitted | returns
        came_back_early[idx] = readmitted

        # chronic conditions accumulate slowly between admissions
        gained = rng.random((m, len(_CONDITIONS))) < 0.012 * np.exp(0.4 * burden[idx])[:, None]
        new_cond = cond | gained
        for j in np.flatnonzero(refine_cols):
            new_cond[:, j] &= new_cond[:, base_of[j]]
        conditions[idx] = new_cond

    out = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
    return out


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


# ----------------------------------------------------------------------------------------------------------------
# Notes
# ----------------------------------------------------------------------------------------------------------------


class _Dice:
    """Per-note random numbers from a PCG64 stream seeded by (seed, admission number): notes are reproducible
    one by one, independent of how many other notes are written."""

    __slots__ = ("_values", "_pos", "_words", "_blocks")

    def __init__(self, seed_words: tuple[int, ...]):
        self._words = seed_words
        self._blocks = 0
        self._values = self._block()
        self._pos = 0

    def _block(self) -> list[float]:
        seq = np.random.SeedSequence(list(self._words) + [self._blocks])
        self._blocks += 1
        return np.random.Generator(np.random.PCG64(seq)).random(384).tolist()

    def u(self) -> float:
        if self._pos >= len(self._values):
            self._values = self._block()
            self._pos = 0
        value = self._values[self._pos]
        self._pos += 1
        return value

    def chance(self, p: float) -> bool:
        return self.u() < p

    def pick(self, seq):
        return seq[min(int(self.u() * len(seq)), len(seq) - 1)]

    def integer(self, low: int, high: int) -> int:
        return low + min(int(self.u() * (high - low + 1)), high - low)

    def normal(self) -> float:
        return math.sqrt(-2.0 * math.log(1.0 - self.u())) * math.cos(2.0 * math.pi * self.u())

    def sample(self, seq, k: int) -> list:
        items = list(seq)
        k = min(k, len(items))
        for i in range(k):
            j = i + min(int(self.u() * (len(items) - i)), len(items) - i - 1)
            items[i], items[j] = items[j], items[i]
        return items[:k]


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


def _dialect_pattern(mapping: Mapping[str, str]) -> re.Pattern:
    keys = sorted(mapping, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")\b")


assert tuple(_STYLES) == NOTE_STYLES
_DIALECT_PATTERNS = {name: _dialect_pattern(style["dialect"]) for name, style in _STYLES.items()}

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


def _write_note(f: dict, profile: HospitalProfile, cfg: SimulationConfig, dice: _Dice) -> tuple[str, int, int]:
    """Write one discharge summary from an admission's facts. Returns (text, facts in record, facts written).

    ``f`` holds the admission's recorded facts only; the label and the true probability are never passed in, so
    no note can state them. Each fact is written with probability documentation_probability x the hospital's
    documentation_factor x the fact's salience.
    """
    style_name = profile.note_style
    style = _STYLES[style_name]
    year = f["year"]
    drift = cfg.drift_strength
    p_doc = min(1.0, cfg.documentation_probability * profile.documentation_factor)
    counts = [0, 0]  # facts in the record, facts written

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

    # --- reason for admission
    sex_word = style["woman"] if f["female"] else style["man"]
    age = int(f["age"])
    dx_label = dx.label.replace("hip fracture", f"{side} hip fracture")
    if ortho and dx.surgical:
        sections["reason"].append(f"{dx_label[0].upper()}{dx_label[1:]}.")
        sections["reason"].append(f"{age} y/o {sex_word}.")
    elif style_name == "community":
        sections["reason"].append(f"{age}{sex_word} admitted with {dx_label}.")
    else:
        sections["reason"].append(f"{age}-year-old {sex_word} admitted with {dx_label}.")

    # --- history: HPI, pertinent negatives, past history, prior stays, social history
    hist = sections["history"]
    symptoms = dice.sample(dx.symptoms, 1 + dice.integer(0, max(0, len(dx.symptoms) - 1)))
    hist.append(f"The patient presented with {_join(symptoms)}.")
    if f["after_early_return"] and documented(0.9):
        hist.append(f"{fmt['He']} was recently discharged from this hospital {f['days_since_last']} days ago.")
    negatable_symptoms = ("chest pain", "fevers", "headache", "abdominal pain", "palpitations", "dysuria")
    denied = [s for s in dice.sample(negatable_symptoms, 2) if s not in " ".join(symptoms)]
    if denied:
        hist.append(f"Denies {_join(denied, 'or')}.")
    if year >= 2020 and dx.key != "covid" and dice.chance(0.9 * float(_adoption(year, 2020, 1, drift))):
        hist.append("SARS-CoV-2 PCR was negative on admission.")
    described = _described_by_refinement(f["cond_keys"])
    pmh = [c.label for c in _CONDITIONS if c.key in f["cond_keys"] and c.key not in described and documented()]
    if pmh:
        hist.append(f"Past medical history is notable for {_join(pmh)}.")
    for key in _NEGATABLE:
        if key not in f["cond_keys"] and dice.chance(cfg.negation_probability * 0.35):
            hist.append(f"No history of {_CONDITIONS[_COND_INDEX[key]].label}.")
    prior = f["prior_12m"]
    if prior > 0 and documented(0.8):
        hist.append(f"{fmt['He']} has had {prior} hospitalization{'s' if prior > 1 else ''} in the past 12 months.")
    elif prior == 0 and dice.chance(0.3):
        hist.append("No hospitalizations in the past year.")
    social = []
    if f["lives_alone"] and documented(0.7):
        social.append("Lives alone")
    elif not f["lives_alone"] and dice.chance(0.4):
        social.append(dice.pick(("Lives with spouse", "Lives with family", "Lives with daughter")))
    if f["housing_unstable"] and documented(0.7):
        social.append("currently without stable housing and staying in a shelter")
    if f["substance_use"] and documented(0.75):
        social.append("reports daily alcohol use")
    elif not f["substance_use"] and dice.chance(cfg.negation_probability * 0.6):
        social.append("denies alcohol or drug use")
    if social:
        hist.append("Social history: " + "; ".join(social) + ".")

    # --- hospital course: diagnosis narrative, complication, labs, filler
    course = sections["course"]
    comp = f["complication"]
    n_course = len(dx.course) if dice.chance(0.6) else max(1, len(dx.course) - 1)
    story = list(dx.course[:n_course])
    if comp is not None:  # a complicated stay is not described as uncomplicated
        story = [s.replace("an uncomplicated ", "a ").replace(" without complication", "") for s in story]
    course.extend(story)
    if comp is not None and documented(1.15):
        day = dice.integer(1, max(1, min(3, int(f["los"]) - 1)))
        course.append(_COMPLICATION_COURSE[comp].replace("{d}", str(day)).replace("{hgb}", f"{f['hemoglobin']:.1f}"))
    if dx.surgical:
        for key, sentence in _COMPLICATION_NEGATIVES.items():
            if key != comp and dice.chance(cfg.negation_probability * (0.6 if ortho else 0.2)):
                course.append(sentence)
    labs = []
    if documented(0.9):
        labs.append(f"creatinine {f['creatinine']:.1f}")
    if documented(0.9):
        labs.append(f"hemoglobin {f['hemoglobin']:.1f}")
    if documented(0.8):
        labs.append(f"sodium {f['sodium']}")
    if labs:
        course.append(f"Discharge labs: {', '.join(labs)}.")
    if not math.isnan(f["ejection_fraction"]) and documented(0.9):
        course.append(f"Echocardiogram showed an ejection fraction of {int(f['ejection_fraction'])} percent.")
    if documented(0.6):
        course.append(f"Total length of stay was {int(f['los'])} days.")
    filler_pool = style["filler"]
    n_filler = profile.note_filler_sentences * cfg.note_length_scale * math.exp(0.75 * dice.normal()) \
        * (f["los"] / 4.0) ** 0.35
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

    # --- diagnoses
    use_icd10 = style["codes"] and (f["admit_day"] >= _ICD10_DAY) and dice.chance(float(min(drift, 1.0)))
    code = dx.icd10 if (use_icd10 or not dx.icd9) else dx.icd9
    dx_lines = [f"1. {dx_label}" + (f" ({code})" if style["codes"] and code else "")]
    for label in [s.label for s in _SECONDARY if s.key in f["sec_keys"] and documented()]:
        dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    if f["hemoglobin"] < 10 and documented(0.8):
        dx_lines.append(f"{len(dx_lines) + 1}. anemia")
    if f["sodium"] < 133 and documented(0.8):
        dx_lines.append(f"{len(dx_lines) + 1}. hyponatremia")
    if comp is not None and documented():
        dx_lines.append(f"{len(dx_lines) + 1}. {_COMPLICATIONS[[c[0] for c in _COMPLICATIONS].index(comp)][1]}"
                        .replace(". a ", ". ").replace(". an ", ". "))
    for label in pmh:
        if dice.chance(0.7):
            dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    for label in dice.sample(_MINOR_DIAGNOSES, f["n_minor"]):
        if documented(0.7):
            dx_lines.append(f"{len(dx_lines) + 1}. {label}")
    sections["diagnoses"].extend(dx_lines)

    # --- medications
    meds = [m for m in f["medications"] if dice.chance(0.95)] if f["disposition"] != "expired" else []
    sections["medications"].extend(f"{i + 1}. {m}" for i, m in enumerate(meds))

    # --- disposition
    disp = f["disposition"]
    if disp == "expired":
        sections["disposition"].append(f"Expired on hospital day {int(f['los'])}.")
    elif documented(1.1):
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
            if ortho:
                fu.append("Follow up in orthopaedic clinic in 2 weeks for wound check and staple removal.")
            else:
                fu.append(f"Appointment with primary care physician within {dice.integer(3, 7)} days.")
        elif not f["follow_up"] and dice.chance(0.7):
            fu.append("Follow up with primary care physician as needed; no appointment was scheduled.")
        fu.append("Seek urgent care for fevers, chest pain, shortness of breath or worsening symptoms."
                  if not ortho else "Call the office for fevers above 101.5, wound drainage or calf pain.")

    # --- assemble with the template of the year
    switch = dice.chance(float(_adoption(year, profile.template_change_year, 1, drift)))
    headers = dict(style["headers"])
    if switch:
        headers.update(style["headers_new"])
    parts = [style["title"]]
    for key in style["order"]:
        body = sections[key]
        if not body:
            continue
        joiner = "\n" if key in ("diagnoses", "medications") else " "
        parts.append(headers[key] + "\n" + joiner.join(body))
    text = "\n\n".join(parts).format_map(fmt) if "{" in "".join(parts) else "\n\n".join(parts)
    mapping = style["dialect"]
    text = _DIALECT_PATTERNS[style_name].sub(lambda m: mapping[m.group(0)], text)
    return text, counts[0], counts[1]


_ICD10_DAY = _day(2015, 10, 1)


def _described_by_refinement(cond_keys: set[str]) -> set[str]:
    """Base conditions not listed separately because a refinement (e.g. metastatic cancer) describes them."""
    return {base for refined, base in _REFINES.items() if refined in cond_keys}


def _join(items: list[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


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
    # days since the previous discharge, for stays that follow within 30 days
    prev_discharge = np.full(n, -1)
    order = np.lexsort((data["admit"], data["patient"]))
    pd_sorted = np.full(n, -1)
    dis_sorted = data["discharge"][order]
    same = data["patient"][order][1:] == data["patient"][order][:-1]
    pd_sorted[1:] = np.where(same, dis_sorted[:-1], -1)
    prev_discharge[order] = pd_sorted
    years = _year_of(data["admit"])

    notes, n_facts, n_written, n_meds = [], np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    hospitals = cfg.hospitals
    for i in range(n):
        dice = _Dice((cfg.seed, 0x6E6F7465, i))
        profile = hospitals[data["hospital_index"][i]]
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
            "n_minor": int(data["n_minor"][i]),
        }
        facts["medications"] = _medications(facts, facts["year"], cfg.drift_strength, dice, profile.note_style)
        n_meds[i] = len(facts["medications"])
        text, total, written = _write_note(facts, profile, cfg, dice)
        notes.append(text)
        n_facts[i], n_written[i] = total, written

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
    oracle = pd.DataFrame({
        "admission_id": admission_id.astype(object),
        "true_probability": data["p_readmit"].astype(float),
        "recorded_logit": data["recorded_logit"].astype(float),
        "hospital_term": data["hospital_term"].astype(float),
        "unrecorded_logit": data["unrecorded_logit"].astype(float),
        "unrecorded_share": data["unrecorded_share"].astype(float),
        "frailty": data["frailty"].astype(float),
        "social_support": data["social_support"].astype(float),
        "mortality_probability": data["p_death"].astype(float),
    })
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
