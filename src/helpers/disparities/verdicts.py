"""Harder data or model failure: which weak groups fall clearly short of the rest of their split, and whether the
oracle (simulated data) shares the shortfall."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import privacy
from helpers.evaluation import first_row, select_rows
from helpers.disparities.groups import group_label
from helpers.disparities.tables import estimate_cell


HARDER_DATA_SHARE = 0.5
"""Share of the model's shortfall the oracle must share for a weak group to count as "harder data"."""
SHORTFALL_ALPHA = 0.05
"""Family-wise error rate of the test for a clear shortfall, over every group of a test split (Holm's method)."""
MULTIPLE_TESTING_METHOD = "holm"


def gap_verdict(delta_model: float, delta_oracle: float, *, share: float = HARDER_DATA_SHARE) -> str:
    """Harder data or model failure, for a group where the global model does worse than on the rest of the split.

    ``delta_model`` is the global model's AUROC in the group minus its AUROC on the rest of the split;
    ``delta_oracle`` the same for the oracle (the true risk). The model's shortfall splits exactly into two parts::

        delta_model = delta_oracle - (gap_group - gap_rest),     gap = oracle AUROC - model AUROC

    the part the oracle shares (the group is harder to rank even with full information) and the part it does not
    (the model falls further short of the ceiling there than elsewhere). The rule: a group is **weak** when
    ``delta_model < 0``; a weak group is **harder data** when the oracle shares at least ``share`` (one half) of the
    shortfall, ``delta_oracle <= share * delta_model``, and **model failure** otherwise. Groups that are not weak
    are "not weak"; a missing number gives "not estimable". :func:`verdict_table` applies it only to groups whose
    shortfall is clear after the correction for testing many groups.
    """
    if not np.isfinite(delta_model):
        return "not estimable"
    if delta_model >= 0:
        return "not weak"
    if not np.isfinite(delta_oracle):
        return "not estimable"
    return "harder data" if delta_oracle <= share * delta_model else "model failure"


def shortfall_p_values(rows: pd.DataFrame, split: str) -> pd.DataFrame:
    """Every group of a split with an estimable difference to the rest: the two-sided p-value of "no difference"
    (normal approximation, the standard error read from the 95 % interval's width) and the p-value adjusted for
    the number of groups tested (Holm's method, statsmodels' ``multipletests``)."""
    from statsmodels.stats.multitest import multipletests
    from scipy.stats import norm

    part = select_rows(rows, split=split, experiment="global", metric="delta_auroc_vs_rest")
    part = part[np.isfinite(part["value"]) & np.isfinite(part["ci_low"]) & np.isfinite(part["ci_high"])].copy()
    if part.empty:
        return part.assign(p_value=[], p_adjusted=[])
    se = (part["ci_high"] - part["ci_low"]) / (2 * norm.ppf(0.975))
    z = np.where(se > 0, part["value"] / se.where(se > 0, 1.0), np.inf * np.sign(part["value"]))
    part["p_value"] = 2 * norm.sf(np.abs(z))
    part["p_adjusted"] = multipletests(part["p_value"], alpha=SHORTFALL_ALPHA, method=MULTIPLE_TESTING_METHOD)[1]
    return part


def verdict_table(rows: pd.DataFrame, split: str, *, real_data: bool,
                  share: float = HARDER_DATA_SHARE) -> pd.DataFrame:
    """Every weak group of a split (ClinicLLM below the rest of the split), whether its shortfall is clear after
    Holm's correction over all the split's groups, and, for clear shortfalls only, the oracle's view of it."""
    tested = shortfall_p_values(rows, split)
    records = []
    for row in tested.itertuples():
        if row.value >= 0:
            continue
        where = {"split": split, "group_var": row.group_var, "group": row.group}
        oracle_delta = first_row(rows, experiment="oracle", metric="delta_auroc_vs_rest", **where)
        oracle_value = oracle_delta["value"] if oracle_delta is not None else np.nan
        clear = row.p_adjusted < SHORTFALL_ALPHA and row.ci_high < 0
        if real_data:
            verdict = "clear shortfall (no oracle)" if clear else "no clear shortfall"
        elif not clear:
            verdict = "no clear shortfall"
        else:
            verdict = gap_verdict(row.value, oracle_value, share=share)
            if np.isfinite(oracle_value):
                verdict += f" (oracle shares {oracle_value / row.value:.0%})"
        record = {"group": group_label(row.group_var, row.group) + (
                      f" ({row.group_var.replace('_', ' ')})" if row.group_var in ("insurance", "borough") else ""),
                  "group_var": row.group_var, "group_value": row.group, "n": int(row.n),
                  "ClinicLLM minus the rest": estimate_cell({"value": row.value, "ci_low": row.ci_low,
                                                         "ci_high": row.ci_high}),
                  "adjusted p": f"{row.p_adjusted:.3f}" if row.p_adjusted >= 0.001 else "<0.001",
                  "_p": row.p_adjusted}
        if not real_data:
            record["oracle minus the rest"] = estimate_cell(oracle_delta)
        record["verdict"] = verdict
        records.append(record)
    columns = ["group", "group_var", "group_value", "n", "ClinicLLM minus the rest", "adjusted p"] + (
        ["oracle minus the rest"] if not real_data else []) + ["verdict", "_p"]
    table = pd.DataFrame(records, columns=columns).sort_values("_p", kind="stable").drop(columns="_p")
    table = privacy.hide_counts(table, ["n"], real_data=real_data).rename(columns={"n": "admissions"})
    return table.set_index("group")


def verdict_display(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdict table as the chapter shows it (the keys used to look groups up left out)."""
    return verdicts.drop(columns=["group_var", "group_value"])
