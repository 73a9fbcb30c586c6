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
(with its tokenizer) and skips tokenizer training and pretraining. Nothing is ever downloaded: checkpoints are loaded with
``local_files_only``, and :func:`configure_environment`, which every entry point calls, sets ``HF_HUB_OFFLINE``.

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

# the columns of the predictions table the chapter writes (the contract lives in helpers.evaluation)
from helpers.evaluation import PREDICTION_COLUMNS

from .config import (
    ARCHITECTURE_FIELDS, bf16_supported, ClinicLLMConfig, CONFIG_FILE, cpu_bf16_decision, cpu_flags, DATA_COLUMNS,
    DATA_SELECTION_FIELDS, FINETUNE_FIELDS, HISTORY_FILE, MODEL_NAME, number_format_decision, NumberFormatDecision,
    POOLING_FIELDS, PREDICT_FIELDS, PREDICTED_SPLITS, PRESET_DEFAULTS, PRESETS, PRETRAIN_FIELDS, READING_FIELDS,
    SPECIAL_TOKENS, SPEED_ONLY_FIELDS, TOKENIZER_FIELDS,
)
from .distributed import (
    configure_environment, configure_threads,
)
from .encoding import (
    encode_notes, EncodedNotes, NOTE_READINGS, note_token_ids, note_windows, NoteWindowBags, NoteWindows,
    pool_window_scores, RandomWindowNotes, WINDOW_POOLINGS, window_starts, WindowBagCollator,
)
from .models import (
    build_mlm_model, CLASSIFIER_INPUTS, ClsOnlyLastLayerBertForSequenceClassification, FineTuningShortcuts,
    MaskedPositionsBertForMaskedLM, MeanPooledBertForSequenceClassification, pool_by_note, random_positions,
)
from .tokenizer import (
    load_tokenizer, token_lengths, tokenization_report, tokens_read, train_tokenizer,
)
from .trainer import ClinicTrainer, model_part, MODEL_PARTS
from .head_start import finetune_dropout_overrides, freeze_lower_layers, set_step_shortcuts
from .prediction import note_embeddings, predict_scores
from .training import finetune_classifier, pretrain_mlm, validation_metrics
from .stages import (
    ClinicLLMResult, compare_readings, embedding_stage, finetune_stage, prediction_stage, run_clinicllm,
    stage_seconds, texts_fingerprint, validate_study_frame,
)
from .tables import (
    auroc_texts, ceiling_gap_rows, ceiling_gap_table, CEILING_GAPS, ceiling_texts, classifier_description,
    config_table, finetuning_description, learning_depth_texts, log_loss_explained, log_loss_explained_table,
    note_ceiling_rows, number_format_text, oracle_texts, parameter_count, reading_comparison, reading_description,
    reading_display, reading_texts, timings_display, tokenization_display, tokenization_table,
    training_reading_description,
)
from .checks import (
    baseline_gap_admonition, baseline_gap_display, learning_admonition, learning_check, learning_display,
    learning_texts, LearningCheck, LIKELY_CAUSES, MAX_BASELINE_GAP,
)
from .seeds import (
    seed_display, SEED_EXPERIMENT, seed_rows, seed_table, seed_texts, train_seeds,
)
from .compute import (
    COMPUTE_COLUMNS, compute_curve_figure, compute_points, compute_texts, validation_auroc,
)
from .cli import main

__all__ = [
    "ARCHITECTURE_FIELDS", "auroc_texts", "baseline_gap_admonition", "baseline_gap_display", "bf16_supported",
    "build_mlm_model", "ceiling_gap_rows", "ceiling_gap_table", "CEILING_GAPS", "ceiling_texts",
    "classifier_description", "CLASSIFIER_INPUTS", "ClinicLLMConfig", "ClinicLLMResult", "ClinicTrainer",
    "ClsOnlyLastLayerBertForSequenceClassification", "compare_readings", "COMPUTE_COLUMNS", "compute_curve_figure",
    "compute_points", "compute_texts", "CONFIG_FILE", "config_table", "configure_environment", "configure_threads",
    "cpu_bf16_decision", "cpu_flags", "DATA_COLUMNS", "DATA_SELECTION_FIELDS", "embedding_stage", "encode_notes",
    "EncodedNotes", "finetune_classifier", "finetune_dropout_overrides", "FINETUNE_FIELDS", "finetune_stage",
    "finetuning_description", "FineTuningShortcuts", "freeze_lower_layers", "HISTORY_FILE", "learning_admonition",
    "learning_check", "learning_depth_texts", "learning_display", "learning_texts", "LearningCheck",
    "LIKELY_CAUSES", "load_tokenizer", "log_loss_explained", "log_loss_explained_table", "main",
    "MaskedPositionsBertForMaskedLM", "MAX_BASELINE_GAP", "MeanPooledBertForSequenceClassification", "MODEL_NAME",
    "model_part", "MODEL_PARTS", "note_ceiling_rows", "note_embeddings", "NOTE_READINGS", "note_token_ids",
    "note_windows", "NoteWindowBags", "NoteWindows", "number_format_decision", "number_format_text",
    "NumberFormatDecision", "oracle_texts", "parameter_count", "pool_by_note", "pool_window_scores",
    "POOLING_FIELDS", "PREDICT_FIELDS", "predict_scores", "PREDICTED_SPLITS", "PREDICTION_COLUMNS",
    "prediction_stage", "PRESET_DEFAULTS", "PRESETS", "PRETRAIN_FIELDS", "pretrain_mlm", "random_positions",
    "RandomWindowNotes", "reading_comparison", "reading_description", "reading_display", "READING_FIELDS",
    "reading_texts", "run_clinicllm", "seed_display", "SEED_EXPERIMENT", "seed_rows", "seed_table", "seed_texts",
    "set_step_shortcuts", "SPECIAL_TOKENS", "SPEED_ONLY_FIELDS", "stage_seconds", "texts_fingerprint",
    "timings_display", "token_lengths", "tokenization_display", "tokenization_report", "tokenization_table",
    "TOKENIZER_FIELDS", "tokens_read", "train_seeds", "train_tokenizer", "training_reading_description",
    "validate_study_frame", "validation_auroc", "validation_metrics", "WINDOW_POOLINGS", "window_starts",
    "WindowBagCollator",
]
