"""Cohort construction, Table 1 and hospital rates on small hand-made admissions."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import cohort as cohort_lib
from helpers import privacy, table_one
from helpers.artifacts import file_sha256, stage_is_fresh, stage_key, mark_stage, write_parquet


def _admissions():
    base = dict(sex="F", insurance="Medicare", borough="Bronx", comorbidity_index=2, length_of_stay=3.0,
                note_text="Patient admitted with pneumonia.")
    rows = [
        # id, patient, hospital, admit, discharge, age, died, readmitted
        ("A1", "P1", "H1", "2020-01-01", "2020-01-05", 70, 0, 1),
        ("A2", "P1", "H1", "2020-01-20", "2020-01-25", 70, 1, 0),   # in-hospital death
        ("A3", "P2", "H1", "2020-03-01", "2020-03-02", 16, 0, 0),   # minor
        ("A4", "P3", "H2", "2020-05-01", "2020-05-04", 50, 0, 0),
        ("A5", "P4", "H2", "2020-06-01", "2020-06-03", 45, 0, 1),
        ("A6", "P5", "H2", "2020-12-20", "2020-12-24", 60, 0, 0),   # too little follow-up
        ("A7", "P6", "H2", "2021-01-10", "2021-01-12", 80, 0, 0),   # last admission: data end
    ]
    frame = pd.DataFrame(rows, columns=["admission_id", "patient_id", "hospital", "admit_date", "discharge_date",
                                        "age", "died_in_hospital", "readmitted_30d"])
    for key, value in base.items():
        frame[key] = value
    frame.loc[frame["admission_id"] == "A4", "note_text"] = "  "          # empty note
    frame["admit_date"] = pd.to_datetime(frame["admit_date"])
    frame["discharge_date"] = pd.to_datetime(frame["discharge_date"])
    return frame


def test_exclusion_steps_count_what_each_removes():
    cohort, steps = cohort_lib.build_cohort(_admissions())
    assert steps["excluded"].tolist() == [0, 1, 1, 1, 2]
    assert steps["admissions"].tolist() == [7, 6, 5, 4, 2]
    assert sorted(cohort["admission_id"]) == ["A1", "A5"]
    assert cohort["words_per_note"].tolist() == [4, 4]
    assert cohort["comorbidity_level"].tolist() == [2, 2]
    assert cohort["age_group"].tolist() == ["60-79", "40-59"]


def test_full_followup_can_be_switched_off():
    cohort, steps = cohort_lib.build_cohort(_admissions(), require_full_followup=False)
    assert len(steps) == 4
    assert sorted(cohort["admission_id"]) == ["A1", "A5", "A6", "A7"]


def test_hospital_rates_use_all_admissions_for_mortality_and_the_cohort_for_readmission():
    admissions = _admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    rates = cohort_lib.hospital_rates(cohort, admissions).set_index("hospital")
    assert rates.loc["H1", "mortality_rate"] == pytest.approx(1 / 3)
    assert rates.loc["H2", "mortality_rate"] == 0
    assert rates.loc["H1", "readmission_rate"] == 1.0           # A1 only
    assert rates.loc["H2", "readmission_rate"] == pytest.approx(1 / 3)  # A5 of A5, A6, A7
    # Wilson interval for 1 of 3 (hand computed with z = 1.96): 0.0615 to 0.7923
    assert rates.loc["H2", "readmission_ci_low"] == pytest.approx(0.0615, abs=1e-3)
    assert rates.loc["H2", "readmission_ci_high"] == pytest.approx(0.7923, abs=1e-3)


def test_table_one_values():
    admissions = _admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    table = table_one.table_one(cohort, admissions)
    assert list(table.columns) == ["H1", "H2", "Overall"]
    assert table.loc["Admissions", "Overall"] == "4"
    assert table.loc["Age, mean (SD)", "H1"].startswith("70.0")
    assert table.loc["30-day readmission", "H2"] == "1 (33.3%)"
    assert table.loc["In-hospital mortality (all admissions)", "Overall"] == "1 (14.3%)"


def test_subgroup_summary_and_small_cell_suppression():
    admissions = _admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    summary = cohort_lib.subgroup_summary(cohort)
    hospital = summary[summary["group_var"] == "hospital"].set_index("group")
    assert hospital.loc["H2", "admissions"] == 3 and hospital.loc["H2", "readmissions"] == 1
    assert cohort_lib.prevalence_trend(summary, "hospital") == "falls from 100.0 % (H1) to 33.3 % (H2)"
    shown = privacy.hide_counts(summary, ["admissions"], real_data=True)
    assert (shown["admissions"] == "<11").all()
    assert privacy.hide_counts(summary, ["admissions"], real_data=False).equals(summary)
    with pytest.raises(KeyError, match="nonexistent"):
        privacy.hide_counts(summary, ["nonexistent"], real_data=True)


def test_example_note_never_shows_real_notes():
    admissions = _admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    assert "pneumonia" not in cohort_lib.example_note(cohort, real_data=True)
    assert "pneumonia" in cohort_lib.example_note(cohort, real_data=False)


def test_bad_source_parameters_are_named():
    with pytest.raises(ValueError, match="data_source"):
        cohort_lib.load_source("excel")
    with pytest.raises(ValueError, match="data_path"):
        cohort_lib.load_source("file")


def test_parquet_is_byte_stable_and_stage_keys(tmp_path):
    cohort, _ = cohort_lib.build_cohort(_admissions())
    a = file_sha256(write_parquet(cohort, tmp_path / "a.parquet"))
    b = file_sha256(write_parquet(cohort.copy(), tmp_path / "b.parquet"))
    assert a == b
    key = stage_key(seed=1, n=10)
    assert key == stage_key(n=10, seed=1) != stage_key(seed=2, n=10)
    out = tmp_path / "a.parquet"
    assert not stage_is_fresh(out, key)
    mark_stage(out, key)
    assert stage_is_fresh(out, key) and not stage_is_fresh(out, stage_key(seed=2))
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def _cohort_file_hash(tmp_path, seed, name):
    source = cohort_lib.load_source("simulated", seed=seed, n_admissions=1500)
    cohort, _ = cohort_lib.build_cohort(source.admissions)
    return file_sha256(write_parquet(cohort, tmp_path / f"{name}.parquet"))


@pytest.mark.slow
def test_same_seed_gives_the_same_cohort_file_and_another_seed_a_different_one(tmp_path):
    first = _cohort_file_hash(tmp_path, 0, "first")
    again = _cohort_file_hash(tmp_path, 0, "again")
    other = _cohort_file_hash(tmp_path, 1, "other")
    assert first == again
    assert first != other


def test_unknown_simulation_knob_is_named():
    with pytest.raises(ValueError, match="unknown knob.*'frailty_share'.*unrecorded_risk_share"):
        cohort_lib.load_source("simulated", n_admissions=500, simulation={"frailty_share": 0.2})


def test_missing_upstream_artifact_names_the_notebook_to_run(tmp_path):
    from helpers.artifacts import RunPaths

    paths = RunPaths.from_run_dir(tmp_path / "runs" / "mine", notebook="01_data")
    with pytest.raises(FileNotFoundError, match=r"written by notebook 01_data.*params/mine.yaml --only 01"):
        paths.upstream("cohort.parquet", "01_data")
    paths.artifact("cohort.parquet").write_text("x")
    assert paths.upstream("cohort.parquet", "01_data") == tmp_path / "runs" / "mine" / "artifacts" / "01_data" / \
        "cohort.parquet"


def _many_admissions(n_h1: int = 40, n_h2: int = 30) -> pd.DataFrame:
    """Two hospitals, one patient per admission; H1 has 5 Medicaid patients, H2 12; 3 sex 'Unknown' in H1."""
    rows = []
    for hospital, n, medicaid in (("H1", n_h1, 5), ("H2", n_h2, 12)):
        for i in range(n):
            rows.append({
                "admission_id": f"{hospital}-{i}", "patient_id": f"{hospital}-P{i}", "hospital": hospital,
                "admit_date": pd.Timestamp("2020-01-01") + pd.Timedelta(days=i),
                "discharge_date": pd.Timestamp("2020-01-03") + pd.Timedelta(days=i),
                "age": 50 + i % 30, "sex": "Unknown" if (hospital == "H1" and i < 3) else ("F" if i % 2 else "M"),
                "insurance": "Medicaid" if i < medicaid else "Medicare", "borough": "Bronx",
                "comorbidity_index": 2, "length_of_stay": 2.0, "died_in_hospital": 0,
                "note_text": "Discharged home.", "readmitted_30d": int(i % 4 == 0),
            })
    return pd.DataFrame(rows)


def test_table_one_suppresses_cells_under_11_patients_and_their_complements():
    admissions = _many_admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    plain = table_one.table_one(cohort, admissions)
    assert plain.loc["Insurance: Medicaid", "H1"] == "5 (12.5%)"
    assert plain.loc["Sex: Unknown", "H1"] == "3 (7.5%)"       # unknown sex is a row of its own
    assert "Sex: Other" not in plain.index                      # absent categories add no row
    shown = table_one.table_one(cohort, admissions, real_data=True)
    # primary: 5 Medicaid patients at H1, 3 of unknown sex
    assert shown.loc["Insurance: Medicaid", "H1"] == "<11"
    assert shown.loc["Sex: Unknown", "H1"] == "<11"
    # complementary: H1's Medicaid count would be Overall 17 - H2 12, so one more cell of that row is hidden
    # (the smallest visible non-zero one: H2's 12), and H1's Medicare 35 = 40 - Medicaid is hidden too
    assert shown.loc["Insurance: Medicaid", "H2"] == "<11"
    assert shown.loc["Insurance: Medicare", "H1"] == "<11"
    assert shown.loc["Admissions", "H1"] == "40" and shown.loc["Insurance: Private", "H1"] == "0 (0.0%)"
    # every visible count is 0 or at least 11
    for cell in shown.drop(index=[i for i in shown.index if "mean" in i or "median" in i]).to_numpy().ravel():
        assert cell == "<11" or int(cell.split(" ")[0].replace(",", "")) in (0,) or \
            int(cell.split(" ")[0].replace(",", "")) >= 11, cell


def test_small_hospital_summaries_are_suppressed_too():
    admissions = _many_admissions(n_h1=40, n_h2=8)
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    shown = table_one.table_one(cohort, admissions, real_data=True)
    assert shown.loc["Age, mean (SD)", "H2"] == "<11" and shown.loc["Admissions", "H2"] == "<11"
    assert shown.loc["Age, mean (SD)", "H1"] != "<11"


def test_exclusion_counts_rates_and_prose_counts_are_suppressed_on_real_data():
    cohort, steps = cohort_lib.build_cohort(_admissions())
    shown = table_one.construction_table(steps, real_data=True)
    assert shown["excluded"].tolist() == [0, "<11", "<11", "<11", "<11"]
    assert table_one.construction_table(steps, real_data=False).equals(steps)
    assert privacy.count_text(7, real_data=True) == "<11"
    assert privacy.count_text(0, real_data=True) == "0"
    assert privacy.count_text(1234, real_data=True) == "1,234"
    assert privacy.count_text(7, real_data=False) == "7"

    admissions = _many_admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    rates = cohort_lib.hospital_rates(cohort, admissions)
    # H1: 10 readmissions (i % 4 == 0 of 40) -> hidden; H2: 8 of 30 -> hidden too
    long = cohort_lib.rates_long(rates, real_data=True)
    assert long.loc[long["rate"] == "30-day readmission", "value"].isna().all()
    assert not cohort_lib.rates_long(rates, real_data=False)["value"].isna().any()


def test_figures_leave_out_small_groups_on_real_data():
    admissions = _many_admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    summary = cohort_lib.subgroup_summary(cohort)
    shown = cohort_lib.subgroups_for_figure(summary, real_data=True)
    assert ((shown["admissions"] >= 11) & ((shown["readmissions"] == 0) | (shown["readmissions"] >= 11))).all()
    assert len(cohort_lib.subgroups_for_figure(summary, real_data=False)) == len(summary)
    words = cohort_lib.words_by_hospital_year(cohort.assign(discharge_year=[2020] * 45 + [2021] * 25),
                                              real_data=True)
    assert (words["admissions"] >= 11).all()
    assert cohort_lib.example_note_comment(real_data=True).startswith("This run reads real data, so no note")


def test_subgroup_table_hides_prevalence_that_would_give_a_small_count_back():
    admissions = _many_admissions()
    cohort, _ = cohort_lib.build_cohort(admissions, require_full_followup=False)
    summary = cohort_lib.subgroup_summary(cohort)
    shown = cohort_lib.format_subgroups(summary, real_data=True)
    # H1: 40 admissions, 10 readmissions -> count and prevalence (25.0 %) hidden; 40 x 25 % would give 10 back
    assert shown.loc[("hospital", "H1"), "readmissions"] == "<11"
    assert shown.loc[("hospital", "H1"), "prevalence (%)"] == ""
    assert shown.loc[("hospital", "H1"), "admissions"] == 40
    plain = cohort_lib.format_subgroups(summary)
    assert plain.loc[("hospital", "H1"), "prevalence (%)"] == 25.0


@pytest.mark.parametrize("change, step, fix", [
    ({"died_in_hospital": 1, "readmitted_30d": 0}, "exclude in-hospital deaths", "every admission is an in-hospital"),
    ({"age": 10}, "exclude patients under 18", "check that age is in years"),
    ({"admit_date": pd.Timestamp("2019-05-01"), "discharge_date": pd.Timestamp("2019-05-03")},
     "exclude discharges after 2019-04-01 (less than 30 days of follow-up)", "require_full_followup: false"),
])
def test_a_cohort_emptied_by_one_exclusion_is_refused_naming_the_step(change, step, fix):
    admissions = _admissions().assign(**change)
    with pytest.raises(ValueError) as refused:
        cohort_lib.build_cohort(admissions)
    message = str(refused.value)
    assert message.startswith(f"the cohort is empty: the step '{step}' removed the last ") and fix in message
