"""The split design: temporal test by year, patient-level random split before it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.splits import assign_splits, check_patient_separation, split_summary, temporal_overlap


def _cohort(n_patients=400, per_patient=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for k in range(per_patient):
            year = int(rng.integers(2013, 2022))
            rows.append({"admission_id": f"A{p:04d}{k}", "patient_id": f"P{p:04d}",
                         "hospital": f"Hospital {1 + p % 2}", "discharge_date": pd.Timestamp(year, 6, 1 + k),
                         "readmitted_30d": int(rng.random() < 0.2)})
    return pd.DataFrame(rows)


def test_temporal_test_is_exactly_the_last_year_and_earlier_splits_separate_patients():
    cohort = _cohort()
    splits = assign_splits(cohort, temporal_test_year=2021, seed=3)
    years = cohort.set_index("admission_id").loc[splits["admission_id"], "discharge_date"].dt.year.to_numpy()
    assert ((splits["split"] == "temporal_test").to_numpy() == (years >= 2021)).all()
    check_patient_separation(splits)
    earlier = splits[splits["split"] != "temporal_test"]
    shares = earlier.groupby("split", observed=True)["patient_id"].nunique() / earlier["patient_id"].nunique()
    assert shares["train"] == pytest.approx(0.8, abs=0.01)
    assert shares["validation"] == pytest.approx(0.1, abs=0.01)
    assert shares["random_test"] == pytest.approx(0.1, abs=0.01)


def test_same_seed_same_split_other_seed_other_split():
    cohort = _cohort()
    a = assign_splits(cohort, temporal_test_year=2021, seed=1)
    b = assign_splits(cohort, temporal_test_year=2021, seed=1)
    c = assign_splits(cohort, temporal_test_year=2021, seed=2)
    assert a["split"].equals(b["split"])
    assert not a["split"].equals(c["split"])


def test_overlap_counts_patients_seen_before():
    splits = pd.DataFrame({
        "admission_id": ["a", "b", "c", "d", "e"],
        "patient_id": ["p1", "p2", "p1", "p3", "p4"],
        "hospital": ["H"] * 5,
        "split": ["train", "validation", "temporal_test", "temporal_test", "temporal_test"],
    })
    overlap = temporal_overlap(splits)
    assert overlap["temporal_admissions"] == 3
    assert overlap["seen_before"] == 1 and overlap["seen_in_train"] == 1
    assert overlap["seen_before_share"] == pytest.approx(1 / 3)


def test_summary_counts_match_a_hand_count():
    cohort = _cohort(n_patients=50)
    splits = assign_splits(cohort, temporal_test_year=2021, seed=0)
    summary = split_summary(cohort, splits)
    merged = cohort.merge(splits[["admission_id", "split"]], on="admission_id")
    for _, row in summary.iterrows():
        part = merged[merged["split"] == row["split"]]
        if row["hospital"] != "all":
            part = part[part["hospital"] == row["hospital"]]
        assert row["admissions"] == len(part)
        assert row["readmissions"] == part["readmitted_30d"].sum()


def test_bad_parameters_are_named():
    cohort = _cohort(n_patients=20)
    with pytest.raises(ValueError, match="split_fractions"):
        assign_splits(cohort, temporal_test_year=2021, fractions=(0.8, 0.3, 0.1))
    with pytest.raises(ValueError, match="temporal_test_year.*2030"):
        assign_splits(cohort, temporal_test_year=2030)
    with pytest.raises(ValueError, match="no earlier admissions"):
        assign_splits(cohort, temporal_test_year=2010)


def test_a_split_left_empty_by_the_parameters_is_refused_naming_the_parameter_and_fix():
    cohort = _cohort(n_patients=40)
    years = f"{cohort['discharge_date'].dt.year.min()}-{cohort['discharge_date'].dt.year.max()}"
    with pytest.raises(ValueError, match=rf"'temporal_test_year' is 2030, but no admission is discharged then or "
                                         rf"later \(discharge years run {years}\)\. Fix: choose a year in that range"):
        assign_splits(cohort, temporal_test_year=2030)
    with pytest.raises(ValueError, match=r"'temporal_test_year' is 2000, which leaves no earlier admissions"):
        assign_splits(cohort, temporal_test_year=2000)
    with pytest.raises(ValueError, match=r"leaves split\(s\) \['validation'\] empty: parameter 'split_fractions' is "
                                         r"\[0.9, 0.0, 0.1\].*Fix: give every split a share above 0"):
        assign_splits(cohort, temporal_test_year=2021, fractions=(0.9, 0.0, 0.1))
    # three patients before the test year cannot fill 80/10/10: 10 % of 3 rounds to 0 patients
    few = cohort[cohort["patient_id"].isin(["P0000", "P0001", "P0002"]) | (cohort["discharge_date"].dt.year >= 2021)]
    few = few[(few["discharge_date"].dt.year >= 2021) | few["patient_id"].isin(["P0000", "P0001", "P0002"])]
    with pytest.raises(ValueError, match=r"empty.*patient\(s\) are discharged before temporal_test_year 2021"):
        assign_splits(few, temporal_test_year=2021)


def test_single_class_hospitals_are_listed_not_fatal():
    from helpers.splits import describe_single_class_groups, single_class_groups

    summary = pd.DataFrame({
        "split": ["random_test", "random_test", "temporal_test", "temporal_test", "train"],
        "hospital": ["H1", "H2", "H1", "H2", "H2"],
        "admissions": [10, 5, 8, 4, 30],
        "patients": [10, 5, 8, 4, 30],
        "readmissions": [2, 0, 8, 1, 0],
        "prevalence": [0.2, 0.0, 1.0, 0.25, 0.0],
    })
    groups = single_class_groups(summary)
    # H2 random test has no readmission, H1 temporal test only readmissions; train is never evaluated
    assert groups[["split", "hospital"]].values.tolist() == [["random_test", "H2"], ["temporal_test", "H1"]]
    assert describe_single_class_groups(groups) == "H2 in random test; H1 in temporal test"
    assert describe_single_class_groups(groups.iloc[0:0]) == "none"


def test_one_class_hospital_in_a_test_split_is_marked_not_estimable_by_the_evaluation():
    """The model chapters do not crash on it: the hospital's AUROC row is NaN with the reason in 'note'."""
    from helpers.evaluation import evaluate_predictions

    rng = np.random.default_rng(0)
    n = 200
    predictions = pd.DataFrame({
        "admission_id": [f"a{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
        "hospital": ["H1"] * 150 + ["H2"] * 50, "split": "temporal_test", "model": "m",
        "y_true": np.r_[rng.integers(0, 2, 150), np.zeros(50, int)], "y_score": rng.random(n),
    })
    rows = evaluate_predictions(predictions, notebook="nb", experiment="e", group_vars=["hospital"],
                                metrics=["auroc"], n_resamples=20)
    h2 = rows.set_index("group").loc["H2"]
    assert np.isnan(h2["value"]) and h2["note"] == "only one class"
    assert np.isfinite(rows.set_index("group").loc["H1", "value"])
