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
    ax.legend(ncol=2, fontsize="small")
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
