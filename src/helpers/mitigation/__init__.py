"""Chapter 5: can the global ClinicLLM be adapted to each hospital? Local, instance-based augmented and
cluster-based fine-tuning, compared with the global model on the same admissions.

The study (Rahman et al., 2024) found local fine-tuning best (AUROC +0.25 % to +11.74 %, most where data were
scarce), augmentation helpful on the random but harmful on the temporal split, and clustering of no help; it does
not say how instances were chosen or clusters formed. The choices made here, each a parameter:

- similarity (:mod:`.similarity`): the global model's note embedding, the patient factors, or both;
- augmentation: the ``k`` training admissions of other hospitals nearest to a hospital's own training admissions;
- clustering (:mod:`.clustering`): k-means with ``n_clusters`` on the same vectors, routing by nearest centroid;
- training (:mod:`.strategies`): a short continuation of the global checkpoint per model, one code path with
  chapter 2;
- comparison (:mod:`.comparison`): paired patient-level bootstrap of the change, per seed.

Modules: ``similarity``, ``clustering``, ``strategies``, ``comparison``, ``figures``; this file loads the
chapter's inputs and computes the embeddings once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from helpers import clinicllm
from helpers import cohort as cohort_lib
from helpers.artifacts import RunPaths, read_json
from helpers.book import suppress_small_counts
from helpers.mitigation.clustering import Clustering, cluster_makeup, fit_clusters
from helpers.mitigation.comparison import (
    change_range_sentence, change_rows, change_table, global_reference_rows, headline_sentences,
    learning_curve_slopes, paired_change, seed_noise_sentence, relative_change, scarcity_sentence, scarcity_table, seed_summary, training_sizes,
)
from helpers.mitigation.similarity import SPACES, factor_matrix, most_similar_from_other_hospitals, representation
from helpers.mitigation.strategies import (
    STRATEGIES, GlobalModel, StrategyBudget, StrategyRun, TrainingUnit, augmented_units, cluster_units, local_units,
    run_units, strategy_base_config,
)

__all__ = [
    "SPACES", "STRATEGIES", "ChapterClock", "Clustering", "GlobalModel", "MitigationInputs", "StrategyBudget",
    "StrategyRun", "TrainingUnit", "augmented_units", "change_range_sentence", "change_rows", "change_table",
    "cluster_makeup", "cluster_units", "factor_matrix", "fit_clusters", "global_reference_rows", "headline_sentences", "load_inputs",
    "learning_curve_slopes", "local_units", "most_similar_from_other_hospitals", "note_embeddings",
    "paired_change", "relative_change", "representation", "run_units", "scarcity_sentence", "scarcity_table",
    "seed_noise_sentence", "seed_summary", "suppress_small_counts", "metric_rows", "models_table", "strategy_base_config", "training_sizes", "units_table",
]


class ChapterClock:
    """Seconds per step of the chapter, for its time table: ``clock.lap("embeddings")`` after each step."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.cpu_started = self.cpu_last = time.process_time()
        self.laps: dict[str, list[float]] = {}

    def lap(self, name: str) -> None:
        """Record the wall-clock and processor seconds since the previous lap under ``name``."""
        now, cpu = time.perf_counter(), time.process_time()
        wall, used = self.laps.get(name, [0.0, 0.0])
        self.laps[name] = [wall + now - self.last, used + cpu - self.cpu_last]
        self.last, self.cpu_last = now, cpu

    def table(self) -> pd.DataFrame:
        """Seconds per step and in total: wall clock, and processor time of all this process's threads."""
        laps = dict(self.laps)
        laps["total"] = [time.perf_counter() - self.started, time.process_time() - self.cpu_started]
        return pd.DataFrame.from_dict(laps, orient="index", columns=["seconds", "CPU seconds"]).round(1)


@dataclass
class MitigationInputs:
    """What chapter 5 reads from chapters 1 and 2."""

    paths: RunPaths
    data: pd.DataFrame
    simulated: bool
    global_model: GlobalModel
    global_predictions: pd.DataFrame
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    global_timings: dict = field(default_factory=dict)
    """Chapter 2's seconds per stage (from its summary.json), to size this chapter's budget against."""

    @property
    def global_train_sizes(self) -> pd.Series:
        """Training admissions per hospital (what the global model learned each hospital from)."""
        train = self.data[self.data["split"] == "train"]
        return train["hospital"].astype(str).value_counts().sort_index().rename("training admissions")


def load_inputs(run_dir) -> MitigationInputs:
    """The study frame, the global model and its test predictions, and the run's metrics so far."""
    from helpers.evaluation import read_metrics

    paths = RunPaths.from_run_dir(run_dir)
    source = read_json(paths.upstream("source.json", "01_data"))
    data = cohort_lib.study_frame(pd.read_parquet(paths.upstream("cohort.parquet", "01_data")),
                                  pd.read_parquet(paths.upstream("splits.parquet", "01_data")))
    data["hospital"] = data["hospital"].astype(str)
    predictions = pd.read_parquet(paths.upstream("predictions_02_clinicllm.parquet", "02_clinicllm"))
    global_predictions = predictions[predictions["experiment"] == "global"].drop(columns="experiment")
    global_predictions = global_predictions.assign(hospital=global_predictions["hospital"].astype(str))
    summary = read_json(paths.upstream("clinicllm/summary.json", "02_clinicllm"))
    return MitigationInputs(paths, data, bool(source["simulated"]), GlobalModel.from_run(paths), global_predictions,
                            read_metrics(paths.root), dict(summary.get("timings", {})))


def note_embeddings(inputs: MitigationInputs, config: clinicllm.ClinicLLMConfig) -> tuple[pd.DataFrame, bool]:
    """The global model's note embedding of every admission of the study frame (computed once, then cached)."""
    tokenizer = clinicllm.load_tokenizer(inputs.global_model.tokenizer_dir)
    table, _, reused = clinicllm.embedding_stage(
        inputs.global_model.model_dir, inputs.global_model.key, tokenizer,
        inputs.data[["admission_id", "note_text"]], config, inputs.paths.artifacts / "clinicllm",
        name="embeddings-global")
    return table, reused


def units_table(units: list[TrainingUnit], *, suppress: bool = False) -> pd.DataFrame:
    """What each model trains on, selects on and scores; and why a model is not trained."""
    rows = []
    for unit in units:
        own = unit.train["hospital"].eq(unit.unit).sum() if unit.strategy != "cluster" else len(unit.train)
        rows.append({"strategy": unit.strategy, "model": unit.unit, "training admissions": len(unit.train),
                     "of them from other hospitals": len(unit.train) - int(own),
                     "hospitals in training": unit.train["hospital"].nunique(),
                     "validation (selection)": len(unit.selection), "test admissions scored": len(unit.scored),
                     "status": unit.skip_reason or "trained"})
    table = pd.DataFrame(rows).set_index(["strategy", "model"])
    if suppress:
        from helpers.book import suppress_small_counts

        counts = ["training admissions", "of them from other hospitals", "validation (selection)",
                  "test admissions scored"]
        table = suppress_small_counts(table, counts, enabled=True)
    return table


def models_table(models: pd.DataFrame, *, suppress: bool = False) -> pd.DataFrame:
    """The trained models, one row per model and seed, in the reader's words."""
    columns = {"strategy": "strategy", "unit": "model", "seed": "seed", "train_size": "training admissions",
               "steps": "steps", "examples_seen": "admissions seen", "best_validation_auroc": "best validation AUROC",
               "seconds": "seconds", "status": "status"}
    table = models.reindex(columns=list(columns)).rename(columns=columns)
    table["best validation AUROC"] = table["best validation AUROC"].round(3)
    table = table.set_index(["strategy", "model", "seed"])
    return suppress_small_counts(table, ["training admissions", "admissions seen"], enabled=suppress)


def metric_rows(change: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The chapter's rows for metrics.csv: the global model's reference AUROCs and every strategy's changes."""
    from helpers.evaluation import validate_metric_rows

    return validate_metric_rows(pd.concat([reference, change], ignore_index=True), notebook="05_mitigation")
