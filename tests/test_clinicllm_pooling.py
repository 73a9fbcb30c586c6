"""Notes read as bags of windows (``window_pooling: features``) and the learning rate per part of the model.

The note-level head is checked against stock transformers' BertModel applied one window at a time (an independent
implementation of the same mean), the bags and their draws against the windows themselves, and the optimizer's
groups against the factors asked for.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertModel

from helpers import clinicllm
from helpers.clinicllm import (
    ClinicLLMConfig,
    NoteWindowBags,
    WindowBagCollator,
    model_part,
    note_token_ids,
    note_windows,
    predict_scores,
    train_tokenizer,
)
from helpers.clinicllm.models import load_classifier  # the loader the pipeline uses, tested where it is defined
from classifier_checkpoints import random_mean_classifier
from test_clinicllm_windows import long_notes, toy_config


@pytest.fixture(scope="module")
def notes():
    return long_notes()


@pytest.fixture(scope="module")
def tokenizer(notes, tmp_path_factory):
    return train_tokenizer(notes["note_text"].tolist(), 200, tmp_path_factory.mktemp("tok") / "tokenizer")


@pytest.fixture(scope="module")
def windows(notes, tokenizer):
    return note_windows(note_token_ids(tokenizer, notes["note_text"].tolist()), 16, None, tokenizer.cls_token_id,
                        tokenizer.sep_token_id)


@pytest.fixture(scope="module")
def classifier_dir(tokenizer, tmp_path_factory):
    """A random mean-pooled classifier saved as a checkpoint (weights far from zero so that notes differ)."""
    config = toy_config(classifier_input="mean", window_pooling="features").resolved()
    return random_mean_classifier(config, tokenizer, tmp_path_factory.mktemp("model") / "mean")


def test_a_bag_holds_every_window_of_its_note_in_order(windows):
    bags = NoteWindowBags(windows, labels=np.arange(windows.n_notes) % 2)
    for note in (0, 7, windows.n_notes - 1):
        own = np.flatnonzero(windows.note_index == note)
        item = bags[note]
        assert item["input_ids"] == [windows.input_ids[w].tolist() for w in own]
        assert item["labels"] == note % 2
    assert len(bags) == windows.n_notes


def test_a_capped_bag_draws_distinct_windows_in_reading_order_by_seed_epoch_and_note(windows):
    long_note = int(np.argmax(windows.windows_per_note))
    assert windows.windows_per_note[long_note] >= 3
    bags, again = NoteWindowBags(windows, seed=5, max_windows=2), NoteWindowBags(windows, seed=5, max_windows=2)
    own = np.flatnonzero(windows.note_index == long_note)
    drawn = []
    for epoch in range(6):
        bags.use_epoch(epoch)
        again.use_epoch(epoch)
        rows = bags.window_rows(long_note)
        assert len(rows) == 2 and len(set(rows)) == 2 and (np.diff(rows) > 0).all()
        assert set(rows) <= set(own)
        assert rows.tolist() == again.window_rows(long_note).tolist()     # same seed, epoch and note: same draw
        drawn.append(tuple(rows))
    assert len(set(drawn)) > 1                                             # the epochs draw anew
    short_note = int(np.argmin(windows.windows_per_note))
    assert bags.window_rows(short_note).tolist() == np.flatnonzero(windows.note_index == short_note).tolist()


def test_the_collator_flattens_windows_and_says_whose_they_are(windows, tokenizer):
    bags = NoteWindowBags(windows, labels=np.zeros(windows.n_notes, dtype=int))
    items = [bags[i] for i in (3, 0, 11)]
    batch = WindowBagCollator(tokenizer.pad_token_id)(items)
    sizes = [len(item["input_ids"]) for item in items]
    assert batch["window_note"].tolist() == sum(([k] * n for k, n in enumerate(sizes)), [])
    assert batch["input_ids"].shape[0] == sum(sizes) and batch["input_ids"].shape[1] % 8 == 0
    assert batch["labels"].tolist() == [0, 0, 0]
    first = items[0]["input_ids"][0]
    assert batch["input_ids"][0, :len(first)].tolist() == first
    assert batch["attention_mask"][0].sum().item() == len(first)
    assert (batch["input_ids"][0, len(first):] == tokenizer.pad_token_id).all()


def test_the_note_head_reads_the_mean_over_all_its_tokens(classifier_dir, windows, tokenizer):
    model = load_classifier(classifier_dir, "sdpa", "mean").eval()
    encoder = BertModel.from_pretrained(str(classifier_dir), add_pooling_layer=False).eval()
    bags = NoteWindowBags(windows)
    items = [bags[i] for i in (2, 5)]
    batch = WindowBagCollator(tokenizer.pad_token_id)(items)
    with torch.no_grad():
        pooled = model.head_input(batch["input_ids"], batch["attention_mask"], window_note=batch["window_note"])
        expected = []
        for item in items:
            states = [encoder(torch.tensor([ids])).last_hidden_state[0] for ids in item["input_ids"]]
            mean = torch.cat(states).mean(dim=0)      # every token of every window, [CLS]/[SEP] included
            expected.append(torch.tanh(model.bert.pooler.dense(mean)))
    assert pooled.shape == (2, model.config.hidden_size)
    torch.testing.assert_close(pooled, torch.stack(expected), rtol=1e-4, atol=1e-5)
    # one window: the same as the window's own head input
    single = WindowBagCollator(tokenizer.pad_token_id)([{"input_ids": items[0]["input_ids"][:1]}])
    with torch.no_grad():
        torch.testing.assert_close(
            model.head_input(single["input_ids"], single["attention_mask"], window_note=single["window_note"]),
            model.head_input(single["input_ids"], single["attention_mask"]))


def test_feature_pooled_predictions_equal_the_model_on_whole_notes(classifier_dir, notes, tokenizer):
    config = toy_config(classifier_input="mean", window_pooling="features")
    frame = notes.iloc[:12]
    scores = predict_scores(classifier_dir, tokenizer, frame, config)
    model = load_classifier(classifier_dir, "sdpa", "mean").eval()
    note_windows_ = note_windows(note_token_ids(tokenizer, frame["note_text"].tolist()), 16, None,
                                 tokenizer.cls_token_id, tokenizer.sep_token_id)
    batch = WindowBagCollator(tokenizer.pad_token_id)([NoteWindowBags(note_windows_)[i] for i in range(len(frame))])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       window_note=batch["window_note"]).logits
    np.testing.assert_allclose(scores, torch.softmax(logits, -1)[:, 1].numpy(), rtol=1e-4, atol=1e-6)
    assert np.std(scores) > 1e-3                     # the notes are told apart


def test_feature_pooling_needs_the_mean_head():
    with pytest.raises(ValueError, match="classifier_input"):
        ClinicLLMConfig(window_pooling="features", classifier_input="cls")
    with pytest.raises(ValueError, match="train_windows_per_note"):
        ClinicLLMConfig(train_windows_per_note=0)


@pytest.mark.parametrize("name, part", [
    ("bert.embeddings.word_embeddings.weight", "embeddings"), ("bert.embeddings.LayerNorm.bias", "encoder"),
    ("bert.embeddings.position_embeddings.weight", "encoder"),
    ("bert.encoder.layer.1.output.dense.weight", "encoder"), ("bert.pooler.dense.weight", "head"),
    ("classifier.bias", "head"),
])
def test_model_parts(name, part):
    assert model_part(name) == part


def test_each_part_gets_its_own_learning_rate(classifier_dir, notes, tokenizer, tmp_path):
    from transformers import TrainingArguments

    model = load_classifier(classifier_dir, "sdpa", "mean")
    clinicllm.freeze_lower_layers(model, 0)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-4, weight_decay=0.01, report_to="none",
                             use_cpu=True, max_steps=10, warmup_steps=0.0, lr_scheduler_type="linear")
    trainer = clinicllm.ClinicTrainer(model=model, args=args, lr_factors={"embeddings": 30, "head": 5})
    optimizer = trainer.create_optimizer()
    lr_of = {}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            lr_of[id(parameter)] = (group["lr"], group["weight_decay"])
    for name, parameter in model.named_parameters():
        expected = 1e-4 * {"embeddings": 30, "head": 5, "encoder": 1}[model_part(name)]
        assert lr_of[id(parameter)][0] == pytest.approx(expected), name
    # decay groups are kept: biases and LayerNorm weights are not decayed
    assert lr_of[id(model.bert.embeddings.LayerNorm.weight)][1] == 0.0
    assert lr_of[id(model.bert.embeddings.word_embeddings.weight)][1] == 0.01
    assert sum(len(g["params"]) for g in optimizer.param_groups) == sum(1 for _ in model.parameters())
    # the schedule scales every group alike: halfway through a linear decay each group is at half its peak
    scheduler = trainer.create_scheduler(10, optimizer)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    for group in optimizer.param_groups:
        assert group["lr"] == pytest.approx(group["initial_lr"] * 0.5)
