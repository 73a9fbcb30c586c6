"""Lexicon of clinical writing: the words among which clinicians choose, and the everyday content of a real
discharge summary that carries no readmission risk (allergies, surgical history, examination, imaging, consultants,
clinic names, home medications, people's names).

None of these choices changes a patient's risk: they change only *how* a fact is written, or add the true but
risk-free detail that fills real notes. Real discharge summaries draw on a large vocabulary for this reason: 108 of
them held 4,240 distinct words against 880 in 108 notes of the earlier simulator. The lists are
written for this project from common clinical usage; pools are large so that a staff of clinicians, each with a
subset, reproduces the way vocabulary grows with the number of writers (Heaps' law).
"""

from __future__ import annotations


def _split(text: str, sep: str = "|") -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(sep) if item.strip())


#: Canonical phrase -> alternatives a clinician may prefer (synonyms, abbreviations, spellings). The note writer
#: writes the canonical phrase; each clinician rewrites it with one fixed choice (see clinicians.py).
SYNONYMS: dict[str, tuple[str, ...]] = {k: _split(v) for k, v in {
    "the patient": "pt | the pt | patient | this patient | the pt.",
    "The patient": "Pt | The pt | Patient | This patient",
    "shortness of breath": "SOB | dyspnea | breathlessness | dyspnoea | DOE",
    "heart failure": "CHF | HF | congestive heart failure | cardiac failure | HFrEF/HFpEF",
    "chronic obstructive pulmonary disease": "COPD | chronic obstructive lung disease | emphysema/COPD",
    "diabetes mellitus": "DM | DM2 | T2DM | type 2 diabetes | NIDDM | diabetes",
    "chronic kidney disease": "CKD | chronic renal insufficiency | chronic renal disease",
    "hypertension": "HTN | high blood pressure | essential hypertension",
    "hyperlipidemia": "HLD | dyslipidemia | hypercholesterolemia",
    "atrial fibrillation": "afib | AF | a-fib | Afib | paroxysmal AF",
    "history of": "h/o | hx of | hx | known",
    "blood pressure": "BP | B/P",
    "heart rate": "HR | pulse",
    "intravenous": "IV | i.v.",
    "intravenously": "IV | via IV",
    "by mouth": "PO | p.o. | orally",
    "twice daily": "BID | b.i.d. | twice a day | q12h",
    "three times daily": "TID | t.i.d. | three times a day | q8h",
    "four times daily": "QID | q.i.d. | four times a day | q6h",
    "as needed": "PRN | p.r.n. | as required",
    "daily": "qd | once daily | QD | every day",
    "nightly": "qhs | at bedtime | QHS",
    "room air": "RA | ambient air",
    "Oxygen saturation": "SpO2 | O2 sat | Sat | Pulse oximetry",
    "physical therapy": "PT | physiotherapy | PT/OT",
    "occupational therapy": "OT | occupational therapist",
    "skilled nursing facility": "SNF | nursing home | subacute rehab | short-term rehab facility",
    "primary care physician": "PCP | primary doctor | primary care provider | PMD",
    "emergency department": "ED | ER | emergency room",
    "urinary tract infection": "UTI | urinary infection | cystitis",
    "myocardial infarction": "MI | heart attack",
    "coronary artery disease": "CAD | ischemic heart disease",
    "hemoglobin": "Hgb | Hb | haemoglobin",
    "creatinine": "Cr | creat | Creat",
    "sodium": "Na | serum sodium",
    "ejection fraction": "EF | LVEF | LV ejection fraction",
    "without": "w/o | with no",
    "with": "w/",
    "patient's": "pt's | patient's",
    "discharge": "d/c | DC | discharge",
    "discharged": "d/c'd | DC'd | sent",
    "follow up": "f/u | FU | followup | follow-up",
    "Follow up": "F/u | FU | Followup | Follow-up",
    "status post": "s/p | after",
    "postoperative day": "POD | post-op day",
    "postoperative": "post-op | postop",
    "medications": "meds | medicines",
    "antibiotics": "abx | antimicrobials",
    "nausea": "nausea | queasiness",
    "vomiting": "emesis | N/V",
    "fevers": "febrile episodes | temps | pyrexia",
    "chest pain": "CP | chest discomfort",
    "lower extremity": "LE | leg | lower limb",
    "bilateral": "bilat | b/l | both",
    "unremarkable": "wnl | within normal limits | normal | benign",
    "improved": "got better | improved | was better | resolved",
    "remained": "stayed | was | continued to be",
    "was started on": "was begun on | was initiated on | was placed on | began",
    "was treated with": "received | was given | was managed with",
    "continued": "cont'd | kept on | maintained",
    "reviewed": "went over | discussed | reviewed",
    "recommended": "advised | suggested",
    "evaluated": "assessed | saw | examined",
    "tolerated": "handled | did well with",
    "ambulating": "walking | ambulatory | mobilizing",
    "afebrile": "without fever | no fevers | AF",
    "unlabored": "non-labored | easy",
    "stable": "stable | unchanged | steady",
    "approximately": "approx. | ~ | about | roughly",
    "encouraged": "advised | urged | reinforced",
    "arranged": "set up | organized | coordinated",
    "obtained": "acquired | sent | checked",
    "requested": "ordered | asked for",
    "provided": "given | supplied | offered",
    "completed": "done | finished | performed",
    "maintained": "kept | upheld | observed",
    "throughout": "during the stay | the whole admission",
    "morning": "AM | a.m.",
    "overnight": "o/n | during the night",
    "mild": "slight | minimal | minor",
    "worsening": "progressive | increasing | escalating",
    "resolved": "cleared | abated | subsided",
    "was consulted": "was called | saw the patient | was asked to see the patient",
    "before discharge": "prior to discharge | pre-discharge",
    "on the day of discharge": "on the day of d/c | at discharge | on discharge day",
    "presented with": "came in with | presents with | reported | complained of | c/o",
    "swelling": "edema | puffiness",
    "productive cough": "wet cough | cough with phlegm | cough productive of sputum",
    "dry cough": "nonproductive cough | hacking cough",
    "wheezing": "wheeze | whistling breathing",
    "substernal chest pressure": "retrosternal pressure | pressure-like chest pain | crushing chest pain",
    "diaphoresis": "sweating | clamminess",
    "black tarry stools": "melena | dark stools",
    "coffee-ground emesis": "hematemesis | coffee-ground vomitus",
    "slurred speech": "dysarthria | trouble speaking",
    "facial droop": "facial asymmetry | drooping of the face",
    "decreased urine output": "oliguria | making little urine",
    "poor oral intake": "poor PO intake | not eating or drinking",
    "increasing abdominal girth": "abdominal distension | a bigger belly",
    "flank pain": "CVA pain | back pain over the kidney",
    "tremors": "shakiness | tremulousness",
    "rigors": "shaking chills | chills",
    "dysuria": "burning with urination | painful urination",
    "polydipsia": "excessive thirst | drinking a lot",
    "polyuria": "frequent urination | urinating a lot",
    "orthopnea": "needing more pillows to sleep | breathlessness lying flat",
    "lightheadedness": "dizziness | presyncope",
    "confusion": "altered mental status | AMS | disorientation",
    "weakness": "debility | loss of strength",
    "tolerating": "handling | managing",
    "Physical therapy": "PT | Physiotherapy | Rehab services",
    "Nutrition": "Dietitian | Nutrition services",
    "Social work": "SW | Social services",
    "follow-up": "f/u | followup | next visit",
    "appointment": "appt | visit",
    "medication": "med | drug",
    "acute": "new | sudden",
    "chronic": "long-standing | longstanding",
    "elevated": "high | raised | increased",
    "decreased": "low | reduced | diminished",
    "hospital": "hosp | inpatient | the hospital",
    "admission": "admit | hospitalization | this stay",
    "admitted": "hospitalized | brought in | taken in",
    "Denies": "Negative for | Pt denies | No",
    "denies": "negative for | reports no | without",
    "showed": "demonstrated | revealed | was notable for",
    "notable for": "significant for | remarkable for | pertinent for",
    "outpatient": "clinic | ambulatory",
    "symptoms": "sx | complaints",
    "abdominal pain": "abd pain | belly pain | epigastric pain",
    "headache": "HA | cephalgia",
    "palpitations": "heart racing | fluttering",
    "malignancy": "cancer | neoplasm | CA",
    "normal": "nl | WNL | unremarkable",
    "baseline": "prior level | usual state",
    "significant": "notable | marked | substantial",
    "discussed": "talked over | addressed | reviewed",
    "scheduled": "booked | set | made",
    "required": "needed | necessitated",
    "trended": "followed | tracked | monitored",
    "transitioned": "switched | converted | changed over",
    "received": "got | was given",
    "continue": "cont | keep | carry on with",
    "reduced": "lowered | cut back | decreased",
    "checks": "monitoring | measurements",
    "regimen": "plan | schedule",
    "performed": "done | carried out",
    "reported": "stated | endorsed | noted",
    "negative": "neg | unrevealing | (-)",
    "urgent care": "the ED | urgent evaluation | immediate attention",
    "precautions": "safety measures | protocol",
    "instructions": "teaching | guidance",
    "weight": "wt | body weight",
    "examination": "exam | assessment",
    "ultrasound": "US | sonogram | u/s",
    "infusion": "drip | gtt",
    "treatment": "tx | therapy | management",
    "controlled": "managed | under control",
    "suggested": "raised concern for | pointed to | indicated",
    "small": "tiny | minor | little",
    "teaching": "education | instruction",
    "including": "incl | such as",
    "deferred": "postponed | held off",
    "pain": "discomfort | soreness | ache",
    "fatigue": "tiredness | malaise | lethargy",
    "anxiety": "nervousness | worry",
    "blood pressure medications": "antihypertensives | BP meds",
    "family member": "relative | next of kin",
    "daughter": "dtr | adult daughter",
    "spouse": "partner | significant other",
    "nursing home": "long-term care facility | LTC | assisted living",
    "ordered": "placed | requested",
    "checked": "measured | assessed | verified",
    "started": "initiated | begun | commenced",
    "stopped": "discontinued | d/c'd | held",
    "increased": "uptitrated | raised | went up",
    "gradually": "slowly | progressively | step by step",
    "patient education": "teaching | counseling",
    "Echocardiogram": "TTE | Echo | Transthoracic echo | 2D echo",
    "Chest radiograph": "CXR | Chest x-ray | Chest film | PA/lateral CXR",
    "chest radiograph": "CXR | chest x-ray | chest film",
    "Cardiac catheterization": "Cath | LHC | Left heart catheterization",
    "computed tomography": "CT | CAT scan",
    "magnetic resonance imaging": "MRI | MR",
    "deep vein thrombosis": "DVT | venous thrombosis",
    "pulmonary embolism": "PE | pulmonary embolus",
    "gastroesophageal reflux disease": "GERD | reflux | acid reflux",
    "obstructive sleep apnea": "OSA | sleep apnea",
    "benign prostatic hyperplasia": "BPH | enlarged prostate",
    "packed red blood cells": "PRBC | pRBCs | units of blood",
    "Case management": "CM | Care management | Social work/CM | Discharge planning",
    "family": "family | relatives | family members",
    "caregiver": "caretaker | carer | HHA",
    "wife": "spouse | wife",
    "husband": "spouse | husband",
    "kilograms": "kg | kilos",
    "percent": "% | pct",
    "degrees Fahrenheit": "F | deg F | degrees",
}.items()}

#: Hedges a clinician puts in front of the working diagnosis ("admitted with likely pneumonia").
HEDGES = _split("likely | presumed | probable | suspected | what appeared to be | clinical concern for | "
                "findings consistent with | a picture most consistent with | possible | apparent")

#: How clinicians introduce the hospital course.
COURSE_OPENERS = _split(
    "In brief, | Briefly, | In summary, | To summarize, | Summary of hospital course: | Pertinent events: | "
    "The hospital course is summarized below. | Problems are addressed in turn below. | As outlined below, | "
    "Over the course of the admission, ")

#: Personal stock sentences (each clinician uses a few, in every note they write).
STOCK_PHRASES = _split(
    "Greater than 30 minutes were spent on discharge planning and coordination of care. | "
    "More than half of the visit was spent on counseling and coordination. | "
    "Patient seen and examined on the day of discharge, stable for discharge. | "
    "Discussed with the attending, who agrees with the plan. | "
    "All questions were answered to the satisfaction of the patient and family. | "
    "Return precautions reviewed in detail; teach-back performed. | "
    "Instructions were provided in the preferred language with an interpreter. | "
    "Medically optimized for discharge per primary team. | "
    "Code status confirmed as full code on admission. | "
    "Advance directive and health care proxy are on file. | "
    "Discharge summary faxed to the outpatient provider. | "
    "Records released to the outpatient office with consent. | "
    "Hemodynamically stable, tolerating diet, pain controlled, voiding spontaneously. | "
    "Afebrile, ambulating at baseline, tolerating oral intake. | "
    "Clinically improved and deemed appropriate for discharge. | "
    "Reconciled medication list reviewed line by line. | "
    "Vaccination status reviewed; influenza vaccine offered. | "
    "Pneumococcal vaccination status reviewed. | "
    "Smoking cessation counseling provided for more than three minutes. | "
    "Patient verbalized understanding and agreement. | "
    "The prescription monitoring program was checked before prescribing opioids. | "
    "Telemetry reviewed without significant events. | "
    "Wound care teaching completed with return demonstration. | "
    "Home safety and fall risk reviewed with the family. | "
    "Outpatient records from the affiliated practice were reviewed. | "
    "Spoke with the daughter by telephone to update her. | "
    "Hospitalist service assumed care on arrival. | "
    "Nursing notes and flowsheets reviewed. | "
    "Case discussed at interdisciplinary rounds. | "
    "Barriers to discharge were addressed by the care team.")

#: Dictation artefacts (dictating clinicians only).
DICTATION_MARKS = _split("[inaudible] | [unintelligible] | (ph) | [sic]")

SURNAMES = _split(
    "Abbott Acosta Adeyemi Aguilar Ahmed Alvarez Anand Andersen Antonelli Arora Asante Baker Banerjee Barnes Bauer "
    "Becker Bell Bennett Berg Bernstein Bhatt Bianchi Bishop Blackwell Bloom Bose Boyle Brennan Brooks Bui Burke "
    "Caldwell Campbell Cantor Carrillo Carter Castillo Chan Chandra Chang Chaudhry Chen Cho Choi Chowdhury Cohen "
    "Coleman Collins Conti Cooper Costa Cruz Cunningham Dalton Das Davidson DeLuca Desai Diaz Dixon Donovan Dubois "
    "Duffy Dunn Ebrahimi Edwards Eisenberg Ellis Esposito Estrada Farouk Feldman Fernandez Ferrari Fischer Fitzgerald "
    "Flores Foster Fox Friedman Fung Gallagher Garcia Garg Gill Goldberg Gomez Gonzalez Gordon Graham Green "
    "Greenberg Gupta Gutierrez Haas Hall Hamilton Han Hansen Harris Hassan Hayes Herrera Hoffman Horowitz Hossain "
    "Huang Hughes Ibrahim Iyer Jackson Jain James Jensen Jiang Johnson Joseph Kahn Kang Kaplan Kapoor Katz Kaur "
    "Kelly Khan Kim Klein Kowalski Krishnan Kumar Lam Landry Larsen Lee Levine Levy Lewis Li Lin Liu Lopez Lu "
    "Lynch Maddox Mahmoud Malik Marino Martin Martinez Mehta Mendez Menon Meyer Miller Mishra Mitchell Molina "
    "Moore Morales Moreno Morgan Murphy Murray Nair Nakamura Navarro Nelson Ng Nguyen Novak Nunez O'Brien "
    "O'Connor Ogunleye Okafor Okonkwo Oliveira Olsen Ortiz Osei Owusu Pak Palmer Park Parker Patel Pereira Perez "
    "Peters Petrov Phillips Pillai Popescu Price Qureshi Rahman Ramirez Ramos Rao Reddy Reyes Richards Rivera "
    "Roberts Robinson Rodriguez Romero Rosen Rosenberg Ross Rossi Roy Russo Saito Salazar Sanchez Santos Sato "
    "Schwartz Scott Sen Shah Shapiro Sharma Shin Siddiqui Silva Singh Sokolov Song Stein Stewart Sullivan Sun "
    "Suzuki Tan Tanaka Taylor Thomas Thompson Torres Tran Trivedi Turner Vargas Vasquez Verma Vogel Walsh Wang "
    "Ward Warren Weber Weiss Williams Wong Wright Wu Xu Yamamoto Yang Yildiz Young Yu Zhang Zhao Zhou Zimmerman "
    "Achebe Agarwal Almeida Amato Aronson Ashworth Baptiste Barzani Beaumont Belanger Benitez Bergstrom Bhandari "
    "Blanchard Bogdan Bonilla Bouchard Brandt Bravo Cabrera Calloway Cardenas Castro Chaudhary Cheung Ciccone "
    "Contreras Cordero Dabrowski Dangelo Delgado Demir Dimitriou Dorsey Duarte Durand Eriksen Espinoza Falco "
    "Farah Ferreira Figueroa Fleming Fontaine Fraser Fuentes Gallo Galvez Gebre Giordano Goldstein Greco Guerrero "
    "Haddad Halloran Hargrove Hernandez Hidalgo Holloway Hurtado Ivanova Jablonski Jovanovic Kaminski Karimi "
    "Kasprzak Keane Kovacs Kruger Lacroix Lambert Lazarus Leblanc Lindqvist Lombardi Lozano Mahoney Mancini "
    "Marchetti Markovic Medina Mercado Mikhailov Mondal Montoya Moretti Moussa Mukherjee Nakagawa Nasser Nieves "
    "Novotny Obi Okoro Orlov Ortega Osterman Pacheco Padilla Pappas Pellegrino Perlman Petrovic Pham Quintero "
    "Rasmussen Reinholt Rinaldi Robles Rojas Rosario Rubio Sabbagh Salinas Sandoval Santiago Schneider Serrano "
    "Sheikh Soto Stavros Sutherland Szabo Tadesse Takahashi Toledo Trujillo Ueda Valdez Varga Vega Velez "
    "Villanueva Wallace Watanabe Wilkins Wojcik Yoon Zamora Zapata Zelenko",
    sep=" ")

FIRST_NAMES = _split(
    "Aaron Abigail Adaeze Adrian Aisha Alejandro Alexei Alina Amara Amir Ana Andre Anika Anjali Antonio Arjun "
    "Beatriz Benjamin Bianca Brendan Camila Carlos Catherine Chiara Chidi Chloe Christopher Claire Daniel Daria "
    "David Deepa Diego Dmitri Eleanor Elena Elijah Emeka Emily Esther Ethan Fatima Felipe Fiona Gabriel Grace "
    "Hana Hannah Hector Hiroshi Ibrahim Ifeoma Imani Irene Isaac Isabel Jamal Javier Jennifer Jia Jonathan Jorge "
    "Joshua Julia Kavya Keisha Kenji Kevin Kwame Laila Lauren Leah Lucas Lucia Mara Marcus Maria Mariam Mateo "
    "Maya Mei Michael Miguel Min Mohammed Nadia Naomi Nathan Neha Nia Nikhil Noah Olga Omar Oren Pablo Priya "
    "Rachel Rafael Rahul Rebecca Renee Ricardo Rohan Rosa Ruth Samuel Sana Sara Sean Sergei Shira Simone "
    "Sofia Stephanie Tamar Tariq Thomas Tomas Valentina Vanessa Victor Vikram Wei Xavier Yara Yusuf Zainab Zoe "
    "Adebayo Agnieszka Akira Alana Ayesha Bogdan Carmen Cedric Dalia Dario Desmond Ebony Emre Farid Gaurav Gloria "
    "Guillermo Harriet Ingrid Ivan Jasmine Joaquin Kalani Khalid Lakshmi Leon Malik Margarita Mustafa Nicolas "
    "Nkechi Octavia Patrice Quentin Ravi Rosalind Santiago Seo-yeon Shanice Tobias Ulrich Viktor Wanda Yohannes",
    sep=" ")

CREDENTIALS = ("MD", "MD", "MD", "DO", "PA-C", "NP", "MD, PhD")

CONSULT_SERVICES = _split(
    "cardiology | nephrology | gastroenterology | infectious disease | pulmonology | endocrinology | "
    "palliative care | geriatrics | psychiatry | addiction medicine | wound care | hematology | oncology | "
    "neurology | vascular surgery | general surgery | urology | physical medicine and rehabilitation | "
    "nutrition | pharmacy | social work | speech and swallow | podiatry | dermatology | rheumatology | "
    "interventional radiology | electrophysiology | hepatology | pain management | case management")

CLINICS = _split(
    "Ambulatory Care Center | Internal Medicine Associates | Heart Failure Clinic | Anticoagulation Clinic | "
    "Diabetes Center | Renal Associates | Pulmonary Function Lab | Wound Healing Center | Transitional Care Clinic | "
    "Family Health Center | Community Health Partners | Geriatric Assessment Clinic | Bone and Joint Center | "
    "Spine Center | Infusion Center | Cancer Center | Liver Clinic | Memory Disorders Clinic | "
    "Addiction Treatment Program | Post-Discharge Clinic | Cardiology Associates | Digestive Disease Center | "
    "Neighborhood Medical Group | Comprehensive Stroke Center | Rehabilitation Medicine Practice | "
    "Women's Health Practice | Veterans Outpatient Clinic | Federally Qualified Health Center | "
    "Hypertension Clinic | Lipid Clinic | Sleep Medicine Center | Podiatry Associates | Hand Surgery Clinic | "
    "Vascular Lab | Endocrine Associates | Urogynecology Practice | Headache Center | Sports Medicine Center | "
    "Osteoporosis Clinic | Travel Medicine Clinic | Adolescent and Young Adult Clinic")

NEIGHBOURHOODS = _split(
    "Harlem | Washington Heights | Flatbush | Bay Ridge | Bensonhurst | Astoria | Flushing | Jamaica | Fordham | "
    "Riverdale | Mott Haven | St. George | Great Neck | Mineola | Hempstead | Chinatown | Sunset Park | "
    "Jackson Heights | Park Slope | Canarsie | Inwood | Elmhurst | Bayside | Forest Hills | Pelham Bay | "
    "Williamsburg | Greenpoint | Sheepshead Bay | Coney Island | Ridgewood | Woodside | Corona | Kingsbridge | "
    "Tottenville | Levittown | Hicksville | Valley Stream | Yorkville | Gramercy | Tribeca | Morningside Heights")

OCCUPATIONS = _split(
    "retired teacher | retired bus driver | retired nurse | retired postal worker | retired electrician | "
    "retired accountant | retired firefighter | retired sanitation worker | retired seamstress | "
    "retired longshoreman | retired police officer | works as a home health aide | works in construction | "
    "works as a doorman | works as a cashier | works in a restaurant kitchen | works as a security guard | "
    "works as a taxi driver | drives for a delivery service | works as a hairdresser | works as a paralegal | "
    "works in retail | works as a mechanic | works as a custodian | works as a pharmacist | works in finance | "
    "works as a software engineer | works as a chef | works as a plumber | works as a carpenter | "
    "works as a daycare teacher | works as a housekeeper | works as a subway conductor | is a graduate student | "
    "is on disability | is unemployed | is a homemaker | works as a musician | works as a translator")

FAMILY_HISTORY = _split(
    "mother with breast cancer | father with coronary disease | father died of a stroke | "
    "mother with type 2 diabetes | brother with colon cancer | sister with lupus | "
    "mother with Alzheimer disease | father with prostate cancer | no family history of sudden cardiac death | "
    "father with abdominal aortic aneurysm | mother with osteoporosis | family history noncontributory | "
    "sister with thyroid disease | brother with alcohol use disorder | father with emphysema | "
    "mother with hypertension and kidney disease | maternal grandmother with ovarian cancer | "
    "father with Parkinson disease | brother with sickle cell trait | mother with macular degeneration | "
    "uncle with leukemia | sister with endometriosis | father with peptic ulcer disease")

PAST_SURGERY = _split(
    "appendectomy | cholecystectomy | tonsillectomy | hysterectomy | cesarean section | inguinal hernia repair | "
    "carpal tunnel release | cataract extraction | knee arthroscopy | rotator cuff repair | "
    "coronary artery bypass grafting | percutaneous coronary intervention | pacemaker placement | "
    "thyroidectomy | lumbar laminectomy | transurethral resection of the prostate | colectomy | "
    "umbilical hernia repair | tubal ligation | bunionectomy | septoplasty | hemorrhoidectomy | "
    "lumpectomy | mastectomy | nephrectomy | splenectomy | open reduction of a wrist fracture | "
    "arteriovenous fistula creation | laparoscopic gastric bypass | ventral hernia repair | "
    "parathyroidectomy | adenoidectomy | vasectomy | myomectomy | sinus surgery | cardiac ablation | "
    "mitral valve repair | aortic valve replacement | femoral-popliteal bypass | trigger finger release | "
    "Achilles tendon repair | anterior cruciate ligament reconstruction | pilonidal cyst excision")

ALLERGENS = _split(
    "penicillin | sulfa drugs | codeine | morphine | iodinated contrast | latex | shellfish | aspirin | "
    "ibuprofen | lisinopril | amoxicillin | cephalexin | ciprofloxacin | vancomycin | tramadol | oxycodone | "
    "adhesive tape | peanuts | eggs | levofloxacin | trimethoprim-sulfamethoxazole | doxycycline | gabapentin | "
    "metformin | statins | clindamycin | erythromycin | hydrocodone | ondansetron | heparin | nitrofurantoin | "
    "azithromycin | naproxen | prochlorperazine | metoclopramide | haloperidol | bee stings | strawberries | "
    "chlorhexidine | tetracycline | carbamazepine | phenytoin | allopurinol | losartan")
REACTIONS = _split("rash | hives | angioedema | anaphylaxis | nausea | itching | swelling | diarrhea | cough | "
                   "confusion | throat tightness | myalgias | dizziness | unknown reaction")

#: Home medications that carry no readmission risk, by the condition that prompts them: (generic, brand, dose).
HOME_MEDICATIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "gerd": (("omeprazole", "Prilosec", "20 mg daily"), ("pantoprazole", "Protonix", "40 mg daily"),
             ("famotidine", "Pepcid", "20 mg twice daily"), ("esomeprazole", "Nexium", "40 mg daily")),
    "hyperlipidemia": (("atorvastatin", "Lipitor", "20 mg nightly"), ("rosuvastatin", "Crestor", "10 mg daily"),
                       ("simvastatin", "Zocor", "40 mg nightly"), ("pravastatin", "Pravachol", "40 mg nightly")),
    "hypertension": (("amlodipine", "Norvasc", "5 mg daily"), ("losartan", "Cozaar", "50 mg daily"),
                     ("hydrochlorothiazide", "Microzide", "25 mg daily"), ("valsartan", "Diovan", "80 mg daily"),
                     ("chlorthalidone", "Thalitone", "25 mg daily"), ("nifedipine", "Procardia XL", "30 mg daily")),
    "depression": (("sertraline", "Zoloft", "50 mg daily"), ("escitalopram", "Lexapro", "10 mg daily"),
                   ("citalopram", "Celexa", "20 mg daily"), ("bupropion", "Wellbutrin XL", "150 mg daily"),
                   ("mirtazapine", "Remeron", "15 mg nightly"), ("duloxetine", "Cymbalta", "60 mg daily")),
    "hypothyroidism": (("levothyroxine", "Synthroid", "75 mcg daily"),),
    "sleep_apnea": (("CPAP", "CPAP", "nightly at home settings"),),
    "obesity": (("semaglutide", "Wegovy", "weekly injection"),),
    "tobacco": (("nicotine patch", "NicoDerm CQ", "21 mg daily"), ("varenicline", "Chantix", "1 mg twice daily")),
    "insomnia": (("melatonin", "melatonin", "3 mg nightly"), ("trazodone", "Desyrel", "50 mg nightly")),
    "benign prostatic hyperplasia": (("tamsulosin", "Flomax", "0.4 mg nightly"), ("finasteride", "Proscar", "5 mg daily")),
    "glaucoma": (("latanoprost", "Xalatan", "1 drop each eye nightly"), ("timolol", "Timoptic", "1 drop twice daily")),
    "allergic rhinitis": (("fluticasone nasal spray", "Flonase", "2 sprays daily"), ("loratadine", "Claritin", "10 mg daily"),
                          ("cetirizine", "Zyrtec", "10 mg daily")),
    "osteoporosis": (("alendronate", "Fosamax", "70 mg weekly"), ("calcium carbonate with vitamin D", "Os-Cal", "twice daily")),
    "gout": (("allopurinol", "Zyloprim", "300 mg daily"), ("colchicine", "Colcrys", "0.6 mg daily")),
    "peripheral neuropathy": (("gabapentin", "Neurontin", "300 mg three times daily"), ("pregabalin", "Lyrica", "75 mg twice daily")),
    "vitamin D deficiency": (("cholecalciferol", "vitamin D3", "2000 units daily"), ("ergocalciferol", "Drisdol", "50000 units weekly")),
    "anxiety": (("buspirone", "Buspar", "10 mg twice daily"), ("hydroxyzine", "Vistaril", "25 mg as needed")),
    "constipation": (("polyethylene glycol", "Miralax", "17 g daily"), ("senna", "Senokot", "2 tablets nightly")),
    "iron deficiency": (("ferrous sulfate", "Feosol", "325 mg daily"),),
    "vitamin B12 deficiency": (("cyanocobalamin", "vitamin B12", "1000 mcg daily"),),
    "restless legs syndrome": (("ropinirole", "Requip", "0.25 mg nightly"),),
    "chronic low back pain": (("lidocaine patch", "Lidoderm", "1 patch daily"), ("meloxicam", "Mobic", "7.5 mg daily")),
    "osteoarthritis": (("diclofenac gel", "Voltaren", "apply four times daily"), ("acetaminophen", "Tylenol", "650 mg every 6 hours as needed")),
}

#: Examination on the day of discharge: system -> normal findings (each clinician keeps one wording per system).
EXAM_NORMAL: dict[str, tuple[str, ...]] = {
    "General": _split("NAD | no acute distress | well appearing | comfortable, resting in bed | "
                      "alert, conversant, in no distress | pleasant elderly {sex_word} in no distress"),
    "HEENT": _split("NCAT, MMM, EOMI | anicteric sclerae, moist mucous membranes | PERRLA, oropharynx clear | "
                    "normocephalic, atraumatic, mucosa moist"),
    "Neck": _split("supple, no JVD | no jugular venous distension | no lymphadenopathy, JVP not elevated | "
                   "supple without thyromegaly"),
    "CV": _split("RRR, no m/r/g | regular rate and rhythm, no murmurs | S1 S2 normal, no gallop | "
                 "regular rhythm, normal heart sounds"),
    "Lungs": _split("CTAB | clear to auscultation bilaterally | good air entry, no wheezes or rales | "
                    "breathing comfortably, lungs clear"),
    "Abdomen": _split("soft, NT/ND, +BS | soft, nontender, nondistended | benign, normoactive bowel sounds | "
                      "soft, no guarding or rebound"),
    "Extremities": _split("WWP, no c/c/e | warm and well perfused, no edema | no clubbing, cyanosis or edema | "
                          "distal pulses palpable, no edema"),
    "Neuro": _split("AAOx3, CN II-XII grossly intact | alert and oriented, nonfocal | A&Ox3, moving all extremities | "
                    "oriented to person, place and time, strength 5/5 throughout"),
    "Skin": _split("no rashes | warm, dry, intact | no lesions or rashes | no pressure injuries noted"),
    "Psych": _split("calm, appropriate affect | normal mood and affect | cooperative, linear thought process"),
}
EXAM_HEADINGS = (("General", "Gen", "GENERAL"), ("HEENT", "Head/eyes", "HEENT"), ("Neck", "Neck", "NECK"),
                 ("CV", "Heart", "Cardiac", "CVS"), ("Lungs", "Resp", "Chest", "Pulm"),
                 ("Abdomen", "Abd", "GI"), ("Extremities", "Ext", "Extr"), ("Neuro", "Neurologic", "NEURO"),
                 ("Skin", "Derm", "Integument"), ("Psych", "Psychiatric", "Mental status"))

#: Incidental findings on imaging: true, common and without readmission risk.
INCIDENTAL_FINDINGS = _split(
    "mild bibasilar atelectasis | a 4 mm pulmonary nodule, follow-up per Fleischner guidelines | "
    "hepatic steatosis | sigmoid diverticulosis without diverticulitis | a simple renal cyst | "
    "degenerative changes of the thoracic spine | cholelithiasis without cholecystitis | "
    "aortic atherosclerotic calcification | a small hiatal hernia | mild cardiomegaly | "
    "chronic small vessel ischemic changes | a thyroid nodule, outpatient ultrasound recommended | "
    "emphysematous changes at the apices | a calcified granuloma | mild splenomegaly | "
    "an adrenal adenoma | bilateral pleural thickening | old healed rib fractures | "
    "moderate osteopenia | prostatomegaly | a uterine fibroid | mild hydronephrosis, resolved on repeat imaging")
IMAGING_STUDIES = _split("CT of the chest | CT of the abdomen and pelvis | chest radiograph | CT of the head | "
                         "renal ultrasound | right upper quadrant ultrasound | lower extremity duplex | "
                         "MRI of the lumbar spine")

#: Admission laboratory panel: name -> (clinician spellings, mean, sd, decimals, unit).
ADMISSION_LABS: dict[str, tuple[tuple[str, ...], float, float, int, str]] = {
    "wbc": (("WBC", "white count", "leukocytes"), 9.0, 3.0, 1, "K/uL"),
    "platelets": (("Plt", "platelets", "PLT"), 240.0, 70.0, 0, "K/uL"),
    "potassium": (("K", "potassium", "K+"), 4.1, 0.5, 1, "mmol/L"),
    "chloride": (("Cl", "chloride"), 102.0, 4.0, 0, "mmol/L"),
    "bicarbonate": (("HCO3", "bicarb", "CO2", "bicarbonate"), 24.0, 3.0, 0, "mmol/L"),
    "bun": (("BUN", "urea nitrogen"), 20.0, 8.0, 0, "mg/dL"),
    "glucose": (("Glucose", "glucose", "BG", "Glu"), 130.0, 40.0, 0, "mg/dL"),
    "magnesium": (("Mg", "magnesium"), 2.0, 0.25, 1, "mg/dL"),
    "inr": (("INR",), 1.1, 0.15, 1, ""),
    "lactate": (("lactate", "lactic acid"), 1.5, 0.6, 1, "mmol/L"),
    "albumin": (("albumin", "Alb"), 3.6, 0.5, 1, "g/dL"),
}

#: Terms that enter notes over the study window (time mechanism "new terms and drugs"): (first year, sentence).
NEW_TERMS: tuple[tuple[int, str], ...] = (
    (2014, "Discharge medication reconciliation was completed in the electronic health record."),
    (2016, "Patient enrolled in the patient portal for messaging and results."),
    (2017, "Opioid prescription limited to a short supply per state guidance."),
    (2018, "Naloxone nasal spray was prescribed and overdose education was provided."),
    (2019, "Social determinants of health screening was completed."),
    (2020, "A telehealth visit was offered for the first follow-up."),
    (2020, "Visitor restrictions were in place; family was updated by video call."),
    (2021, "COVID-19 vaccination status was reviewed and the vaccine was offered."),
)

#: More narrative sentences of inpatient care, without readmission risk; each clinician uses a personal share of the
#: hospital's narrative pool plus this one, so vocabulary grows with the number of writers.
NARRATIVE_EXTRA = _split(
    "Overnight {he} had a brief episode of sinus tachycardia that resolved with reassurance and oral hydration. | "
    "A peripheral intravenous line infiltrated on the second day and was replaced without sequelae. | "
    "{He} reported mild insomnia, managed with sleep hygiene measures rather than sedatives. | "
    "Chaplaincy visited at the family's request. | "
    "A bedside swallow screen was passed and {he} advanced to a mechanical soft diet. | "
    "Orthostatic vital signs were checked before mobilization and were unremarkable. | "
    "Constipation responded to scheduled senna and polyethylene glycol. | "
    "Mild hypomagnesemia was repleted orally. | "
    "A urinalysis obtained for cloudy urine was bland and cultures were not sent. | "
    "Interpreter services were used for all substantive conversations. | "
    "{He} was briefly disoriented the first night, which cleared with reorientation and glasses within reach. | "
    "The dietitian recommended a carbohydrate-consistent, low-sodium diet. | "
    "Lower extremity venous duplex for unilateral calf asymmetry was negative. | "
    "Home continuous positive airway pressure was continued at night. | "
    "A heel pad and frequent repositioning protected the skin. | "
    "Thrombocytopenia on admission was mild and improved without intervention. | "
    "{His} hearing aids and dentures were accounted for at discharge. | "
    "Transient hyperglycemia in the setting of acute illness was covered with correctional insulin. | "
    "An electrocardiogram showed normal sinus rhythm with a first-degree atrioventricular block, unchanged from "
    "prior tracings. | "
    "Ambulation distance increased from the doorway to two laps of the unit. | "
    "Stool guaiac testing was not pursued. | "
    "{He} declined the influenza vaccine after counseling. | "
    "A pharmacist reviewed anticholinergic burden and deprescribed diphenhydramine. | "
    "The family brought in a detailed list of over-the-counter supplements, including turmeric and fish oil. | "
    "Bladder scans showed post-void residuals under 150 milliliters. | "
    "Sputum cultures grew normal oropharyngeal flora. | "
    "Blood cultures from admission remained without growth at five days. | "
    "A thiamine deficiency was considered and empiric supplementation was given. | "
    "Mild transaminitis was attributed to congestion and trended toward normal. | "
    "Lipase was within normal limits. | "
    "Procalcitonin was low, supporting a short antibiotic course. | "
    "Troponins were flat and not consistent with acute coronary syndrome. | "
    "B-type natriuretic peptide was modestly elevated above the known baseline. | "
    "Thyroid-stimulating hormone was normal. | "
    "Hemoglobin A1c was measured during the stay to guide outpatient titration. | "
    "A lipid panel was drawn fasting. | "
    "{He} used a bedside commode at night because of urgency. | "
    "Gait was steadier with a single-point cane than with the walker. | "
    "The occupational therapist recommended a shower chair and grab bars. | "
    "Glasses, a phone charger and a large-print medication calendar were arranged. | "
    "Goals of care conversation was deferred to the outpatient provider at the patient's request. | "
    "Health care proxy was identified as {his} eldest son. | "
    "Medicaid application assistance was offered by the financial counselor. | "
    "Transportation for the first appointment was arranged through a community program. | "
    "Prior authorization for the discharge prescriptions was obtained. | "
    "A visiting nurse referral was sent for medication management and vital sign checks. | "
    "Pill organizer teaching was done with the pharmacist. | "
    "Home infusion company was contacted and supplies were delivered. | "
    "Blood pressure medications were held the first morning for soft pressures and resumed the next day. | "
    "A fingerstick glucose of 58 on the third morning responded to juice and the basal dose was reduced. | "
    "An isolated temperature spike after transfusion settled without treatment. | "
    "Incidental asymptomatic bacteriuria was not treated. | "
    "Mild hypokalemia from diuresis was repleted. | "
    "Compression stockings were fitted before discharge. | "
    "The wound care nurse photographed and measured the sacral area, which was intact. | "
    "Cognitive screening with the Montreal Cognitive Assessment scored in the mildly impaired range. | "
    "Depression screening was negative. | "
    "{He} watched the teaching video on inhaler technique and demonstrated correct use. | "
    "Spacer device was provided. | "
    "Peak flow measurements improved through the stay. | "
    "Supplemental oxygen was weaned off with ambulatory saturations above 90 percent. | "
    "Sleep was interrupted by overnight vital signs, so checks were clustered. | "
    "Hospital-acquired delirium precautions were in place, including early mobilization and daylight exposure.")

PHARMACIES = _split("Duane Reade | Walgreens | CVS | Rite Aid | the hospital outpatient pharmacy | "
                    "a neighborhood independent pharmacy | a mail-order pharmacy | Costco pharmacy")
STREETS = _split("Amsterdam Avenue | Flatbush Avenue | Northern Boulevard | Grand Concourse | Atlantic Avenue | "
                 "Hillside Avenue | Victory Boulevard | Jericho Turnpike | Fordham Road | Myrtle Avenue | "
                 "Queens Boulevard | Lexington Avenue | Ocean Parkway | Roosevelt Avenue | Broadway")

#: What a problem-oriented course says about a chronic problem (no risk: the problem itself is the fact).
PROBLEM_ACTIONS = _split(
    "continued on the home regimen | stable, no changes made | home medications held on admission and restarted "
    "before discharge | monitored without active issues | dose adjusted, recheck as an outpatient | at baseline | "
    "well controlled during the stay | not addressed acutely, defer to outpatient care | "
    "chronic and stable, continue current management | mildly uncontrolled in the setting of acute illness, "
    "improved | no acute issues, continue outpatient follow-up | optimized during admission | "
    "asymptomatic throughout | counseled, outpatient titration recommended")

#: Further details of the hospital course by principal diagnosis: a note tells some of them (all true of such a
#: stay, none a risk fact), so two notes about the same illness rarely read alike.
DIAGNOSIS_DETAILS: dict[str, tuple[str, ...]] = {k: _split(v) for k, v in {
    "heart_failure": "Net negative diuresis of several liters was achieved. | Metolazone was added once for "
                     "diuretic resistance. | Strict intake and output and a two-gram sodium restriction were "
                     "followed. | Jugular venous pressure fell and crackles cleared. | Spironolactone was considered "
                     "but deferred because of potassium. | Dry weight was re-established.",
    "pneumonia": "Sputum Gram stain showed gram-positive diplococci. | Legionella and pneumococcal urinary "
                 "antigens were negative. | Procalcitonin fell appropriately. | Antibiotics were narrowed once "
                 "cultures returned. | Repeat chest imaging was deferred to six weeks.",
    "copd": "A peak flow diary was started. | Inhaler technique was poor and was corrected. | Arterial blood gas "
            "on arrival showed mild hypercapnia. | Noninvasive ventilation was not required. | Pulmonary "
            "rehabilitation referral was placed.",
    "sepsis": "A central line was not needed. | Vasopressors were not required after fluid resuscitation. | "
              "Source control was achieved with antibiotics alone. | Renal ultrasound showed no obstruction or "
              "abscess. | Mentation normalized as the infection cleared.",
    "nstemi": "Heparin infusion was continued for 48 hours. | Radial access was used without hematoma. | "
              "Cardiac rehabilitation referral was placed. | High-intensity statin and beta-blocker were "
              "started. | Residual nonobstructive disease was noted in the circumflex.",
    "stroke": "Tissue plasminogen activator was not given because of the time window. | Carotid duplex showed "
              "no significant stenosis. | Telemetry captured no atrial fibrillation and an event monitor was "
              "arranged. | Permissive hypertension was allowed for the first 24 hours. | Deficits improved to "
              "mild residual dysarthria.",
    "gi_bleed": "Helicobacter pylori biopsy was sent. | Two large-bore intravenous lines were placed. | "
                "Nonsteroidal anti-inflammatory drugs were discontinued. | Diet was advanced after the "
                "second look. | Iron studies suggested chronic blood loss.",
    "dka": "Beta-hydroxybutyrate normalized. | Potassium was replaced aggressively during the insulin drip. | "
           "The precipitant was insulin nonadherence due to cost. | An endocrinology referral and insulin pen "
           "teaching were completed. | Continuous glucose monitor supplies were prescribed.",
    "aki": "Fractional excretion of sodium suggested a prerenal cause. | Angiotensin receptor blocker and "
           "diuretic were held. | Urine microscopy showed no casts. | Bladder scan excluded retention. | "
           "Renal dosing of medications was reviewed.",
    "cellulitis": "Borders were marked on admission. | No abscess was seen on bedside ultrasound. | Tinea "
                  "pedis was treated as the portal of entry. | Leg elevation was encouraged. | MRSA nasal "
                  "swab was negative.",
    "syncope": "Carotid sinus massage was not performed. | Holter monitor was arranged. | Prodrome of warmth "
               "and nausea suggested a vasovagal mechanism. | Antihypertensives were reduced. | Driving "
               "restrictions were discussed.",
    "chest_pain": "Coronary CT angiography was offered as an outpatient. | Costochondral tenderness "
                  "reproduced the pain. | An exercise stress test was completed to a good workload. | "
                  "Gastroesophageal reflux was also considered and a trial of acid suppression was started.",
    "pyelonephritis": "CT showed no perinephric abscess or stone. | Blood cultures were negative. | "
                      "Costovertebral angle tenderness resolved.",
    "alcohol_withdrawal": "Peak CIWA scores were in the high teens. | No seizures or hallucinations "
                          "occurred. | Motivational interviewing was done. | Naltrexone was discussed. | "
                          "A detoxification program bed was offered.",
    "neutropenic_fever": "Granulocyte colony-stimulating factor was given. | Neutropenic precautions were "
                         "maintained. | No source was identified. | The next chemotherapy cycle was "
                         "postponed by the oncologist.",
    "cirrhosis": "Albumin was given after large-volume paracentesis. | Ascitic fluid cell count was below "
                 "the threshold for peritonitis. | Hepatic encephalopathy improved with lactulose and "
                 "rifaximin. | Transplant hepatology was informed. | A low-sodium diet was reinforced.",
    "covid": "Proning was encouraged while awake. | Inflammatory markers peaked on day four. | Prophylactic "
             "anticoagulation was given. | Isolation precautions were maintained. | Tocilizumab was not "
             "required.",
    "pulmonary_embolism": "Troponin and natriuretic peptide were normal. | Lower extremity duplex showed a "
                          "popliteal thrombus. | Age-appropriate cancer screening was recommended. | "
                          "Anticoagulation duration of at least three months was planned.",
    "cholecystitis": "Hepatobiliary scan was not needed. | Liver enzymes normalized after surgery. | "
                     "Pathology confirmed acute cholecystitis. | Port sites were clean.",
    "bowel_obstruction": "Gastrografin challenge showed contrast in the colon. | The nasogastric tube was "
                         "removed on day three. | Adhesions from prior surgery were the likely cause. | "
                         "Surgery followed daily without operative intervention.",
    "hip_fracture": "Orthogeriatrics co-managed the stay. | A fascia iliaca block was placed in the emergency "
                    "department. | Vitamin D was low and was repleted. | Osteoporosis treatment was "
                    "recommended after discharge.",
    "tka": "Continuous passive motion was not used. | Knee flexion reached 90 degrees. | A periarticular "
           "injection was given intraoperatively. | Tranexamic acid limited blood loss.",
    "tha": "Leg lengths were equal on examination. | Posterior hip precautions were taught. | Tranexamic acid "
           "limited blood loss. | Abduction pillow was used overnight.",
    "spinal_fusion": "Intraoperative neuromonitoring was stable. | A lumbar brace was fitted. | Bowel and "
                     "bladder function were intact. | Log-roll precautions were maintained.",
    "shoulder": "An interscalene nerve block provided analgesia. | Pendulum exercises were started. | "
                "Sling use for six weeks was recommended.",
    "revision": "Erythrocyte sedimentation rate and C-reactive protein were normal before surgery. | "
                "Bone loss required augments. | Extended thromboprophylaxis was prescribed.",
    "surgical_site_infection": "The wound was packed and a negative-pressure dressing was applied. | "
                               "Infectious disease guided antibiotic selection. | Weekly safety labs were "
                               "ordered for the infusion.",
    "joint_infection": "The polyethylene liner was exchanged. | Synovial fluid alpha-defensin was positive. | "
                       "Weekly laboratory monitoring was arranged through the infusion company.",
    "postop_anemia": "Iron studies were consistent with acute blood loss. | Anticoagulation was held for 24 "
                     "hours. | Orthostatic symptoms resolved after transfusion.",
    "fall_injury": "A medication review found two sedating drugs, which were stopped. | Vision and footwear "
                   "were assessed. | The home was evaluated for loose rugs and poor lighting.",
}.items()}

#: Everyday words for each principal diagnosis, for the letter to the patient that many discharge summaries end with.
LAY_TERMS: dict[str, str] = {
    "heart_failure": "fluid building up because your heart is not pumping strongly enough",
    "pneumonia": "a lung infection", "copd": "a flare of your chronic lung disease",
    "sepsis": "a serious infection that started in your bladder and spread to your blood",
    "nstemi": "a small heart attack", "stroke": "a stroke, a blockage of blood flow to part of your brain",
    "gi_bleed": "bleeding from an ulcer in your stomach", "dka": "very high blood sugar with acid in your blood",
    "aki": "a sudden drop in how well your kidneys work", "cellulitis": "a skin infection of your leg",
    "syncope": "fainting", "chest_pain": "chest pain that was not from your heart",
    "pyelonephritis": "a kidney infection", "alcohol_withdrawal": "withdrawal from alcohol",
    "neutropenic_fever": "a fever while your infection-fighting cells were low after chemotherapy",
    "cirrhosis": "fluid in your belly from liver scarring", "covid": "pneumonia caused by the coronavirus",
    "pulmonary_embolism": "a blood clot in your lungs", "cholecystitis": "an inflamed gallbladder, which was removed",
    "bowel_obstruction": "a blockage of your intestines", "hip_fracture": "a broken hip, which was repaired",
    "tka": "your knee replacement", "tha": "your hip replacement", "spinal_fusion": "your back surgery",
    "shoulder": "your shoulder replacement", "revision": "surgery to redo your joint replacement",
    "surgical_site_infection": "an infection of your surgical wound",
    "joint_infection": "an infection around your joint replacement",
    "postop_anemia": "a low blood count after surgery", "fall_injury": "a fall at home",
}
LETTER_OPENINGS = _split(
    "It was a pleasure taking care of you. | Thank you for letting us take part in your care. | "
    "You were in the hospital because of | We were glad to help you get better. | "
    "Here is a short summary of your stay.")
LETTER_ADVICE = _split(
    "Weigh yourself every morning and call if your weight goes up more than three pounds. | "
    "Take all of your medicines exactly as written on the list. | Do not drive while taking the pain pills. | "
    "Keep your legs raised when you sit. | Drink plenty of fluids unless your doctor told you to limit them. | "
    "Avoid salty foods such as canned soups, deli meats and chips. | Check your sugar before each meal. | "
    "Keep the wound dry and do not soak in a bath. | Walk a little more each day. | "
    "Bring this paper to your next appointment. | Stop smoking; your doctor can help you quit. | "
    "Avoid alcohol completely. | Use your breathing exerciser ten times an hour while awake. | "
    "Come back to the emergency room if you feel faint, short of breath or have chest pain.")
DIETS = _split("Diet: regular | Diet: heart healthy, low sodium | Diet: carbohydrate controlled | "
               "Diet: renal | Diet: mechanical soft, thin liquids | Diet: low fat | Diet: as tolerated | "
               "Diet: two-gram sodium, 1.5 liter fluid restriction | Diet: pureed with nectar-thick liquids")
CONDITION_AT_DISCHARGE = _split(
    "Condition: stable. Mental status: clear and coherent. Level of consciousness: alert and interactive. | "
    "Condition at discharge: good. | Condition: fair, improved. | "
    "Activity status: ambulatory, independent. | Activity status: ambulatory, requires assistance or aid "
    "(walker or cane). | Mental status: confused at times, at baseline per family.")

NARRATIVE_MORE = _split(
    "A midline catheter was placed by the vascular access team for difficult access. | "
    "Phlebotomy was minimized by bundling laboratory draws. | "
    "The bed alarm was activated after {he} attempted to get up unassisted. | "
    "A sitter was briefly required overnight. | "
    "{He} preferred to keep the blinds open and was oriented with a whiteboard calendar. | "
    "Earplugs and an eye mask were offered for sleep. | "
    "Podiatry trimmed dystrophic toenails and recommended diabetic footwear. | "
    "Dental caries were noted and outpatient dentistry was recommended. | "
    "An ophthalmology examination was deferred to the outpatient setting. | "
    "Audiology screening suggested bilateral high-frequency hearing loss. | "
    "A speech-language pathologist recommended upright positioning for meals. | "
    "The chaplain provided spiritual support and prayer. | "
    "A music therapy session helped with anxiety. | "
    "A pet therapy visit lifted {his} spirits. | "
    "Nicotine replacement was offered and accepted. | "
    "The electronic prescription was transmitted and confirmed by the pharmacy. | "
    "A peer recovery coach met with {him}. | "
    "Advance care planning documents were completed with the social worker. | "
    "Home oxygen qualification testing did not meet criteria. | "
    "Durable medical equipment including a rolling walker and a raised toilet seat was ordered. | "
    "The insurer approved home health services. | "
    "A subacute rehabilitation bed was declined in favor of going home with family. | "
    "An ambulette was booked for transport home. | "
    "{His} niece will stay with {him} for the first week. | "
    "Meals on Wheels was arranged through the area agency on aging. | "
    "A community health worker will call within 48 hours. | "
    "Prior records showed a colonoscopy three years ago with two small tubular adenomas. | "
    "Mammography is due and was recommended. | "
    "The hepatitis C antibody screen was negative. | "
    "HIV screening was offered and declined. | "
    "A tetanus booster was given. | "
    "Shingles vaccination was recommended at the pharmacy. | "
    "Mild hyperkalemia resolved after the potassium supplement was stopped. | "
    "Intermittent urinary catheterization was taught. | "
    "An abdominal binder improved comfort. | "
    "Topical lidocaine helped localized back pain. | "
    "Heat packs were used for muscle spasm. | "
    "Scheduled acetaminophen reduced the need for opioids. | "
    "Aspiration precautions were maintained. | "
    "The telemetry monitor alarmed for artifact only.")
INCIDENTAL_MORE = _split(
    "a small pericardial effusion | mild tricuspid regurgitation | left ventricular hypertrophy | "
    "a ground-glass opacity in the right upper lobe | mild bronchiectasis | a Baker cyst | "
    "a lipoma of the back | a hemangioma of the liver | gallbladder sludge | a duplicated collecting system | "
    "mild pulmonary hypertension by echocardiographic estimate | a patent foramen ovale | "
    "lumbar spondylosis with neuroforaminal narrowing | an old lacunar infarct")

#: Alternatives within a drug class for chronic conditions: each patient is on one of them.
CLASS_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "copd": ("budesonide-formoterol (Symbicort) 2 puffs twice daily", "fluticasone-salmeterol (Advair) 1 puff "
             "twice daily", "fluticasone-umeclidinium-vilanterol (Trelegy) 1 inhalation daily",
             "tiotropium (Spiriva) 1 capsule inhaled daily"),
    "diabetes": ("sitagliptin (Januvia) 100 mg daily", "dulaglutide (Trulicity) 1.5 mg weekly",
                 "glimepiride (Amaryl) 2 mg daily", "pioglitazone (Actos) 15 mg daily", "linagliptin (Tradjenta) 5 mg daily"),
    "chf": ("torsemide (Demadex) 20 mg daily", "bumetanide (Bumex) 1 mg daily", "carvedilol (Coreg) 12.5 mg twice daily"),
    "ckd": ("sevelamer (Renvela) 800 mg with meals", "sodium bicarbonate 650 mg twice daily"),
    "dementia": ("memantine (Namenda) 10 mg twice daily", "rivastigmine patch (Exelon) 4.6 mg daily"),
    "cvd": ("clopidogrel (Plavix) 75 mg daily",),
    "pvd": ("cilostazol (Pletal) 100 mg twice daily",),
    "rheum": ("methotrexate 15 mg weekly with folic acid", "hydroxychloroquine (Plaquenil) 200 mg twice daily"),
    "atrial_fibrillation": ("diltiazem (Cardizem CD) 180 mg daily", "metoprolol tartrate (Lopressor) 25 mg twice daily"),
}

#: How a clinician signs: role and service (each clinician keeps one).
ROLES = _split(
    "Hospitalist | Internal Medicine Resident, PGY-2 | Internal Medicine Resident, PGY-3 | Intern, PGY-1 | "
    "Attending Physician, Division of General Internal Medicine | Nocturnist | Physician Assistant, Hospital "
    "Medicine | Nurse Practitioner, Medicine Service | Chief Resident | Teaching Attending | "
    "Orthopaedic Surgery Physician Assistant | Orthopaedic Surgery Resident | Cardiology Fellow | "
    "Geriatrics Fellow | Moonlighting Physician | Family Medicine Resident | Surgical Hospitalist")

#: Why a consultant was asked to see the patient.
CONSULT_REASONS = _split(
    "for recommendations on anticoagulation | for help with glycemic management | for goals-of-care "
    "discussion | regarding antibiotic duration | for evaluation of an abnormal electrocardiogram | to assess "
    "capacity | for management of chronic pain | regarding perioperative risk | for renal dosing guidance | "
    "to evaluate dysphagia | for wound assessment | regarding an incidental imaging finding | for "
    "management of agitation | for disposition planning | regarding medication interactions")

MORE_OCCUPATIONS = _split(
    "retired machinist | retired librarian | retired social worker | retired garment worker | retired airline "
    "mechanic | retired transit worker | works as a nanny | works as a bartender | works as a barber | "
    "works as a dental assistant | works in a warehouse | works as a landscaper | works as a tailor | "
    "owns a small grocery | works as a crossing guard | works as a court officer | works as an architect | "
    "works as a real estate agent | works as a physical education teacher | volunteers at a church pantry")

MORE_FAMILY_HISTORY = _split(
    "father with atrial fibrillation | mother with rheumatoid arthritis | sister with multiple sclerosis | "
    "brother with schizophrenia | maternal aunt with pancreatic cancer | paternal uncle with hemochromatosis | "
    "son with asthma | daughter with celiac disease | twin sister with migraines | mother with glaucoma")

#: How the illness began and how the patient arrived (history of present illness).
ONSETS = _split("for three days | over the past week | since yesterday evening | for about two weeks | "
                "since the weekend | starting this morning | gradually over a month | for several days | "
                "intermittently for the past few months | abruptly this afternoon")
ARRIVALS = _split("{He} was brought in by ambulance. | {He} walked into the emergency department. | "
                  "{His} daughter drove {him} to the emergency department. | {He} was referred by {his} primary "
                  "care doctor after an office visit. | {He} was transferred from an outside hospital. | "
                  "{He} presented to urgent care and was sent in. | Emergency medical services found {him} at "
                  "home after a neighbor called. | {He} was sent from {his} nursing home.")
REVIEW_OF_SYSTEMS = _split("weight loss | night sweats | visual changes | hematuria | melena | rash | "
                           "joint pain | syncope | cough | diarrhea | constipation | numbness | dysphagia | "
                           "hemoptysis | orthopnea | polyuria | anxiety | hearing changes")
PROCEDURES = _split("none | peripherally inserted central catheter placement | paracentesis | thoracentesis | "
                    "upper endoscopy | colonoscopy | lumbar puncture | transesophageal echocardiogram | "
                    "cardiac catheterization | bronchoscopy | incision and drainage | blood transfusion | "
                    "arterial line placement | bone marrow biopsy | cardioversion")


#: Over-the-counter drugs and supplements that patients list at home (no risk; true detail of a medication list).
OVER_THE_COUNTER = _split(
    "fish oil 1000 mg daily | multivitamin daily | magnesium oxide 400 mg daily | biotin 5000 mcg daily | "
    "glucosamine-chondroitin twice daily | coenzyme Q10 100 mg daily | probiotic capsule daily | "
    "turmeric capsule daily | psyllium fiber daily | docusate 100 mg as needed | loperamide 2 mg as needed | "
    "artificial tears as needed | nystatin powder to skin folds | ketoconazole cream twice daily | "
    "triamcinolone cream twice daily | hydrocortisone cream as needed | mupirocin ointment to wound | "
    "sumatriptan 50 mg as needed for migraine | cyclobenzaprine 5 mg at bedtime as needed | "
    "tizanidine 2 mg at bedtime | baclofen 10 mg three times daily | oxybutynin 5 mg daily | "
    "mirabegron 25 mg daily | solifenacin 5 mg daily | meclizine 12.5 mg as needed for vertigo | "
    "diphenhydramine 25 mg at bedtime | famotidine 20 mg as needed | calcium citrate twice daily | "
    "zinc 50 mg daily | elderberry syrup | ginkgo biloba | saw palmetto | cranberry tablets | "
    "lactase enzyme with dairy | simethicone as needed for bloating | bisacodyl suppository as needed | "
    "benzonatate 100 mg as needed for cough | guaifenesin as needed | pseudoephedrine as needed | "
    "naproxen 220 mg as needed | aspirin 325 mg as needed | timolol eye drops | brimonidine eye drops | "
    "dorzolamide eye drops | ciclopirox nail lacquer | minoxidil topical | clotrimazole cream | "
    "nitroglycerin 0.4 mg sublingual as needed for chest pain | epinephrine auto-injector for allergy | "
    "ondansetron 4 mg as needed for nausea | ipratropium nasal spray | montelukast 10 mg nightly | "
    "hydroxyzine 25 mg at bedtime | prazosin 1 mg at bedtime | propranolol 10 mg as needed for tremor")
