"""Chapter 2's tables: the two gaps below the oracle, the head-against-windows table, the texts for both data paths.

Every gap is checked against AUROCs computed here with scikit-learn on the same rows (an independent implementation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import clinicllm


def synthetic_chapter(n: int = 1200, seed: int = 0):
    """Predictions of global and tfidf_lr plus an oracle with a note ceiling: the true risk is what the note says
    plus what it does not; the note ceiling sees the first part; the models see a noisy copy of it."""
    rng = np.random.default_rng(seed)
    written, unwritten = rng.normal(size=n), rng.normal(size=n)
    true_logit = -2 + written + 0.8 * unwritten
    true = 1 / (1 + np.exp(-true_logit))
    y = (rng.random(n) < true).astype(int)
    documented = 1 / (1 + np.exp(-(-2 + written)))
    split = np.where(np.arange(n) % 2 == 0, "random_test", "temporal_test")
    base = pd.DataFrame({"admission_id": np.arange(n), "patient_id": np.arange(n) // 2,
                         "hospital": np.where(np.arange(n) % 3 == 0, "H1", "H2"), "split": split, "y_true": y})
    predictions = pd.concat([
        base.assign(model="clinicllm", experiment="global", y_score=written + rng.normal(0, 1.5, n)),
        base.assign(model="tfidf_lr", experiment="tfidf_lr", y_score=written + rng.normal(0, 0.7, n)),
    ], ignore_index=True)
    oracle = pd.DataFrame({"admission_id": np.arange(n), "true_probability": true,
                           "documented_probability": documented})
    return predictions, oracle


def test_ceiling_gaps_equal_the_auroc_differences_overall_and_per_hospital():
    predictions, oracle = synthetic_chapter()
    rows = clinicllm.ceiling_gap_rows(predictions, oracle, notebook="02_clinicllm", n_resamples=100)
    wide = predictions[predictions["experiment"] == "global"].merge(oracle, on="admission_id")
    tfidf = predictions[predictions["experiment"] == "tfidf_lr"].set_index("admission_id")["y_score"]
    for split in ("random_test", "temporal_test"):
        for var, group in [("overall", "all"), ("hospital", "H1"), ("hospital", "H2")]:
            part = wide[wide["split"] == split]
            if var == "hospital":
                part = part[part["hospital"] == group]
            y = part["y_true"]
            truth = roc_auc_score(y, part["true_probability"])
            ceiling = roc_auc_score(y, part["documented_probability"])
            chosen = rows[(rows["split"] == split) & (rows["group_var"] == var) & (rows["group"] == group)]

            def value(experiment, metric):
                return chosen[(chosen["experiment"] == experiment) & (chosen["metric"] == metric)]["value"].item()

            assert value("note_ceiling", "auroc") == pytest.approx(ceiling)
            assert value("note_ceiling", "never_written") == pytest.approx(truth - ceiling)
            assert value("global", "written_but_missed") == pytest.approx(ceiling - roc_auc_score(y, part["y_score"]))
            assert value("tfidf_lr", "written_but_missed") == pytest.approx(
                ceiling - roc_auc_score(y, tfidf.loc[part["admission_id"]]))
    assert (rows["ci_low"] <= rows["value"]).all() and (rows["value"] <= rows["ci_high"]).all()
    overall = rows[(rows["group_var"] == "overall") & (rows["metric"] == "never_written")]
    assert (overall["ci_low"] > 0).all()        # the unwritten half of the risk is a real gap
    table = clinicllm.ceiling_gap_table(rows)
    assert table.index[0] == "all hospitals" and list(table.columns) == [
        "note ceiling", "never written", "missed by ClinicLLM", "missed by TF-IDF"]
    from helpers.evaluation import format_estimate
    never = overall[overall["split"] == "temporal_test"].iloc[0]
    assert table.loc["all hospitals", "never written"] == format_estimate(never["value"], never["ci_low"],
                                                                          never["ci_high"])


def test_tokenization_and_timing_tables_read_as_the_page_names_them():
    table = pd.DataFrame({"n_notes": [16405.0, 2546.0], "tokens_per_word": [1.3686, 1.37],
                          "share_truncated": [1.0, 0.5]}, index=["train", "temporal_test"])
    shown = clinicllm.tokenization_display(table)
    assert shown.loc["notes", "temporal test"] == "2,546" and shown.loc["notes", "train"] == "16,405"
    assert shown.loc["tokens per word", "train"] == "1.37"
    assert shown.loc["notes longer than one window (%)", "temporal test"] == "50"
    timings = clinicllm.timings_display({"pretrain": 41.04, "total": 300.0}, {"pretrain": True})
    assert timings.loc["MLM pretraining"].tolist() == ["41.0", "yes"]
    assert timings.loc["total"].tolist() == ["300.0", ""]


def test_without_a_note_ceiling_there_are_no_rows_and_every_text_says_why():
    predictions, oracle = synthetic_chapter(200)
    assert clinicllm.note_ceiling_rows(predictions, None, notebook="02_clinicllm").empty
    assert clinicllm.note_ceiling_rows(predictions, oracle.drop(columns="documented_probability"),
                                       notebook="02_clinicllm").empty
    assert clinicllm.ceiling_gap_table(clinicllm.note_ceiling_rows(predictions, None, notebook="x")) is None
    texts = clinicllm.ceiling_texts(None)
    assert set(texts) == {"note_ceiling_auroc", "never_written", "missed_global", "missed_tfidf"}
    assert all(text.startswith("not available") for text in texts.values())
    with pytest.raises(ValueError, match="documented_probability"):
        clinicllm.ceiling_gap_rows(predictions, oracle.drop(columns="documented_probability"), notebook="x")


def test_oracle_texts_exist_on_real_data_with_the_same_keys():
    predictions, oracle = synthetic_chapter(400)
    from helpers import evaluation

    rows = evaluation.evaluate_experiments(
        pd.concat([predictions, predictions[predictions["experiment"] == "global"].assign(
            experiment="oracle", model="oracle", y_score=oracle["true_probability"].to_numpy())]),
        notebook="02_clinicllm", splits=("random_test", "temporal_test"), n_resamples=20)
    ceiling = clinicllm.ceiling_gap_rows(predictions, oracle, notebook="02_clinicllm", n_resamples=20)
    simulated = clinicllm.oracle_texts(rows, ceiling, {"simulated": True})
    real_rows = rows[rows["experiment"] != "oracle"]
    real = clinicllm.oracle_texts(real_rows, clinicllm.note_ceiling_rows(predictions, None, notebook="x"),
                                  {"simulated": False})
    assert set(simulated) == set(real)
    assert all(text.startswith("not available") for text in real.values())
    auroc_real = clinicllm.auroc_texts(real_rows)
    assert auroc_real["auroc_oracle_temporal_test"].startswith("not available")
    assert set(auroc_real) == set(clinicllm.auroc_texts(rows))


def test_reading_comparison_reports_auroc_with_ci_tokens_and_time():
    predictions, _ = synthetic_chapter(600)
    model = predictions[predictions["experiment"] == "global"]
    readings = {"head": {"predictions": model, "tokens_per_note": 128.0, "seconds": 2.0, "trained": False},
                "windows": {"predictions": model.assign(y_score=model["y_score"] * 2), "tokens_per_note": 512.0,
                            "seconds": 8.0, "trained": True}}
    table = clinicllm.reading_comparison(readings, n_resamples=50)
    temporal = model[model["split"] == "temporal_test"]
    assert table.loc["head", "auroc_temporal_test"] == pytest.approx(roc_auc_score(temporal["y_true"],
                                                                                   temporal["y_score"]))
    assert table.loc["windows", "auroc_temporal_test"] == pytest.approx(table.loc["head", "auroc_temporal_test"])
    texts = clinicllm.reading_texts(table)
    assert texts["reading_token_ratio"] == "4.0" and "windows" in texts["reading_trained"]
    shown = clinicllm.reading_display(table)
    assert list(shown["tokens read per test note"]) == [128, 512]


def test_tokens_read_by_hand():
    # Notes of 2, 10, 16, 17 and 30 tokens ([CLS] and [SEP] included), windows of 16 (14 content tokens).
    read = clinicllm.tokens_read(np.array([2, 10, 16, 17, 30]), 16)
    assert read["head"].tolist() == [2, 10, 16, 16, 16]
    assert read["n_windows"].tolist() == [1, 1, 1, 2, 2]
    assert read["windows"].tolist() == [2, 10, 16, 19, 32]      # 15 content + 2 x 2 specials; 28 + 2 x 2
    overlapping = clinicllm.tokens_read(np.array([30]), 16, stride=7)
    assert overlapping["n_windows"].tolist() == [3] and overlapping["windows"].tolist() == [48]


def test_log_loss_explained_by_hand():
    y = np.array([1, 0, 0, 0])
    # base rate 1/4 for everyone against a model that gives the readmitted admission 1/2
    base = -(np.log(0.25) + 3 * np.log(0.75)) / 4
    model = -(np.log(0.5) + 3 * np.log(0.75)) / 4
    assert clinicllm.log_loss_explained(y, [0.5, 0.25, 0.25, 0.25]) == pytest.approx(1 - model / base)
    assert clinicllm.log_loss_explained(y, [0.25] * 4) == pytest.approx(0.0)        # knows only the base rate
    assert clinicllm.log_loss_explained(y, [0.999, 0.001, 0.001, 0.001]) > 0.99     # nearly certain and right
    assert clinicllm.log_loss_explained(y, [0.01, 0.6, 0.6, 0.6]) < 0                # worse than the base rate


def test_learning_depth_texts_read_the_test_split_and_the_end_of_pretraining():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(int)
    rows = []
    for experiment, score in (("global", np.full(400, y.mean())), ("tfidf_lr", np.where(y == 1, 0.6, 0.1))):
        rows.append(pd.DataFrame({"split": "temporal_test", "experiment": experiment, "y_true": y, "y_score": score}))
    history = pd.DataFrame({"step": [10, 20, 30, 40, 50, 60], "train_loss": [9.0, 7.0, 6.0, 5.0, 5.0, 5.0]})
    texts = clinicllm.learning_depth_texts(pd.concat(rows), history, 8000, experiments=("global", "tfidf_lr", "oracle"),
                                           last_logs=3)
    assert texts["explained_global"] == "0.0 %"
    assert texts["explained_tfidf_lr"] == f"{100 * clinicllm.log_loss_explained(y, np.where(y == 1, 0.6, 0.1)):.1f} %"
    assert texts["explained_oracle"] == "not estimable"                               # no oracle rows (real data)
    assert (texts["mlm_loss_end"], texts["mlm_perplexity"], texts["mlm_steps"]) == ("5.00", f"{np.exp(5):,.0f}", "60")
    assert texts["mlm_uniform_perplexity"] == "8,000"
    no_pretraining = clinicllm.learning_depth_texts(pd.concat(rows), pd.DataFrame(columns=["step", "train_loss"]), 10)
    assert no_pretraining["mlm_steps"] == "0"


def test_finetuning_description_names_what_is_trained_and_the_step_shortcuts():
    from helpers.clinicllm import ClinicLLMConfig, finetuning_description

    assert finetuning_description(ClinicLLMConfig(bf16=False)) == (
        "updates every weight but the bottom layer's at a peak learning rate of 0.0001 (the word embeddings and the "
        "head at 30 times that), without dropout; to make a training step cheaper, the gradient "
        "reaches the embeddings past the frozen layer unchanged (straight-through) instead of through it and each "
        "step computes the top layer at a random 50 % of a window's tokens, drawn anew every step, while validation "
        "and predictions read the whole model")
    assert finetuning_description(ClinicLLMConfig(preset="base", bf16=False)) == (
        "updates every weight at a peak learning rate of 2e-05, with dropout 0.1")
    exact = ClinicLLMConfig(num_layers=4, finetune_frozen_layers=2, finetune_frozen_backward="exact",
                            finetune_position_share=0.25, classifier_input="cls", bf16=False)
    assert finetuning_description(exact) == ("updates every weight but the bottom 2 layers' at a peak learning rate "
                                             "of 0.0001 (the word embeddings and the head at 30 times that), without "
                                             "dropout")
    uneven = ClinicLLMConfig(finetune_embedding_lr_factor=10.0, finetune_head_lr_factor=1.0, bf16=False)
    assert "(the word embeddings at 10 times that)," in finetuning_description(uneven)


def test_the_configuration_table_says_what_a_window_count_of_none_means():
    every = clinicllm.config_table(clinicllm.ClinicLLMConfig(bf16=False))   # the tiny preset reads every window
    assert every.loc["train_windows_per_note", "value"] == "None (every window of a note)"
    capped = clinicllm.config_table(clinicllm.ClinicLLMConfig(bf16=False, train_windows_per_note=2))
    assert capped.loc["train_windows_per_note", "value"] == "2"
