"""Chapter 5: can the global ClinicLLM be adapted to each hospital? Local, instance-based augmented and
cluster-based fine-tuning, compared with the global model on the same admissions.

The study (Rahman et al., 2024) found local fine-tuning best (AUROC +0.25 % to +11.74 %, most where data were
scarce), augmentation helpful on the random but harmful on the temporal split, and clustering of no help; it does
not say how instances were chosen or clusters formed. The choices made here, each a parameter:

- similarity (:mod:`.similarity`): the global model's note embedding, the patient factors, or both;
- augmentation: the ``k`` training admissions of other hospitals nearest to a hospital's own training admissions;
- clustering (:mod:`.clustering`): k-means with ``n_clusters`` on the same vectors, routing by nearest centroid;
- training (:mod:`.strategies`, :mod:`.training`, :mod:`.top_layer`): each model trained until its validation
  AUROC stops improving, either the head on cached note features (``strategy_training: head``) or the top encoder
  layer and the head on cached outputs of the frozen lower layer (``top_layer``); the other way is trained beside
  it for the experiments of ``training_comparison``, to measure what the choice costs;
- comparison (:mod:`.comparison`): paired patient-level bootstrap of the change, per seed.

Modules: ``similarity``, ``clustering``, ``strategies``, ``training``, ``top_layer``, ``comparison``, ``tables``,
``figures``; this file loads the
chapter's inputs and computes the embeddings once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from helpers import clinicllm, privacy
from helpers import cohort as cohort_lib
from helpers.artifacts import RunPaths, read_json
from helpers.mitigation import tables
from helpers.mitigation.clustering import Clustering, cluster_makeup, fit_clusters
from helpers.mitigation.comparison import (
    change_range_sentence, change_rows, headline_sentences, learning_curve_slopes, paired_change, relative_change,
    scarcity_sentence, scarcity_table, seed_noise_sentence, seed_summary, training_sizes,
)
from helpers.mitigation.similarity import SPACES, factor_matrix, most_similar_from_other_hospitals, representation
from helpers.mitigation.strategies import (
    CONTROL_OF, CONTROLS, EXPERIMENTS, STRATEGIES, GlobalModel, StrategyRun, TrainingUnit, augmented_units,
    cluster_units, continued_unit, local_units, random_augmented_units, run_units, strategy_base_config, windows_text,
)
from helpers.mitigation.training import STARTS, StoppingRule, train_head, train_with_early_stopping
from helpers.mitigation.comparison import variant_rows, variant_sentence
from helpers.mitigation.top_layer import VARIANTS, check_variant, other_variant

__all__ = [
    "CONTROLS", "CONTROL_OF", "EXPERIMENTS", "SPACES", "STARTS", "STRATEGIES", "ChapterClock", "Clustering",
    "GlobalModel", "MitigationInputs", "StoppingRule", "StrategyRun", "TrainingUnit", "augmented_units",
    "change_range_sentence", "change_rows", "chapter3_pooled_sites", "cluster_makeup", "cluster_units", "continued_unit", "factor_matrix",
    "fit_clusters", "headline_sentences", "learning_curve_slopes", "load_inputs", "local_units", "metric_rows",
    "most_similar_from_other_hospitals", "note_embeddings", "paired_change", "pool_sites", "random_augmented_units",
    "relative_change", "representation", "run_units", "scarcity_sentence", "scarcity_table", "seed_noise_sentence",
    "seed_summary", "start_heads", "strategy_base_config", "windows_text", "tables", "train_head",
    "train_with_early_stopping", "training_sizes", "units_table", "VARIANTS", "check_variant", "other_variant",
    "variant_rows", "variant_sentence", "LowerLayerReport", "trainer_for", "variant_trainers", "compare_variants", "comparison_texts", "compared_units",
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
    pooled_sites: list = field(default_factory=list)
    """Sites that chapter 3 pooled into one row; here they are one unit of each strategy (:func:`pool_sites`)."""

    def pooling_text(self) -> str:
        """What the page says about sites pooled as in chapter 3."""
        if not self.pooled_sites:
            return "every site is its own unit, as every site has its own row in chapter 3"
        return (f"the {len(self.pooled_sites):,} sites that chapter 3 pools into its row "
                f"'{cohort_lib.POOLED_SITES}' are one unit here too, so each strategy trains one model on their "
                "admissions together")

    @property
    def global_train_sizes(self) -> pd.Series:
        """Training admissions per hospital (what the global model learned each hospital from)."""
        train = self.data[self.data["split"] == "train"]
        return train["hospital"].astype(str).value_counts().sort_index().rename("training admissions")


def load_inputs(run_dir) -> MitigationInputs:
    """The study frame, the global model and its test predictions, and the run's metrics so far."""
    from helpers.evaluation import read_metrics

    paths = RunPaths.from_run_dir(run_dir, notebook="05_mitigation")
    source = read_json(paths.upstream("source.json", "01_data"))
    data = cohort_lib.study_frame(pd.read_parquet(paths.upstream("cohort.parquet", "01_data")),
                                  pd.read_parquet(paths.upstream("splits.parquet", "01_data")))
    data["hospital"] = data["hospital"].astype(str)
    predictions = pd.read_parquet(paths.upstream("predictions_02_clinicllm.parquet", "02_clinicllm"))
    global_predictions = predictions[predictions["experiment"] == "global"].drop(columns="experiment")
    global_predictions = global_predictions.assign(hospital=global_predictions["hospital"].astype(str))
    summary = read_json(paths.upstream("clinicllm/summary.json", "02_clinicllm"))
    metrics = read_metrics(paths.root)
    pooled = chapter3_pooled_sites(data, metrics)
    data, global_predictions = pool_sites(data, pooled), pool_sites(global_predictions, pooled)
    return MitigationInputs(paths, data, bool(source["simulated"]), GlobalModel.from_run(paths), global_predictions,
                            metrics, dict(summary.get("timings", {})), pooled)


def chapter3_pooled_sites(data: pd.DataFrame, metrics: pd.DataFrame) -> list[str]:
    """The sites chapter 3 gave no row of their own (its rule: ``min_site_admissions``, ``max_site_rows``), read
    from its hospital rows in metrics.csv so both chapters name the same units; [] when it pooled none."""
    if metrics.empty or "group_var" not in metrics:
        return []
    rows = metrics[(metrics["notebook"] == "03_disparities") & (metrics["group_var"] == "hospital")]
    groups = set(rows["group"].astype(str))
    if cohort_lib.POOLED_SITES not in groups:
        return []
    return sorted(set(data["hospital"].astype(str)) - groups)


def pool_sites(frame: pd.DataFrame, pooled: list[str]) -> pd.DataFrame:
    """``frame`` with the ``pooled`` sites' hospital renamed to chapter 3's pooled row (a copy; unchanged if none):
    an export of 150 small sites otherwise gives 750 strategy rows, nearly all of them too small to estimate."""
    if not pooled:
        return frame
    return frame.assign(hospital=frame["hospital"].astype(str).where(~frame["hospital"].astype(str).isin(pooled),
                                                                     cohort_lib.POOLED_SITES))


def note_embeddings(inputs: MitigationInputs, config: clinicllm.ClinicLLMConfig) -> tuple[pd.DataFrame, bool]:
    """The global model's note embedding of every admission of the study frame (computed once, then cached)."""
    tokenizer = clinicllm.load_tokenizer(inputs.global_model.tokenizer_dir)
    table, _, reused = clinicllm.embedding_stage(
        inputs.global_model.model_dir, inputs.global_model.key, tokenizer,
        inputs.data[["admission_id", "note_text"]], config, inputs.paths.output_dir,
        name="embeddings-global")
    return table, reused


def units_table(units: list[TrainingUnit], *, real_data: bool) -> pd.DataFrame:
    """What each model trains on, selects on and scores; and, in a word, why a model is not trained."""
    from helpers.mitigation.tables import SHORT, short_reason

    rows = []
    for unit in units:
        own = unit.train["hospital"].eq(unit.unit).sum() if unit.strategy in ("local", "instance_augmented",
                                                                             "random_augmented") else len(unit.train)
        rows.append({"model": SHORT.get(unit.strategy, unit.strategy), "unit": unit.unit,
                     "training": len(unit.train), "added": len(unit.train) - int(own),
                     "hospitals": unit.train["hospital"].nunique(), "validation": len(unit.selection),
                     "test": len(unit.scored), "status": short_reason(unit.skip_reason) if unit.skip_reason
                     else "trained"})
    table = pd.DataFrame(rows).set_index(["model", "unit"])
    return privacy.hide_counts(table, ["training", "added", "validation", "test"], real_data=real_data)


def start_heads(inputs: MitigationInputs, local_start: str, tokenizer, config, stage_root, *,
                check_global: bool = True):
    """The cached note features of every admission from the start checkpoint, and ``start_for(unit)``: the head
    each unit starts from. With ``local_start: global`` every model starts from the global head, which is first
    checked to reproduce chapter 2's scores on the cached features; with ``pretrained`` each unit gets a new head
    at its base rate on the pretrained encoder's features. Returns (features, start_for, seconds, reused)."""
    from helpers.mitigation import training

    model_dir, key = inputs.global_model.start(local_start)
    features, reused, seconds = training.note_features(model_dir, key, tokenizer, inputs.data, config, stage_root,
                                                       name=f"features-{local_start}")
    dropout = float(config.hidden_dropout)
    if local_start == "global":
        head = training.head_from_checkpoint(model_dir, dropout)
        if check_global:
            training.check_start_matches_global(head, features, inputs.global_predictions, tolerance=1e-3)
        return features, (lambda unit: head), seconds, reused
    width = features.shape[1] - 1
    return features, (lambda unit: training.new_head(width, float(unit.train["readmitted_30d"].mean()), dropout)), \
        seconds, reused


def metric_rows(change: pd.DataFrame) -> pd.DataFrame:
    """The chapter's rows for metrics.csv: every experiment's changes. The global model's own AUROC per hospital is
    chapter 3's row (one number per quantity in the book), so it is not written again here."""
    from helpers.evaluation import validate_metric_rows

    return validate_metric_rows(change, notebook="05_mitigation")


@dataclass
class LowerLayerReport:
    """What the top-layer variant's cache cost: encoder seconds, whether it was reused, its size on disk and in
    memory (float16 token vectors), and how many admissions and windows it holds."""

    seconds: float
    reused: bool
    megabytes: float
    admissions: int
    windows: int


def compared_units(units: list[TrainingUnit], experiments) -> list[TrainingUnit]:
    """The units of ``experiments`` (parameter ``training_comparison``), trained both ways for the first seed."""
    unknown = sorted(set(experiments) - set(EXPERIMENTS))
    if unknown or not isinstance(experiments, (list, tuple)):
        raise ValueError(f"parameter 'training_comparison' is {experiments!r}; give a list of experiments among "
                         f"{list(EXPERIMENTS)}, e.g. [\"local\", \"global_continued\"], or [] for none.")
    return [unit for unit in units if unit.strategy in set(experiments)]


def trainer_for(variant: str, units: list[TrainingUnit], inputs: MitigationInputs, local_start: str, tokenizer,
                config, stage_root, features: pd.DataFrame, start_for) -> tuple[object, LowerLayerReport | None]:
    """How :func:`run_units` trains ``variant``: the head on the cached note ``features`` from ``start_for(unit)``,
    or (``top_layer``) the start checkpoint's top layer with that same start head on the cached lower-layer outputs
    of the admissions ``units`` read (built once, :func:`helpers.mitigation.top_layer.lower_layer_cache`).
    Returns (trainer, what the cache cost; None for the head)."""
    import copy

    from helpers.mitigation import top_layer
    from helpers.mitigation.strategies import head_trainer

    if check_variant(variant) == "head":
        return head_trainer(features, start_for), None
    trained = [u for u in units if not u.skip_reason]
    needed = pd.concat([pd.concat([u.train, u.selection, u.scored])["admission_id"] for u in trained]).unique() \
        if trained else []
    model_dir, key = inputs.global_model.start(local_start)
    cache, reused, seconds = top_layer.lower_layer_cache(model_dir, key, tokenizer, inputs.data, needed, config,
                                                         stage_root, name=f"lower-layers-{local_start}")
    base = top_layer.start_model(model_dir, config)

    def start(unit):
        return top_layer.TopLayerModel(copy.deepcopy(base.layer), copy.deepcopy(start_for(unit)), base.bert_config,
                                       base.position_share)

    report = LowerLayerReport(seconds, reused, cache.nbytes / 1e6, len(cache.admission_ids), cache.n_windows)
    return top_layer.trainer(cache, start, float(config.finetune_learning_rate)), report


def variant_trainers(main: str, units: list[TrainingUnit], compared: list[TrainingUnit], inputs: MitigationInputs,
                     local_start: str, tokenizer, config, stage_root, features: pd.DataFrame, start_for
                     ) -> tuple[dict[str, object], LowerLayerReport | None]:
    """The trainers the chapter needs: ``main`` for every unit and the other variant for the ``compared`` units
    (none when the comparison is empty), with what the lower-layer cache cost when either is the top layer."""
    trainers, lower_layers = {}, None
    for variant, needs in ((main, units), (other_variant(main), compared)):
        if needs:
            trainers[variant], report = trainer_for(variant, needs, inputs, local_start, tokenizer, config,
                                                    stage_root, features, start_for)
            lower_layers = report or lower_layers
    return trainers, lower_layers


def compare_variants(other, run, change: pd.DataFrame, global_predictions: pd.DataFrame, main: str, *,
                     n_resamples: int, bootstrap_seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The compared models' rows (``other``: :func:`run_units` of the compared units trained the other way, or None
    when nothing was compared) and the per-model numbers of the chapter's comparison table (None when none)."""
    if other is None:
        return change.iloc[0:0], None
    variants = variant_rows(other.predictions, run.predictions, global_predictions, other.models, main,
                            n_resamples=n_resamples, bootstrap_seed=bootstrap_seed) \
        if len(other.predictions) else change.iloc[0:0]
    return variants, tables.variant_numbers(run.models, other.models, change, variants, main)


def comparison_texts(numbers: pd.DataFrame | None, experiments, main: str,
                     lower_layers: LowerLayerReport | None) -> dict[str, str]:
    """The comparison section's phrases: which experiments were compared, what the other variant changed, the
    seconds of each variant and what the lower-layer cache cost."""
    from helpers.mitigation.comparison import LABELS

    texts = {
        "compared_experiments": " and ".join(LABELS.get(e, e) for e in experiments) if numbers is not None
        else "no experiment (training_comparison is empty)",
        "variant_sentence": variant_sentence(numbers, main) if numbers is not None else "nothing was compared",
    }
    for variant in VARIANTS:
        seconds = numbers[f"seconds_{variant}"].sum() if numbers is not None else float("nan")
        texts[f"seconds_{variant}"] = f"{seconds:.1f}"
    if lower_layers is None:
        texts["cache_text"] = "the top-layer variant did not run"
    else:
        cost = "reused from this run's cache" if lower_layers.reused else f"computed in {lower_layers.seconds:.0f} s"
        texts["cache_text"] = (f"{lower_layers.windows:,} windows of {lower_layers.admissions:,} admissions, "
                               f"{lower_layers.megabytes:,.0f} MB in half precision ({cost})")
    return texts
