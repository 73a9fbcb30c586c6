"""The study's figures, drawn with seaborn so that every chapter looks alike.

Each function takes a tidy table produced by another helper and returns the matplotlib Figure; the notebook shows
it and says what it means.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def set_style() -> None:
    """One look for every chapter's figures, and tables shown in full (no truncated text)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", 30)


DISTINCT_COLORS = (0, 3, 2, 4, 1, 8, 9, 5)
"""Indices into seaborn's colour-blind palette in the order lines take them: blue, vermilion, green, purple, orange,
... (orange and vermilion, the second and fourth colours, are hard to tell apart side by side)."""


def distinct_styles(n: int) -> tuple[list, list[str], list[str]]:
    """Colours, markers and line styles for ``n`` lines that stay apart in colour, shape and dash."""
    palette = sns.color_palette("colorblind", 10)
    colors = [palette[DISTINCT_COLORS[i % len(DISTINCT_COLORS)]] for i in range(n)]
    markers = [("o", "s", "^", "D", "v", "P", "X", "*")[i % 8] for i in range(n)]
    styles = [("-", "--", "-.", ":")[i % 4] for i in range(n)]
    return colors, markers, styles


def hospital_rates(rates_long: pd.DataFrame) -> plt.Figure:
    """Readmission and in-hospital mortality per hospital, as points with 95 % CIs."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    palette = sns.color_palette("colorblind", n_colors=rates_long["rate"].nunique())
    hospitals = list(dict.fromkeys(rates_long["hospital"]))
    for i, (rate, part) in enumerate(rates_long.groupby("rate", sort=False)):
        y = np.array([hospitals.index(h) for h in part["hospital"]]) + (i - 0.5) * 0.25
        ax.errorbar(part["value"] * 100, y,
                    xerr=[(part["value"] - part["ci_low"]) * 100, (part["ci_high"] - part["value"]) * 100],
                    fmt="o", color=palette[i], label=rate, capsize=3)
    ax.set_yticks(range(len(hospitals)), hospitals)
    ax.invert_yaxis()
    ax.set_xlabel("rate (%), 95 % Wilson CI")
    ax.set_ylabel("")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def words_by_year(words: pd.DataFrame) -> plt.Figure:
    """Median words per note by discharge year, one line per hospital, with the interquartile band."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    palette = sns.color_palette("colorblind", n_colors=words["hospital"].nunique())
    for color, (hospital, part) in zip(palette, words.groupby("hospital", sort=True)):
        ax.plot(part["discharge_year"], part["median"], marker="o", color=color, label=hospital)
        ax.fill_between(part["discharge_year"], part["q1"], part["q3"], color=color, alpha=0.12)
    ax.set_xlabel("discharge year")
    ax.set_ylabel("words per note (median, IQR band)")
    if words["hospital"].nunique() <= 10:  # a legend of many sites would take the whole figure
        ax.legend(ncol=2, fontsize="small")
    else:
        ax.set_title(f"{words['hospital'].nunique()} sites, one line each", fontsize="small")
    fig.tight_layout()
    return fig


def subgroup_prevalence(summary: pd.DataFrame) -> plt.Figure:
    """Readmission prevalence of each subgroup, one panel per grouping, bar labels give the admissions."""
    group_vars = list(dict.fromkeys(summary["group_var"]))
    ncols = min(3, len(group_vars))
    nrows = int(np.ceil(len(group_vars) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.3 * nrows), sharey=True, squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(group_vars):]:
        ax.set_visible(False)
    for ax, var in zip(axes, group_vars):
        part = summary[summary["group_var"] == var]
        sns.barplot(data=part, x="group", y="prevalence", ax=ax, color=sns.color_palette("colorblind")[0])
        for patch, n in zip(ax.patches, part["admissions"]):
            ax.annotate(f"{n:,}", (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.set_title(var.replace("_", " "), fontsize="medium")
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
    for row in range(nrows):
        axes[row * ncols].set_ylabel("readmission prevalence")
    fig.tight_layout()
    return fig


def roc_curves(curves: pd.DataFrame, aurocs: pd.DataFrame | None = None) -> plt.Figure:
    """ROC curves, one panel per split, one line per model.

    ``curves`` has columns split, model, fpr, tpr (from :func:`helpers.evaluation.roc_curve_table`); ``aurocs``
    (metric rows with split, experiment, value) adds each curve's AUROC to its legend label, matching the curve's
    model to the rows' experiment.
    """
    splits = list(dict.fromkeys(curves["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 4.4), squeeze=False)
    palette = dict(zip(dict.fromkeys(curves["model"]), sns.color_palette("colorblind")))
    for ax, split in zip(axes[0], splits):
        for model, part in curves[curves["split"] == split].groupby("model", sort=False):
            label = model
            if aurocs is not None:
                match = aurocs[(aurocs["split"] == split) & (aurocs["experiment"] == model)]
                if len(match):
                    label = f"{model} (AUROC {match['value'].iloc[0]:.3f})"
            ax.plot(part["fpr"], part["tpr"], color=palette[model], label=label)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set_title(split.replace("_", " "))
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right", fontsize="small")
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def calibration_curves(bins: pd.DataFrame, *, hue: str = "model", splits: list[str] | None = None,
                       bin_label: str = "decile bins") -> plt.Figure:
    """Reliability diagrams: observed readmission rate against mean predicted probability per bin, one panel per
    split and one line per value of ``hue`` (``model`` in chapter 2, ``hospital`` in chapter 3); the dotted
    diagonal is perfect calibration."""
    splits = splits or list(dict.fromkeys(bins["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(3.8 * len(splits), 3.6), squeeze=False)
    levels = list(dict.fromkeys(bins[hue]))
    colors, markers, styles = distinct_styles(len(levels))
    palette = dict(zip(levels, colors))
    top = float(max(bins["mean_pred"].max(), bins["frac_pos"].max(), 0.05)) * 1.1 if len(bins) else 1.0
    for ax, split in zip(axes[0], splits):
        for level, part in bins[bins["split"] == split].groupby(hue, sort=False):
            i = levels.index(level)
            ax.plot(part["mean_pred"], part["frac_pos"], marker=markers[i], linestyle=styles[i],
                    color=palette[level], label=level)
        ax.plot([0, top], [0, top], color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_title(split.replace("_", " "))
        ax.set_xlabel(f"mean predicted probability ({bin_label})")
        ax.set_ylabel("observed readmission rate")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def training_curves(pretrain: pd.DataFrame, finetune: pd.DataFrame) -> plt.Figure:
    """Masked-language-model loss during pretraining; training loss and validation AUROC during fine-tuning.

    Drawn at the width of the book's text column (7.5 inches at 100 dpi), so that its type is read at full size.
    """
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.9))
    if len(pretrain):
        axes[0].plot(pretrain["step"], pretrain["train_loss"])
    axes[0].set_title("pretraining:\nmasked-word loss", fontsize=10)
    axes[0].set_xlabel("step")
    loss = finetune.dropna(subset=["train_loss"]) if "train_loss" in finetune else finetune.iloc[0:0]
    axes[1].plot(loss["step"], loss["train_loss"])
    axes[1].set_title("fine-tuning:\ntraining loss", fontsize=10)
    axes[1].set_xlabel("step")
    evals = finetune.dropna(subset=["eval_auroc"]) if "eval_auroc" in finetune else finetune.iloc[0:0]
    axes[2].plot(evals["step"], evals["eval_auroc"], marker="o")
    if "best" in evals and evals["best"].astype(bool).any():
        best = evals[evals["best"].astype(bool)]
        axes[2].scatter(best["step"], best["eval_auroc"], s=120, facecolors="none", edgecolors="red",
                        label="kept")
        axes[2].legend(loc="lower right", fontsize="small")
    axes[2].set_title("fine-tuning:\nvalidation AUROC", fontsize=10)
    axes[2].set_xlabel("step")
    for ax in axes:
        ax.tick_params(labelsize=9)
    fig.tight_layout()
    return fig
