"""ClinicLLM's settings: the presets, the configuration and which stage reads which field."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.contracts import EVALUATION_SPLITS

__all__ = ['MODEL_NAME', 'PRESETS', 'SPECIAL_TOKENS', 'DATA_COLUMNS', 'PREDICTED_SPLITS', 'CONFIG_FILE',
    'HISTORY_FILE', 'PRESET_DEFAULTS', 'ARCHITECTURE_FIELDS', 'ClinicLLMConfig', 'TOKENIZER_FIELDS',
    'READING_FIELDS', 'POOLING_FIELDS',
    'PRETRAIN_FIELDS', 'FINETUNE_FIELDS', 'PREDICT_FIELDS', 'DATA_SELECTION_FIELDS', 'SPEED_ONLY_FIELDS',
    'bf16_supported', 'NumberFormatDecision', 'cpu_flags', 'cpu_bf16_decision', 'number_format_decision']

MODEL_NAME = "clinicllm"
PRESETS = ("tiny", "base", "pretrained")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DATA_COLUMNS = ["admission_id", "patient_id", "hospital", "note_text", "readmitted_30d", "split"]
PREDICTED_SPLITS = EVALUATION_SPLITS  # the model scores validation (selection) and both tests
CONFIG_FILE = "clinicllm_config.json"
HISTORY_FILE = "history.csv"

# Architecture and schedule defaults per preset; a field left at None in ClinicLLMConfig takes its preset's value.
# tiny: the recipe that learned most within the CPU budget of chapters 1-2 on the default cohort (the search, its
# measurements and the rejected leads are in benchmarks/RESULTS.md; chapter 2's compute curve shows the trade-off):
# every window of a note read in each training step and pooled before the head, 2 epochs (the same AUROC as 2
# random windows for 5 epochs, in 30 % less time), word embeddings and head at 30 times the encoder's learning rate,
# a narrow encoder (64 wide), and a short pretraining (longer ones did not raise validation AUROC at this budget).
# base: BERT-base as in NYUTron/ClinicLLM (12 x 768, 12 heads, 3072 feed-forward, vocabulary 50k, 512 tokens).
PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "tiny": {
        "max_length": 128,
        "vocab_size": 8000,
        "hidden_size": 64,
        "num_layers": 2,
        "num_heads": 2,
        "intermediate_size": 256,
        "hidden_dropout": 0.1,
        "attention_dropout": 0.0,
        "pretrain_epochs": 3.0,
        "pretrain_max_steps": 400,
        "pretrain_learning_rate": 1e-3,
        "pretrain_batch_size": 32,
        "train_windows_per_note": None,
        "finetune_epochs": 2.0,
        "finetune_max_steps": None,
        "finetune_min_steps": 600,
        "finetune_learning_rate": 1e-4,
        "finetune_embedding_lr_factor": 30.0,
        "finetune_head_lr_factor": 30.0,
        "finetune_batch_size": 32,
        "finetune_frozen_layers": 1,
        "finetune_dropout": 0.0,
        "finetune_frozen_backward": "straight_through",
        "finetune_position_share": 0.5,
        "eval_batch_size": 128,
        "evals_per_epoch": 1,
    },
    "base": {
        "max_length": 512,
        "vocab_size": 50000,
        "hidden_size": 768,
        "num_layers": 12,
        "num_heads": 12,
        "intermediate_size": 3072,
        "hidden_dropout": 0.1,
        "attention_dropout": 0.1,
        "pretrain_epochs": 3.0,
        "pretrain_max_steps": None,
        "pretrain_learning_rate": 1e-4,
        "pretrain_batch_size": 32,
        "finetune_epochs": 10.0,
        "finetune_max_steps": None,
        "finetune_learning_rate": 2e-5,
        "finetune_batch_size": 32,
        "finetune_frozen_layers": 0,
        "finetune_dropout": 0.1,
        "finetune_frozen_backward": "exact",
        "finetune_position_share": 1.0,
        "eval_batch_size": 128,
        "evals_per_epoch": 1,
    },
    # Architecture comes from the checkpoint; only the schedule has defaults (NYUTron's fine-tuning lr).
    "pretrained": {
        "max_length": 512,
        "pretrain_epochs": 0.0,
        "pretrain_max_steps": None,
        "pretrain_learning_rate": 1e-4,
        "pretrain_batch_size": 32,
        "finetune_epochs": 10.0,
        "finetune_max_steps": None,
        "finetune_learning_rate": 2e-5,
        "finetune_batch_size": 32,
        "finetune_frozen_layers": 0,
        "finetune_frozen_backward": "exact",
        "finetune_position_share": 1.0,
        "eval_batch_size": 128,
        "evals_per_epoch": 1,
    },
}
ARCHITECTURE_FIELDS = (
    "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "hidden_dropout", "attention_dropout",
)


# --------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ClinicLLMConfig:
    """Every setting of the ClinicLLM chapter, as flat scalars so that a params YAML can set each by name.

    Fields left at ``None`` take the value of the preset (:data:`PRESET_DEFAULTS`); :meth:`resolved` returns the
    configuration with every such field filled in, which is what is saved beside the model.
    """

    preset: str = "tiny"
    """"tiny" (CPU default), "base" (BERT-base at 512 tokens: the study's scale, for a GPU) or "pretrained"."""
    pretrained_path: str | None = None
    """A local Hugging Face BERT checkpoint directory with its tokenizer (preset "pretrained" only). It replaces
    tokenizer training and MLM pretraining; nothing is ever downloaded."""
    max_length: int | None = None
    """Input token limit, [CLS] and [SEP] included: the length of a window (the study's model reads 512 tokens).
    With ``note_reading: head`` longer notes lose their end (the tokenization report says how many)."""
    note_reading: str = "windows"
    """"windows": the whole note, cut into windows of max_length tokens that never cross notes; training draws one
    window per note per epoch at random (an epoch costs what it costs with "head"), validation and predictions
    score every window and pool the scores per note (window_pooling). "head": the first max_length tokens only."""
    window_stride: int | None = None
    """Content tokens between the starts of a note's windows; None = max_length - 2 (windows side by side, no
    overlap). A smaller stride overlaps windows (more windows to score, each fact seen with more context)."""
    window_pooling: str | None = None
    """How a note's windows become its score (None: "features" for the mean head, "clinicalbert" for the [CLS]
    head): "features" (the mean of the last layer over all the note's tokens,
    every window together, is what the head reads, in training as in predictions; classifier_input: mean), or the
    window scores combined: "clinicalbert" (Huang et al., 2019: (p_max + p_mean n/c) / (1 + n/c) over its n
    windows), "mean" or "max" (then training reads one random window per note per epoch)."""
    classifier_input: str = "mean"
    """What the classification head reads: "mean" (the mean of the last layer over the window's tokens) or "cls"
    (BERT's [CLS] vector, the last layer computed at [CLS] only: faster). MLM pretraining never trains [CLS] (it
    is never masked), and after a short pretraining its vector barely depends on the note (standard deviation
    across notes 0.02 against a scale of 1 on the structured-notes fixture), so the head has almost nothing to read;
    the mean carries every token from the first step."""
    classifier_layers: str = "last"
    """Which layers the mean-pooled head averages over the tokens: "last" (the top layer) or "first_last" (the
    mean of the embedding output and the top layer, token by token, as in first-last-average pooling)."""
    head_init: str = "linear_probe"
    """How a new classification head starts: "linear_probe" (LP-FT, Kumar et al., 2022: a logistic regression fitted
    on the pretrained encoder's frozen features of up to 8,000 training inputs sets the head, then fine-tuning
    updates the model, apart from any finetune_frozen_layers) or "base_rate" (zero weights, bias at the log-odds of
    readmission). Measured on the default cohort (2026-11-30): the frozen features alone gave validation AUROC 0.64,
    while fine-tuning from a base-rate head stayed between 0.47 and 0.63 depending on the seed and number format;
    starting from the probe's head, fine-tuning begins where the probe ends instead of having to find the signal
    through a zero head."""
    train_windows_per_note: int | None = None
    """With window_pooling "features": at most this many windows of a note, drawn at random per epoch, in a
    training step (None = all of them; tiny: 2). Validation and predictions always read every window."""
    window_pooling_c: float = 2.0
    """The constant c of the ClinicalBERT pooling (2 in the paper): the larger, the more weight on the maximum."""
    vocab_size: int | None = None
    """WordPiece vocabulary size of the tokenizer trained on the training notes (NYUTron: 50k)."""
    hidden_size: int | None = None
    """Width of the transformer (BERT-base: 768)."""
    num_layers: int | None = None
    """Number of transformer layers (BERT-base: 12)."""
    num_heads: int | None = None
    """Attention heads per layer; must divide hidden_size (BERT-base: 12)."""
    intermediate_size: int | None = None
    """Width of the feed-forward block (BERT-base: 3072)."""
    hidden_dropout: float | None = None
    """Dropout on embeddings and layer outputs (BERT: 0.1)."""
    attention_dropout: float | None = None
    """Dropout on attention probabilities (BERT: 0.1). The tiny preset uses 0, which lets PyTorch use its fused
    attention kernel on CPU."""
    mlm_probability: float = 0.15
    """Share of tokens masked in MLM pretraining (BERT and NYUTron: 15 %)."""
    pretrain_epochs: float | None = None
    """Passes over the training notes in MLM pretraining (0 skips pretraining: the encoder stays random)."""
    pretrain_max_steps: int | None = None
    """Cap on pretraining optimizer steps (overrides pretrain_epochs when it is reached first); None = no cap."""
    pretrain_min_steps: int | None = None
    """Least number of pretraining steps: a small cohort gets more passes over its notes (never more than
    pretrain_max_steps); None = no minimum."""
    pretrain_learning_rate: float | None = None
    """Peak learning rate of MLM pretraining (linear warm-up then linear decay)."""
    pretrain_batch_size: int | None = None
    """Notes per pretraining batch, per device."""
    finetune_epochs: float | None = None
    """Maximum passes over the training admissions in fine-tuning; early stopping may end it sooner."""
    finetune_max_steps: int | None = None
    """Cap on fine-tuning optimizer steps; None = no cap."""
    finetune_min_steps: int | None = None
    """Least number of fine-tuning steps: a small cohort gets more epochs (early stopping on validation AUROC still
    ends a run that stops improving); None = no minimum."""
    finetune_learning_rate: float | None = None
    """Peak fine-tuning learning rate (NYUTron, BERT-base: 2e-5; a tiny model needs a larger one)."""
    finetune_batch_size: int | None = None
    """Admissions per fine-tuning batch, per device."""
    finetune_embedding_lr_factor: float | None = None
    """The embeddings' peak fine-tuning learning rate as a multiple of finetune_learning_rate (1 = the same)."""
    finetune_head_lr_factor: float | None = None
    """The head's (pooler and classifier) peak fine-tuning learning rate as a multiple of finetune_learning_rate."""
    finetune_frozen_layers: int | None = None
    """Bottom encoder layers whose weights fine-tuning leaves as pretrained (the embeddings and the layers above are
    still trained); 0 = every weight is updated (BERT's recipe, the base preset). A frozen layer needs no weight
    gradients and no optimizer state. The tiny preset freezes its bottom layer (never the top one, so a one-layer
    model freezes none)."""
    finetune_dropout: float | None = None
    """Dropout on embeddings, layer outputs and the head while fine-tuning; None = the checkpoint's (pretrained
    preset). The tiny preset uses 0: one short epoch from a probed head needs no regularising, and drawing dropout
    masks takes about 15 % of a CPU step (benchmarks/bench_training.py profiles it)."""
    finetune_frozen_backward: str | None = None
    """How the gradient reaches the embeddings past the frozen bottom layers: "exact" (back-propagated through them,
    BERT's recipe and the base preset's) or "straight_through" (their backward pass is skipped and the gradient at
    their output is passed to their input unchanged; their output, and so every prediction, is the same). The tiny
    preset uses straight_through: with one frozen layer of two, float32 fine-tuning ran x1.23 faster than with the
    exact backward (benchmarks/bench_training.py), and validation AUROC on the default cohort moved by 0.003 or
    less (the measurements above PRESET_DEFAULTS)."""
    finetune_position_share: float | None = None
    """Share of a window's tokens at which a fine-tuning step computes the top layer and averages it for the
    mean-pooled head (classifier_input: mean), drawn at random anew every step, like dropout; keys and values still
    come from every token, and evaluation and predictions read them all. 1 = every token (base and pretrained
    presets). The tiny preset uses 0.5: x1.16 on a float32 step, and validation AUROC within 0.013 of every
    token's over three seeds (the measurements above PRESET_DEFAULTS); 1 gives the exact top layer back."""
    eval_batch_size: int | None = None
    """Notes per batch when scoring (validation during fine-tuning, and predictions)."""
    warmup_ratio: float = 0.06
    """Share of each training run spent warming the learning rate up from 0."""
    weight_decay: float = 0.01
    """AdamW weight decay, both stages."""
    evals_per_epoch: int | None = None
    """Validation AUROC evaluations per fine-tuning epoch (each one a candidate checkpoint)."""
    early_stopping_patience: int | None = 3
    """Stop fine-tuning after this many evaluations without a better validation AUROC; None = never stop early."""
    logging_steps: int = 10
    """Training loss is recorded in the histories every this many steps."""
    checkpoint_steps: int | None = None
    """Save a resumable pretraining checkpoint every this many steps (worth it for long GPU runs); None = none."""
    max_train_samples: int | None = None
    """Use at most this many training admissions (seeded sample) in every stage: a cap for smoke runs."""
    max_eval_samples: int | None = None
    """Use at most this many validation admissions for model selection (predictions still cover them all)."""
    bf16: bool | None = None
    """bfloat16 autocast in training; None = on when the GPU or CPU supports bfloat16 natively."""
    num_threads: int | None = None
    """PyTorch CPU threads per process; None = the machine's cores divided by the number of local processes."""
    attention_kernel: str | None = None
    """"sdpa" (PyTorch's fused attention) or "eager" (plain matrix products); both give the same numbers. None =
    the faster one here: eager for bfloat16 on a CPU (the fused CPU kernel's backward is slow in bfloat16),
    sdpa elsewhere."""
    seed: int = 0
    """Seed of weight initialisation, masking, batch order and subsampling."""

    def __post_init__(self) -> None:
        # each check names the field, its value and the fix
        self._check_source()
        self._check_architecture()
        self._check_schedule()
        self._check_reading()
        self._check_runtime()

    def _check_source(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"ClinicLLMConfig.preset is {self.preset!r}; choose one of {list(PRESETS)}.")
        if self.preset == "pretrained":
            if not self.pretrained_path:
                raise ValueError(
                    "ClinicLLMConfig.pretrained_path is empty but preset is 'pretrained'; give the local directory "
                    "of a Hugging Face BERT checkpoint that holds config.json, the weights and its tokenizer."
                )
            checkpoint = Path(self.pretrained_path)
            if not (checkpoint / "config.json").is_file():
                raise ValueError(
                    f"ClinicLLMConfig.pretrained_path {str(checkpoint)!r} has no config.json; point it at a local "
                    "checkpoint directory (as written by save_pretrained), never at a hub model name: nothing is "
                    "downloaded."
                )
            positions = json.loads((checkpoint / "config.json").read_text()).get("max_position_embeddings")
            if positions and self._value("max_length") > positions:
                raise ValueError(
                    f"ClinicLLMConfig.max_length is {self._value('max_length')} but the checkpoint at "
                    f"{str(checkpoint)!r} reads at most {positions} tokens; set max_length to {positions} or less."
                )
        elif self.pretrained_path:
            raise ValueError(
                f"ClinicLLMConfig.pretrained_path is set but preset is {self.preset!r}; set preset: pretrained to "
                "start from that checkpoint, or remove pretrained_path to train the tokenizer and model here."
            )

    def _check_architecture(self) -> None:
        _check_positive_int(self, "max_length", minimum=8)
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
            _check_positive_int(self, name)
        if self.vocab_size is not None and self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(
                f"ClinicLLMConfig.vocab_size is {self.vocab_size}; it must leave room for the {len(SPECIAL_TOKENS)} "
                "special tokens and the characters of the notes (use at least a few hundred)."
            )
        hidden, heads = self._value("hidden_size"), self._value("num_heads")
        if self.preset != "pretrained" and hidden % heads != 0:
            raise ValueError(
                f"ClinicLLMConfig.hidden_size ({hidden}) must be divisible by num_heads ({heads}); e.g. hidden_size "
                f"{heads * max(1, round(hidden / heads))} or another head count."
            )
        if self.preset == "base" and self._value("max_length") > 512:
            raise ValueError(
                f"ClinicLLMConfig.max_length is {self.max_length} but BERT-base reads at most 512 tokens; "
                "use 512 or less."
            )
        for name in ("hidden_dropout", "attention_dropout", "finetune_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"ClinicLLMConfig.{name} is {value}; a dropout rate must lie in [0, 1).")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(
                f"ClinicLLMConfig.mlm_probability is {self.mlm_probability}; it must lie strictly between 0 and 1 "
                "(BERT uses 0.15)."
            )
        if self.finetune_frozen_backward not in (None, "exact", "straight_through"):
            raise ValueError(
                f"ClinicLLMConfig.finetune_frozen_backward is {self.finetune_frozen_backward!r}; use 'exact' "
                "(back-propagate through the frozen layers) or 'straight_through' (skip their backward pass)."
            )
        share = self.finetune_position_share
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                                  or not 0.0 < share <= 1.0):
            raise ValueError(
                f"ClinicLLMConfig.finetune_position_share is {share!r}; it must lie in (0, 1] (1 = the top layer at "
                "every token, the tiny preset uses 0.5)."
            )

    def _check_schedule(self) -> None:
        for name in ("pretrain_epochs", "finetune_epochs"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value < 0):
                raise ValueError(f"ClinicLLMConfig.{name} is {value}; give a non-negative number of epochs.")
        if self.finetune_epochs is not None and self.finetune_epochs == 0:
            raise ValueError("ClinicLLMConfig.finetune_epochs is 0; fine-tuning needs at least a fraction of an epoch.")
        for name in ("pretrain_learning_rate", "finetune_learning_rate"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value <= 0):
                raise ValueError(f"ClinicLLMConfig.{name} is {value}; a learning rate must be a positive number.")
        for name in ("pretrain_batch_size", "finetune_batch_size", "eval_batch_size", "evals_per_epoch",
                     "logging_steps", "pretrain_max_steps", "finetune_max_steps", "pretrain_min_steps",
                     "finetune_min_steps", "checkpoint_steps",
                     "max_train_samples", "max_eval_samples", "num_threads", "early_stopping_patience"):
            _check_positive_int(self, name)
        _check_positive_int(self, "finetune_frozen_layers", minimum=0)
        frozen, layers = self.finetune_frozen_layers, self._value("num_layers")
        if frozen is not None and layers is not None and frozen >= layers:
            raise ValueError(
                f"ClinicLLMConfig.finetune_frozen_layers is {frozen} but the model has {layers} layer(s); fine-tuning "
                f"must update at least the top layer, so use at most {layers - 1} (0 = update every layer)."
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"ClinicLLMConfig.warmup_ratio is {self.warmup_ratio}; it must lie in [0, 1).")
        if not np.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"ClinicLLMConfig.weight_decay is {self.weight_decay}; it must be non-negative.")

    def _check_reading(self) -> None:
        if self.note_reading not in ("head", "windows"):
            raise ValueError(
                f"ClinicLLMConfig.note_reading is {self.note_reading!r}; use 'head' (first max_length tokens) or "
                "'windows' (the whole note in windows of max_length tokens)."
            )
        if self.classifier_input not in ("cls", "mean"):
            raise ValueError(
                f"ClinicLLMConfig.classifier_input is {self.classifier_input!r}; use 'cls' or 'mean' (mean of the "
                "last layer over the tokens)."
            )
        if self.head_init not in ("linear_probe", "base_rate"):
            raise ValueError(
                f"ClinicLLMConfig.head_init is {self.head_init!r}; use 'linear_probe' (a logistic regression on the "
                "frozen features sets the head) or 'base_rate' (zero weights, bias at the base rate)."
            )
        if self.window_pooling not in (None, "clinicalbert", "mean", "max", "features"):
            raise ValueError(
                f"ClinicLLMConfig.window_pooling is {self.window_pooling!r}; use 'features', 'clinicalbert', 'mean' "
                "or 'max'."
            )
        if self.window_pooling == "features" and self.classifier_input != "mean":
            raise ValueError(
                "ClinicLLMConfig.window_pooling is 'features', which pools the windows' token means into one note "
                f"vector, but classifier_input is {self.classifier_input!r}; use classifier_input: mean, or a score "
                "pooling ('clinicalbert', 'mean', 'max') with the [CLS] head."
            )
        _check_positive_int(self, "train_windows_per_note")
        if (isinstance(self.window_pooling_c, bool) or not isinstance(self.window_pooling_c, (int, float))
                or not np.isfinite(self.window_pooling_c) or self.window_pooling_c <= 0):
            raise ValueError(
                f"ClinicLLMConfig.window_pooling_c is {self.window_pooling_c!r}; use a positive number "
                "(ClinicalBERT: 2)."
            )
        _check_positive_int(self, "window_stride")
        if self.window_stride is not None and self.window_stride > self._value("max_length") - 2:
            raise ValueError(
                f"ClinicLLMConfig.window_stride is {self.window_stride}; it must be at most max_length - 2 = "
                f"{self._value('max_length') - 2}, or windows would skip tokens (null = side by side)."
            )

    def _check_runtime(self) -> None:
        if self.attention_kernel not in (None, "sdpa", "eager"):
            raise ValueError(
                f"ClinicLLMConfig.attention_kernel is {self.attention_kernel!r}; use 'sdpa', 'eager' or null (auto)."
            )
        if self.bf16 is not None and not isinstance(self.bf16, bool):
            raise ValueError(f"ClinicLLMConfig.bf16 is {self.bf16!r}; use true, false or null (auto).")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"ClinicLLMConfig.seed is {self.seed!r}; use a non-negative integer.")

    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:
            value = PRESET_DEFAULTS[self.preset].get(name)
        return value

    def resolved(self) -> ClinicLLMConfig:
        """This configuration with every preset-dependent field filled in (and bf16 decided for this machine)."""
        values = {f.name: self._value(f.name) for f in dataclasses.fields(self)}
        if values["bf16"] is None:
            values["bf16"] = bf16_supported()
        if self.finetune_frozen_layers is None and values["num_layers"] is not None:
            # The preset's frozen layers never include the top one (a one-layer model freezes nothing).
            values["finetune_frozen_layers"] = min(values["finetune_frozen_layers"], values["num_layers"] - 1)
        if values["window_pooling"] is None:
            values["window_pooling"] = "features" if values["classifier_input"] == "mean" else "clinicalbert"
        if values["attention_kernel"] is None:
            values["attention_kernel"] = "eager" if values["bf16"] and not torch.cuda.is_available() else "sdpa"
        return ClinicLLMConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_parameters(cls, options: dict[str, Any] | None, **parameters: Any) -> ClinicLLMConfig:
        """Chapter 2's configuration: the fields it has as parameters of their own plus ``clinicllm_options``.

        A field given in both places is an error (which one would win is not obvious to the reader of the params
        file), and so is an unknown field.
        """
        options = dict(options or {})
        repeated = sorted(set(options) & set(parameters))
        if repeated:
            raise ValueError(
                f"clinicllm_options sets {repeated}, which chapter 2 also takes as parameter(s) of its own; set "
                f"{repeated[0]} once, as its own parameter (e.g. --set 02.{repeated[0]}=...) and not inside "
                "clinicllm_options."
            )
        return cls.from_dict({**parameters, **options})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClinicLLMConfig:
        """Build from a mapping (a params YAML section or a saved JSON), naming any unknown key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown ClinicLLMConfig field(s) {unknown}; valid fields are {sorted(known)}."
            )
        return cls(**values)


def _check_positive_int(config: ClinicLLMConfig, name: str, minimum: int = 1) -> None:
    value = getattr(config, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"ClinicLLMConfig.{name} is {value!r}; it must be an integer of at least {minimum} (or null).")


def _config_part(config: ClinicLLMConfig, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(config, name) for name in names}



# Which configuration fields each stage reads. The cache key of a stage hashes exactly these (plus the keys of the
# stages it builds on and a fingerprint of its input data), so a change re-runs only the stages that depend on it.
TOKENIZER_FIELDS = ("preset", "pretrained_path", "vocab_size")
READING_FIELDS = ("note_reading", "window_stride")
POOLING_FIELDS = ("window_pooling", "window_pooling_c")
PRETRAIN_FIELDS = READING_FIELDS + (
    "max_length", "hidden_size", "num_layers", "num_heads", "intermediate_size", "hidden_dropout",
    "attention_dropout", "mlm_probability", "pretrain_epochs", "pretrain_max_steps", "pretrain_min_steps",
    "pretrain_learning_rate",
    "pretrain_batch_size", "warmup_ratio", "weight_decay", "logging_steps", "bf16",
)
FINETUNE_FIELDS = READING_FIELDS + POOLING_FIELDS + ("classifier_input", "classifier_layers", "head_init") + (
    "max_length", "finetune_epochs", "finetune_max_steps", "finetune_min_steps", "finetune_learning_rate",
    "finetune_batch_size", "finetune_embedding_lr_factor", "finetune_head_lr_factor", "finetune_frozen_layers", "finetune_dropout", "finetune_frozen_backward",
    "finetune_position_share", "train_windows_per_note",
    "warmup_ratio", "weight_decay", "evals_per_epoch", "early_stopping_patience", "logging_steps",
    "bf16",
)
PREDICT_FIELDS = READING_FIELDS + POOLING_FIELDS + ("max_length",)
# Fields that choose the rows a stage reads: they enter its key through the fingerprint of those rows.
DATA_SELECTION_FIELDS = ("max_train_samples", "max_eval_samples", "seed")
# Fields that change how fast a stage runs, never what it produces.
SPEED_ONLY_FIELDS = ("num_threads", "checkpoint_steps", "eval_batch_size", "attention_kernel")



# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) at which bfloat16 matrix products still run on bfloat16 instructions.
_BF16_ONEDNN_ISAS = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "ALL",
                     "DEFAULT"}


@dataclass(frozen=True)
class NumberFormatDecision:
    """Whether automatic bfloat16 is on here, and why, in words for chapter 2's configuration table."""

    bf16: bool
    reason: str


def cpu_flags() -> set[str]:
    """The processor's feature flags as Linux reports them (/proc/cpuinfo ``flags`` on x86, ``Features`` on Arm);
    empty where they cannot be read (another operating system)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def cpu_bf16_decision(flags: set[str], onednn_max_isa: str | None = None) -> NumberFormatDecision:
    """Automatic bfloat16 on a CPU: on only with native bfloat16 instructions (AVX512_BF16 or AMX-BF16).

    An AVX-512 processor without them makes oneDNN *emulate* bfloat16 (torch's mkldnn check still says
    "supported"), which is several times slower than float32, so it stays off there; so it does when
    ONEDNN_MAX_CPU_ISA caps oneDNN below its bfloat16 instructions.
    """
    native = [name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512_BF16")) if flag in flags]
    if not native:
        if "avx512f" in flags:
            return NumberFormatDecision(False, "float32: this CPU has AVX-512 but no AVX512_BF16 or AMX-BF16, so "
                                               "bfloat16 would only be emulated (several times slower)")
        return NumberFormatDecision(False, "float32: this CPU has no native bfloat16 instructions (AVX512_BF16 or "
                                           "AMX-BF16)")
    cap = (onednn_max_isa or "").strip().upper()
    if cap and cap not in _BF16_ONEDNN_ISAS:
        return NumberFormatDecision(False, f"float32: the CPU has {' and '.join(native)}, but ONEDNN_MAX_CPU_ISA="
                                           f"{cap} keeps oneDNN from using them")
    return NumberFormatDecision(True, f"bfloat16 autocast in training: this CPU has {' and '.join(native)}")


def number_format_decision() -> NumberFormatDecision:
    """Automatic bfloat16 (``bf16: None``) for this machine: a CUDA GPU with bfloat16, or a CPU with native bfloat16
    instructions (:func:`cpu_bf16_decision`)."""
    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return NumberFormatDecision(True, f"bfloat16 autocast in training: {torch.cuda.get_device_name(0)} "
                                              "supports it")
        return NumberFormatDecision(False, f"float32: {torch.cuda.get_device_name(0)} has no bfloat16")
    return cpu_bf16_decision(cpu_flags(), os.environ.get("ONEDNN_MAX_CPU_ISA"))


def bf16_supported() -> bool:
    """True when bfloat16 matrix products run natively here (:func:`number_format_decision`)."""
    return number_format_decision().bf16
