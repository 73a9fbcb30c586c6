"""The admission-level schema shared by the simulator, the file loader and the MIMIC-IV adapter.

Every data source hands the study one row per admission with the columns below (docs/contracts.md#data-schema). The
label is ``readmitted_30d``; ``note_text`` is the discharge note the language model reads. Everything else describes
the patient, the stay and the hospital, and is used to group and explain results, never as a model input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The categories the simulator draws from (their order is the simulator's coding; do not reorder).
INSURANCE_CATEGORIES = ["Medicare", "Medicaid", "Private", "Self-pay", "Unspecified"]
BOROUGHS = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island", "Long Island", "Other"]
SEX_CATEGORIES = ["F", "M"]

# Real exports carry values outside those lists: a sex recorded as unknown or as another value, a payer the study
# does not name, an address outside the boroughs. They are kept as their own category, never mapped onto another
# real one: "Unknown" when the value says it is not known (or is empty), "Other" for any other value. For insurance
# the "not known" category is the existing "Unspecified". Every admission keeps its row, so nothing is dropped
# silently and nothing is falsified.
OTHER_CATEGORY = "Other"
UNKNOWN_CATEGORY = "Unknown"
CATEGORY_VALUES: dict[str, list[str]] = {
    "sex": SEX_CATEGORIES + [OTHER_CATEGORY, UNKNOWN_CATEGORY],
    "insurance": INSURANCE_CATEGORIES[:-1] + [OTHER_CATEGORY, "Unspecified"],
    "borough": BOROUGHS + [UNKNOWN_CATEGORY],
}
"""Every value a category column may hold after loading, in display order."""
NOT_KNOWN_CATEGORY: dict[str, str] = {"sex": UNKNOWN_CATEGORY, "insurance": "Unspecified",
                                      "borough": UNKNOWN_CATEGORY}
"""The category of an empty value or a value that says "not known", per column."""
NOT_KNOWN_SPELLINGS = frozenset({
    "unknown", "unk", "u", "notknown", "notrecorded", "notstated", "notspecified", "unspecified", "missing",
    "declined", "refused", "?", "na", "n/a", "nan", "null",
})
"""Values (compared ignoring case, spaces, dashes and underscores) that say the value is not known."""
CATEGORY_SYNONYMS: dict[str, dict[str, str]] = {
    "sex": {"female": "F", "male": "M"},
    "insurance": {},
    "borough": {},
}
"""Other spellings of the same value (compared like NOT_KNOWN_SPELLINGS); only exact synonyms, never guesses."""


def category_key(value: object) -> str:
    """How category values are compared: lower case, without spaces, dashes and underscores ("Self pay")."""
    return str(value).strip().lower().replace(" ", "").replace("-", "").replace("_", "")

# column -> (kind, required). kinds: id, str, category, date, int, float, binary, text
ADMISSION_COLUMNS: dict[str, tuple[str, bool]] = {
    "admission_id": ("id", True),
    "patient_id": ("id", True),
    "hospital": ("str", True),
    "admit_date": ("date", True),
    "discharge_date": ("date", True),
    "age": ("float", True),
    "sex": ("category", True),
    "insurance": ("category", True),
    "borough": ("category", False),
    "comorbidity_index": ("int", True),
    "comorbidity_level": ("int", False),
    "length_of_stay": ("float", False),
    "died_in_hospital": ("binary", True),
    "note_text": ("text", True),
    "readmitted_30d": ("binary", True),
}
REQUIRED_COLUMNS = [c for c, (_, req) in ADMISSION_COLUMNS.items() if req]

# Charlson grouping commonly used in outcomes research: 0, 1-2, 3-4, 5+ -> levels 1..4 (4 = highest burden).
COMORBIDITY_LEVEL_EDGES = (0, 1, 3, 5)
COMORBIDITY_LEVEL_LABELS = (1, 2, 3, 4)

# Age groups for the subgroup analysis; the study reports "above 60" as one of its weak groups.
AGE_GROUP_EDGES = (18, 40, 60, 80)
AGE_GROUP_LABELS = ("18-39", "40-59", "60-79", "80+")


def comorbidity_level(index: pd.Series | np.ndarray) -> np.ndarray:
    """Map a Charlson-like index to level 1 (index 0), 2 (1-2), 3 (3-4) or 4 (5 and more)."""
    values = np.asarray(index, dtype=float)
    levels = np.digitize(values, COMORBIDITY_LEVEL_EDGES[1:]) + 1
    return levels.astype(int)


def age_group(age: pd.Series | np.ndarray) -> pd.Categorical:
    """Bin age in years into the study's age groups (ages under 18 fall outside every group)."""
    bins = list(AGE_GROUP_EDGES) + [np.inf]
    return pd.cut(np.asarray(age, dtype=float), bins=bins, right=False, labels=list(AGE_GROUP_LABELS))
