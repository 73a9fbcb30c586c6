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
Fine-tuning steps of the tiny preset also change what is learned, each measured on validation AUROC: no dropout,
the bottom layer frozen with its backward pass skipped (straight-through), and the top layer at a random half of
the tokens; predictions always read the whole model (``finetune_dropout``, ``finetune_frozen_layers``,
``finetune_frozen_backward``, ``finetune_position_share``).

Files. ``config`` (presets, :class:`ClinicLLMConfig`, which stage reads which field), ``distributed`` (threads,
processes, quiet transformers, atomic folders), ``tokenizer``, ``encoding`` (the head of a note or all its windows),
``models`` (the partial-last-layer BERTs), ``training`` (pretraining, fine-tuning, scoring), ``stages`` (the cached
stages and the chapter pipeline), ``tables``, ``checks`` (did the model learn) and ``cli`` (command line, run by
``python -m helpers.clinicllm``).

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
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import warnings  # noqa: E402

# tqdm warns, with its install path, when imported in a notebook without ipywidgets; no progress bar is ever shown
# here, so the warning would only put a local path into the book.
warnings.filterwarnings("ignore", message="IProgress not found")

import transformers  # noqa: E402

# No progress bars ("Loading weights", "Writing model shards") and no info chatter: they would land in the book.
# Progress goes to the terminal and the run's log through helpers.progress instead.
transformers.utils.logging.disable_progress_bar()
transformers.utils.logging.set_verbosity_error()

from transformers import (  # noqa: E402,F401  (re-exported: the benchmark builds its plain set-up from these)
    BertForMaskedLM,
    BertForSequenceClassification,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
)

from helpers.evaluation import PREDICTION_COLUMNS  # noqa: E402,F401

from .config import *  # noqa: E402,F401,F403
from .config import _check_positive_int, _config_part  # noqa: E402,F401
from .distributed import *  # noqa: E402,F401,F403
from .distributed import (  # noqa: E402,F401
    _barrier, _distributed, _fresh_temp_dir, _is_main_process, _json_default, _local_world_size, _publish_dir,
    _quiet_transformers, _write_json_atomic, _write_table_atomic, _write_text_atomic,
)
from .encoding import *  # noqa: E402,F401,F403
from .encoding import _leading_words, _splits_on_whitespace  # noqa: E402,F401
from .models import *  # noqa: E402,F401,F403
from .models import (  # noqa: E402,F401
    _encode_until_last_layer, _last_layer_at, _load_classifier, _supports_partial_last_layer,
)
from .tokenizer import *  # noqa: E402,F401,F403
from .tokenizer import _check_max_length, _report_from_lengths, _word_counts  # noqa: E402,F401
from .training import *  # noqa: E402,F401,F403
from .training import (  # noqa: E402,F401
    _history_frame, _labels_of, _make_trainer, _planned_steps, _resume_checkpoint, _save_stage, _softmax_positive,
    _training_arguments,
)
from .stages import *  # noqa: E402,F401,F403
from .stages import _cap, _checkpoint_fingerprint  # noqa: E402,F401
from .tables import *  # noqa: E402,F401,F403
from .checks import *  # noqa: E402,F401,F403
from .seeds import *  # noqa: E402,F401,F403
from .compute import *  # noqa: E402,F401,F403
from .cli import main  # noqa: E402,F401
