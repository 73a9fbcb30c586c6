"""The descriptive view of chapter 4: each factor by hospital beside the model's AUROC there, and among the
admissions the model gets wrong or right."""

from __future__ import annotations

import pandas as pd

from helpers.features.factors import GOVERNMENT_INSURANCE


def hospital_profile(factors: pd.DataFrame, auroc_rows: pd.DataFrame, split: str = "temporal_test") -> pd.DataFrame:
    """Each factor by hospital (test admissions of ``split``), beside the model's AUROC there with its CI.

    ``auroc_rows`` are metric rows with group_var 'hospital' (from :func:`helpers.evaluation.evaluate_predictions`).
    """
    part = factors[factors["split"] == split]
    grouped = part.groupby("hospital")
    table = pd.DataFrame({
        "fine-tuning sample size": grouped["train_size"].first(),
        "test admissions": grouped.size(),
        "readmissions": grouped["y_true"].sum().astype(int),
        "words per note (median)": grouped["words_per_note"].median(),
        "age (mean)": grouped["age"].mean(),
        "comorbidity level (mean)": grouped["comorbidity_level"].mean(),
        "government insurance (%)": grouped["insurance"].agg(lambda s: 100 * s.isin(GOVERNMENT_INSURANCE).mean()),
        "unspecified insurance (%)": grouped["insurance"].agg(lambda s: 100 * (s == "Unspecified").mean()),
        "readmission rate (%)": 100 * grouped["readmission_rate"].first(),
        "mortality rate (%)": 100 * grouped["mortality_rate"].first(),
        "error rate (%)": 100 * grouped["error"].mean(),
    })
    rows = auroc_rows[(auroc_rows["group_var"] == "hospital") & (auroc_rows["split"] == split)
                      & (auroc_rows["metric"] == "auroc")].set_index("group")
    table["AUROC"] = rows["value"].reindex(table.index)
    table["AUROC ci_low"] = rows["ci_low"].reindex(table.index)
    table["AUROC ci_high"] = rows["ci_high"].reindex(table.index)
    return table.sort_values("fine-tuning sample size", ascending=False)


def chapter3_hospital_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """ClinicLLM's AUROC per hospital and test as chapter 3 wrote it to metrics.csv: one number per quantity, so
    this chapter shows chapter 3's values and intervals instead of bootstrapping its own."""
    rows = metrics[(metrics["notebook"] == "03_disparities") & (metrics["experiment"] == "global")
                   & (metrics["group_var"] == "hospital") & (metrics["metric"] == "auroc")]
    if rows.empty:
        raise ValueError("chapter 4 reads ClinicLLM's AUROC per hospital from chapter 3's rows of metrics.csv, and "
                         "there are none: run chapter 3 first (clinicllm-study run params/NAME.yaml --only 03).")
    return rows.reset_index(drop=True)


def factors_by_error(factors: pd.DataFrame) -> pd.DataFrame:
    """The factors' means (or shares) among admissions the model gets right and wrong, with counts."""
    summary = {
        "admissions": factors.groupby("error").size(),
        "readmitted (%)": 100 * factors.groupby("error")["y_true"].mean(),
        "fine-tuning sample size (mean)": factors.groupby("error")["train_size"].mean(),
        "words per note (median)": factors.groupby("error")["words_per_note"].median(),
        "age (mean)": factors.groupby("error")["age"].mean(),
        "comorbidity level (mean)": factors.groupby("error")["comorbidity_level"].mean(),
        "government insurance (%)": factors.groupby("error")["insurance"].agg(
            lambda s: 100 * s.isin(GOVERNMENT_INSURANCE).mean()),
    }
    out = pd.DataFrame(summary).T
    out.columns = ["right" if c == 0 else "wrong" for c in out.columns]
    # counts as integers, the rest to one decimal (the table is read, not computed with)
    return pd.DataFrame({c: [f"{int(v):,}" if name == "admissions" else f"{v:.1f}" for name, v in out[c].items()]
                         for c in out.columns}, index=out.index)
