"""Chapter 2's compute curve and seed table, on hand-made caches and rows with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import clinicllm


def _stage(root, name, *, seconds, start=None, train="t1", validation="v1", evals=(), steps=100, epochs=1.0):
    folder = root / name
    folder.mkdir(parents=True)
    rows = [{"step": steps, "epoch": epochs, "kind": "train", "train_loss": 0.3}]
    rows += [{"step": s, "epoch": epochs * s / steps, "kind": "eval", "eval_auroc": a, "best": False}
             for s, a in evals]
    history = pd.DataFrame(rows)
    if evals:
        best = max(range(len(evals)), key=lambda i: evals[i][1])
        history.loc[history.index[1 + best], "best"] = True
    history.to_csv(folder / "history.csv", index=False)
    (folder / "clinicllm_config.json").write_text(json.dumps({"window_pooling": "features"}))
    timing = {"seconds": seconds}
    if start is not None:
        timing.update(start=start, train=train, validation=validation)
    (root / f"{name}.timing.json").write_text(json.dumps(timing))
    return folder


def test_points_add_pretraining_to_fine_tuning_time_and_keep_only_the_same_admissions(tmp_path):
    pretraining = _stage(tmp_path, "mlm-p1", seconds=60.0, steps=400)
    own = _stage(tmp_path, "finetune-own", seconds=120.0, start="p1", evals=[(50, 0.60), (100, 0.70)])
    _stage(tmp_path, "finetune-other", seconds=240.0, start="p1", evals=[(100, 0.65), (200, 0.72)], steps=200,
           epochs=2.0)
    _stage(tmp_path, "finetune-elsewhere", seconds=30.0, start="p1", train="t2", evals=[(10, 0.9)])
    _stage(tmp_path, "finetune-scratch", seconds=90.0, start="not-a-stage-here", evals=[(100, 0.66)])
    points = clinicllm.compute_points(tmp_path, own)
    mine = points[points["this_run"]]
    # the chapter's model at each evaluation: 60 s of pretraining plus its share of 120 s of fine-tuning
    assert mine["minutes"].tolist() == pytest.approx([(60 + 60) / 60, (60 + 120) / 60])
    assert mine["validation_auroc"].tolist() == [0.60, 0.70] and mine["kept"].tolist() == [False, True]
    assert (mine["pretrain_steps"] == 400).all()
    others = points[~points["this_run"]].set_index("model")
    assert set(others.index) == {"finetune-other", "finetune-scratch"}     # other admissions left out
    assert others.loc["finetune-other", "validation_auroc"] == 0.72         # its best evaluation
    assert others.loc["finetune-other", "minutes"] == pytest.approx((60 + 240) / 60)
    assert others.loc["finetune-scratch", "pretrain_steps"] == 0            # started from no pretraining here
    assert others.loc["finetune-scratch", "minutes"] == pytest.approx(90 / 60)
    texts = clinicllm.compute_texts(points, 0.75)
    assert texts["compute_points"] == "2 other settings trained on the same admissions"
    assert texts["compute_best"].startswith("0.720 after 5.0 minutes (400 pretraining steps, 2.0 fine-tuning epochs)")
    assert texts["compute_best"].endswith("0.030 below the baseline's 0.750")
    fig = clinicllm.compute_curve_figure(points, 0.75)
    assert fig.axes[0].get_ylabel() == "validation AUROC"


def test_a_model_without_its_timing_gives_no_points(tmp_path):
    folder = tmp_path / "finetune-old"
    folder.mkdir()
    assert clinicllm.compute_points(tmp_path, folder).empty
    assert clinicllm.compute_texts(clinicllm.compute_points(tmp_path, folder), None)["compute_points"].startswith(
        "no timed")


def test_seed_table_gives_each_seed_and_their_mean_and_sd():
    rows = pd.DataFrame([{"split": split, "seed": seed, "value": value}
                         for split, values in (("validation", (0.70, 0.72, 0.71)), ("temporal_test", (0.69, 0.70, 0.74)))
                         for seed, value in zip((0, 1, 2), values)])
    table = clinicllm.seed_table(rows)
    assert list(table.index) == ["validation", "temporal_test"]
    assert table.loc["temporal_test", "mean"] == pytest.approx(0.71)
    assert table.loc["temporal_test", "SD"] == pytest.approx(np.std([0.69, 0.70, 0.74], ddof=1))
    assert clinicllm.seed_texts(table)["seeds_temporal"] == (
        f"0.710 on average over 3 seeds (SD {np.std([0.69, 0.70, 0.74], ddof=1):.3f}; from 0.690 to 0.740)")
    one = clinicllm.seed_table(rows[rows["seed"] == 0])
    assert np.isnan(one.loc["validation", "SD"])
    assert clinicllm.seed_display(one).loc["validation", "SD"] == "-"
    assert "one seed only" in clinicllm.seed_texts(one)["seeds_temporal"]


def test_validation_auroc_reads_the_models_validation_rows():
    predictions = pd.DataFrame({"model": ["tfidf_lr"] * 4 + ["clinicllm"] * 2,
                                "split": ["validation"] * 4 + ["validation"] * 2,
                                "y_true": [0, 1, 0, 1, 0, 1], "y_score": [0.1, 0.9, 0.8, 0.3, 0.2, 0.1]})
    # positives 0.9 and 0.3 against negatives 0.1 and 0.8: 3 of the 4 pairs ranked right
    assert clinicllm.validation_auroc(predictions, "tfidf_lr") == pytest.approx(0.75)
    assert clinicllm.validation_auroc(predictions, "oracle") is None
