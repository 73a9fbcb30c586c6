"""Chapter 4's figures: the hospital profile against AUROC, odds ratios, permutation importance, AUROC by note
length."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.contracts import TEST_SPLITS
from helpers.features.factors import bin_order
from helpers.features.statistical import ADJUSTMENT_PREFIXES
from helpers.features.tables import CLASSIFIER_NAMES


def profile_figure(profile: pd.DataFrame) -> plt.Figure:
    """One panel per hospital-level summary of a factor: its value per hospital against the AUROC there."""
    columns = ["fine-tuning sample size", "words per note (median)", "age (mean)", "comorbidity level (mean)",
               "government insurance (%)", "readmission rate (%)", "mortality rate (%)"]
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    from helpers.figures import distinct_styles

    fig, axes = plt.subplots(2, 4, figsize=(10, 5.6), sharey=True)
    axes = axes.ravel()
    colors, markers, _ = distinct_styles(len(profile))
    palette = dict(zip(profile.index, colors))
    shapes = dict(zip(profile.index, markers))
    for ax, column in zip(axes, columns):
        for hospital, row in profile.iterrows():
            low, high = row["AUROC"] - row["AUROC ci_low"], row["AUROC ci_high"] - row["AUROC"]
            ax.errorbar(row[column], row["AUROC"], yerr=[[max(low, 0)], [max(high, 0)]], fmt=shapes[hospital],
                        color=palette[hospital], capsize=3, label=hospital)
        ax.set_xlabel(column, fontsize=9)
        ax.tick_params(labelsize=8)
        # three ticks at most: a narrow range of values otherwise gets labels that run into each other
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, min_n_ticks=2))
        if column == "fine-tuning sample size":
            # one labelled tick per power of ten; the minor ticks' labels (3x10^3, 4x10^3, ...) collide
            from matplotlib.ticker import LogLocator

            ax.set_xscale("log")
            sizes = profile[column].astype(float)
            ax.set_xlim(sizes.min() / 1.6, sizes.max() * 1.6)  # room for at least one 1-2-5 tick
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes[-1].set_visible(False)
    for ax in (axes[0], axes[4]):
        ax.set_ylabel("AUROC (95 % CI)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", bbox_to_anchor=(0.97, 0.15), frameon=False)
    fig.tight_layout()
    return fig


def odds_ratio_figure(table: pd.DataFrame) -> plt.Figure:
    """Forest plot of the patient factors' odds ratios with 95 % CIs on a log axis (adjustment terms left out)."""
    shown = table[~table["term"].str.startswith(ADJUSTMENT_PREFIXES)].iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(shown) + 1.2))
    y = np.arange(len(shown))
    ax.errorbar(shown["odds_ratio"], y, xerr=[shown["odds_ratio"] - shown["ci_low"],
                                              shown["ci_high"] - shown["odds_ratio"]],
                fmt="o", color=sns.color_palette("colorblind")[0], capsize=3)
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_xscale("log")
    ax.set_yticks(y, shown["term"])
    ax.set_xlabel("odds ratio of a misclassified admission (95 % CI, clustered by patient)\n"
                  "adjusted for hospital, outcome and test split")
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.DataFrame) -> plt.Figure:
    """Permutation importance with the interval over repeats, one panel per classifier."""
    import textwrap

    methods = list(dict.fromkeys(importance["method"]))
    n = importance["feature"].nunique()
    # stacked panels at the text column's width, so that the long factor names keep a readable size
    fig, axes = plt.subplots(len(methods), 1, figsize=(7.5, (0.34 * n + 1.0) * len(methods)), squeeze=False,
                             sharex=True)
    order = (importance[importance["method"] == methods[0]].sort_values("importance")["feature"].tolist())
    for ax, method in zip(axes[:, 0], methods):
        part = importance[importance["method"] == method].set_index("feature").reindex(order)
        y = np.arange(len(part))
        value, low, high = (part[c].to_numpy(dtype=float) for c in ("importance", "ci_low", "ci_high"))
        ax.errorbar(value, y, xerr=[value - low, high - value],
                    fmt="o", color=sns.color_palette("colorblind")[1], capsize=3)
        ax.axvline(0, color="grey", linestyle=":")
        ax.set_yticks(y, [textwrap.fill(label, 40) for label in order], fontsize=8)
        ax.set_title(CLASSIFIER_NAMES.get(method.removeprefix("permutation, "), method), fontsize=10)
    axes[-1, 0].set_xlabel("drop in held-out AUROC (interval over permutation repeats)")
    fig.tight_layout()
    return fig


def length_figure(rows: pd.DataFrame, bins: pd.DataFrame) -> plt.Figure:
    """AUROC (95 % CI) by words-per-note bin and by share-of-note-read bin, both tests."""
    # a share-read panel with a single bin (every note read whole, in windows) says nothing: it is left out
    group_vars = [g for g in ("words_per_note_bin", "share_read_bin") if g in set(rows["group_var"])
                  and (g not in bins or bins[g].nunique() > 1)]
    fig, axes = plt.subplots(1, len(group_vars), figsize=(4.8 * len(group_vars), 3.6), squeeze=False,
                             sharey=True)
    palette = dict(zip(TEST_SPLITS, sns.color_palette("colorblind")))
    for ax, group_var in zip(axes[0], group_vars):
        order = bin_order(bins[group_var])
        for i, split in enumerate(TEST_SPLITS):
            part = rows[(rows["group_var"] == group_var) & (rows["split"] == split)].set_index("group").reindex(order)
            value, low, high = (part[c].to_numpy(dtype=float) for c in ("value", "ci_low", "ci_high"))
            x = np.arange(len(order)) + (i - 0.5) * 0.15
            ax.errorbar(x, value, yerr=[value - low, high - value], fmt="o", color=palette[split], capsize=3,
                        label=split.replace("_", " "))
        ax.set_xticks(range(len(order)), order, rotation=20)
        ax.set_title("by words per note" if group_var == "words_per_note_bin" else "by share of the note read")
        ax.set_ylabel("AUROC (95 % CI)")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
