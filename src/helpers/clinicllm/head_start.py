"""How fine-tuning starts: which layers are frozen, the shortcuts of a training step, and where a new head starts
(the identity pooler, the base rate or a linear probe, LP-FT)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from .encoding import NoteWindowBags
from .models import FineTuningShortcuts
from .prediction import batched_forward, note_head_inputs

__all__ = ['head_is_new', 'pooler_is_new', 'start_pooler_as_identity', 'start_head_at_base_rate', 'PROBE_MAX_EXAMPLES',
    'start_head_by_linear_probe', 'finetune_dropout_overrides', 'freeze_lower_layers', 'set_step_shortcuts']


def head_is_new(path: str | os.PathLike) -> bool:
    """True when the checkpoint has no classification head yet (an MLM or bare encoder checkpoint)."""
    stored = json.loads((Path(path) / "config.json").read_text())
    return not any("SequenceClassification" in name for name in stored.get("architectures") or [])


def pooler_is_new(path: str | os.PathLike) -> bool:
    """True when the checkpoint has no pooler weights (an MLM checkpoint: BERT's pooler is trained only by
    next-sentence prediction, which this project's pretraining does not do)."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        return False        # another format (e.g. a .bin checkpoint): leave its pooler as loaded
    for file in files:
        with safe_open(str(file), framework="pt") as weights:
            if any(name.endswith("pooler.dense.weight") for name in weights.keys()):
                return False
    return True


def start_pooler_as_identity(model) -> None:
    """Start an untrained pooler's dense layer as the identity, so that the head reads tanh of the encoder's own
    features rather than a random projection of them (and the linear probe fits the encoder's features)."""
    pooler = getattr(getattr(model, "bert", None), "pooler", None)
    dense = getattr(pooler, "dense", None)
    if not isinstance(dense, torch.nn.Linear) or dense.in_features != dense.out_features:
        return
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.in_features, dtype=dense.weight.dtype))
        dense.bias.zero_()


def start_head_at_base_rate(model, prevalence: float) -> None:
    """Start a new classification head at the base rate: zero weights, bias at the log-odds of readmission.

    A randomly initialised head adds input-dependent noise to every logit. On a small cohort with a weak signal the
    quickest way for fine-tuning to lower the loss is then to remove that noise, by flattening the encoder's
    output, and the model collapses to the base rate (constant scores; seen on a structured export and on the
    smoke cohort). Starting from zero weights and the base rate there is no noise to remove: the first gradients
    fit the head to the features (as a linear probe would), and the encoder adapts from there.
    """
    head = getattr(model, "classifier", None)
    if not isinstance(head, torch.nn.Linear) or head.out_features != 2:
        return
    prevalence = min(max(prevalence, 1e-4), 1 - 1e-4)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, math.log(prevalence / (1 - prevalence))], dtype=head.bias.dtype))


PROBE_MAX_EXAMPLES = 8000
"""Training inputs the linear probe reads (a seeded sample when there are more): a forward pass over 8,000 windows
takes seconds on a CPU, and the probe's validation AUROC on the default cohort was the same with 6,000."""


def start_head_by_linear_probe(model, dataset, labels: np.ndarray, batch_size: int, seed: int) -> float | None:
    """LP-FT (Kumar et al., 2022): fit a logistic regression on the frozen features the head reads, and start the
    head there. Returns the probe's training AUROC, or None when the model has no such head (then nothing changes).

    The features are the model's own head input (``head_input``) for the training inputs as epoch 0 presents them
    (for ``windows``, each note's first random window), computed in float32 without dropout, and fitted as they are
    (scikit-learn's L2-penalised logistic regression, C = 1); the two-class head then gives exactly the probe's
    log-odds: logit(readmitted) - logit(not) = w . x + b. The features are not rescaled: a feature that hardly
    varies (the [CLS] vector after a short pretraining) then gets a small weight, where standardising blew such
    weights up to thousands and fine-tuning from there saturated the scores (seen on a toy model).
    """
    from sklearn.linear_model import LogisticRegression

    head = getattr(model, "classifier", None)
    if not hasattr(model, "head_input") or not isinstance(head, torch.nn.Linear) or head.out_features != 2:
        return None
    rng = np.random.default_rng(seed)
    rows = np.arange(len(dataset))
    if len(rows) > PROBE_MAX_EXAMPLES:
        rows = np.sort(rng.choice(rows, PROBE_MAX_EXAMPLES, replace=False))
    if len(np.unique(labels[rows])) < 2:
        return None
    pad_id = model.config.pad_token_id or 0
    was_training = model.training
    model.eval()
    if isinstance(dataset, NoteWindowBags):
        dataset.use_epoch(0)
        owner = np.concatenate([np.full(len(dataset.window_rows(int(i))), k) for k, i in enumerate(rows)])
        inputs = [dataset.windows.input_ids[w] for i in rows for w in dataset.window_rows(int(i))]
        features = note_head_inputs(model, inputs, owner, len(rows), batch_size, pad_id,
                                     label="fine-tuning: linear probe")
    else:
        inputs = [dataset[int(i)]["input_ids"] for i in rows]

        def forward(ids, attention):
            return model.head_input(input_ids=ids, attention_mask=attention).float().cpu().numpy()

        features = np.stack(batched_forward(inputs, batch_size, pad_id, forward, label="fine-tuning: linear probe"))
    model.train(was_training)
    probe = LogisticRegression(C=1.0, max_iter=2000).fit(features, labels[rows])
    weights, bias = probe.coef_[0], float(probe.intercept_[0])
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.weight[1] = torch.as_tensor(weights, dtype=head.weight.dtype)
        head.bias[1] = bias
    return float(roc_auc_score(labels[rows], probe.decision_function(features)))


def finetune_dropout_overrides(dropout: float | None) -> dict[str, float]:
    """BERT config overrides that set every dropout of a classifier (layers and head) to ``dropout``; none for
    None (the checkpoint's own)."""
    return {} if dropout is None else {"hidden_dropout_prob": dropout, "classifier_dropout": dropout}


def freeze_lower_layers(model, n_layers: int | None) -> None:
    """Keep the bottom ``n_layers`` encoder layers at their pretrained weights in fine-tuning.

    Their weight gradients are never computed and they get no optimizer state (the Trainer's optimizer takes only
    parameters that require gradients). The embeddings stay trainable: with the mean-pooled head they carry each
    word's own contribution to the score (freezing them as well cut validation AUROC from 0.65 to 0.60 on the
    default cohort), so the gradient must still reach them: back-propagated through the frozen layers, or passed
    past them unchanged with ``finetune_frozen_backward: straight_through`` (:func:`set_step_shortcuts`).
    """
    if not n_layers:
        return
    encoder = model.base_model
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError(
            f"ClinicLLMConfig.finetune_frozen_layers is {n_layers} but this {type(model).__name__} has no BERT-style "
            "encoder layers to freeze; set finetune_frozen_layers: 0."
        )
    if n_layers >= len(layers):
        raise ValueError(
            f"ClinicLLMConfig.finetune_frozen_layers is {n_layers} but the checkpoint has {len(layers)} layer(s); "
            f"fine-tuning must update at least the top layer, so use at most {len(layers) - 1}."
        )
    for module in layers[:n_layers]:
        module.requires_grad_(False)


def set_step_shortcuts(model, frozen_backward: str, position_share: float) -> None:
    """Turn on ClinicLLMConfig's training-step shortcuts (``finetune_frozen_backward``, ``finetune_position_share``)
    on a classifier that has them: both heads can skip the frozen layers' backward pass, and the mean-pooled head
    can take its top layer at a random share of tokens. Other architectures train exactly."""
    if isinstance(model, FineTuningShortcuts):
        model.straight_through_frozen = frozen_backward == "straight_through"
        model.train_position_share = float(position_share)


