"""Chapter 5's strategies and comparison: who trains on what, routing, the paired change and its CI, seeds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import clinicllm, evaluation
from helpers import mitigation as m
from helpers.mitigation import strategies, training


def study_frame(seed: int = 0, sizes=(("Hospital A", 400), ("Hospital B", 240), ("Hospital C", 120))) -> pd.DataFrame:
    """A small study frame: three hospitals of different sizes, every split, both classes everywhere."""
    rng = np.random.default_rng(seed)
    rows = []
    splits = ["train"] * 6 + ["validation", "random_test", "temporal_test", "temporal_test"]
    for h, (hospital, n) in enumerate(sizes):
        for i in range(n):
            rows.append({
                "admission_id": f"{hospital[-1]}{i:04d}", "patient_id": f"P{hospital[-1]}{i // 2:04d}",
                "hospital": hospital, "split": splits[i % len(splits)],
                "readmitted_30d": int(rng.uniform() < 0.3), "note_text": f"note {i} of {hospital}",
                "age": float(40 + 10 * h + rng.normal(0, 5)), "comorbidity_index": int(rng.integers(0, 6)),
                "length_of_stay": float(rng.gamma(2, 2)), "words_per_note": int(300 + 40 * h + rng.integers(0, 50)),
                "sex": "F" if i % 2 else "M", "insurance": ["Medicare", "Private", "Medicaid"][i % 3],
            })
    return pd.DataFrame(rows)


def global_predictions_for(data: pd.DataFrame) -> pd.DataFrame:
    tests = data[data["split"].isin(strategies.TEST_SPLITS)]
    rng = np.random.default_rng(1)
    return pd.DataFrame({"admission_id": tests["admission_id"], "patient_id": tests["patient_id"],
                         "hospital": tests["hospital"], "split": tests["split"], "model": "clinicllm",
                         "y_true": tests["readmitted_30d"],
                         "y_score": 0.3 * tests["readmitted_30d"] + rng.uniform(0, 1, len(tests))})


def fake_features(data: pd.DataFrame, width: int = 4, seed: int = 0) -> pd.DataFrame:
    """Cached note features for the frame: noise, with column f1 shifted by the outcome so a head can learn it;
    column f0 is unique per admission, so the rows a model was given can be read back from its features."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(len(data), width)).astype(np.float32)
    values[:, 0] = np.arange(len(data), dtype=np.float32)
    values[:, 1] += 1.5 * data["readmitted_30d"].to_numpy()
    table = pd.DataFrame(values, columns=[f"f{i}" for i in range(width)])
    table.insert(0, "admission_id", data["admission_id"].to_numpy())
    return table


class RecordingTrainer:
    """Wraps training.train_head and records, per model and seed, which admissions it trained and selected on."""

    def __init__(self, data: pd.DataFrame):
        self.ids = data["admission_id"].to_numpy()
        self.trained: list[tuple[int, list[str], list[str]]] = []
        self.real = training.train_head

    def __call__(self, start, train_x, train_y, val_x, val_y, rule, seed):
        self.trained.append((seed, list(self.ids[train_x[:, 0].astype(int)]),
                             list(self.ids[val_x[:, 0].astype(int)])))
        return self.real(start, train_x, train_y, val_x, val_y, rule, seed)


@pytest.fixture
def recorder(monkeypatch):
    holder = {}

    def install(data):
        holder["r"] = RecordingTrainer(data)
        monkeypatch.setattr(training, "train_head", holder["r"])
        return holder["r"]

    return install


def start_at_base_rate(unit):
    return training.new_head(4, float(unit.train["readmitted_30d"].mean()), 0.0)


def run(units, tmp_path, data, seeds=(0,), rule=None):
    return m.run_units(units, fake_features(data), start_at_base_rate, rule or m.StoppingRule(max_epochs=3, patience=2),
                       list(seeds), global_predictions_for(data))


# ------------------------------------------------------------------------------------------------------------
# The paired change and its bootstrap
# ------------------------------------------------------------------------------------------------------------


def independent_paired_bootstrap(y, a, b, patients, n_resamples, seed):
    """The same patient resamples drawn by hand, each model's AUROC from scikit-learn with the counts as weights."""
    codes, uniques = pd.factorize(pd.Series(patients))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniques), size=(n_resamples, len(uniques)))
    deltas, relative = [], []
    for draw in draws:
        weights = np.bincount(draw, minlength=len(uniques))[codes]
        kept = weights > 0
        if len(np.unique(y[kept])) < 2:
            continue
        auroc_a = roc_auc_score(y[kept], a[kept], sample_weight=weights[kept])
        auroc_b = roc_auc_score(y[kept], b[kept], sample_weight=weights[kept])
        deltas.append(auroc_b - auroc_a)
        relative.append(100 * (auroc_b - auroc_a) / auroc_a)
    return np.percentile(deltas, [2.5, 97.5]), np.percentile(relative, [2.5, 97.5])


def test_identical_models_change_by_exactly_zero_with_a_zero_width_interval():
    rng = np.random.default_rng(3)
    y = (rng.uniform(size=300) < 0.25).astype(int)
    score = 0.4 * y + rng.uniform(size=300)
    patients = np.arange(300) // 2
    results = m.paired_change(y, score, score.copy(), patients, n_resamples=300, seed=5)
    for metric in ("delta_auroc", "delta_auroc_rel"):
        r = results[metric]
        assert (r.value, r.ci_low, r.ci_high) == (0.0, 0.0, 0.0), metric
    assert results["auroc"].value == pytest.approx(roc_auc_score(y, score))


def test_a_model_made_perfect_changes_auroc_by_the_known_amount_with_the_hand_computed_paired_interval():
    rng = np.random.default_rng(11)
    y = (rng.uniform(size=240) < 0.3).astype(int)
    global_score = 0.3 * y + rng.uniform(size=240)
    perfect = y + 0.01 * rng.uniform(size=240)  # every positive above every negative
    patients = np.arange(240) // 3
    known = roc_auc_score(y, global_score)
    results = m.paired_change(y, global_score, perfect, patients, n_resamples=400, seed=2)
    assert results["auroc"].value == pytest.approx(1.0)
    assert results["delta_auroc"].value == pytest.approx(1.0 - known)
    assert results["delta_auroc_rel"].value == pytest.approx(100 * (1.0 - known) / known)
    delta_ci, relative_ci = independent_paired_bootstrap(y, global_score, perfect, patients, 400, 2)
    assert [results["delta_auroc"].ci_low, results["delta_auroc"].ci_high] == pytest.approx(delta_ci)
    assert [results["delta_auroc_rel"].ci_low, results["delta_auroc_rel"].ci_high] == pytest.approx(relative_ci)
    # a perfect model has AUROC 1 in every resample, so the change is 1 minus the global AUROC resample by
    # resample: its interval is the global model's own interval, reflected
    own = evaluation.bootstrap_metrics(y, global_score, patients, metrics=("auroc",), n_resamples=400, seed=2)
    assert results["delta_auroc"].ci_low == pytest.approx(1 - own["auroc"].ci_high)
    assert results["delta_auroc"].ci_high == pytest.approx(1 - own["auroc"].ci_low)


def test_paired_change_matches_evaluations_paired_bootstrap_on_noisy_models():
    rng = np.random.default_rng(4)
    y = (rng.uniform(size=400) < 0.2).astype(int)
    a, b = 0.2 * y + rng.uniform(size=400), 0.5 * y + rng.uniform(size=400)
    patients = rng.integers(0, 250, size=400)
    ours = m.paired_change(y, a, b, patients, n_resamples=300, seed=9)["delta_auroc"]
    theirs = evaluation.paired_bootstrap_delta(y, a, b, patients, n_resamples=300, seed=9)
    assert (ours.value, ours.ci_low, ours.ci_high) == (theirs.value, theirs.ci_low, theirs.ci_high)
    delta_ci, _ = independent_paired_bootstrap(y, a, b, patients, 300, 9)
    assert [ours.ci_low, ours.ci_high] == pytest.approx(delta_ci)
    # pairing: two close models' difference is far better determined than either model's AUROC
    close = a + 0.05 * rng.uniform(size=400)
    paired = m.paired_change(y, a, close, patients, n_resamples=300, seed=9)["delta_auroc"]
    own = evaluation.bootstrap_metrics(y, a, patients, metrics=("auroc",), n_resamples=300, seed=9)["auroc"]
    assert paired.ci_high - paired.ci_low < 0.25 * (own.ci_high - own.ci_low)


def test_relative_change_is_percent_of_the_global_auroc():
    assert m.relative_change(0.80, 0.64) == pytest.approx(25.0)
    assert m.relative_change(0.60, 0.75) == pytest.approx(-20.0)
    np.testing.assert_allclose(m.relative_change([0.55, 0.5], [0.5, 0.5]), [10.0, 0.0])
    assert np.isnan(m.relative_change(0.5, np.nan)) and np.isnan(m.relative_change(0.5, 0.0))


def test_a_group_without_both_classes_is_not_estimable_with_its_reason_not_a_crash():
    y = np.zeros(50, dtype=int)
    results = m.paired_change(y, np.linspace(0, 1, 50), np.linspace(1, 0, 50), np.arange(50), n_resamples=50)
    for result in results.values():
        assert np.isnan(result.value) and result.reason


# ------------------------------------------------------------------------------------------------------------
# What each strategy trains on
# ------------------------------------------------------------------------------------------------------------


def test_local_fine_tuning_sees_only_its_hospitals_training_admissions(tmp_path, recorder):
    data = study_frame()
    record = recorder(data)
    result = run(m.local_units(data), tmp_path, data)
    assert len(record.trained) == 3
    by_id = data.set_index("admission_id")
    for (_, train_ids, selection_ids), hospital in zip(record.trained, sorted(data["hospital"].unique())):
        expected = data[(data["hospital"] == hospital) & (data["split"] == "train")]
        assert sorted(train_ids) == sorted(expected["admission_id"])
        selection = by_id.loc[selection_ids]
        assert set(selection["hospital"]) == {hospital} and set(selection["split"]) == {"validation"}
        scored = result.predictions[result.predictions["unit"] == hospital]
        assert set(scored["hospital"]) == {hospital}
        assert set(scored["split"]) == set(strategies.TEST_SPLITS)
    assert len(result.predictions) == data["split"].isin(strategies.TEST_SPLITS).sum()


def brute_force_neighbours(data, vectors, hospital, k):
    train = data["split"] == "train"
    target = vectors[(train & (data["hospital"] == hospital)).to_numpy()]
    pool = data[train & (data["hospital"] != hospital)]
    candidates = vectors[(train & (data["hospital"] != hospital)).to_numpy()]
    nearest = np.sqrt(((candidates[:, None, :] - target[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return list(pool["admission_id"].to_numpy()[np.argsort(nearest, kind="stable")[:k]])


def test_augmentation_adds_the_k_nearest_training_admissions_of_other_hospitals_and_never_validation_or_test():
    data = study_frame()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(data), 4))
    # Put every validation and test admission of the other hospitals exactly on a Hospital C training admission:
    # they would be the nearest of all if they were candidates.
    c_train = np.flatnonzero(((data["hospital"] == "Hospital C") & (data["split"] == "train")).to_numpy())
    decoys = np.flatnonzero(((data["hospital"] != "Hospital C") & (data["split"] != "train")).to_numpy())
    vectors[decoys] = vectors[c_train[0]]
    frame = pd.DataFrame(vectors, index=data.index)
    added = m.most_similar_from_other_hospitals(data, frame, "Hospital C", 25)
    assert len(added) == 25
    assert set(added["split"]) == {"train"}
    assert "Hospital C" not in set(added["hospital"])
    assert list(added["admission_id"]) == brute_force_neighbours(data, vectors, "Hospital C", 25)
    assert (np.diff(added["distance"].to_numpy()) >= 0).all()

    units = m.augmented_units(data, frame, 25)
    for unit in units:
        own = data[(data["hospital"] == unit.unit) & (data["split"] == "train")]
        assert set(unit.train["split"]) == {"train"}
        assert set(own["admission_id"]) <= set(unit.train["admission_id"])
        others = unit.train[unit.train["hospital"] != unit.unit]
        assert len(others) == 25 and len(unit.train) == len(own) + 25
        assert not unit.train["admission_id"].duplicated().any()
        assert set(unit.selection["hospital"]) == {unit.unit} and set(unit.selection["split"]) == {"validation"}


def test_augmentation_refuses_a_bad_k():
    data = study_frame()
    frame = pd.DataFrame(np.zeros((len(data), 2)), index=data.index)
    with pytest.raises(ValueError, match="augmentation_k"):
        m.most_similar_from_other_hospitals(data, frame, "Hospital A", -3)
    assert len(m.most_similar_from_other_hospitals(data, frame, "Hospital A", 0)) == 0


def test_factors_are_standardised_on_training_rows_and_never_include_the_hospital():
    data = study_frame()
    factors = m.factor_matrix(data, data["split"] == "train")
    assert not any("hospital" in c for c in factors.columns)
    train_age = factors.loc[data["split"] == "train", "age"]
    assert train_age.mean() == pytest.approx(0.0, abs=1e-9) and train_age.std() == pytest.approx(1.0)
    both = m.representation(data, "factors", None)
    assert both.shape[0] == len(data)
    with pytest.raises(ValueError, match="similarity_space"):
        m.representation(data, "words", None)


def test_routing_sends_each_test_admission_to_exactly_one_cluster_model(tmp_path):
    data = study_frame()
    vectors = m.representation(data, "factors")
    clustering = m.fit_clusters(data, vectors, 3, seed=0)
    units = m.cluster_units(data, clustering.assignment, min_train=5)
    scored = pd.concat([u.scored for u in units])
    tests = data[data["split"].isin(strategies.TEST_SPLITS)]
    assert sorted(scored["admission_id"]) == sorted(tests["admission_id"])  # each once, none left out
    for unit in units:
        assert (clustering.assignment[unit.scored.index] == unit.unit).all()
        assert set(unit.train["split"]) == {"train"} and set(unit.selection["split"]) <= {"validation"}
    result = run(units, tmp_path, data, seeds=(0, 1))
    for seed, part in result.predictions.groupby("seed"):
        assert not part.duplicated(["admission_id", "split"]).any()
        assert len(part) == len(tests)
    makeup = m.cluster_makeup(data, clustering)
    assert makeup["training admissions"].sum() == (data["split"] == "train").sum()
    assert -1 <= clustering.silhouette <= 1


def test_a_cluster_too_small_to_train_keeps_the_global_score(tmp_path):
    data = study_frame()
    assignment = pd.Series("cluster 1", index=data.index)
    assignment.iloc[:3] = "cluster 2"
    units = m.cluster_units(data, assignment, min_train=10)
    assert units[1].skip_reason and units[0].skip_reason is None
    result = run(units, tmp_path, data)
    kept = result.predictions[result.predictions["unit"].str.startswith("global")]
    reference = global_predictions_for(data).set_index("admission_id")["y_score"]
    np.testing.assert_allclose(kept["y_score"], reference[kept["admission_id"]].to_numpy())


def test_a_hospital_whose_validation_lacks_a_class_is_reported_not_estimable(tmp_path):
    data = study_frame()
    data.loc[(data["hospital"] == "Hospital C") & (data["split"] == "validation"), "readmitted_30d"] = 0
    units = m.local_units(data)
    skipped = [u for u in units if u.skip_reason]
    assert [u.unit for u in skipped] == ["Hospital C"] and "validation" in skipped[0].skip_reason
    result = run(units, tmp_path, data)
    rows = m.change_rows(result.predictions, global_predictions_for(data), result.models, n_resamples=50)
    c_rows = rows[rows["group"] == "Hospital C"]
    assert len(c_rows) == 8 and c_rows["value"].isna().all()  # 4 metrics x 2 tests
    assert c_rows["note"].str.contains("validation").all()
    assert rows.loc[rows["group_var"] == "overall", "note"].str.contains("pooled").all()
    evaluation.validate_metric_rows(rows, notebook="05_mitigation")


def test_seeds_give_one_row_each_and_the_seed_summary_is_their_mean_and_sd(tmp_path, recorder):
    data = study_frame()
    record = recorder(data)
    result = run(m.local_units(data), tmp_path, data, seeds=(0, 1, 2))
    assert sorted({seed for seed, _, _ in record.trained}) == [0, 1, 2] and len(record.trained) == 9
    rows = m.change_rows(result.predictions, global_predictions_for(data), result.models, n_resamples=50)
    evaluation.validate_metric_rows(rows, notebook="05_mitigation")
    counts = rows.groupby(["experiment", "split", "group_var", "group", "metric"])["seed"].apply(sorted)
    assert all(seeds == [0, 1, 2] for seeds in counts)
    assert set(rows["metric"]) == {"auroc", "delta_auroc", "delta_auroc_rel", "mde_delta_auroc"}
    assert set(rows["group_var"]) == {"overall", "hospital"} and set(rows["split"]) == set(strategies.TEST_SPLITS)
    summary = m.seed_summary(rows)
    one = rows[(rows["split"] == "temporal_test") & (rows["group"] == "Hospital A") & (rows["metric"] == "delta_auroc")]
    got = summary[(summary["split"] == "temporal_test") & (summary["group"] == "Hospital A")
                  & (summary["metric"] == "delta_auroc")].iloc[0]
    assert got["mean"] == pytest.approx(one["value"].mean())
    assert got["sd"] == pytest.approx(np.std(one["value"], ddof=1))
    assert got["n_seeds"] == 3
    with pytest.raises(ValueError, match="seeds"):
        run(m.local_units(data), tmp_path, data, seeds=(0, 0))


# ------------------------------------------------------------------------------------------------------------
# Sentences, learning curve
# ------------------------------------------------------------------------------------------------------------


def summary_with(changes: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"experiment": "local", "split": "temporal_test", "group_var": "hospital", "group": h,
                          "metric": "delta_auroc_rel", "mean": v, "ci_low": v - 1, "ci_high": v + 1, "n_seeds": 1}
                         for h, v in changes.items()])


def test_study_sentence_and_scarcity_verdict_follow_the_data():
    sizes = pd.Series({"H1": 7000, "H2": 5000, "H3": 3000, "H4": 1300})
    scarce = summary_with({"H1": 0.5, "H2": 1.0, "H3": 2.0, "H4": 9.0})
    sentence = m.change_range_sentence(scarce, "local", "temporal_test")
    assert "+0.50 % to +9.00 %" in sentence and "excludes zero upwards at 2" in sentence
    table = m.scarcity_table(scarce, sizes, pd.Series(dtype=float))
    assert list(table.index) == ["H4", "H3", "H2", "H1"]
    verdict = m.scarcity_sentence(table)
    assert "H4" in verdict and "is largest where data are scarcest" in verdict and "-1.00" in verdict
    flipped = m.scarcity_sentence(m.scarcity_table(summary_with({"H1": 9.0, "H2": 1.0, "H3": 2.0, "H4": 0.5}),
                                                   sizes, pd.Series(dtype=float)))
    assert "H1" in flipped and "not largest" in flipped and "4th fewest" in flipped


def test_learning_curve_slope_is_auroc_per_doubling_and_absent_rows_give_nothing():
    rows = pd.DataFrame([{"experiment": "learning_curve", "metric": "auroc", "split": "temporal_test",
                          "group_var": "train_size:H1", "group": f"n={n}", "value": 0.6 + 0.02 * np.log2(n / 100)}
                         for n in (100, 200, 400, 800)])
    slopes = m.learning_curve_slopes(rows)
    assert slopes["H1"] == pytest.approx(0.02)
    assert m.learning_curve_slopes(rows.iloc[0:0]).empty


def test_global_model_is_found_beside_its_summary_when_the_run_was_copied(tmp_path):
    from helpers.artifacts import RunPaths, write_json

    folder = tmp_path / "runs" / "copy" / "artifacts" / "02_clinicllm" / "clinicllm"
    (folder / "finetune-abc").mkdir(parents=True)
    (folder / "tokenizer-xyz").mkdir()
    write_json({"model_dir": "runs/original/artifacts/02_clinicllm/clinicllm/finetune-abc",
                "tokenizer_dir": "runs/original/artifacts/02_clinicllm/clinicllm/tokenizer-xyz",
                "stage_keys": {"finetune": "abc"}, "config": {"preset": "tiny"}}, folder / "summary.json")
    model = m.GlobalModel.from_run(RunPaths(tmp_path / "runs" / "copy"))
    assert model.model_dir == folder / "finetune-abc" and model.key == "abc"
    base = m.strategy_base_config(model, {"bf16": False})
    assert base.bf16 is False and base.attention_kernel == "sdpa"
    with pytest.raises(ValueError, match="unknown ClinicLLMConfig"):
        m.strategy_base_config(model, {"bfloat": False})


def test_cluster_makeup_pools_the_smaller_of_many_sites_without_warnings():
    import warnings

    from helpers.mitigation.clustering import OTHER_SITES, Clustering

    # 12 sites: site k has k + 1 training admissions, all in cluster 1 except site 11's in cluster 2
    hospitals = [f"S{k:02d}" for k in range(12) for _ in range(k + 1)]
    data = pd.DataFrame({"hospital": hospitals, "split": "train", "readmitted_30d": 0})
    assignment = pd.Series(["cluster 2" if h == "S11" else "cluster 1" for h in hospitals], index=data.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        makeup = m.cluster_makeup(data, Clustering(assignment, np.nan, np.nan, 2), max_hospitals=4)
    # the three largest keep their columns, the other nine (1 + 2 + ... + 9 = 45 admissions) are pooled
    assert [c for c in makeup.columns if c.endswith("(n)")] == ["S11 (n)", "S10 (n)", "S09 (n)", f"{OTHER_SITES} (n)"]
    assert makeup.loc["cluster 1", f"{OTHER_SITES} (n)"] == 45 and makeup.loc["cluster 2", "S11 (n)"] == 12
    assert makeup.loc["cluster 1", "training admissions"] == 45 + 11 + 10
    assert makeup.loc["cluster 1", "S10 (%)"] == round(100 * 11 / 66, 1)


def test_scarcity_sentence_with_equal_changes_has_no_correlation_and_ordinals_read_right():
    import warnings

    sizes = pd.Series({f"H{k}": 100 * (k + 1) for k in range(22)})
    table = m.scarcity_table(summary_with({h: 0.0 for h in sizes.index}), sizes, pd.Series(dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a correlation of constant values would divide by zero
        text = m.scarcity_sentence(table)
    assert "all equal, so they have no rank correlation" in text and "nan" not in text
    assert [m.comparison._ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "111th"]


def test_sites_chapter_3_pools_are_one_unit_in_chapter_5_and_nothing_changes_without_pooling():
    from helpers.cohort import POOLED_SITES

    data = pd.DataFrame({"hospital": ["A"] * 5 + ["B"] * 3 + ["C"] * 2, "split": "train"})
    chapter3 = pd.DataFrame({"notebook": "03_disparities", "group_var": "hospital", "group": ["A", POOLED_SITES],
                             "metric": "auroc"})
    pooled = m.chapter3_pooled_sites(data, chapter3)
    assert pooled == ["B", "C"]
    assert m.pool_sites(data, pooled)["hospital"].tolist() == ["A"] * 5 + [POOLED_SITES] * 5
    assert m.chapter3_pooled_sites(data, chapter3.assign(group=["A", "B"])) == []  # every site has its row
    assert m.pool_sites(data, []) is data
    assert m.chapter3_pooled_sites(data, pd.DataFrame()) == []


def test_seed_noise_sentence_compares_spreads_and_says_so_when_nothing_moved():
    def summary(sd, low, high):
        return pd.DataFrame({"metric": "delta_auroc", "group_var": "hospital", "group": ["H1", "H2", "H3"],
                             "sd": sd, "ci_low": low, "ci_high": high})

    text = m.seed_noise_sentence(summary(0.01, -0.02, 0.02), [0, 1, 2])
    assert "median standard deviation of 0.010" in text and "width of 0.040" in text and "(ratio 0.25)" in text
    assert "a real part of" in text
    still = m.seed_noise_sentence(summary(0.0, 0.0, 0.0), [0, 1, 2])
    assert "nan" not in still and "neither training nor sampling noise" in still
