"""MLM pretraining and fine-tuning with model selection on validation AUROC, with the Trainer (set up in
:mod:`.trainer`, started in :mod:`.head_start`; scoring is in :mod:`.prediction`)."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from transformers import BertForSequenceClassification, DataCollatorForLanguageModeling, DataCollatorWithPadding

from helpers.progress import report

from .config import ClinicLLMConfig
from .distributed import _is_main_process
from .encoding import (
    EncodedNotes,
    NoteWindowBags,
    NoteWindows,
    RandomWindowNotes,
    WindowBagCollator,
    encode_notes,
    pool_window_scores,
)
from .models import load_classifier, build_mlm_model
from .head_start import (
    finetune_dropout_overrides, freeze_lower_layers, head_is_new, pooler_is_new, set_step_shortcuts,
    start_head_at_base_rate, start_head_by_linear_probe, start_pooler_as_identity,
)
from .prediction import reading_windows
from .trainer import (
    PatientEarlyStopping,
    StageProgress,
    epoch_callbacks,
    history_frame,
    make_trainer,
    planned_steps,
    resume_checkpoint,
    save_stage,
    training_arguments,
)

__all__ = ['pretrain_mlm', 'labels_of', 'validation_metrics', 'finetune_classifier']

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
    if config.note_reading == "head":
        dataset = encode_notes(tokenizer, texts, config.max_length, with_special_tokens_mask=True)
    else:
        dataset = RandomWindowNotes(reading_windows(tokenizer, texts, config), seed=config.seed,
                                    with_special_tokens_mask=True)
    model = build_mlm_model(config, tokenizer, masked_only=True)
    # The masking draws from torch's global generator, which the Trainer seeds and restores from a checkpoint (a
    # collator's own seeded generator would start over on resume and mask other tokens than the uninterrupted run).
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=config.mlm_probability,
                                               pad_to_multiple_of=8)
    save = dict(save_strategy="steps", save_steps=config.checkpoint_steps, save_total_limit=1) \
        if config.checkpoint_steps else {}
    steps = planned_steps(len(dataset), config.pretrain_batch_size, config.pretrain_epochs, config.pretrain_max_steps,
                           config.pretrain_min_steps)
    args = training_arguments(
        config, work_dir,
        per_device_train_batch_size=config.pretrain_batch_size,
        max_steps=max(1, steps),
        learning_rate=config.pretrain_learning_rate,
        **save,
    )
    trainer = make_trainer(config, model=model, args=args, train_dataset=dataset, data_collator=collator,
                            processing_class=tokenizer,
                            callbacks=epoch_callbacks(dataset) + [StageProgress("pretraining", max(1, steps))])
    if steps > 0:
        trainer.train(resume_from_checkpoint=resume_checkpoint(work_dir, "pretraining") if config.checkpoint_steps
                      else None)
    history = history_frame(trainer.state.log_history)[["step", "epoch", "train_loss", "learning_rate"]]
    # Same weights as BertForMaskedLM: saved under that name, so any BERT code loads them without this module.
    save_stage(trainer, final, work_dir, config, history, architecture="BertForMaskedLM")
    return final, history


# --------------------------------------------------------------------------------------------------------------
# Fine-tuning and prediction
# --------------------------------------------------------------------------------------------------------------


def labels_of(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The 0/1 readmission labels of ``frame``, parsed by the study's one label parser (helpers.contracts), whose
    error names the column, the bad values, the admissions and the fix."""
    from helpers.contracts import binary_labels

    ids = frame["admission_id"].tolist() if "admission_id" in frame.columns else None
    return binary_labels(frame["readmitted_30d"], column="readmitted_30d", where=f"ClinicLLM ({name} rows)",
                         row_ids=ids)


def _softmax_positive(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, 1] / exp.sum(axis=1)


def validation_metrics(eval_prediction, windows: NoteWindows | None = None, note_labels: np.ndarray | None = None,
                       pooling: str = "clinicalbert", c: float = 2.0) -> dict[str, float]:
    """AUROC of the predicted readmission probability on the validation notes (the model-selection metric).

    With ``windows`` (``note_reading: windows``) the rows are windows: their scores are pooled per note first, so
    the checkpoint is chosen on the score that predictions will give, one per admission.
    """
    logits = eval_prediction.predictions
    if isinstance(logits, tuple):
        logits = logits[0]
    scores = _softmax_positive(logits)
    if windows is None:
        labels = np.asarray(eval_prediction.label_ids).astype(int)
    else:
        scores = pool_window_scores(scores[:len(windows.note_index)], windows.note_index, windows.n_notes, pooling, c)
        labels = np.asarray(note_labels).astype(int)
    return {"auroc": float(roc_auc_score(labels, scores)), "score_sd": float(np.std(scores))}


def _training_sets(tokenizer, train_df: pd.DataFrame, val_df: pd.DataFrame, train_labels: np.ndarray,
                   val_labels: np.ndarray, config: ClinicLLMConfig):
    """(train set, validation set, metrics function) for the configuration's note reading."""
    if config.note_reading == "head":
        train_set = encode_notes(tokenizer, train_df["note_text"].tolist(), config.max_length, labels=train_labels)
        val_set = encode_notes(tokenizer, val_df["note_text"].tolist(), config.max_length, labels=val_labels)
        return train_set, val_set, validation_metrics
    train_windows = reading_windows(tokenizer, train_df["note_text"].tolist(), config)
    val_windows = reading_windows(tokenizer, val_df["note_text"].tolist(), config)
    if config.window_pooling == "features":
        train_set = NoteWindowBags(train_windows, train_labels, seed=config.seed,
                                   max_windows=config.train_windows_per_note)
        return train_set, NoteWindowBags(val_windows, val_labels), validation_metrics
    train_set = RandomWindowNotes(train_windows, train_labels, seed=config.seed)
    val_set = EncodedNotes([ids.tolist() for ids in val_windows.input_ids], labels=val_labels[val_windows.note_index])
    return train_set, val_set, functools.partial(validation_metrics, windows=val_windows, note_labels=val_labels,
                                                 pooling=config.window_pooling, c=config.window_pooling_c)


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
    train_labels, val_labels = labels_of(train_df, "train"), labels_of(val_df, "validation")
    for name, labels in (("train", train_labels), ("validation", val_labels)):
        if len(np.unique(labels)) < 2:
            raise ValueError(
                f"column 'readmitted_30d' has a single class in the {name} rows; model selection on AUROC needs "
                "readmitted and non-readmitted admissions in both train and validation (enlarge the cohort)."
            )
    train_set, val_set, metrics = _training_sets(tokenizer, train_df, val_df, train_labels, val_labels, config)

    final = Path(out_dir)
    work_dir = final.parent / f".{final.name}.partial"
    steps_per_epoch = planned_steps(len(train_set), config.finetune_batch_size, 1.0, None)
    eval_steps = max(1, math.ceil(steps_per_epoch / config.evals_per_epoch))
    max_steps = max(1, planned_steps(len(train_set), config.finetune_batch_size, config.finetune_epochs,
                                      config.finetune_max_steps, config.finetune_min_steps))
    model = load_classifier(model_dir_or_path, config.attention_kernel, config.classifier_input,
                             config.classifier_layers, num_labels=2,
                             **finetune_dropout_overrides(config.finetune_dropout))
    freeze_lower_layers(model, config.finetune_frozen_layers)
    set_step_shortcuts(model, config.finetune_frozen_backward, config.finetune_position_share)
    resume_from = resume_checkpoint(work_dir, "fine-tuning")
    if head_is_new(model_dir_or_path):
        if pooler_is_new(model_dir_or_path):
            start_pooler_as_identity(model)
        probed = None
        if config.head_init == "linear_probe" and resume_from is None:   # a resumed run loads its checkpoint's head
            probed = start_head_by_linear_probe(model, train_set, train_labels, config.eval_batch_size, config.seed)
            if probed is not None and _is_main_process():
                report(f"fine-tuning: head started from a linear probe on the frozen features (training AUROC "
                       f"{probed:.3f})")
        if probed is None:
            start_head_at_base_rate(model, float(train_labels.mean()))
    args = training_arguments(
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
        callbacks.append(PatientEarlyStopping(config.early_stopping_patience,
                                              min(max_steps, config.finetune_min_steps or 0)))
    trainer = make_trainer(
        config, lr_factors={"embeddings": config.finetune_embedding_lr_factor,
                            "head": config.finetune_head_lr_factor},
        model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
        data_collator=(WindowBagCollator(tokenizer.pad_token_id) if isinstance(train_set, NoteWindowBags)
                       else DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)),
        processing_class=tokenizer,
        compute_metrics=metrics,
        callbacks=callbacks + epoch_callbacks(train_set) + [StageProgress("fine-tuning", max_steps)],
    )
    trainer.train(resume_from_checkpoint=resume_from)
    history = history_frame(trainer.state.log_history)
    best_step = None
    if trainer.state.best_model_checkpoint:
        best_step = int(Path(trainer.state.best_model_checkpoint).name.split("-")[-1])
    history["best"] = history["kind"].eq("eval") & history["step"].eq(best_step)
    architecture = "BertForSequenceClassification" if isinstance(model, BertForSequenceClassification) else None
    save_stage(trainer, final, work_dir, config, history, architecture=architecture)
    return final, history


