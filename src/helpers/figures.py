"""The study's figures, drawn with seaborn so that every chapter looks alike.

Each function takes a tidy table produced by another helper and returns the matplotlib Figure; the notebook shows
it and says what it means.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # the runner executes headless; figures are embedded as PNG

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def set_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})


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
    ax.legend(loc="lower right", frameon=True)
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
    fig, axes = plt.subplots(1, len(group_vars), figsize=(3.1 * len(group_vars), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, var in zip(axes, group_vars):
        part = summary[summary["group_var"] == var]
        sns.barplot(data=part, x="group", y="prevalence", ax=ax, color=sns.color_palette("colorblind")[0])
        for patch, n in zip(ax.patches, part["admissions"]):
            ax.annotate(f"{n:,}", (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.set_title(var.replace("_", " "), fontsize="medium")
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
    axes[0].set_ylabel("30-day readmission prevalence")
    fig.tight_layout()
    return fig
