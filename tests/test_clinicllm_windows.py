"""ClinicLLM reads the whole note: windows, their pooling, the head reading, the mean-pooled head, the learning check.

Hand examples for the pooling formula and the window starts; the windows are checked against the note's own token
ids (contiguous, never mixing notes, covering every token); the predictions against stock transformers models
applied one input at a time (an independent implementation of the same reading).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformers import BertForSequenceClassification, BertModel

from helpers import clinicllm
from helpers.clinicllm import (
    ClinicLLMConfig,
    MeanPooledBertForSequenceClassification,
    RandomWindowNotes,
    learning_admonition,
    learning_check,
    note_token_ids,
    note_windows,
    pool_window_scores,
    predict_scores,
    run_clinicllm,
    train_tokenizer,
    window_starts,
)

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def long_notes(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Notes of 5-60 words; the word 'hyperkalemia' marks most readmitted notes, placed anywhere in the note (often
    past the first window); training notes carry 'trainonly', the others 'heldout'."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(int)
    split = np.where(np.arange(n) % 10 < 6, "train", np.where(np.arange(n) % 10 < 8, "validation",
                                                                 np.where(np.arange(n) % 10 == 8, "random_test",
                                                                          "temporal_test")))
    notes = []
    for label, part in zip(labels, split):
        words = list(rng.choice(WORDS, size=int(rng.integers(5, 60))))
        if rng.random() < (0.85 if label else 0.1):
            words.insert(int(rng.integers(0, len(words) + 1)), "hyperkalemia")
        words.insert(int(rng.integers(0, len(words) + 1)), "trainonly" if part == "train" else "heldout")
        notes.append(" ".join(words))
    return pd.DataFrame({"admission_id": [f"a{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
                         "hospital": np.where(np.arange(n) % 2 == 0, "H1", "H2"), "note_text": notes,
                         "readmitted_30d": labels, "split": split})


def toy_config(**changes) -> ClinicLLMConfig:
    values = dict(vocab_size=200, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=16,
                  pretrain_max_steps=5, pretrain_batch_size=32, finetune_epochs=6, finetune_learning_rate=5e-3,
                  finetune_batch_size=16, evals_per_epoch=1, early_stopping_patience=None, logging_steps=5,
                  bf16=False, seed=0, note_reading="windows", classifier_input="cls", finetune_min_steps=1,
                  finetune_embedding_lr_factor=1.0, finetune_head_lr_factor=1.0)
    values.update(changes)
    return ClinicLLMConfig(**values)


@pytest.fixture(scope="module")
def notes():
    return long_notes()


@pytest.fixture(scope="module")
def tokenizer(notes, tmp_path_factory):
    return train_tokenizer(notes["note_text"].tolist(), 200, tmp_path_factory.mktemp("tok") / "tokenizer")


@pytest.fixture(scope="module")
def windowed_run(notes, tmp_path_factory):
    out = tmp_path_factory.mktemp("windows")
    return run_clinicllm(notes, toy_config(), out)


# ----------------------------------------------------------------------------------------------------------------
# Pooling and window positions, by hand
# ----------------------------------------------------------------------------------------------------------------


def test_clinicalbert_pooling_matches_the_formula_on_a_hand_example():
    # Note 0: windows 0.2, 0.8 (n=2, c=2): (0.8 + 0.5 * 2/2) / (1 + 2/2) = 0.65.
    # Note 1: one window 0.3 -> 0.3 under every pooling.
    # Note 2: windows 0.1, 0.2, 0.3, 0.9 (n=4): mean 0.375, max 0.9, (0.9 + 0.375 * 2) / (1 + 2) = 0.55.
    scores = np.array([0.2, 0.8, 0.3, 0.1, 0.2, 0.3, 0.9])
    owner = np.array([0, 0, 1, 2, 2, 2, 2])
    assert pool_window_scores(scores, owner, 3, "clinicalbert", c=2) == pytest.approx([0.65, 0.3, 0.55])
    assert pool_window_scores(scores, owner, 3, "mean") == pytest.approx([0.5, 0.3, 0.375])
    assert pool_window_scores(scores, owner, 3, "max") == pytest.approx([0.8, 0.3, 0.9])
    # c = 1 for note 2: (0.9 + 0.375 * 4) / (1 + 4) = 0.48.
    assert pool_window_scores(scores, owner, 3, "clinicalbert", c=1)[2] == pytest.approx(0.48)


def test_pooling_rejects_bad_input_naming_the_parameter():
    with pytest.raises(ValueError, match="window_pooling"):
        pool_window_scores(np.array([0.1]), np.array([0]), 1, "median")
    with pytest.raises(ValueError, match="no window"):
        pool_window_scores(np.array([0.1]), np.array([0]), 2)
    with pytest.raises(ValueError, match="note_reading"):
        ClinicLLMConfig(note_reading="tail")
    with pytest.raises(ValueError, match="window_stride"):
        ClinicLLMConfig(max_length=16, window_stride=15)


@pytest.mark.parametrize("n_tokens, content, stride, expected", [
    (10, 4, 4, [0, 4, 8]),          # side by side; the last window holds tokens 8-9
    (8, 4, 4, [0, 4]),              # exactly two windows, no empty third
    (10, 4, 2, [0, 2, 4, 6]),       # overlapping; the window at 6 reaches the end
    (3, 4, 4, [0]),                 # shorter than a window
    (0, 4, 4, [0]),                 # an empty note still gets one (empty) window
])
def test_window_starts(n_tokens, content, stride, expected):
    assert window_starts(n_tokens, content, stride).tolist() == expected


# ----------------------------------------------------------------------------------------------------------------
# Windows against the notes' own tokens
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [None, 5])
def test_a_window_never_crosses_notes_and_the_windows_cover_each_note(notes, tokenizer, stride):
    texts = notes["note_text"].tolist()
    ids = note_token_ids(tokenizer, texts)
    windows = note_windows(ids, 16, stride, tokenizer.cls_token_id, tokenizer.sep_token_id)
    content, step = 14, stride or 14
    assert (np.diff(windows.note_index) >= 0).all()          # a note's windows are consecutive
    for row in range(len(texts)):
        own = np.flatnonzero(windows.note_index == row)
        note = ids[row]
        for k, w in enumerate(own):
            window = windows.input_ids[w]
            assert len(window) <= 16
            assert window[0] == tokenizer.cls_token_id and window[-1] == tokenizer.sep_token_id
            # exactly the note's tokens from its start position: never a token of another note
            assert window[1:-1].tolist() == note[k * step:k * step + content].tolist()
        # together the windows reach the note's last token
        assert (len(own) - 1) * step + content >= len(note)
    # the ids are the tokenizer's own, whole note
    assert ids[0].tolist() == tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    assert windows.windows_per_note.max() > 1                # the fixture has notes longer than one window


def test_training_windows_come_only_from_training_notes_and_reach_past_the_head(notes, tokenizer):
    config = toy_config().resolved()
    train, validation = notes[notes["split"] == "train"], notes[notes["split"] == "validation"]
    train_set, val_set, _ = clinicllm.training._training_sets(
        tokenizer, train, validation, train["readmitted_30d"].to_numpy(), validation["readmitted_30d"].to_numpy(),
        config)
    assert isinstance(train_set, RandomWindowNotes) and len(train_set) == len(train)
    train_windows = note_windows(note_token_ids(tokenizer, train["note_text"].tolist()), 16, None,
                                 tokenizer.cls_token_id, tokenizer.sep_token_id)
    allowed = {tuple(w.tolist()) for w in train_windows.input_ids}
    heldout = tokenizer.convert_tokens_to_ids("heldout")
    drawn = []
    for epoch in range(4):
        train_set.use_epoch(epoch)
        drawn += [train_set[i] for i in range(len(train_set))]
    assert all(tuple(item["input_ids"]) in allowed for item in drawn)
    assert not any(heldout in item["input_ids"] for item in drawn)
    heads = {tuple(train_windows.input_ids[i].tolist()) for i in np.flatnonzero(
        np.r_[True, np.diff(train_windows.note_index) > 0])}
    assert any(tuple(item["input_ids"]) not in heads for item in drawn)   # later windows are drawn too
    # every item carries its own note's label
    labels = train["readmitted_30d"].to_numpy()
    assert [item["labels"] for item in drawn[:len(train_set)]] == labels.tolist()
    # validation: every window of every validation note, in order
    assert len(val_set) == len(note_windows(note_token_ids(tokenizer, validation["note_text"].tolist()), 16, None,
                                            tokenizer.cls_token_id, tokenizer.sep_token_id).input_ids)


def test_a_window_draw_depends_on_seed_epoch_and_note_only(notes, tokenizer):
    # What a resumed run needs: the Trainer skips the batches done before the checkpoint without fetching them, so
    # a draw must not depend on how many draws came before it.
    windows = note_windows(note_token_ids(tokenizer, notes["note_text"].tolist()), 16, None,
                           tokenizer.cls_token_id, tokenizer.sep_token_id)
    first, again = RandomWindowNotes(windows, seed=3), RandomWindowNotes(windows, seed=3)
    order = np.random.default_rng(0).permutation(len(first))
    for epoch in (0, 1):
        first.use_epoch(epoch)
        again.use_epoch(epoch)
        forward = {i: first[i]["input_ids"] for i in range(len(first))}
        assert forward == {int(i): again[int(i)]["input_ids"] for i in order}         # any order, same draws
        assert forward == {i: first[i]["input_ids"] for i in range(len(first))}        # and twice the same
    by_epoch = []
    for epoch in range(3):
        first.use_epoch(epoch)
        by_epoch.append([first[i]["input_ids"] for i in range(len(first))])
    assert by_epoch[0] != by_epoch[1] != by_epoch[2]                                  # each pass draws anew
    other_seed = RandomWindowNotes(windows, seed=4)
    assert [other_seed[i]["input_ids"] for i in range(len(first))] != by_epoch[0]


# ----------------------------------------------------------------------------------------------------------------
# Predictions against stock models
# ----------------------------------------------------------------------------------------------------------------


def _stock_scores(model_dir, inputs: list[list[int]]) -> np.ndarray:
    model = BertForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True,
                                                          attn_implementation="eager").eval()
    with torch.no_grad():
        return np.array([torch.softmax(model(input_ids=torch.tensor([ids])).logits, -1)[0, 1].item()
                         for ids in inputs])


@pytest.mark.slow
def test_head_reading_reproduces_the_truncated_note_scores(windowed_run, notes, tokenizer):
    # 'head' is today's reading: [CLS] + the note's first max_length - 2 tokens + [SEP], scored by the classifier.
    frame = notes[notes["split"] == "random_test"]
    config = toy_config(note_reading="head")
    tok = clinicllm.load_tokenizer(windowed_run.tokenizer_dir)
    truncated = tok(frame["note_text"].tolist(), truncation=True, max_length=16)["input_ids"]
    expected = _stock_scores(windowed_run.model_dir, truncated)
    assert predict_scores(windowed_run.model_dir, tok, frame, config) == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_window_predictions_pool_every_windows_stock_score(windowed_run, notes):
    frame = notes[notes["split"] == "temporal_test"].reset_index(drop=True)
    tok = clinicllm.load_tokenizer(windowed_run.tokenizer_dir)
    windows = note_windows(note_token_ids(tok, frame["note_text"].tolist()), 16, None, tok.cls_token_id,
                           tok.sep_token_id)
    per_window = _stock_scores(windowed_run.model_dir, [w.tolist() for w in windows.input_ids])
    expected = pool_window_scores(per_window, windows.note_index, len(frame), "clinicalbert", 2.0)
    assert predict_scores(windowed_run.model_dir, tok, frame, toy_config()) == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_model_selection_uses_the_pooled_validation_score(windowed_run):
    predictions = windowed_run.predictions
    validation = predictions[predictions["split"] == "validation"]
    pooled_auroc = roc_auc_score(validation["y_true"], validation["y_score"])
    assert windowed_run.best_validation_auroc == pytest.approx(pooled_auroc, abs=1e-6)


@pytest.mark.slow
def test_the_default_head_learns_a_word_placed_anywhere_in_the_note(tmp_path):
    # The windowed_run fixture reads [CLS], as the stock models it is compared with do; after a 5-step pretraining
    # that vector hardly depends on the note and its scores barely spread (the reason the default reads the mean).
    # The default head (mean of the window's tokens, started from a linear probe) must find the planted word.
    # 600 notes: with the fixture's 240, 48 validation notes leave the learning check's CI too wide to clear 0.5
    result = run_clinicllm(long_notes(600, seed=1), toy_config(classifier_input="mean"), tmp_path / "mean")
    tests = result.predictions[result.predictions["split"] != "validation"]
    assert roc_auc_score(tests["y_true"], tests["y_score"]) > 0.75
    assert result.learning.learned, result.learning.problems


@pytest.mark.slow
def test_tokenization_report_counts_the_whole_note(windowed_run, notes, tokenizer):
    report = windowed_run.tokenization_report
    lengths = [len(tokenizer(t)["input_ids"]) for t in notes.loc[notes["split"] == "train", "note_text"]]
    assert report["tokens_per_note_mean"] == pytest.approx(np.mean(lengths))


@pytest.mark.slow
def test_mean_pooled_classifier_reads_the_mean_of_the_last_layer(windowed_run, tmp_path):
    torch.manual_seed(0)
    model = MeanPooledBertForSequenceClassification.from_pretrained(
        str(windowed_run.pretrained_dir), num_labels=2, local_files_only=True, attn_implementation="eager").eval()
    encoder = BertModel.from_pretrained(str(windowed_run.pretrained_dir), local_files_only=True,
                                        attn_implementation="eager", add_pooling_layer=False).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        expected = []
        for row in range(2):
            length = int(mask[row].sum())
            hidden = encoder(input_ids=ids[row:row + 1, :length]).last_hidden_state[0]
            pooled = torch.tanh(model.bert.pooler.dense(hidden.mean(0)))
            expected.append(model.classifier(pooled))
    assert torch.allclose(logits, torch.stack(expected), atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# Did it learn?
# ----------------------------------------------------------------------------------------------------------------


def _predictions(scores: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    n = len(scores)
    return pd.DataFrame({"admission_id": np.arange(n), "patient_id": np.arange(n), "hospital": "H1",
                         "split": "validation", "model": "clinicllm", "y_true": labels, "y_score": scores})


def test_a_collapsed_model_is_flagged_and_a_learning_one_is_not():
    rng = np.random.default_rng(0)
    labels = (rng.random(2000) < 0.11).astype(int)
    # Collapsed as on the real export: every score the base rate give or take 0.0005.
    collapsed = learning_check(_predictions(0.11 + rng.normal(0, 0.0005, 2000), labels))
    assert not collapsed.learned
    assert collapsed.score_sd == pytest.approx(0.0005, rel=0.1)
    assert any("not clearly above 0.5" in problem for problem in collapsed.problems)
    # A constant model is flagged for its spread as well.
    constant = learning_check(_predictions(np.full(2000, 0.11), labels))
    assert not constant.learned and any("hardly vary" in problem for problem in constant.problems)
    box = learning_admonition(collapsed)
    assert 'class="admonition warning"' in box and "did not learn" in box and "learning rate" in box
    # Spread but random: flagged for its AUROC, not for its spread.
    noise = learning_check(_predictions(rng.random(2000), labels))
    assert not noise.learned and any("not clearly above" in p for p in noise.problems)
    # A model that ranks: scores shifted up for readmitted admissions.
    ranking = 0.1 + 0.05 * labels + rng.normal(0, 0.03, 2000)
    good = learning_check(_predictions(ranking, labels))
    assert good.learned and good.problems == [] and learning_admonition(good) == ""
    assert good.validation_auroc == pytest.approx(roc_auc_score(labels, ranking))
    assert good.score_sd == pytest.approx(np.std(ranking))


# ----------------------------------------------------------------------------------------------------------------
# Learning on short structured notes (the real export that collapsed)
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_recipe_learns_on_short_structured_notes(tmp_path):
    """Few thousand ~50-word structured notes, ~10 % readmitted, the signal in counts and codes: the default tiny
    recipe (only the thread count and bfloat16 fixed, for a repeatable test) must rank test admissions clearly
    better than chance, pass the learning check, and come within 0.03 AUROC of TF-IDF with logistic regression."""
    from structured_notes import structured_notes

    from helpers import baselines

    data = structured_notes(4000)
    result = run_clinicllm(data.drop(columns="true_probability"), ClinicLLMConfig(bf16=False, num_threads=1),
                           tmp_path / "clinicllm")
    assert result.learning.learned, result.learning.problems
    tests = result.predictions[result.predictions["split"] != "validation"]
    model_auroc = roc_auc_score(tests["y_true"], tests["y_score"])
    assert model_auroc > 0.6
    assert tests["y_score"].std() > 0.01
    tfidf = baselines.fit_tfidf_lr(data[data["split"] == "train"], data[data["split"] == "validation"], seed=0)
    frame = data[data["split"].isin(["random_test", "temporal_test"])]
    tfidf_auroc = roc_auc_score(frame["readmitted_30d"], baselines.predict_tfidf_lr(tfidf, frame))
    print(f"structured notes: ClinicLLM {model_auroc:.3f}, TF-IDF {tfidf_auroc:.3f}")
    assert model_auroc > tfidf_auroc - 0.03


def test_a_model_far_below_the_baseline_is_flagged_as_weak():
    # Hand example: on 4 validation admissions (labels 0, 0, 1, 1) the model ranks 3 of the 4 positive-negative
    # pairs right (AUROC 0.75) and the baseline all 4 (1.0): a gap of 0.25, above 0.1.
    def table(model_scores, baseline_scores):
        labels = [0, 0, 1, 1]
        rows = [{"model": model, "split": "validation", "y_true": y, "y_score": s}
                for model, scores in (("clinicllm", model_scores), ("tfidf_lr", baseline_scores))
                for y, s in zip(labels, scores)]
        return pd.DataFrame(rows + [{"model": "clinicllm", "split": "temporal_test", "y_true": 1, "y_score": 0.0}])

    box = clinicllm.baseline_gap_admonition(table([0.1, 0.4, 0.35, 0.8], [0.1, 0.2, 0.3, 0.4]))
    assert "ClinicLLM learned little in this run" in box
    assert "0.750, 0.250 below" in box and "1.000" in box and "another seed" in box
    assert "Warning" not in box   # the browser test reads any "...Warning" in an output as a Python warning
    assert clinicllm.baseline_gap_admonition(table([0.1, 0.4, 0.35, 0.8], [0.1, 0.4, 0.35, 0.8])) == ""
    # a gap of exactly 0.25 passes a threshold of 0.25; a missing baseline gives no box
    assert clinicllm.baseline_gap_admonition(table([0.1, 0.4, 0.35, 0.8], [0.1, 0.2, 0.3, 0.4]), max_gap=0.25) == ""
    only_model = table([0.1, 0.4, 0.35, 0.8], [0.1, 0.2, 0.3, 0.4]).query("model == 'clinicllm'")
    assert clinicllm.baseline_gap_admonition(only_model) == ""
    assert clinicllm.baseline_gap_display(table([0.1, 0.4, 0.35, 0.8], [0.1, 0.4, 0.35, 0.8])) is None
