"""ClinicLLM: tokenizer, MLM loss, fine-tuning, early stopping, caching and the torchrun entry point.

Everything runs at toy size on synthetic notes made here: filler words plus a planted keyword that marks most
readmitted admissions, so a model that learns anything at all beats AUROC 0.5 clearly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

from helpers import clinicllm
from helpers.clinicllm import (
    ClinicLLMConfig,
    ClsOnlyLastLayerBertForSequenceClassification,
    MaskedPositionsBertForMaskedLM,
    MeanPooledBertForSequenceClassification,
    encode_notes,
    finetune_classifier,
    load_tokenizer,
    pretrain_mlm,
    run_clinicllm,
    tokenization_report,
    train_tokenizer,
)
from helpers.clinicllm.trainer import planned_steps  # the step arithmetic, tested where it is defined

FILLER = (
    "patient admitted stable vitals reviewed labs normal follow clinic discharged home medication continued "
    "tolerated diet ambulating pain controlled plan discussed family nursing"
).split()
SIGNAL = "hyperkalemia"
TRAIN_ONLY_WORD = "quokkamab"       # appears only in training notes
TEST_ONLY_WORD = "zebrafloxacin"    # appears only in test notes, as often as the word above


def planted_notes(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Synthetic admissions: 30 % readmitted; the signal word (twice) is in 85 % of readmitted and 10 % of other
    notes, so the word alone ranks admissions with an expected AUROC of 0.5 * (1 + 0.85 - 0.10) = 0.875."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(int)
    position = np.arange(n) % 10
    split = np.select([position < 6, position < 8, position == 8], ["train", "validation", "random_test"],
                      "temporal_test")
    notes = []
    for label, part in zip(labels, split):
        words = list(rng.choice(FILLER, size=int(rng.integers(10, 30))))
        if rng.random() < (0.85 if label else 0.10):
            for _ in range(2):
                words.insert(int(rng.integers(0, len(words))), SIGNAL)
        marker = TRAIN_ONLY_WORD if part == "train" else TEST_ONLY_WORD if part != "validation" else None
        if marker and rng.random() < 0.5:
            words.append(marker)
        notes.append(" ".join(words))
    return pd.DataFrame({
        "admission_id": [f"a{i}" for i in range(n)],
        "patient_id": [f"p{i // 2}" for i in range(n)],
        "hospital": np.where(np.arange(n) % 3 == 0, "H1", "H2"),
        "note_text": notes,
        "readmitted_30d": labels,
        "split": split,
    })


def toy_config(**changes) -> ClinicLLMConfig:
    """A model small enough to train in about a second on a CPU, with settings that learn the planted word."""
    values = dict(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=64,
                  pretrain_max_steps=5, pretrain_batch_size=32, finetune_epochs=4, finetune_learning_rate=5e-3,
                  finetune_batch_size=16, evals_per_epoch=1, early_stopping_patience=None, logging_steps=5,
                  bf16=False, seed=0, finetune_min_steps=1)
    values.update(changes)
    return ClinicLLMConfig(**values)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    data = planted_notes()
    out = tmp_path_factory.mktemp("clinicllm")
    result = run_clinicllm(data, toy_config(), out)
    return data, out, result


# ----------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, field", [
    ({"preset": "huge"}, "preset"),
    ({"preset": "pretrained"}, "pretrained_path"),
    ({"pretrained_path": "/some/dir"}, "pretrained_path"),
    ({"hidden_size": 100, "num_heads": 3}, "hidden_size"),
    ({"mlm_probability": 1.5}, "mlm_probability"),
    ({"finetune_learning_rate": 0.0}, "finetune_learning_rate"),
    ({"finetune_batch_size": 0}, "finetune_batch_size"),
    ({"max_length": 4}, "max_length"),
    ({"preset": "base", "max_length": 1024}, "max_length"),
    ({"attention_dropout": 1.0}, "attention_dropout"),
    ({"early_stopping_patience": 0}, "early_stopping_patience"),
    ({"warmup_ratio": 1.0}, "warmup_ratio"),
    ({"seed": -1}, "seed"),
    ({"finetune_epochs": 0}, "finetune_epochs"),
    ({"finetune_dropout": 1.0}, "finetune_dropout"),
    ({"num_layers": 2, "finetune_frozen_layers": 2}, "finetune_frozen_layers"),
    ({"finetune_frozen_layers": -1}, "finetune_frozen_layers"),
    ({"finetune_frozen_backward": "sideways"}, "finetune_frozen_backward"),
    ({"finetune_position_share": 0.0}, "finetune_position_share"),
    ({"finetune_position_share": 1.5}, "finetune_position_share"),
    ({"finetune_position_share": True}, "finetune_position_share"),
])
def test_config_rejects_bad_values_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        ClinicLLMConfig(**changes)


def test_chapter_parameters_and_options_may_not_set_the_same_field():
    config = ClinicLLMConfig.from_parameters({"bf16": False}, finetune_max_steps=600, seed=3)
    assert (config.bf16, config.finetune_max_steps, config.seed) == (False, 600, 3)
    with pytest.raises(ValueError, match=r"clinicllm_options sets \['finetune_max_steps'\].*02.finetune_max_steps"):
        ClinicLLMConfig.from_parameters({"finetune_max_steps": 10}, finetune_max_steps=None)
    with pytest.raises(ValueError, match="finetune_dropuot"):
        ClinicLLMConfig.from_parameters({"finetune_dropuot": 0.0}, seed=0)


def test_config_from_dict_names_unknown_fields():
    with pytest.raises(ValueError, match="hidden_sise"):
        ClinicLLMConfig.from_dict({"hidden_sise": 64})


def test_pretrained_preset_checks_the_checkpoint_directory(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        ClinicLLMConfig(preset="pretrained", pretrained_path=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "max_position_embeddings": 128}))
    with pytest.raises(ValueError, match="max_length"):
        ClinicLLMConfig(preset="pretrained", pretrained_path=str(tmp_path), max_length=256)
    config = ClinicLLMConfig(preset="pretrained", pretrained_path=str(tmp_path), max_length=128)
    assert config.resolved().max_length == 128


def test_presets_fill_unset_fields_and_keep_overrides():
    base = ClinicLLMConfig(preset="base").resolved()
    assert (base.hidden_size, base.num_layers, base.num_heads, base.intermediate_size) == (768, 12, 12, 3072)
    assert (base.vocab_size, base.max_length, base.finetune_learning_rate) == (50000, 512, 2e-5)
    assert (base.finetune_frozen_layers, base.finetune_frozen_backward, base.finetune_position_share) == (0, "exact", 1)
    tiny = ClinicLLMConfig(num_layers=3).resolved()
    assert tiny.num_layers == 3
    assert (tiny.finetune_frozen_backward, tiny.finetune_position_share) == ("straight_through", 0.5)
    assert tiny.hidden_size == clinicllm.PRESET_DEFAULTS["tiny"]["hidden_size"]
    assert isinstance(tiny.bf16, bool)


def test_every_config_field_belongs_to_a_stage_key_or_is_declared_harmless():
    # A field missing from every stage key would not re-run anything when changed: a silent stale cache.
    covered = set(clinicllm.TOKENIZER_FIELDS + clinicllm.PRETRAIN_FIELDS + clinicllm.FINETUNE_FIELDS
                  + clinicllm.PREDICT_FIELDS + clinicllm.DATA_SELECTION_FIELDS + clinicllm.SPEED_ONLY_FIELDS)
    assert {f.name for f in dataclasses.fields(ClinicLLMConfig)} <= covered


@pytest.mark.parametrize("n, batch, epochs, cap, expected", [
    (100, 10, 2.0, None, 20),     # epochs decide
    (100, 10, 2.0, 7, 7),         # the cap shortens
    (100, 10, 2.0, 500, 20),      # a large cap never lengthens (unlike the Trainer's max_steps)
    (101, 10, 0.5, None, 6),      # 11 batches per epoch, half of them rounded up
])
def test_planned_steps(n, batch, epochs, cap, expected):
    assert planned_steps(n, batch, epochs, cap) == expected


@pytest.mark.parametrize("n, batch, epochs, cap, floor, expected", [
    (2400, 16, 2.0, None, 600, 600),     # a small cohort: 300 steps of epochs raised to the minimum
    (24000, 16, 2.0, None, 600, 3000),   # a large one: the minimum does not bind
    (2400, 16, 2.0, 400, 600, 400),      # the cap still wins
])
def test_planned_steps_minimum(n, batch, epochs, cap, floor, expected):
    assert planned_steps(n, batch, epochs, cap, floor) == expected


def test_study_frame_validation_names_the_column():
    data = planted_notes(50)
    with pytest.raises(ValueError, match="note_text"):
        clinicllm.validate_study_frame(data.drop(columns="note_text"))
    bad = data.copy()
    bad.loc[3, "split"] = "test"
    with pytest.raises(ValueError, match="split"):
        clinicllm.validate_study_frame(bad)
    bad = data.copy()
    bad.loc[5, "note_text"] = "  "
    with pytest.raises(ValueError, match="a5"):
        clinicllm.validate_study_frame(bad)
    bad = data.copy()
    bad.loc[7, "readmitted_30d"] = 2
    with pytest.raises(ValueError, match="readmitted_30d"):
        clinicllm.validate_study_frame(bad)


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word_tokenizer(tmp_path_factory):
    """A tokenizer whose vocabulary holds the four words below whole, so 1 word = 1 token."""
    texts = ["alpha beta gamma delta"] * 50
    return train_tokenizer(texts, 200, tmp_path_factory.mktemp("tok") / "tokenizer")


def test_tokenizer_adds_cls_and_sep_and_keeps_frequent_words_whole(word_tokenizer):
    ids = word_tokenizer("Alpha beta")["input_ids"]
    assert word_tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "alpha", "beta", "[SEP]"]
    assert word_tokenizer.pad_token == "[PAD]" and word_tokenizer.mask_token == "[MASK]"


def test_the_same_notes_always_give_the_same_vocabulary(tmp_path):
    # Hugging Face's WordPiece trainer, left to itself, numbers its "##" pieces in hash-map order; on notes with
    # many equally frequent pairs its vocabulary then changes from one training to the next (8 of 8 differed when
    # measured). A study that must be re-runnable needs one vocabulary per set of notes.
    rng = np.random.default_rng(0)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "be", "so", "di", "fu", "gra", "pli", "ost", "umb", "ex"]
    words = ["".join(rng.choice(syllables, size=rng.integers(1, 5))) for _ in range(400)]
    texts = [" ".join(rng.choice(words, size=60)) for _ in range(300)]
    vocabularies = {json.dumps(sorted(train_tokenizer(texts, 300, tmp_path / f"tok{i}").get_vocab().items()))
                    for i in range(6)}
    assert len(vocabularies) == 1
    tokenizer = load_tokenizer(tmp_path / "tok0")
    # the word-inside pieces are ordinary tokens; only BERT's five are special (and kept out of MLM masking)
    assert sorted(tokenizer.all_special_tokens) == sorted(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    pieces = tokenizer.tokenize("kalomineruta")
    assert len(pieces) > 1 and all(piece.startswith("##") for piece in pieces[1:])
    ids = tokenizer("kalomineruta")["input_ids"]
    assert tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True) == [1] + [0] * len(pieces) + [1]


def test_tokenization_report_on_a_hand_made_case(word_tokenizer):
    # 1, 2, 3 and 4 words -> 3, 4, 5 and 6 tokens with [CLS] and [SEP]; a limit of 4 cuts the last two notes.
    notes = ["alpha", "alpha beta", "alpha beta gamma", "alpha beta gamma delta"]
    report = tokenization_report(word_tokenizer, notes, max_length=4)
    assert report["n_notes"] == 4
    assert report["share_truncated"] == 0.5
    assert report["tokens_per_note_median"] == 4.5
    assert (report["tokens_per_note_q1"], report["tokens_per_note_q3"]) == (3.75, 5.25)
    assert report["mean_share_of_tokens_kept"] == pytest.approx((1 + 1 + 4 / 5 + 4 / 6) / 4)
    assert report["words_per_note_median"] == 2.5
    assert report["vocab_size"] == len(word_tokenizer)


def test_head_shortcut_gives_the_same_tokens_as_full_tokenization(word_tokenizer):
    notes = ["alpha\tbeta\n\ngamma " * 30, "delta", "  alpha   beta  ", "\u200b " * 40 + "gamma delta " * 20,
             "alpha,beta;gamma " * 20]
    for max_length in (4, 16, 64):
        shortcut = encode_notes(word_tokenizer, notes, max_length).input_ids
        full = word_tokenizer(notes, truncation=True, max_length=max_length)["input_ids"]
        assert shortcut == full


@pytest.mark.slow
def test_tokenizer_is_trained_on_training_notes_only(study):
    _, _, result = study
    vocabulary = load_tokenizer(result.tokenizer_dir).get_vocab()
    assert TRAIN_ONLY_WORD in vocabulary          # positive control: same frequency, but in training notes
    assert TEST_ONLY_WORD not in vocabulary


# ----------------------------------------------------------------------------------------------------------------
# MLM loss at masked positions only
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_masked_only_loss_equals_full_vocabulary_loss(attention):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, attn_implementation=attention)
    model = MaskedPositionsBertForMaskedLM(config).eval()
    input_ids = torch.randint(5, 97, (3, 40))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[2, 30:] = 0
    labels = torch.where(torch.rand(3, 40) < 0.15, input_ids, torch.full_like(input_ids, -100))
    labels[2, 30:] = -100
    fast = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    fast.loss.backward()
    fast_grad = model.bert.embeddings.word_embeddings.weight.grad.clone()
    model.zero_grad()
    full = BertForMaskedLM.forward(model, input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    full.loss.backward()
    full_grad = model.bert.embeddings.word_embeddings.weight.grad
    counts = (labels != -100).sum(dim=1)
    assert int(counts.sum()) > 5 and counts.min() != counts.max()   # rows with different numbers of masks
    assert abs(fast.loss.item() - full.loss.item()) < 1e-5
    assert torch.allclose(fast.logits, full.logits[labels != -100], atol=1e-5)
    assert torch.allclose(fast_grad, full_grad, atol=1e-6)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_cls_only_last_layer_gives_the_stock_classifier_logits_loss_and_gradients(attention):
    torch.manual_seed(1)
    config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, num_labels=2,
                        attn_implementation=attention)
    model = ClsOnlyLastLayerBertForSequenceClassification(config).eval()
    input_ids = torch.randint(5, 97, (4, 40))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 25:] = 0
    attention_mask[3, 10:] = 0
    labels = torch.tensor([0, 1, 1, 0])
    fast = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    fast.loss.backward()
    fast_grad = model.bert.encoder.layer[0].attention.self.query.weight.grad.clone()
    model.zero_grad()
    stock = BertForSequenceClassification.forward(model, input_ids=input_ids, attention_mask=attention_mask,
                                                  labels=labels)
    stock.loss.backward()
    stock_grad = model.bert.encoder.layer[0].attention.self.query.weight.grad
    assert torch.allclose(fast.logits, stock.logits, atol=1e-5)
    assert abs(fast.loss.item() - stock.loss.item()) < 1e-5
    assert torch.allclose(fast_grad, stock_grad, atol=1e-6)
    assert fast.logits[0, 0] != fast.logits[1, 0]   # not a degenerate case


def _two_layer_mean_classifier(attention: str = "sdpa") -> tuple[MeanPooledBertForSequenceClassification, dict]:
    """A 2-layer mean-pooled classifier without dropout, and a batch whose rows have different lengths."""
    torch.manual_seed(2)
    config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, num_labels=2, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, classifier_dropout=0.0, attn_implementation=attention)
    model = MeanPooledBertForSequenceClassification(config).train()
    attention_mask = torch.ones(3, 40, dtype=torch.long)
    attention_mask[1, 25:] = 0
    attention_mask[2, 10:] = 0
    batch = {"input_ids": torch.randint(5, 97, (3, 40)), "attention_mask": attention_mask,
             "labels": torch.tensor([0, 1, 1])}
    return model, batch


def _pooled_loss(model, hidden, mask, weights, labels):
    """The head on top of last-layer states ``hidden`` averaged with ``weights``: the loss, by hand."""
    mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
    logits = model.classifier(model.bert.pooler.activation(model.bert.pooler.dense(mean)))
    return torch.nn.functional.cross_entropy(logits, labels)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_straight_through_keeps_the_forward_and_hands_the_gradient_past_the_frozen_layer(attention):
    model, batch = _two_layer_mean_classifier(attention)
    frozen = model.bert.encoder.layer[0]
    with torch.no_grad():   # weights far from BERT's small initial ones, so the layer is far from the identity
        for weight in (p for p in frozen.parameters() if p.dim() == 2):
            weight.mul_(25)
    frozen.requires_grad_(False)
    captured = {}

    def keep_gradient(module, args, output):   # the gradient that reaches the embeddings' output
        if output.requires_grad:
            output.register_hook(lambda grad: captured.__setitem__("grad", grad))

    model.bert.embeddings.register_forward_hook(keep_gradient)
    exact = model(**batch)
    exact.loss.backward()
    exact_grad = captured["grad"].clone()
    model.zero_grad()
    model.straight_through_frozen = True
    fast = model(**batch)
    fast.loss.backward()
    assert torch.equal(fast.logits, exact.logits)                 # the frozen layer's output is unchanged
    assert all(p.grad is None for p in model.bert.encoder.layer[0].parameters())
    # By hand: the gradient of the loss with respect to the frozen layer's output (the top layer's input) ...
    with torch.no_grad():
        embedded = model.bert.embeddings(input_ids=batch["input_ids"])
        mask, _ = model.bert._create_attention_masks(attention_mask=batch["attention_mask"],
                                                     encoder_attention_mask=None, embedding_output=embedded,
                                                     encoder_hidden_states=None, cache=None)
        bottom = model.bert.encoder.layer[0](embedded, mask)
    bottom.requires_grad_(True)
    weights = batch["attention_mask"].unsqueeze(-1).float()
    _pooled_loss(model, model.bert.encoder.layer[1](bottom, mask), mask, weights, batch["labels"]).backward()
    # ... is what reaches the embeddings' output, unchanged; back-propagating through the layer gives another one.
    assert torch.allclose(captured["grad"], bottom.grad, rtol=1e-5, atol=1e-12)
    assert (exact_grad - bottom.grad).norm() > 0.3 * bottom.grad.norm()


def test_random_positions_draw_the_share_of_real_tokens_anew_each_step():
    attention_mask = torch.ones(3, 40, dtype=torch.long)
    attention_mask[1, 25:] = 0
    attention_mask[2, 10:] = 0
    torch.manual_seed(0)
    positions, selected = clinicllm.models.random_positions(attention_mask, 0.5)
    assert positions.shape == (3, 20) and selected.sum(dim=1).tolist() == [20, 13, 5]   # ceil(n / 2)
    for row, length in enumerate([40, 25, 10]):
        drawn = positions[row][selected[row]]
        assert len(set(drawn.tolist())) == len(drawn) and int(drawn.max()) < length   # distinct, never padding
    again, _ = clinicllm.models.random_positions(attention_mask, 0.5)
    assert not torch.equal(positions, again)
    seen = torch.zeros(40, dtype=torch.bool)
    for _ in range(30):
        drawn, chosen = clinicllm.models.random_positions(attention_mask[:1], 0.5)
        seen[drawn[0][chosen[0]]] = True
    assert bool(seen.all())                                        # every token takes its turn
    assert clinicllm.models.random_positions(attention_mask, 0.01)[1].sum(dim=1).tolist() == [1, 1, 1]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_top_layer_at_a_random_share_equals_the_full_layer_averaged_over_the_drawn_tokens(attention):
    model, batch = _two_layer_mean_classifier(attention)
    model.train_position_share = 0.5
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    torch.manual_seed(7)
    fast = model.head_input(**inputs)
    torch.manual_seed(7)
    positions, selected = clinicllm.models.random_positions(batch["attention_mask"], 0.5)
    full = model.bert(**inputs).last_hidden_state                 # the stock model, every position
    drawn = torch.gather(full, 1, positions.unsqueeze(-1).expand(-1, -1, full.shape[-1]))
    weights = selected.unsqueeze(-1).float()
    mean = (drawn * weights).sum(dim=1) / weights.sum(dim=1)
    assert torch.allclose(fast, model.bert.pooler.activation(model.bert.pooler.dense(mean)), atol=1e-5)
    # Outside training steps (evaluation, predictions, the probe) the head reads every token.
    everything = (full * batch["attention_mask"].unsqueeze(-1)).sum(dim=1) / batch["attention_mask"].sum(1, True)
    exact = model.bert.pooler.activation(model.bert.pooler.dense(everything))
    with torch.no_grad():
        assert torch.allclose(model.head_input(**inputs), exact, atol=1e-5)
    model.eval()
    assert torch.allclose(model.head_input(**inputs), exact, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# The pipeline
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fine_tuning_learns_the_planted_signal(study):
    _, _, result = study
    validation = result.predictions[result.predictions["split"] == "validation"]
    auroc = roc_auc_score(validation["y_true"], validation["y_score"])
    assert auroc > 0.75
    assert result.best_validation_auroc == pytest.approx(auroc, abs=1e-6)   # selection metric = scored model


@pytest.mark.slow
def test_fine_tuning_runs_with_the_configured_dropout(study):
    # The tiny preset fine-tunes without dropout: the checkpoint records 0, and in training mode two passes over
    # the same batch give the same logits (with dropout 0.1 they would differ).
    _, _, result = study
    assert result.config.finetune_dropout == 0.0
    saved = json.loads((result.model_dir / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == 0.0 and saved["classifier_dropout"] == 0.0
    pretrained = json.loads((result.pretrained_dir / "config.json").read_text())
    assert pretrained["hidden_dropout_prob"] == 0.1   # pretraining keeps the preset's dropout
    model = clinicllm.models.load_classifier(result.model_dir)
    model.train()
    batch = {"input_ids": torch.tensor([[2, 7, 8, 9, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, model(**batch).logits)
    noisy = clinicllm.models.load_classifier(result.model_dir, hidden_dropout_prob=0.1, classifier_dropout=0.1)
    noisy.train()
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.equal(noisy(**batch).logits, noisy(**batch).logits)


@pytest.mark.slow
def test_frozen_layers_keep_their_pretrained_weights_and_the_rest_learns(tmp_path):
    assert toy_config().resolved().finetune_frozen_layers == 0   # one layer: the top one is never frozen
    result = run_clinicllm(planted_notes(n=300), toy_config(num_layers=2, finetune_epochs=1), tmp_path)
    assert result.config.finetune_frozen_layers == 1
    pretrained = BertForMaskedLM.from_pretrained(str(result.pretrained_dir), local_files_only=True).bert
    tuned = clinicllm.models.load_classifier(result.model_dir).bert
    before, after = dict(pretrained.named_parameters()), dict(tuned.named_parameters())
    bottom = [name for name in before if name.startswith("encoder.layer.0.")]
    top = [name for name in before if name.startswith("encoder.layer.1.")]
    assert bottom and all(torch.equal(before[name], after[name]) for name in bottom)
    assert any(not torch.equal(before[name], after[name]) for name in top)
    word = "embeddings.word_embeddings.weight"
    assert not torch.equal(before[word], after[word])   # the embeddings still learn


@pytest.mark.slow
def test_predictions_table_columns_rows_and_labels(study):
    data, _, result = study
    table = result.predictions
    assert list(table.columns) == clinicllm.PREDICTION_COLUMNS
    expected = data[data["split"] != "train"]
    assert len(table) == len(expected)
    assert set(table["split"]) == {"validation", "random_test", "temporal_test"}
    assert (table["model"] == "clinicllm").all()
    merged = table.merge(expected, on="admission_id")
    assert (merged["y_true"] == merged["readmitted_30d"]).all()
    assert (merged["patient_id_x"] == merged["patient_id_y"]).all()
    assert table["y_score"].between(0, 1).all() and table["y_score"].nunique() > 10


@pytest.mark.slow
def test_histories_report_and_saved_configuration(study):
    data, out, result = study
    assert len(result.pretrain_history) == 1 and result.pretrain_history["train_loss"].notna().all()
    evals = result.finetune_history[result.finetune_history["kind"] == "eval"]
    assert len(evals) == 4 and evals["eval_auroc"].between(0, 1).all()   # 4 epochs, one evaluation each
    assert evals["best"].sum() == 1
    train_notes = data.loc[data["split"] == "train", "note_text"]
    assert result.tokenization_report["n_notes"] == len(train_notes)
    assert set(result.tokenization_report["by_split"]) == {"train", "validation", "random_test", "temporal_test"}
    saved = json.loads((result.model_dir / clinicllm.CONFIG_FILE).read_text())
    assert saved == result.config.to_dict() and saved["hidden_size"] == 32
    assert set(result.timings) >= {"tokenizer", "pretrain", "finetune", "predictions", "total"}
    leftovers = [p.name for p in Path(out).iterdir() if p.name.startswith(".")]
    assert leftovers == []   # no temporary or partial folders left behind


@pytest.mark.slow
def test_second_run_reuses_every_stage_and_a_finetune_change_reruns_only_finetuning(study):
    data, out, first = study
    pretrained_mtime = (first.pretrained_dir / "config.json").stat().st_mtime_ns
    again = run_clinicllm(data, toy_config(), out)
    assert all(again.reused.values())
    assert again.timings["finetune"] < 1.0
    pd.testing.assert_frame_equal(again.predictions, first.predictions)

    changed = run_clinicllm(data, toy_config(finetune_learning_rate=4e-3), out)
    assert changed.reused == {"tokenizer": True, "tokenization": True, "pretrain": True, "finetune": False,
                              "predictions": False}
    assert changed.pretrained_dir == first.pretrained_dir
    assert (first.pretrained_dir / "config.json").stat().st_mtime_ns == pretrained_mtime
    assert changed.model_dir != first.model_dir


def test_early_stopping_count_survives_a_resume():
    # A resumed Trainer rebuilds each stateful callback from its state() as type(callback)(**args) and then sets
    # the attributes; the count of evaluations without improvement must come back, not restart at zero.
    stopping = clinicllm.trainer.PatientEarlyStopping(3, min_steps=120)
    stopping.early_stopping_patience_counter = 2
    saved = json.loads(json.dumps(stopping.state()))     # it goes through trainer_state.json
    restored = type(stopping)(**saved["args"])
    for name, value in saved["attributes"].items():
        setattr(restored, name, value)
    assert (restored.early_stopping_patience, restored.min_steps, restored.early_stopping_patience_counter) == \
        (3, 120, 2)


@pytest.mark.slow
def test_early_stopping_really_stops(study, tmp_path):
    # Every validation note is the same text, so every model scores them alike and the validation AUROC is 0.5 at
    # every evaluation: it can never improve. With patience 1 training must end at the second evaluation.
    data, _, result = study
    train = data[data["split"] == "train"]
    validation = data[data["split"] == "validation"].assign(note_text="patient admitted stable")
    config = toy_config(finetune_epochs=20, evals_per_epoch=2, early_stopping_patience=1)
    tokenizer = load_tokenizer(result.tokenizer_dir)
    _, history = finetune_classifier(result.pretrained_dir, tokenizer, train, validation, config, tmp_path / "ft")
    evals = history[history["kind"] == "eval"]
    assert evals["eval_auroc"].tolist() == [0.5, 0.5]
    steps_per_epoch = int(np.ceil(len(train) / 16))
    eval_every = int(np.ceil(steps_per_epoch / 2))
    assert evals["step"].tolist() == [eval_every, 2 * eval_every]
    assert history["step"].max() == 2 * eval_every < 20 * steps_per_epoch
    assert history.loc[history["best"], "step"].tolist() == [eval_every]


@pytest.mark.slow
def test_pretrain_mlm_writes_a_portable_checkpoint(study, tmp_path):
    data, _, result = study
    tokenizer = load_tokenizer(result.tokenizer_dir)
    model_dir, history = pretrain_mlm(tokenizer, data["note_text"].head(64).tolist(),
                                      toy_config(pretrain_epochs=2, pretrain_max_steps=3, logging_steps=1),
                                      tmp_path / "mlm")
    stored = json.loads((model_dir / "config.json").read_text())
    assert stored["architectures"] == ["BertForMaskedLM"]
    assert history["step"].tolist() == [1, 2, 3]
    reloaded = BertForMaskedLM.from_pretrained(str(model_dir), local_files_only=True)   # stock class loads it
    assert reloaded.config.hidden_size == 32
    assert load_tokenizer(model_dir).get_vocab() == tokenizer.get_vocab()


@pytest.mark.slow
def test_chapter_tables(study):
    _, _, result = study
    model = ClsOnlyLastLayerBertForSequenceClassification.from_pretrained(str(result.model_dir), local_files_only=True)
    assert clinicllm.parameter_count(result.model_dir) == sum(p.numel() for p in model.parameters())
    settings = clinicllm.config_table(result.config)
    assert settings.loc["hidden_size", "value"] == "32"
    assert settings.loc["finetune_learning_rate", "affects"] == "fine-tuning"
    assert "pretraining" in settings.loc["max_length", "affects"]
    tokens = clinicllm.tokenization_table(result.tokenization_report)
    assert list(tokens.index) == ["train", "validation", "random_test", "temporal_test"]
    assert tokens.loc["validation", "n_notes"] == (result.predictions["split"] == "validation").sum()


@pytest.mark.slow
def test_trainer_takes_the_partial_last_layer_paths(study, tmp_path, monkeypatch):
    # The speed-ups live in forward(); if the Trainer passed an argument that sends forward() down the stock path,
    # training would silently lose them. Count the calls of the partial last layer during real training.
    data, _, result = study
    calls = []
    original = clinicllm.models.last_layer_at
    monkeypatch.setattr(clinicllm.models, "last_layer_at",
                        lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    tokenizer = load_tokenizer(result.tokenizer_dir)
    texts = data["note_text"].head(64).tolist()
    pretrain_mlm(tokenizer, texts, toy_config(pretrain_epochs=1, pretrain_max_steps=None), tmp_path / "mlm")
    assert len(calls) == 2                       # 64 notes, batches of 32
    train = data[data["split"] == "train"].head(32)
    validation = data[data["split"] == "validation"].head(32)
    finetune_classifier(result.pretrained_dir, tokenizer, train, validation,
                        toy_config(finetune_epochs=1, classifier_input="cls"), tmp_path / "ft")
    assert len(calls) == 2 + 2 + 1               # two training batches of 16, one evaluation batch


@pytest.mark.slow
def test_trainer_takes_the_fine_tuning_step_shortcuts(study, tmp_path, monkeypatch):
    # The tiny preset's straight-through backward and top layer at half the tokens act in training steps only:
    # two training batches take both, the probe and the evaluation batch neither.
    data, _, _ = study
    pretrained = run_clinicllm(data.head(200), toy_config(num_layers=2, finetune_max_steps=1), tmp_path / "two")
    assert pretrained.config.finetune_frozen_layers == 1
    calls = {"straight": 0, "share": 0}
    straight, draw = clinicllm.models._straight_through, clinicllm.models.random_positions

    def counted(name, function):
        return lambda *args, **kwargs: calls.__setitem__(name, calls[name] + 1) or function(*args, **kwargs)

    monkeypatch.setattr(clinicllm.models, "_straight_through", counted("straight", straight))
    monkeypatch.setattr(clinicllm.models, "random_positions", counted("share", draw))
    tokenizer = load_tokenizer(pretrained.tokenizer_dir)
    train = data[data["split"] == "train"].head(32)
    validation = data[data["split"] == "validation"].head(32)
    finetune_classifier(pretrained.pretrained_dir, tokenizer, train, validation,
                        toy_config(num_layers=2, finetune_epochs=1), tmp_path / "ft")
    assert calls == {"straight": 2, "share": 2}
    calls.update(straight=0, share=0)
    finetune_classifier(pretrained.pretrained_dir, tokenizer, train, validation,
                        toy_config(num_layers=2, finetune_epochs=1, finetune_frozen_backward="exact",
                                   finetune_position_share=1.0), tmp_path / "exact")
    assert calls == {"straight": 0, "share": 0}


@pytest.mark.slow
def test_torchrun_two_processes_fine_tune_and_write_the_same_artifacts(study, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    data, _, result = study
    data_path = tmp_path / "data.parquet"
    data.to_parquet(data_path)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"max_length": 64, "finetune_max_steps": 4, "finetune_batch_size": 8,
                                       "evals_per_epoch": 2, "finetune_learning_rate": 5e-3, "bf16": False,
                                       "logging_steps": 2}))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000), "-m",
         "helpers.clinicllm", "finetune", "--data", str(data_path), "--config", str(config_path), "--out", str(out),
         "--model", str(result.pretrained_dir)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reused"]["finetune"] is False
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert len(predictions) == int((data["split"] != "train").sum())
    assert predictions["y_score"].between(0, 1).all()
    model_dir = Path(summary["model_dir"])
    assert (model_dir / clinicllm.CONFIG_FILE).is_file() and (model_dir / "history.csv").is_file()
    history = pd.read_csv(model_dir / "history.csv")
    assert history["step"].max() == 4            # two processes, four optimizer steps in all
    printed = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert printed["world_size"] == 2


@pytest.mark.slow
def test_a_local_checkpoint_skips_tokenizer_training_and_pretraining(study, tmp_path):
    """preset 'pretrained': any local BERT checkpoint with its tokenizer is fine-tuned as it is."""
    import shutil

    data, _, result = study
    checkpoint = tmp_path / "my-bert"
    shutil.copytree(result.pretrained_dir, checkpoint)
    clinicllm.load_tokenizer(result.tokenizer_dir).save_pretrained(str(checkpoint))
    config = ClinicLLMConfig(preset="pretrained", pretrained_path=str(checkpoint), max_length=64,
                             finetune_epochs=4, finetune_learning_rate=5e-3, finetune_batch_size=16,
                             evals_per_epoch=1, early_stopping_patience=None, logging_steps=5, bf16=False, seed=0)
    local = run_clinicllm(data, config, tmp_path / "out")
    assert local.pretrain_history.empty  # no masked-language pretraining ran
    assert not list((tmp_path / "out").glob("tokenizer-*")) and not list((tmp_path / "out").glob("mlm-*"))
    # the architecture comes from the checkpoint: same parameters as the model it was saved from
    assert clinicllm.parameter_count(local.model_dir) == clinicllm.parameter_count(result.model_dir)
    assert len(local.predictions) == len(result.predictions)
    validation = local.predictions[local.predictions["split"] == "validation"]
    assert roc_auc_score(validation["y_true"], validation["y_score"]) > 0.75


# ----------------------------------------------------------------------------------------------------------------
# Linear probe start of the classification head (LP-FT)
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("classifier_input", ["mean", "cls"])
def test_linear_probe_head_gives_the_logistic_regression_log_odds(classifier_input):
    from sklearn.linear_model import LogisticRegression

    from helpers.clinicllm.models import ClsOnlyLastLayerBertForSequenceClassification, \
        MeanPooledBertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, num_labels=2)
    model_class = (MeanPooledBertForSequenceClassification if classifier_input == "mean"
                   else ClsOnlyLastLayerBertForSequenceClassification)
    model = model_class(config)
    rng = np.random.default_rng(0)
    inputs = [[2] + rng.integers(5, 97, rng.integers(5, 38)).tolist() + [3] for _ in range(300)]
    labels = np.array([int(7 in ids[1:6] or 11 in ids) for ids in inputs])   # a planted word decides the label
    dataset = [{"input_ids": ids} for ids in inputs]
    train_auroc = clinicllm.head_start.start_head_by_linear_probe(model, dataset, labels, batch_size=64, seed=0)
    assert model.training                                        # left in the mode it was in

    model.eval()
    with torch.no_grad():
        features, log_odds = [], []
        for ids in inputs:
            x = torch.tensor([ids])
            features.append(model.head_input(input_ids=x, attention_mask=torch.ones_like(x))[0].numpy())
            logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0]
            log_odds.append(float(logits[1] - logits[0]))
    features = np.array(features)
    expected = LogisticRegression(C=1.0, max_iter=2000).fit(features, labels)
    # equal up to the solver's tolerance (the probe read the same features in padded batches, here one by one)
    assert np.allclose(log_odds, expected.decision_function(features), atol=1e-2)
    assert np.abs(log_odds).max() < 20                           # no feature blown up by its own tiny spread
    assert train_auroc == pytest.approx(roc_auc_score(labels, log_odds), abs=1e-3)
    assert train_auroc > 0.6                                     # the random encoder's features carry the word


def test_linear_probe_is_skipped_when_the_sample_has_one_class():
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=20, num_labels=2)
    from helpers.clinicllm.models import MeanPooledBertForSequenceClassification

    model = MeanPooledBertForSequenceClassification(config)
    before = model.classifier.weight.detach().clone()
    dataset = [{"input_ids": [2, 7, 8, 3]}] * 10
    assert clinicllm.head_start.start_head_by_linear_probe(model, dataset, np.zeros(10, dtype=int), 8, 0) is None
    assert torch.equal(model.classifier.weight, before)
