"""Chapter 4's tables as the page shows them; on real data what :mod:`helpers.privacy` allows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import evaluation, privacy
from helpers.features.descriptive import factors_by_error
from helpers.features.factors import GOVERNMENT_INSURANCE
from helpers.features.statistical import GroupRegression


def hospital_factors_display(hospitals: pd.DataFrame) -> pd.DataFrame:
    """The hospital-level factors as the chapter shows them (rates in percent)."""
    return pd.DataFrame({"fine-tuning sample size": hospitals["train_size"].astype(int).to_numpy(),
                         "readmission rate (%)": [f"{100 * v:.1f}" for v in hospitals["readmission_rate"]],
                         "mortality rate (%)": [f"{100 * v:.1f}" for v in hospitals["mortality_rate"]]},
                        index=pd.Index(hospitals["hospital"].astype(str), name="hospital"))


def profile_display(profile: pd.DataFrame) -> pd.DataFrame:
    """The hospital profile for reading: one column per hospital, AUROC as 'value (CI)', numbers rounded."""
    shown = profile.drop(columns=["AUROC", "AUROC ci_low", "AUROC ci_high"]).astype(float).round(1).astype(object)
    for column in ("fine-tuning sample size", "test admissions", "readmissions"):
        shown[column] = profile[column].astype(int)
    shown["AUROC (95 % CI)"] = [evaluation.format_estimate(v, lo, hi) for v, lo, hi in
                                zip(profile["AUROC"], profile["AUROC ci_low"], profile["AUROC ci_high"])]
    return shown.T


def group_display(groups: pd.DataFrame, cells: Sequence[str]) -> pd.DataFrame:
    """The subgroup table for reading: one row per subgroup, its counts, AUROC, bootstrap variance and reason."""
    columns = ["n", "n_pos", "train_size", "auroc", "variance", "reason"]
    shown = groups.set_index(["split"] + list(cells))[columns].rename(
        columns={"n": "admissions", "n_pos": "readmitted", "train_size": "training admissions",
                 "auroc": "AUROC", "variance": "bootstrap variance", "reason": "not estimable because"})
    shown.index = shown.index.set_levels([s.replace("_", " ") for s in shown.index.levels[0]], level=0)
    shown.index = shown.index.set_names(["test"] + [c.replace("_", " ") for c in cells])
    # a subgroup without an AUROC says why in the AUROC column itself (one column less to fit the page)
    shown["AUROC"] = [f"{v:.3f}" if np.isfinite(v) else (reason or "-")
                      for v, reason in zip(shown["AUROC"], shown["not estimable because"])]
    shown["bootstrap variance"] = [f"{v:.4f}" if np.isfinite(v) else "-" for v in shown["bootstrap variance"]]
    return shown.drop(columns="not estimable because")


def _interval_column(table: pd.DataFrame, value: str, low: str = "ci_low", high: str = "ci_high",
                     digits: int = 3) -> list[str]:
    return [evaluation.format_estimate(v, lo, hi, digits) for v, lo, hi in zip(table[value], table[low], table[high])]


def ranking_display(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranking as the chapter shows it: factor, importance with its interval over repeats, in the study's four."""
    return pd.DataFrame({"rank": ranking["rank"], "factor": ranking["feature"],
                         "drop in held-out AUROC [interval over repeats]": _interval_column(ranking, "importance",
                                                                                            digits=4),
                         "one of the study's four": ranking["in the study's top four"].replace("", "no")}
                        ).set_index("rank")


def odds_ratio_display(odds_ratios: pd.DataFrame) -> pd.DataFrame:
    """The error model's odds ratios as the chapter shows them: term, odds ratio [95 % CI], p-value."""
    return pd.DataFrame({"term": odds_ratios["term"],
                         "odds ratio [95 % CI]": _interval_column(odds_ratios, "odds_ratio", digits=2),
                         "p-value": [f"{p:.2g}" for p in odds_ratios["p_value"]]}).set_index("term")


def regression_display(regression: GroupRegression) -> pd.DataFrame:
    """The group-level regression's coefficients (change in AUROC per unit) with 95 % CIs, or why it has none."""
    if regression.fit is None:
        return pd.DataFrame({"why there is no estimate": [regression.reason]})
    table = regression.table
    return pd.DataFrame({"term": table["term"],
                         "change in AUROC [95 % CI]": _interval_column(table, "estimate", digits=4),
                         "p-value": [f"{p:.2g}" for p in table["p_value"]]}).set_index("term")


CLASSIFIER_NAMES = {"gradient_boosting": "gradient boosting", "logistic_regression": "logistic regression"}


def performance_display(performance: pd.DataFrame) -> pd.DataFrame:
    """How well each error classifier predicts the errors on the held-out admissions."""
    return pd.DataFrame({"error classifier": [CLASSIFIER_NAMES.get(c, c) for c in performance["classifier"]],
                         "held-out AUROC [95 % CI]": _interval_column(performance, "auroc"),
                         "log loss": performance["log_loss"].round(3),
                         "held-out admissions": performance["n_held_out"].astype(int),
                         "errors among them": performance["n_errors_held_out"].astype(int)}
                        ).set_index("error classifier")


def hidden_gain_display(gain: pd.DataFrame) -> pd.DataFrame:
    """What the hidden variables add, per error classifier."""
    return pd.DataFrame({"AUROC, visible factors": gain["AUROC, visible (CI)"].to_numpy(),
                         "AUROC, visible + hidden": gain["AUROC, visible + hidden (CI)"].to_numpy(),
                         "log loss reduction (%)": [f"{v:.1f}" for v in gain["log loss reduction (%)"]]},
                        index=pd.Index([CLASSIFIER_NAMES.get(c, c) for c in gain.index], name="error classifier"))


def learning_curve_display(curve_table: pd.DataFrame) -> pd.DataFrame:
    """The learning curve's AUROCs by hospital and fine-tuning size, one column per test."""
    shown = curve_table.pivot_table(index=["hospital", "train_size"], columns="split", values="auroc",
                                    aggfunc="first")
    shown = shown.rename(columns={"random_test": "random test", "temporal_test": "temporal test"})
    shown.index = shown.index.set_names(["hospital", "fine-tuning admissions"])
    shown.columns.name = "AUROC"
    return shown.map(lambda v: f"{v:.3f}" if np.isfinite(v) else "-")


def learning_stages_display(stages: pd.DataFrame) -> pd.DataFrame:
    """What each learning-curve fine-tune cost; the largest size is chapter 2's model, reused, not trained again."""
    shown = stages.copy()
    reused = shown["reused"].astype(bool) if "reused" in shown else pd.Series(False, index=shown.index)
    out = pd.DataFrame({"fine-tuning admissions": shown["train_size"].astype(int).map("{:,}".format)})
    if "steps" in shown:
        out["optimizer steps"] = ["chapter 2's model" if r or not np.isfinite(v) else f"{int(v):,}"
                                  for v, r in zip(shown["steps"], reused)]
    for column, name in (("fine-tune (s)", "fine-tuning (s)"), ("predictions (s)", "scoring (s)")):
        if column in shown:
            out[name] = [f"{v:.1f}" if np.isfinite(v) else "-" for v in shown[column]]
    out["reused"] = ["yes" if r else "no" for r in reused]
    return out.set_index("fine-tuning admissions")


def publishable_profile(profile: pd.DataFrame, factors: pd.DataFrame, hospital_rates: pd.DataFrame, *,
                        real_data: bool, split: str = "temporal_test") -> pd.DataFrame:
    """:func:`profile_display` as real data may show it: counts of 1 to 10 hidden, and every percentage whose
    count, complement or total is 1 to 10 left empty (the share of government insurance among 8 test admissions
    gives its count back). The counts behind each share are recounted here from ``factors`` and chapter 1's
    ``hospital_rates.csv``."""
    shown = profile_display(profile)
    if not real_data:
        return shown
    part = factors[factors["split"] == split]
    grouped = part.groupby("hospital")
    tests = grouped.size()
    rates = hospital_rates.assign(hospital=hospital_rates["hospital"].astype(str)).set_index("hospital")
    shares = {
        "government insurance (%)": (grouped["insurance"].agg(lambda s: int(s.isin(GOVERNMENT_INSURANCE).sum())),
                                     tests),
        "unspecified insurance (%)": (grouped["insurance"].agg(lambda s: int((s == "Unspecified").sum())), tests),
        "error rate (%)": (grouped["error"].sum(), tests),
        "readmission rate (%)": (rates["readmissions"], rates["cohort_admissions"]),
        "mortality rate (%)": (rates["in_hospital_deaths"], rates["admissions"]),
    }
    for row, (counts, totals) in shares.items():
        for site in shown.columns:
            if row in shown.index and privacy.share_hidden(counts.get(str(site), np.nan),
                                                           totals.get(str(site), np.nan)):
                shown.loc[row, site] = privacy.HIDDEN_SHARE
    counts = shown.T[["fine-tuning sample size", "test admissions", "readmissions"]]
    hidden = privacy.hide_counts(counts, list(counts.columns), real_data=True,
                                 complements=[("test admissions", "readmissions")])
    for column in counts.columns:
        shown.loc[column] = hidden[column]
    # a hospital with any count hidden shows no percentage: which total a share divides is not on the page, so a
    # reader could take the share over the hidden count and get the count back
    share_rows = [row for row in shown.index if row.endswith("(%)")]
    for site in shown.columns:
        if (hidden.loc[site] == privacy.HIDDEN).any():
            shown.loc[share_rows, site] = privacy.HIDDEN_SHARE
    return shown


def publishable_by_error(factors: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """:func:`.descriptive.factors_by_error` as real data may show it: admissions of 1 to 10 hidden, and the
    percentages of readmitted and government-insured admissions left empty where their count or complement is."""
    shown = factors_by_error(factors).astype(object)
    if not real_data:
        return shown
    grouped = factors.groupby("error")
    totals = grouped.size()
    counts = {"readmitted (%)": grouped["y_true"].sum(),
              "government insurance (%)": grouped["insurance"].agg(lambda s: int(s.isin(GOVERNMENT_INSURANCE).sum()))}
    # right and wrong add up to the test admissions the chapter states: one hidden hides the other
    either_small = any(privacy.is_small(totals.get(error, 0)) for error in (0, 1))
    for column, error in (("right", 0), ("wrong", 1)):
        if column not in shown.columns:
            continue
        if either_small:
            shown.loc["admissions", column] = privacy.HIDDEN
        for row, count in counts.items():
            if privacy.share_hidden(count.get(error, 0), totals.get(error, 0)):
                shown.loc[row, column] = privacy.HIDDEN_SHARE
    return shown
