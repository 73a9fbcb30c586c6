"""ClinicLLM trained again with other seeds: how much of its AUROC is the draw of a training run.

The chapter's model is trained with the run's ``seed``; :func:`train_seeds` trains the same recipe on the same
admissions with each further seed (tokenizer, pretraining and fine-tuning: every random draw of training), through
the same cached stages and without touching the chapter's own files, and :func:`seed_rows` and :func:`seed_table`
report each seed's AUROC and their mean and standard deviation.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .config import ClinicLLMConfig
from .stages import ClinicLLMResult, run_clinicllm

__all__ = ["SEED_EXPERIMENT", "train_seeds", "seed_rows", "seed_table", "seed_display", "seed_texts"]

SEED_EXPERIMENT = "global_seeds"
"""metrics.csv experiment of the per-seed rows: the global model trained with each seed (the chapter's own seed
included, with the same numbers as its ``global`` rows)."""

_SPLITS = ("validation", "random_test", "temporal_test")


def train_seeds(data: pd.DataFrame, config: ClinicLLMConfig, out_dir: str | os.PathLike, seeds,
                chapter_result: ClinicLLMResult) -> dict[int, ClinicLLMResult]:
    """``{seed: result}`` for the chapter's seed (``chapter_result``) and every other seed in ``seeds``."""
    results = {int(chapter_result.config.seed): chapter_result}
    for seed in seeds or []:
        seed = int(seed)
        if seed not in results:
            other = ClinicLLMConfig.from_dict({**config.to_dict(), "seed": seed})
            results[seed] = run_clinicllm(data, other, out_dir, publish=False)
    return results


def seed_rows(results: dict[int, ClinicLLMResult], *, notebook: str, n_resamples: int, seed: int) -> pd.DataFrame:
    """metrics.csv rows (experiment :data:`SEED_EXPERIMENT`): AUROC with its patient-level bootstrap CI per
    training seed and split (validation and both tests), the ``seed`` column naming the training seed."""
    from helpers.evaluation import bootstrap_metrics

    rows = []
    for training_seed, result in sorted(results.items()):
        predictions = result.predictions
        for split in _SPLITS:
            part = predictions[predictions["split"] == split]
            if part.empty:
                continue
            metric = bootstrap_metrics(part["y_true"].to_numpy(), part["y_score"].to_numpy(),
                                       part["patient_id"].to_numpy(), metrics=("auroc",),
                                       n_resamples=n_resamples, seed=seed)["auroc"]
            rows.append({"notebook": notebook, "experiment": SEED_EXPERIMENT, "model": "clinicllm", "split": split,
                         "group_var": "overall", "group": "all", "metric": "auroc", "value": metric.value,
                         "ci_low": metric.ci_low, "ci_high": metric.ci_high, "n": metric.n, "n_pos": metric.n_pos,
                         "seed": training_seed})
    return pd.DataFrame(rows)


def seed_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per split: each seed's AUROC, their mean and standard deviation (ddof 1; NaN for one seed)."""
    table = rows.pivot_table(index="split", columns="seed", values="value", aggfunc="first")
    table.columns = [f"seed {int(s)}" for s in table.columns]
    values = table.to_numpy(dtype=float)
    table["mean"] = values.mean(axis=1)
    table["SD"] = values.std(axis=1, ddof=1) if values.shape[1] > 1 else np.nan
    order = [s for s in _SPLITS if s in table.index]
    return table.loc[order]


def seed_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`seed_table` for reading: AUROCs to three decimals, the splits named as the page names them, and a
    dash for the standard deviation of a single seed."""
    shown = table.map(lambda v: f"{v:.3f}" if np.isfinite(v) else "-")
    shown.index = [s.replace("_", " ") for s in shown.index]
    shown.index.name = "AUROC"
    return shown


def seed_texts(table: pd.DataFrame) -> dict[str, str]:
    """Phrases for the page: the seeds' mean and SD of the temporal-test AUROC and their range."""
    if "temporal_test" not in table.index:
        return {"seeds_temporal": "not measured"}
    row = table.loc["temporal_test"]
    seeds = [c for c in table.columns if c.startswith("seed ")]
    if len(seeds) < 2:
        return {"seeds_temporal": f"{row['mean']:.3f} (one seed only: no spread to report)"}
    values = row[seeds].astype(float)
    return {"seeds_temporal": f"{row['mean']:.3f} on average over {len(seeds)} seeds (SD {row['SD']:.3f}; "
                              f"from {values.min():.3f} to {values.max():.3f})"}
