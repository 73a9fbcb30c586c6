"""The data contracts: one 0/1 parser, column checks with close names, split names, the study frame, the site rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import contracts
from helpers.contracts import ContractError, binary_labels, check_columns, check_study_frame, parse_binary


def test_binary_labels_accept_every_spelling_of_0_and_1_as_int64():
    values = [0, 1, True, False, "1", " 0 ", "TRUE", "false", 1.0, 0.0, np.int8(1), "1.0"]
    labels = binary_labels(values, column="readmitted_30d", where="test")
    assert labels.dtype == np.int64
    assert labels.tolist() == [0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1]
    assert binary_labels(pd.Series([True, False], dtype="boolean"), column="y", where="t").tolist() == [1, 0]
    assert binary_labels(np.array([1, 0, 1]), column="y", where="t").tolist() == [1, 0, 1]


@pytest.mark.parametrize("bad", [2, -1, 0.5, "yes", "2.0", None, np.nan, "", "1 "])
def test_binary_labels_refuse_everything_else(bad):
    values = pd.Series([0, 1, bad], dtype=object)
    if bad == "1 ":  # surrounding spaces are fine: this one is accepted
        assert binary_labels(values, column="y", where="t").tolist() == [0, 1, 1]
        return
    with pytest.raises(ContractError) as caught:
        binary_labels(values, column="readmitted_30d", where="my_export.csv")
    message = str(caught.value)
    assert message.startswith("my_export.csv: column 'readmitted_30d' must hold only 0 or 1, but has ")
    assert "(1 row: 3 with value" in message  # row 3 = the third value, counted from 1
    assert "Fix: recode it to 0 or 1" in message


def test_binary_labels_name_rows_by_id_and_cut_long_lists():
    values = pd.Series([0, 7, 1, 9, 9, 9, 9, 9, 9], index=range(100, 109))
    with pytest.raises(ContractError) as caught:
        binary_labels(values, column="y_true", where="predictions",
                      row_ids=[f"A{i}" for i in range(9)])
    message = str(caught.value)
    assert "but has 7, 9 (7 admissions: A1, A3, A4, A5, A6 with values 7, 9, 9, 9, 9, and 2 more)" in message


def test_parse_binary_is_the_same_rule_without_raising():
    parsed, bad = parse_binary(pd.Series(["1", "no", None, 0]))
    assert bad.tolist() == [False, True, True, False]
    assert parsed[0] == 1.0 and parsed[3] == 0.0 and np.isnan(parsed[1])


def test_check_columns_names_missing_columns_and_the_closest_names():
    frame = pd.DataFrame(columns=["Admission ID", "patient", "readmit_30d", "note"])
    with pytest.raises(ContractError) as caught:
        check_columns(frame, ["admission_id", "readmitted_30d", "hospital"], where="export.csv",
                      fix="rename them with column_map")
    message = str(caught.value)
    assert "export.csv: missing columns 'admission_id' (closest in the table: ['Admission ID'])" in message
    assert "'readmitted_30d' (closest in the table: ['readmit_30d'])" in message
    assert "'hospital'," not in message and "'hospital'." in message  # no close match: named alone
    assert "Fix: rename them with column_map" in message
    check_columns(frame, ["note"], where="x")  # nothing missing: no error


def test_split_names_and_study_frame(tmp_path):
    from helpers import cohort as cohort_lib

    cohort = pd.DataFrame({
        "admission_id": ["a1", "a2", "a3"], "patient_id": ["p1", "p2", "p3"], "hospital": ["H", "H", "K"],
        "admit_date": pd.to_datetime(["2020-01-01"] * 3), "discharge_date": pd.to_datetime(["2020-01-02"] * 3),
        "age": [50.0, 60.0, 70.0], "age_group": ["40-59", "60-79", "60-79"], "sex": ["F", "M", "Unknown"],
        "insurance": ["Medicare", "Other", "Private"], "comorbidity_index": [0, 1, 2],
        "comorbidity_level": [1, 2, 2], "note_text": ["a", "b", "c"], "words_per_note": [1, 1, 1],
        "discharge_year": [2020] * 3, "readmitted_30d": ["1", "0", "true"],
    })
    splits = cohort[["admission_id", "patient_id", "hospital"]].assign(split=["train", "validation", "temporal_test"])
    frame = cohort_lib.study_frame(cohort, splits)
    assert frame["readmitted_30d"].dtype == np.int64 and frame["readmitted_30d"].tolist() == [1, 0, 1]

    with pytest.raises(ContractError, match=r"column 'split' has unknown value\(s\) \['test'\]"):
        cohort_lib.study_frame(cohort, splits.assign(split=["train", "test", "temporal_test"]))
    with pytest.raises(ContractError, match=r"cohort\.parquet: missing column 'readmitted_30d'.*re-run chapter 1"):
        cohort_lib.study_frame(cohort.drop(columns="readmitted_30d"), splits)
    with pytest.raises(ContractError, match=r"column 'readmitted_30d' must hold only 0 or 1.*1 admission: a2"):
        cohort_lib.study_frame(cohort.assign(readmitted_30d=[1, 5, 0]), splits)
    with pytest.raises(ContractError, match=r"'note_text' must hold text \(1 admission: a3"):
        check_study_frame(frame.assign(note_text=["a", "b", 3]))


def test_split_names_are_one_list_everywhere():
    from helpers import evaluation, splits

    assert splits.SPLITS is contracts.SPLITS
    assert evaluation.SPLITS is contracts.SPLITS
    assert tuple(evaluation.PREDICTION_COLUMNS) == contracts.PREDICTION_COLUMNS
    assert evaluation.EVALUATION_SPLITS == contracts.EVALUATION_SPLITS == contracts.SPLITS[1:]


def test_site_column_rule():
    frame = pd.DataFrame({"hospital": ["North", None, " South "], "ward": [3.0, np.nan, 4.0]})
    # the hospital column itself: missing values are their own group, never another site
    assert contracts.use_site_column(frame)["hospital"].tolist() == ["North", "Unknown", "South"]
    other = contracts.use_site_column(frame, "ward")
    assert other["hospital"].tolist() == ["3", "Unknown", "4"]       # whole floats written as ids
    assert other["hospital_in_file"].tolist() == ["North", None, " South "]
    assert other["ward"].tolist()[0] == 3.0                         # the source column is kept
    with pytest.raises(ContractError, match=r"site_column is 'wards', which is not a column.*closest columns: "
                                            r"\['ward'\]"):
        contracts.use_site_column(frame, "wards")
    with pytest.raises(ContractError, match=r"the site column 'hospital' is missing.*parameter 'site_column'"):
        contracts.use_site_column(frame.drop(columns="hospital"))


def test_every_data_source_uses_the_same_site_rule(tmp_path):
    """The file loader, MIMIC-IV and the simulated source give the same hospital for the same site values."""
    from helpers import cohort as cohort_lib
    from helpers.loaders import use_site_column as loader_rule

    frame = pd.DataFrame({"unit": ["A", None, "B"], "x": [1, 2, 3]})
    expected = contracts.use_site_column(frame, "unit")["hospital"].tolist()
    assert loader_rule(frame, "unit")["hospital"].tolist() == expected == ["A", "Unknown", "B"]
    simulated = cohort_lib.load_source("simulated", n_admissions=400, site_column="insurance")
    assert (simulated.admissions["hospital"] == simulated.admissions["insurance"].astype(str)).all()
