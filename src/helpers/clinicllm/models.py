"""BERT models that skip work whose result is never read (same weights, same numbers as the stock models), and two
opt-in shortcuts for fine-tuning steps (straight-through past frozen layers, the top layer at a random share of
positions) that change the gradient, never the predictions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
)
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import eager_attention_forward

from .config import ClinicLLMConfig
from .distributed import _quiet_transformers

__all__ = ['MaskedPositionsBertForMaskedLM', 'ClsOnlyLastLayerBertForSequenceClassification',
           'MeanPooledBertForSequenceClassification', 'CLASSIFIER_INPUTS', 'build_mlm_model', 'random_positions',
           'FineTuningShortcuts', 'pool_by_note']

def _supports_partial_last_layer(config) -> bool:
    """The partial last layer below is written for BERT encoders with eager or SDPA attention."""
    return not config.is_decoder and config._attn_implementation in ("sdpa", "eager")


def _is_frozen(module: torch.nn.Module) -> bool:
    return not any(parameter.requires_grad for parameter in module.parameters())


def _straight_through(layer, hidden: torch.Tensor, mask) -> torch.Tensor:
    """A frozen layer's output, with its backward pass skipped: the gradient reaching the output goes to the input
    unchanged (a straight-through estimator, Bengio et al., 2013) instead of through the layer's Jacobian.

    The forward value is exactly the layer's (``hidden - hidden.detach()`` is zero); only the gradient that reaches
    the embeddings below differs. The layer runs without recording a graph, so neither its activations are kept
    nor its backward computed.
    """
    with torch.no_grad():
        output = layer(hidden, mask)
    return output + (hidden - hidden.detach())


def encode_until_last_layer(bert, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                             straight_through_frozen: bool = False, keep_embeddings: bool = False):
    """Embeddings and every layer but the last; returns the hidden states and the attention mask in BERT's form.

    ``straight_through_frozen``: layers whose weights are all frozen skip their backward pass
    (:func:`_straight_through`).
    """
    hidden = embedded = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids,
                                        position_ids=position_ids, inputs_embeds=inputs_embeds)
    mask, _ = bert._create_attention_masks(attention_mask=attention_mask, encoder_attention_mask=None,
                                           embedding_output=hidden, encoder_hidden_states=None, cache=None)
    for layer in bert.encoder.layer[:-1]:
        skip_backward = straight_through_frozen and _is_frozen(layer)
        hidden = _straight_through(layer, hidden, mask) if skip_backward else layer(hidden, mask)
    return (hidden, mask, embedded) if keep_embeddings else (hidden, mask)


def random_positions(attention_mask: torch.Tensor, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh random ``share`` of each row's real (attention-mask) positions, at least one.

    Returns (positions, selected): positions is batch x m (m the largest count drawn in the batch; a row that draws
    fewer is padded with other positions) and ``selected`` is the batch x m mask of the drawn ones. Draws from
    PyTorch's global generator, which the Trainer seeds and checkpoints, like dropout.
    """
    real = attention_mask.bool()
    counts = real.sum(dim=1)
    drawn = torch.ceil(counts.to(torch.float64) * share).long().clamp(min=1)
    width = int(drawn.max())
    # Real positions get keys in [0, 1), padding 2: sorting puts a random order of the real positions first.
    keys = torch.rand(real.shape, device=real.device).masked_fill(~real, 2.0)
    positions = torch.argsort(keys, dim=1)[:, :width]
    selected = torch.arange(width, device=real.device).unsqueeze(0) < drawn.unsqueeze(1)
    return positions, selected


class FineTuningShortcuts:
    """The training-step shortcuts of ClinicLLMConfig (finetune_frozen_backward, finetune_position_share) on a
    classifier. The trainer sets them on the instance (:func:`helpers.clinicllm.head_start.set_step_shortcuts`); they
    act only in training steps, so evaluation, the linear probe and predictions always read the exact model."""

    straight_through_frozen: bool = False
    train_position_share: float = 1.0   # read by the mean-pooled head only

    def _in_training_step(self) -> bool:
        return self.training and torch.is_grad_enabled()


def last_layer_at(layer, hidden: torch.Tensor, mask, positions: torch.Tensor, attn_implementation: str):
    """The last BERT layer's output at ``positions`` (batch x m indices) only: (batch, m, hidden).

    Keys and values come from every position, as in the full layer; the query, the attention output and the
    feed-forward block are computed for the m requested positions only. The padding mask of a bidirectional
    encoder is the same for every query, so its first row serves all of them.
    """
    attention = layer.attention.self
    batch, length, width = hidden.shape
    m = positions.shape[1]
    selected = torch.gather(hidden, 1, positions.unsqueeze(-1).expand(batch, m, width))
    heads = (-1, attention.attention_head_size)
    query = attention.query(selected).view(batch, m, *heads).transpose(1, 2)
    key = attention.key(hidden).view(batch, length, *heads).transpose(1, 2)
    value = attention.value(hidden).view(batch, length, *heads).transpose(1, 2)
    interface = eager_attention_forward if attn_implementation == "eager" else ALL_ATTENTION_FUNCTIONS["sdpa"]
    context, _ = interface(attention, query, key, value, None if mask is None else mask[:, :, :1, :],
                           dropout=attention.dropout.p if attention.training else 0.0, scaling=attention.scaling)
    attended = layer.attention.output(context.reshape(batch, m, -1), selected)
    return layer.feed_forward_chunk(attended)


class MaskedPositionsBertForMaskedLM(BertForMaskedLM):
    """BertForMaskedLM that computes its last layer and its vocabulary projection only at the masked positions.

    The MLM loss reads the ~15 % of positions that carry a label, yet the stock model runs the last layer and
    projects onto the whole vocabulary at every position. For a small BERT the projection (hidden x vocab per
    token) costs more than the encoder, and the last layer's query, attention output and feed-forward block are
    needed only where the loss looks (keys and values still come from every position). Computing just those
    gives the same loss and gradients for a fraction of the work. The weights are BertForMaskedLM's, and the
    checkpoint is saved under that name so any BERT code can load it. ``logits`` hold the masked positions only,
    in row-major order of ``labels != -100``.
    """

    # The loss is a per-batch mean, like the stock head's: the Trainer must not pass num_items_in_batch.
    accepts_loss_kwargs = False

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, **kwargs):
        kwargs.pop("num_items_in_batch", None)
        if labels is None or kwargs:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds, labels=labels, **kwargs)
        selected = labels != -100
        if _supports_partial_last_layer(self.config):
            hidden, mask = encode_until_last_layer(self.bert, input_ids, attention_mask, token_type_ids,
                                                    position_ids, inputs_embeds)
            counts = selected.sum(dim=1)
            width = int(counts.max())
            # Masked positions of each row first, in ascending order (a stable sort of "not masked").
            positions = torch.sort((~selected).to(torch.int8), dim=1, stable=True).indices[:, :width]
            valid = torch.arange(width, device=labels.device).unsqueeze(0) < counts.unsqueeze(1)
            out = last_layer_at(self.bert.encoder.layer[-1], hidden, mask, positions, self.config._attn_implementation)
            masked_hidden = out[valid]
        else:
            outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids, inputs_embeds=inputs_embeds, return_dict=True)
            masked_hidden = outputs.last_hidden_state[selected]
        logits = self.cls(masked_hidden)
        if logits.shape[0] == 0:
            # No masked token in the batch (possible with very short notes): nothing to learn, zero loss.
            loss = logits.sum() * 0.0
        else:
            loss = F.cross_entropy(logits.float(), labels[selected])
        return MaskedLMOutput(loss=loss, logits=logits)


class ClsOnlyLastLayerBertForSequenceClassification(FineTuningShortcuts, BertForSequenceClassification):
    """BertForSequenceClassification that runs its last layer for the [CLS] position only.

    The classifier reads one vector: the last layer's output at [CLS]. That output needs the last layer's keys and
    values at every position, but its query, attention output and feed-forward block only at [CLS]; the stock model
    computes them at every position and throws all but one away. Skipping them gives the same logits (and the same
    gradients) and saves about 10/12 of the last layer's matrix work: a large share of a 2-layer model, a few
    per cent of BERT-base. The weights are BertForSequenceClassification's and are saved under that name. Set-ups
    it does not cover (flash or flex attention, decoders, regression or multi-label heads) use the stock forward.
    """

    accepts_loss_kwargs = False

    def head_input(self, input_ids, attention_mask) -> torch.Tensor:
        """The vector the classification head reads (before dropout): the pooler's output at [CLS]."""
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).pooler_output

    def _fast_path(self, labels, kwargs) -> bool:
        return (not kwargs and _supports_partial_last_layer(self.config) and self.bert.pooler is not None
                and self.num_labels > 1 and self.config.problem_type in (None, "single_label_classification")
                and (labels is None or labels.dtype in (torch.long, torch.int)))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, **kwargs):
        kwargs.pop("num_items_in_batch", None)
        if not self._fast_path(labels, kwargs):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds, labels=labels, **kwargs)
        hidden, mask = encode_until_last_layer(self.bert, input_ids, attention_mask, token_type_ids, position_ids,
                                                inputs_embeds, straight_through_frozen=self._in_training_step()
                                                and self.straight_through_frozen)
        cls_position = torch.zeros((hidden.shape[0], 1), dtype=torch.long, device=hidden.device)
        cls_output = last_layer_at(self.bert.encoder.layer[-1], hidden, mask, cls_position,
                                    self.config._attn_implementation)
        logits = self.classifier(self.dropout(self.bert.pooler(cls_output)))
        loss = None
        if labels is not None:
            self.config.problem_type = self.config.problem_type or "single_label_classification"
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


class MeanPooledBertForSequenceClassification(FineTuningShortcuts, BertForSequenceClassification):
    """A BERT classifier that reads the mean of the last layer's outputs over the note's tokens, not [CLS] alone.

    The [CLS] vector is only as good as the pretraining that taught it to summarise a note; with short pretraining
    on a few thousand short notes it barely depends on the input, and fine-tuning then settles on the base rate
    (the collapse seen on a structured export). The mean over tokens carries every token's embedding to the
    classifier from the first step, a bag-of-words path that the attention layers refine. The pooler's dense
    layer and tanh and the classifier are BertForSequenceClassification's (same weight names); the checkpoint
    records ``classifier_input: mean`` in its config.json so that loading picks this class again.
    """

    accepts_loss_kwargs = False

    def token_sums(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                   inputs_embeds=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per window, the sum of the last layer's outputs over its tokens and how many tokens were summed
        ((windows, hidden), (windows,)): the two halves of the mean the head reads, kept apart so that the windows
        of a note can be pooled into one mean over all its tokens.

        In a training step with ``train_position_share`` below 1 the sum is over a fresh random share of the
        window's tokens, and the last layer is computed at those positions only (keys and values still come from
        every token): an estimate of the full mean, drawn anew each step like dropout, for about that share of the
        last layer's work.
        """
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device)
        stepping = self._in_training_step()
        first_last = getattr(self.config, "classifier_layers", "last") == "first_last"
        hidden, mask, embedded = encode_until_last_layer(
            self.bert, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            straight_through_frozen=stepping and self.straight_through_frozen, keep_embeddings=True)
        top = self.bert.encoder.layer[-1]
        if stepping and self.train_position_share < 1.0 and _supports_partial_last_layer(self.config):
            positions, selected = random_positions(attention_mask, self.train_position_share)
            hidden = last_layer_at(top, hidden, mask, positions, self.config._attn_implementation)
            if first_last:
                embedded = embedded.gather(1, positions.unsqueeze(-1).expand(-1, -1, embedded.shape[-1]))
            weights = selected.unsqueeze(-1).to(hidden.dtype)
        else:
            hidden = top(hidden, mask)
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        if first_last:
            hidden = 0.5 * (hidden + embedded)
        return (hidden * weights).sum(dim=1), weights.sum(dim=(1, 2))

    def head_from_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The vector the classification head reads (before dropout), from a mean of last-layer outputs: the
        pooler's dense layer and tanh."""
        return self.bert.pooler.activation(self.bert.pooler.dense(mean))

    def head_input(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                   inputs_embeds=None, window_note: torch.Tensor | None = None) -> torch.Tensor:
        """The vector the classification head reads (before dropout): the pooler's dense layer and tanh applied to
        the mean of the last layer over the window's tokens, or, with ``window_note`` (the note of each window),
        over all the tokens of each note's windows (one row per note)."""
        sums, counts = self.token_sums(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        if window_note is not None:
            sums, counts = pool_by_note(sums, counts, window_note)
        return self.head_from_mean(sums / counts.clamp(min=1.0).unsqueeze(-1))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, window_note=None, **kwargs):
        kwargs.pop("num_items_in_batch", None)
        pooled = self.head_input(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                                 window_note=window_note)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels).float(), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def pool_by_note(sums: torch.Tensor, counts: torch.Tensor, window_note: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Add up per-window token sums and counts by note (``window_note``: the note row of each window, 0..n-1)."""
    n_notes = int(window_note.max()) + 1 if window_note.numel() else 0
    note_sums = sums.new_zeros((n_notes, sums.shape[1])).index_add(0, window_note, sums)
    note_counts = counts.new_zeros(n_notes).index_add(0, window_note, counts)
    return note_sums, note_counts


CLASSIFIER_INPUTS = ("cls", "mean")


def load_classifier(path: str | os.PathLike, attention_kernel: str = "sdpa", classifier_input: str | None = None,
                     classifier_layers: str | None = None, **kwargs: Any):
    """A sequence classifier from a local checkpoint.

    BERT checkpoints load as :class:`MeanPooledBertForSequenceClassification` when ``classifier_input`` is "mean"
    (or, when it is None, when the checkpoint's config.json says so), else as the [CLS]-only-last-layer BERT;
    other model types as their stock classifier.
    """
    stored = json.loads((Path(path) / "config.json").read_text())
    reads = classifier_input or stored.get("classifier_input", "cls")
    if stored.get("model_type") != "bert":
        model_class = AutoModelForSequenceClassification
    elif reads == "mean":
        model_class = MeanPooledBertForSequenceClassification
    else:
        model_class = ClsOnlyLastLayerBertForSequenceClassification
    layers = classifier_layers or stored.get("classifier_layers", "last")
    with _quiet_transformers():
        model = model_class.from_pretrained(str(path), local_files_only=True, attn_implementation=attention_kernel,
                                            **kwargs)
    model.config.classifier_input = reads
    model.config.classifier_layers = layers
    return model


def build_mlm_model(config: ClinicLLMConfig, tokenizer, masked_only: bool = True) -> BertForMaskedLM:
    """A randomly initialised BERT for MLM with the configuration's architecture and the tokenizer's vocabulary."""
    config = config.resolved()
    bert_config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.hidden_dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        max_position_embeddings=max(512, config.max_length) if config.preset == "base" else config.max_length,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation=config.attention_kernel,
    )
    torch.manual_seed(config.seed)
    model_class = MaskedPositionsBertForMaskedLM if masked_only else BertForMaskedLM
    with _quiet_transformers():
        return model_class(bert_config)
