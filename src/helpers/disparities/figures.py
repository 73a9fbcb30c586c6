"""Chapter 3's figures: the forest plot of AUROC per group and the reliability curves per hospital."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers import figures, privacy
from helpers.contracts import TEST_SPLITS
from helpers.evaluation import first_row, select_rows
from helpers.disparities.groups import EXPERIMENT_NAMES, EXPERIMENTS, GROUP_VAR_NAMES, SPLIT_TITLES


def forest_plot(rows: pd.DataFrame, group_var: str, *, real_data: bool) -> plt.Figure | None:
    """AUROC with 95 % CI per group (one panel per test, one marker per model), the overall global AUROC dashed.

    Groups that cannot be estimated keep their line, marked "not estimable", so a reader sees they exist. A
    variable the data lack gives no figure (None).
    """
    part = select_rows(rows, group_var=group_var, metric="auroc")
    if part.empty:
        return None
    experiments = [e for e in EXPERIMENTS if e in set(part["experiment"])]
    groups = list(dict.fromkeys(part["group"]))
    splits = [s for s in TEST_SPLITS if s in set(part["split"])]
    fig, axes = plt.subplots(1, len(splits), figsize=(8.5, 0.45 * len(groups) + 2.2), squeeze=False)
    palette = dict(zip(EXPERIMENTS, sns.color_palette("colorblind")))
    markers = {"global": "o", "tfidf_lr": "s", "oracle": "D"}
    offsets = dict(zip(experiments, np.linspace(-0.2, 0.2, len(experiments))))
    finite = part[np.isfinite(part["ci_low"])]
    left = min(0.3, float(finite["ci_low"].min()) - 0.02) if len(finite) else 0.3
    handles = {}
    for ax, split in zip(axes[0], splits):
        labels = []
        for position, group in enumerate(groups):
            first = first_row(part, split=split, group=group, experiment="global")
            count = privacy.hide_counts(pd.DataFrame({"n": [int(first["n"])]}), ["n"],
                                        real_data=real_data)["n"].iloc[0]
            labels.append(f"{group} (n={count})" + ("" if np.isfinite(first["value"]) else "\nnot estimable"))
            for experiment in experiments:
                row = first_row(part, split=split, group=group, experiment=experiment)
                if row is None or not np.isfinite(row["value"]):
                    continue
                handles[experiment] = ax.errorbar(
                    row["value"], position + offsets[experiment],
                    xerr=[[row["value"] - row["ci_low"]], [row["ci_high"] - row["value"]]],
                    fmt=markers.get(experiment, "o"), color=palette[experiment], capsize=2, markersize=5)
        overall = first_row(rows, split=split, group_var="overall", experiment="global", metric="auroc")
        if overall is not None and np.isfinite(overall["value"]):
            ax.axvline(overall["value"], color=palette["global"], linestyle="--", linewidth=1)
            ax.annotate(f"ClinicLLM, whole test\n{overall['value']:.3f}", (overall["value"], -0.6), fontsize=8,
                        ha="center", va="bottom", color=palette["global"], annotation_clip=False)
        ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(groups)), labels, fontsize=10)
        ax.set_ylim(len(groups) - 0.5, -1.0)
        ax.set_title(SPLIT_TITLES.get(split, split), pad=18)
        ax.set_xlabel("AUROC (95 % CI)")
        ax.set_xlim(left, 1.0)
    fig.legend(list(handles.values()), [EXPERIMENT_NAMES.get(k, k) for k in handles], loc="lower center",
               ncol=len(handles),
               frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(GROUP_VAR_NAMES.get(group_var, group_var.replace("_", " ")), fontsize="medium")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def reliability_figure(bins: pd.DataFrame) -> plt.Figure:
    """Reliability curves, one panel per test, one line per hospital; the diagonal is perfect calibration."""
    splits = [s for s in TEST_SPLITS if s in set(bins["split"])] or list(TEST_SPLITS)
    ordered = bins.sort_values("hospital", kind="stable")
    return figures.calibration_curves(ordered, hue="hospital", splits=splits, bin_label="quantile bins")
