"""The three ways chapter 5 adapts the global ClinicLLM, and the one code path that trains and scores them.

Every strategy continues fine-tuning from the **global checkpoint** of chapter 2 (its ``summary.json``), never from
scratch, through the same cached stages as chapter 2 (:func:`helpers.clinicllm.finetune_stage` and
:func:`helpers.clinicllm.prediction_stage`): same trainer, same model selection on validation AUROC, same cache
rule (a stage's key covers its starting checkpoint, its settings, its seed and fingerprints of its data).

- ``local``: one model per hospital, trained on that hospital's training admissions only and selected on its
  validation admissions; it scores that hospital's test admissions.
- ``instance_augmented``: the same, with the ``k`` training admissions of the other hospitals that lie closest to
  the hospital's own training admissions added (:mod:`helpers.mitigation.similarity`).
- ``cluster``: one model per k-means cluster of all training admissions, selected on the validation admissions
  routed to that cluster; each test admission is scored by the model of its cluster
  (:mod:`helpers.mitigation.clustering`).

The budget. Chapter 2's global fine-tuning is the longest step of the study; chapter 5 trains 11 models (4 + 4 + 3
by default) per seed within a fraction of that time. Each model is therefore a *short continuation*: at most
``epochs`` passes and ``max_steps`` optimizer steps (:class:`StrategyBudget`), with ``evaluations`` validation
checks spread over the run so that model selection happens inside the cap, and validation capped at
``max_eval_samples`` admissions. Starting from a model that has already learned the task, a few hundred to two
thousand admissions are enough to move it towards one hospital, which is what the strategies are meant to do.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import clinicllm, evaluation
from helpers.artifacts import RunPaths, read_json
from helpers.progress import report

STRATEGIES = ("local", "instance_augmented", "cluster")
from helpers.contracts import TEST_SPLITS  # the two tests, one home
# Settings that depend on the machine, not on the study: chapter 5 decides them for the machine it runs on
# (chapter 2 saved the values of the machine it ran on).
MACHINE_FIELDS = ("bf16", "attention_kernel", "num_threads")


# --------------------------------------------------------------------------------------------------------------
# The global model of chapter 2
# --------------------------------------------------------------------------------------------------------------


@dataclass
class GlobalModel:
    """Chapter 2's fine-tuned global ClinicLLM: where it is, its stage key and the configuration it was trained with."""

    model_dir: Path
    key: str
    tokenizer_dir: Path
    config: clinicllm.ClinicLLMConfig

    @classmethod
    def from_run(cls, paths: RunPaths) -> GlobalModel:
        summary_path = paths.upstream("clinicllm/summary.json", "02_clinicllm")
        summary = read_json(summary_path)
        folder = summary_path.parent
        return cls(
            model_dir=_locate(summary["model_dir"], folder, "model_dir"),
            key=summary["stage_keys"]["finetune"],
            tokenizer_dir=_locate(summary["tokenizer_dir"], folder, "tokenizer_dir"),
            config=clinicllm.ClinicLLMConfig.from_dict(summary["config"]),
        )


def _locate(stored: str, folder: Path, what: str) -> Path:
    """A path from summary.json: the folder of that name beside it (the run may have been copied or moved), else
    the stored path itself (e.g. a pretrained checkpoint outside the run)."""
    beside = folder / Path(stored).name
    if beside.exists():
        return beside
    if Path(stored).exists():
        return Path(stored)
    raise FileNotFoundError(
        f"chapter 2's {what} {stored!r} was not found (nor {beside.name!r} beside its summary.json); re-run "
        "notebook 02_clinicllm for this run."
    )


# --------------------------------------------------------------------------------------------------------------
# The training budget of one strategy model
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyBudget:
    """How long each strategy model continues training from the global checkpoint."""

    epochs: float = 1.0
    """At most this many passes over the model's training admissions."""
    max_steps: int | None = 30
    """At most this many optimizer steps (None = no cap)."""
    evaluations: int = 2
    """Validation AUROC checks per model, evenly spaced; the best one is kept."""
    max_eval_samples: int | None = 300
    """Validation admissions used for model selection, at most (a seeded sample; None = all)."""
    learning_rate: float | None = None
    """Peak learning rate; None = chapter 2's fine-tuning learning rate."""

    def __post_init__(self) -> None:
        if not (isinstance(self.epochs, (int, float)) and np.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"parameter 'strategy_epochs' is {self.epochs!r}; give a positive number of passes.")
        for name, value in (("strategy_max_steps", self.max_steps), ("strategy_max_eval_samples",
                                                                    self.max_eval_samples)):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"parameter {name!r} is {value!r}; give a positive whole number or None.")
        if isinstance(self.evaluations, bool) or int(self.evaluations) != self.evaluations or self.evaluations < 1:
            raise ValueError(f"parameter 'strategy_evaluations' is {self.evaluations!r}; give a whole number >= 1.")
        if self.learning_rate is not None and not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"parameter 'strategy_learning_rate' is {self.learning_rate!r}; give a positive "
                             "number or None (chapter 2's rate).")

    def plan(self, n_train: int, batch_size: int) -> dict[str, int]:
        """Steps, evaluations per epoch and steps between evaluations for ``n_train`` admissions.

        The run ends on an evaluation (no step is trained after the last checkpoint that model selection can
        keep), so it is cut to a whole number of evaluation intervals. The Trainer spaces evaluations by
        ``ceil(steps_per_epoch / evals_per_epoch)``; of the spacings that give between ``evaluations`` and twice
        that many checks, the one that keeps the most planned steps is used (then the fewest checks).
        """
        steps_per_epoch = max(1, math.ceil(n_train / batch_size))
        planned = max(1, math.ceil(self.epochs * steps_per_epoch))
        if self.max_steps:
            planned = min(planned, int(self.max_steps))
        n_evals = min(int(self.evaluations), planned)
        best = None
        first = max(1, math.ceil(n_evals * steps_per_epoch / planned))
        for evals_per_epoch in range(first, max(first, steps_per_epoch) + 1):
            eval_steps = math.ceil(steps_per_epoch / evals_per_epoch)
            checks = planned // eval_steps
            if checks < n_evals:
                continue
            if checks > 2 * n_evals and best is not None:
                break
            candidate = (eval_steps * checks, -checks, evals_per_epoch, eval_steps)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        steps, _, evals_per_epoch, eval_steps = best
        return {"steps": steps, "evals_per_epoch": evals_per_epoch, "eval_steps": eval_steps,
                "examples_seen": min(steps * batch_size, math.ceil(self.epochs * n_train))}

    def config_for(self, base: clinicllm.ClinicLLMConfig, n_train: int, seed: int) -> clinicllm.ClinicLLMConfig:
        """``base`` (resolved) with this budget's schedule for ``n_train`` training admissions and ``seed``."""
        base = base.resolved()
        plan = self.plan(n_train, base.finetune_batch_size)
        return dataclasses.replace(
            base, finetune_epochs=float(self.epochs), finetune_max_steps=plan["steps"],
            evals_per_epoch=plan["evals_per_epoch"], max_eval_samples=self.max_eval_samples,
            finetune_learning_rate=self.learning_rate or base.finetune_learning_rate, seed=int(seed),
        )


def strategy_base_config(global_model: GlobalModel, options: dict | None = None) -> clinicllm.ClinicLLMConfig:
    """Chapter 2's configuration with the machine settings re-decided here and ``options`` (any field) applied."""
    values = global_model.config.to_dict()
    for name in MACHINE_FIELDS:
        values[name] = None
    values.update(options or {})
    return clinicllm.ClinicLLMConfig.from_dict(values).resolved()


# --------------------------------------------------------------------------------------------------------------
# Training units: what each strategy model trains on, selects on and scores
# --------------------------------------------------------------------------------------------------------------


@dataclass
class TrainingUnit:
    """One model to train: its training, selection (validation) and scored (test) admissions."""

    strategy: str
    unit: str
    train: pd.DataFrame
    selection: pd.DataFrame
    scored: pd.DataFrame
    skip_reason: str | None = None
    fallback_to_global: bool = False
    """When skipped, whether its scored admissions keep the global model's score (cluster) or go unscored."""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.strategy}-{self.unit}".lower()).strip("-")


def _class_problem(frame: pd.DataFrame, what: str) -> str | None:
    if len(frame) == 0:
        return f"it has no {what} admissions"
    if frame["readmitted_30d"].nunique() < 2:
        return f"its {what} admissions hold only one outcome class"
    return None


def _untestable_reason(scored: pd.DataFrame) -> str | None:
    """Why none of the unit's test splits can give an AUROC (evaluation's thresholds), or None if one can."""
    reasons = []
    for split in TEST_SPLITS:
        rows = scored[scored["split"] == split]
        result = evaluation.bootstrap_metrics(rows["readmitted_30d"].to_numpy(), rows["readmitted_30d"].to_numpy(
            dtype=float), rows["patient_id"].to_numpy(), metrics=("auroc",), n_resamples=0)["auroc"]
        if result.reason is None:
            return None
        reasons.append(f"{split}: {result.reason}")
    return "no test split can be scored (" + "; ".join(reasons) + ")"


def _hospital_unit(strategy: str, data: pd.DataFrame, hospital: str, train: pd.DataFrame) -> TrainingUnit:
    own = data["hospital"].eq(hospital)
    selection = data[own & data["split"].eq("validation")]
    scored = data[own & data["split"].isin(TEST_SPLITS)]
    reason = (_class_problem(train, "training") or _class_problem(selection, "validation")
              or _untestable_reason(scored))
    return TrainingUnit(strategy, str(hospital), train, selection, scored,
                        skip_reason=f"not estimable: {reason}" if reason else None)


def local_units(data: pd.DataFrame) -> list[TrainingUnit]:
    """One unit per hospital: its own training admissions, its own validation admissions, its own tests."""
    return [_hospital_unit("local", data, h, data[data["hospital"].eq(h) & data["split"].eq("train")])
            for h in sorted(data["hospital"].unique())]


def augmented_units(data: pd.DataFrame, vectors: pd.DataFrame, k: int) -> list[TrainingUnit]:
    """As :func:`local_units`, each hospital's training admissions plus the ``k`` most similar of other hospitals."""
    from helpers.mitigation.similarity import most_similar_from_other_hospitals

    units = []
    for hospital in sorted(data["hospital"].unique()):
        own = data[data["hospital"].eq(hospital) & data["split"].eq("train")]
        added = most_similar_from_other_hospitals(data, vectors, hospital, k) if len(own) else data.iloc[0:0]
        train = pd.concat([own, added.drop(columns=["distance", "source_hospital"], errors="ignore")])
        units.append(_hospital_unit("instance_augmented", data, hospital, train))
    return units


def cluster_units(data: pd.DataFrame, assignment: pd.Series, min_train: int = 50) -> list[TrainingUnit]:
    """One unit per cluster: its training admissions, the validation and test admissions routed to it.

    A cluster with fewer than ``min_train`` training admissions, or whose training or validation admissions hold
    one outcome class, gets no model of its own; its test admissions keep the global model's score.
    """
    units = []
    for label in sorted(assignment.unique(), key=lambda s: int(s.split()[-1])):
        members = data[assignment.reindex(data.index).eq(label)]
        train = members[members["split"].eq("train")]
        selection = members[members["split"].eq("validation")]
        scored = members[members["split"].isin(TEST_SPLITS)]
        reason = _class_problem(train, "training") or _class_problem(selection, "validation")
        if reason is None and len(train) < min_train:
            reason = f"it has {len(train)} training admissions (< {min_train})"
        units.append(TrainingUnit("cluster", label, train, selection, scored,
                                  skip_reason=f"no model of its own: {reason}" if reason else None,
                                  fallback_to_global=True))
    return units


# --------------------------------------------------------------------------------------------------------------
# Training and scoring
# --------------------------------------------------------------------------------------------------------------


@dataclass
class StrategyRun:
    """What :func:`run_units` produced."""

    predictions: pd.DataFrame
    """Prediction columns plus experiment, seed, unit, train_size, examples_seen (one row per scored admission)."""
    models: pd.DataFrame
    """One row per unit and seed: training sizes, steps, best validation AUROC, seconds, status."""
    timings: dict[str, float] = field(default_factory=dict)


def _cap(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    sample = frame.sample(n=int(limit), random_state=seed).sort_index()
    return sample if sample["readmitted_30d"].nunique() == 2 else frame


def _best_validation_auroc(history: pd.DataFrame) -> float:
    if "best" not in history or "eval_auroc" not in history:
        return float("nan")
    best = history[history["best"].astype(bool)]
    return float(best["eval_auroc"].iloc[0]) if len(best) else float("nan")


def run_units(units: list[TrainingUnit], global_model: GlobalModel, tokenizer, base_config, budget: StrategyBudget,
              seeds: list[int], root: Path, global_predictions: pd.DataFrame, selection_seed: int = 0) -> StrategyRun:
    """Fine-tune every unit from the global checkpoint once per seed and score its test admissions (cached)."""
    if not seeds or any(isinstance(s, bool) or int(s) != s or s < 0 for s in seeds):
        raise ValueError(f"parameter 'seeds' is {seeds!r}; give a non-empty list of non-negative whole numbers, "
                         "e.g. [0] or [0, 1, 2, 3, 4].")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"parameter 'seeds' repeats a seed ({seeds}); each seed is one repetition.")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    global_scores = global_predictions.set_index(["admission_id", "split"])["y_score"]
    predictions, models = [], []
    timings = {"fine-tuning": 0.0, "predictions": 0.0}
    for seed in seeds:
        for unit in units:
            row = {"strategy": unit.strategy, "unit": unit.unit, "seed": int(seed), "train_size": len(unit.train),
                   "from_other_hospitals": int((unit.train["hospital"] != unit.unit).sum())
                   if unit.strategy != "cluster" else 0,
                   "hospitals_in_training": unit.train["hospital"].nunique(),
                   "selection_size": len(unit.selection), "scored": len(unit.scored)}
            if unit.skip_reason:
                models.append({**row, "status": unit.skip_reason})
                if unit.fallback_to_global and len(unit.scored):
                    keys = pd.MultiIndex.from_frame(unit.scored[["admission_id", "split"]])
                    predictions.append(_prediction_rows(unit, seed, global_scores.reindex(keys).to_numpy(),
                                                        train_size=None, examples_seen=None))
                continue
            config = budget.config_for(base_config, len(unit.train), seed)
            plan = budget.plan(len(unit.train), config.finetune_batch_size)
            selection = _cap(unit.selection, budget.max_eval_samples, selection_seed)
            report(f"chapter 5: {unit.strategy} / {unit.unit} / seed {seed}: fine-tuning on {len(unit.train):,} "
                   f"admissions, {plan['steps']} steps")
            t0 = time.perf_counter()
            model_dir, history, key, reused = clinicllm.finetune_stage(
                global_model.model_dir, global_model.key, tokenizer, unit.train, selection, config, root,
                name=unit.slug)
            t1 = time.perf_counter()
            scored, _, scored_reused, _ = clinicllm.prediction_stage(
                model_dir, key, tokenizer, unit.scored, config, root, name=f"{unit.slug}-predictions")
            t2 = time.perf_counter()
            timings["fine-tuning"] += t1 - t0
            timings["predictions"] += t2 - t1
            scores = scored.set_index("admission_id")["y_score"].reindex(unit.scored["admission_id"]).to_numpy()
            predictions.append(_prediction_rows(unit, seed, scores, len(unit.train), plan["examples_seen"]))
            models.append({**row, "status": "trained (reused from cache)" if reused else "trained",
                           "steps": plan["steps"], "examples_seen": plan["examples_seen"],
                           "best_validation_auroc": _best_validation_auroc(history),
                           "seconds": round(t2 - t0, 1), "reused": bool(reused and scored_reused)})
    columns = evaluation.PREDICTION_COLUMNS + ["experiment", "seed", "unit", "train_size", "examples_seen"]
    table = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=columns)
    return StrategyRun(table[columns], pd.DataFrame(models), timings)


def _prediction_rows(unit: TrainingUnit, seed: int, scores: np.ndarray, train_size: int | None,
                     examples_seen: int | None) -> pd.DataFrame:
    """Prediction rows of one unit; ``train_size`` None marks admissions that kept the global model's score."""
    rows = unit.scored[["admission_id", "patient_id", "hospital", "split"]].copy()
    rows["model"] = clinicllm.MODEL_NAME
    rows["y_true"] = unit.scored["readmitted_30d"].to_numpy()
    rows["y_score"] = np.asarray(scores, dtype=float)
    rows["experiment"] = unit.strategy
    rows["seed"] = int(seed)
    rows["unit"] = unit.unit if train_size is not None else f"global ({unit.unit} has no model)"
    rows["train_size"] = np.nan if train_size is None else float(train_size)
    rows["examples_seen"] = np.nan if examples_seen is None else float(examples_seen)
    return rows.reset_index(drop=True)
