"""What chapter 5 trains: the three strategies and their two controls, and the one loop that trains and scores them.

Every model retrains ClinicLLM's head on cached note features (:mod:`helpers.mitigation.training`; or, with
``strategy_training: top_layer``, the top encoder layer and the head, :mod:`helpers.mitigation.top_layer`), continuing
from the **global checkpoint** of chapter 2 (or, with ``local_start: pretrained``, from its pretrained encoder with
a new head), until its validation AUROC stops improving.

- ``local``: one model per hospital, trained on that hospital's training admissions only and selected on its
  validation admissions; it scores that hospital's test admissions.
- ``instance_augmented``: the same, with the ``k`` training admissions of the other hospitals that lie closest to
  the hospital's own training admissions added (:mod:`helpers.mitigation.similarity`).
- ``cluster``: one model per k-means cluster of all training admissions, selected on the validation admissions
  routed to that cluster; each test admission is scored by the model of its cluster
  (:mod:`helpers.mitigation.clustering`).

The controls separate a strategy's idea from "more training":

- ``global_continued``: the global model trained further on the pooled training admissions of all hospitals,
  selected on all validation admissions, with the same start, stopping rule and seeds. Local and cluster models
  are judged against it.
- ``random_augmented``: each hospital's training admissions plus as many admissions as ``instance_augmented``
  added there, drawn at random from the other hospitals' training admissions. Instance selection is judged
  against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import clinicllm, evaluation
from helpers.mitigation import training
from helpers.artifacts import RunPaths, read_json
from helpers.progress import report

STRATEGIES = ("local", "instance_augmented", "cluster")
CONTROLS = ("global_continued", "random_augmented")
EXPERIMENTS = STRATEGIES + CONTROLS
CONTROL_OF = {"local": "global_continued", "cluster": "global_continued", "instance_augmented": "random_augmented"}
"""The control each strategy is judged against: the same training without the strategy's idea."""
POOLED_UNIT = "all hospitals"
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
    pretrained_dir: Path | None = None
    """The MLM-pretrained encoder the global model was fine-tuned from (``local_start: pretrained``)."""
    pretrained_key: str | None = None

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
            pretrained_dir=_locate(summary["pretrained_dir"], folder, "pretrained_dir")
            if summary.get("pretrained_dir") else None,
            pretrained_key=summary["stage_keys"].get("pretrain"),
        )

    def start(self, local_start: str) -> tuple[Path, str]:
        """The checkpoint and stage key strategy models start from: ``global`` or ``pretrained``."""
        if local_start not in ("global", "pretrained"):
            raise ValueError(f"parameter 'local_start' is {local_start!r}; give \"global\" (the fine-tuned global "
                             "model) or \"pretrained\" (chapter 2's MLM-pretrained encoder with a new head).")
        if local_start == "global":
            return self.model_dir, self.key
        if self.pretrained_dir is None or self.pretrained_key is None:
            raise ValueError("parameter 'local_start' is \"pretrained\" but chapter 2's summary.json names no "
                             "pretrained checkpoint; re-run chapter 2, or use local_start: \"global\".")
        return self.pretrained_dir, self.pretrained_key


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


STRATEGY_TRAIN_WINDOWS = 2
"""Windows of a training note a strategy model reads (drawn once) when chapter 2's training reads every window: the
top-layer variant caches each window's token vectors, and all windows of the default cohort would be about 2 GB."""


def strategy_base_config(global_model: GlobalModel, options: dict | None = None) -> clinicllm.ClinicLLMConfig:
    """Chapter 2's configuration with the machine settings re-decided here, a training note read through at most
    :data:`STRATEGY_TRAIN_WINDOWS` windows, and ``options`` (any field) applied."""
    values = global_model.config.resolved().to_dict()
    for name in MACHINE_FIELDS:
        values[name] = None
    if values.get("train_windows_per_note") is None:
        values["train_windows_per_note"] = STRATEGY_TRAIN_WINDOWS
    values.update(options or {})
    return clinicllm.ClinicLLMConfig.from_dict(values).resolved()


def windows_text(per_note: int | None) -> str:
    """How many windows of a training note a strategy model reads, for the page."""
    if per_note is None:
        return "windows (all of them)"
    return f"{per_note} window{'s' if per_note != 1 else ''} (drawn once)"


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




def continued_unit(data: pd.DataFrame) -> TrainingUnit:
    """The ``global_continued`` control: the pooled training admissions of every hospital, selected on all
    validation admissions, scoring every test admission."""
    train = data[data["split"].eq("train")]
    selection = data[data["split"].eq("validation")]
    scored = data[data["split"].isin(TEST_SPLITS)]
    reason = _class_problem(train, "training") or _class_problem(selection, "validation")
    return TrainingUnit("global_continued", POOLED_UNIT, train, selection, scored,
                        skip_reason=f"not estimable: {reason}" if reason else None)


def random_augmented_units(data: pd.DataFrame, augmented: list[TrainingUnit], seed: int = 0) -> list[TrainingUnit]:
    """The ``random_augmented`` control: per hospital, its training admissions plus as many training admissions of
    the other hospitals as ``instance_augmented`` added there, drawn at random (seeded) instead of by similarity.

    Only training admissions are ever drawn; a hospital whose augmented unit added none gets none.
    """
    units = []
    for index, unit in enumerate(sorted(augmented, key=lambda u: u.unit)):
        own = data[data["hospital"].eq(unit.unit) & data["split"].eq("train")]
        n_added = int((unit.train["hospital"] != unit.unit).sum())
        pool = data[data["split"].eq("train") & data["hospital"].ne(unit.unit)]
        if n_added > len(pool):
            raise ValueError(f"{unit.unit}: instance_augmented added {n_added} admissions but the other hospitals "
                             f"have {len(pool)} training admissions; lower parameter 'augmentation_k'.")
        rng = np.random.default_rng([int(seed), index])
        drawn = pool.iloc[np.sort(rng.choice(len(pool), size=n_added, replace=False))]
        units.append(_hospital_unit("random_augmented", data, unit.unit, pd.concat([own, drawn])))
    return units


# --------------------------------------------------------------------------------------------------------------
# Training and scoring
# --------------------------------------------------------------------------------------------------------------


@dataclass
class StrategyRun:
    """What :func:`run_units` produced."""

    predictions: pd.DataFrame
    """Prediction columns plus experiment, seed, unit, train_size (one row per scored admission and seed)."""
    models: pd.DataFrame
    """One row per unit and seed: sizes, epochs run, the kept epoch, why it stopped, validation AUROC, seconds."""
    histories: pd.DataFrame
    """Validation AUROC after every epoch (epoch 0: the start), per unit and seed; ``best`` marks the kept one."""
    timings: dict[str, float] = field(default_factory=dict)


def check_seeds(seeds) -> list[int]:
    """The training seeds, checked: a non-empty list of distinct non-negative whole numbers."""
    if not isinstance(seeds, (list, tuple)) or not seeds or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"parameter 'seeds' is {seeds!r}; give a non-empty list of non-negative whole numbers, "
                         "e.g. [0] or [0, 1, 2].")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"parameter 'seeds' repeats a seed ({list(seeds)}); each seed is one repetition.")
    return [int(s) for s in seeds]


def head_trainer(features: pd.DataFrame, start_for):
    """The head-only variant as :func:`run_units` calls it: ``train(unit, rule, seed)`` retrains the head from
    ``start_for(unit)`` on the cached note ``features`` and returns (what was trained, ``score(frame)``)."""
    def train(unit: TrainingUnit, rule: training.StoppingRule, seed: int):
        trained = training.train_head(
            start_for(unit), feature_matrix_of(features, unit.train), unit.train["readmitted_30d"].to_numpy(),
            feature_matrix_of(features, unit.selection), unit.selection["readmitted_30d"].to_numpy(), rule, seed)
        return trained, lambda frame: trained.head.scores(feature_matrix_of(features, frame))

    return train


def run_units(units: list[TrainingUnit], features: pd.DataFrame | None, start_for, rule: training.StoppingRule,
              seeds: list[int], global_predictions: pd.DataFrame, *, trainer=None,
              experiment_suffix: str = "") -> StrategyRun:
    """Train every unit once per seed with the stopping rule, and score its test admissions. A skipped cluster keeps
    the global model's scores; a skipped hospital goes unscored.

    By default each model is the head retrained from ``start_for(unit)`` on the cached note ``features``
    (:func:`head_trainer`); ``trainer`` replaces that (e.g. :func:`helpers.mitigation.top_layer.trainer`), with the
    same call. ``experiment_suffix`` is appended to every experiment name (``local`` -> ``local_top_layer``)."""
    seeds = check_seeds(seeds)
    train = trainer or head_trainer(features, start_for)
    global_scores = global_predictions.set_index(["admission_id", "split"])["y_score"]
    predictions, models, histories = [], [], []
    seconds = 0.0
    for seed in seeds:
        for unit in units:
            name = unit.strategy + experiment_suffix
            row = {"strategy": name, "unit": unit.unit, "seed": seed, "train_size": len(unit.train),
                   "from_other_hospitals": int((unit.train["hospital"] != unit.unit).sum())
                   if unit.strategy not in ("cluster", "global_continued") else 0,
                   "selection_size": len(unit.selection), "scored": len(unit.scored)}
            if unit.skip_reason:
                models.append({**row, "status": unit.skip_reason})
                if unit.fallback_to_global and len(unit.scored):
                    keys = pd.MultiIndex.from_frame(unit.scored[["admission_id", "split"]])
                    predictions.append(_prediction_rows(unit, seed, global_scores.reindex(keys).to_numpy(), None,
                                                        name))
                continue
            report(f"chapter 5: {name} / {unit.unit} / seed {seed}: {len(unit.train):,} admissions")
            trained, score = train(unit, rule, seed)
            seconds += trained.seconds
            predictions.append(_prediction_rows(unit, seed, score(unit.scored), len(unit.train), name))
            run = trained.run
            histories.append(pd.DataFrame({"strategy": name, "unit": unit.unit, "seed": seed,
                                           "epoch": np.arange(len(run.scores)), "validation_auroc": run.scores,
                                           "train_loss": run.losses or [np.nan] * len(run.scores),
                                           "best": np.arange(len(run.scores)) == run.best_epoch}))
            models.append({**row, "status": "trained", "best_epoch": run.best_epoch, "epochs_run": run.epochs_run,
                           "stop_reason": run.stop_reason, "steps": trained.steps, "best_steps": trained.best_steps,
                           "start_validation_auroc": run.scores[0], "best_validation_auroc": run.best_score,
                           "seconds": trained.seconds})
    columns = evaluation.PREDICTION_COLUMNS + ["experiment", "seed", "unit", "train_size"]
    table = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=columns)
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame(
        columns=["strategy", "unit", "seed", "epoch", "validation_auroc", "train_loss", "best"])
    model_columns = ["strategy", "unit", "seed", "train_size", "from_other_hospitals", "selection_size", "scored",
                     "status", "best_epoch", "epochs_run", "stop_reason", "steps", "best_steps",
                     "start_validation_auroc", "best_validation_auroc", "seconds"]
    # every column present even when no model could be trained (a cohort where every unit is skipped)
    return StrategyRun(table[columns], pd.DataFrame(models).reindex(columns=model_columns), history,
                       {"training": seconds})


def feature_matrix_of(features: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    return training.feature_matrix(features, frame["admission_id"])


def _prediction_rows(unit: TrainingUnit, seed: int, scores: np.ndarray, train_size: int | None,
                     experiment: str | None = None) -> pd.DataFrame:
    """Prediction rows of one unit; ``train_size`` None marks admissions that kept the global model's score."""
    rows = unit.scored[["admission_id", "patient_id", "hospital", "split"]].copy()
    rows["model"] = clinicllm.MODEL_NAME
    rows["y_true"] = unit.scored["readmitted_30d"].to_numpy()
    rows["y_score"] = np.asarray(scores, dtype=float)
    rows["experiment"] = experiment or unit.strategy
    rows["seed"] = int(seed)
    rows["unit"] = unit.unit if train_size is not None else f"global ({unit.unit} has no model)"
    rows["train_size"] = np.nan if train_size is None else float(train_size)
    return rows.reset_index(drop=True)
