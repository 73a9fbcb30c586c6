"""Tests of the generic admissions loader: round trips with a column map, site axis, and every refusal."""

from __future__ import annotations

import os
import textwrap

import pandas as pd
import pytest

from helpers import loaders
from helpers.loaders import DataValidationError, apply_column_map, load_admissions, validate_admissions

# The example of the module docstring, with one more row and an extra column, under the user's own names.
USER_CSV = """encounter,mrn,site,admitted,discharged,age_years,sex,payer,charlson,died,text,readmit30,ward
007,P1,North,2020-01-03,2020-01-07,71,F,Medicare,3,0,"Admitted for CHF exacerbation, diuresed.",1,A
008,P1,North,2020-01-20,2020-01-22 12:00,71,f,Medicare,3,0,Readmitted with dyspnea.,0,B
009,P2,South,2020-02-11,2020-02-12,45,M,Commercial,0,0,Elective knee replacement.,0,A
010,P3,South,2020-03-01,2020-03-09,88,M,,6,1,Died after sepsis.,0,C
"""
USER_MAP = {"encounter": "admission_id", "mrn": "patient_id", "site": "hospital", "admitted": "admit_date",
            "discharged": "discharge_date", "age_years": "age", "payer": "insurance",
            "charlson": "comorbidity_index", "died": "died_in_hospital", "text": "note_text",
            "readmit30": "readmitted_30d"}
USER_VALUES = {"insurance": {"Commercial": "Private"}}


def good_frame() -> pd.DataFrame:
    """Five valid admissions already in schema names, to be spoiled one way per test."""
    return pd.DataFrame({
        "admission_id": ["a1", "a2", "a3", "a4", "a5"],
        "patient_id": ["p1", "p1", "p2", "p3", "p4"],
        "hospital": ["H1", "H1", "H2", "H2", "H3"],
        "admit_date": ["2019-01-01", "2019-01-10", "2019-02-01", "2019-03-01", "2019-04-01"],
        "discharge_date": ["2019-01-05", "2019-01-12", "2019-02-01", "2019-03-04", "2019-04-10"],
        "age": [70, 70.5, 33, 81, 55],
        "sex": ["F", "F", "M", "M", "F"],
        "insurance": ["Medicare", "Medicare", "Private", "Medicaid", "Self-pay"],
        "comorbidity_index": [2, 2, 0, 5, 4],
        "died_in_hospital": [0, 0, 0, 1, 0],
        "note_text": ["note one", "note two", "note three", "note four", "note five"],
        "readmitted_30d": [1, 0, 0, 0, 0],
    })


def only_problem(df: pd.DataFrame, **kwargs) -> tuple[DataValidationError, str]:
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df, source="test.csv", **kwargs)
    error = caught.value
    assert len(error.problems) == 1, str(error)
    return error, str(error)


def test_csv_with_column_map_gives_schema_columns_and_derived_values(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(USER_CSV)
    df = load_admissions(path, column_map=USER_MAP, value_maps=USER_VALUES)

    assert list(df.columns[:15]) == ["admission_id", "patient_id", "hospital", "admit_date", "discharge_date",
                                     "age", "sex", "insurance", "borough", "comorbidity_index",
                                     "comorbidity_level", "length_of_stay", "died_in_hospital", "note_text",
                                     "readmitted_30d"]
    assert df["admission_id"].tolist() == ["007", "008", "009", "010"]  # leading zeros kept: ids are text
    assert df["ward"].tolist() == ["A", "B", "A", "C"]  # extra column kept
    assert df["sex"].tolist() == ["F", "F", "M", "M"]  # 'f' matched ignoring case
    assert df["insurance"].tolist() == ["Medicare", "Medicare", "Private", "Unspecified"]  # mapped; empty filled
    assert df["borough"].tolist() == ["Other"] * 4
    # Charlson 3 -> level 3 (3-4), 0 -> 1, 6 -> 4 (5+)
    assert df["comorbidity_level"].tolist() == [3, 3, 1, 4]
    # Jan 3 -> Jan 7 is 4 days; Jan 20 00:00 -> Jan 22 12:00 is 2.5 days
    assert df["length_of_stay"].tolist() == [4.0, 2.5, 1.0, 8.0]
    assert df["admit_date"].iloc[2] == pd.Timestamp("2020-02-11")
    assert df["readmitted_30d"].tolist() == [1, 0, 0, 0]
    assert df["died_in_hospital"].tolist() == [0, 0, 0, 1]
    assert df["comorbidity_index"].dtype == "int64" and df["age"].dtype == "float64"


def test_the_example_in_the_module_docstring_loads_as_documented(tmp_path):
    doc = loaders.__doc__
    example = doc.split("differ from the schema::")[1].split("is loaded with::")[0]
    (tmp_path / "my_export.csv").write_text(textwrap.dedent(example).strip() + "\n")
    call = textwrap.dedent(doc.split("is loaded with::")[1].split("To compare groups")[0])
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(call, namespace)
    finally:
        os.chdir(cwd)
    admissions = namespace["admissions"]
    assert admissions["admission_id"].tolist() == ["E1", "E2", "E3"]
    assert admissions["insurance"].tolist() == ["Medicare", "Medicare", "Private"]
    assert admissions["length_of_stay"].tolist() == [4.0, 2.0, 1.0]


def test_parquet_and_gzipped_csv_load_to_the_same_table(tmp_path):
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(USER_CSV)
    from_csv = load_admissions(csv_path, column_map=USER_MAP, value_maps=USER_VALUES)

    raw = pd.read_csv(csv_path, dtype={"encounter": str})
    parquet_path = tmp_path / "export.parquet"
    raw.to_parquet(parquet_path)
    from_parquet = load_admissions(parquet_path, column_map=USER_MAP, value_maps=USER_VALUES)
    pd.testing.assert_frame_equal(from_csv, from_parquet)

    gz_path = tmp_path / "export.csv.gz"
    raw.to_csv(gz_path, index=False, compression="gzip")
    pd.testing.assert_frame_equal(from_csv, load_admissions(gz_path, column_map=USER_MAP, value_maps=USER_VALUES))


def test_integer_ids_from_parquet_become_text_without_decimals(tmp_path):
    df = good_frame()
    df["admission_id"] = [11, 12, 13, 14, 15]
    path = tmp_path / "ints.parquet"
    df.to_parquet(path)
    assert load_admissions(path)["admission_id"].tolist() == ["11", "12", "13", "14", "15"]


def test_unknown_extension_and_missing_file_are_refused(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_text("x")
    with pytest.raises(ValueError, match=r"path .*export\.xlsx.*unknown file type.*\.parquet"):
        load_admissions(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_admissions(tmp_path / "absent.csv")


def test_missing_column_names_it_and_suggests_the_close_match():
    df = good_frame().rename(columns={"admit_date": "Admit Date"})
    error, message = only_problem(df)
    assert error.problems[0].column == "admit_date"
    assert "required column is missing" in message
    assert "'Admit Date'" in message and "column_map={'Admit Date': 'admit_date'}" in message
    assert "Expected columns" in message


def test_column_map_key_absent_from_file_is_refused_with_close_match(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(USER_CSV)
    wrong_map = {**USER_MAP, "admited": "admit_date"}
    del wrong_map["admitted"]
    expected = r"'admited'.*not in the data.*Close matches in the data: \['admitted'"
    with pytest.raises(DataValidationError, match=expected):
        load_admissions(path, column_map=wrong_map)


def test_column_map_onto_an_existing_or_shared_name_is_refused():
    df = good_frame()
    df["encounter"] = df["admission_id"]
    with pytest.raises(DataValidationError, match=r"'admission_id': is already in the data.*'encounter'"):
        apply_column_map(df, {"encounter": "admission_id"})
    with pytest.raises(DataValidationError, match=r"'hospital': column_map maps several columns onto it"):
        apply_column_map(df.drop(columns=["hospital"]), {"encounter": "hospital", "patient_id": "hospital"})
    renamed = apply_column_map(df.drop(columns=["admission_id"]), {"encounter": "admission_id"})
    assert renamed["admission_id"].tolist() == ["a1", "a2", "a3", "a4", "a5"]


def test_non_numeric_and_negative_ages_name_their_rows():
    df = good_frame()
    df["age"] = df["age"].astype(object)
    df.loc[1, "age"] = "sixty"
    df.loc[3, "age"] = -4
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df, source="test.csv")
    by_problem = {p.problem: p for p in caught.value.problems}
    assert by_problem["has values that are not numbers"].rows == [2]
    assert by_problem["is negative"].rows == [4]
    assert "column 'age': has values that are not numbers (1 data row: 2 with values 'sixty')" in str(caught.value)


def test_unparseable_dates_name_rows_and_date_format_reads_day_first():
    df = good_frame()
    df.loc[2, "admit_date"] = "31/02/2019"
    df.loc[4, "admit_date"] = "soon"
    error, message = only_problem(df)
    assert error.problems[0].column == "admit_date" and error.problems[0].rows == [3, 5]
    assert "date_format" in message

    day_first = good_frame()
    day_first["admit_date"] = ["01/01/2019", "10/01/2019", "01/02/2019", "01/03/2019", "01/04/2019"]
    day_first["discharge_date"] = ["05/01/2019", "12/01/2019", "01/02/2019", "04/03/2019", "10/04/2019"]
    parsed = validate_admissions(day_first, date_format="%d/%m/%Y")
    assert parsed["admit_date"].tolist()[1] == pd.Timestamp("2019-01-10")
    assert parsed["length_of_stay"].tolist() == [4.0, 2.0, 0.0, 3.0, 9.0]


def test_discharge_before_admission_is_refused():
    df = good_frame()
    df.loc[1, "discharge_date"] = "2019-01-09"
    error, message = only_problem(df)
    assert error.problems[0].column == "discharge_date" and error.problems[0].rows == [2]
    assert "is before admit_date" in message


def test_labels_accept_booleans_and_digit_texts_and_refuse_other_values():
    df = good_frame()
    df["readmitted_30d"] = [True, False, "0", "1", 0]
    df["died_in_hospital"] = ["false", "0", 0.0, False, "TRUE"]
    parsed = validate_admissions(df)
    assert parsed["readmitted_30d"].tolist() == [1, 0, 0, 1, 0]
    assert parsed["died_in_hospital"].tolist() == [0, 0, 0, 0, 1]

    bad = good_frame()
    bad["readmitted_30d"] = [1, 2, "yes please", 0, None]
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(bad)
    by_problem = {p.problem: p for p in caught.value.problems}
    assert by_problem["has values that are not 0 or 1"].rows == [2, 3]
    assert by_problem["has missing values"].rows == [5]
    assert {p.column for p in caught.value.problems} == {"readmitted_30d"}


def test_readmission_after_in_hospital_death_is_refused():
    df = good_frame()
    df.loc[3, "readmitted_30d"] = 1  # row 4 died in hospital
    error, message = only_problem(df)
    assert error.problems[0].column == "readmitted_30d" and error.problems[0].rows == [4]
    assert "died_in_hospital is 1" in message


def test_duplicate_admission_ids_name_ids_and_rows():
    df = good_frame()
    df["admission_id"] = ["a1", "a2", "a1", "a4", "a2"]
    error, message = only_problem(df)
    assert error.problems[0].rows == [1, 2, 3, 5]
    assert "duplicate ids 'a1', 'a2'" in message


def test_empty_notes_are_refused_unless_notes_are_optional():
    df = good_frame()
    df.loc[0, "note_text"] = "   "
    df.loc[2, "note_text"] = None
    error, message = only_problem(df)
    assert error.problems[0].column == "note_text" and error.problems[0].rows == [1, 3]
    assert validate_admissions(df, require_notes=False)["note_text"].tolist()[:3] == ["   ", "note two", ""]


def test_categories_outside_the_schema_are_named_and_value_maps_fix_them(tmp_path):
    df = good_frame()
    df["insurance"] = ["Medicare", "BlueCross", "Private", "Medicaid", "BlueCross"]
    df["borough"] = ["Manhattan", "Brooklyn", "Jersey City", "queens ", None]
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df)
    by_column = {p.column: p for p in caught.value.problems}
    assert by_column["insurance"].rows == [2, 5] and "['BlueCross']" in by_column["insurance"].problem
    assert by_column["borough"].rows == [3] and "['Jersey City']" in by_column["borough"].problem
    assert "value_maps" in str(caught.value)

    path = tmp_path / "cats.csv"
    df.to_csv(path, index=False)
    fixed = load_admissions(path, value_maps={"insurance": {"BlueCross": "Private"},
                                              "borough": {"Jersey City": "Other"}})
    assert fixed["insurance"].tolist() == ["Medicare", "Private", "Private", "Medicaid", "Private"]
    assert fixed["borough"].tolist() == ["Manhattan", "Brooklyn", "Other", "Queens", "Other"]


def test_comorbidity_index_must_be_a_whole_number_of_zero_or_more():
    df = good_frame()
    df["comorbidity_index"] = [1, 2.5, -1, 3, 0]
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df)
    by_problem = {p.problem: p.rows for p in caught.value.problems}
    assert by_problem == {"has values that are not whole numbers": [2], "has values outside 0 or more": [3]}


def test_all_problems_are_reported_together_and_long_row_lists_are_cut():
    df = pd.concat([good_frame()] * 2, ignore_index=True)
    df["admission_id"] = [f"a{i}" for i in range(10)]
    df["sex"] = "unknown"
    df = df.drop(columns=["hospital"])
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df, source="big.csv")
    message = str(caught.value)
    assert message.startswith("big.csv: 2 problems found; nothing was loaded.")
    assert "column 'hospital': required column is missing" in message
    assert "(10 data rows: 1, 2, 3, 4, 5, and 5 more)" in message


def test_site_column_copies_values_into_hospital_and_keeps_both_originals(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(USER_CSV)
    df = load_admissions(path, column_map=USER_MAP, value_maps=USER_VALUES, site_column="ward")
    assert df["hospital"].tolist() == ["A", "B", "A", "C"]
    assert df["ward"].tolist() == ["A", "B", "A", "C"]
    assert df["hospital_in_file"].tolist() == ["North", "North", "South", "South"]

    with pytest.raises(DataValidationError, match=r"'wards'.*site_column.*close matches: \['ward'\]"):
        load_admissions(path, column_map=USER_MAP, value_maps=USER_VALUES, site_column="wards")


def test_site_column_can_replace_a_missing_hospital_column(tmp_path):
    df = good_frame().drop(columns=["hospital"])
    df["clinic"] = [1, 1, 2, 2, 3]
    path = tmp_path / "no_hospital.parquet"
    df.to_parquet(path)
    assert load_admissions(path, site_column="clinic")["hospital"].tolist() == ["1", "1", "2", "2", "3"]


def test_nothing_is_written_when_validation_fails(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(USER_CSV.replace("2020-02-12", "someday"))
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    cwd_before = sorted(os.listdir("."))
    with pytest.raises(DataValidationError, match=r"column 'discharge_date'.*1 data row: 3 with values 'someday'"):
        load_admissions(path, column_map=USER_MAP, value_maps=USER_VALUES)
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before
    assert sorted(os.listdir(".")) == cwd_before
