"""Tests of the MIMIC-IV adapter on the open MIMIC-IV demo (tests/fixtures/mimic-iv-demo, ODbL)."""

from __future__ import annotations

import csv
import gzip
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from helpers.loaders import DataValidationError
from helpers.mimic import charlson_index, derive_readmissions, load_mimic_iv

HOSP = Path(__file__).parent / "fixtures" / "mimic-iv-demo" / "hosp"


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return load_mimic_iv(HOSP, require_notes=False)


def flags_of(frame: pd.DataFrame, hadm_ids: list[int], column: str = "readmitted_30d") -> list[int]:
    return frame.set_index("hadm_id").loc[hadm_ids, column].tolist()


def test_readmissions_of_hand_checked_patients(demo):
    # Patient 10021487, discharges and next admissions read from admissions.csv.gz:
    #   28998349 out 2116-12-28 13:19, next in 2117-01-28 00:19 -> 30 d 11 h: NOT within 30 days
    #   26321862 out 2117-02-05 15:40, next in 2117-03-03 15:59 -> 26 d: readmitted
    #   27660781 out 2117-03-27, next in 2117-07-16; 20429160 out 2117-07-25, next 2117-10-25: no
    #   27112038 out 2117-10-29 14:40, next in 2117-12-03 17:07 -> 35 d: no; 21928381 is the last: no
    assert flags_of(demo, [28998349, 26321862, 27660781, 20429160, 27112038, 21928381]) == [0, 1, 0, 0, 0, 0]
    # Patient 10000032: 22595853 out 05-07, next 06-26 (50 d): no; 22841357 out 06-27 18:49, next 07-23 (25.7 d):
    # yes; 29079034 out 07-25 17:55, next 08-05 23:44 (11.2 d): yes; 25742920 is the last: no
    assert flags_of(demo, [22595853, 22841357, 29079034, 25742920]) == [0, 1, 1, 0]
    # Patient 10005817: 20626031 (2132) then 28661809 (2135), which ended in death (hospital_expire_flag 1)
    assert flags_of(demo, [20626031, 28661809]) == [0, 0]
    assert flags_of(demo, [20626031, 28661809], "died_in_hospital") == [0, 1]
    assert flags_of(demo, [22841357], "days_to_next_admission")[0] == pytest.approx(25 + 17.7666 / 24, abs=1e-3)


def test_readmission_total_matches_a_plain_loop_over_the_admissions_file(demo):
    by_patient: dict[str, list[tuple[datetime, datetime, bool]]] = {}
    with gzip.open(HOSP / "admissions.csv.gz", "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            by_patient.setdefault(row["subject_id"], []).append((
                datetime.fromisoformat(row["admittime"]), datetime.fromisoformat(row["dischtime"]),
                row["hospital_expire_flag"] == "1"))
    readmitted = alive = 0
    for stays in by_patient.values():
        stays.sort()
        for i, (_, discharged, died) in enumerate(stays):
            if died:
                continue
            alive += 1
            if i + 1 < len(stays) and stays[i + 1][0] - discharged <= timedelta(days=30):
                readmitted += 1
    assert (readmitted, alive) == (53, 260)
    assert int(demo["readmitted_30d"].sum()) == readmitted
    assert int((demo["died_in_hospital"] == 0).sum()) == alive
    assert int(demo.loc[demo["died_in_hospital"] == 1, "readmitted_30d"].sum()) == 0


def test_a_31_day_window_adds_exactly_the_30_days_11_hours_gap():
    wider = load_mimic_iv(HOSP, require_notes=False, readmission_window_days=31)
    assert int(wider["readmitted_30d"].sum()) == 54
    assert flags_of(wider, [28998349]) == [1]


def test_age_sex_insurance_stay_and_site(demo):
    # anchor_age 43 in anchor_year 2116 -> 43 in 2116, 44 in 2117; 10015860: 53 in 2186 -> 59 in 2192
    assert flags_of(demo, [28998349, 26321862, 26352758], "age") == [43.0, 44.0, 59.0]
    assert flags_of(demo, [28998349, 22595853], "sex") == ["M", "F"]
    # 2180-05-06 22:23 -> 2180-05-07 17:15 is 18 h 52 min
    assert flags_of(demo, [22595853], "length_of_stay")[0] == pytest.approx((18 + 52 / 60) / 24)
    # demo insurance: Medicare 104, Medicaid 22, Other 149 (MIMIC v2.2 has no Private)
    # "Other" stays its own category: it lumps private insurance with other payers and cannot be relabelled
    assert demo["insurance"].value_counts().to_dict() == {"Other": 149, "Medicare": 104, "Medicaid": 22}
    assert (demo.loc[demo["insurance"] == "Other", "insurance_mimic"] == "Other").all()
    # one site; no patient geography, so the optional borough column is absent rather than a made-up constant
    assert set(demo["hospital"]) == {"BIDMC"} and "borough" not in demo.columns
    assert demo["admission_id"].iloc[0] == str(demo["hadm_id"].iloc[0])
    assert len(demo) == 275 and demo["admission_id"].is_unique


def test_insurance_map_and_site_column_are_parameters():
    df = load_mimic_iv(HOSP, require_notes=False, insurance_map={"Other": "Private"},
                       site_column="admission_location")
    assert df["insurance"].value_counts()["Private"] == 149
    assert (df["hospital"] == df["admission_location"]).all()
    assert df["hospital"].value_counts()["EMERGENCY ROOM"] == 134
    with pytest.raises(ValueError, match=r"site_column is 'ward', which is not a column\. Fix: name the column"):
        load_mimic_iv(HOSP, require_notes=False, site_column="ward")


def test_without_notes_the_frame_says_so_and_requiring_notes_points_to_mimic_iv_note(demo):
    assert demo.attrs["has_notes"] is False
    assert (demo["note_text"] == "").all() and (demo["words_per_note"] == 0).all()
    with pytest.raises(ValueError, match=r"discharge_notes.*MIMIC-IV-Note.*physionet.org/content/mimic-iv-note"):
        load_mimic_iv(HOSP)


def test_notes_are_joined_in_sequence_and_admissions_without_one_are_dropped(tmp_path):
    notes_path = tmp_path / "discharge.csv.gz"
    pd.DataFrame({
        "note_id": ["n2", "n1", "n3", "n4"], "subject_id": [10000032] * 4,
        "hadm_id": [22841357, 22841357, 22595853, None],  # a note without admission is ignored
        "note_type": ["AD", "DS", "DS", "DS"], "note_seq": [2, 1, 1, 1], "charttime": ["2180-06-27"] * 4,
        "storetime": ["2180-06-27"] * 4,
        "text": ["Addendum: follow up.", "Discharge summary of the stay", "Short note", "Orphan note"],
    }).to_csv(notes_path, index=False, compression="gzip")
    with_notes = load_mimic_iv(HOSP, notes_path)
    assert with_notes.attrs["has_notes"] is True and with_notes.attrs["n_admissions_without_note"] == 273
    assert sorted(with_notes["hadm_id"]) == [22595853, 22841357]
    stay = with_notes.set_index("hadm_id").loc[22841357]
    assert stay["note_text"] == "Discharge summary of the stay\n\nAddendum: follow up."
    assert stay["words_per_note"] == 8
    # its readmission (29079034) has no note and was dropped, but still counts
    assert stay["readmitted_30d"] == 1

    kept = load_mimic_iv(HOSP, notes_path, require_notes=False)
    assert len(kept) == 275 and (kept["note_text"] == "").sum() == 273


def test_admission_after_an_in_hospital_death_is_flagged_not_counted(capfd, monkeypatch):
    monkeypatch.delenv("CLINICLLM_LOG", raising=False)  # outside a run, progress messages go to stderr
    stays = pd.DataFrame({
        "subject_id": [1, 1, 1],
        "hadm_id": [10, 11, 12],
        "admittime": pd.to_datetime(["2100-01-01", "2100-01-20", "2100-02-05"]),
        "dischtime": pd.to_datetime(["2100-01-10", "2100-02-01", "2100-02-08"]),
        "deathtime": pd.to_datetime([None, "2100-02-01", None]),
        "hospital_expire_flag": [0, 1, 0],
    })
    derived = derive_readmissions(stays)
    assert "start after the patient died in hospital (hadm_id [12])" in capfd.readouterr().err
    assert derived["readmitted_30d"].tolist() == [1, 0, 0]  # the death itself is never "readmitted"
    assert derived["died_in_hospital"].tolist() == [0, 1, 0]
    assert derived.attrs["admissions_after_death"] == [12]


def test_charlson_of_demo_admissions_matches_hand_computation():
    index = charlson_index(pd.read_csv(HOSP / "diagnoses_icd.csv.gz")).set_index("hadm_id")["comorbidity_index"]
    # ICD-9 20044587: 20300 multiple myeloma (malignancy, 2); 4019, 41401, 42731, ... not Charlson -> 2
    # ICD-9 21101111: 40391 hypertensive CKD and 5855 CKD stage 5 (renal disease, 2) -> 2
    # ICD-10 20846853: B20 HIV disease (AIDS/HIV, 6); B1920 hepatitis C is not in Quan's liver list -> 6
    # ICD-10 21599196: C9202 acute myeloid leukaemia (malignancy, 2); Z853 history of cancer is not counted -> 2
    assert index.loc[[20044587, 21101111, 20846853, 21599196]].tolist() == [2, 2, 6, 2]
    assert len(index) == 275


def test_charlson_hierarchy_dots_and_mixed_icd_versions():
    codes = pd.DataFrame({
        "hadm_id": [1, 1, 1, 2, 2, 3, 3, 4, 4, 5],
        # 1: diabetes (1) and with complications (2) -> 2, plus heart failure (1) = 3, written with dots/lowercase
        # 2: metastasis 1970 (6) outranks breast cancer 1749 (2) -> 6
        # 3: heart failure in ICD-9 (4280) and ICD-10 (I509) counts once -> 1
        # 4: heart failure ICD-9 (1) + CKD stage 4 ICD-10 N184 (renal, 2) -> union 3, max of versions 2
        # 5: no Charlson condition -> 0
        "icd_code": ["e11.9", "E11.22", "I50.23", "1970", "1749", "4280", "I509", "4280", "N184", "Z000"],
        "icd_version": [10, 10, 10, 9, 9, 9, 10, 9, 10, 10],
    })
    union = charlson_index(codes).set_index("hadm_id")
    assert union["comorbidity_index"].tolist() == [3, 6, 1, 3, 0]
    assert union.loc[1, ["charlson_diab", "charlson_diabwc", "charlson_chf"]].tolist() == [1, 1, 1]
    assert charlson_index(codes, icd_version_mix="max")["comorbidity_index"].tolist() == [3, 6, 1, 2, 0]


def test_charlson_refuses_unknown_icd_versions_and_missing_columns():
    with pytest.raises(DataValidationError, match=r"column 'icd_version'.*other than 9 and 10.*data row: 2"):
        charlson_index(pd.DataFrame({"hadm_id": [1, 2], "icd_code": ["4280", "I50"], "icd_version": [9, 11]}))
    with pytest.raises(DataValidationError, match="column 'icd_version': required column is missing"):
        charlson_index(pd.DataFrame({"hadm_id": [1], "icd_code": ["4280"]}))
    with pytest.raises(ValueError, match="icd_version_mix='sum'"):
        charlson_index(pd.DataFrame({"hadm_id": [1], "icd_code": ["4280"], "icd_version": [9]}), "sum")


def test_missing_hosp_folder_or_table_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="hosp_dir"):
        load_mimic_iv(tmp_path / "nowhere", require_notes=False)
    with pytest.raises(FileNotFoundError, match=r"admissions: no file.*admissions.csv.gz"):
        load_mimic_iv(tmp_path, require_notes=False)


def test_newer_insurance_values_are_mapped_and_unknown_ones_reported(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("CLINICLLM_LOG", raising=False)  # outside a run, progress messages go to stderr
    admissions = pd.read_csv(HOSP / "admissions.csv.gz")
    admissions.loc[0:2, "insurance"] = ["Private", "No charge", "Veterans"]
    hosp = tmp_path / "hosp"
    hosp.mkdir()
    admissions.to_csv(hosp / "admissions.csv.gz", index=False, compression="gzip")
    for table in ("patients", "diagnoses_icd"):
        (hosp / f"{table}.csv.gz").write_bytes((HOSP / f"{table}.csv.gz").read_bytes())
    df = load_mimic_iv(hosp, require_notes=False)
    assert ("values ['Veterans'] are not in MIMIC_INSURANCE and are kept as their own category 'Other'"
            in capfd.readouterr().err)
    changed = admissions.loc[0:2, "hadm_id"].tolist()
    assert flags_of(df, changed, "insurance") == ["Private", "Self-pay", "Other"]
    assert flags_of(df, changed, "insurance_mimic") == ["Private", "No charge", "Veterans"]
