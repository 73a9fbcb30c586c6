"""Chapter 4's learning curve: ClinicLLM's AUROC against the number of admissions it is fine-tuned on.

The study names fine-tuning sample size as a main reason why small hospitals fare worse. A learning curve measures
it directly: fine-tune the same pretrained checkpoint that chapter 2 started from on *nested* random subsamples of
the training split (every smaller subsample is part of every larger one, so the curve moves only with size) and
score each model on both tests, overall and per hospital. Each size goes through chapter 2's own cached stages
(:func:`helpers.clinicllm.finetune_stage`, :func:`helpers.clinicllm.prediction_stage`), so a re-run reuses it.

Time. On a 2-core CPU the global fine-tune of chapter 2 is the longest stage of the study, so the curve reuses
chapter 2's global model as its largest point (the whole training split) instead of training it again, fine-tunes
only a few small subsamples with chapter 2's schedule (same epochs, batch size and learning rate), caps each at
``max_steps`` optimizer steps as a guard, scores a seeded sample of at most ``max_eval_samples`` validation
admissions ``evals_per_epoch`` times per epoch to select the checkpoint, and scores only the two test splits.
Chapter 2 trains a small cohort for at least ``finetune_min_steps`` optimizer steps (a tiny model needs steps, not
epochs, to leave the base rate); the curve sets its own, smaller minimum (``min_steps``), so its small subsamples
train for fewer steps than the global model: part of the gap between the points is training length, not only data.
With chapter 2's window reading, scoring costs as much as training (every window of every note is scored), so the
number of sizes is what sets the chapter's time.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers import evaluation, progress
from helpers.contracts import TEST_SPLITS, check_columns

with warnings.catch_warnings():
    # tqdm.auto, imported by transformers, warns inside a Jupyter kernel without ipywidgets; the warning would land
    # in the book. Progress goes to the terminal and the run's log instead (helpers.progress).
    warnings.simplefilter("ignore")
    from helpers import clinicllm

EXPERIMENT = "learning_curve"
MODEL = "clinicllm"
SIZE_GROUP_VAR = "train_size"


def train_sizes(sizes: Sequence[float], n_train: int, minimum: int = 1) -> list[int]:
    """Subsample sizes in admissions: a value below 1 is a fraction of the training split, 1 or more a count.

    Sizes below ``minimum`` are raised to it (the chapter uses ten batches, so that a fine-tune that scores the
    validation sample once per epoch does not spend its time scoring); sizes at or above the whole training split
    are dropped (chapter 2's global model is that point).
    """
    if n_train <= 0:
        raise ValueError("train_sizes: the training split is empty.")
    out = set()
    for value in sizes:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value <= 0:
            raise ValueError(
                f"learning_curve_sizes has {value!r}; give fractions of the training split (0 < f < 1, e.g. 0.1) "
                "or counts of admissions (e.g. 2000)."
            )
        count = max(int(round(value * n_train)) if value < 1 else int(value), minimum, 1)
        if count < n_train:
            out.add(count)
    return sorted(out)


def nested_subsamples(train: pd.DataFrame, sizes: Sequence[int], seed: int = 0) -> dict[int, pd.DataFrame]:
    """Nested random subsamples of the training rows: one seeded shuffle, the first k rows for each size k.

    Each subsample keeps the training split's row order, so equal inputs give equal stage keys.
    """
    if "split" in train.columns and (train["split"] != "train").any():
        bad = sorted(set(train["split"]) - {"train"})
        raise ValueError(f"nested_subsamples: pass training rows only; got split value(s) {bad}.")
    order = np.random.default_rng(seed).permutation(len(train))
    out = {}
    for size in sorted(sizes):
        if size > len(train):
            raise ValueError(f"nested_subsamples: size {size} exceeds the {len(train)} training admissions.")
        out[size] = train.iloc[np.sort(order[:size])]
    return out


def resolve_checkpoint(path: str, run_clinicllm_dir: Path) -> Path:
    """A directory chapter 2 recorded in summary.json, found in this run's folder when the run was moved/copied."""
    recorded = Path(path)
    local = Path(run_clinicllm_dir) / recorded.name
    if local.is_dir():
        return local
    if recorded.is_dir():
        return recorded
    raise FileNotFoundError(
        f"chapter 2's summary.json names {path!r}, which exists neither there nor in {run_clinicllm_dir}; re-run "
        "chapter 2 (02_clinicllm)."
    )


def run_tokenizer(summary: dict, clinicllm_dir: Path):
    """The tokenizer chapter 2 trained (or the checkpoint's), from its summary.json."""
    return clinicllm.load_tokenizer(resolve_checkpoint(summary["tokenizer_dir"], clinicllm_dir))


def learning_curve_config(summary_config: dict, *, max_steps: int | None, max_eval_samples: int | None,
                          evals_per_epoch: int | None = None, min_steps: int | None = None,
                          options: dict | None = None) -> clinicllm.ClinicLLMConfig:
    """Chapter 2's resolved configuration with the learning curve's step cap, validation sample and options.

    ``evals_per_epoch`` sets how often each fine-tune scores the validation sample (each score is a candidate
    checkpoint); fewer evaluations change which checkpoint is kept, not how the model is trained.
    """
    values = dict(summary_config)
    values.update(options or {})
    if max_steps is not None:
        values["finetune_max_steps"] = max_steps
    if evals_per_epoch is not None:
        values["evals_per_epoch"] = evals_per_epoch
    known = {f.name for f in dataclasses.fields(clinicllm.ClinicLLMConfig)}
    if min_steps is not None and "finetune_min_steps" in known:
        values["finetune_min_steps"] = min_steps
    values["max_eval_samples"] = max_eval_samples
    return clinicllm.ClinicLLMConfig.from_dict(values)


@dataclass
class LearningCurve:
    """The predictions of every size (column ``train_size``) and what each fine-tune cost."""

    predictions: pd.DataFrame
    stages: pd.DataFrame
    config: clinicllm.ClinicLLMConfig


def run_learning_curve(data: pd.DataFrame, summary: dict, global_predictions: pd.DataFrame, clinicllm_dir: Path,
                       out_dir: Path, *, sizes: Sequence[float], seed: int = 0, max_steps: int | None = None,
                       max_eval_samples: int | None = None, evals_per_epoch: int | None = None,
                       min_steps: int | None = None, options: dict | None = None) -> LearningCurve:
    """Fine-tune from chapter 2's pretrained checkpoint on each subsample and score both tests.

    ``summary`` is chapter 2's ``summary.json``; ``global_predictions`` its global model's predictions, used as
    the point at the whole training split. Returns the predictions of every size, chapter 2's included.
    """
    check_columns(data, ["admission_id", "split", "note_text", "readmitted_30d"], where="run_learning_curve: data")
    config = learning_curve_config(summary["config"], max_steps=max_steps, max_eval_samples=max_eval_samples,
                                   evals_per_epoch=evals_per_epoch, min_steps=min_steps, options=options)
    tokenizer = run_tokenizer(summary, clinicllm_dir)
    pretrained = resolve_checkpoint(summary["pretrained_dir"], clinicllm_dir)
    start_key = summary["stage_keys"]["pretrain"]

    train = data[data["split"] == "train"]
    cap = summary["config"].get("max_train_samples")
    full_size = min(len(train), cap) if cap else len(train)
    validation = data[data["split"] == "validation"]
    selection = validation
    if max_eval_samples and len(validation) > max_eval_samples:
        selection = validation.sample(n=max_eval_samples, random_state=seed).sort_index()
    tests = data[data["split"].isin(TEST_SPLITS)]

    chosen = train_sizes(sizes, full_size, minimum=10 * config.resolved().finetune_batch_size)
    subsamples = nested_subsamples(train, chosen, seed)
    parts, stages = [], []
    for i, (size, subsample) in enumerate(subsamples.items(), start=1):
        if subsample["readmitted_30d"].nunique() < 2:
            progress.report(f"learning curve: {size} admissions hold one outcome class; size skipped")
            continue
        progress.report(f"learning curve: fine-tuning on {size:,} admissions ({i}/{len(subsamples)})")
        started = time.perf_counter()
        model_dir, history, key, reused = clinicllm.finetune_stage(
            pretrained, start_key, tokenizer, subsample, selection, config, out_dir, name="finetune")
        tuned = time.perf_counter()
        scored, _, scored_reused, _ = clinicllm.prediction_stage(
            model_dir, key, tokenizer, tests, config, out_dir, name="predictions", model_name=MODEL)
        steps = int(history["step"].max()) if len(history) else 0
        stages.append({"train_size": size, "steps": steps, "fine-tune (s)": tuned - started,
                       "predictions (s)": time.perf_counter() - tuned, "reused": bool(reused and scored_reused)})
        parts.append(scored.assign(train_size=size))
    full = global_predictions[global_predictions["split"].isin(TEST_SPLITS)]
    parts.append(full[evaluation.PREDICTION_COLUMNS].assign(model=MODEL, train_size=full_size))
    stages.append({"train_size": full_size, "steps": np.nan, "fine-tune (s)": 0.0, "predictions (s)": 0.0,
                   "reused": True})
    return LearningCurve(pd.concat(parts, ignore_index=True), pd.DataFrame(stages), config)


def learning_curve_rows(predictions: pd.DataFrame, *, notebook: str, n_resamples: int = 1000,
                        seed: int = 0) -> pd.DataFrame:
    """Metrics rows: AUROC overall (group_var ``train_size``) and per hospital (``train_size:<hospital>``).

    The metrics contract has no column for the training size, so it goes in ``group`` as ``n=<size>``.
    """
    check_columns(predictions, list(evaluation.PREDICTION_COLUMNS) + ["train_size"],
                  where="learning_curve_rows: predictions")
    rows = []
    for size, part in predictions.groupby("train_size", sort=True):
        scored = evaluation.evaluate_predictions(
            part.drop(columns="train_size"), notebook=notebook, experiment=EXPERIMENT,
            group_vars=("overall", "hospital"), splits=TEST_SPLITS, metrics=("auroc",),
            n_resamples=n_resamples, seed=seed)
        hospital = scored["group_var"] == "hospital"
        scored.loc[hospital, "group_var"] = SIZE_GROUP_VAR + ":" + scored.loc[hospital, "group"]
        scored.loc[~hospital, "group_var"] = SIZE_GROUP_VAR
        scored["group"] = f"n={int(size)}"
        rows.append(scored)
    return pd.concat(rows, ignore_index=True)


def curve_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The metrics rows as a tidy table: train_size, hospital ('all' overall), split, auroc, ci_low, ci_high, n."""
    out = rows.copy()
    out["train_size"] = out["group"].str.removeprefix("n=").astype(int)
    out["hospital"] = np.where(out["group_var"] == SIZE_GROUP_VAR, "all",
                               out["group_var"].str.removeprefix(SIZE_GROUP_VAR + ":"))
    return out.rename(columns={"value": "auroc"})[
        ["train_size", "hospital", "split", "auroc", "ci_low", "ci_high", "n", "n_pos", "note"]]


def curve_figure(table: pd.DataFrame) -> plt.Figure:
    """AUROC (95 % CI) against training size, one panel per test, overall in black and one line per hospital."""
    splits = [s for s in TEST_SPLITS if s in set(table["split"])]
    fig, axes = plt.subplots(1, len(splits), figsize=(6.2 * len(splits), 4.2), squeeze=False, sharey=True)
    hospitals = [h for h in dict.fromkeys(table["hospital"]) if h != "all"]
    palette = dict(zip(hospitals, sns.color_palette("colorblind", n_colors=len(hospitals))))
    palette["all"] = "black"
    for ax, split in zip(axes[0], splits):
        for j, hospital in enumerate(["all"] + hospitals):
            part = table[(table["split"] == split) & (table["hospital"] == hospital)].sort_values("train_size")
            shift = 1 + 0.02 * (j - len(hospitals) / 2)
            value, low, high = (part[c].to_numpy(dtype=float) for c in ("auroc", "ci_low", "ci_high"))
            ax.errorbar(part["train_size"].to_numpy() * shift, value, yerr=[value - low, high - value],
                        marker="o", capsize=3, color=palette[hospital], linewidth=2.5 if hospital == "all" else 1.2,
                        label="all hospitals" if hospital == "all" else hospital)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("training admissions for fine-tuning (log scale)")
        ax.set_title(split.replace("_", " "))
    axes[0][0].set_ylabel("AUROC (95 % CI)")
    if len(hospitals) <= 10:  # a legend of many sites would take the whole figure
        axes[0][-1].legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def stage_seconds(stages: pd.DataFrame) -> float:
    """Seconds the learning curve's new fine-tunes and predictions took (reused stages count their loading time)."""
    return float(stages["fine-tune (s)"].sum() + stages["predictions (s)"].sum())



def curve_texts(table: pd.DataFrame) -> dict[str, str]:
    """The training sizes of the curve and the temporal-test AUROC (95 % CI) at the smallest and the largest."""
    overall = table[(table["hospital"] == "all") & (table["split"] == "temporal_test")].sort_values("train_size")
    first, last = overall.iloc[0], overall.iloc[-1]
    return {
        "lc_sizes": ", ".join(f"{n:,}" for n in overall["train_size"]),
        "lc_first": f"{first.train_size:,} admissions: "
                    f"{evaluation.format_estimate(first.auroc, first.ci_low, first.ci_high)}",
        "lc_last": f"{last.train_size:,} admissions: "
                   f"{evaluation.format_estimate(last.auroc, last.ci_low, last.ci_high)}",
    }


def cost_texts(learning: LearningCurve) -> dict[str, str]:
    """What the curve's fine-tunes cost: seconds (:func:`stage_seconds`) and whether they ran in bfloat16."""
    return {"lc_seconds": f"{stage_seconds(learning.stages):.0f}",
            "lc_bf16": "on" if learning.config.resolved().bf16 else "off"}
