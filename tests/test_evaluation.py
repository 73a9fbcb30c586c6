"""Known-answer tests for helpers.evaluation: metrics against scikit-learn, the patient-level bootstrap against
explicit resampling and normal theory, NaN reasons, and the metrics file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from helpers import evaluation as ev


def _random_case(rng, n):
    """Labels, tied scores (five distinct values) and integer weights including zeros."""
    y = rng.integers(0, 2, n)
    s = rng.integers(0, 5, n) / 4
    w = rng.integers(0, 4, n)
    return y, s, w


# ---------------------------------------------------------------- metrics vs scikit-learn


def test_metrics_equal_sklearn_with_ties_and_integer_weights():
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(150):
        y, s, w = _random_case(rng, int(rng.integers(4, 80)))
        if len(set(y[w > 0])) < 2:
            continue
        checked += 1
        assert ev.auroc(y, s, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
        assert ev.auprc(y, s, w) == pytest.approx(average_precision_score(y, s, sample_weight=w), abs=1e-12)
        assert ev.brier(y, s, w) == pytest.approx(brier_score_loss(y, s, sample_weight=w), abs=1e-12)
        # an integer weight is the same as repeating the row
        rows = np.repeat(np.arange(len(y)), w)
        assert ev.auroc(y, s, w) == pytest.approx(roc_auc_score(y[rows], s[rows]), abs=1e-12)
        assert ev.auprc(y, s, w) == pytest.approx(average_precision_score(y[rows], s[rows]), abs=1e-12)
        assert ev.brier(y, s, w) == pytest.approx(brier_score_loss(y[rows], s[rows]), abs=1e-12)
    assert checked > 100


def test_metrics_unweighted_continuous_scores_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = rng.random(500) + 0.3 * y
    assert ev.auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert ev.auprc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert ev.brier(y, s / s.max()) == pytest.approx(brier_score_loss(y, s / s.max()), abs=1e-12)


def test_hand_computed_auroc_with_a_tie():
    # positives 0.8, 0.5; negatives 0.5, 0.2 -> pairs: (0.8>0.5) 1, (0.8>0.2) 1, (0.5=0.5) 0.5, (0.5>0.2) 1
    assert ev.auroc([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2]) == pytest.approx(3.5 / 4)
    # AP: threshold 0.8 -> P=1, recall 1/2; threshold 0.5 -> P=2/3, recall 1 -> 0.5*1 + 0.5*2/3
    assert ev.auprc([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2]) == pytest.approx(0.5 + 1 / 3)
    assert ev.brier([1, 0], [0.75, 0.5]) == pytest.approx((0.0625 + 0.25) / 2)


def test_one_class_gives_nan_not_zero():
    assert np.isnan(ev.auroc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert np.isnan(ev.auprc([0, 0, 0], [0.1, 0.5, 0.9]))
    assert ev.brier([0, 0], [0.5, 0.5]) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 2, 1], [0.1, 0.2, 0.3], "column 'y_true' must hold only 0 or 1"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "y_score has 1 missing"),
        ([0, 1, 1], [0.1, 0.3], "y_score has 2 values but y_true has 3"),
    ],
)
def test_bad_inputs_name_the_parameter(y, s, match):
    with pytest.raises(ValueError, match=match):
        ev.auroc(y, s)


# ---------------------------------------------------------------- bootstrap


def test_batched_weights_equal_metrics_on_repeated_rows():
    rng = np.random.default_rng(11)
    n = 60
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 1)  # ties
    patient = rng.integers(0, 25, n)
    codes = pd.factorize(patient)[0]
    draws = rng.integers(0, codes.max() + 1, size=(5, codes.max() + 1))
    counts = np.stack([np.bincount(d, minlength=codes.max() + 1) for d in draws])
    weights = counts[:, codes]
    batched = ev.batched_weighted_metrics(y, s, weights)
    for b in range(len(weights)):
        rows = np.repeat(np.arange(n), weights[b])
        assert batched["auroc"][b] == pytest.approx(roc_auc_score(y[rows], s[rows]), abs=1e-12)
        assert batched["auprc"][b] == pytest.approx(average_precision_score(y[rows], s[rows]), abs=1e-12)
        assert batched["brier"][b] == pytest.approx(brier_score_loss(y[rows], s[rows]), abs=1e-12)


def test_bootstrap_resamples_are_patient_level():
    # Two patients: A has 3 admissions all positive, B has 1 negative. A resample draws 2 patients, so the only
    # possible resamples are {A,A}, {A,B}, {B,B}: positive share 1, 3/4 or 0 -- never 1/2 or 2/3, which
    # admission-level resampling would produce. With constant score 0, the Brier score is the positive share.
    y = np.array([1, 1, 1, 0])
    values = ev.bootstrap_resample_values(y, np.zeros(4), ["A", "A", "A", "B"], metric="brier", n_resamples=400)
    assert set(np.round(values, 12)) == {0.0, 0.75, 1.0}
    shares = np.array([np.mean(values == v) for v in (0.0, 0.75, 1.0)])
    np.testing.assert_allclose(shares, [0.25, 0.5, 0.25], atol=0.07)


def test_perfect_separation_gives_degenerate_ci_at_one():
    y = np.r_[np.ones(40), np.zeros(60)].astype(int)
    s = np.r_[np.linspace(0.6, 0.9, 40), np.linspace(0.1, 0.5, 60)]
    result = ev.bootstrap_metrics(y, s, np.arange(100), n_resamples=300, seed=1)
    for metric in ("auroc", "auprc"):
        assert (result[metric].value, result[metric].ci_low, result[metric].ci_high) == (1.0, 1.0, 1.0)
    assert result["auroc"].n == 100 and result["auroc"].n_pos == 40
    assert result["auroc"].n_resamples_used == 300 and result["auroc"].reason is None


def test_brier_ci_width_matches_normal_theory():
    rng = np.random.default_rng(5)
    n, p, score = 4000, 0.3, 0.2
    y = (rng.random(n) < p).astype(int)
    result = ev.bootstrap_metrics(y, np.full(n, score), np.arange(n), metrics=("brier",), n_resamples=2000, seed=2)
    # per-admission loss is (1-score)^2 with prob p, score^2 otherwise; SE of the mean = sd / sqrt(n)
    a, b = (1 - score) ** 2, score**2
    se = abs(a - b) * np.sqrt(p * (1 - p) / n)
    expected_width = 2 * 1.959964 * se
    width = result["brier"].ci_high - result["brier"].ci_low
    assert width == pytest.approx(expected_width, rel=0.12)
    assert result["brier"].value == pytest.approx(np.mean((y - score) ** 2))


def test_patient_level_ci_wider_than_admission_level_when_admissions_are_correlated():
    # 200 patients with 10 admissions each; every admission copies its patient's label and score, so the
    # effective sample size is 200 patients, not 2000 admissions: the patient bootstrap must see that.
    rng = np.random.default_rng(9)
    patient_label = (rng.random(200) < 0.3).astype(int)
    patient_score = np.clip(0.3 + 0.25 * patient_label + rng.normal(0, 0.2, 200), 0, 1)
    y, s = np.repeat(patient_label, 10), np.repeat(patient_score, 10)
    patients = np.repeat(np.arange(200), 10)
    by_patient = ev.bootstrap_metrics(y, s, patients, n_resamples=500, seed=3)
    by_admission = ev.bootstrap_metrics(y, s, np.arange(len(y)), n_resamples=500, seed=3)
    for metric in ("auroc", "brier"):
        wide = by_patient[metric].ci_high - by_patient[metric].ci_low
        narrow = by_admission[metric].ci_high - by_admission[metric].ci_low
        # sqrt(10) ~ 3.2 in theory; demand clearly more than 2
        assert wide > 2 * narrow, metric


def test_small_and_one_class_groups_get_nan_with_reason():
    one_class = ev.bootstrap_metrics(np.zeros(50, int), np.linspace(0, 1, 50), np.arange(50), n_resamples=50)
    assert np.isnan(one_class["auroc"].value) and np.isnan(one_class["auroc"].ci_low)
    assert one_class["auroc"].reason == "only one class"
    assert one_class["auprc"].reason == "only one class"
    assert one_class["brier"].reason is None and one_class["brier"].value == pytest.approx(
        np.mean(np.linspace(0, 1, 50) ** 2)
    )

    y = np.r_[np.ones(3), np.zeros(47)].astype(int)
    few_pos = ev.bootstrap_metrics(y, np.linspace(0, 1, 50), np.arange(50), n_resamples=50)
    assert np.isnan(few_pos["auroc"].value) and few_pos["auroc"].reason == "3 positives < min 5"

    tiny = ev.bootstrap_metrics([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], [1, 2, 3, 4], n_resamples=50)
    assert tiny["brier"].reason == "4 admissions < min 20" and np.isnan(tiny["brier"].value)

    relaxed = ev.bootstrap_metrics(y, np.linspace(0, 1, 50), np.arange(50), n_resamples=50, min_positives=3)
    assert relaxed["auroc"].reason is None and relaxed["auroc"].value == pytest.approx(
        roc_auc_score(y, np.linspace(0, 1, 50))
    )


def test_resamples_that_lose_a_class_are_dropped_and_counted():
    # 5 positives among 60 single-admission patients: P(no positive in a resample) = (55/60)^60 ~ 0.5 %.
    # With 1 positive patient owning all five positives that chance is (59/60)^60 ~ 37 %.
    y = np.r_[np.ones(5), np.zeros(55)].astype(int)
    s = np.linspace(0, 1, 60)
    patients = np.r_[np.zeros(5), np.arange(1, 56)]
    result = ev.bootstrap_metrics(y, s, patients, n_resamples=1000, seed=4)["auroc"]
    dropped_share = 1 - result.n_resamples_used / 1000
    assert dropped_share == pytest.approx((59 / 60) ** 60, abs=0.05)
    assert np.isfinite(result.ci_low) and "kept" in result.note


def test_bootstrap_is_reproducible_and_seed_dependent():
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 300), rng.random(300)
    first = ev.bootstrap_metrics(y, s, np.arange(300), n_resamples=200, seed=1)["auroc"]
    again = ev.bootstrap_metrics(y, s, np.arange(300), n_resamples=200, seed=1)["auroc"]
    other = ev.bootstrap_metrics(y, s, np.arange(300), n_resamples=200, seed=2)["auroc"]
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_paired_delta_uses_the_same_resamples_for_both_models():
    rng = np.random.default_rng(21)
    n = 400
    y = (rng.random(n) < 0.25).astype(int)
    a = rng.random(n) + 0.3 * y
    b = a + 0.3 * y * rng.random(n)
    patients = rng.integers(0, 250, n)
    delta = ev.paired_bootstrap_delta(y, a, b, patients, n_resamples=400, seed=6)
    assert delta.value == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a), abs=1e-12)
    # the same seed draws the same patients, so the per-resample differences of two separate runs give the CI
    per_a = ev.bootstrap_resample_values(y, a, patients, "auroc", n_resamples=400, seed=6)
    per_b = ev.bootstrap_resample_values(y, b, patients, "auroc", n_resamples=400, seed=6)
    low, high = np.percentile(per_b - per_a, [2.5, 97.5])
    assert (delta.ci_low, delta.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert delta.ci_low > 0  # b only adds signal for positives
    same = ev.paired_bootstrap_delta(y, a, a, patients, n_resamples=100)
    assert (same.value, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
    assert ev.paired_bootstrap_delta(np.zeros(30, int), a[:30], b[:30], np.arange(30)).reason == "only one class"


# ---------------------------------------------------------------- curves


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_table_matches_sklearn(strategy):
    rng = np.random.default_rng(8)
    s = rng.beta(1, 5, 2000)
    y = (rng.random(2000) < s).astype(int)
    table = ev.calibration_curve_table(y, s, n_bins=10, strategy=strategy)
    frac_pos, mean_pred = calibration_curve(y, s, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(table["frac_pos"], frac_pos, atol=1e-12)
    np.testing.assert_allclose(table["mean_pred"], mean_pred, atol=1e-12)
    assert table["n"].sum() == 2000
    if strategy == "quantile":
        assert table["n"].between(195, 205).all()


def test_roc_table_thinned_keeps_ends_and_area():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 5000)
    s = rng.random(5000) + 0.5 * y
    table = ev.roc_curve_table(y, s, max_points=200)
    assert len(table) <= 200
    assert (table["fpr"].iloc[0], table["tpr"].iloc[0]) == (0.0, 0.0)
    assert (table["fpr"].iloc[-1], table["tpr"].iloc[-1]) == (1.0, 1.0)
    assert table["fpr"].is_monotonic_increasing and table["tpr"].is_monotonic_increasing
    area = np.trapezoid(table["tpr"], table["fpr"])
    assert area == pytest.approx(roc_auc_score(y, s), abs=0.005)


# ---------------------------------------------------------------- evaluate_predictions


def _predictions(rng, n=1200):
    patients = rng.integers(0, 800, n)
    y = (rng.random(n) < 0.2).astype(int)
    frame = pd.DataFrame(
        {
            "admission_id": np.arange(n),
            "patient_id": patients,
            "hospital": rng.choice(["H1", "H2", "H3"], n, p=[0.6, 0.3, 0.1]),
            "split": rng.choice(["train", "random_test", "temporal_test"], n),
            "model": "global",
            "y_true": y,
            "y_score": np.clip(rng.random(n) * 0.6 + 0.3 * y, 0, 1),
        }
    )
    cohort = pd.DataFrame(
        {
            "admission_id": np.arange(n),
            "insurance": rng.choice(["Medicare", "Private", "Self-pay"], n, p=[0.5, 0.46, 0.04]),
            "comorbidity_level": rng.integers(1, 5, n),
        }
    )
    return frame, cohort


def test_evaluate_predictions_group_values_match_fairlearn_metricframe():
    rng = np.random.default_rng(13)
    predictions, cohort = _predictions(rng)
    rows = ev.evaluate_predictions(
        predictions,
        notebook="03_disparities",
        experiment="global",
        group_frame=cohort,
        group_vars=("overall", "hospital", "insurance", "comorbidity_level"),
        n_resamples=50,
        seed=3,
    )
    assert list(rows.columns) == ev.METRIC_COLUMNS + ["note"]
    assert set(rows["split"]) == {"random_test", "temporal_test"}  # train is not evaluated by default
    assert (rows["seed"] == 3).all()

    test = predictions.merge(cohort, on="admission_id")
    test = test[test["split"] == "temporal_test"]
    for group_var in ("hospital", "insurance", "comorbidity_level"):
        frame = MetricFrame(
            metrics={"auroc": roc_auc_score, "brier": brier_score_loss},
            y_true=test["y_true"],
            y_pred=test["y_score"],
            sensitive_features=test[group_var],
        ).by_group
        counts = test.groupby(group_var)["y_true"].agg(["size", "sum"])
        for group, expected in frame.iterrows():
            mine = rows[(rows["split"] == "temporal_test") & (rows["group_var"] == group_var)]
            mine = mine[mine["group"] == str(group)].set_index("metric")
            if counts.loc[group, "size"] >= 20:
                assert mine.loc["brier", "value"] == pytest.approx(expected["brier"], abs=1e-12)
            else:
                assert np.isnan(mine.loc["brier", "value"]) and "admissions < min 20" in mine.loc["brier", "note"]
            assert mine.loc["auroc", "n"] == counts.loc[group, "size"]
            assert mine.loc["auroc", "n_pos"] == counts.loc[group, "sum"]
            if counts.loc[group, "sum"] >= 5 and counts.loc[group, "size"] >= 20:
                assert mine.loc["auroc", "value"] == pytest.approx(expected["auroc"], abs=1e-12)
                assert mine.loc["auroc", "ci_low"] <= mine.loc["auroc", "value"] <= mine.loc["auroc", "ci_high"]
            else:
                assert np.isnan(mine.loc["auroc", "value"]) and mine.loc["auroc", "note"]

    overall = rows[(rows["group_var"] == "overall") & (rows["split"] == "temporal_test")].set_index("metric")
    assert overall.loc["auroc", "group"] == "all"
    assert overall.loc["auroc", "value"] == pytest.approx(roc_auc_score(test["y_true"], test["y_score"]))


def test_evaluate_predictions_small_group_row_kept_with_reason():
    rng = np.random.default_rng(1)
    predictions, cohort = _predictions(rng, n=400)
    cohort.loc[cohort.index[:6], "insurance"] = "Unspecified"
    predictions.loc[predictions.index[:6], "split"] = "random_test"
    rows = ev.evaluate_predictions(
        predictions, notebook="nb", experiment="e", group_frame=cohort, group_vars=["insurance"], n_resamples=20
    )
    small = rows[(rows["group"] == "Unspecified") & (rows["split"] == "random_test")].set_index("metric")
    assert small.loc["auroc", "n"] == 6
    assert np.isnan(small.loc["auroc", "value"]) and small.loc["auroc", "note"] == "6 admissions < min 20"


def test_evaluate_predictions_errors_are_clear():
    rng = np.random.default_rng(1)
    predictions, cohort = _predictions(rng, n=100)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['y_score'\]"):
        ev.evaluate_predictions(predictions.drop(columns="y_score"), notebook="n", experiment="e")
    with pytest.raises(ValueError, match="pass group_frame"):
        ev.evaluate_predictions(predictions, notebook="n", experiment="e", group_vars=["insurance"])
    with pytest.raises(ValueError, match="admission_id missing from group_frame"):
        ev.evaluate_predictions(
            predictions, notebook="n", experiment="e", group_frame=cohort.iloc[5:], group_vars=["insurance"]
        )
    bad = predictions.assign(split=predictions["split"].replace("train", "test"))
    with pytest.raises(ValueError, match="unknown value"):
        ev.evaluate_predictions(bad, notebook="n", experiment="e")


# ---------------------------------------------------------------- metrics file


def _rows(notebook, experiment="global", values=(0.7, 0.8)):
    return pd.DataFrame(
        {
            "notebook": notebook,
            "experiment": experiment,
            "model": "m",
            "split": "temporal_test",
            "group_var": "comorbidity_level",
            "group": ["1", "2"],
            "metric": "auroc",
            "value": list(values),
            "ci_low": [0.6, np.nan],
            "ci_high": [0.8, np.nan],
            "n": [100, 3],
            "n_pos": [10, 1],
            "seed": 0,
        }
    )


def test_write_metrics_replaces_own_rows_and_keeps_others(tmp_path):
    ev.write_metrics(tmp_path, _rows("02_clinicllm"), notebook="02_clinicllm")
    ev.write_metrics(tmp_path, _rows("03_disparities"), notebook="03_disparities")
    ev.write_metrics(tmp_path, _rows("02_clinicllm", values=(0.71, 0.81)), notebook="02_clinicllm")
    table = ev.read_metrics(tmp_path)
    assert len(table) == 4
    assert sorted(table.loc[table["notebook"] == "02_clinicllm", "value"]) == [0.71, 0.81]
    assert sorted(table.loc[table["notebook"] == "03_disparities", "value"]) == [0.7, 0.8]
    assert list(table.columns) == ev.METRIC_COLUMNS + ["note"]
    assert table["group"].tolist().count("1") == 2  # group labels stay strings
    assert table["n"].dtype == np.int64 and table["value"].dtype == float
    assert np.isnan(table["ci_low"]).sum() == 2  # NaN survives the round trip


def test_write_metrics_rejects_bad_rows(tmp_path):
    with pytest.raises(ValueError, match=r"missing \['seed'\]"):
        ev.write_metrics(tmp_path, _rows("nb").drop(columns="seed"), notebook="nb")
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        ev.write_metrics(tmp_path, _rows("nb").assign(extra=1), notebook="nb")
    with pytest.raises(ValueError, match="'split' has unknown value"):
        ev.write_metrics(tmp_path, _rows("nb").assign(split="test"), notebook="nb")
    with pytest.raises(ValueError, match="'metric' is empty"):
        ev.write_metrics(tmp_path, _rows("nb").assign(metric=""), notebook="nb")
    with pytest.raises(ValueError, match="'value' must hold numbers"):
        ev.write_metrics(tmp_path, _rows("nb").assign(value="high"), notebook="nb")
    with pytest.raises(ValueError, match="written for notebook 'other'"):
        ev.write_metrics(tmp_path, _rows("nb"), notebook="other")
    with pytest.raises(ValueError, match="repeat the key"):
        ev.write_metrics(tmp_path, _rows("nb").assign(group="1"), notebook="nb")
    assert not (tmp_path / "metrics.csv").exists()


def test_write_metrics_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    path = ev.write_metrics(tmp_path, _rows("02_clinicllm"), notebook="02_clinicllm")
    before = path.read_bytes()

    def half_written(self, target, **kwargs):
        Path(target).write_text("notebook,experiment\n02_clin")  # a partial file on disk, then the failure
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_written)
    with pytest.raises(OSError, match="disk full"):
        ev.write_metrics(tmp_path, _rows("03_disparities"), notebook="03_disparities")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_evaluate_then_write_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    predictions, _ = _predictions(rng, n=300)
    rows = ev.evaluate_predictions(predictions, notebook="02_clinicllm", experiment="global", n_resamples=20)
    ev.write_metrics(tmp_path, rows, notebook="02_clinicllm")
    back = ev.read_metrics(tmp_path)
    pd.testing.assert_frame_equal(back, rows.reset_index(drop=True), check_dtype=False)


def test_display_helpers():
    from helpers.evaluation import describe_difference, format_estimate, lookup, metrics_display

    assert format_estimate(0.73612, 0.70149, 0.77051) == "0.736\u00a0[0.701,\u00a00.771]"
    assert format_estimate(-1.5, -2.8, -0.2, 1) == "-1.5\u00a0[-2.8,\u00a0-0.2]"  # both signs survive any renderer
    assert format_estimate(float("nan"), 0.1, 0.2) == "n/a"
    assert format_estimate(0.5, float("nan"), float("nan")) == "0.500"
    assert describe_difference(0.70, 0.75) == "0.050 lower"
    assert describe_difference(0.80, 0.75) == "0.050 higher"
    assert describe_difference(0.75, 0.75) == "the same"
    rows = pd.DataFrame({
        "experiment": ["global", "global", "oracle"], "split": ["random_test", "temporal_test", "temporal_test"],
        "metric": ["auroc"] * 3, "value": [0.7, 0.65, 0.8], "ci_low": [0.6, 0.6, 0.75], "ci_high": [0.8, 0.7, 0.85],
    })
    assert lookup(rows, experiment="oracle", split="temporal_test")["value"] == 0.8
    with pytest.raises(KeyError, match="found 2"):
        lookup(rows, experiment="global")
    table = metrics_display(rows)
    assert table.loc[("ClinicLLM", "AUROC"), "temporal test"] == "0.650\u00a0[0.600,\u00a00.700]"


def test_experiments_and_curves_cover_every_experiment_and_split():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(11)
    predictions, _ = _predictions(rng, n=400)
    both = pd.concat([predictions.assign(experiment="global"),
                      predictions.assign(experiment="oracle", y_score=predictions["y_true"] * 0.5 + 0.25)])
    splits = sorted(set(predictions["split"]) - {"train"})
    rows = ev.evaluate_experiments(both, notebook="02_clinicllm", splits=splits, n_resamples=20)
    auroc = rows[(rows["metric"] == "auroc") & (rows["group_var"] == "overall")]
    assert set(auroc["experiment"]) == {"global", "oracle"}
    assert (auroc[auroc["experiment"] == "oracle"]["value"] == 1.0).all()  # a perfectly separating score
    part = predictions[predictions["split"] == splits[0]]
    expected = roc_auc_score(part["y_true"], part["y_score"])
    got = auroc[(auroc["experiment"] == "global") & (auroc["split"] == splits[0])]["value"].iloc[0]
    assert got == pytest.approx(expected)
    curves = ev.curves_by_experiment(both, "roc", splits=splits)
    assert set(zip(curves["split"], curves["model"])) == {(s, e) for s in splits for e in ("global", "oracle")}
    calibration = ev.curves_by_experiment(both, "calibration", splits=splits)
    assert {"mean_pred", "frac_pos", "split", "model"} <= set(calibration.columns)
    with pytest.raises(ValueError, match="'roc' or 'calibration'"):
        ev.curves_by_experiment(both, "pr")
    with pytest.raises(ValueError, match="experiment"):
        ev.evaluate_experiments(predictions, notebook="02_clinicllm", splits=splits)


def test_combine_rows_leaves_out_empty_frames_without_a_warning():
    import warnings

    rows = pd.DataFrame({"notebook": ["02_clinicllm"], "metric": ["auroc"], "value": [0.7]})
    empty = pd.DataFrame(columns=["notebook", "metric", "value", "ci_low"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        combined = ev.combine_rows(rows, empty, rows.assign(value=0.6))
    assert combined["value"].tolist() == [0.7, 0.6] and list(combined.columns) == ["notebook", "metric", "value"]
    assert ev.combine_rows(empty).empty
