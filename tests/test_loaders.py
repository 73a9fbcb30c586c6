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

    # borough is optional and absent from the file: it stays absent (no invented constant)
    assert list(df.columns[:14]) == ["admission_id", "patient_id", "hospital", "admit_date", "discharge_date",
                                     "age", "sex", "insurance", "comorbidity_index",
                                     "comorbidity_level", "length_of_stay", "died_in_hospital", "note_text",
                                     "readmitted_30d"]
    assert "borough" not in df.columns
    assert df["admission_id"].tolist() == ["007", "008", "009", "010"]  # leading zeros kept: ids are text
    assert df["ward"].tolist() == ["A", "B", "A", "C"]  # extra column kept
    assert df["sex"].tolist() == ["F", "F", "M", "M"]  # 'f' matched ignoring case
    assert df["insurance"].tolist() == ["Medicare", "Medicare", "Private", "Unspecified"]  # mapped; empty filled
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
    with pytest.raises(ValueError, match=r"'data_path': 'export\.xlsx' has an unknown file type.*\.parquet"):
        load_admissions(path)
    with pytest.raises(FileNotFoundError, match=r"parameter 'data_path': '.*absent\.csv' does not exist\. Fix: "):
        load_admissions(tmp_path / "absent.csv")
    # a near miss in the same folder is suggested; a missing folder is said
    (tmp_path / "admissions.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FileNotFoundError, match=r"Files with similar names there: \['admissions\.csv'\]"):
        load_admissions(tmp_path / "admission.csv")
    with pytest.raises(FileNotFoundError, match=r"Its folder '.*nowhere' does not exist either"):
        load_admissions(tmp_path / "nowhere" / "x.csv")
    with pytest.raises(FileNotFoundError, match="is a folder, not a file"):
        load_admissions(tmp_path)


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
    (problem,) = caught.value.problems
    assert problem.column == "readmitted_30d" and problem.rows == [2, 3, 5]
    assert problem.problem == "has values that are not 0 or 1 (2, 'yes please', and missing values)"
    assert "Fix: recode it to 0 or 1" in str(caught.value)
    # the same rule as every other 0/1 column of the study (helpers.contracts.parse_binary)
    from helpers.contracts import parse_binary
    assert parse_binary(bad["readmitted_30d"])[1].tolist() == [False, True, True, False, True]


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


def test_unknown_and_other_categories_are_kept_as_their_own_category(tmp_path):
    df = good_frame()
    df["sex"] = ["F", "Unknown", "female", "X", None]
    df["insurance"] = ["Medicare", "BlueCross", "self pay", "not recorded", "BlueCross"]
    df["borough"] = ["Manhattan", "Brooklyn", "Jersey City", "queens ", None]
    parsed = validate_admissions(df)
    # own categories: never moved onto another real value, no row refused
    assert parsed["sex"].tolist() == ["F", "Unknown", "F", "Other", "Unknown"]
    assert parsed["insurance"].tolist() == ["Medicare", "Other", "Self-pay", "Unspecified", "Other"]
    assert parsed["borough"].tolist() == ["Manhattan", "Brooklyn", "Other", "Queens", "Unknown"]
    notes = parsed.attrs["category_notes"]
    assert "column 'sex': 1 row (1 empty) is kept as its own category 'Unknown'" in notes
    assert "column 'sex': 1 row (values 'X') is kept as its own category 'Other'" in notes
    assert "column 'insurance': 2 rows (values 'BlueCross') are kept as their own category 'Other'" in notes

    # value_maps still translate a synonym the user knows, before the rule applies
    path = tmp_path / "cats.csv"
    df.to_csv(path, index=False)
    fixed = load_admissions(path, value_maps={"insurance": {"BlueCross": "Private"}})
    assert fixed["insurance"].tolist() == ["Medicare", "Private", "Self-pay", "Unspecified", "Private"]


def test_no_message_suggests_mapping_a_value_onto_another_real_value(tmp_path):
    """A fix that maps one real value onto another (value_maps={'sex': {'Unknown': 'M'}}) falsifies the data."""
    import re

    df = good_frame()
    df["sex"] = ["Unknown", "F", "M", "X", "F"]
    df["insurance"] = ["Tricare", "Medicare", "Private", "Medicaid", "Self-pay"]
    df["readmitted_30d"] = [1, 0, 0, 0, 7]  # one real problem, so that a message is produced
    df.loc[0, "admit_date"] = "yesterday"
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df)
    message = str(caught.value)
    assert {p.column for p in caught.value.problems} == {"readmitted_30d", "admit_date"}
    assert not re.search(r"value_maps\s*=\s*\{", message)
    assert "'M'" not in message and "'F'" not in message


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
    df["age"] = None
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


def _export_text(sep: str = ",") -> str:
    frame = good_frame()
    frame.loc[0, "hospital"] = "Hôpital Nord"
    return frame.to_csv(index=False, sep=sep)


def test_latin1_csv_is_refused_with_the_encoding_fix_and_read_with_csv_options(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(_export_text().encode("latin-1"))
    with pytest.raises(ValueError) as caught:
        load_admissions(path)
    assert str(caught.value) == (
        "parameter 'data_path': the file 'export.csv' is not utf-8 text (byte 0xf4 on line 2 cannot be read as "
        "utf-8). Fix: give its encoding with the parameter csv_options, e.g. csv_options: {encoding: latin-1} "
        "(Western European exports; cp1252 for Windows exports), or save the file as UTF-8.")
    loaded = load_admissions(path, csv_options={"encoding": "latin-1"})
    assert loaded["hospital"].iloc[0] == "Hôpital Nord"


def test_semicolon_csv_is_refused_with_the_separator_fix_and_read_with_csv_options(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(_export_text(sep=";"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"seems to separate its columns with ';', not ','.*Fix: give the separator "
                                         r"with the parameter csv_options, e.g. csv_options: \{sep: ';'\}"):
        load_admissions(path)
    tabbed = tmp_path / "export_tab.csv"
    tabbed.write_text(_export_text(sep="\t"), encoding="utf-8")
    with pytest.raises(ValueError, match=r'with tabs, not.*csv_options: \{sep: "\\t"\}'):
        load_admissions(tabbed)
    assert len(load_admissions(path, csv_options={"sep": ";"})) == 5
    # a UTF-8 file with a byte-order mark (Excel's "CSV UTF-8") needs nothing
    bom = tmp_path / "excel.csv"
    bom.write_bytes(_export_text().encode("utf-8-sig"))
    assert load_admissions(bom, csv_options={"encoding": "utf-8-sig"})["admission_id"].iloc[0] == "a1"


def test_csv_options_are_checked(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(_export_text())
    with pytest.raises(ValueError, match=r"'csv_options' has unknown key\(s\) \['delimeter'\]"):
        load_admissions(path, csv_options={"delimeter": ";"})
    with pytest.raises(ValueError, match=r"encoding 'latin-9x' is not an encoding Python knows"):
        load_admissions(path, csv_options={"encoding": "latin-9x"})
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"the file 'empty.csv' is empty"):
        load_admissions(empty)


def test_notes_that_are_not_text_are_refused_without_showing_them(tmp_path):
    df = good_frame()
    df["note_text"] = pd.Series(["note one", 12345, "note three", 3.5, "---"], dtype=object)
    with pytest.raises(DataValidationError) as caught:
        validate_admissions(df)
    by_problem = {p.problem: p for p in caught.value.problems}
    not_text = by_problem["holds values that are not text (of type float, int)"]
    assert not_text.rows == [2, 4] and not_text.examples == []  # note values are never printed
    assert by_problem["has notes without a single letter (only digits or punctuation)"].rows == [5]
    assert "12345" not in str(caught.value)

    # the same from a Parquet file whose note column is numeric (a wrong column mapped onto note_text)
    numeric = good_frame().assign(note_text=[1, 2, 3, 4, 5])
    path = tmp_path / "numeric.parquet"
    numeric.to_parquet(path)
    with pytest.raises(DataValidationError, match=r"column 'note_text': holds values that are not text \(of type int"):
        load_admissions(path)


# ---------------------------------------------------------------------------------------------------------------
# Exports as they really come: time zones, mixed layouts, empty files, header-only files, duplicated headers
# ---------------------------------------------------------------------------------------------------------------


def test_time_zone_aware_dates_are_converted_to_utc_and_made_naive(tmp_path):
    df = good_frame()
    df["admit_date"] = ["2019-01-01T10:00:00Z", "2019-01-10T23:30:00+02:00", "2019-02-01 08:00-05:00",
                        "2019-03-01T00:15:00+0100", "2019-04-01T12:00:00Z"]
    df.loc[2, "discharge_date"] = "2019-02-02"
    parsed = validate_admissions(df)
    assert parsed["admit_date"].dt.tz is None
    assert parsed["admit_date"].tolist() == [pd.Timestamp("2019-01-01 10:00"), pd.Timestamp("2019-01-10 21:30"),
                                             pd.Timestamp("2019-02-01 13:00"), pd.Timestamp("2019-02-28 23:15"),
                                             pd.Timestamp("2019-04-01 12:00")]
    # a zone-aware Parquet column (Europe/Paris, +01:00 in winter) is converted the same way
    frame = good_frame()
    frame["admit_date"] = pd.to_datetime(["2019-01-01 10:00"] * 5).tz_localize("Europe/Paris")
    frame["discharge_date"] = pd.to_datetime(frame["discharge_date"]).dt.tz_localize("UTC")
    path = tmp_path / "zoned.parquet"
    frame.to_parquet(path)
    loaded = load_admissions(path)
    assert loaded["admit_date"].iloc[0] == pd.Timestamp("2019-01-01 09:00") and loaded["admit_date"].dt.tz is None
    assert loaded["discharge_date"].iloc[1] == pd.Timestamp("2019-01-12")


def test_a_column_mixing_zoned_and_plain_date_times_is_refused_naming_the_rows():
    df = good_frame()
    df["admit_date"] = ["2019-01-01", "2019-01-10T10:00:00Z", "2019-02-01", "2019-03-01", "2019-04-01"]
    error, message = only_problem(df)
    problem = error.problems[0]
    assert problem.column == "admit_date" and problem.rows == [2]
    assert "mixes date-times with a time zone (e.g. '2019-01-10T10:00:00Z', 1 row) and without one" in message
    assert "converted to UTC" in message and "Fix:" in message
    # the majority zoned: the plain rows are the ones listed
    df["admit_date"] = ["2019-01-01T01:00Z", "2019-01-10T10:00:00Z", "2019-02-01", "2019-03-01T00:00Z",
                        "2019-04-01T00:00Z"]
    error, _ = only_problem(df)
    assert error.problems[0].rows == [3]


def test_a_column_mixing_date_layouts_is_refused_naming_rows_and_layout():
    df = good_frame()
    df["discharge_date"] = ["2019-01-05", "12/01/2019", "2019-02-01", "04/03/2019", "2019-04-10"]
    error, message = only_problem(df)
    assert error.problems[0].column == "discharge_date" and error.problems[0].rows == [2, 4]
    assert "mixes layouts (3 rows read, e.g. '2019-01-05')" in message and "'12/01/2019'" in message
    assert "export every date of the column in one layout" in message


def test_empty_and_header_only_files_are_refused_before_reading_on(tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(good_frame().columns) + "\n")
    with pytest.raises(ValueError, match=r"the file 'header.csv' has a header line but no data rows \(columns: "
                                         r"\['admission_id', 'patient_id'"):
        load_admissions(header_only)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n \n\t\n")
    with pytest.raises(ValueError, match=r"the file 'blank.csv' is empty"):
        load_admissions(blank)
    empty_parquet = tmp_path / "empty.parquet"
    empty_parquet.write_bytes(b"")
    with pytest.raises(ValueError, match=r"the file 'empty.parquet' is empty"):
        load_admissions(empty_parquet)
    rows_none = tmp_path / "none.parquet"
    good_frame().iloc[0:0].to_parquet(rows_none)
    with pytest.raises(ValueError, match=r"'none.parquet' has a header line but no data rows"):
        load_admissions(rows_none)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match=r"'broken.parquet' cannot be read as Parquet"):
        load_admissions(broken)
    with pytest.raises(DataValidationError, match=r"column 'admission_id': the table has no rows"):
        validate_admissions(good_frame().iloc[0:0])


def test_a_header_naming_a_column_twice_is_refused_naming_it_and_its_positions(tmp_path):
    text = good_frame().to_csv(index=False).splitlines()
    header = text[0] + ",hospital"
    path = tmp_path / "twice.csv"
    path.write_text("\n".join([header] + [line + ",Other" for line in text[1:]]) + "\n")
    with pytest.raises(DataValidationError) as caught:
        load_admissions(path)
    problem = caught.value.problems[0]
    assert problem.column == "hospital" and "columns 3, 13" in problem.problem
    assert "nothing was loaded" in str(caught.value)
    # the same check with another separator
    semicolon = tmp_path / "twice_semicolon.csv"
    semicolon.write_text(path.read_text().replace(",", ";"))
    with pytest.raises(DataValidationError, match=r"column 'hospital': is the name of 2 columns"):
        load_admissions(semicolon, csv_options={"sep": ";"})
    with pytest.raises(DataValidationError, match=r"column 'age': is the name of 2 columns"):
        validate_admissions(pd.concat([good_frame(), good_frame()[["age"]]], axis=1))
