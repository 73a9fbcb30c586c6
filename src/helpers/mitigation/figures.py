"""Chapter 5's figures: the change of AUROC per hospital, test and strategy, and the clusters' hospital make-up."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers import privacy
from helpers.mitigation.comparison import LABELS, TEST_SPLITS

ORDER = ("local", "instance_augmented", "cluster", "global_continued", "random_augmented")


def _size_label(value: float, real_data: bool) -> str:
    if not np.isfinite(value):
        return "n/a"
    return privacy.count_text(value, real_data=real_data)


def change_forest(rows: pd.DataFrame, train_sizes: pd.DataFrame, *, real_data: bool = False) -> plt.Figure:
    """Forest plot: change of AUROC against the global model, per hospital and strategy, one panel per test.

    A point is the change (mean over seeds), its bar the paired-bootstrap 95 % CI (of one seed, averaged over
    seeds); with several seeds each seed's change is a small grey dot, so training noise is visible beside
    sampling noise. The text at the right of each point is the number of training admissions behind that
    strategy's scores at that hospital.
    """
    # Hospitals only: the pooled row mixes the scales of models trained for different hospitals.
    part = rows[(rows["metric"] == "delta_auroc") & (rows["group_var"] == "hospital")].copy()
    part["label"] = part["group"].astype(str)
    hospitals = sorted(part["label"].unique())
    strategies = [s for s in ORDER if s in set(part["experiment"])]
    palette = dict(zip(strategies, sns.color_palette("colorblind", n_colors=len(strategies))))
    splits = [s for s in TEST_SPLITS if s in set(part["split"])]
    fig, axes = plt.subplots(1, len(splits), figsize=(5.2 * len(splits), 1.2 + 0.3 * len(hospitals) * len(strategies)),
                             sharey=True, squeeze=False)
    offsets = np.linspace(-0.3, 0.3, len(strategies)) if len(strategies) > 1 else np.zeros(1)
    for ax, split in zip(axes[0], splits):
        in_split = part[part["split"] == split]
        for offset, strategy in zip(offsets, strategies):
            mine = in_split[in_split["experiment"] == strategy]
            summary = mine.groupby("label").agg(mean=("value", "mean"), low=("ci_low", "mean"),
                                                high=("ci_high", "mean"))
            for i, hospital in enumerate(hospitals):
                if hospital not in summary.index or not np.isfinite(summary.loc[hospital, "mean"]):
                    ax.text(0, i + offset, "n/a", color=palette[strategy], fontsize=7, va="center", ha="center")
                    continue
                mean, low, high = summary.loc[hospital, ["mean", "low", "high"]]
                ax.errorbar(mean, i + offset, xerr=[[mean - low], [high - mean]] if np.isfinite(low) else None,
                            fmt="o", color=palette[strategy], capsize=3, markersize=5,
                            label=LABELS[strategy] if i == 0 else None)
                seeds = mine[mine["label"] == hospital]["value"].dropna()
                if len(seeds) > 1:
                    ax.scatter(seeds, np.full(len(seeds), i + offset), s=8, color="grey", zorder=3)
                size = train_sizes[(train_sizes["experiment"] == strategy) & (train_sizes["hospital"] == hospital)]
                if len(size):
                    ax.annotate(f"n={_size_label(float(size['train_size'].iloc[0]), real_data)}",
                                (high if np.isfinite(high) else mean, i + offset), xytext=(4, 0),
                                textcoords="offset points", fontsize=7, va="center", color=palette[strategy])
        ax.axvline(0, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(hospitals)), hospitals)
        ax.set_ylim(-0.5, len(hospitals) - 0.5)  # room for the outer models' rows inside the axes
        ax.set_title(LABELS.get(split, split))
        ax.set_xlabel("change in AUROC vs global")
        ax.margins(x=0.15)
    axes[0][0].invert_yaxis()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(strategies)), frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def cluster_makeup_bars(makeup: pd.DataFrame) -> plt.Figure:
    """Each cluster's training admissions split by hospital (stacked shares, %)."""
    shares = makeup[[c for c in makeup.columns if c.endswith("(%)") and c != "readmitted (%)"]]
    shares.columns = [c.replace(" (%)", "") for c in shares.columns]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.55 * len(shares)))
    left = np.zeros(len(shares))
    for color, hospital in zip(sns.color_palette("colorblind", n_colors=shares.shape[1]), shares.columns):
        values = shares[hospital].fillna(0).to_numpy()
        ax.barh(range(len(shares)), values, left=left, color=color, label=hospital)
        left += values
    ax.set_yticks(range(len(shares)), [f"{c} (n={n:,})" if isinstance(n, (int, np.integer)) else f"{c} (n={n})"
                                       for c, n in zip(shares.index, makeup["training admissions"])])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the cluster's training admissions (%)")
    # The legend goes above the bars: below, it would sit on the x-axis label.
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncol=min(4, shares.shape[1]), frameon=False)
    fig.tight_layout()
    return fig


def validation_curves(histories: pd.DataFrame, models: pd.DataFrame) -> plt.Figure:
    """Validation AUROC after every epoch (epoch 0: the start), one panel per strategy or control, one line per
    model and seed; a ring marks the kept epoch, a cross the last epoch run."""
    experiments = [e for e in ORDER if e in set(histories["strategy"])]
    columns = min(3, max(1, len(experiments)))
    rows = int(np.ceil(len(experiments) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows + 0.4), squeeze=False)
    for ax, experiment in zip(axes.flat, experiments):
        mine = histories[histories["strategy"] == experiment]
        units = list(dict.fromkeys(mine["unit"]))
        # beyond a few models (an export of many sites) colours and a legend name nothing: one colour, no legend
        many = len(units) > 8
        palette = (dict.fromkeys(units, sns.color_palette("colorblind")[0]) if many else
                   dict(zip(units, sns.color_palette("colorblind", n_colors=max(1, len(units))))))
        for (unit, seed), curve in mine.groupby(["unit", "seed"], sort=False):
            ax.plot(curve["epoch"], curve["validation_auroc"], color=palette[unit], linewidth=1,
                    alpha=0.4 if many else 1.0, label=unit if seed == mine["seed"].min() and not many else None)
            best = curve[curve["best"].astype(bool)]
            ax.scatter(best["epoch"], best["validation_auroc"], s=30, facecolors="none",
                       edgecolors=palette[unit], zorder=3)
            last = curve.iloc[-1]
            ax.scatter([last["epoch"]], [last["validation_auroc"]], marker="x", s=18, color=palette[unit],
                       zorder=3)
        ax.set_title(LABELS.get(experiment, experiment), fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation AUROC")
        if many:
            ax.set_title(f"{LABELS.get(experiment, experiment)} ({len(units)} models)", fontsize=9)
        else:
            ax.legend(fontsize=6, frameon=False, loc="lower right")
    for ax in list(axes.flat)[len(experiments):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
