"""Chapter 4's factor analysis against hand computations and independent implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sklearn.inspection import permutation_importance

from helpers import evaluation, features, verdicts


# --------------------------------------------------------------------------------------------------------------
# The error measure
# --------------------------------------------------------------------------------------------------------------


def test_misclassified_on_a_hand_example():
    # flags at 0.5: 1, 1, 0, 0 (0.5 itself is flagged) -> errors where the flag disagrees with the outcome
    y = [1, 0, 1, 0, 0]
    s = [0.9, 0.6, 0.2, 0.1, 0.5]
    assert features.misclassified(y, s, 0.5).tolist() == [0, 1, 1, 0, 1]


def test_youden_threshold_on_a_hand_example():
    # positives 0.35, 0.8, 0.9, 0.7; negatives 0.1, 0.5, 0.2.
    # J at 0.7: TPR 3/4 - FPR 0 = 0.75; at 0.35: 1 - 1/3 = 0.67; at 0.5: 3/4 - 1/3 = 0.42 -> 0.7 wins.
    y = [0, 0, 1, 1, 0, 1, 1]
    s = [0.1, 0.5, 0.35, 0.8, 0.2, 0.9, 0.7]
    assert features.youden_threshold(y, s) == pytest.approx(0.7)


def test_youden_threshold_refuses_one_class():
    with pytest.raises(ValueError, match="one class"):
        features.youden_threshold([0, 0, 0], [0.1, 0.2, 0.3])


def test_misclassified_refuses_bad_labels():
    with pytest.raises(ValueError, match="y_true"):
        features.misclassified([0, 2], [0.1, 0.2], 0.5)


# --------------------------------------------------------------------------------------------------------------
# A synthetic factor table whose answer is known
# --------------------------------------------------------------------------------------------------------------


def synthetic_factors(n_patients: int = 900, seed: int = 0) -> pd.DataFrame:
    """Admissions (1-3 per patient) whose error depends on age and comorbidity level, not on words per note."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(1, 4, n_patients)
    patient = np.repeat(np.arange(n_patients), visits)
    n = len(patient)
    patient_age = rng.uniform(20, 90, n_patients)
    hospital_names = np.array(["H1", "H2", "H3"])
    hospital = hospital_names[rng.choice(3, n_patients, p=[0.5, 0.3, 0.2])][patient]
    frame = pd.DataFrame({
        "admission_id": [f"A{i}" for i in range(n)],
        "patient_id": [f"P{p}" for p in patient],
        "hospital": hospital,
        "split": rng.choice(["random_test", "temporal_test"], n),
        "age": patient_age[patient] + rng.normal(0, 1, n),
        "words_per_note": rng.integers(150, 700, n),
        "comorbidity_level": rng.integers(0, 5, n),
        "insurance": rng.choice(["Medicare", "Medicaid", "Private"], n, p=[0.5, 0.25, 0.25]),
        "y_true": rng.integers(0, 2, n),
    })
    logit = -2.0 + 0.5 * (frame["age"] - 55) / 10 + 0.4 * frame["comorbidity_level"] + 0.3 * frame["y_true"]
    frame["error"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["y_score"] = rng.random(n)
    sizes = {"H1": 5000, "H2": 3000, "H3": 400}
    frame["train_size"] = frame["hospital"].map(sizes)
    frame["readmission_rate"] = frame["hospital"].map({"H1": 0.12, "H2": 0.11, "H3": 0.14})
    frame["mortality_rate"] = frame["hospital"].map({"H1": 0.02, "H2": 0.03, "H3": 0.05})
    return frame


# --------------------------------------------------------------------------------------------------------------
# The odds-ratio table
# --------------------------------------------------------------------------------------------------------------


def test_odds_ratios_match_a_direct_statsmodels_fit():
    factors = synthetic_factors()
    table, _ = features.error_odds_ratios(factors, min_level_count=30)
    assert list(table.columns) == ["term", "odds_ratio", "ci_low", "ci_high", "p_value"]

    direct_data = pd.DataFrame({
        "error": factors["error"], "readmitted": factors["y_true"], "age_10y": factors["age"] / 10,
        "words_100": factors["words_per_note"] / 100, "comorbidity_level": factors["comorbidity_level"],
        "insurance": factors["insurance"], "hospital": factors["hospital"], "split": factors["split"],
    })
    formula = ("error ~ readmitted + age_10y + words_100 + comorbidity_level"
               " + C(insurance, Treatment(reference='Medicare')) + C(hospital, Treatment(reference='H1'))"
               " + C(split)")
    groups = pd.factorize(factors["patient_id"])[0]
    direct = smf.logit(formula, data=direct_data).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    ci = direct.conf_int()
    expected = {
        "age (per 10 years)": "age_10y",
        "comorbidity level (per level)": "comorbidity_level",
        "words per note (per 100)": "words_100",
        "readmitted (adjustment)": "readmitted",
        "insurance: Medicaid vs Medicare": "C(insurance, Treatment(reference='Medicare'))[T.Medicaid]",
        "hospital: H3 vs H1": "C(hospital, Treatment(reference='H1'))[T.H3]",
        "split: temporal_test": "C(split)[T.temporal_test]",
    }
    rows = table.set_index("term")
    assert len(rows) == len(direct.params) - 1  # everything but the intercept
    for term, name in expected.items():
        assert rows.loc[term, "odds_ratio"] == pytest.approx(np.exp(direct.params[name]), rel=1e-8)
        assert rows.loc[term, "ci_low"] == pytest.approx(np.exp(ci.loc[name, 0]), rel=1e-8)
        assert rows.loc[term, "ci_high"] == pytest.approx(np.exp(ci.loc[name, 1]), rel=1e-8)
        assert rows.loc[term, "p_value"] == pytest.approx(direct.pvalues[name], rel=1e-6, abs=1e-12)
    # the CI is the cluster-robust one: exp(b +- z * clustered SE), not the model-based one
    naive = smf.logit(formula, data=direct_data).fit(disp=0)
    assert direct.bse["age_10y"] != pytest.approx(naive.bse["age_10y"], rel=1e-3)
    # the known effects come back: age and comorbidity raise the odds, words per note does nothing
    assert rows.loc["age (per 10 years)", "ci_low"] > 1.3
    assert rows.loc["comorbidity level (per level)", "ci_low"] > 1.2
    assert rows.loc["words per note (per 100)", "ci_low"] < 1 < rows.loc["words per note (per 100)", "ci_high"]


def test_rare_levels_are_pooled_and_a_pool_too_small_joins_the_common_level():
    values = pd.Series(["A"] * 50 + ["B"] * 40 + ["C"] * 3 + ["D"] * 2)
    outcome = pd.Series([0, 1] * 25 + [0, 1] * 20 + [0, 0, 0] + [1, 1])
    pooled = features.pooled_levels(values, outcome, min_count=30)
    # C and D are rare; together they have 5 admissions, still too few, so they join A (the most common)
    assert sorted(pooled.unique()) == ["A + rare levels", "B"]
    assert (pooled[:50] == "A + rare levels").all() and (pooled[90:] == "A + rare levels").all()
    values = pd.Series(["A"] * 50 + ["B"] * 40 + ["C"] * 20 + ["D"] * 20)
    outcome = pd.Series([0, 1] * 65)
    pooled = features.pooled_levels(values, outcome, min_count=30)
    assert sorted(pooled.unique()) == ["A", "B", "other (pooled)"]


def test_readable_term_names():
    assert features.readable_term("C(insurance, Treatment(reference='Medicare'))[T.Self-pay]") == \
        "insurance: Self-pay vs Medicare"
    assert features.readable_term("C(split)[T.temporal_test]") == "split: temporal_test"
    assert features.readable_term("age_10y") == "age (per 10 years)"


# --------------------------------------------------------------------------------------------------------------
# The group-level regression
# --------------------------------------------------------------------------------------------------------------


def test_group_auroc_variance_is_the_patient_bootstrap_variance_and_weights_its_inverse():
    factors = synthetic_factors()
    factors["age_group"] = np.where(factors["age"] < 60, "<60", "60+")
    data = factors.assign(split="train")  # stands in for the training split: same cells
    groups = features.group_auroc_table(factors, data, cells=["hospital"], n_resamples=100, seed=3)
    row = groups[(groups["split"] == "temporal_test") & (groups["hospital"] == "H1")].iloc[0]
    part = factors[(factors["split"] == "temporal_test") & (factors["hospital"] == "H1")]
    draws = evaluation.bootstrap_resample_values(part["y_true"], part["y_score"], part["patient_id"], "auroc",
                                                 n_resamples=100, seed=3)
    assert row["variance"] == pytest.approx(np.var(draws, ddof=1))
    assert row["weight"] == pytest.approx(1 / np.var(draws, ddof=1))
    assert row["auroc"] == pytest.approx(evaluation.auroc(part["y_true"], part["y_score"]))
    assert row["train_size"] == (data["hospital"] == "H1").sum()


def test_group_regression_is_weighted_least_squares_with_inverse_variance_weights():
    rng = np.random.default_rng(0)
    n = 30
    groups = pd.DataFrame({
        "split": rng.choice(["random_test", "temporal_test"], n),
        "train_size": rng.integers(50, 5000, n),
        "words_per_note": rng.uniform(200, 600, n),
        "age": rng.uniform(30, 80, n),
        "comorbidity_level": rng.uniform(0, 4, n),
        "government_insurance": rng.uniform(0, 1, n),
        "variance": rng.uniform(0.0005, 0.01, n),
    })
    # each group's AUROC is off by noise of its own variance: the model the weights assume
    groups["auroc"] = 0.55 + 0.02 * np.log2(groups["train_size"] + 1) + rng.normal(0, np.sqrt(groups["variance"]))
    groups["weight"] = 1 / groups["variance"]
    result = features.group_regression(groups)

    X = np.column_stack([
        np.ones(n), (groups["split"] == "temporal_test").astype(float), np.log2(groups["train_size"] + 1),
        groups["words_per_note"] / 100, groups["age"] / 10, groups["comorbidity_level"],
        groups["government_insurance"],
    ])
    W = np.diag(1 / groups["variance"].to_numpy())
    y = groups["auroc"].to_numpy()
    beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
    fitted = result.fit.params
    assert fitted["Intercept"] == pytest.approx(beta[0])
    assert fitted["C(split)[T.temporal_test]"] == pytest.approx(beta[1])
    assert fitted["np.log2(train_size + 1)"] == pytest.approx(beta[2])
    assert fitted["I(words_per_note / 100)"] == pytest.approx(beta[3])
    assert fitted["I(age / 10)"] == pytest.approx(beta[4])
    assert fitted["comorbidity_level"] == pytest.approx(beta[5])
    assert fitted["government_insurance"] == pytest.approx(beta[6])
    assert np.allclose(result.fit.model.weights, 1 / groups["variance"])
    size = result.table.set_index("term").loc["fine-tuning sample size (per doubling)"]
    assert size["ci_low"] < 0.02 < size["ci_high"]


def test_group_regression_with_too_few_groups_says_why():
    groups = pd.DataFrame({"split": ["random_test"] * 3, "auroc": [0.6, 0.7, 0.65], "weight": [1.0, 2.0, 3.0],
                           "train_size": [10, 20, 30], "words_per_note": [300] * 3, "age": [50] * 3,
                           "comorbidity_level": [1] * 3, "government_insurance": [0.5] * 3})
    result = features.group_regression(groups)
    assert result.fit is None and "only 3 subgroups" in result.reason


# --------------------------------------------------------------------------------------------------------------
# Error classifiers and permutation importance
# --------------------------------------------------------------------------------------------------------------


def informative_data(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"signal": rng.normal(size=n), "noise_a": rng.normal(size=n), "noise_b": rng.normal(size=n),
                          "patient_id": np.arange(n)})
    frame["error"] = (frame["signal"] + 0.5 * rng.normal(size=n) > 0.8).astype(int)
    return frame


@pytest.mark.parametrize("classifier", ["gradient_boosting", "logistic_regression"])
def test_permutation_importance_ranks_the_informative_feature_first_and_noise_near_zero(classifier):
    frame = informative_data()
    fitted = features.fit_error_classifiers(frame, ["signal", "noise_a", "noise_b"], n_resamples=0)
    assert fitted.performance.set_index("classifier").loc[classifier, "auroc"] > 0.85
    held = frame.iloc[fitted.held_rows]
    table = features.permutation_importance_table(
        fitted.models[classifier], held[fitted.features], held["error"],
        {"signal": ["signal"], "noise_a": ["noise_a"], "noise_b": ["noise_b"]}, n_repeats=10, seed=0,
        method=classifier).set_index("feature")
    assert table["importance"].idxmax() == "signal"
    assert table.loc["signal", "ci_low"] > 0.2
    for noise in ("noise_a", "noise_b"):
        assert abs(table.loc[noise, "importance"]) < 0.03
        assert table.loc[noise, "ci_low"] <= 0.01


def test_one_column_groups_reproduce_scikit_learns_permutation_importance():
    frame = informative_data(n=600)
    fitted = features.fit_error_classifiers(frame, ["signal", "noise_a", "noise_b"], n_resamples=0)
    held = frame.iloc[fitted.held_rows]
    model = fitted.models["gradient_boosting"]
    ours = features.permutation_importance_table(model, held[fitted.features], held["error"],
                                                 {c: [c] for c in fitted.features}, n_repeats=5, seed=7)
    theirs = permutation_importance(model, held[fitted.features], held["error"], scoring="roc_auc", n_repeats=5,
                                    random_state=7)
    assert np.allclose(ours["importance"], theirs.importances_mean)
    assert np.allclose(ours["ci_low"], np.percentile(theirs.importances, 2.5, axis=1))


def test_a_joint_block_keeps_what_each_redundant_copy_hides():
    frame = informative_data()
    frame["copy"] = frame["signal"]  # a second column with the same information
    fitted = features.fit_error_classifiers(frame, ["signal", "copy", "noise_a"], n_resamples=0)
    held = frame.iloc[fitted.held_rows]
    table = features.permutation_importance_table(
        fitted.models["logistic_regression"], held[fitted.features], held["error"],
        {"signal": ["signal"], "copy": ["copy"], "both": ["signal", "copy"]}, n_repeats=10).set_index("feature")
    assert table.loc["both", "importance"] > table.loc["signal", "importance"] + 0.05
    assert table.loc["both", "importance"] > table.loc["copy", "importance"] + 0.05


def test_classifier_importance_ranks_the_known_causes_and_the_hospital_block():
    factors = synthetic_factors(n_patients=1500)
    fitted = features.fit_error_classifiers(factors, features.visible_factors(factors), n_resamples=0)
    importance = features.classifier_importance(fitted, factors, n_repeats=5)
    assert set(importance["method"]) == {"permutation, gradient_boosting", "permutation, logistic_regression"}
    assert list(importance.columns) == ["feature", "importance", "ci_low", "ci_high", "method"]
    ranking = features.factor_ranking(importance, "permutation, logistic_regression")
    assert ranking["feature"].head(2).tolist() == ["age", "comorbidity level"]
    assert features.HOSPITAL_BLOCK in set(ranking["feature"])
    assert "hospital" not in set(ranking["feature"])  # ranked through the block


def test_held_out_split_keeps_patients_apart():
    factors = synthetic_factors()
    fit_rows, held_rows = features.held_out_split(factors, 0.4, seed=0)
    assert not set(factors["patient_id"].iloc[fit_rows]) & set(factors["patient_id"].iloc[held_rows])
    assert len(fit_rows) + len(held_rows) == len(factors)


def test_hidden_variables_that_cause_the_errors_raise_the_held_out_auroc():
    factors = synthetic_factors(n_patients=1500)
    rng = np.random.default_rng(5)
    factors["unrecorded_share"] = rng.uniform(0, 1, len(factors))
    boost = factors["unrecorded_share"] > 0.7
    factors.loc[boost, "error"] = (rng.random(int(boost.sum())) < 0.9).astype(int)
    gain = features.hidden_variable_gain(factors, features.visible_factors(factors), ["unrecorded_share"],
                                         n_resamples=0)
    assert (gain["AUROC gain"] > 0.05).all()
    assert (gain["log loss reduction (%)"] > 0).all()


# --------------------------------------------------------------------------------------------------------------
# Factor table and hospital factors
# --------------------------------------------------------------------------------------------------------------


def test_hospital_factors_count_training_admissions_and_name_a_missing_hospital():
    data = pd.DataFrame({"hospital": ["A", "A", "B", "A", "B"],
                         "split": ["train", "train", "train", "random_test", "validation"]})
    rates = pd.DataFrame({"hospital": ["A", "B"], "readmission_rate": [0.1, 0.2], "mortality_rate": [0.01, 0.02]})
    out = features.hospital_factors(data, rates).set_index("hospital")
    assert out["train_size"].to_dict() == {"A": 2, "B": 1}
    assert out.loc["B", "readmission_rate"] == 0.2
    with pytest.raises(ValueError, match=r"no row for \['B'\]"):
        features.hospital_factors(data, rates.iloc[:1])
    with pytest.raises(ValueError, match="mortality_rate"):
        features.hospital_factors(data, rates.drop(columns="mortality_rate"))


def test_admission_factors_joins_factors_error_and_hidden_variables():
    data = pd.DataFrame({
        "admission_id": ["a", "b", "c"], "age": [50.0, 70.0, 80.0], "age_group": ["40-59", "60-79", "80+"],
        "insurance": ["Medicare", "Private", "Medicaid"], "comorbidity_level": [1, 2, 3],
        "words_per_note": [300, 400, 500], "facts_documented": [3, 4, 0], "facts_in_record": [4, 4, 0],
    })
    predictions = pd.DataFrame({
        "admission_id": ["a", "b", "c"], "patient_id": ["p", "q", "q"], "hospital": ["H", "H", "G"],
        "split": ["random_test", "temporal_test", "validation"], "model": "clinicllm", "y_true": [1, 0, 1],
        "y_score": [0.2, 0.7, 0.9],
    })
    hospitals = pd.DataFrame({"hospital": ["H", "G"], "train_size": [10, 5], "readmission_rate": [0.1, 0.2],
                              "mortality_rate": [0.01, 0.02]})
    oracle = pd.DataFrame({"admission_id": ["a", "b", "c"], "unrecorded_share": [0.1, 0.2, 0.3]})
    table = features.admission_factors(data, predictions, hospitals, 0.5,
                                       share_read=pd.Series({"a": 1.0, "b": 0.25}), oracle=oracle)
    assert table["admission_id"].tolist() == ["a", "b"]  # test splits only
    assert table["error"].tolist() == [1, 1]  # a: readmitted, scored 0.2 < 0.5 (missed); b: false alarm
    assert table["documented_share"].tolist() == [0.75, 1.0]
    assert table["share_unread"].tolist() == [0.0, 0.75]
    assert table["unrecorded_share"].tolist() == [0.1, 0.2]
    assert table["train_size"].tolist() == [10, 10]


def test_length_bins_are_quartiles_of_words():
    factors = pd.DataFrame({"admission_id": list("abcdefgh"), "words_per_note": [100, 200, 300, 400, 500, 600,
                                                                                  700, 800],
                            "share_read": [1, 1, 0.9, 0.8, 0.6, 0.5, 0.4, 0.3]})
    bins = features.length_bins(factors)
    assert bins["words_per_note_bin"].nunique() == 4
    assert bins.groupby("words_per_note_bin").size().tolist() == [2, 2, 2, 2]
    assert features.bin_order(bins["words_per_note_bin"])[0].startswith("100-")


# --------------------------------------------------------------------------------------------------------------
# What the chapter's prose says
# --------------------------------------------------------------------------------------------------------------


def test_error_texts_on_a_hand_example():
    # 8 admissions, 2 errors (25 %): 1 of the 2 readmitted missed (50 %), 1 of the 6 others flagged (17 %).
    # Borough is absent and one hospital's mortality rate is suppressed, so both are left out.
    factors = pd.DataFrame({
        "y_true": [1, 1, 0, 0, 0, 0, 0, 0], "error": [1, 0, 0, 0, 0, 1, 0, 0],
        "train_size": 100, "words_per_note": 300, "comorbidity_level": 1, "age": 60.0, "insurance": "Medicare",
        "hospital": "H1", "readmission_rate": 0.1, "mortality_rate": [0.02] * 7 + [np.nan]})
    assert features.error_texts(factors, 0.23456) == {
        "threshold": "0.235", "error_rate": "25 %", "missed_share": "50 %", "false_alarm_share": "17 %",
        "n_test_admissions": "8",
        "left_out_factors": "borough (not in the data); hospital mortality rate (missing for some hospitals or "
                            "admissions, e.g. suppressed under 11)",
    }


def _profile(aurocs):
    return pd.DataFrame({"fine-tuning sample size": [5000, 1200, 2400], "AUROC": aurocs,
                         "AUROC ci_low": [0.65, 0.55, 0.50], "AUROC ci_high": [0.75, 0.69, 0.80]},
                        index=pd.Index(["H1", "H3", "H2"], name="hospital"))


def test_hospital_texts_name_the_smallest_and_the_worst_hospital():
    assert features.hospital_texts(_profile([0.70, 0.66, 0.62])) == {
        "smallest_hospital": "H3", "smallest_hospital_size": "1,200",
        "smallest_hospital_auroc": "0.660\u00a0[0.550,\u00a00.690]",
        "worst_hospital": "H2", "worst_hospital_auroc": "0.620\u00a0[0.500,\u00a00.800]",
    }
    none_scored = features.hospital_texts(_profile([np.nan] * 3))
    assert none_scored["smallest_hospital_auroc"] == "that cannot be estimated (too few readmissions or admissions in its test)"
    assert (none_scored["worst_hospital"], none_scored["worst_hospital_auroc"]) == \
        ("none (no hospital could be scored)", "n/a")


def test_odds_ratio_texts_quote_the_three_patient_factors_and_the_clusters():
    odds_ratios = pd.DataFrame({
        "term": ["readmitted (adjustment)", "age (per 10 years)", "words per note (per 100)",
                 "comorbidity level (per level)"],
        "odds_ratio": [2.0, 1.234, 0.95, 1.5], "ci_low": [1.5, 1.01, 0.9, 1.3], "ci_high": [2.6, 1.5, 1.002, 1.73],
        "p_value": [0.001, 0.04, 0.0612, 1.2e-8]})
    factors = pd.DataFrame({"patient_id": [f"P{i // 2}" for i in range(2468)]})  # 1,234 patients, two visits each
    assert features.odds_ratio_texts(odds_ratios, factors) == {
        "or_age": "1.23\u00a0[1.01,\u00a01.50], p = 0.04",
        "or_words": "0.95\u00a0[0.90,\u00a01.00], p = 0.061",
        "or_comorbidity": "1.50\u00a0[1.30,\u00a01.73], p = 1.2e-08",
        "n_clusters": "1,234",
    }


def test_group_regression_texts_quote_the_sample_size_effect_or_say_why_there_is_none():
    table = pd.DataFrame({"term": ["fine-tuning sample size (per doubling)", "age (per 10 years)"],
                          "estimate": [0.0123, -0.02], "ci_low": [-0.004, -0.05], "ci_high": [0.0286, 0.01],
                          "p_value": [0.1449, 0.2]})
    fitted = features.GroupRegression(table, fit=object(), n_groups=14)
    assert features.group_regression_texts(fitted, ["hospital", "age_group"]) == {
        "n_groups": "14", "group_cells": "hospital x age_group",
        "size_effect": "each doubling of the subgroup's fine-tuning sample size goes with an AUROC change of "
                       "0.012\u00a0[-0.004,\u00a00.029] (p = 0.14)",
    }
    reason = "only 3 subgroups have an estimable AUROC; the regression needs at least 9"
    too_few = features.GroupRegression(pd.DataFrame(), fit=None, n_groups=3, reason=reason)
    assert features.group_regression_texts(too_few, ["hospital"]) == {
        "n_groups": "3", "group_cells": "hospital", "size_effect": f"the regression is not estimated: {reason}"}


def test_classifier_texts_quote_each_classifiers_held_out_auroc():
    performance = pd.DataFrame({"classifier": ["gradient_boosting", "logistic_regression"],
                                "auroc": [0.61, 0.5876], "ci_low": [0.58, 0.556], "ci_high": [0.64, 0.6191],
                                "n_held_out": [1520, 1520], "n_errors_held_out": [300, 300]})
    assert features.classifier_texts(performance) == {
        "error_auroc_gradient_boosting": "0.610\u00a0[0.580,\u00a00.640]",
        "error_auroc_logistic_regression": "0.588\u00a0[0.556,\u00a00.619]",
        "n_held_out": "1,520",
    }


def test_ranking_texts_list_the_top_four():
    ranking = pd.DataFrame({"rank": [1, 2, 3, 4, 5],
                            "feature": [features.HOSPITAL_BLOCK, "age", "insurance", "comorbidity level",
                                        "words per note"],
                            "in the study's top four": ["yes", "yes", "", "yes", "yes"]})
    assert features.ranking_texts(ranking) == {
        "top_four": f"1. {features.HOSPITAL_BLOCK}; 2. age; 3. insurance; 4. comorbidity level"}


def _importance(rows, methods=("permutation, gradient_boosting", "permutation, logistic_regression")):
    """importance.csv rows: (feature, importance, ci_low, ci_high) for every method."""
    return pd.DataFrame([{"feature": f, "importance": v, "ci_low": lo, "ci_high": hi, "method": m}
                         for m in methods for f, v, lo, hi in rows])


STUDY_FOUR = [(features.HOSPITAL_BLOCK, 0.05, 0.04, 0.06), ("age", 0.04, 0.03, 0.05),
              ("comorbidity level", 0.03, 0.02, 0.04), ("words per note", 0.02, 0.01, 0.03)]
HOSPITAL_ONE_BY_ONE = [("hospital", 0.001, -0.001, 0.003), ("fine-tuning sample size", 0.0, -0.001, 0.001)]


@pytest.mark.parametrize(("others", "expected"), [
    # the study's four on top, every interval above zero
    ([("insurance", 0.01, 0.0, 0.02), ("borough", 0.001, -0.002, 0.004)], verdicts.REPRODUCED),
    # borough's interval lies wholly above words per note's: clearly more important than one of the four
    ([("insurance", 0.01, 0.0, 0.02), ("borough", 0.045, 0.035, 0.055)], verdicts.CONTRADICTED),
    # insurance ranks fourth but its interval overlaps words per note's: the ranking is not settled
    ([("insurance", 0.025, 0.005, 0.035), ("borough", 0.001, -0.002, 0.004)], verdicts.INCONCLUSIVE),
])
def test_the_one_rule_for_the_studys_four_factors(others, expected):
    importance = _importance(STUDY_FOUR + HOSPITAL_ONE_BY_ONE + others)
    result = features.study_factor_verdict(importance)
    assert result.verdict == expected
    # chapter 4 quotes the same verdict the closing page shows
    from helpers import summary

    finding = "Sample size, age, comorbidities and words per note matter most"
    empty = evaluation.validate_metric_rows(pd.DataFrame(columns=evaluation.METRIC_COLUMNS))
    assert summary.findings_table(empty, importance).loc[
        finding, "verdict"] == expected
    ranking = features.factor_ranking(importance, "permutation, gradient_boosting")
    assert features.ranking_texts(ranking, importance)["factor_verdict"] == expected


def test_four_factors_inconclusive_when_a_study_factor_is_not_clearly_above_zero():
    four = [*STUDY_FOUR[:3], ("words per note", 0.004, -0.004, 0.011)]  # the case: age's CI crossed zero
    result = features.study_factor_verdict(_importance(four + [("insurance", 0.001, -0.003, 0.005)]))
    assert result.verdict == verdicts.INCONCLUSIVE
    assert "3 of the study's four with an interval above zero" in result.evidence


def test_hidden_texts_on_simulated_and_on_real_data():
    gain = pd.DataFrame({"log loss reduction (%)": [4.24], "AUROC, visible (CI)": ["0.600\u00a0[0.550,\u00a00.650]"],
                         "AUROC, visible + hidden (CI)": ["0.700\u00a0[0.650,\u00a00.750]"]},
                        index=pd.Index(["gradient_boosting"], name="classifier"))
    ranking = pd.DataFrame({"feature": [features.HIDDEN_LABELS["share_unread"], "age"]})
    assert features.hidden_texts(gain, ranking, ["share_unread"]) == {"hidden_result": (
        "With the hidden variables used in this run (share of the note past the model's input limit) added to the "
        "visible factors, the gradient boosting error classifier's held-out AUROC goes from 0.600\u00a0[0.550,\u00a00.650] to "
        "0.700\u00a0[0.650,\u00a00.750] and its log loss falls by 4.2 %; the most important factor is then share of the note "
        "past the model's input limit.")}
    assert features.hidden_texts(None, None, []) == {
        "hidden_result": "On real data these variables do not exist, so this section has nothing to add."}


def test_length_texts_take_the_shortest_and_longest_bins_in_numeric_order():
    # in text order "1201-..." would come first; in numeric order it is the longest bin
    words = ["1201-2500 words", "90-300 words", "301-1200 words"]
    length_rows = pd.DataFrame({
        "group_var": ["words_per_note_bin"] * 6 + ["share_read_bin"],
        "split": ["temporal_test"] * 3 + ["random_test"] * 3 + ["temporal_test"],
        "group": words + words + ["100 % read"],
        "value": [0.58, 0.7123, 0.65, 0.1, 0.1, 0.1, 0.66], "ci_low": [0.5, 0.65, 0.6, 0, 0, 0, 0.6],
        "ci_high": [0.66, 0.77, 0.7, 0.2, 0.2, 0.2, 0.7]})
    bins = pd.DataFrame({"words_per_note_bin": words * 2})
    factors = pd.DataFrame({"share_read": [0.5, 0.8, 1.0]})
    assert features.length_texts(length_rows, bins, factors, "head") == {
        "auroc_shortest": "90-300 words: 0.712\u00a0[0.650,\u00a00.770]",
        "auroc_longest": "1201-2500 words: 0.580\u00a0[0.500,\u00a00.660]",
        "median_share_read": "80 %",
        "reading": "reads the first tokens of each note up to its input limit",
    }
    assert features.length_texts(length_rows, bins, factors, "windows")["reading"] == (
        "reads every note whole, in windows of its input limit, so the share read is 100 % for every note and the "
        "figure leaves out the panel by share read")
