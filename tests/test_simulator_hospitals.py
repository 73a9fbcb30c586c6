"""Hospitals (helpers.simulator.hospitals): case mix, insurance and templates differ by hospital as profiled."""

from __future__ import annotations

import pytest

from helpers.simulator import HospitalProfile


def test_medicare_tracks_age(mid):
    a = mid.admissions
    medicare = a.insurance == "Medicare"
    assert medicare[a.age >= 65].mean() > 0.8
    assert medicare[a.age < 65].mean() < 0.2
    # the older suburban hospital therefore has the most Medicare patients
    assert medicare.groupby(a.hospital).mean().idxmax() == "Hospital 3"


def test_case_mix_differs_by_hospital(mid):
    a = mid.admissions
    mean_age = a.groupby("hospital").age.mean()
    assert mean_age.idxmax() == "Hospital 3"  # suburban hospital with an older population
    top_borough = a.groupby("hospital").borough.agg(lambda s: s.value_counts().idxmax())
    assert top_borough["Hospital 1"] == "Manhattan"
    assert top_borough["Hospital 2"] == "Brooklyn"
    assert top_borough["Hospital 3"] == "Long Island"
    h4 = a[a.hospital == "Hospital 4"]
    assert h4.surgical.mean() > 0.7  # orthopaedic/surgical specialty
    assert a[a.hospital != "Hospital 4"].surgical.mean() < 0.2
    assert h4.comorbidity_index.mean() < a[a.hospital == "Hospital 1"].comorbidity_index.mean()


def test_hospital_4_writes_its_own_template_and_dialect(mid):
    a = mid.admissions
    h4 = a.hospital == "Hospital 4"
    assert a.note_text[h4].str.startswith("ORTHOPAEDIC SURGERY DISCHARGE NOTE").all()
    assert not a.note_text[~h4].str.contains("ORTHOPAEDIC SURGERY").any()
    # the house dialect: most of its clinicians write POD, every one writes WBAT (no other wording is listed)
    pod = a.note_text.str.contains(r"\bPOD\b")
    assert pod[h4].mean() > 0.2 and pod[h4].mean() > 5 * pod[~h4].mean()
    assert a.note_text[h4].str.contains(r"\bWBAT\b").mean() > 0.5
    h1, h2 = a.hospital == "Hospital 1", a.hospital == "Hospital 2"
    assert not a.note_text[h1].str.contains(r"\bWBAT\b").any()
    # abbreviations differ: "CHF" is the community hospital's house term, a personal habit at the academic centre
    chf = a.note_text.str.contains(r"\bCHF\b")
    assert chf[h2].mean() > 2 * chf[h1].mean()
    # section order: the suburban hospital lists diagnoses before the reason for admission
    h3 = a[a.hospital == "Hospital 3"].note_text.str.lower()
    diagnoses = h3.str.find("\n\nadmission and discharge diagnoses:\n").where(lambda x: x >= 0,
                                                                              h3.str.find("\n\nproblem list:\n"))
    reason = h3.str.find("\n\nchief complaint:\n").where(lambda x: x >= 0,
                                                         h3.str.find("\n\nreason for hospitalization:\n"))
    assert ((diagnoses >= 0) & (diagnoses < reason)).all()


def test_profile_validates_its_staff():
    with pytest.raises(ValueError, match=r"clinicians must be a whole number of clinicians >= 1; got 0"):
        HospitalProfile(name="X", kind="test", admission_share=1.0, clinicians=0)
    assert HospitalProfile(name="X", kind="test", admission_share=1.0, clinicians=3).clinicians == 3
