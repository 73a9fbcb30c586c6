"""The Trainer set-up both training stages share: arguments, learning rates per part, callbacks, the saved stage."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
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
from .encoding import NoteWindowBags, RandomWindowNotes

__all__ = ['training_arguments', 'ClinicTrainer', 'MODEL_PARTS', 'model_part', 'make_trainer', 'PatientEarlyStopping',
    'WindowEpochs', 'StageProgress', 'epoch_callbacks', 'history_frame', 'planned_steps', 'resume_checkpoint',
    'save_stage']


def training_arguments(config: ClinicLLMConfig, output_dir: Path, **overrides: Any) -> TrainingArguments:
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


def make_trainer(config: ClinicLLMConfig, lr_factors: dict[str, float] | None = None, **kwargs: Any) -> Trainer:
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


def epoch_callbacks(dataset) -> list[TrainerCallback]:
    return [WindowEpochs(dataset)] if isinstance(dataset, (RandomWindowNotes, NoteWindowBags)) else []


def history_frame(log_history: list[dict[str, Any]]) -> pd.DataFrame:
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


def planned_steps(n_examples: int, batch_size: int, epochs: float, max_steps: int | None,
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


def resume_checkpoint(work_dir: Path, label: str | None = None) -> str | None:
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


def save_stage(trainer: Trainer, final: Path, work_dir: Path, config: ClinicLLMConfig, history: pd.DataFrame,
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


