"""ClinicLLM, the study's model: a BERT pretrained on the notes, fine-tuned to predict 30-day readmission.

The recipe is NYUTron's (Jiang et al., Nature 2023), which the generalization study (Rahman et al., 2024) reuses:

1. a WordPiece tokenizer trained on the health system's own notes (so clinical words and abbreviations get whole
   tokens instead of being shredded by a general-English vocabulary);
2. masked-language-model (MLM) pretraining on those notes, 15 % of tokens masked;
3. fine-tuning on discharge notes pooled across hospitals, with the checkpoint chosen on validation AUROC;
4. readmission probabilities for the validation, random-test and temporal-test admissions.

:func:`run_clinicllm` runs the four stages. Each stage is cached under a key made of the configuration fields it
reads and a fingerprint of the data it reads, so a second run with the same inputs loads the finished stage and a
changed fine-tuning field re-runs fine-tuning and predictions but not pretraining. Every artifact is written to a
temporary path first and renamed into place, so an interrupted run never leaves a half-written stage that a later
run would mistake for a finished one; an interrupted fine-tuning resumes from its last checkpoint.

Presets. ``base`` is the study's scale (BERT-base, 512 tokens, vocabulary 50k) and wants a GPU. ``tiny`` is sized
for a 2-core CPU: the whole chapter on about 25k admissions in a few minutes (figures in
``benchmarks/bench_training.py``). ``pretrained`` starts from any local Hugging Face BERT checkpoint directory
(with its tokenizer) and skips tokenizer training and pretraining. Nothing is ever downloaded: the module sets
``HF_HUB_OFFLINE`` before importing transformers and loads checkpoints with ``local_files_only``.

Speed. Training avoids work whose result is never read, each measure timed in the benchmark: dynamic padding
(a batch is padded only to its longest note) with length-grouped batches; the MLM loss computed only at the masked
positions, including the last layer and the vocabulary-wide projection (most of a small BERT's cost when done at
every position); the classifier's last layer computed only at [CLS]; bfloat16 autocast in training where the
processor has native bfloat16, with the attention kernel that is fastest there; threads that match the cores;
``torch.inference_mode`` with length-sorted batches for prediction. All of these leave the numbers unchanged
(tested against the stock models) except bfloat16, which rounds and is switched off with ``bf16: false``.

Multi-process. The Trainer makes the fine-tuning and pretraining data-parallel under ``torchrun`` or
``accelerate launch``; :func:`main` is the command-line entry (``python -m helpers.clinicllm finetune ...``).
Only the main process writes artifacts; the others wait at barriers.
"""

from __future__ import annotations

import os

# Never reach the network: set before transformers is imported, and kept if the user set them otherwise.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
from helpers.artifacts import atomic_write, frame_fingerprint, stage_key  # noqa: E402
from helpers.evaluation import PREDICTION_COLUMNS  # noqa: E402
from helpers.splits import SPLITS as SPLIT_NAMES  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput  # noqa: E402
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS  # noqa: E402
from transformers.models.bert.modeling_bert import eager_attention_forward  # noqa: E402
from transformers.trainer_callback import PrinterCallback  # noqa: E402
from transformers.trainer_utils import get_last_checkpoint  # noqa: E402

MODEL_NAME = "clinicllm"
PRESETS = ("tiny", "base", "pretrained")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DATA_COLUMNS = ["admission_id", "patient_id", "hospital", "note_text", "readmitted_30d", "split"]
PREDICTED_SPLITS = ("validation", "random_test", "temporal_test")
CONFIG_FILE = "clinicllm_config.json"
HISTORY_FILE = "history.csv"

# Architecture and schedule defaults per preset; a field left at None in ClinicLLMConfig takes its preset's value.
# tiny: chosen on a 2-core CPU so that ~25k simulated admissions (~360-word notes) run in well under 4 minutes
# (benchmarks/bench_training.py). Measured there on 25k admissions (validation AUROC, one seed): 128 tokens beat 256
# tokens at the same time budget (0.69 vs 0.65: more notes beat more words per note; most of the signal sits in
# the first ~100 words); MLM pretraining is worth it (0.66 without, 0.69 with 300 steps); 800 steps and 2 epochs of
# fine-tuning were the best of the settings tried; a fine-tuning lr of 1e-3 was worse (0.62). Pretraining runs
# up to 3 epochs so that a small (smoke) cohort still gets a few hundred steps; on 25k the 800-step cap binds.
# base: BERT-base as in NYUTron/ClinicLLM (12 x 768, 12 heads, 3072 feed-forward, vocabulary 50k, 512 tokens).
PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "tiny": {
        "max_length": 128,
        "vocab_size": 8000,
        "hidden_size": 128,
        "num_layers": 2,
        "num_heads": 2,
        "intermediate_size": 512,
        "hidden_dropout": 0.1,
        "attention_dropout": 0.0,
        "pretrain_epochs": 3.0,
        "pretrain_max_steps": 800,
        "pretrain_learning_rate": 1e-3,
        "pretrain_batch_size": 32,
        "finetune_epochs": 2.0,
        "finetune_max_steps": None,
        "finetune_learning_rate": 5e-4,
        "finetune_batch_size": 32,
        "eval_batch_size": 128,
        "evals_per_epoch": 2,
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
    """Input token limit, [CLS] and [SEP] included; longer notes lose their end (the tokenization report says how
    many). The study's model reads 512 tokens."""
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
    pretrain_learning_rate: float | None = None
    """Peak learning rate of MLM pretraining (linear warm-up then linear decay)."""
    pretrain_batch_size: int | None = None
    """Notes per pretraining batch, per device."""
    finetune_epochs: float | None = None
    """Maximum passes over the training admissions in fine-tuning; early stopping may end it sooner."""
    finetune_max_steps: int | None = None
    """Cap on fine-tuning optimizer steps; None = no cap."""
    finetune_learning_rate: float | None = None
    """Peak fine-tuning learning rate (NYUTron, BERT-base: 2e-5; a tiny model needs a larger one)."""
    finetune_batch_size: int | None = None
    """Admissions per fine-tuning batch, per device."""
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
        for name in ("hidden_dropout", "attention_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"ClinicLLMConfig.{name} is {value}; a dropout rate must lie in [0, 1).")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(
                f"ClinicLLMConfig.mlm_probability is {self.mlm_probability}; it must lie strictly between 0 and 1 "
                "(BERT uses 0.15)."
            )
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
                     "logging_steps", "pretrain_max_steps", "finetune_max_steps", "checkpoint_steps",
                     "max_train_samples", "max_eval_samples", "num_threads", "early_stopping_patience"):
            _check_positive_int(self, name)
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"ClinicLLMConfig.warmup_ratio is {self.warmup_ratio}; it must lie in [0, 1).")
        if not np.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"ClinicLLMConfig.weight_decay is {self.weight_decay}; it must be non-negative.")
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
        if values["attention_kernel"] is None:
            values["attention_kernel"] = "eager" if values["bf16"] and not torch.cuda.is_available() else "sdpa"
        return ClinicLLMConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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


# Which configuration fields each stage reads. The cache key of a stage hashes exactly these (plus the keys of the
# stages it builds on and a fingerprint of its input data), so a change re-runs only the stages that depend on it.
TOKENIZER_FIELDS = ("preset", "pretrained_path", "vocab_size")
PRETRAIN_FIELDS = (
    "max_length", "hidden_size", "num_layers", "num_heads", "intermediate_size", "hidden_dropout",
    "attention_dropout", "mlm_probability", "pretrain_epochs", "pretrain_max_steps", "pretrain_learning_rate",
    "pretrain_batch_size", "warmup_ratio", "weight_decay", "logging_steps", "bf16",
)
FINETUNE_FIELDS = (
    "max_length", "finetune_epochs", "finetune_max_steps", "finetune_learning_rate", "finetune_batch_size",
    "warmup_ratio", "weight_decay", "evals_per_epoch", "early_stopping_patience", "logging_steps",
    "bf16",
)
PREDICT_FIELDS = ("max_length",)
# Fields that choose the rows a stage reads: they enter its key through the fingerprint of those rows.
DATA_SELECTION_FIELDS = ("max_train_samples", "max_eval_samples", "seed")
# Fields that change how fast a stage runs, never what it produces.
SPEED_ONLY_FIELDS = ("num_threads", "checkpoint_steps", "eval_batch_size", "attention_kernel")


# --------------------------------------------------------------------------------------------------------------
# Machine settings
# --------------------------------------------------------------------------------------------------------------


def bf16_supported() -> bool:
    """True when bfloat16 matrix products run natively: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX.

    On such hardware bfloat16 autocast speeds training with no measurable loss for BERT fine-tuning; elsewhere it
    is emulated and slower, so it stays off.
    """
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _local_world_size() -> int:
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))))


def configure_threads(num_threads: int | None = None) -> int:
    """Give each process its share of the cores (all of them when alone); returns the thread count set.

    torchrun sets OMP_NUM_THREADS=1, which starves a CPU run; one process alone should use every core, and
    several processes on one machine should split them rather than oversubscribe.
    """
    if num_threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        num_threads = max(1, cores // _local_world_size())
    torch.set_num_threads(num_threads)
    return num_threads


def _distributed():
    """The accelerate process state the Trainer itself uses (gloo on CPU), created once per process."""
    from accelerate import PartialState

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return PartialState(cpu=True, backend="gloo")
    return PartialState()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _barrier() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _distributed().wait_for_everyone()


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' info/warning chatter (e.g. 'newly initialized classifier weights', which is expected
    when a classification head is put on a pretrained encoder)."""
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)


# --------------------------------------------------------------------------------------------------------------
# Atomic directories and fingerprints
# --------------------------------------------------------------------------------------------------------------


def _fresh_temp_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    temp.mkdir()
    return temp


def _publish_dir(temp: Path, final: Path) -> Path:
    """Move a finished temporary directory into place (a rename, so readers see all of it or none of it)."""
    if final.exists():
        old = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.old"
        os.replace(final, old)
        os.replace(temp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp, final)
    return final


def _write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _write_json_atomic(path: Path, obj: Any) -> None:
    _write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_table_atomic(path: Path, frame: pd.DataFrame) -> None:
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def texts_fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _config_part(config: ClinicLLMConfig, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(config, name) for name in names}


def _checkpoint_fingerprint(path: str) -> str:
    """Identity of a local checkpoint: its config and the names and sizes of its files."""
    root = Path(path)
    listing = sorted((p.name, p.stat().st_size) for p in root.iterdir() if p.is_file())
    return stage_key(config=(root / "config.json").read_text(), files=listing)


# --------------------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------------------


def train_tokenizer(texts: list[str], vocab_size: int, out_dir: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on ``texts`` and save it (atomically) to ``out_dir``.

    BERT normaliser (lower-casing, accent stripping, control characters removed) and pre-tokeniser (split on
    whitespace and punctuation), the special tokens [PAD] [UNK] [CLS] [SEP] [MASK], and the [CLS] ... [SEP]
    template. Train it on the training notes only: a vocabulary learnt from test notes would leak their words.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("train_tokenizer got no texts; pass the training split's note_text (at least one note).")
    if (isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer))
            or vocab_size <= len(SPECIAL_TOKENS)):
        raise ValueError(
            f"train_tokenizer: vocab_size is {vocab_size!r}; use an integer well above {len(SPECIAL_TOKENS)}."
        )
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=int(vocab_size), special_tokens=SPECIAL_TOKENS, min_frequency=2, show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer, length=len(texts))
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    backend.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    final = Path(out_dir)
    temp = _fresh_temp_dir(final)
    tokenizer.save_pretrained(temp)
    _publish_dir(temp, final)
    return tokenizer


def load_tokenizer(path: str | os.PathLike):
    """Load a tokenizer saved by :func:`train_tokenizer` or shipped with a checkpoint, from local files only."""
    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def _token_lengths(tokenizer, texts: list[str], chunk: int = 2000) -> np.ndarray:
    """Tokens per text with [CLS] and [SEP], before any truncation.

    Counted in chunks straight from the Rust tokenizer (no offsets, no Python lists of ids), so measuring 25k
    long notes needs neither minutes nor gigabytes.
    """
    texts = list(texts)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        if backend is not None and hasattr(backend, "encode_batch_fast"):
            counts = [len(encoding) for encoding in backend.encode_batch_fast(part, add_special_tokens=True)]
        else:
            encoded = tokenizer(part, add_special_tokens=True, truncation=False, return_attention_mask=False,
                                return_token_type_ids=False, verbose=False)
            counts = [len(ids) for ids in encoded["input_ids"]]
        lengths[start:start + len(part)] = counts
    return lengths


def tokenization_report(tokenizer, texts: list[str], max_length: int) -> dict[str, Any]:
    """How the tokenizer sees the notes and how much the token limit cuts off.

    Returns the vocabulary size, the tokens per note ([CLS] and [SEP] included, before truncation) as median and
    interquartile range, words per note (whitespace-separated), the share of notes longer than ``max_length``
    (their end is never read by the model) and the mean share of each note's tokens that is kept.
    """
    texts = list(texts)
    _check_max_length(max_length)
    if not texts:
        raise ValueError("tokenization_report got no texts; pass at least one note.")
    lengths = _token_lengths(tokenizer, texts)
    return _report_from_lengths(len(tokenizer), lengths, _word_counts(texts), max_length)


def _word_counts(texts: list[str]) -> np.ndarray:
    return np.fromiter((len(text.split()) for text in texts), dtype=np.int64, count=len(texts))


def _check_max_length(max_length: int) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 2:
        raise ValueError(f"max_length is {max_length!r}; use an integer of at least 2 (the model's token limit).")


def _report_from_lengths(vocab_size: int, lengths: np.ndarray, words: np.ndarray, max_length: int) -> dict[str, Any]:
    kept = np.minimum(lengths, max_length) / np.maximum(lengths, 1)
    q1, median, q3 = np.percentile(lengths, [25, 50, 75])
    w1, wmed, w3 = np.percentile(words, [25, 50, 75])
    return {
        "vocab_size": int(vocab_size),
        "n_notes": int(len(lengths)),
        "max_length": int(max_length),
        "tokens_per_note_median": float(median),
        "tokens_per_note_q1": float(q1),
        "tokens_per_note_q3": float(q3),
        "tokens_per_note_mean": float(lengths.mean()),
        "words_per_note_median": float(wmed),
        "words_per_note_q1": float(w1),
        "words_per_note_q3": float(w3),
        "tokens_per_word": float(lengths.sum() / max(1, words.sum())),
        "share_truncated": float(np.mean(lengths > max_length)),
        "mean_share_of_tokens_kept": float(kept.mean()),
    }


# --------------------------------------------------------------------------------------------------------------
# Data sets for the Trainer
# --------------------------------------------------------------------------------------------------------------


class EncodedNotes(torch.utils.data.Dataset):
    """Notes tokenized once (truncated to the token limit, not padded), optionally with labels.

    Padding is left to the collator, per batch, so that a batch of short notes costs little.
    """

    def __init__(self, input_ids: list[list[int]], labels: np.ndarray | None = None,
                 special_tokens_mask: list[list[int]] | None = None):
        self.input_ids = input_ids
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.special_tokens_mask = special_tokens_mask

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"input_ids": self.input_ids[index]}
        if self.labels is not None:
            item["labels"] = int(self.labels[index])
        if self.special_tokens_mask is not None:
            item["special_tokens_mask"] = self.special_tokens_mask[index]
        return item


def encode_notes(tokenizer, texts: list[str], max_length: int, labels=None,
                 with_special_tokens_mask: bool = False) -> EncodedNotes:
    """Tokenize and truncate notes to ``max_length`` tokens ([CLS] ... [SEP]), without padding.

    Padding is the collator's job, per batch (dynamic padding), so a batch of short notes stays short.
    """
    texts = list(texts)
    options = dict(truncation=True, max_length=int(max_length), add_special_tokens=True, return_attention_mask=False,
                   return_token_type_ids=False, return_special_tokens_mask=with_special_tokens_mask)
    if _splits_on_whitespace(tokenizer):
        # Only the first max_length words can reach the model (every word is at least one token), so tokenize
        # just those: a 400-word note cut to 128 tokens costs a third of the work. A note whose head gives
        # too few tokens (only possible if its words vanish in normalisation) is tokenized whole.
        heads = [_leading_words(text, int(max_length)) for text in texts]
        encoded = tokenizer(heads, **options)
        short = [i for i, (head, text, ids) in enumerate(zip(heads, texts, encoded["input_ids"]))
                 if len(head) < len(text) and len(ids) < max_length]
        if short:
            redo = tokenizer([texts[i] for i in short], **options)
            for key in encoded:
                for position, i in enumerate(short):
                    encoded[key][i] = redo[key][position]
    else:
        encoded = tokenizer(texts, **options)
    special = encoded["special_tokens_mask"] if with_special_tokens_mask else None
    return EncodedNotes(encoded["input_ids"], labels=labels, special_tokens_mask=special)


@functools.lru_cache(maxsize=8)
def _head_pattern(n_words: int) -> re.Pattern:
    return re.compile(r"(?:[ \t\n\r]*[^ \t\n\r]+){1,%d}" % n_words)


def _leading_words(text: str, n_words: int) -> str:
    """The text up to the end of its ``n_words``-th word, cut at an ASCII space/tab/newline (never inside a word)."""
    match = _head_pattern(n_words).match(text)
    return text[:match.end()] if match else text


def _splits_on_whitespace(tokenizer) -> bool:
    """True for BERT-style tokenizers (BertPreTokenizer), whose tokens never straddle ASCII whitespace."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and type(backend.pre_tokenizer).__name__ == "BertPreTokenizer"


# --------------------------------------------------------------------------------------------------------------
# MLM pretraining
# --------------------------------------------------------------------------------------------------------------


def _supports_partial_last_layer(config) -> bool:
    """The partial last layer below is written for BERT encoders with eager or SDPA attention."""
    return not config.is_decoder and config._attn_implementation in ("sdpa", "eager")


def _encode_until_last_layer(bert, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds):
    """Embeddings and every layer but the last; returns the hidden states and the attention mask in BERT's form."""
    hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                             inputs_embeds=inputs_embeds)
    mask, _ = bert._create_attention_masks(attention_mask=attention_mask, encoder_attention_mask=None,
                                           embedding_output=hidden, encoder_hidden_states=None, cache=None)
    for layer in bert.encoder.layer[:-1]:
        hidden = layer(hidden, mask)
    return hidden, mask


def _last_layer_at(layer, hidden: torch.Tensor, mask, positions: torch.Tensor, attn_implementation: str):
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
            hidden, mask = _encode_until_last_layer(self.bert, input_ids, attention_mask, token_type_ids,
                                                    position_ids, inputs_embeds)
            counts = selected.sum(dim=1)
            width = int(counts.max())
            # Masked positions of each row first, in ascending order (a stable sort of "not masked").
            positions = torch.sort((~selected).to(torch.int8), dim=1, stable=True).indices[:, :width]
            valid = torch.arange(width, device=labels.device).unsqueeze(0) < counts.unsqueeze(1)
            out = _last_layer_at(self.bert.encoder.layer[-1], hidden, mask, positions, self.config._attn_implementation)
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


class ClsOnlyLastLayerBertForSequenceClassification(BertForSequenceClassification):
    """BertForSequenceClassification that runs its last layer for the [CLS] position only.

    The classifier reads one vector: the last layer's output at [CLS]. That output needs the last layer's keys and
    values at every position, but its query, attention output and feed-forward block only at [CLS]; the stock model
    computes them at every position and throws all but one away. Skipping them gives the same logits (and the same
    gradients) and saves about 10/12 of the last layer's matrix work: a large share of a 2-layer model, a few
    per cent of BERT-base. The weights are BertForSequenceClassification's and are saved under that name. Set-ups
    it does not cover (flash or flex attention, decoders, regression or multi-label heads) use the stock forward.
    """

    accepts_loss_kwargs = False

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
        hidden, mask = _encode_until_last_layer(self.bert, input_ids, attention_mask, token_type_ids, position_ids,
                                                inputs_embeds)
        cls_position = torch.zeros((hidden.shape[0], 1), dtype=torch.long, device=hidden.device)
        cls_output = _last_layer_at(self.bert.encoder.layer[-1], hidden, mask, cls_position,
                                    self.config._attn_implementation)
        logits = self.classifier(self.dropout(self.bert.pooler(cls_output)))
        loss = None
        if labels is not None:
            self.config.problem_type = self.config.problem_type or "single_label_classification"
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _load_classifier(path: str | os.PathLike, attention_kernel: str = "sdpa", **kwargs: Any):
    """A sequence classifier from a local checkpoint: the [CLS]-only-last-layer BERT for BERT checkpoints."""
    model_type = json.loads((Path(path) / "config.json").read_text()).get("model_type")
    model_class = ClsOnlyLastLayerBertForSequenceClassification if model_type == "bert" \
        else AutoModelForSequenceClassification
    with _quiet_transformers():
        return model_class.from_pretrained(str(path), local_files_only=True, attn_implementation=attention_kernel,
                                           **kwargs)


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


def _training_arguments(config: ClinicLLMConfig, output_dir: Path, **overrides: Any) -> TrainingArguments:
    use_cpu = not torch.cuda.is_available()
    values: dict[str, Any] = dict(
        output_dir=str(output_dir),
        report_to="none",
        disable_tqdm=True,
        log_level="error",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        use_cpu=use_cpu,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length",
        save_strategy="no",
        push_to_hub=False,
    )
    if use_cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        values["ddp_backend"] = "gloo"
    values.update(overrides)
    return TrainingArguments(**values)


class ClinicTrainer(Trainer):
    """The Trainer with bfloat16 autocast in training steps only.

    The Trainer's own ``bf16`` flag also autocasts evaluation, which rounds the logits to bfloat16's three
    significant digits: many validation admissions then tie, and the AUROC that selects the model is blurred.
    Here training runs in bfloat16 (the speed-up) and every evaluation in float32 (the precision).
    """

    def __init__(self, *args: Any, train_bf16: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.train_bf16 = train_bf16

    def autocast_smart_context_manager(self, cache_enabled: bool | None = True):
        if self.train_bf16 and self.model.training:
            return torch.autocast(device_type=self.args.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _make_trainer(config: ClinicLLMConfig, **kwargs: Any) -> Trainer:
    with _quiet_transformers():
        trainer = ClinicTrainer(train_bf16=bool(config.bf16), **kwargs)
    trainer.remove_callback(PrinterCallback)
    return trainer


def _history_frame(log_history: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per logged step: training loss rows and validation rows, in step order."""
    rows = []
    for entry in log_history:
        if "loss" in entry:
            rows.append({"step": entry.get("step"), "epoch": entry.get("epoch"), "kind": "train",
                         "train_loss": entry["loss"], "learning_rate": entry.get("learning_rate")})
        elif "eval_auroc" in entry or "eval_loss" in entry:
            rows.append({"step": entry.get("step"), "epoch": entry.get("epoch"), "kind": "eval",
                         "eval_loss": entry.get("eval_loss"), "eval_auroc": entry.get("eval_auroc")})
    columns = ["step", "epoch", "kind", "train_loss", "learning_rate", "eval_loss", "eval_auroc"]
    return pd.DataFrame(rows, columns=columns)


def _planned_steps(n_examples: int, batch_size: int, epochs: float, max_steps: int | None) -> int:
    """Optimizer steps for ``epochs`` passes over the data (all processes together), capped at ``max_steps``.

    The Trainer lets max_steps *replace* the epoch count; here the cap only ever shortens a run, so a small
    smoke cohort is not trained for many epochs just because the cap was sized for a large one.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps = math.ceil(epochs * math.ceil(n_examples / (batch_size * world)))
    return min(steps, max_steps) if max_steps else steps


def _resume_checkpoint(work_dir: Path) -> str | None:
    if not work_dir.is_dir():
        return None
    return get_last_checkpoint(str(work_dir))


def _save_stage(trainer: Trainer, final: Path, work_dir: Path, config: ClinicLLMConfig, history: pd.DataFrame,
                architecture: str | None = None) -> None:
    """Save the trained model, tokenizer, configuration and history, then rename the folder into place.

    Every process calls ``save_model`` (sharded set-ups gather weights collectively); only the main process
    writes. The folder is assembled under a temporary name, so ``final`` never exists half-written.
    """
    temp = final.parent / f".{final.name}.saving"
    if _is_main_process():
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
    _barrier()
    trainer.save_model(str(temp))
    if _is_main_process():
        if architecture:
            config_path = temp / "config.json"
            stored = json.loads(config_path.read_text())
            stored["architectures"] = [architecture]
            config_path.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
        _write_json_atomic(temp / CONFIG_FILE, config.to_dict())
        _write_table_atomic(temp / HISTORY_FILE, history)
        _publish_dir(temp, final)
        shutil.rmtree(work_dir, ignore_errors=True)
    _barrier()


def pretrain_mlm(tokenizer, train_texts: list[str], config: ClinicLLMConfig,
                 out_dir: str | os.PathLike) -> tuple[Path, pd.DataFrame]:
    """Masked-language-model pretraining of a fresh BERT on the training notes; returns (model dir, history).

    The model directory holds the weights (as BertForMaskedLM), the tokenizer, ``clinicllm_config.json`` and
    ``history.csv`` (training loss per logging step). It appears only when training has finished. With
    ``checkpoint_steps`` set, an interrupted run resumes from its last checkpoint.
    """
    config = config.resolved()
    texts = list(train_texts)
    if not texts:
        raise ValueError("pretrain_mlm got no training notes; the train split must hold at least one note_text.")
    final = Path(out_dir)
    work_dir = final.parent / f".{final.name}.partial"
    dataset = encode_notes(tokenizer, texts, config.max_length, with_special_tokens_mask=True)
    model = build_mlm_model(config, tokenizer, masked_only=True)
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=config.mlm_probability,
                                               pad_to_multiple_of=8, seed=config.seed)
    save = dict(save_strategy="steps", save_steps=config.checkpoint_steps, save_total_limit=1) \
        if config.checkpoint_steps else {}
    steps = _planned_steps(len(dataset), config.pretrain_batch_size, config.pretrain_epochs, config.pretrain_max_steps)
    args = _training_arguments(
        config, work_dir,
        per_device_train_batch_size=config.pretrain_batch_size,
        max_steps=max(1, steps),
        learning_rate=config.pretrain_learning_rate,
        **save,
    )
    trainer = _make_trainer(config, model=model, args=args, train_dataset=dataset, data_collator=collator,
                            processing_class=tokenizer)
    if steps > 0:
        trainer.train(resume_from_checkpoint=_resume_checkpoint(work_dir) if config.checkpoint_steps else None)
    history = _history_frame(trainer.state.log_history)[["step", "epoch", "train_loss", "learning_rate"]]
    # Same weights as BertForMaskedLM: saved under that name, so any BERT code loads them without this module.
    _save_stage(trainer, final, work_dir, config, history, architecture="BertForMaskedLM")
    return final, history


# --------------------------------------------------------------------------------------------------------------
# Fine-tuning and prediction
# --------------------------------------------------------------------------------------------------------------


def _labels_of(frame: pd.DataFrame, name: str) -> np.ndarray:
    labels = pd.to_numeric(frame["readmitted_30d"], errors="coerce")
    if labels.isna().any() or not labels.isin([0, 1]).all():
        bad = frame.loc[labels.isna() | ~labels.isin([0, 1]), "admission_id"].head(5).tolist()
        raise ValueError(
            f"column 'readmitted_30d' of the {name} rows must be 0 or 1; admissions {bad} are not. "
            "Fix or drop those rows before training."
        )
    return labels.to_numpy(dtype=np.int64)


def _softmax_positive(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, 1] / exp.sum(axis=1)


def validation_metrics(eval_prediction) -> dict[str, float]:
    """AUROC of the predicted readmission probability on the validation rows (the model-selection metric)."""
    logits = eval_prediction.predictions
    if isinstance(logits, tuple):
        logits = logits[0]
    labels = np.asarray(eval_prediction.label_ids).astype(int)
    return {"auroc": float(roc_auc_score(labels, _softmax_positive(logits)))}


def finetune_classifier(model_dir_or_path: str | os.PathLike, tokenizer, train_df: pd.DataFrame,
                        val_df: pd.DataFrame, config: ClinicLLMConfig,
                        out_dir: str | os.PathLike) -> tuple[Path, pd.DataFrame]:
    """Fine-tune a pretrained BERT to predict ``readmitted_30d`` from ``note_text``; returns (model dir, history).

    The validation AUROC is computed ``evals_per_epoch`` times per epoch; the checkpoint with the best one is kept
    (``load_best_model_at_end``) and training stops after ``early_stopping_patience`` evaluations without a better
    one. The history has one row per logged training loss (``kind == 'train'``) and per evaluation
    (``kind == 'eval'``, with ``eval_auroc``). The model directory holds the weights, the tokenizer,
    ``clinicllm_config.json`` and ``history.csv``; an interrupted run resumes from its last checkpoint.
    """
    config = config.resolved()
    for name, frame in (("train", train_df), ("validation", val_df)):
        missing = [c for c in ("note_text", "readmitted_30d") if c not in frame.columns]
        if missing:
            raise ValueError(f"finetune_classifier: the {name} frame lacks column(s) {missing}.")
        if len(frame) == 0:
            raise ValueError(f"finetune_classifier: the {name} frame is empty; it needs admissions to learn from.")
    train_labels, val_labels = _labels_of(train_df, "train"), _labels_of(val_df, "validation")
    for name, labels in (("train", train_labels), ("validation", val_labels)):
        if len(np.unique(labels)) < 2:
            raise ValueError(
                f"column 'readmitted_30d' has a single class in the {name} rows; model selection on AUROC needs "
                "readmitted and non-readmitted admissions in both train and validation (enlarge the cohort)."
            )
    train_set = encode_notes(tokenizer, train_df["note_text"].tolist(), config.max_length, labels=train_labels)
    val_set = encode_notes(tokenizer, val_df["note_text"].tolist(), config.max_length, labels=val_labels)

    final = Path(out_dir)
    work_dir = final.parent / f".{final.name}.partial"
    steps_per_epoch = _planned_steps(len(train_set), config.finetune_batch_size, 1.0, None)
    eval_steps = max(1, math.ceil(steps_per_epoch / config.evals_per_epoch))
    max_steps = max(1, _planned_steps(len(train_set), config.finetune_batch_size, config.finetune_epochs,
                                      config.finetune_max_steps))
    model = _load_classifier(model_dir_or_path, config.attention_kernel, num_labels=2)
    args = _training_arguments(
        config, work_dir,
        per_device_train_batch_size=config.finetune_batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        max_steps=max_steps,
        learning_rate=config.finetune_learning_rate,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="auroc",
        greater_is_better=True,
    )
    callbacks = []
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = _make_trainer(
        config, model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
        processing_class=tokenizer,
        compute_metrics=lambda prediction: validation_metrics(prediction),
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=_resume_checkpoint(work_dir))
    history = _history_frame(trainer.state.log_history)
    best_step = None
    if trainer.state.best_model_checkpoint:
        best_step = int(Path(trainer.state.best_model_checkpoint).name.split("-")[-1])
    history["best"] = history["kind"].eq("eval") & history["step"].eq(best_step)
    architecture = "BertForSequenceClassification" if isinstance(model, BertForSequenceClassification) else None
    _save_stage(trainer, final, work_dir, config, history, architecture=architecture)
    return final, history


def predict_scores(model_dir: str | os.PathLike, tokenizer, frame: pd.DataFrame,
                   config: ClinicLLMConfig) -> np.ndarray:
    """Probability of 30-day readmission for each row of ``frame`` (same order), from a fine-tuned model.

    Notes are scored in batches of similar length (sorted by token count, so padding is minimal) under
    ``torch.inference_mode`` in float32, and the scores are put back in the frame's order.
    """
    config = config.resolved()
    if "note_text" not in frame.columns:
        raise ValueError("predict_scores: the frame lacks column 'note_text'.")
    if len(frame) == 0:
        return np.zeros(0, dtype=np.float64)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = _load_classifier(model_dir, config.attention_kernel)
    model.to(device).eval()
    encoded = encode_notes(tokenizer, frame["note_text"].tolist(), config.max_length)
    lengths = np.array([len(ids) for ids in encoded.input_ids])
    order = np.argsort(lengths, kind="stable")
    scores = np.empty(len(frame), dtype=np.float64)
    pad_id = tokenizer.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(order), config.eval_batch_size):
            rows = order[start:start + config.eval_batch_size]
            width = int(lengths[rows].max())
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, row in enumerate(rows):
                ids = encoded.input_ids[row]
                input_ids[i, :len(ids)] = torch.tensor(ids)
                attention[i, :len(ids)] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
            scores[rows] = torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy()
    return scores


# --------------------------------------------------------------------------------------------------------------
# Cached stages shared by every chapter that fine-tunes or scores (chapter 2's global model, chapter 4's learning
# curve, chapter 5's local, augmented and cluster models): one code path, one cache rule.
# --------------------------------------------------------------------------------------------------------------

_LABEL_COLUMNS = ["admission_id", "readmitted_30d", "note_text"]
_SCORED_COLUMNS = ["admission_id", "patient_id", "hospital", "split", "readmitted_30d", "note_text"]


def finetune_stage(start_dir: str | os.PathLike, start_key: str, tokenizer, train: pd.DataFrame,
                   selection: pd.DataFrame, config: ClinicLLMConfig, root: str | os.PathLike,
                   *, name: str = "finetune") -> tuple[Path, pd.DataFrame, str, bool]:
    """Fine-tune from ``start_dir`` on ``train``, selecting on ``selection``'s AUROC, cached in ``root``.

    ``start_key`` identifies the starting checkpoint (a stage key of the pretraining or of an earlier
    fine-tuning). The stage's key covers it, the fine-tuning fields of ``config``, the seed and fingerprints of
    both frames, so the same call twice trains once; the model lives in ``root/<name>-<key>/``.
    Returns (model dir, history, key, reused).
    """
    config = config.resolved()
    key = stage_key(pretrain=start_key, fields=_config_part(config, FINETUNE_FIELDS), seed=config.seed,
                    train=frame_fingerprint(train, _LABEL_COLUMNS),
                    validation=frame_fingerprint(selection, _LABEL_COLUMNS))
    model_dir = Path(root) / f"{name}-{key}"
    if model_dir.is_dir():
        return model_dir, pd.read_csv(model_dir / HISTORY_FILE), key, True
    if _is_main_process():
        model_dir.parent.mkdir(parents=True, exist_ok=True)
    model_dir, history = finetune_classifier(start_dir, tokenizer, train, selection, config, model_dir)
    return model_dir, history, key, False


def prediction_stage(model_dir: str | os.PathLike, model_key: str, tokenizer, frame: pd.DataFrame,
                     config: ClinicLLMConfig, root: str | os.PathLike, *, name: str = "predictions",
                     model_name: str = MODEL_NAME) -> tuple[pd.DataFrame, str, bool, Path]:
    """Readmission scores of a fine-tuned model for every row of ``frame``, cached in ``root/<name>-<key>.parquet``.

    ``frame`` needs admission_id, patient_id, hospital, split, readmitted_30d and note_text; the result has the
    prediction columns (``evaluation.PREDICTION_COLUMNS``) in the frame's order. Returns (table, key, reused, path).
    """
    config = config.resolved()
    key = stage_key(finetune=model_key, fields=_config_part(config, PREDICT_FIELDS),
                    rows=frame_fingerprint(frame, _SCORED_COLUMNS))
    path = Path(root) / f"{name}-{key}.parquet"
    reused = path.is_file()
    if not reused and _is_main_process():
        table = frame[["admission_id", "patient_id", "hospital", "split"]].copy()
        table["model"] = model_name
        table["y_true"] = frame["readmitted_30d"].to_numpy()
        table["y_score"] = predict_scores(model_dir, tokenizer, frame, config)
        _write_table_atomic(path, table[PREDICTION_COLUMNS].reset_index(drop=True))
    _barrier()
    return pd.read_parquet(path), key, reused, path


def note_embeddings(model_dir: str | os.PathLike, tokenizer, frame: pd.DataFrame,
                    config: ClinicLLMConfig) -> np.ndarray:
    """The [CLS] vector of the last encoder layer for each row's note (rows x hidden size, float32, frame order).

    This is the representation the classification head reads, so admissions close in it are close for the model.
    """
    config = config.resolved()
    if len(frame) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with _quiet_transformers():
        encoder = transformers.BertModel.from_pretrained(str(model_dir), local_files_only=True,
                                                         attn_implementation=config.attention_kernel,
                                                         add_pooling_layer=False)
    encoder.to(device).eval()
    encoded = encode_notes(tokenizer, frame["note_text"].tolist(), config.max_length)
    lengths = np.array([len(ids) for ids in encoded.input_ids])
    order = np.argsort(lengths, kind="stable")
    vectors = np.empty((len(frame), encoder.config.hidden_size), dtype=np.float32)
    pad_id = tokenizer.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(order), config.eval_batch_size):
            rows = order[start:start + config.eval_batch_size]
            width = int(lengths[rows].max())
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, row in enumerate(rows):
                ids = encoded.input_ids[row]
                input_ids[i, :len(ids)] = torch.tensor(ids)
                attention[i, :len(ids)] = 1
            hidden = encoder(input_ids=input_ids.to(device), attention_mask=attention.to(device)).last_hidden_state
            vectors[rows] = hidden[:, 0].float().cpu().numpy()
    return vectors


def embedding_stage(model_dir: str | os.PathLike, model_key: str, tokenizer, frame: pd.DataFrame,
                    config: ClinicLLMConfig, root: str | os.PathLike,
                    *, name: str = "embeddings") -> tuple[pd.DataFrame, str, bool]:
    """:func:`note_embeddings` for every row of ``frame``, cached in ``root/<name>-<key>.parquet``.

    Returns (table with ``admission_id`` and columns ``e0 .. e{d-1}``, key, reused).
    """
    config = config.resolved()
    key = stage_key(model=model_key, max_length=config.max_length,
                    rows=frame_fingerprint(frame, ["admission_id", "note_text"]))
    path = Path(root) / f"{name}-{key}.parquet"
    reused = path.is_file()
    if not reused and _is_main_process():
        vectors = note_embeddings(model_dir, tokenizer, frame, config)
        table = pd.DataFrame(vectors, columns=[f"e{i}" for i in range(vectors.shape[1])])
        table.insert(0, "admission_id", frame["admission_id"].to_numpy())
        _write_table_atomic(path, table)
    _barrier()
    return pd.read_parquet(path), key, reused


# --------------------------------------------------------------------------------------------------------------
# The chapter pipeline
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ClinicLLMResult:
    """What :func:`run_clinicllm` produced, with the paths of every artifact."""

    config: ClinicLLMConfig
    """The resolved configuration (every preset field filled in)."""
    predictions: pd.DataFrame
    """admission_id, patient_id, hospital, split, model ('clinicllm'), y_true, y_score for validation and tests."""
    pretrain_history: pd.DataFrame
    """step, epoch, train_loss, learning_rate per logging step of MLM pretraining (empty for a checkpoint)."""
    finetune_history: pd.DataFrame
    """Training loss per logging step and validation AUROC per evaluation; ``best`` marks the kept checkpoint."""
    tokenization_report: dict[str, Any]
    """Vocabulary size, tokens per note, share truncated: for the training notes and for every split."""
    timings: dict[str, float]
    """Seconds per stage (loading time when a stage was reused) and in total."""
    reused: dict[str, bool]
    """Per stage, whether a finished artifact was loaded instead of recomputed."""
    tokenizer_dir: Path
    pretrained_dir: Path
    model_dir: Path
    predictions_path: Path
    best_validation_auroc: float | None = None
    best_step: int | None = None
    stage_keys: dict[str, str] = field(default_factory=dict)


def validate_study_frame(data: pd.DataFrame) -> pd.DataFrame:
    """Check the frame the chapter reads, naming the column, the problem and the rows; returns a clean copy."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"run_clinicllm needs a pandas DataFrame, got {type(data).__name__}.")
    missing = [c for c in DATA_COLUMNS if c not in data.columns]
    if missing:
        raise ValueError(
            f"the ClinicLLM input lacks column(s) {missing}; it needs {DATA_COLUMNS} (join the cohort with its splits)."
        )
    frame = data[DATA_COLUMNS].copy()
    bad_split = ~frame["split"].astype(str).isin(SPLIT_NAMES)
    if bad_split.any():
        values = sorted(frame.loc[bad_split, "split"].astype(str).unique())[:5]
        raise ValueError(f"column 'split' has value(s) {values}; allowed are {list(SPLIT_NAMES)}.")
    frame["split"] = frame["split"].astype(str)
    text_ok = frame["note_text"].map(lambda t: isinstance(t, str) and t.strip() != "")
    if not text_ok.all():
        bad = frame.loc[~text_ok, "admission_id"].head(5).tolist()
        raise ValueError(
            f"column 'note_text' is missing or empty for {int((~text_ok).sum())} admission(s), e.g. {bad}; "
            "drop them or supply their notes."
        )
    if frame["admission_id"].duplicated().any():
        dup = frame.loc[frame["admission_id"].duplicated(), "admission_id"].head(5).tolist()
        raise ValueError(f"column 'admission_id' must be unique; duplicated: {dup}.")
    frame["readmitted_30d"] = _labels_of(frame, "input")
    for split in ("train", "validation"):
        if not (frame["split"] == split).any():
            raise ValueError(f"column 'split' has no '{split}' rows; the model needs them to train and select.")
    return frame.reset_index(drop=True)


def _cap(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()


def run_clinicllm(data: pd.DataFrame, config: ClinicLLMConfig,
                  out_dir: str | os.PathLike) -> ClinicLLMResult:
    """The ClinicLLM chapter: tokenizer, MLM pretraining, fine-tuning, predictions, each cached by its inputs.

    The tokenizer and pretraining read only the training split's notes; fine-tuning reads train (labels) and
    selects on validation AUROC; predictions cover validation, random_test and temporal_test. Artifacts in
    ``out_dir``: ``tokenizer-<key>/``, ``mlm-<key>/``, ``finetune-<key>/``, ``predictions-<key>.parquet``,
    ``tokenization-<key>.json``, and, for the latest call, ``predictions.parquet``, ``pretrain_history.csv``,
    ``finetune_history.csv``, ``tokenization_report.json`` and ``summary.json``.
    """
    started = time.perf_counter()
    config = config.resolved()
    configure_threads(config.num_threads)
    frame = validate_study_frame(data)
    root = Path(out_dir)
    if _is_main_process():
        root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    reused: dict[str, bool] = {}
    keys: dict[str, str] = {}

    train = _cap(frame[frame["split"] == "train"], config.max_train_samples, config.seed)
    validation = frame[frame["split"] == "validation"]
    selection = _cap(validation, config.max_eval_samples, config.seed)
    train_texts = train["note_text"].tolist()
    train_text_key = texts_fingerprint(train_texts)

    # 1. Tokenizer (training notes only).
    t0 = time.perf_counter()
    if config.preset == "pretrained":
        keys["tokenizer"] = stage_key(checkpoint=_checkpoint_fingerprint(config.pretrained_path))
        tokenizer_dir = Path(config.pretrained_path)
        reused["tokenizer"] = True
    else:
        keys["tokenizer"] = stage_key(fields=_config_part(config, TOKENIZER_FIELDS), texts=train_text_key)
        tokenizer_dir = root / f"tokenizer-{keys['tokenizer']}"
        reused["tokenizer"] = tokenizer_dir.is_dir()
        if not reused["tokenizer"] and _is_main_process():
            train_tokenizer(train_texts, config.vocab_size, tokenizer_dir)
        _barrier()
    tokenizer = load_tokenizer(tokenizer_dir)
    timings["tokenizer"] = time.perf_counter() - t0

    # 2. Tokenization report: the training notes, and the share truncated in every split.
    t0 = time.perf_counter()
    keys["tokenization"] = stage_key(tokenizer=keys["tokenizer"], max_length=config.max_length,
                                      notes=frame_fingerprint(frame, ["admission_id", "split", "note_text"]))
    report_path = root / f"tokenization-{keys['tokenization']}.json"
    reused["tokenization"] = report_path.is_file()
    if reused["tokenization"]:
        report = json.loads(report_path.read_text())
    else:
        # One tokenizer pass over every note; the training-notes and per-split figures are cut from it.
        lengths = pd.Series(_token_lengths(tokenizer, frame["note_text"].tolist()), index=frame.index)
        words = pd.Series(_word_counts(frame["note_text"].tolist()), index=frame.index)
        report = _report_from_lengths(len(tokenizer), lengths[train.index].to_numpy(),
                                      words[train.index].to_numpy(), config.max_length)
        report["by_split"] = {
            split: _report_from_lengths(len(tokenizer), lengths[rows].to_numpy(), words[rows].to_numpy(),
                                        config.max_length)
            for split, rows in frame.groupby("split", sort=False).groups.items() if len(rows)
        }
        if _is_main_process():
            _write_json_atomic(report_path, report)
    timings["tokenization"] = time.perf_counter() - t0

    # 3. MLM pretraining (training notes only).
    t0 = time.perf_counter()
    if config.preset == "pretrained":
        keys["pretrain"] = keys["tokenizer"]
        pretrained_dir = Path(config.pretrained_path)
        pretrain_history = pd.DataFrame(columns=["step", "epoch", "train_loss", "learning_rate"])
        reused["pretrain"] = True
    else:
        keys["pretrain"] = stage_key(tokenizer=keys["tokenizer"], fields=_config_part(config, PRETRAIN_FIELDS),
                                      seed=config.seed, texts=train_text_key)
        pretrained_dir = root / f"mlm-{keys['pretrain']}"
        reused["pretrain"] = pretrained_dir.is_dir()
        if reused["pretrain"]:
            pretrain_history = pd.read_csv(pretrained_dir / HISTORY_FILE)
        else:
            pretrained_dir, pretrain_history = pretrain_mlm(tokenizer, train_texts, config, pretrained_dir)
    timings["pretrain"] = time.perf_counter() - t0

    # 4. Fine-tuning on train, selection on validation AUROC.
    t0 = time.perf_counter()
    model_dir, finetune_history, keys["finetune"], reused["finetune"] = finetune_stage(
        pretrained_dir, keys["pretrain"], tokenizer, train, selection, config, root)
    timings["finetune"] = time.perf_counter() - t0

    # 5. Predictions for validation and both test splits.
    t0 = time.perf_counter()
    scored = frame[frame["split"].isin(PREDICTED_SPLITS)]
    predictions, keys["predictions"], reused["predictions"], predictions_path = prediction_stage(
        model_dir, keys["finetune"], tokenizer, scored, config, root)
    timings["predictions"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started

    evals = finetune_history[finetune_history["kind"] == "eval"] if len(finetune_history) else finetune_history
    best_rows = evals[evals["best"].astype(bool)] if "best" in evals else evals.iloc[0:0]
    best_auroc = float(best_rows["eval_auroc"].iloc[0]) if len(best_rows) else None
    best_step = int(best_rows["step"].iloc[0]) if len(best_rows) else None

    result = ClinicLLMResult(
        config=config, predictions=predictions, pretrain_history=pretrain_history,
        finetune_history=finetune_history, tokenization_report=report, timings=timings, reused=reused,
        tokenizer_dir=tokenizer_dir, pretrained_dir=pretrained_dir, model_dir=model_dir,
        predictions_path=predictions_path, best_validation_auroc=best_auroc, best_step=best_step, stage_keys=keys,
    )
    if _is_main_process():
        _write_table_atomic(root / "predictions.parquet", predictions)
        _write_table_atomic(root / "pretrain_history.csv", pretrain_history)
        _write_table_atomic(root / "finetune_history.csv", finetune_history)
        _write_json_atomic(root / "tokenization_report.json", report)
        _write_json_atomic(root / "summary.json", {
            "config": config.to_dict(), "timings": timings, "reused": reused, "stage_keys": keys,
            "tokenizer_dir": tokenizer_dir, "pretrained_dir": pretrained_dir, "model_dir": model_dir,
            "predictions_path": predictions_path, "best_validation_auroc": best_auroc, "best_step": best_step,
        })
    _barrier()
    return result


# --------------------------------------------------------------------------------------------------------------
# Tables for the chapter
# --------------------------------------------------------------------------------------------------------------


def parameter_count(model_dir: str | os.PathLike) -> int:
    """Number of parameters stored in a checkpoint directory, read from the safetensors headers (no model load)."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"parameter_count: no *.safetensors weights in {str(model_dir)!r}.")
    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                total += int(np.prod(handle.get_slice(name).get_shape()))
    return total


def _stage_of(name: str) -> str:
    stages = [stage for stage, fields in (("tokenizer", TOKENIZER_FIELDS), ("pretraining", PRETRAIN_FIELDS),
                                          ("fine-tuning", FINETUNE_FIELDS), ("predictions", PREDICT_FIELDS))
              if name in fields]
    if name in DATA_SELECTION_FIELDS:
        stages.append("rows used")
    if name in SPEED_ONLY_FIELDS:
        stages.append("speed only")
    return ", ".join(stages)


def config_table(config: ClinicLLMConfig) -> pd.DataFrame:
    """The resolved configuration as a table: setting, value (as text) and the stages whose cache key it enters."""
    resolved = config.resolved()
    rows = [{"setting": f.name, "value": str(getattr(resolved, f.name)), "affects": _stage_of(f.name)}
            for f in dataclasses.fields(resolved)]
    return pd.DataFrame(rows).set_index("setting")


def tokenization_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per split of the tokenization report (vocabulary, tokens and words per note, share truncated)."""
    by_split = report.get("by_split") or {}
    if not by_split:
        raise ValueError("tokenization_table needs the report of run_clinicllm (with its 'by_split' entry).")
    order = [split for split in SPLIT_NAMES if split in by_split]
    table = pd.DataFrame([by_split[split] for split in order], index=pd.Index(order, name="split"))
    return table


# --------------------------------------------------------------------------------------------------------------
# Command line (also under torchrun / accelerate launch)
# --------------------------------------------------------------------------------------------------------------


def _read_frame(path: str) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if path.endswith(".csv"):
        return pd.read_csv(path)
    raise ValueError(f"--data {path!r}: give a .parquet or .csv file with columns {DATA_COLUMNS}.")


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.clinicllm {run,finetune} --data D --config C.json --out DIR [--model CKPT]``.

    ``run`` does the whole chapter; ``finetune`` starts from a pretrained checkpoint (``--model``, or the config's
    ``pretrained_path``) and fine-tunes and predicts. Both write the artifacts of :func:`run_clinicllm` and work
    the same alone or under ``torchrun --nproc_per_node N`` (data-parallel; gloo on CPU, NCCL on GPUs).
    """
    parser = argparse.ArgumentParser(prog="python -m helpers.clinicllm", description=main.__doc__)
    parser.add_argument("command", choices=["run", "finetune"])
    parser.add_argument("--data", required=True, help="parquet/csv with " + ", ".join(DATA_COLUMNS))
    parser.add_argument("--config", help="JSON (or YAML) file of ClinicLLMConfig fields")
    parser.add_argument("--out", required=True, help="output directory for the artifacts")
    parser.add_argument("--model", help="pretrained checkpoint directory (finetune)")
    args = parser.parse_args(argv)

    values: dict[str, Any] = {}
    if args.config:
        text = Path(args.config).read_text()
        if args.config.endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    if args.command == "finetune":
        if args.model:
            values.update(preset="pretrained", pretrained_path=args.model)
        if values.get("preset") != "pretrained":
            parser.error("finetune needs a pretrained checkpoint: pass --model DIR (or preset: pretrained and "
                         "pretrained_path in the config); use 'run' to pretrain first.")
    config = ClinicLLMConfig.from_dict(values)
    result = run_clinicllm(_read_frame(args.data), config, args.out)
    if _is_main_process():
        summary = {"model_dir": str(result.model_dir), "predictions": str(result.predictions_path),
                   "n_predictions": int(len(result.predictions)), "best_validation_auroc": result.best_validation_auroc,
                   "world_size": int(os.environ.get("WORLD_SIZE", "1")), "timings": result.timings}
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
