"""Catalogues (helpers.simulator.catalogues): conditions, diagnoses and complications carry the calibration their
comments cite, and every code and refinement is consistent."""

from __future__ import annotations

import re

import numpy as np

from helpers.simulator.catalogues import _COMPLICATIONS, _CONDITIONS, _DIAGNOSES, _MINOR_DIAGNOSES, _REFINES, \
    _SECONDARY
from helpers.simulator.lexicon import DIAGNOSIS_DETAILS, HOME_MEDICATIONS, LAY_TERMS, SYNONYMS
from helpers.simulator.risk import _charlson_index


def test_charlson_weights_and_refinements():
    keys = [c.key for c in _CONDITIONS]
    # Charlson et al. 1987: 6 for metastatic tumour, 3 for severe liver disease, 2 for renal disease
    weight = {c.key: c.charlson_weight for c in _CONDITIONS}
    assert (weight["metastatic"], weight["liver_severe"], weight["ckd"], weight["chf"]) == (6, 3, 2, 1)
    for refined, base in _REFINES.items():
        assert refined in keys and base in keys
    # a refinement replaces its base's weight: cancer + metastatic scores 6, not 8; diabetes + complicated 2
    row = np.zeros((1, len(_CONDITIONS)))
    for key in ("cancer", "metastatic", "diabetes", "diabetes_complicated", "chf"):
        row[0, keys.index(key)] = 1
    assert _charlson_index(row).tolist() == [6 + 2 + 1]


def test_diagnosis_codes_follow_the_two_systems():
    for d in _DIAGNOSES:
        assert re.fullmatch(r"[A-Z]\d{2}(\.[0-9A-Z]{1,4})?", d.icd10), d.key  # ICD-10-CM shape
        if d.icd9:
            assert re.fullmatch(r"(E?\d{3}(\.\d{1,2})?)", d.icd9), d.key  # ICD-9-CM shape
    covid = next(d for d in _DIAGNOSES if d.key == "covid")
    assert covid.first_year == 2020 and covid.icd9 == ""


def test_catalogues_are_complete_for_the_note_writer():
    assert set(DIAGNOSIS_DETAILS) == {d.key for d in _DIAGNOSES}
    assert set(LAY_TERMS) == {d.key for d in _DIAGNOSES}
    secondary_and_minor = {s.key for s in _SECONDARY} | set(_MINOR_DIAGNOSES)
    assert set(HOME_MEDICATIONS) <= secondary_and_minor
    assert abs(sum(c[2] for c in _COMPLICATIONS) - 1.0) < 1e-9  # relative frequencies of complications
    for canonical, options in SYNONYMS.items():
        assert canonical not in options or len(options) > 1, canonical
