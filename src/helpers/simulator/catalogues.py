"""Catalogues of the simulated health system: chronic conditions, principal and secondary diagnoses, minor coded
diagnoses, surgical complications and discharge dispositions, each with its real-world calibration."""

from __future__ import annotations

from dataclasses import dataclass

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
