"""Chapter 3's tables, read from its metric rows; on real data each shows what :mod:`helpers.privacy` allows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import evaluation, privacy
from helpers.contracts import TEST_SPLITS
from helpers.evaluation import first_row, select_rows
from helpers.disparities.groups import (
    CALIBRATION_METRIC, CONTRAST, EXPERIMENT_NAMES, EXPERIMENTS, GROUP_VAR_NAMES, SPLIT_TITLES, contrast_name,
    group_label,
)


def estimate_cell(row) -> str:
    if row is None or not np.isfinite(row["value"]):
        return "not estimable"
    return evaluation.format_estimate(row["value"], row["ci_low"], row["ci_high"])


def _no_variable(group_var: str) -> pd.DataFrame:
    return pd.DataFrame({"note": [f"the data have no {group_var} column, so there is nothing to show"]},
                        index=pd.Index([group_var], name="group"))


def _groups_of(part: pd.DataFrame, splits: Sequence[str]):
    for split in splits:
        for group in dict.fromkeys(part.loc[part["split"] == split, "group"]):
            yield split, group


def subgroup_counts_table(rows: pd.DataFrame, group_var: str, *, real_data: bool,
                          splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The first of the chapter's three tables for one grouping variable: admissions, readmissions and prevalence
    per group and test, and why a group has no AUROC when it has none. On real data counts under 11 are
    suppressed, with the rates that would reveal them."""
    part = select_rows(rows, group_var=group_var, experiment="global")
    if part.empty:
        return _no_variable(group_var)
    records = []
    for split, group in _groups_of(part, splits):
        first = first_row(part, metric="auroc", split=split, group=group)
        prevalence = first_row(part, metric="prevalence", split=split, group=group)
        records.append({"test": SPLIT_TITLES.get(split, split), "group": group, "n": int(first["n"]),
                        "n_pos": int(first["n_pos"]),
                        "prevalence (%)": (f"{100 * prevalence['value']:.1f}" if np.isfinite(prevalence["value"])
                                           else "-"),
                        "why no AUROC": privacy.hide_counts_in_text(
                            first["note"] if not np.isfinite(first["value"]) else "", real_data=real_data)})
    table = pd.DataFrame(records)
    if not table["why no AUROC"].astype(bool).any():
        table = table.drop(columns="why no AUROC")
    table = privacy.hide_counts(table, ["n", "n_pos"], real_data=real_data, share_columns=["prevalence (%)"],
                                complements=[("n", "n_pos")], hidden_share="suppressed")
    return table.rename(columns={"n": "admissions", "n_pos": "readmissions"}).set_index(["test", "group"])


def subgroup_table(rows: pd.DataFrame, group_var: str, *, real_data: bool,
                   splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The second table: each model's AUROC with its 95 % interval per group and test ("-" where the group is too
    small: :func:`subgroup_counts_table` says why)."""
    part = select_rows(rows, group_var=group_var, metric="auroc")
    if part.empty:
        return _no_variable(group_var)
    experiments = [e for e in EXPERIMENTS if e in set(part["experiment"])]
    records = []
    for split, group in _groups_of(part[part["experiment"] == "global"], splits):
        record = {"test": SPLIT_TITLES.get(split, split), "group": group}
        for experiment in experiments:
            record[f"AUROC {EXPERIMENT_NAMES.get(experiment, experiment)}"] = estimate_cell(
                first_row(part, split=split, group=group, experiment=experiment))
        records.append(record)
    return pd.DataFrame(records).replace("not estimable", "-").set_index(["test", "group"])


def subgroup_gap_table(rows: pd.DataFrame, group_var: str, *, real_data: bool,
                       splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The third table: ClinicLLM's AUPRC, its AUROC minus that of the rest of the test, and (simulated data) the
    oracle's AUROC minus ClinicLLM's. The Brier score of every group is in metrics.csv."""
    part = select_rows(rows, group_var=group_var, experiment="global")
    if part.empty:
        return _no_variable(group_var)
    records = []
    for split, group in _groups_of(part, splits):
        where = {"split": split, "group": group}
        record = {"test": SPLIT_TITLES.get(split, split), "group": group,
                  "AUPRC": estimate_cell(first_row(part, metric="auprc", **where)),
                  "AUROC minus the rest's": estimate_cell(first_row(part, metric="delta_auroc_vs_rest", **where))}
        if not real_data and "oracle_gap" in set(part["metric"]):
            record["oracle's AUROC minus ClinicLLM's"] = estimate_cell(first_row(part, metric="oracle_gap", **where))
        records.append(record)
    return pd.DataFrame(records).replace("not estimable", "-").set_index(["test", "group"])


def worst_groups(rows: pd.DataFrame, *, experiment: str = "global",
                 group_vars: Sequence[str] | None = None) -> pd.DataFrame:
    """Per split and grouping variable, the group with the lowest estimable AUROC, with its CI and vs-rest delta."""
    part = select_rows(rows, experiment=experiment, metric="auroc")
    part = part[~part["group_var"].isin(["overall", CONTRAST])]
    if group_vars is not None:
        part = part[part["group_var"].isin(list(group_vars))]
    records = []
    for (split, group_var), block in part.groupby(["split", "group_var"], sort=False):
        estimable = block[np.isfinite(block["value"])]
        if estimable.empty:
            records.append({"split": split, "group_var": group_var, "group": "none estimable", "auroc": np.nan,
                            "ci_low": np.nan, "ci_high": np.nan, "n": 0, "AUROC (95 % CI)": "not estimable",
                            "vs rest (95 % CI)": "not estimable"})
            continue
        worst = estimable.loc[estimable["value"].idxmin()]
        delta = first_row(rows, experiment=experiment, split=split, group_var=group_var, group=worst["group"],
                     metric="delta_auroc_vs_rest")
        records.append({"split": split, "group_var": group_var, "group": worst["group"], "auroc": worst["value"],
                        "ci_low": worst["ci_low"], "ci_high": worst["ci_high"], "n": int(worst["n"]),
                        "AUROC (95 % CI)": estimate_cell(worst), "vs rest (95 % CI)": estimate_cell(delta),
                        "groups": int(block["group"].nunique())})
    return pd.DataFrame(records)


def worst_display(worst: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """The worst group of each variable on each test, as the chapter shows it."""
    shown = privacy.hide_counts(worst, ["n"], real_data=real_data)
    table = pd.DataFrame({
        "test": [SPLIT_TITLES.get(s, s) for s in shown["split"]],
        "variable": [GROUP_VAR_NAMES.get(v, v) for v in shown["group_var"]],
        "worst group": [group_label(v, str(g)) if g != "none estimable" else g
                        for v, g in zip(shown["group_var"], shown["group"])],
        "admissions": shown["n"].tolist(),
        "AUROC ClinicLLM": shown["AUROC (95 % CI)"].tolist(),
        "minus the rest's": shown["vs rest (95 % CI)"].tolist(),
    })
    return table.set_index(["test", "variable"])


def contrast_table(rows: pd.DataFrame, *, real_data: bool, definitions: dict[str, str] | None = None) -> pd.DataFrame:
    """The study's contrasts on both tests: ClinicLLM's AUROC and its difference to the rest of the test (the
    oracle's view of a contrast is in the verdict table, for the contrasts with a clear shortfall)."""
    records = []
    part = select_rows(rows, group_var=CONTRAST, experiment="global", metric="auroc")
    for row in part.itertuples():
        where = {"split": row.split, "group_var": CONTRAST, "group": row.group, "experiment": "global"}
        record = {"contrast": contrast_name(row.group), "test": SPLIT_TITLES.get(row.split, row.split),
                  "n": int(row.n), "AUROC ClinicLLM": estimate_cell(first_row(rows, metric="auroc", **where)),
                  "minus the rest's": estimate_cell(first_row(rows, metric="delta_auroc_vs_rest", **where))}
        if not np.isfinite(row.value):
            record["AUROC ClinicLLM"] = f"not estimable ({privacy.hide_counts_in_text(row.note, real_data=real_data)})"
        records.append(record)
    table = privacy.hide_counts(pd.DataFrame(records), ["n"], real_data=real_data).rename(columns={"n": "admissions"})
    return table.set_index(["test", "contrast"])


def contrast_definition_table(definitions: dict[str, str]) -> pd.DataFrame:
    """Each contrast's definition in this run (the smallest hospital by name, the age threshold, ...)."""
    return pd.DataFrame({"contrast": [contrast_name(k) for k in definitions],
                         "admissions in the contrast": list(definitions.values())}).set_index("contrast").rename(
        columns={"admissions in the contrast": "definition in this run"})


def calibration_table(rows: pd.DataFrame, *, real_data: bool, experiment: str = "global") -> pd.DataFrame:
    """Calibration-in-the-large by hospital: observed rate, mean predicted risk and their difference, with CI."""
    part = select_rows(rows, experiment=experiment, metric=CALIBRATION_METRIC)
    records = []
    for row in part.itertuples():
        where = {"split": row.split, "group_var": row.group_var, "group": row.group, "experiment": experiment}
        prevalence = first_row(rows, metric="prevalence", **where)
        observed = prevalence["value"] if prevalence is not None else np.nan
        predicted = observed - row.value
        records.append({
            "test": SPLIT_TITLES.get(row.split, row.split), "hospital": row.group if row.group_var == "hospital"
            else "all hospitals", "n": int(row.n), "n_pos": int(row.n_pos),
            "observed (%)": f"{100 * observed:.1f}" if np.isfinite(observed) else "not estimable",
            "mean predicted (%)": f"{100 * predicted:.1f}" if np.isfinite(predicted) else "not estimable",
            "observed - predicted (points, 95 % CI)": (
                evaluation.format_estimate(100 * row.value, 100 * row.ci_low, 100 * row.ci_high, digits=1)
                if np.isfinite(row.value) else "not estimable"),
            "O/E": f"{observed / predicted:.2f}" if np.isfinite(predicted) and predicted > 0 else "n/a",
        })
    table = privacy.hide_counts(pd.DataFrame(records), ["n", "n_pos"], real_data=real_data,
                                share_columns=["observed (%)", "O/E"], complements=[("n", "n_pos")],
                                hidden_share="suppressed")
    return table.rename(columns={"n": "admissions", "n_pos": "readmissions"}).set_index(["test", "hospital"])


def reliability_by_hospital(frame: pd.DataFrame, *, real_data: bool, experiment: str = "global",
                            n_bins: int = 5) -> pd.DataFrame:
    """Reliability-diagram bins (quantile bins of predicted risk) per test and hospital for one model.

    On real data a bin with fewer than 11 admissions is dropped from the figure rather than shown.
    """
    part = frame[frame["experiment"] == experiment]
    tables = []
    for (split, hospital), block in part.groupby(["split", "hospital"], sort=True):
        if len(block) < n_bins:
            continue
        bins = evaluation.calibration_curve_table(block["y_true"], block["y_score"], n_bins=n_bins)
        tables.append(bins.assign(split=split, hospital=hospital))
    if not tables:
        return pd.DataFrame(columns=["split", "hospital", "mean_pred", "frac_pos", "n"])
    bins = pd.concat(tables, ignore_index=True)
    if real_data:
        bins = bins[bins["n"] >= privacy.THRESHOLD]
    return bins
