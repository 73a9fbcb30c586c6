"""Chapter 5's training and controls: early stopping on known curves, what the controls train on, where models
start, and the minimum detectable change against a hand-computed bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from helpers import clinicllm, evaluation
from helpers import mitigation as m
from helpers.mitigation import strategies, training
from test_mitigation import fake_features, global_predictions_for, recorder, run, study_frame  # noqa: F401


def scripted(curve: list[float], rule: m.StoppingRule) -> tuple[training.StoppedRun, dict]:
    """Early stopping on a scripted validation curve; the 'state' is the epoch number, so the restored state says
    which epoch was kept."""
    state = {"epoch": 0, "restored": None, "epochs_run": 0}
    scores = iter(curve)

    def run_epoch(epoch):
        state["epoch"] = epoch
        state["epochs_run"] += 1

    result = training.train_with_early_stopping(run_epoch, lambda: next(scores), lambda: state["epoch"],
                                                lambda kept: state.update(restored=kept), rule)
    return result, state


def test_early_stopping_keeps_the_best_epoch_and_stops_when_patience_runs_out():
    # epoch:  0     1     2     3     4     5     6 (never reached)
    curve = [0.60, 0.62, 0.70, 0.69, 0.70, 0.65, 0.99]
    result, state = scripted(curve, m.StoppingRule(max_epochs=10, patience=3))
    assert result.best_epoch == 2 and state["restored"] == 2      # a tie (epoch 4) does not replace epoch 2
    assert result.epochs_run == 5 and state["epochs_run"] == 5    # 3 epochs without a better AUROC after epoch 2
    assert result.stop_reason == training.STOPPED_BY_PATIENCE
    assert result.best_score == pytest.approx(0.70) and result.scores == curve[:6]


def test_early_stopping_stops_at_the_epoch_cap_and_can_keep_the_start():
    rising = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    result, state = scripted(rising, m.StoppingRule(max_epochs=4, patience=2))
    assert (result.best_epoch, result.epochs_run, state["restored"]) == (4, 4, 4)
    assert result.stop_reason == training.STOPPED_BY_CAP
    falling = [0.7, 0.6, float("nan"), 0.5]
    result, state = scripted(falling, m.StoppingRule(max_epochs=10, patience=3))
    assert result.best_epoch == 0 and state["restored"] == 0 and result.epochs_run == 3


def test_train_head_returns_the_head_of_its_best_validation_auroc():
    rng = np.random.default_rng(3)
    y_train, y_val = rng.integers(0, 2, 400), rng.integers(0, 2, 200)
    x_train = rng.normal(size=(400, 4)).astype(np.float32) + y_train[:, None] * 0.8
    x_val = rng.normal(size=(200, 4)).astype(np.float32) + y_val[:, None] * 0.8
    start = training.new_head(4, y_train.mean(), dropout=0.1)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    result = training.train_head(start, x_train, y_train, x_val, y_val, m.StoppingRule(max_epochs=6, patience=2), 0)
    assert result.run.scores[0] == pytest.approx(0.5)          # the base-rate head ranks nobody
    assert result.run.best_score == max(s for s in result.run.scores if np.isfinite(s))
    assert roc_auc_score(y_val, result.head.scores(x_val)) == pytest.approx(result.run.best_score)
    assert result.run.best_score > 0.7
    assert all(torch.equal(before[k], v) for k, v in start.state_dict().items())  # the start is not changed
    again = training.train_head(start, x_train, y_train, x_val, y_val, m.StoppingRule(max_epochs=6, patience=2), 0)
    assert again.run.scores == result.run.scores                # same seed, same curve


def test_stopping_rule_refuses_bad_values_naming_the_parameter():
    with pytest.raises(ValueError, match="strategy_max_epochs"):
        m.StoppingRule(max_epochs=0)
    with pytest.raises(ValueError, match="strategy_patience"):
        m.StoppingRule(max_epochs=3, patience=5)
    with pytest.raises(ValueError, match="strategy_learning_rate"):
        m.StoppingRule(learning_rate=-1.0)
    with pytest.raises(ValueError, match="seeds"):
        strategies.check_seeds([])


def test_the_continued_control_sees_the_pooled_training_admissions_only(tmp_path, recorder):
    data = study_frame()
    record = recorder(data)
    unit = m.continued_unit(data)
    result = run([unit], tmp_path, data, seeds=(0, 1))
    train = data[data["split"] == "train"]
    assert len(record.trained) == 2
    for seed, train_ids, selection_ids in record.trained:
        assert sorted(train_ids) == sorted(train["admission_id"])          # every hospital's, and only training
        assert sorted(selection_ids) == sorted(data.loc[data["split"] == "validation", "admission_id"])
    assert set(train["hospital"]) == set(data["hospital"])
    tests = data[data["split"].isin(strategies.TEST_SPLITS)]
    for _, part in result.predictions.groupby("seed"):
        assert sorted(part["admission_id"]) == sorted(tests["admission_id"])


def test_random_augmentation_adds_as_many_training_admissions_of_other_hospitals_as_the_augmented_model():
    data = study_frame()
    vectors = m.representation(data, "factors")
    augmented = m.augmented_units(data, vectors, 30)
    controls = m.random_augmented_units(data, augmented, seed=0)
    assert [u.unit for u in controls] == [u.unit for u in augmented]
    by_id = data.set_index("admission_id")
    for similar, random in zip(augmented, controls):
        added = random.train[random.train["hospital"] != random.unit]
        assert len(added) == (similar.train["hospital"] != similar.unit).sum() == 30
        assert len(random.train) == len(similar.train)
        assert set(by_id.loc[added["admission_id"], "split"]) == {"train"}   # never validation or test
        assert not random.train["admission_id"].duplicated().any()
        assert random.strategy == "random_augmented" and set(random.selection["hospital"]) == {random.unit}
    # the draw is seeded: the same seed the same admissions, another seed others
    again = m.random_augmented_units(data, augmented, seed=0)
    other = m.random_augmented_units(data, augmented, seed=1)
    assert list(again[0].train["admission_id"]) == list(controls[0].train["admission_id"])
    assert list(other[0].train["admission_id"]) != list(controls[0].train["admission_id"])


def test_every_strategy_is_compared_with_its_control_on_the_same_admissions(tmp_path):
    data = study_frame()
    vectors = m.representation(data, "factors")
    augmented = m.augmented_units(data, vectors, 20)
    units = m.local_units(data) + augmented + [m.continued_unit(data)] + m.random_augmented_units(data, augmented)
    result = run(units, tmp_path, data)
    rows = m.change_rows(result.predictions, global_predictions_for(data), result.models, n_resamples=40)
    evaluation.validate_metric_rows(rows, notebook="05_mitigation")
    for experiment in ("local", "instance_augmented", "global_continued", "random_augmented"):
        metrics = set(rows.loc[rows["experiment"] == experiment, "metric"])
        assert {"auroc", "delta_auroc", "delta_auroc_rel", "mde_delta_auroc"} <= metrics
        has_control = experiment in m.CONTROL_OF
        assert ("delta_auroc_vs_control" in metrics) == has_control
    # local against the control at Hospital A, temporal test: the paired change of the two models' scores
    predictions = result.predictions
    pick = lambda e: predictions[(predictions["experiment"] == e) & (predictions["hospital"] == "Hospital A")
                                 & (predictions["split"] == "temporal_test")].set_index("admission_id")
    local, control = pick("local"), pick("global_continued").loc[pick("local").index]
    expected = roc_auc_score(local["y_true"], local["y_score"]) - roc_auc_score(local["y_true"], control["y_score"])
    got = rows[(rows["experiment"] == "local") & (rows["group"] == "Hospital A") & (rows["split"] == "temporal_test")
               & (rows["metric"] == "delta_auroc_vs_control")]["value"].iloc[0]
    assert got == pytest.approx(expected)


def hand_paired_deltas(y, a, b, patients, n_resamples, seed):
    """The paired bootstrap's resamples drawn by hand: AUROC(b) - AUROC(a) per patient resample."""
    codes, uniques = pd.factorize(pd.Series(patients))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniques), size=(n_resamples, len(uniques)))
    deltas = []
    for draw in draws:
        weights = np.bincount(draw, minlength=len(uniques))[codes]
        kept = weights > 0
        if len(np.unique(y[kept])) < 2:
            continue
        deltas.append(roc_auc_score(y[kept], b[kept], sample_weight=weights[kept])
                      - roc_auc_score(y[kept], a[kept], sample_weight=weights[kept]))
    return np.asarray(deltas)


def test_minimum_detectable_change_is_2_8_paired_bootstrap_standard_errors():
    rng = np.random.default_rng(5)
    n = 300
    y = rng.integers(0, 2, n)
    patients = np.arange(n) // 2
    a = y * 0.6 + rng.uniform(0, 1, n)
    b = y * 0.9 + rng.uniform(0, 1, n)
    results = m.paired_change(y, a, b, patients, n_resamples=300, seed=11)
    deltas = hand_paired_deltas(y, a, b, patients, 300, 11)
    se = np.std(deltas, ddof=1)
    assert results["mde_delta_auroc"].value == pytest.approx((1.959964 + 0.841621) * se, rel=1e-6)
    assert results["mde_delta_auroc"].value == pytest.approx(2.8016 * se, rel=1e-4)
    # identical models: no spread, nothing smaller than zero to detect
    same = m.paired_change(y, a, a, patients, n_resamples=100, seed=0)
    assert same["mde_delta_auroc"].value == pytest.approx(0.0, abs=1e-12)
    # the cohort that detects an effect: the MDE scales with 1/sqrt(n)
    assert evaluation.size_to_detect(400, 0.01, 2 * evaluation.minimum_detectable(0.01)) == pytest.approx(100)


def test_local_start_pretrained_starts_from_the_mlm_checkpoint(tmp_path, monkeypatch):
    data = study_frame()
    model = strategies.GlobalModel(tmp_path / "finetune-abc", "abc", tmp_path / "tok",
                                   clinicllm.ClinicLLMConfig(bf16=False).resolved(), tmp_path / "mlm-xyz", "xyz")
    assert model.start("pretrained") == (tmp_path / "mlm-xyz", "xyz")
    assert model.start("global") == (tmp_path / "finetune-abc", "abc")
    with pytest.raises(ValueError, match="local_start"):
        model.start("scratch")
    asked = []

    def fake_note_features(model_dir, key, tokenizer, frame, config, root, *, name):
        asked.append((model_dir, key, name))
        return fake_features(frame), False, 0.0

    monkeypatch.setattr(training, "note_features", fake_note_features)
    inputs = m.MitigationInputs(None, data, True, model, global_predictions_for(data))
    features, start_for, _, _ = m.start_heads(inputs, "pretrained", None, model.config, tmp_path)
    assert asked == [(tmp_path / "mlm-xyz", "xyz", "features-pretrained")]
    unit = m.local_units(data)[0]
    head = start_for(unit)
    scores = head.scores(training.feature_matrix(features, unit.train["admission_id"]))
    np.testing.assert_allclose(scores, unit.train["readmitted_30d"].mean(), rtol=1e-5)  # the base rate, everyone
    no_mlm = strategies.GlobalModel(tmp_path / "finetune-abc", "abc", tmp_path / "tok", model.config)
    with pytest.raises(ValueError, match="pretrained"):
        no_mlm.start("pretrained")


def test_training_notes_are_read_through_a_few_windows_and_the_others_whole():
    owner = np.repeat(np.arange(6), [5, 1, 3, 4, 2, 6])
    training_notes = np.array([True, True, True, False, False, True])
    keep = training.training_windows(owner, training_notes, 2, seed=0)
    kept = np.bincount(owner[keep], minlength=6)
    assert list(kept) == [2, 1, 2, 4, 2, 2]               # training: at most 2; validation and test: every window
    assert (training.training_windows(owner, training_notes, 2, seed=0) == keep).all()
    draws = {tuple(np.flatnonzero(training.training_windows(owner, training_notes, 2, seed=s) & (owner == 5)))
             for s in range(20)}
    assert len(draws) > 1                                   # the draw is random across seeds, not the first windows
    assert training.training_windows(owner, training_notes, None, seed=0).all()


def test_intervals_read_from_one_scoring_of_the_resamples_equal_evaluations_own_bootstraps():
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    patients = np.arange(n) // 3
    a, b = y * 0.5 + rng.uniform(size=n), y * 0.8 + rng.uniform(size=n)
    got = m.paired_change(y, a, b, patients, n_resamples=300, seed=4)
    auroc = evaluation.bootstrap_metrics(y, b, patients, metrics=("auroc",), n_resamples=300, seed=4)["auroc"]
    delta = evaluation.paired_bootstrap_delta(y, a, b, patients, n_resamples=300, seed=4)
    assert (got["auroc"].value, got["auroc"].ci_low, got["auroc"].ci_high) == (auroc.value, auroc.ci_low,
                                                                               auroc.ci_high)
    assert (got["delta_auroc"].value, got["delta_auroc"].ci_low, got["delta_auroc"].ci_high) == pytest.approx(
        (delta.value, delta.ci_low, delta.ci_high))
    cached = evaluation.bootstrap_resample_values(y, a, patients, "auroc", 300, 4)
    again = m.paired_change(y, a, b, patients, n_resamples=300, seed=4, reference_values=cached)
    assert again["mde_delta_auroc"].value == got["mde_delta_auroc"].value


def test_a_model_that_keeps_the_global_head_changes_by_zero_whatever_the_order_of_its_rows(tmp_path):
    data = study_frame()
    reference = global_predictions_for(data)
    copies = []
    for experiment, order in (("cluster", 1), ("local", -1)):   # the same scores, rows in opposite orders
        rows = reference.iloc[::order].assign(experiment=experiment, seed=0, unit="x", train_size=1.0)
        copies.append(rows)
    models = pd.DataFrame(columns=["strategy", "unit", "seed", "status"])
    rows = m.change_rows(pd.concat(copies), reference, models, n_resamples=60)
    deltas = rows[rows["metric"].isin(["delta_auroc", "mde_delta_auroc"]) & rows["value"].notna()]
    assert len(deltas) and (deltas["value"].abs() < 1e-12).all()
    changes = deltas[deltas["metric"] == "delta_auroc"]
    assert (changes["ci_low"].abs() < 1e-12).all() and (changes["ci_high"].abs() < 1e-12).all()


def test_the_power_table_judges_the_study_gains_on_the_larger_of_the_paired_and_unpaired_mde():
    from helpers.mitigation import tables

    rows = pd.DataFrame([{"experiment": "local", "split": "temporal_test", "group_var": "hospital", "group": h,
                          "metric": "mde_delta_auroc", "value": v, "ci_low": np.nan, "ci_high": np.nan, "n": 400,
                          "n_pos": 40, "seed": 0, "note": ""} for h, v in (("H1", 0.0), ("H2", 0.5))])
    chapter3 = pd.DataFrame([{"split": "temporal_test", "group": h, "value": 0.7, "ci_low": 0.6, "ci_high": 0.8,
                              "n": 400, "seed": 0} for h in ("H1", "H2")])
    table = tables.power_table(rows, chapter3, real_data=False)
    unpaired = (1.959964 + 0.841621) * np.sqrt(2) * 0.2 / (2 * 1.959964)
    assert table.loc["H1", "MDE unpaired"] == f"{unpaired:.3f}" and table.loc["H1", "MDE paired"] == "0.000"
    large = 0.1174 * 0.7
    assert table.loc["H1", "+11.74 %: detected?"] == f"{large:.3f}: no"          # the unpaired MDE decides
    assert table.loc["H1", "n for +11.74 %"] == f"{400 * (unpaired / large) ** 2:,.0f}"
    assert table.loc["H2", "n for +11.74 %"] == f"{400 * (0.5 / large) ** 2:,.0f}"  # the paired one, larger
