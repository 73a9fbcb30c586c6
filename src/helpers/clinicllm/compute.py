"""What each minute of training buys: ClinicLLM's validation AUROC against its training time, from cached stages.

Every fine-tuning stage records, beside its model, the seconds it took, the pretraining it started from and
fingerprints of the admissions it trained and selected on (:func:`helpers.clinicllm.stages.finetune_stage`);
every pretraining stage its seconds. :func:`compute_points` reads back every fine-tuned model of a run's cache that
trained and selected on the same admissions as the chapter's model, so the figure compares like with like: the
chapter's own model along its fine-tuning (one point per validation evaluation), and any other setting trained on
the same data, for example by ``benchmarks/bench_compute_curve.py``, which trains a grid of pretraining steps and
fine-tuning epochs into the run's cache. Nothing here trains a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .config import CONFIG_FILE, HISTORY_FILE

__all__ = ["compute_points", "compute_curve_figure", "compute_texts", "validation_auroc", "COMPUTE_COLUMNS"]

COMPUTE_COLUMNS = ["model", "pretrain_steps", "finetune_epochs", "finetune_steps", "minutes", "validation_auroc",
                   "this_run", "kept"]


def _timing(path: Path) -> dict | None:
    timing = path.with_name(path.name + ".timing.json")
    return json.loads(timing.read_text()) if timing.is_file() else None


def _pretraining(root: Path, start_key: str) -> tuple[int, float] | None:
    """(steps, seconds) of the pretraining stage ``start_key`` in ``root``; (0, 0) for a start that is no
    pretraining stage of this cache (a local checkpoint); None when it was pretrained but its time is unknown."""
    folder = root / f"mlm-{start_key}"
    if not folder.is_dir():
        return 0, 0.0
    timing = _timing(folder)
    if timing is None:
        return None
    history = pd.read_csv(folder / HISTORY_FILE) if (folder / HISTORY_FILE).is_file() else pd.DataFrame()
    steps = int(history["step"].max()) if len(history) and "step" in history else 0
    return steps, float(timing["seconds"])


def compute_points(root: str | os.PathLike, model_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per fine-tuning evaluation of the chapter's model (``model_dir``) and one per other fine-tuned model
    in ``root`` that read the same training and validation admissions (its best evaluation): pretraining steps,
    fine-tuning epochs and steps, training minutes (pretraining plus fine-tuning up to that point) and validation
    AUROC. ``this_run`` marks the chapter's model; ``kept`` its checkpoint of best validation AUROC."""
    root, model_dir = Path(root), Path(model_dir)
    own = _timing(model_dir)
    if own is None:
        return pd.DataFrame(columns=COMPUTE_COLUMNS)
    rows = []
    for folder in sorted(root.glob("finetune-*")):
        timing = _timing(folder)
        if not folder.is_dir() or timing is None or (folder / HISTORY_FILE).is_file() is False:
            continue
        if (timing.get("train"), timing.get("validation")) != (own.get("train"), own.get("validation")):
            continue
        pretraining = _pretraining(root, timing.get("start", ""))
        if pretraining is None:
            continue
        pretrain_steps, pretrain_seconds = pretraining
        history = pd.read_csv(folder / HISTORY_FILE)
        evals = history[history["kind"] == "eval"].dropna(subset=["eval_auroc"])
        if evals.empty:
            continue
        last_step = max(float(history["step"].max()), 1.0)
        this_run = folder.resolve() == model_dir.resolve()
        config = json.loads((folder / CONFIG_FILE).read_text()) if (folder / CONFIG_FILE).is_file() else {}
        chosen = evals if this_run else evals.loc[[evals["eval_auroc"].idxmax()]]
        best = evals["best"].astype(bool) if "best" in evals else pd.Series(False, index=evals.index)
        for index, row in chosen.iterrows():
            minutes = (pretrain_seconds + float(timing["seconds"]) * float(row["step"]) / last_step) / 60
            rows.append({"model": folder.name, "pretrain_steps": pretrain_steps,
                         "finetune_epochs": float(row["epoch"]), "finetune_steps": int(row["step"]),
                         "minutes": minutes, "validation_auroc": float(row["eval_auroc"]), "this_run": this_run,
                         "kept": bool(this_run and best.loc[index]),
                         "window_pooling": config.get("window_pooling")})
    table = pd.DataFrame(rows, columns=COMPUTE_COLUMNS + ["window_pooling"])
    return table.sort_values(["this_run", "minutes"], ascending=[False, True]).reset_index(drop=True)


def compute_curve_figure(points: pd.DataFrame, baseline_auroc: float | None,
                         baseline_label: str = "TF-IDF + logistic regression") -> plt.Figure:
    """Validation AUROC against training minutes: the chapter's model along its fine-tuning (line), other settings
    on the same admissions (points, labelled with their pretraining steps and fine-tuning epochs), and the baseline
    as a horizontal line."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    own = points[points["this_run"]]
    others = points[~points["this_run"]]
    if len(own):
        ax.plot(own["minutes"], own["validation_auroc"], marker="o", label="this run's ClinicLLM, by evaluation")
        kept = own[own["kept"]]
        ax.scatter(kept["minutes"], kept["validation_auroc"], s=140, facecolors="none", edgecolors="red",
                   label="kept checkpoint", zorder=3)
    if len(others):
        steps = sorted(others["pretrain_steps"].unique())
        colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, max(len(steps), 1)))
        for colour, value in zip(colours, steps):
            part = others[others["pretrain_steps"] == value]
            ax.scatter(part["minutes"], part["validation_auroc"], color=colour, s=50, zorder=3,
                       label=f"other settings: {value:,} pretraining steps")
            for row in part.itertuples():
                ax.annotate(f"{row.finetune_epochs:.1f} ep", (row.minutes, row.validation_auroc), fontsize=9,
                            xytext=(4, 4), textcoords="offset points")
    if baseline_auroc is not None and np.isfinite(baseline_auroc):
        ax.axhline(baseline_auroc, color="grey", linestyle="--", label=baseline_label)
    ax.set_xlabel("training time on this machine (minutes: pretraining + fine-tuning)", fontsize=11)
    ax.set_ylabel("validation AUROC", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def compute_texts(points: pd.DataFrame, baseline_auroc: float | None) -> dict[str, str]:
    """Phrases for the page: how many settings the figure holds, and the best one against the baseline."""
    others = points[~points["this_run"]]
    if points.empty:
        return {"compute_points": "no timed fine-tuning in this run's cache",
                "compute_best": "no point to compare"}
    best = points.loc[points["validation_auroc"].idxmax()]
    gap = "" if baseline_auroc is None or not np.isfinite(baseline_auroc) else (
        f", {abs(best['validation_auroc'] - baseline_auroc):.3f} "
        f"{'below' if best['validation_auroc'] < baseline_auroc else 'above'} the baseline's {baseline_auroc:.3f}")
    return {
        "compute_points": (f"{len(others)} other setting{'s' if len(others) != 1 else ''} trained on the same "
                           "admissions" if len(others) else "no other setting trained on the same admissions yet"),
        "compute_best": (f"{best['validation_auroc']:.3f} after {best['minutes']:.1f} minutes "
                         f"({int(best['pretrain_steps']):,} pretraining steps, {best['finetune_epochs']:.1f} "
                         f"fine-tuning epochs){gap}"),
    }


def validation_auroc(predictions: pd.DataFrame, model: str) -> float | None:
    """AUROC of ``model``'s scores on the validation admissions of a predictions table (None without them)."""
    from sklearn.metrics import roc_auc_score

    rows = predictions[(predictions["model"] == model) & (predictions["split"] == "validation")]
    if rows.empty or rows["y_true"].nunique() < 2:
        return None
    return float(roc_auc_score(rows["y_true"], rows["y_score"]))
