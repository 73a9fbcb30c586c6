"""Chapter 4's learning curve: nested subsamples of the training split, chapter 2's stages, the metrics rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import evaluation
from helpers import learning_curve as curve


def study_data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "validation", "random_test", "temporal_test"], n, p=[0.6, 0.1, 0.15, 0.15])
    return pd.DataFrame({
        "admission_id": [f"A{i:04d}" for i in range(n)],
        "patient_id": [f"P{i // 2:04d}" for i in range(n)],
        "hospital": rng.choice(["H1", "H2"], n, p=[0.7, 0.3]),
        "split": split,
        "note_text": [f"note {i}" for i in range(n)],
        "readmitted_30d": (rng.random(n) < 0.3).astype(int),
    })


def test_train_sizes_accepts_fractions_and_counts_and_drops_the_full_size():
    assert curve.train_sizes([0.1, 0.25, 500, 1000, 2000], n_train=1000) == [100, 250, 500]
    assert curve.train_sizes([0.05, 0.05, 50], n_train=1000) == [50]
    assert curve.train_sizes([0.01, 0.1, 0.5], n_train=1000, minimum=320) == [320, 500]
    assert curve.train_sizes([0.5], n_train=300, minimum=320) == []
    for bad in (0, -0.1, "0.1", True):
        with pytest.raises(ValueError, match="learning_curve_sizes"):
            curve.train_sizes([bad], n_train=1000)


def test_subsamples_are_nested_and_come_from_the_training_split_only():
    data = study_data()
    train = data[data["split"] == "train"]
    subsamples = curve.nested_subsamples(train, [20, 50, 120], seed=3)
    ids = {size: set(frame["admission_id"]) for size, frame in subsamples.items()}
    assert [len(ids[s]) for s in (20, 50, 120)] == [20, 50, 120]
    assert ids[20] < ids[50] < ids[120] <= set(train["admission_id"])
    # deterministic given the seed, different for another seed
    again = curve.nested_subsamples(train, [20], seed=3)[20]
    assert again["admission_id"].tolist() == subsamples[20]["admission_id"].tolist()
    assert set(curve.nested_subsamples(train, [20], seed=4)[20]["admission_id"]) != ids[20]
    with pytest.raises(ValueError, match="training rows only"):
        curve.nested_subsamples(data, [20])
    with pytest.raises(ValueError, match="exceeds"):
        curve.nested_subsamples(train, [10_000])


def test_run_learning_curve_fine_tunes_each_subsample_through_chapter_2s_stages(monkeypatch, tmp_path):
    data = study_data()
    calls = []

    def fake_finetune(start_dir, start_key, tokenizer, train, selection, config, root, *, name="finetune"):
        calls.append({"start_dir": Path(start_dir), "start_key": start_key, "train": train, "selection": selection,
                      "config": config, "root": Path(root)})
        return Path(root) / f"m{len(train)}", pd.DataFrame({"step": [1, len(train)]}), f"key{len(train)}", False

    def fake_predict(model_dir, model_key, tokenizer, frame, config, root, *, name="predictions", model_name="x"):
        # a model that ranks better the more admissions it saw: score = label * size/1000 + noise
        size = int(model_key.removeprefix("key"))
        rng = np.random.default_rng(size)
        table = frame[["admission_id", "patient_id", "hospital", "split"]].copy()
        table["model"] = model_name
        table["y_true"] = frame["readmitted_30d"].to_numpy()
        table["y_score"] = table["y_true"] * size / 200 + rng.random(len(frame))
        return table, model_key + "p", False, Path(root) / "p.parquet"

    monkeypatch.setattr(curve.clinicllm, "finetune_stage", fake_finetune)
    monkeypatch.setattr(curve.clinicllm, "prediction_stage", fake_predict)
    monkeypatch.setattr(curve, "run_tokenizer", lambda summary, directory: "tokenizer")
    (tmp_path / "clinicllm" / "mlm-abc").mkdir(parents=True)
    summary = {"config": {"preset": "tiny", "finetune_epochs": 2.0, "finetune_batch_size": 2, "seed": 0},
               "tokenizer_dir": "elsewhere/tokenizer-x", "pretrained_dir": "elsewhere/mlm-abc",
               "stage_keys": {"pretrain": "abc"}}
    tests = data[data["split"].isin(["random_test", "temporal_test"])]
    global_predictions = tests[["admission_id", "patient_id", "hospital", "split"]].assign(
        model="clinicllm", y_true=tests["readmitted_30d"].to_numpy(), y_score=tests["readmitted_30d"].to_numpy())
    result = curve.run_learning_curve(data, summary, global_predictions, tmp_path / "clinicllm", tmp_path / "lc",
                                      sizes=[0.1, 0.5], seed=0, max_steps=7, max_eval_samples=10)
    n_train = int((data["split"] == "train").sum())
    assert [len(c["train"]) for c in calls] == [round(0.1 * n_train), round(0.5 * n_train)]
    for call in calls:
        assert call["start_dir"] == tmp_path / "clinicllm" / "mlm-abc"  # found in this run's folder
        assert call["start_key"] == "abc"
        assert (call["train"]["split"] == "train").all()
        assert len(call["selection"]) == 10 and (call["selection"]["split"] == "validation").all()
        assert call["config"].finetune_max_steps == 7 and call["config"].finetune_epochs == 2.0
        assert call["root"] == tmp_path / "lc"
    assert set(calls[0]["train"]["admission_id"]) < set(calls[1]["train"]["admission_id"])
    assert sorted(result.predictions["train_size"].unique()) == [round(0.1 * n_train), round(0.5 * n_train),
                                                                 n_train]
    assert set(result.predictions["split"]) == {"random_test", "temporal_test"}

    rows = curve.learning_curve_rows(result.predictions, notebook="04_feature_analysis", n_resamples=20)
    evaluation.validate_metric_rows(rows, notebook="04_feature_analysis")
    assert set(rows["experiment"]) == {"learning_curve"} and set(rows["model"]) == {"clinicllm"}
    assert set(rows["metric"]) == {"auroc"}
    assert set(rows["group_var"]) == {"train_size", "train_size:H1", "train_size:H2"}
    assert set(rows["group"]) == {f"n={s}" for s in result.predictions["train_size"].unique()}
    # the overall row is the AUROC of that size's predictions on that split
    size = round(0.5 * n_train)
    part = result.predictions[(result.predictions["train_size"] == size)
                              & (result.predictions["split"] == "temporal_test")]
    row = evaluation.lookup(rows, group_var="train_size", group=f"n={size}", split="temporal_test")
    assert row["value"] == pytest.approx(evaluation.auroc(part["y_true"], part["y_score"]))
    assert row["n"] == len(part)
    table = curve.curve_table(rows)
    assert set(table["hospital"]) == {"all", "H1", "H2"}


def test_learning_curve_config_overrides_only_what_it_names():
    config = curve.learning_curve_config({"preset": "tiny", "finetune_epochs": 2.0, "bf16": True},
                                         max_steps=50, max_eval_samples=100, options={"bf16": False})
    assert (config.finetune_max_steps, config.max_eval_samples, config.bf16, config.finetune_epochs) == \
        (50, 100, False, 2.0)
    with pytest.raises(ValueError, match="unknown ClinicLLMConfig field"):
        curve.learning_curve_config({"preset": "tiny"}, max_steps=None, max_eval_samples=None,
                                    options={"no_such_field": 1})


def test_resolve_checkpoint_names_the_chapter_to_rerun(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_clinicllm"):
        curve.resolve_checkpoint("runs/gone/mlm-x", tmp_path)


def test_learning_curve_config_sets_how_often_validation_is_scored():
    config = curve.learning_curve_config({"preset": "tiny", "evals_per_epoch": 2, "finetune_min_steps": 600},
                                         max_steps=None, max_eval_samples=None, evals_per_epoch=1, min_steps=150)
    assert config.evals_per_epoch == 1 and config.finetune_max_steps is None
    assert config.finetune_min_steps == 150


def test_share_of_the_note_read_against_the_tokenizers_own_count(tmp_path):
    from helpers import features

    notes = ["patient admitted with heart failure " * 20, "short note", "discharged home " * 60]
    tokenizer = curve.clinicllm.train_tokenizer(notes * 10, 200, tmp_path / "tok")
    lengths = [len(tokenizer(note)["input_ids"]) for note in notes]
    share = features.note_share_read(tokenizer, notes, 16)
    assert share == pytest.approx([min(n, 16) / n for n in lengths])
    assert share[1] == 1.0 and share[0] < 1.0
    assert features.note_share_read(tokenizer, notes, 16, note_reading="windows").tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="note_reading"):
        features.note_share_read(tokenizer, notes, 16, note_reading="tail")


def test_curve_texts_quote_the_smallest_and_the_largest_size_on_the_temporal_test():
    rows = [(2000, "all", "temporal_test", 0.70, 0.66, 0.74), (200, "all", "temporal_test", 0.61, 0.55, 0.67),
            (800, "all", "temporal_test", 0.655, 0.6, 0.71), (200, "H1", "temporal_test", 0.5, 0.4, 0.6),
            (200, "all", "random_test", 0.9, 0.85, 0.95), (5000, "H1", "temporal_test", 0.8, 0.7, 0.9)]
    table = pd.DataFrame(rows, columns=["train_size", "hospital", "split", "auroc", "ci_low", "ci_high"])
    assert curve.curve_texts(table) == {"lc_sizes": "200, 800, 2,000",
                                        "lc_first": "200 admissions: 0.610\u00a0[0.550,\u00a00.670]",
                                        "lc_last": "2,000 admissions: 0.700\u00a0[0.660,\u00a00.740]"}


@pytest.mark.parametrize("bf16, shown", [(True, "on"), (False, "off")])
def test_cost_texts_add_up_the_stages_and_say_whether_bfloat16_was_on(bf16, shown):
    stages = pd.DataFrame({"train_size": [100, 400, 2000], "fine-tune (s)": [12.4, 30.2, 0.0],
                           "predictions (s)": [3.1, 4.4, 0.0]})
    config = curve.learning_curve_config({"preset": "tiny", "bf16": bf16}, max_steps=None, max_eval_samples=None)
    learning = curve.LearningCurve(pd.DataFrame(), stages, config)
    assert curve.cost_texts(learning) == {"lc_seconds": "50", "lc_bf16": shown}  # 12.4 + 30.2 + 3.1 + 4.4 = 50.1
