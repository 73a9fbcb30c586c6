"""Chapter 5's top-layer variant against known answers: the cached lower-layer outputs give the encoder's exact note
features and scores, training changes only the top layer and the head, the best epoch is kept, and the parameters
that choose the variant are checked before a run starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import mitigation as m
from helpers.clinicllm import predict_scores, train_tokenizer
from helpers.clinicllm.models import load_classifier
from classifier_checkpoints import random_mean_classifier
from helpers.mitigation import top_layer, training
from helpers.parameter_checks import LIST_CHOICES, PARAMETER_CHOICES, check_choices
from helpers.project import NotebookSpec, ParameterError
from test_clinicllm_windows import long_notes, toy_config


@pytest.fixture(scope="module")
def notes():
    return long_notes(160)


@pytest.fixture(scope="module")
def tokenizer(notes, tmp_path_factory):
    return train_tokenizer(notes["note_text"].tolist(), 200, tmp_path_factory.mktemp("tok") / "tokenizer")


def config():
    # two layers, as the tiny preset: the cache holds the lower one's output, the top one is trained
    return toy_config(num_layers=2, classifier_input="mean", window_pooling="features", train_windows_per_note=2,
                      finetune_frozen_layers=1, finetune_position_share=0.5, finetune_dropout=0.0,
                      eval_batch_size=8).resolved()


@pytest.fixture(scope="module")
def model_dir(tokenizer, tmp_path_factory):
    """A random two-layer mean-pooled classifier saved as a checkpoint (weights far from zero so notes differ)."""
    return random_mean_classifier(config(), tokenizer, tmp_path_factory.mktemp("model") / "mean")


def held_out(notes):
    """Validation and test notes only: every window is read, as predictions read them."""
    return notes[notes["split"] != "train"].reset_index(drop=True)


def test_top_layer_on_cached_lower_outputs_gives_the_full_models_features_and_scores(model_dir, tokenizer, notes):
    frame = held_out(notes)
    model = load_classifier(model_dir, "sdpa", "mean")
    cache = top_layer.encode_lower_layers(model, tokenizer, frame, config(), np.ones(len(frame), bool),
                                          dtype=np.float32)
    start = top_layer.start_model(model_dir, config())
    rows = cache.rows_of(frame["admission_id"])
    # the head's input, from the full model on whole notes, one note at a time
    from helpers.clinicllm.prediction import reading_inputs

    inputs, owner = reading_inputs(tokenizer, frame, config())
    expected = []
    with torch.inference_mode():
        for note in range(len(frame)):
            sums, counts = 0, 0
            for window in np.flatnonzero(owner == note):
                s, c = model.token_sums(input_ids=torch.as_tensor(np.asarray(inputs[window])[None, :]))
                sums, counts = sums + s[0], counts + c[0]
            expected.append((sums / counts).numpy())
    np.testing.assert_allclose(top_layer.note_means(start, cache, rows), np.stack(expected), atol=1e-5)
    # and the probabilities are chapter 2's predictions of the same checkpoint
    np.testing.assert_allclose(top_layer.scores(start, cache, rows),
                               predict_scores(model_dir, tokenizer, frame, config()), atol=1e-5)
    # half precision (the chapter's cache) halves the bytes and stays close
    half = top_layer.encode_lower_layers(model, tokenizer, frame, config(), np.ones(len(frame), bool))
    assert half.tokens.dtype == np.float16 and half.nbytes < cache.nbytes
    np.testing.assert_allclose(top_layer.scores(start, half, rows), top_layer.scores(start, cache, rows), atol=2e-3)


def test_the_cache_holds_only_the_windows_the_models_read(model_dir, tokenizer, notes):
    model = load_classifier(model_dir, "sdpa", "mean")
    needed = notes["hospital"].eq("H1").to_numpy()
    cache = top_layer.encode_lower_layers(model, tokenizer, notes, config(), needed)
    assert sorted(cache.admission_ids) == sorted(notes.loc[needed, "admission_id"])
    from helpers.clinicllm.prediction import reading_inputs

    inputs, owner = reading_inputs(tokenizer, notes, config())
    keep = training.training_windows(owner, notes["split"].eq("train").to_numpy(), 2, 0) & needed[owner]
    assert cache.n_windows == keep.sum()                                     # the head-only features' windows
    windows = np.bincount(cache.window_note, minlength=len(cache.admission_ids))
    train = notes.set_index("admission_id").loc[cache.admission_ids, "split"].eq("train").to_numpy()
    assert windows[train].max() <= 2 and (windows >= 1).all()
    assert len(cache.tokens) == sum(len(inputs[w]) for w in np.flatnonzero(keep))   # real tokens only, no padding
    with pytest.raises(ValueError, match="no cached lower-layer outputs"):
        cache.rows_of(notes.loc[~needed, "admission_id"].head(1))


def test_training_the_top_layer_changes_only_the_top_layer_and_the_head(model_dir, tokenizer, notes, tmp_path):
    import hashlib

    full = config()
    checkpoint = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    cache, reused, _ = top_layer.lower_layer_cache(model_dir, "k", tokenizer, notes, notes["admission_id"], full,
                                                   tmp_path, name="lower")
    tokens = np.array(cache.tokens)
    start = top_layer.start_model(model_dir, full)
    # what is trained holds the top layer and the head, nothing else (no embeddings, no lower layer)
    assert {name.split(".")[0] for name, _ in start.named_parameters()} == {"layer", "head"}
    before = {k: v.clone() for k, v in start.state_dict().items()}
    train, val = notes[notes["split"] == "train"], notes[notes["split"] == "validation"]
    rule = m.StoppingRule(max_epochs=3, patience=3, learning_rate=1e-2, batch_size=16)
    result = top_layer.train_top_layer(start, cache, train["admission_id"], train["readmitted_30d"],
                                       val["admission_id"], val["readmitted_30d"].to_numpy(), rule, 0, 1e-2)
    assert all(torch.equal(before[k], v) for k, v in start.state_dict().items())     # the start is not touched
    after = result.model.state_dict()
    assert result.run.best_epoch > 0
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("layer."))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("head."))
    # the lower layer and the embeddings are read from the cache and the checkpoint: both bit-identical afterwards
    assert np.array_equal(np.asarray(cache.tokens), tokens)
    assert hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest() == checkpoint
    again, reused_again, _ = top_layer.lower_layer_cache(model_dir, "k", tokenizer, notes, notes["admission_id"],
                                                         full, tmp_path, name="lower")
    assert not reused and reused_again and np.array_equal(np.asarray(again.tokens), tokens)


def test_early_stopping_returns_the_weights_of_the_best_epoch(model_dir, tokenizer, notes, monkeypatch):
    model = load_classifier(model_dir, "sdpa", "mean")
    cache = top_layer.encode_lower_layers(model, tokenizer, notes, config(), np.ones(len(notes), bool))
    start = top_layer.start_model(model_dir, config())
    train, val = notes[notes["split"] == "train"], notes[notes["split"] == "validation"]
    args = (cache, train["admission_id"], train["readmitted_30d"], val["admission_id"],
            val["readmitted_30d"].to_numpy())
    # a scripted validation curve: epoch 2 is the best, then patience (2) runs out at epoch 4
    curve = iter([0.5, 0.6, 0.8, 0.7, 0.75])
    monkeypatch.setattr(training, "validation_auroc", lambda y, s: next(curve))
    result = top_layer.train_top_layer(start, *args, m.StoppingRule(max_epochs=10, patience=2, batch_size=16), 0,
                                       1e-2)
    stopped = (result.run.best_epoch, result.run.epochs_run, result.run.stop_reason)
    assert stopped == (2, 4, training.STOPPED_BY_PATIENCE)
    # the same seed trained for exactly 2 epochs (each one better) ends with the weights that must have been kept
    rising = iter([0.5, 0.6, 0.8])
    monkeypatch.setattr(training, "validation_auroc", lambda y, s: next(rising))
    two = top_layer.train_top_layer(start, *args, m.StoppingRule(max_epochs=2, patience=2, batch_size=16), 0, 1e-2)
    kept = result.model.state_dict()
    assert any(not torch.equal(v, start.state_dict()[k]) for k, v in kept.items())     # training moved it
    for k, v in two.model.state_dict().items():
        assert torch.equal(v, kept[k]), k


def test_strategy_training_and_comparison_are_checked_before_a_run_naming_every_value():
    spec = NotebookSpec(path=Path("notebooks/05_mitigation.ipynb"), defaults={
        "strategy_training": "head", "training_comparison": ["local"], "local_start": "global"})
    where = lambda notebook, key: "params/x.yaml"  # noqa: E731
    check_choices(spec, {"strategy_training": "top_layer", "training_comparison": []}, where)
    with pytest.raises(ParameterError) as error:
        check_choices(spec, {"strategy_training": "encoder"}, where)
    assert all(word in str(error.value) for word in ("strategy_training", "'encoder'", "'head'", "'top_layer'"))
    with pytest.raises(ParameterError, match="training_comparison.*'local'.*'random_augmented'"):
        check_choices(spec, {"training_comparison": ["local", "clusters"]}, where)
    with pytest.raises(ParameterError, match="local_start"):
        check_choices(spec, {"local_start": "scratch"}, where)
    with pytest.raises(ValueError, match="strategy_training.*head.*top_layer"):
        m.check_variant("all")
    # the plan-time words are the chapter's own
    assert PARAMETER_CHOICES["strategy_training"] == m.VARIANTS
    assert PARAMETER_CHOICES["local_start"] == m.STARTS
    assert LIST_CHOICES["training_comparison"] == m.EXPERIMENTS


def test_the_comparison_reports_the_paired_difference_between_the_two_ways_of_training(tmp_path):
    from test_mitigation import global_predictions_for, run, study_frame

    data = study_frame()
    units = m.local_units(data) + [m.continued_unit(data)]
    main = run(units, tmp_path, data)
    compared = m.compared_units(units, ["local"])
    assert {u.strategy for u in compared} == {"local"}
    other = run(compared, tmp_path, data)
    other.predictions["experiment"] += "_top_layer"
    other.models["strategy"] += "_top_layer"
    shift = other.predictions["y_score"] + np.where(other.predictions["y_true"] == 1, 0.3, 0.0)
    other.predictions["y_score"] = shift                                   # the other way ranks better
    rows = m.variant_rows(other.predictions, main.predictions, global_predictions_for(data), other.models, "head",
                          n_resamples=50)
    from sklearn.metrics import roc_auc_score

    pick = rows[(rows["experiment"] == "local_top_layer") & (rows["group"] == "Hospital A")
                & (rows["split"] == "temporal_test")].set_index("metric")
    a = main.predictions[(main.predictions["experiment"] == "local") & (main.predictions["hospital"] == "Hospital A")
                         & (main.predictions["split"] == "temporal_test")].sort_values("admission_id")
    b = other.predictions[(other.predictions["hospital"] == "Hospital A")
        & (other.predictions["split"] == "temporal_test")].sort_values("admission_id")
    expected = roc_auc_score(b["y_true"], b["y_score"]) - roc_auc_score(a["y_true"], a["y_score"])
    assert pick.loc["delta_auroc_vs_head", "value"] == pytest.approx(expected) and expected > 0
    assert {"auroc", "delta_auroc", "mde_delta_auroc", "mde_delta_auroc_vs_head"} <= set(pick.index)
    with pytest.raises(ValueError, match="training_comparison"):
        m.compared_units(units, ["locals"])
    from helpers.mitigation import tables

    numbers = tables.variant_numbers(main.models, other.models, m.change_rows(
        main.predictions, global_predictions_for(data), main.models, n_resamples=20), rows, "head")
    shown = tables.variant_table(numbers, "head")
    assert shown.loc[("local", "Hospital A"), "top - head [95 % CI]"].startswith("+")
    # the MDE shown is the metrics row's, 2.8 paired-bootstrap standard errors
    assert shown.loc[("local", "Hospital A"), "MDE"] == f"{pick.loc['mde_delta_auroc_vs_head', 'value']:.3f}"
    assert "across the" in m.variant_sentence(numbers, "head")


def test_the_comparison_section_says_what_ran_and_what_it_cost():
    nothing = m.comparison_texts(None, [], "head", None)
    assert nothing["compared_experiments"] == "no experiment (training_comparison is empty)"
    assert nothing["variant_sentence"] == "nothing was compared"
    assert nothing["cache_text"] == "the top-layer variant did not run"
    report = m.LowerLayerReport(seconds=14.6, reused=False, megabytes=1009.4, admissions=23162, windows=68246)
    assert m.comparison_texts(None, [], "head", report)["cache_text"] == (
        "68,246 windows of 23,162 admissions, 1,009 MB in half precision (computed in 15 s)")
