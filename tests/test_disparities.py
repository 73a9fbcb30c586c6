"""Chapter 3's subgroup metrics against hand computations and scikit-learn, the suppression rule, the verdict rule,
the study's contrasts, and the notebook on a small synthetic run (simulated and real-data branches)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
from executed_notebooks import glued_names, prose_glue_keys
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from helpers import disparities as dis
from helpers import evaluation as ev
from helpers import privacy
from helpers.contracts import TEST_SPLITS

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"min_cases": 4, "min_positives": 1, "min_negatives": 1}


def synthetic_study(n_per_split: int = 300, seed: int = 0, *, oracle: bool = True, borough: bool = True):
    """Predictions (global, tfidf_lr and optionally oracle) and a cohort for two test splits.

    Hospital D is small and scored badly by 'global' (noise swamps the signal there); about a fifth of the patients
    have two admissions in a split.
    """
    rng = np.random.default_rng(seed)
    records, cohort = [], []
    for split in TEST_SPLITS:
        n = n_per_split
        patients = rng.integers(0, int(n * 0.8), n)
        hospital = rng.choice(["Hospital A", "Hospital B", "Hospital C", "Hospital D"], n, p=[0.4, 0.3, 0.2, 0.1])
        age = rng.uniform(20, 95, n).round()
        level = rng.integers(1, 5, n)
        insurance = rng.choice(["Medicare", "Medicaid", "Private", "Unspecified"], n)
        risk = 1 / (1 + np.exp(-(-2.2 + 0.02 * (age - 60) + 0.3 * level + rng.normal(0, 1, n))))
        y = (rng.random(n) < risk).astype(int)
        noise = np.where(hospital == "Hospital D", 3.0, 0.6)
        scores = {
            "global": 1 / (1 + np.exp(-(np.log(risk / (1 - risk)) + rng.normal(0, 1, n) * noise))),
            "tfidf_lr": 1 / (1 + np.exp(-(np.log(risk / (1 - risk)) + rng.normal(0, 1.2, n)))),
        }
        if oracle:
            scores["oracle"] = risk
        ids = [f"{split[:1]}{i:05d}" for i in range(n)]
        pids = [f"{split[:1]}P{p:05d}" for p in patients]
        for experiment, score in scores.items():
            records.append(pd.DataFrame({
                "admission_id": ids, "patient_id": pids, "hospital": hospital, "split": split,
                "model": {"global": "clinicllm"}.get(experiment, experiment), "y_true": y, "y_score": score,
                "experiment": experiment}))
        frame = pd.DataFrame({"admission_id": ids, "patient_id": pids, "hospital": hospital, "age": age,
                              "age_group": pd.cut(age, [18, 40, 60, 80, np.inf], right=False,
                                                  labels=["18-39", "40-59", "60-79", "80+"]).astype(str),
                              "comorbidity_level": level, "insurance": insurance, "readmitted_30d": y})
        if borough:
            frame["borough"] = rng.choice(["Bronx", "Queens"], n)
        cohort.append(frame)
    return pd.concat(records, ignore_index=True), pd.concat(cohort, ignore_index=True)


def _rows(predictions, cohort, n_resamples=200, seed=3, **options):
    frame, group_vars = dis.disparity_frame(predictions, cohort)
    return dis.disparity_rows(frame, group_vars, n_resamples=n_resamples, seed=seed,
                              **dis.contrast_settings(cohort), **options)


def _value(rows, **filters):
    return ev.lookup(rows, **filters)


# ---------------------------------------------------------------- subgroup metrics by hand


def test_tiny_frame_against_hand_computation():
    # Hospital X: positives 0.8, 0.5; negatives 0.5, 0.2 -> AUROC (1 + 1 + 0.5 + 1) / 4 = 0.875,
    # AP = 0.5 * 1 + 0.5 * 2/3, Brier = (0.04 + 0.25 + 0.25 + 0.04) / 4, prevalence 1/2.
    # Hospital Y (the rest of the test): positives 0.9, 0.6, 0.7; negatives 0.1, 0.95, 0.3, 0.2, 0.5
    # -> each positive beats four of the five negatives (all but 0.95): AUROC 12/15 = 0.8.
    y_true = [1, 1, 0, 0] + [1, 0, 0, 1, 0, 1, 0, 0]
    y_score = [0.8, 0.5, 0.5, 0.2] + [0.9, 0.1, 0.95, 0.6, 0.3, 0.7, 0.2, 0.5]
    ids = [f"a{i:02d}" for i in range(12)]
    predictions = pd.DataFrame({
        "admission_id": ids, "patient_id": ids, "hospital": ["X"] * 4 + ["Y"] * 8, "split": "temporal_test",
        "model": "clinicllm", "y_true": y_true, "y_score": y_score, "experiment": "global"})
    cohort = predictions[["admission_id"]].assign(age=70.0, insurance="Private", comorbidity_level=1)
    frame, group_vars = dis.disparity_frame(predictions, cohort, splits=("temporal_test",))
    assert group_vars == ["hospital", "insurance", "comorbidity_level"]  # age_group and borough are absent
    rows = dis.disparity_rows(frame, group_vars, smallest="X", highest_comorbidity=1, n_resamples=0,
                              splits=("temporal_test",), **SMALL)
    x = {"experiment": "global", "split": "temporal_test", "group_var": "hospital", "group": "X"}
    assert _value(rows, metric="auroc", **x)["value"] == pytest.approx(0.875)
    assert _value(rows, metric="auprc", **x)["value"] == pytest.approx(0.5 + 1 / 3)
    assert _value(rows, metric="brier", **x)["value"] == pytest.approx((0.04 + 0.25 + 0.25 + 0.04) / 4)
    assert _value(rows, metric="prevalence", **x)["value"] == pytest.approx(0.5)
    assert (_value(rows, metric="auroc", **x)["n"], _value(rows, metric="auroc", **x)["n_pos"]) == (4, 2)
    y = {**x, "group": "Y"}
    assert _value(rows, metric="auroc", **y)["value"] == pytest.approx(0.8)
    # the hospital against the rest of the test: X's AUROC minus Y's (the rest is exactly Y here)
    assert _value(rows, metric="delta_auroc_vs_rest", **x)["value"] == pytest.approx(0.875 - 0.8)
    assert _value(rows, metric="delta_auroc_vs_rest", **y)["value"] == pytest.approx(0.8 - 0.875)
    # smallest hospital contrast is hospital X
    smallest = _value(rows, metric="auroc", experiment="global", split="temporal_test", group_var="contrast",
                      group="smallest_hospital")
    assert smallest["value"] == pytest.approx(0.875) and smallest["n"] == 4
    # no oracle experiment: no oracle gap rows
    assert "oracle_gap" not in set(rows["metric"])


def test_points_agree_with_sklearn_for_every_group():
    predictions, cohort = synthetic_study()
    rows = _rows(predictions, cohort, n_resamples=0)
    frame, _ = dis.disparity_frame(predictions, cohort)
    checked = 0
    for (experiment, split), part in frame.groupby(["experiment", "split"]):
        for group_var in ["hospital", "insurance", "age_group", "comorbidity_level", "borough"]:
            for group, members in part.groupby(group_var):
                found = rows[(rows["experiment"] == experiment) & (rows["split"] == split)
                             & (rows["group_var"] == group_var) & (rows["group"] == str(group))].set_index("metric")
                if found.loc["auroc", "note"]:
                    continue
                y, s = members["y_true"], members["y_score"]
                assert found.loc["auroc", "value"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
                assert found.loc["auprc", "value"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
                assert found.loc["brier", "value"] == pytest.approx(brier_score_loss(y, s), abs=1e-12)
                assert found.loc["prevalence", "value"] == pytest.approx(y.mean(), abs=1e-12)
                assert found.loc["auroc", "n"] == len(members) and found.loc["auroc", "n_pos"] == y.sum()
                checked += 1
    assert checked > 60


def test_bootstrap_intervals_equal_an_explicit_loop_with_the_same_draws():
    """The engine's CIs for a group, its rest and the oracle gap equal scikit-learn on the same weight draws."""
    predictions, cohort = synthetic_study(n_per_split=160, seed=4)
    n_resamples, seed = 60, 11
    rows = _rows(predictions, cohort, n_resamples=n_resamples, seed=seed)
    frame, _ = dis.disparity_frame(predictions, cohort)
    table = dis.split_table(frame, "temporal_test", ["global", "tfidf_lr", "oracle"])
    codes, n_patients = pd.factorize(table["patient_id"])
    weights = np.concatenate(list(ev.patient_resample_blocks(codes, len(n_patients), n_resamples, seed)))
    member = (table["hospital"] == "Hospital A").to_numpy()
    y = table["y_true"].to_numpy()
    group_auroc, rest_auroc, gap = [], [], []
    for w in weights:
        g, r = w * member, w * ~member
        if len(set(y[g > 0])) < 2 or len(set(y[r > 0])) < 2:
            continue
        a = roc_auc_score(y, table["score:global"], sample_weight=g)
        group_auroc.append(a)
        rest_auroc.append(a - roc_auc_score(y, table["score:global"], sample_weight=r))
        gap.append(roc_auc_score(y, table["score:oracle"], sample_weight=g) - a)
    where = {"experiment": "global", "split": "temporal_test", "group_var": "hospital", "group": "Hospital A"}
    for metric, values in [("auroc", group_auroc), ("delta_auroc_vs_rest", rest_auroc), ("oracle_gap", gap)]:
        row = _value(rows, metric=metric, **where)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])),
                                                                abs=1e-10), metric


def test_overall_rows_repeat_chapter_two_bootstrap():
    predictions, cohort = synthetic_study(seed=2)
    predictions = predictions.sample(frac=1.0, random_state=0)  # any row order: chapter 2 keeps the file's order
    rows = _rows(predictions, cohort, n_resamples=150, seed=5)
    part = predictions[(predictions["experiment"] == "global") & (predictions["split"] == "random_test")]
    expected = ev.bootstrap_metrics(part["y_true"], part["y_score"], part["patient_id"], n_resamples=150, seed=5)
    for metric, result in expected.items():
        row = _value(rows, experiment="global", split="random_test", group_var="overall", metric=metric)
        assert (row["value"], row["ci_low"], row["ci_high"]) == pytest.approx(
            (result.value, result.ci_low, result.ci_high), abs=1e-12)


def test_paired_gap_ci_is_narrower_than_independent_intervals():
    predictions, cohort = synthetic_study(seed=6)
    rows = _rows(predictions, cohort, n_resamples=300, seed=1)
    where = {"split": "temporal_test", "group_var": "overall", "group": "all", "metric": "auroc"}
    model, oracle = _value(rows, experiment="global", **where), _value(rows, experiment="oracle", **where)
    gap = _value(rows, experiment="global", split="temporal_test", group_var="overall", metric="oracle_gap")
    assert gap["value"] == pytest.approx(oracle["value"] - model["value"])
    independent = np.hypot(model["ci_high"] - model["ci_low"], oracle["ci_high"] - oracle["ci_low"])
    assert gap["ci_high"] - gap["ci_low"] < independent


def test_small_groups_are_not_estimable_with_the_reason_and_rows_kept():
    predictions, cohort = synthetic_study(n_per_split=120, seed=8)
    rows = _rows(predictions, cohort, n_resamples=20, min_cases=25)
    hospital_d = rows[(rows["group"] == "Hospital D") & (rows["metric"] == "auroc")]
    assert len(hospital_d) == 6  # three models, two tests: the row exists even without a value
    assert hospital_d["value"].isna().all()
    assert hospital_d["note"].str.fullmatch(r"\d+ admissions < min 25").all()
    deltas = rows[(rows["group"] == "Hospital D") & (rows["metric"] == "delta_auroc_vs_rest")]
    assert deltas["note"].str.startswith("group: ").all()


# ---------------------------------------------------------------- suppression on real data


def test_chapter3_hides_small_counts_and_the_rates_that_reveal_them_by_the_privacy_rule():
    table = pd.DataFrame({"n": [8, 40, 40, 0], "n_pos": [2, 5, 35, 0], "prevalence (%)": ["25.0", "12.5", "87.5", "–"]})
    options = {"share_columns": ["prevalence (%)"], "complements": [("n", "n_pos")], "hidden_share": "suppressed"}
    shown = privacy.hide_counts(table, ["n", "n_pos"], real_data=True, **options)
    assert shown["n"].tolist() == ["<11", 40, 40, 0]
    # 35 of 40 leaves 5 admissions without a readmission, recoverable as n - n_pos: hidden too (helpers.privacy)
    assert shown["n_pos"].tolist() == ["<11", "<11", "<11", 0]
    # a rate with a suppressed numerator, or with fewer than 11 non-readmitted admissions, is hidden too
    assert shown["prevalence (%)"].tolist() == ["suppressed", "suppressed", "suppressed", "–"]
    assert privacy.hide_counts(table, ["n", "n_pos"], real_data=False, **options).equals(table)


def test_reasons_hide_small_counts_on_real_data_only():
    assert privacy.hide_counts_in_text("7 admissions < min 20", real_data=True) == "<11 admissions < min 20"
    assert privacy.hide_counts_in_text("3 positives < min 5", real_data=True) == "<11 positives < min 5"
    assert privacy.hide_counts_in_text("14 admissions < min 20", real_data=True) == "14 admissions < min 20"
    assert privacy.hide_counts_in_text("7 admissions < min 20", real_data=False) == "7 admissions < min 20"


def test_subgroup_table_on_real_data_shows_no_count_under_11():
    predictions, cohort = synthetic_study(n_per_split=150, seed=9, oracle=False)
    rows = _rows(predictions, cohort, n_resamples=20)
    table = dis.subgroup_counts_table(rows, "hospital", real_data=True)
    for column in ["admissions", "readmissions"]:
        numbers = pd.to_numeric(table[column], errors="coerce").dropna()
        assert (numbers == 0).sum() + (numbers >= 11).sum() == len(numbers)
    assert (table[["admissions", "readmissions"]].astype(str) == "<11").any().any()
    gaps = dis.subgroup_gap_table(rows, "hospital", real_data=True)
    aurocs = dis.subgroup_table(rows, "hospital", real_data=True)
    assert list(aurocs.columns) == ["AUROC ClinicLLM", "AUROC TF-IDF"]  # no oracle on real data
    assert "oracle's AUROC minus ClinicLLM's" not in gaps.columns
    # the tables quote the rows: ClinicLLM's AUROC at each hospital of the temporal test, as the rows have it
    for hospital in aurocs.loc["temporal test"].index:
        row = ev.lookup(rows, experiment="global", split="temporal_test", group_var="hospital", group=hospital,
                        metric="auroc")
        shown = aurocs.loc[("temporal test", hospital), "AUROC ClinicLLM"]
        assert shown == (ev.format_estimate(row["value"], row["ci_low"], row["ci_high"])
                         if np.isfinite(row["value"]) else "-")
    text = table.to_string()
    assert not re.search(r"\b([1-9]|10) (admissions|positives|negatives)\b", text)


# ---------------------------------------------------------------- the verdict rule


@pytest.mark.parametrize(("delta_model", "delta_oracle", "expected"), [
    (0.02, -0.10, "not weak"),
    (0.0, -0.10, "not weak"),
    (-0.10, -0.08, "harder data"),  # the oracle shares 80 % of the shortfall
    (-0.10, -0.05, "harder data"),  # exactly one half
    (-0.10, -0.04, "model failure"),
    (-0.10, 0.05, "model failure"),  # the oracle is better there than elsewhere
    (np.nan, -0.1, "not estimable"),
    (-0.10, np.nan, "not estimable"),
])
def test_gap_verdict_rule(delta_model, delta_oracle, expected):
    assert dis.gap_verdict(delta_model, delta_oracle) == expected


def test_verdict_table_finds_the_model_failure_built_into_the_data():
    # 'global' is pure noise at Hospital D while the oracle ranks it like everywhere else: a model failure.
    predictions, cohort = synthetic_study(n_per_split=2000, seed=12)
    rows = _rows(predictions, cohort, n_resamples=100)
    verdicts = dis.verdict_table(rows, "temporal_test", real_data=False)
    assert verdicts.loc["Hospital D", "verdict"].startswith("model failure (oracle shares ")
    assert float(verdicts.loc["Hospital D", "adjusted p"].lstrip("<")) < 0.05
    real = dis.verdict_table(rows[rows["experiment"] != "oracle"], "temporal_test", real_data=True)
    assert real.loc["Hospital D", "verdict"] == "clear shortfall (no oracle)"
    assert "oracle minus the rest" not in real.columns
    summary = dis.verdict_summary(real, real_data=True)
    assert summary["n_harder"].startswith("not available")


def _delta_rows(deltas):
    """Chapter 3 rows of ClinicLLM's and the oracle's difference to the rest, one group per (model, oracle) pair."""
    rows = []
    for i, ((value, low, high), (o_value, o_low, o_high)) in enumerate(deltas):
        for experiment, numbers in (("global", (value, low, high)), ("oracle", (o_value, o_low, o_high))):
            rows.append({"notebook": "03_disparities", "experiment": experiment, "model": experiment,
                         "split": "temporal_test", "group_var": "hospital", "group": f"H{i}",
                         "metric": "delta_auroc_vs_rest", "value": numbers[0], "ci_low": numbers[1],
                         "ci_high": numbers[2], "n": 300, "n_pos": 40, "seed": 0, "note": ""})
    return ev.validate_metric_rows(pd.DataFrame(rows))


def test_shortfalls_are_clear_only_after_holms_correction_and_only_those_get_a_share():
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    se = 0.05
    # H0's shortfall is clear even among six groups; H1's interval excludes zero alone but not after the
    # correction; H2 is weak with an interval across zero; the others are above the rest
    deltas = [((-0.20, -0.20 - 1.96 * se, -0.20 + 1.96 * se), (-0.15, -0.25, -0.05)),
              ((-0.11, -0.11 - 1.96 * se, -0.11 + 1.96 * se), (-0.01, -0.1, 0.08)),
              ((-0.003, -0.073, 0.068), (-0.08, -0.15, -0.01)),
              ((0.05, -0.05, 0.15), (0.0, -0.1, 0.1)), ((0.02, -0.08, 0.12), (0.0, -0.1, 0.1)),
              ((0.01, -0.09, 0.11), (0.0, -0.1, 0.1))]
    table = dis.verdict_table(_delta_rows(deltas), "temporal_test", real_data=False)
    assert list(table.index) == ["H0", "H1", "H2"]  # weak groups only, most significant first
    p = 2 * norm.sf(np.abs([d[0][0] / ((d[0][2] - d[0][1]) / (2 * norm.ppf(0.975))) for d in deltas]))
    adjusted = multipletests(p, method="holm")[1]
    assert table["adjusted p"].tolist()[:2] == [f"{adjusted[0]:.3f}" if adjusted[0] >= 0.001 else "<0.001",
                                                f"{adjusted[1]:.3f}"]
    assert adjusted[1] > 0.05 > p[1]  # H1: nominally clear, not after the correction
    assert table.loc["H0", "verdict"] == "harder data (oracle shares 75%)"
    # the Hospital 1 (-0.003 [-0.073, 0.068]) was labelled "harder data" with a share of 2667 %
    assert table.loc["H1", "verdict"] == table.loc["H2", "verdict"] == "no clear shortfall"
    assert "%" not in table.loc["H2", "verdict"]


# ---------------------------------------------------------------- the study's contrasts


def test_contrasts_select_the_right_admissions():
    table = pd.DataFrame({
        "hospital": ["H1", "H2", "H2", "H1", "H3"],
        "age": [59.9, 60.0, 75.0, 30.0, np.nan],
        "comorbidity_level": [4, 1, 4, 2, 3],
        "insurance": ["medicare", "Medicaid", "Private", "Unspecified", None],
    })
    groups = {g.group: g for g in dis.contrast_groups(table, age_threshold=60, smallest="H3",
                                                      highest_comorbidity=4)}
    assert list(groups) == dis.contrast_names(60) == [
        "smallest_hospital", "age_above_60", "highest_comorbidity", "government_insurance", "unspecified_insurance"]
    assert groups["smallest_hospital"].mask.tolist() == [False, False, False, False, True]
    assert groups["age_above_60"].mask.tolist() == [False, True, True, False, False]
    assert groups["highest_comorbidity"].mask.tolist() == [True, False, True, False, False]
    assert groups["government_insurance"].mask.tolist() == [True, True, False, False, False]
    assert groups["unspecified_insurance"].mask.tolist() == [False, False, False, True, False]
    assert dis.contrast_names(65)[1] == "age_above_65"
    without = {g.group: g for g in dis.contrast_groups(table.drop(columns="comorbidity_level"), age_threshold=60,
                                                       smallest="H3", highest_comorbidity=None)}
    assert without["highest_comorbidity"].missing_reason == "the data have no comorbidity_level"


def test_contrast_settings_and_rows():
    predictions, cohort = synthetic_study(seed=3)
    settings = dis.contrast_settings(cohort)
    assert settings == {"smallest": "Hospital D", "highest_comorbidity": 4}
    rows = _rows(predictions, cohort, n_resamples=30, age_threshold=70)
    contrasts = rows[(rows["group_var"] == "contrast") & (rows["metric"] == "auroc")
                     & (rows["experiment"] == "global") & (rows["split"] == "temporal_test")]
    assert contrasts["group"].tolist() == dis.contrast_names(70)
    test = cohort[cohort["admission_id"].str.startswith("t")]
    assert contrasts.set_index("group").loc["age_above_70", "n"] == (test["age"] >= 70).sum()
    assert contrasts.set_index("group").loc["government_insurance", "n"] == test["insurance"].isin(
        ["Medicare", "Medicaid"]).sum()
    with pytest.raises(ValueError, match="age_threshold must be a positive age"):
        dis.age_contrast_name(0)


def test_worst_group_per_variable():
    predictions, cohort = synthetic_study(n_per_split=1500, seed=12)
    rows = _rows(predictions, cohort, n_resamples=20)
    worst = dis.worst_groups(rows)
    assert len(worst) == 10  # five variables, two tests
    hospital = worst[(worst["group_var"] == "hospital") & (worst["split"] == "temporal_test")].iloc[0]
    aurocs = rows[(rows["experiment"] == "global") & (rows["split"] == "temporal_test")
                  & (rows["group_var"] == "hospital") & (rows["metric"] == "auroc")]
    assert hospital["group"] == aurocs.loc[aurocs["value"].idxmin(), "group"] == "Hospital D"
    assert "not in the data" in dis.worst_group_text(worst[worst["group_var"] != "borough"], "borough",
                                                      "temporal_test")


# ---------------------------------------------------------------- what the prose says


def test_chapter_setting_texts_on_real_data_without_borough():
    texts = dis.chapter_setting_texts(["hospital", "insurance", "age_group", "comorbidity_level"], real_data=True,
                                      n_bootstrap=1000, min_group_size=20, min_positives=5)
    assert texts == {
        "group_vars_text": "hospital, insurance, age group, comorbidity level",
        "absent_vars_text": "borough",
        "n_bootstrap_text": "1,000",
        "min_group_size": "20",
        "min_positives": "5",
        "models_text": "ClinicLLM (global) and the TF-IDF baseline (real data have no oracle)",
        "privacy_text": "These are real data: every table shows counts under 11 as <11 and hides rates that would "
                        "reveal them.",
    }


def test_chapter_setting_texts_on_simulated_data_with_every_column():
    texts = dis.chapter_setting_texts(list(dis.GROUP_VARS), real_data=False, n_bootstrap=40, min_group_size=4,
                                      min_positives=1)
    assert texts["absent_vars_text"] == "none"
    assert texts["models_text"] == "ClinicLLM (global), the TF-IDF baseline and the oracle"
    assert texts["privacy_text"] == "These are simulated data, so every count is shown."
    assert texts["n_bootstrap_text"] == "40"


def _metric_row(split, group_var, group, value, ci_low=np.nan, ci_high=np.nan, *, experiment="global",
                metric="auroc", note=""):
    return {"experiment": experiment, "split": split, "group_var": group_var, "group": group, "metric": metric,
            "value": value, "ci_low": ci_low, "ci_high": ci_high, "note": note}


def test_overview_texts_count_the_temporal_groups_and_the_pairs_too_small():
    rows = pd.DataFrame([
        _metric_row("temporal_test", "overall", "all", 0.7123, 0.65, 0.7701),
        _metric_row("temporal_test", "hospital", "A", 0.6, 0.5, 0.7),
        _metric_row("temporal_test", "hospital", "B", np.nan, note="7 admissions < min 20"),
        _metric_row("temporal_test", "contrast", "smallest_hospital", np.nan, note="7 admissions < min 20"),
        _metric_row("random_test", "overall", "all", np.nan, note="only one class"),
        _metric_row("random_test", "hospital", "A", 0.55, 0.45, 0.65),
        # neither the oracle nor another metric counts
        _metric_row("temporal_test", "hospital", "C", np.nan, experiment="oracle"),
        _metric_row("temporal_test", "hospital", "C", 0.1, metric="brier"),
    ])
    # temporal groups: A, B, smallest_hospital; not estimable: B, smallest_hospital (temporal), overall (random)
    assert dis.overview_texts(rows) == {"n_groups": "3", "n_not_estimable": "3",
                                        "overall_temporal": "0.712\u00a0[0.650,\u00a00.770]",
                                        "overall_random": "not estimable (only one class)"}


def test_worst_group_texts_name_each_variable_on_both_tests_and_the_smallest_hospital():
    worst = pd.DataFrame([
        {"split": "temporal_test", "group_var": "hospital", "group": "Hospital 2", "auroc": 0.48,
         "AUROC (95 % CI)": "0.480\u00a0[0.334,\u00a00.657]"},
        {"split": "random_test", "group_var": "hospital", "group": "Hospital 1", "auroc": 0.6,
         "AUROC (95 % CI)": "0.600\u00a0[0.500,\u00a00.700]"},
        {"split": "temporal_test", "group_var": "insurance", "group": "none estimable", "auroc": np.nan,
         "AUROC (95 % CI)": "not estimable"},
        {"split": "random_test", "group_var": "insurance", "group": "Medicaid", "auroc": 0.58,
         "AUROC (95 % CI)": "0.580\u00a0[0.410,\u00a00.720]"},
    ])
    texts = dis.worst_group_texts(worst, "Hospital 4")
    assert texts == {
        "worst_hospital_temporal": "Hospital 2, AUROC 0.480\u00a0[0.334,\u00a00.657]",
        "worst_hospital_random": "Hospital 1, AUROC 0.600\u00a0[0.500,\u00a00.700]",
        "worst_insurance_temporal": "none estimable",
        "worst_insurance_random": "Medicaid, AUROC 0.580\u00a0[0.410,\u00a00.720]",
        "worst_age_group_temporal": "not in the data (no age_group column)",
        "worst_age_group_random": "not in the data (no age_group column)",
        "worst_comorbidity_level_temporal": "not in the data (no comorbidity_level column)",
        "worst_comorbidity_level_random": "not in the data (no comorbidity_level column)",
        "worst_borough_temporal": "not in the data (no borough column)",
        "worst_borough_random": "not in the data (no borough column)",
        "smallest_hospital_name": "Hospital 4",
    }


# ---------------------------------------------------------------- inputs


def test_bad_inputs_are_refused_with_the_fix():
    predictions, cohort = synthetic_study(n_per_split=60)
    with pytest.raises(ValueError, match="'experiment' column"):
        dis.disparity_frame(predictions.drop(columns="experiment"), cohort)
    with pytest.raises(ValueError, match="missing from the cohort"):
        dis.disparity_frame(predictions, cohort.iloc[5:])
    frame, group_vars = dis.disparity_frame(predictions, cohort)
    dropped = frame.drop(frame[(frame["experiment"] == "oracle") & (frame["split"] == "temporal_test")].index[:3])
    with pytest.raises(ValueError, match="'oracle' scores different temporal_test admissions"):
        dis.split_table(dropped, "temporal_test", ["global", "oracle"])
    no_borough = cohort.drop(columns="borough")
    assert "borough" not in dis.disparity_frame(predictions, no_borough)[1]


# ---------------------------------------------------------------- the chapter's notebook


def _write_run(run_dir: Path, *, simulated: bool) -> None:
    predictions, cohort = synthetic_study(n_per_split=250, seed=5, oracle=simulated, borough=simulated)
    chapter1, chapter2 = run_dir / "artifacts" / "01_data", run_dir / "artifacts" / "02_clinicllm"
    chapter1.mkdir(parents=True)
    chapter2.mkdir(parents=True)
    predictions.to_parquet(chapter2 / "predictions_02_clinicllm.parquet")
    cohort.to_parquet(chapter1 / "cohort.parquet")
    (chapter1 / "source.json").write_text(json.dumps({"simulated": simulated}))


@pytest.mark.slow
@pytest.mark.parametrize("simulated", [True, False], ids=["simulated", "real"])
def test_notebook_runs_and_glues_every_key_it_uses(tmp_path, simulated):
    papermill = pytest.importorskip("papermill")
    run_dir = tmp_path / "run"
    _write_run(run_dir, simulated=simulated)
    output = run_dir / "notebooks" / "03_disparities.ipynb"
    output.parent.mkdir()
    papermill.execute_notebook(str(ROOT / "notebooks" / "03_disparities.ipynb"), str(output),
                               parameters={"run_dir": str(run_dir), "n_bootstrap": 40}, cwd=str(ROOT),
                               progress_bar=False)
    nb = nbformat.read(output, as_version=4)
    glued, used = glued_names(nb), prose_glue_keys(nb)
    assert used and used <= glued, sorted(used - glued)
    rows = ev.read_metrics(run_dir)
    assert set(rows["notebook"]) == {"03_disparities"}
    expected_vars = {"overall", "hospital", "insurance", "age_group", "comorbidity_level", "contrast"}
    assert set(rows["group_var"]) == expected_vars | ({"borough"} if simulated else set())
    assert ("oracle_gap" in set(rows["metric"])) == simulated
    for split in TEST_SPLITS:
        assert set(rows.loc[rows["split"] == split, "group_var"]) == set(rows["group_var"])


def test_reliability_figure_draws_one_line_per_hospital_in_each_test_and_the_diagonal():
    bins = pd.DataFrame({"split": ["random_test"] * 4 + ["temporal_test"] * 4,
                         "hospital": ["Hospital 2", "Hospital 2", "Hospital 1", "Hospital 1"] * 2,
                         "mean_pred": [0.1, 0.2, 0.1, 0.3] * 2, "frac_pos": [0.12, 0.18, 0.1, 0.25] * 2,
                         "n": [50] * 8})
    figure = dis.reliability_figure(bins)
    assert [ax.get_title() for ax in figure.axes] == ["random test", "temporal test"]
    for ax in figure.axes:
        lines = ax.get_lines()
        assert [line.get_label() for line in lines[:2]] == ["Hospital 1", "Hospital 2"]   # sorted hospitals
        assert list(lines[0].get_xdata()) == [0.1, 0.3] and list(lines[0].get_ydata()) == [0.1, 0.25]
        assert list(lines[2].get_xdata()) == list(lines[2].get_ydata())                    # the diagonal
    plt.close(figure)
