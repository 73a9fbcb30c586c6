"""MLM pretraining, fine-tuning with model selection on validation AUROC, and scoring, with the Trainer."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import transformers
from sklearn.metrics import roc_auc_score
from transformers import (
    BertForSequenceClassification,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback, TrainerCallback

from helpers.progress import Throttled, report

from .config import CONFIG_FILE, HISTORY_FILE, ClinicLLMConfig
from .distributed import (
    _barrier,
    _is_main_process,
    _publish_dir,
    _quiet_transformers,
    _write_json_atomic,
    _write_table_atomic,
)
from .encoding import (
    EncodedNotes,
    NoteWindowBags,
    NoteWindows,
    RandomWindowNotes,
    WindowBagCollator,
    encode_notes,
    note_token_ids,
    note_windows,
    pool_window_scores,
)
from .models import FineTuningShortcuts, _load_classifier, build_mlm_model, pool_by_note

__all__ = ['ClinicTrainer', 'pretrain_mlm', 'validation_metrics', 'finetune_classifier', 'predict_scores',
    'note_embeddings', 'finetune_dropout_overrides', 'freeze_lower_layers', 'set_step_shortcuts', 'MODEL_PARTS',
    'model_part']

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
        # A resumed run continues early stopping's count of evaluations without improvement, not from zero.
        restore_callback_states_from_checkpoint=True,
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

    def __init__(self, *args: Any, train_bf16: bool = False, eval_in_order: bool = False,
                 lr_factors: dict[str, float] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.train_bf16 = train_bf16
        self.eval_in_order = eval_in_order
        self.lr_factors = {part: float(f) for part, f in (lr_factors or {}).items() if f is not None and f != 1.0}

    def create_optimizer(self, model=None):
        """The Trainer's optimizer, with the peak learning rate of each part of the model (embeddings, encoder
        layers, head) scaled by its factor in ``lr_factors``; the schedule scales every group alike."""
        optimizer = super().create_optimizer(model)
        if not self.lr_factors:
            return optimizer
        opt_model = self.model if model is None else model
        part_of = {id(p): model_part(name) for name, p in opt_model.named_parameters()}
        groups = []
        for group in optimizer.param_groups:
            by_part: dict[str, list] = {}
            for parameter in group["params"]:
                by_part.setdefault(part_of.get(id(parameter), "encoder"), []).append(parameter)
            for part, params in by_part.items():
                lr = group["lr"] * self.lr_factors.get(part, 1.0)
                groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params, "lr": lr,
                               "initial_lr": lr})
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

    def _get_eval_sampler(self, eval_dataset):
        # Length grouping shuffles the evaluation rows; window scores must come back in order to be pooled per note.
        if self.eval_in_order and eval_dataset is not None:
            return torch.utils.data.SequentialSampler(eval_dataset)
        return super()._get_eval_sampler(eval_dataset)

    def autocast_smart_context_manager(self, cache_enabled: bool | None = True):
        if self.train_bf16 and self.model.training:
            return torch.autocast(device_type=self.args.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


MODEL_PARTS = ("embeddings", "encoder", "head")


def model_part(parameter_name: str) -> str:
    """Which part of a BERT classifier a parameter belongs to: the word embeddings (one vector per vocabulary
    entry), the encoder (the position and type embeddings, the embeddings' LayerNorm and the layers), or the head
    (pooler and classifier)."""
    if parameter_name.endswith("word_embeddings.weight"):
        return "embeddings"
    if parameter_name.startswith(("classifier", "bert.pooler", "pooler")):
        return "head"
    return "encoder"


def _make_trainer(config: ClinicLLMConfig, lr_factors: dict[str, float] | None = None, **kwargs: Any) -> Trainer:
    with _quiet_transformers():
        trainer = ClinicTrainer(train_bf16=bool(config.bf16), eval_in_order=config.note_reading == "windows",
                                lr_factors=lr_factors, **kwargs)
    trainer.remove_callback(PrinterCallback)
    return trainer


class PatientEarlyStopping(EarlyStoppingCallback):
    """Early stopping on validation AUROC that never stops before ``min_steps``.

    A small model on a small cohort first sits at the base rate for a couple of hundred steps, its validation AUROC
    wandering around 0.5; stopping there (three evaluations without a new best) returns the collapsed model that
    the step minimum exists to avoid.
    """

    def __init__(self, patience: int, min_steps: int = 0):
        super().__init__(early_stopping_patience=patience)
        self.min_steps = int(min_steps)

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        super().on_evaluate(args, state, control, metrics, **kwargs)
        if state.global_step < self.min_steps:
            control.should_training_stop = False

    def state(self) -> dict:
        # The Trainer rebuilds a resumed callback as ``type(callback)(**args)``: the args must be this __init__'s.
        return {"args": {"patience": self.early_stopping_patience, "min_steps": self.min_steps},
                "attributes": {"early_stopping_patience_counter": self.early_stopping_patience_counter}}


class WindowEpochs(TrainerCallback):
    """Tells a :class:`RandomWindowNotes` training set which pass over the notes begins, so that its window draws
    depend on the epoch and not on the order of calls; a run resumed in the middle of an epoch then draws the same
    windows as an uninterrupted one."""

    def __init__(self, dataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        # state.epoch is the number of passes completed so far, fractional for a run resumed mid-epoch.
        self.dataset.use_epoch(math.floor((state.epoch or 0.0) + 1e-6))


class StageProgress(TrainerCallback):
    """One progress line per ~10 s of training (``pretraining: step 120/400 (30 %), 41 s``) and one per validation
    evaluation, to the terminal and the run's log (helpers.progress), never to the notebook."""

    def __init__(self, label: str, total: int):
        self.label = label
        self.counter = Throttled(label, total=total)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.counter.update(state.global_step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if state.is_world_process_zero and metrics and "eval_auroc" in metrics:
            report(f"{self.label}: step {state.global_step}, validation AUROC {metrics['eval_auroc']:.3f}")


def _epoch_callbacks(dataset) -> list[TrainerCallback]:
    return [WindowEpochs(dataset)] if isinstance(dataset, (RandomWindowNotes, NoteWindowBags)) else []


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


def _planned_steps(n_examples: int, batch_size: int, epochs: float, max_steps: int | None,
                   min_steps: int | None = None) -> int:
    """Optimizer steps for ``epochs`` passes over the data (all processes together), raised to ``min_steps`` and
    capped at ``max_steps``.

    The Trainer lets max_steps *replace* the epoch count; here the cap only ever shortens a run, so a small
    smoke cohort is not trained for many epochs just because the cap was sized for a large one. ``min_steps``
    works the other way: a small cohort gets more passes, because a model needs a number of optimizer steps, not
    of epochs, to move from its starting point (2 epochs of 2,400 notes are 150 steps, after which the tiny model
    still predicts the base rate for everyone).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps = math.ceil(epochs * math.ceil(n_examples / (batch_size * world)))
    if min_steps and epochs > 0:
        steps = max(steps, int(min_steps))
    return min(steps, max_steps) if max_steps else steps


def _resume_checkpoint(work_dir: Path, label: str | None = None) -> str | None:
    """The newest complete checkpoint in ``work_dir`` (a run killed while saving leaves one without its state);
    with ``label``, says in the progress lines that the stage resumes from it."""
    if not work_dir.is_dir():
        return None
    complete = [p for p in work_dir.glob("checkpoint-*")
                if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    if not complete:
        return None
    newest = max(complete, key=lambda p: int(p.name.split("-")[-1]))
    if label and _is_main_process():
        report(f"{label}: resuming an interrupted run from its checkpoint at step {newest.name.split('-')[-1]}")
    return str(newest)


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
    if config.note_reading == "head":
        dataset = encode_notes(tokenizer, texts, config.max_length, with_special_tokens_mask=True)
    else:
        dataset = RandomWindowNotes(_reading_windows(tokenizer, texts, config), seed=config.seed,
                                    with_special_tokens_mask=True)
    model = build_mlm_model(config, tokenizer, masked_only=True)
    # The masking draws from torch's global generator, which the Trainer seeds and restores from a checkpoint (a
    # collator's own seeded generator would start over on resume and mask other tokens than the uninterrupted run).
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=config.mlm_probability,
                                               pad_to_multiple_of=8)
    save = dict(save_strategy="steps", save_steps=config.checkpoint_steps, save_total_limit=1) \
        if config.checkpoint_steps else {}
    steps = _planned_steps(len(dataset), config.pretrain_batch_size, config.pretrain_epochs, config.pretrain_max_steps,
                           config.pretrain_min_steps)
    args = _training_arguments(
        config, work_dir,
        per_device_train_batch_size=config.pretrain_batch_size,
        max_steps=max(1, steps),
        learning_rate=config.pretrain_learning_rate,
        **save,
    )
    trainer = _make_trainer(config, model=model, args=args, train_dataset=dataset, data_collator=collator,
                            processing_class=tokenizer,
                            callbacks=_epoch_callbacks(dataset) + [StageProgress("pretraining", max(1, steps))])
    if steps > 0:
        trainer.train(resume_from_checkpoint=_resume_checkpoint(work_dir, "pretraining") if config.checkpoint_steps
                      else None)
    history = _history_frame(trainer.state.log_history)[["step", "epoch", "train_loss", "learning_rate"]]
    # Same weights as BertForMaskedLM: saved under that name, so any BERT code loads them without this module.
    _save_stage(trainer, final, work_dir, config, history, architecture="BertForMaskedLM")
    return final, history


# --------------------------------------------------------------------------------------------------------------
# Fine-tuning and prediction
# --------------------------------------------------------------------------------------------------------------


def _labels_of(frame: pd.DataFrame, name: str) -> np.ndarray:
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


def _reading_windows(tokenizer, texts: list[str], config: ClinicLLMConfig) -> NoteWindows:
    return note_windows(note_token_ids(tokenizer, texts), config.max_length, config.window_stride,
                        tokenizer.cls_token_id, tokenizer.sep_token_id)


def _training_sets(tokenizer, train_df: pd.DataFrame, val_df: pd.DataFrame, train_labels: np.ndarray,
                   val_labels: np.ndarray, config: ClinicLLMConfig):
    """(train set, validation set, metrics function) for the configuration's note reading."""
    if config.note_reading == "head":
        train_set = encode_notes(tokenizer, train_df["note_text"].tolist(), config.max_length, labels=train_labels)
        val_set = encode_notes(tokenizer, val_df["note_text"].tolist(), config.max_length, labels=val_labels)
        return train_set, val_set, validation_metrics
    train_windows = _reading_windows(tokenizer, train_df["note_text"].tolist(), config)
    val_windows = _reading_windows(tokenizer, val_df["note_text"].tolist(), config)
    if config.window_pooling == "features":
        train_set = NoteWindowBags(train_windows, train_labels, seed=config.seed,
                                   max_windows=config.train_windows_per_note)
        return train_set, NoteWindowBags(val_windows, val_labels), validation_metrics
    train_set = RandomWindowNotes(train_windows, train_labels, seed=config.seed)
    val_set = EncodedNotes([ids.tolist() for ids in val_windows.input_ids], labels=val_labels[val_windows.note_index])
    return train_set, val_set, functools.partial(validation_metrics, windows=val_windows, note_labels=val_labels,
                                                 pooling=config.window_pooling, c=config.window_pooling_c)


def _head_is_new(path: str | os.PathLike) -> bool:
    """True when the checkpoint has no classification head yet (an MLM or bare encoder checkpoint)."""
    stored = json.loads((Path(path) / "config.json").read_text())
    return not any("SequenceClassification" in name for name in stored.get("architectures") or [])


def _pooler_is_new(path: str | os.PathLike) -> bool:
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


def _start_pooler_as_identity(model) -> None:
    """Start an untrained pooler's dense layer as the identity, so that the head reads tanh of the encoder's own
    features rather than a random projection of them (and the linear probe fits the encoder's features)."""
    pooler = getattr(getattr(model, "bert", None), "pooler", None)
    dense = getattr(pooler, "dense", None)
    if not isinstance(dense, torch.nn.Linear) or dense.in_features != dense.out_features:
        return
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.in_features, dtype=dense.weight.dtype))
        dense.bias.zero_()


def _start_head_at_base_rate(model, prevalence: float) -> None:
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


def _start_head_by_linear_probe(model, dataset, labels: np.ndarray, batch_size: int, seed: int) -> float | None:
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
        features = _note_head_inputs(model, inputs, owner, len(rows), batch_size, pad_id,
                                     label="fine-tuning: linear probe")
    else:
        inputs = [dataset[int(i)]["input_ids"] for i in rows]

        def forward(ids, attention):
            return model.head_input(input_ids=ids, attention_mask=attention).float().cpu().numpy()

        features = np.stack(_batched_forward(inputs, batch_size, pad_id, forward, label="fine-tuning: linear probe"))
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
    train_set, val_set, metrics = _training_sets(tokenizer, train_df, val_df, train_labels, val_labels, config)

    final = Path(out_dir)
    work_dir = final.parent / f".{final.name}.partial"
    steps_per_epoch = _planned_steps(len(train_set), config.finetune_batch_size, 1.0, None)
    eval_steps = max(1, math.ceil(steps_per_epoch / config.evals_per_epoch))
    max_steps = max(1, _planned_steps(len(train_set), config.finetune_batch_size, config.finetune_epochs,
                                      config.finetune_max_steps, config.finetune_min_steps))
    model = _load_classifier(model_dir_or_path, config.attention_kernel, config.classifier_input,
                             config.classifier_layers, num_labels=2,
                             **finetune_dropout_overrides(config.finetune_dropout))
    freeze_lower_layers(model, config.finetune_frozen_layers)
    set_step_shortcuts(model, config.finetune_frozen_backward, config.finetune_position_share)
    resume_from = _resume_checkpoint(work_dir, "fine-tuning")
    if _head_is_new(model_dir_or_path):
        if _pooler_is_new(model_dir_or_path):
            _start_pooler_as_identity(model)
        probed = None
        if config.head_init == "linear_probe" and resume_from is None:   # a resumed run loads its checkpoint's head
            probed = _start_head_by_linear_probe(model, train_set, train_labels, config.eval_batch_size, config.seed)
            if probed is not None and _is_main_process():
                report(f"fine-tuning: head started from a linear probe on the frozen features (training AUROC "
                       f"{probed:.3f})")
        if probed is None:
            _start_head_at_base_rate(model, float(train_labels.mean()))
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
        callbacks.append(PatientEarlyStopping(config.early_stopping_patience,
                                              min(max_steps, config.finetune_min_steps or 0)))
    trainer = _make_trainer(
        config, lr_factors={"embeddings": config.finetune_embedding_lr_factor,
                            "head": config.finetune_head_lr_factor},
        model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
        data_collator=(WindowBagCollator(tokenizer.pad_token_id) if isinstance(train_set, NoteWindowBags)
                       else DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)),
        processing_class=tokenizer,
        compute_metrics=metrics,
        callbacks=callbacks + _epoch_callbacks(train_set) + [StageProgress("fine-tuning", max_steps)],
    )
    trainer.train(resume_from_checkpoint=resume_from)
    history = _history_frame(trainer.state.log_history)
    best_step = None
    if trainer.state.best_model_checkpoint:
        best_step = int(Path(trainer.state.best_model_checkpoint).name.split("-")[-1])
    history["best"] = history["kind"].eq("eval") & history["step"].eq(best_step)
    architecture = "BertForSequenceClassification" if isinstance(model, BertForSequenceClassification) else None
    _save_stage(trainer, final, work_dir, config, history, architecture=architecture)
    return final, history


def _batched_forward(input_ids: list, batch_size: int, pad_id: int, forward, label: str | None = None) -> list:
    """``forward(input_ids, attention_mask)`` over length-sorted batches; returns the outputs in input order.

    Sorting by length keeps padding minimal; ``torch.inference_mode`` skips autograd bookkeeping. Progress goes to
    the terminal and the run's log under ``label``.
    """
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    order = np.argsort(lengths, kind="stable")
    outputs: list = [None] * len(input_ids)
    progress = Throttled(label, total=len(input_ids), unit="window") if label else None
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = int(lengths[rows].max())
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, row in enumerate(rows):
                ids[i, :lengths[row]] = torch.as_tensor(input_ids[row], dtype=torch.long)
                attention[i, :lengths[row]] = 1
            values = forward(ids, attention)
            for i, row in enumerate(rows):
                outputs[row] = values[i]
            if progress:
                progress.update(start + len(rows))
    return outputs


def _note_head_inputs(model, inputs: list, owner: np.ndarray, n_notes: int, batch_size: int, pad_id: int,
                      label: str | None = None, device=None) -> np.ndarray:
    """The head input of each note from all its windows (``window_pooling: features``): the windows' token sums
    and counts added up per note (``owner``: the note of each window), then the mean through the pooler; float32,
    notes x hidden."""
    device = device or torch.device("cpu")

    def forward(ids, attention):
        sums, counts = model.token_sums(input_ids=ids.to(device), attention_mask=attention.to(device))
        return torch.cat([sums.float(), counts.float().unsqueeze(-1)], dim=-1).cpu().numpy()

    parts = np.stack(_batched_forward(inputs, batch_size, pad_id, forward, label=label))
    with torch.inference_mode():
        sums, counts = pool_by_note(torch.as_tensor(parts[:, :-1]), torch.as_tensor(parts[:, -1]),
                                    torch.as_tensor(np.asarray(owner, dtype=np.int64)))
        if len(counts) < n_notes:
            raise ValueError(f"_note_head_inputs: windows for {len(counts)} notes, expected {n_notes}.")
        mean = (sums / counts.clamp(min=1.0).unsqueeze(-1)).to(device)
        return model.head_from_mean(mean).float().cpu().numpy()


def _reading_inputs(tokenizer, frame: pd.DataFrame, config: ClinicLLMConfig) -> tuple[list, np.ndarray | None]:
    """The inputs the model reads for each row, and for ``windows`` the row of each window (None for ``head``)."""
    texts = frame["note_text"].tolist()
    if config.note_reading == "head":
        return encode_notes(tokenizer, texts, config.max_length).input_ids, None
    windows = _reading_windows(tokenizer, texts, config)
    return windows.input_ids, windows.note_index


def predict_scores(model_dir: str | os.PathLike, tokenizer, frame: pd.DataFrame,
                   config: ClinicLLMConfig, label: str | None = None) -> np.ndarray:
    """Probability of 30-day readmission for each row of ``frame`` (same order), from a fine-tuned model.

    ``note_reading: head`` scores each note's first ``max_length`` tokens; ``windows`` scores every window of every
    note and pools them per note (``window_pooling``). Inputs are scored in batches of similar length under
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
    inputs, owner = _reading_inputs(tokenizer, frame, config)

    def forward(ids, attention):
        logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits
        return torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy()

    if owner is not None and config.window_pooling == "features":
        features = _note_head_inputs(model, inputs, owner, len(frame), config.eval_batch_size, tokenizer.pad_token_id,
                                     label=label, device=device)
        with torch.inference_mode():
            logits = model.classifier(torch.as_tensor(features, device=device))
        return torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy().astype(np.float64)
    scores = np.asarray(_batched_forward(inputs, config.eval_batch_size, tokenizer.pad_token_id, forward, label),
                        dtype=np.float64)
    if owner is None:
        return scores
    return pool_window_scores(scores, owner, len(frame), config.window_pooling, config.window_pooling_c)


def note_embeddings(model_dir: str | os.PathLike, tokenizer, frame: pd.DataFrame,
                    config: ClinicLLMConfig, label: str | None = None) -> np.ndarray:
    """The vector the classification head reads, for each row's note (rows x hidden size, float32, frame order):
    the last encoder layer at [CLS] (``classifier_input: cls``) or its mean over the tokens (``mean``).

    Admissions close in it are close for the model.
    With ``note_reading: windows`` a note's vector is the mean of its windows' [CLS] vectors.
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
    inputs, owner = _reading_inputs(tokenizer, frame, config)

    def forward(ids, attention):
        hidden = encoder(input_ids=ids.to(device), attention_mask=attention.to(device)).last_hidden_state.float()
        if config.classifier_input == "mean":
            weights = attention.to(device).unsqueeze(-1).float()
            return ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)).cpu().numpy()
        return hidden[:, 0].cpu().numpy()

    vectors = np.stack(_batched_forward(inputs, config.eval_batch_size, tokenizer.pad_token_id, forward, label))
    if owner is None:
        return vectors.astype(np.float32)
    sums = np.zeros((len(frame), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, vectors)
    return (sums / np.bincount(owner, minlength=len(frame))[:, None]).astype(np.float32)
