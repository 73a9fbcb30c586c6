"""A random mean-pooled classifier saved as a checkpoint, for tests that need a model without training one."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers.clinicllm import build_mlm_model
from helpers.clinicllm.models import load_classifier


def random_mean_classifier(config, tokenizer, folder: Path) -> Path:
    """Save an MLM-initialised encoder with a mean-pooled head to ``folder``; head weights far from zero so that
    notes get different scores. Seeded: the same config and tokenizer give the same weights."""
    torch.manual_seed(0)
    build_mlm_model(config, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model = load_classifier(folder, "sdpa", "mean", num_labels=2)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
        model.bert.pooler.dense.weight.normal_(0, 0.3)
    model.save_pretrained(folder)
    return folder
