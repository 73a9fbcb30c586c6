"""Chapter 4's factor analysis: which of the study's candidate factors go with the places where ClinicLLM errs.

The study (Rahman et al., 2024) names its candidate explanations of poor generalization: fine-tuning sample size,
words per note, comorbidity level, age, insurance type, borough, the hospital, and the hospital's 30-day
readmission and mortality rates. This module turns the global model's test predictions into one row per admission
with those factors (:func:`admission_factors`) and analyses them four ways:

1. **Descriptive** (:func:`hospital_profile`, :func:`factors_by_error`): each factor by hospital, beside the
   model's AUROC there, and among the admissions the model gets wrong or right.
2. **Statistical**: a logistic model of a per-admission error on the patient factors with standard errors
   clustered by patient (:func:`error_odds_ratios`), and a regression of subgroup AUROC on group factors weighted
   by the inverse bootstrap variance of each AUROC (:func:`group_auroc_table`, :func:`group_regression`).
3. **Supervised classification** (:func:`fit_error_classifiers`, :func:`permutation_importance_table`): gradient
   boosting and logistic regression predict where the model errs from the factors; permutation importance on
   held-out admissions ranks the factors.
4. **What the study could not see** (:func:`hidden_variable_gain`): on simulated data the same classifiers again,
   with the simulator's hidden variables added.

The error measure. An admission is *misclassified* when the model's score falls on the wrong side of one threshold
fixed on the validation split before any test admission is looked at. The threshold maximises Youden's J
(sensitivity + specificity - 1) on validation, so the two kinds of error are weighed by their rates: at that point
the share of readmitted admissions missed and the share of others falsely flagged are of similar size, and a factor
that only raises the readmission rate does not by itself raise the error rate. The logistic model still adjusts for
the outcome, so its odds ratios compare admissions with the same outcome.

Why the hospital-level factors are analysed as a block. With k hospitals, the hospital's name, its fine-tuning
sample size, its readmission rate and its mortality rate take k values each and identify one another: any one of
them carries all the others' information. Their separate effects cannot be told apart from k = 4 hospitals, by any
method. The patient-level logistic model therefore adjusts for the hospital, the group-level regression uses the
sample size of each subgroup (which varies within hospitals), and permutation importance permutes the four
hospital-level columns together as one block as well as one at a time.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import statsmodels.formula.api as smf
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score, roc_curve
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from helpers import evaluation, privacy
from helpers.contracts import TEST_SPLITS, binary_labels, check_columns

FACTOR_LABELS: dict[str, str] = {
    "train_size": "fine-tuning sample size",
    "words_per_note": "words per note",
    "comorbidity_level": "comorbidity level",
    "age": "age",
    "insurance": "insurance",
    "borough": "borough",
    "hospital": "hospital",
    "readmission_rate": "hospital readmission rate",
    "mortality_rate": "hospital mortality rate",
}
"""The study's candidate factors: column in the factor table -> the name the book uses."""
HOSPITAL_LEVEL_FACTORS: tuple[str, ...] = ("hospital", "train_size", "readmission_rate", "mortality_rate")
"""Factors that take one value per hospital (and therefore identify one another)."""
HOSPITAL_BLOCK = "hospital block (hospital, sample size, readmission and mortality rates)"
"""Name of the joint permutation of :data:`HOSPITAL_LEVEL_FACTORS`."""
CATEGORICAL_FACTORS: tuple[str, ...] = ("insurance", "borough", "hospital")
HIDDEN_LABELS: dict[str, str] = {
    "documented_share": "share of the admission's facts the note documents",
    "share_unread": "share of the note past the model's input limit",
    "unrecorded_share": "share of risk never recorded (oracle)",
}
"""The simulator's hidden variables (simulated data only), column -> book name."""
STUDY_RANKING: tuple[str, ...] = ("fine-tuning sample size", "age", "comorbidity level", "words per note")
"""The factors the study found to matter most (Rahman et al., 2024, abstract), in its words."""
GOVERNMENT_INSURANCE = ("Medicare", "Medicaid")


# --------------------------------------------------------------------------------------------------------------
# The factor table
# --------------------------------------------------------------------------------------------------------------


def hospital_factors(data: pd.DataFrame, hospital_rates: pd.DataFrame,
                     max_train_samples: int | None = None) -> pd.DataFrame:
    """Per hospital: fine-tuning sample size (training admissions) and the 30-day readmission and mortality rates.

    ``hospital_rates`` is chapter 1's ``hospital_rates.csv``. When chapter 2 capped its training set
    (``max_train_samples``), the sample sizes are scaled to the share it kept (the cap samples at random).
    """
    check_columns(data, ["hospital", "split"], where="hospital_factors: study frame")
    check_columns(hospital_rates, ["hospital", "readmission_rate", "mortality_rate"],
                  where="hospital_factors: hospital_rates.csv", fix="re-run chapter 1 (01_data), which writes it")
    train = data[data["split"] == "train"]
    if train.empty:
        raise ValueError("hospital_factors: the study frame has no 'train' rows; the sample sizes come from them.")
    kept = 1.0 if not max_train_samples else min(1.0, max_train_samples / len(train))
    sizes = (train.groupby("hospital").size() * kept).round().astype(int).rename("train_size")
    rates = hospital_rates.assign(hospital=hospital_rates["hospital"].astype(str)).set_index("hospital")
    out = pd.DataFrame({"hospital": sorted(data["hospital"].astype(str).unique())}).set_index("hospital")
    out["train_size"] = sizes.reindex(out.index).fillna(0).astype(int)
    missing = [h for h in out.index if h not in rates.index]
    if missing:
        raise ValueError(
            f"hospital_factors: hospital_rates.csv has no row for {missing}; it comes from another cohort. Re-run "
            "chapter 1 so that both files describe the same admissions."
        )
    out["readmission_rate"] = rates.loc[out.index, "readmission_rate"].astype(float)
    out["mortality_rate"] = rates.loc[out.index, "mortality_rate"].astype(float)
    return out.reset_index()


def hospital_factors_display(hospitals: pd.DataFrame) -> pd.DataFrame:
    """The hospital-level factors as the chapter shows them (rates in percent)."""
    return pd.DataFrame({"fine-tuning sample size": hospitals["train_size"].astype(int).to_numpy(),
                         "readmission rate (%)": [f"{100 * v:.1f}" for v in hospitals["readmission_rate"]],
                         "mortality rate (%)": [f"{100 * v:.1f}" for v in hospitals["mortality_rate"]]},
                        index=pd.Index(hospitals["hospital"].astype(str), name="hospital"))


def youden_threshold(y_true, y_score) -> float:
    """The score threshold (flag when score >= threshold) that maximises sensitivity + specificity - 1."""
    labels = binary_labels(y_true, column="y_true", where="youden_threshold")
    scores = np.asarray(y_score, dtype=float)
    if len(np.unique(labels)) < 2:
        raise ValueError("youden_threshold: the validation labels hold one class only; the threshold needs both.")
    fpr, tpr, thresholds = roc_curve(labels, scores)
    finite = np.isfinite(thresholds)
    best = np.argmax(np.where(finite, tpr - fpr, -np.inf))
    return float(thresholds[best])


def misclassified(y_true, y_score, threshold: float) -> np.ndarray:
    """1 where the flag ``score >= threshold`` disagrees with the outcome (a missed readmission or a false alarm)."""
    labels = binary_labels(y_true, column="y_true", where="misclassified")
    scores = np.asarray(y_score, dtype=float)
    if scores.shape != labels.shape:
        raise ValueError(f"misclassified: y_score has shape {scores.shape} but y_true {labels.shape}; align them.")
    return ((scores >= threshold).astype(np.int8) != labels).astype(np.int8)


def note_share_read(tokenizer, texts: Sequence[str], max_length: int, note_reading: str = "head") -> np.ndarray:
    """Share of each note's tokens ([CLS] and [SEP] included) that the model reads.

    A model that reads the head of the note (``note_reading='head'``) sees the first ``max_length`` tokens; one
    that reads the whole note in windows (``'windows'``, chapter 2's option) sees all of it.
    """
    if note_reading not in ("head", "windows"):
        raise ValueError(f"note_reading is {note_reading!r}; chapter 2's model reads 'head' or 'windows'.")
    if note_reading == "windows":
        return np.ones(len(texts))
    from helpers.clinicllm.tokenizer import token_lengths

    lengths = token_lengths(tokenizer, list(texts))
    return np.minimum(lengths, max_length) / np.maximum(lengths, 1)


def admission_factors(data: pd.DataFrame, predictions: pd.DataFrame, hospitals: pd.DataFrame, threshold: float,
                      *, splits: Sequence[str] = TEST_SPLITS, share_read: pd.Series | None = None,
                      oracle: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per test admission: the model's score, the error measure, the candidate factors (and hidden ones).

    ``predictions`` is one model's predictions table; ``hospitals`` comes from :func:`hospital_factors`;
    ``share_read`` (indexed by admission_id) is the share of the note the model reads; ``oracle`` (simulated data
    only) adds the hidden variables of :data:`HIDDEN_LABELS`.
    """
    evaluation.validate_predictions(predictions)
    if predictions["model"].nunique() != 1 or predictions["admission_id"].duplicated().any():
        raise ValueError("admission_factors: pass the predictions of one model (one row per admission).")
    wanted = ["admission_id", "age", "age_group", "insurance", "comorbidity_level", "words_per_note"]
    check_columns(data, wanted, where="admission_factors: study frame")
    extra = [c for c in ("borough", "facts_documented", "facts_in_record") if c in data.columns]
    part = predictions[predictions["split"].isin(list(splits))]
    table = part[["admission_id", "patient_id", "hospital", "split", "y_true", "y_score"]].merge(
        data[wanted + extra], on="admission_id", how="left", validate="one_to_one")
    table["hospital"] = table["hospital"].astype(str)
    table = table.merge(hospitals, on="hospital", how="left", validate="many_to_one")
    table["error"] = misclassified(table["y_true"], table["y_score"], threshold)
    for column in ("insurance", "borough", "age_group"):
        if column in table:
            table[column] = table[column].astype(str)
    if share_read is not None:
        table["share_read"] = table["admission_id"].map(share_read).astype(float)
        table["share_unread"] = 1.0 - table["share_read"]
    if oracle is not None:
        if {"facts_documented", "facts_in_record"} <= set(table.columns):
            table["documented_share"] = table["facts_documented"] / table["facts_in_record"].clip(lower=1)
        table = table.merge(oracle[["admission_id", "unrecorded_share"]], on="admission_id", how="left",
                            validate="one_to_one")
    return table.drop(columns=[c for c in ("facts_documented", "facts_in_record") if c in table.columns])


def visible_factors(factors: pd.DataFrame) -> list[str]:
    """The candidate factors the table holds for every admission.

    Borough is absent from some real data, and on real data chapter 1 suppresses a hospital's mortality rate when
    it rests on fewer than 11 deaths; a factor missing for some admissions is left out (:func:`left_out_factors`).
    """
    return [c for c in FACTOR_LABELS if c in factors.columns and factors[c].notna().all()]


def left_out_factors(factors: pd.DataFrame) -> str:
    """The candidate factors the analysis cannot use, and why, in words ('none' when all are used)."""
    reasons = []
    for column, label in FACTOR_LABELS.items():
        if column not in factors.columns:
            reasons.append(f"{label} (not in the data)")
        elif factors[column].isna().any():
            reasons.append(f"{label} (missing for some hospitals or admissions, e.g. suppressed under 11)")
    return "; ".join(reasons) if reasons else "none"


# --------------------------------------------------------------------------------------------------------------
# Descriptive
# --------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------
# Statistical: the per-admission error model
# --------------------------------------------------------------------------------------------------------------


POOLED = "other (pooled)"


def pooled_levels(values: pd.Series, outcome: pd.Series, min_count: int, min_events: int = 5) -> pd.Series:
    """Categories too small to estimate pooled, so that no level predicts the outcome perfectly.

    A level is too small when it has fewer than ``min_count`` admissions, or fewer than ``min_events`` admissions
    with the outcome or without it. Such levels are pooled into ``"other (pooled)"``; when the pool is itself too
    small, it joins the most common level, whose label then says so (``"Medicare + rare levels"``).
    """
    values = values.astype(str)
    outcome = pd.Series(np.asarray(outcome), index=values.index)

    def too_small(mask: pd.Series) -> bool:
        events = int(outcome[mask].sum())
        return int(mask.sum()) < min_count or events < min_events or int(mask.sum()) - events < min_events

    small = [level for level in values.unique() if too_small(values == level)]
    if not small:
        return values
    out = values.where(~values.isin(small), POOLED)
    if too_small(out == POOLED):
        common = out[out != POOLED].value_counts().index[0] if (out != POOLED).any() else POOLED
        merged = f"{common} + rare levels"
        out = out.where(~out.isin([POOLED, common]), merged)
    return out


def error_model_frame(factors: pd.DataFrame, min_level_count: int = 30) -> pd.DataFrame:
    """The columns of the error model, scaled so that each odds ratio reads per a unit a clinician would use."""
    frame = pd.DataFrame({
        "error": factors["error"].astype(int),
        "readmitted": factors["y_true"].astype(int),
        "age_10y": factors["age"] / 10.0,
        "words_100": factors["words_per_note"] / 100.0,
        "comorbidity_level": factors["comorbidity_level"].astype(float),
        "split": factors["split"].astype(str),
        "patient_id": factors["patient_id"].astype(str),
    })
    for column in CATEGORICAL_FACTORS:
        if column in factors and factors[column].notna().any():
            frame[column] = pooled_levels(factors[column], factors["error"], min_level_count)
    return frame


def error_formula(frame: pd.DataFrame) -> str:
    """The error model's formula; each categorical factor is compared with its most common level."""
    terms = ["readmitted", "age_10y", "words_100", "comorbidity_level"]
    for column in CATEGORICAL_FACTORS:
        if column in frame and frame[column].nunique() > 1:
            reference = frame[column].value_counts().index[0]
            terms.append(f"C({column}, Treatment(reference={reference!r}))")
    if frame["split"].nunique() > 1:
        terms.append("C(split)")
    return "error ~ " + " + ".join(terms)


_TERM_NAMES = {"readmitted": "readmitted (adjustment)", "age_10y": "age (per 10 years)",
               "words_100": "words per note (per 100)", "comorbidity_level": "comorbidity level (per level)",
               "Intercept": "intercept"}


def readable_term(term: str) -> str:
    """'C(insurance, Treatment(reference='Medicare'))[T.Medicaid]' -> 'insurance: Medicaid vs Medicare'."""
    if term in _TERM_NAMES:
        return _TERM_NAMES[term]
    if term.startswith("C("):
        inner, _, level = term.partition(")[T.")
        level = level.rstrip("]")
        name = inner[2:].split(",")[0].rstrip(")")
        if "reference=" in inner:
            reference = inner.split("reference=")[1].strip("')\"")
            return f"{name}: {level} vs {reference}"
        return f"{name}: {level}"
    return term


def fit_error_model(frame: pd.DataFrame, formula: str | None = None):
    """Logistic regression of the error on the factors (statsmodels), standard errors clustered by patient."""
    formula = formula or error_formula(frame)
    groups = pd.factorize(frame["patient_id"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.logit(formula, data=frame).fit(disp=0, maxiter=200, cov_type="cluster",
                                                  cov_kwds={"groups": groups})


def odds_ratio_table(fit, alpha: float = 0.05) -> pd.DataFrame:
    """term, odds_ratio, ci_low, ci_high, p_value from a fitted logit (the intercept left out)."""
    ci = fit.conf_int(alpha=alpha)
    table = pd.DataFrame({
        "term": [readable_term(t) for t in fit.params.index],
        "odds_ratio": np.exp(fit.params.to_numpy()),
        "ci_low": np.exp(ci[0].to_numpy()),
        "ci_high": np.exp(ci[1].to_numpy()),
        "p_value": fit.pvalues.to_numpy(),
    })
    return table[table["term"] != "intercept"].reset_index(drop=True)


def error_odds_ratios(factors: pd.DataFrame, min_level_count: int = 30):
    """(odds-ratio table, fitted model) of the per-admission error on the patient factors."""
    frame = error_model_frame(factors, min_level_count)
    if frame["error"].nunique() < 2:
        raise ValueError("error_odds_ratios: every test admission has the same error value; nothing to model.")
    fit = fit_error_model(frame)
    return odds_ratio_table(fit), fit


ADJUSTMENT_PREFIXES = ("readmitted", "split:", "hospital:")


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


# --------------------------------------------------------------------------------------------------------------
# Statistical: subgroup AUROC against group factors
# --------------------------------------------------------------------------------------------------------------


def group_auroc_table(factors: pd.DataFrame, data: pd.DataFrame, cells: Sequence[str] = ("hospital", "age_group"),
                      n_resamples: int = 200, seed: int = 0,
                      min_positives: int = evaluation.DEFAULT_MIN_POSITIVES) -> pd.DataFrame:
    """AUROC of each subgroup (a cell of ``cells``, per test split) with its patient-bootstrap variance and factors.

    The group factors are the subgroup's fine-tuning sample size (training admissions in the same cell), its mean
    words per note, age and comorbidity level, and its share of government insurance. Cells whose AUROC cannot be
    estimated (too few admissions or events, see :mod:`helpers.evaluation`) keep their row with a reason.
    """
    cells = list(cells)
    check_columns(factors, cells, where="group_auroc_table: factor table")
    train_sizes = data[data["split"] == "train"].groupby(cells, observed=True).size().rename("train_size")
    rows = []
    for key, part in factors.groupby(["split"] + cells, observed=True, sort=True):
        split, *cell = key
        result = evaluation.bootstrap_metrics(part["y_true"], part["y_score"], part["patient_id"], ("auroc",),
                                              n_resamples=0, min_positives=min_positives)["auroc"]
        variance = np.nan
        if np.isfinite(result.value):
            draws = evaluation.bootstrap_resample_values(part["y_true"], part["y_score"], part["patient_id"],
                                                         "auroc", n_resamples=n_resamples, seed=seed)
            variance = float(np.nanvar(draws, ddof=1))
        rows.append({
            "split": split, **dict(zip(cells, cell)), "n": result.n, "n_pos": result.n_pos,
            "auroc": result.value, "variance": variance, "reason": result.reason or "",
            "train_size": int(train_sizes.get(tuple(cell) if len(cell) > 1 else cell[0], 0)),
            "words_per_note": part["words_per_note"].mean(),
            "age": part["age"].mean(),
            "comorbidity_level": part["comorbidity_level"].mean(),
            "government_insurance": part["insurance"].isin(GOVERNMENT_INSURANCE).mean(),
        })
    table = pd.DataFrame(rows)
    ok = np.isfinite(table["variance"]) & (table["variance"] > 0)
    table["weight"] = np.where(ok, 1.0 / table["variance"].where(ok, 1.0), np.nan)
    return table


GROUP_FORMULA_TERMS = ("np.log2(train_size + 1)", "I(words_per_note / 100)", "I(age / 10)", "comorbidity_level",
                       "government_insurance")
_GROUP_TERM_NAMES = {
    "np.log2(train_size + 1)": "fine-tuning sample size (per doubling)",
    "I(words_per_note / 100)": "words per note (per 100)",
    "I(age / 10)": "age (per 10 years)",
    "comorbidity_level": "comorbidity level (per level)",
    "government_insurance": "government insurance (share 0 to 1)",
    "C(split)[T.temporal_test]": "temporal test (vs random)",
    "Intercept": "intercept",
}


@dataclass
class GroupRegression:
    """The weighted regression of subgroup AUROC on group factors (``fit`` is None when too few groups)."""

    table: pd.DataFrame
    fit: object | None
    n_groups: int
    reason: str = ""
    formula: str = ""
    data: pd.DataFrame = field(default_factory=pd.DataFrame)


def group_regression(groups: pd.DataFrame, terms: Sequence[str] = GROUP_FORMULA_TERMS) -> GroupRegression:
    """Weighted least squares of AUROC on group factors, each group weighted by 1 / variance of its AUROC.

    Inverse-variance weights are the meta-analytic choice: a subgroup whose AUROC is known precisely counts more
    than one whose interval spans half the scale. Needs more estimable groups than coefficients (plus two).
    """
    usable = groups[np.isfinite(groups["weight"])].reset_index(drop=True)
    terms = list(terms) + (["C(split)"] if usable["split"].nunique() > 1 else [])
    formula = "auroc ~ " + " + ".join(terms)
    columns = ["term", "estimate", "ci_low", "ci_high", "p_value"]
    if len(usable) < len(terms) + 3:
        reason = (f"only {len(usable)} subgroups have an estimable AUROC; the regression needs at least "
                  f"{len(terms) + 3} (enlarge the cohort or use coarser subgroups)")
        return GroupRegression(pd.DataFrame(columns=columns), None, len(usable), reason, formula, usable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.wls(formula, data=usable, weights=usable["weight"]).fit()
    ci = fit.conf_int()
    table = pd.DataFrame({
        "term": [_GROUP_TERM_NAMES.get(t, t) for t in fit.params.index],
        "estimate": fit.params.to_numpy(), "ci_low": ci[0].to_numpy(), "ci_high": ci[1].to_numpy(),
        "p_value": fit.pvalues.to_numpy(),
    })
    return GroupRegression(table[table["term"] != "intercept"].reset_index(drop=True), fit, len(usable), "",
                           formula, usable)


# --------------------------------------------------------------------------------------------------------------
# Supervised classification of where the model errs
# --------------------------------------------------------------------------------------------------------------


def _preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    return ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])


def error_classifiers(features: Sequence[str], seed: int = 0) -> dict[str, Pipeline]:
    """Gradient boosting and a logistic regression, each behind the same encoding of the factors."""
    categorical = [f for f in features if f in CATEGORICAL_FACTORS]
    numeric = [f for f in features if f not in categorical]
    return {
        "gradient_boosting": Pipeline([
            ("encode", _preprocessor(numeric, categorical)),
            ("model", HistGradientBoostingClassifier(learning_rate=0.08, max_iter=100, max_depth=3,
                                                     min_samples_leaf=30, l2_regularization=1.0,
                                                     early_stopping=False, random_state=seed)),
        ]),
        "logistic_regression": Pipeline([
            ("encode", _preprocessor(numeric, categorical)),
            ("model", LogisticRegression(C=1.0, max_iter=2000)),
        ]),
    }


def held_out_split(factors: pd.DataFrame, test_size: float = 0.4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a fitting and a held-out part, split by patient (no patient in both)."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    fit_rows, held_rows = next(splitter.split(factors, groups=factors["patient_id"]))
    return fit_rows, held_rows


@dataclass
class ErrorClassifiers:
    """Fitted error classifiers, the held-out admissions, and how well each predicts the errors there."""

    models: dict[str, Pipeline]
    features: list[str]
    fit_rows: np.ndarray
    held_rows: np.ndarray
    performance: pd.DataFrame


def fit_error_classifiers(factors: pd.DataFrame, features: Sequence[str], *, test_size: float = 0.4,
                          seed: int = 0, n_resamples: int = 200) -> ErrorClassifiers:
    """Fit both classifiers on part of the test admissions; score AUROC (patient-bootstrap CI) on the rest."""
    features = list(features)
    check_columns(factors, features + ["error", "patient_id"], where="fit_error_classifiers: factor table")
    fit_rows, held_rows = held_out_split(factors, test_size, seed)
    X, y = factors[features], factors["error"].to_numpy()
    if len(np.unique(y[fit_rows])) < 2 or len(np.unique(y[held_rows])) < 2:
        raise ValueError("fit_error_classifiers: the errors hold one class only in one part; enlarge the cohort.")
    models = error_classifiers(features, seed)
    rows = []
    # One thread: the tables are small, and OpenMP worker threads only stall when the machine is busy (measured:
    # 60 s instead of 0.3 s for one fit on a loaded 2-core machine).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        for name, model in models.items():
            model.fit(X.iloc[fit_rows], y[fit_rows])
            score = model.predict_proba(X.iloc[held_rows])[:, 1]
            result = evaluation.bootstrap_metrics(y[held_rows], score, factors["patient_id"].iloc[held_rows],
                                                  ("auroc",), n_resamples=n_resamples, seed=seed)["auroc"]
            rows.append({"classifier": name, "auroc": result.value, "ci_low": result.ci_low,
                         "ci_high": result.ci_high, "log_loss": log_loss(y[held_rows], score, labels=[0, 1]),
                         "n_held_out": len(held_rows), "n_errors_held_out": int(y[held_rows].sum())})
    return ErrorClassifiers(models, features, fit_rows, held_rows, pd.DataFrame(rows))


def permutation_importance_table(model, X: pd.DataFrame, y, groups: Mapping[str, Sequence[str]], *,
                                 n_repeats: int = 20, seed: int = 0, method: str = "") -> pd.DataFrame:
    """Drop in held-out AUROC when a group of columns is permuted (jointly, one shuffle of the rows), per repeat.

    For a group of one column this is scikit-learn's ``permutation_importance`` with ``scoring='roc_auc'`` (the
    tests check it against it); a group of several columns is permuted with one common row order, which keeps
    their relation to one another and breaks only their relation to the error. The CI is the 2.5th and 97.5th
    percentile over the repeats: it shows how much the estimate depends on the shuffles, not sampling error.
    """
    y = np.asarray(y)
    if n_repeats < 2:
        raise ValueError(f"n_repeats is {n_repeats}; use at least 2 so that an interval can be given.")
    for name, columns in groups.items():
        check_columns(X, list(columns), where=f"permutation_importance_table: feature group {name!r}")
    # The shuffles follow scikit-learn's permutation_importance exactly (one seed drawn from ``seed``, one
    # RandomState per group, its row order shuffled again at every repeat), so a one-column group reproduces it.
    group_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        baseline = roc_auc_score(y, model.predict_proba(X)[:, 1])
        rows = []
        for name, columns in groups.items():
            rng = np.random.RandomState(group_seed)
            order = np.arange(len(X))
            shuffled = X.copy()
            drops = np.empty(n_repeats)
            for repeat in range(n_repeats):
                rng.shuffle(order)
                for column in columns:
                    shuffled[column] = shuffled[column].to_numpy()[order]
                drops[repeat] = baseline - roc_auc_score(y, model.predict_proba(shuffled)[:, 1])
            rows.append({"feature": name, "importance": drops.mean(), "ci_low": np.percentile(drops, 2.5),
                         "ci_high": np.percentile(drops, 97.5), "method": method})
    return pd.DataFrame(rows)


def factor_groups(features: Sequence[str]) -> dict[str, list[str]]:
    """Each factor alone (named as the book names it), plus the hospital-level factors as one block."""
    groups = {FACTOR_LABELS.get(f, HIDDEN_LABELS.get(f, f)): [f] for f in features}
    block = [f for f in HOSPITAL_LEVEL_FACTORS if f in features]
    if len(block) > 1:
        groups[HOSPITAL_BLOCK] = block
    return groups


def classifier_importance(classifiers: ErrorClassifiers, factors: pd.DataFrame, *, n_repeats: int = 20,
                          seed: int = 0, models: Sequence[str] | None = None) -> pd.DataFrame:
    """importance.csv: permutation importance of every factor (and the hospital block) for the classifiers
    (``models``: their names; all by default)."""
    held = factors.iloc[classifiers.held_rows]
    groups = factor_groups(classifiers.features)
    chosen = list(models) if models is not None else list(classifiers.models)
    return pd.concat([
        permutation_importance_table(classifiers.models[name], held[classifiers.features], held["error"], groups,
                                     n_repeats=n_repeats, seed=seed, method=f"permutation, {name}")
        for name in chosen
    ], ignore_index=True)


def factor_ranking(importance: pd.DataFrame, method: str) -> pd.DataFrame:
    """Ranking for the comparison with the study: patient factors one by one, hospital-level factors as one block.

    The study's "fine-tuning sample size" is a hospital-level factor here, so it is ranked through the block.
    """
    part = importance[importance["method"] == method]
    hospital_names = {FACTOR_LABELS[f] for f in HOSPITAL_LEVEL_FACTORS}
    has_block = (part["feature"] == HOSPITAL_BLOCK).any()
    kept = part[~part["feature"].isin(hospital_names)] if has_block else part
    ranked = kept.sort_values("importance", ascending=False).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked["in the study's top four"] = [
        "yes" if f in STUDY_RANKING or (f == HOSPITAL_BLOCK and "fine-tuning sample size" in STUDY_RANKING)
        else "" for f in ranked["feature"]]
    return ranked


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


# --------------------------------------------------------------------------------------------------------------
# What the study could not see (simulated data)
# --------------------------------------------------------------------------------------------------------------


def hidden_variable_gain(factors: pd.DataFrame, visible: Sequence[str], hidden: Sequence[str], *,
                         test_size: float = 0.4, seed: int = 0, n_resamples: int = 200) -> pd.DataFrame:
    """Held-out AUROC and log loss of the error classifiers with the visible factors, and with the hidden ones too.

    Both sets are fitted and scored on the same patient-level split, so the difference is what the hidden
    variables add. The last rows give the gain (with visible + hidden minus visible only).
    """
    hidden = [h for h in hidden if h in factors.columns and factors[h].notna().all() and factors[h].nunique() > 1]
    if not hidden:
        raise ValueError("hidden_variable_gain: none of the hidden variables is in the factor table (real data?).")
    tables = []
    for label, features in (("visible factors", list(visible)), ("visible + hidden", list(visible) + hidden)):
        fitted = fit_error_classifiers(factors, features, test_size=test_size, seed=seed, n_resamples=n_resamples)
        tables.append(fitted.performance.assign(factors=label))
    table = pd.concat(tables, ignore_index=True)
    wide = table.pivot(index="classifier", columns="factors", values=["auroc", "log_loss"])
    gain = pd.DataFrame({
        "AUROC, visible factors": wide[("auroc", "visible factors")],
        "AUROC, visible + hidden": wide[("auroc", "visible + hidden")],
        "log loss, visible factors": wide[("log_loss", "visible factors")],
        "log loss, visible + hidden": wide[("log_loss", "visible + hidden")],
    })
    gain["AUROC gain"] = gain["AUROC, visible + hidden"] - gain["AUROC, visible factors"]
    gain["log loss reduction (%)"] = 100 * (1 - gain["log loss, visible + hidden"] / gain["log loss, visible factors"])
    ci = table.set_index(["classifier", "factors"])
    gain["AUROC, visible (CI)"] = [evaluation.format_estimate(*ci.loc[(c, "visible factors"),
                                                                      ["auroc", "ci_low", "ci_high"]])
                                   for c in gain.index]
    gain["AUROC, visible + hidden (CI)"] = [evaluation.format_estimate(*ci.loc[(c, "visible + hidden"),
                                                                               ["auroc", "ci_low", "ci_high"]])
                                            for c in gain.index]
    return gain


def hidden_summary(gain: pd.DataFrame, ranking: pd.DataFrame, hidden: Sequence[str],
                   classifier: str = "gradient_boosting") -> str:
    """One sentence for the book: what the hidden variables add to the error classifier."""
    row = gain.loc[classifier]
    names = "; ".join(HIDDEN_LABELS.get(h, h) for h in hidden)
    reduction = float(row["log loss reduction (%)"])
    return (f"With the hidden variables used in this run ({names}) added to the visible factors, the "
            f"{classifier.replace('_', ' ')} error classifier's held-out AUROC goes from "
            f"{row['AUROC, visible (CI)']} to {row['AUROC, visible + hidden (CI)']} and its log loss "
            f"{'falls' if reduction >= 0 else 'rises'} by {abs(reduction):.1f} %;"
            " the most important factor is then "
            f"{ranking['feature'].iloc[0]}.")


# --------------------------------------------------------------------------------------------------------------
# Words per note
# --------------------------------------------------------------------------------------------------------------


def length_bins(factors: pd.DataFrame, n_bins: int = 4) -> pd.DataFrame:
    """admission_id with note-length and share-read bins (quantile bins of the test admissions), for grouping."""
    out = factors[["admission_id"]].copy()
    words = pd.qcut(factors["words_per_note"], n_bins, duplicates="drop")
    out["words_per_note_bin"] = [f"{int(np.ceil(b.left))}-{int(b.right)} words" for b in words]
    if "share_read" in factors:
        share = factors["share_read"]
        edges = np.unique(np.quantile(share, np.linspace(0, 1, n_bins + 1)))
        if len(edges) > 2:
            binned = pd.cut(share, edges, include_lowest=True, duplicates="drop")
            out["share_read_bin"] = [f"{100 * max(b.left, 0):.0f}-{100 * b.right:.0f} % read" for b in binned]
        else:
            out["share_read_bin"] = f"{100 * share.iloc[0]:.0f} % read"
    return out


def bin_order(labels: pd.Series) -> list[str]:
    """Bin labels in numeric order of their lower edge."""
    return sorted(pd.unique(labels), key=lambda s: float(re.match(r"[0-9.]+", str(s)).group()))


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


# --------------------------------------------------------------------------------------------------------------
# What the chapter's prose says, computed
# --------------------------------------------------------------------------------------------------------------


def error_texts(factors: pd.DataFrame, threshold: float) -> dict[str, str]:
    """The validation threshold and how often the model errs at it: overall, among readmissions, among the others."""
    readmitted = factors[factors["y_true"] == 1]
    others = factors[factors["y_true"] == 0]
    return {
        "threshold": f"{threshold:.3f}",
        "error_rate": f"{100 * factors['error'].mean():.0f} %",
        "missed_share": f"{100 * readmitted['error'].mean():.0f} %",
        "false_alarm_share": f"{100 * others['error'].mean():.0f} %",
        "n_test_admissions": f"{len(factors):,}",
        "left_out_factors": left_out_factors(factors),
    }


def hospital_texts(profile: pd.DataFrame) -> dict[str, str]:
    """The hospital with the fewest training admissions and the one with the lowest AUROC, from
    :func:`hospital_profile`, each with its AUROC (95 % CI)."""
    estimate = ["AUROC", "AUROC ci_low", "AUROC ci_high"]
    scored = profile.dropna(subset=["AUROC"])
    worst = scored["AUROC"].idxmin() if len(scored) else None
    smallest = profile["fine-tuning sample size"].idxmin()
    return {
        "smallest_hospital": str(smallest),
        "smallest_hospital_size": f"{profile.loc[smallest, 'fine-tuning sample size']:,}",
        "smallest_hospital_auroc": (evaluation.format_estimate(*profile.loc[smallest, estimate])
                                    if np.isfinite(profile.loc[smallest, "AUROC"]) else
                                    "that cannot be estimated (too few readmissions or admissions in its test)"),
        "worst_hospital": worst or "none (no hospital could be scored)",
        "worst_hospital_auroc": evaluation.format_estimate(*profile.loc[worst, estimate]) if worst else "n/a",
    }


ODDS_RATIO_KEYS: dict[str, str] = {"or_age": "age (per 10 years)", "or_words": "words per note (per 100)",
                                   "or_comorbidity": "comorbidity level (per level)"}
"""The patient factors the prose quotes from the error model: glue key -> term of :func:`odds_ratio_table`."""


def odds_ratio_texts(odds_ratios: pd.DataFrame, factors: pd.DataFrame) -> dict[str, str]:
    """The quoted odds ratios as '1.23 (1.01-1.50), p = 0.04', and how many patients the errors cluster in."""
    ratios = odds_ratios.set_index("term")
    texts = {}
    for key, term in ODDS_RATIO_KEYS.items():
        row = ratios.loc[term]
        texts[key] = f"{evaluation.format_estimate(row.odds_ratio, row.ci_low, row.ci_high, 2)}, p = {row.p_value:.2g}"
    texts["n_clusters"] = f"{factors['patient_id'].nunique():,}"
    return texts


def group_regression_texts(regression: GroupRegression, cells: Sequence[str]) -> dict[str, str]:
    """The subgroups the regression uses and what a doubling of their fine-tuning sample size goes with (or why the
    regression could not be estimated)."""
    texts = {"n_groups": f"{regression.n_groups}", "group_cells": " x ".join(cells)}
    if regression.fit is None:
        texts["size_effect"] = f"the regression is not estimated: {regression.reason}"
        return texts
    row = regression.table.set_index("term").loc["fine-tuning sample size (per doubling)"]
    texts["size_effect"] = ("each doubling of the subgroup's fine-tuning sample size goes with an AUROC change of "
                            f"{evaluation.format_estimate(row.estimate, row.ci_low, row.ci_high)}"
                            f" (p = {row.p_value:.2g})")
    return texts


def classifier_texts(performance: pd.DataFrame) -> dict[str, str]:
    """Each error classifier's held-out AUROC (95 % CI), keyed ``error_auroc_<classifier>``, and the held-out size."""
    texts = {f"error_auroc_{row.classifier}": evaluation.format_estimate(row.auroc, row.ci_low, row.ci_high)
             for row in performance.itertuples()}
    # both classifiers are scored on the same held-out admissions
    texts["n_held_out"] = f"{int(performance['n_held_out'].iloc[0]):,}"
    return texts


def ranking_texts(ranking: pd.DataFrame, importance: pd.DataFrame | None = None) -> dict[str, str]:
    """The four most important factors of :func:`factor_ranking`, and, given the whole importance table, the
    verdict on the study's four by :func:`study_factor_verdict` (the verdict chapter 6 shows)."""
    top_four = ranking["feature"].head(4).tolist()
    texts = {"top_four": "; ".join(f"{i}. {name}" for i, name in enumerate(top_four, start=1))}
    if importance is not None:
        result = study_factor_verdict(importance)
        texts |= {"factor_verdict": result.verdict, "factor_evidence": result.evidence,
                  "factor_rule": FACTOR_RULE}
    return texts


REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
FACTOR_RULE = (
    "the finding is reproduced when, for every error classifier, the four most important candidate factors are the "
    "study's four (the hospital block standing for the sample size), each with its importance interval above zero; "
    "contradicted when, for some classifier, a factor outside the study's four is clearly more important than one "
    "of them (the lower end of its interval above the upper end of the other's); inconclusive otherwise (the "
    "intervals overlap, so the ranking is not settled). The study gives no sizes of importance, so no effect can "
    "be shown absent"
)
"""The one rule for the study's four factors; chapter 4 states it and chapter 6 applies it."""


@dataclass
class FactorVerdict:
    verdict: str
    evidence: str


def _study_factor(feature: str) -> bool:
    return feature in STUDY_RANKING or (feature == HOSPITAL_BLOCK and "fine-tuning sample size" in STUDY_RANKING)


def study_factor_verdict(importance: pd.DataFrame) -> FactorVerdict:
    """The verdict on "sample size, age, comorbidities and words per note matter most", by :data:`FACTOR_RULE`."""
    missing = [c for c in ("feature", "importance", "ci_low", "ci_high", "method") if c not in importance.columns]
    if missing:
        raise ValueError(f"study_factor_verdict: the importance table lacks column(s) {missing}; it is chapter 4's "
                         "importance.csv (feature, importance, ci_low, ci_high, method).")
    verdicts, texts = [], []
    for method in dict.fromkeys(importance["method"].astype(str)):
        ranked = factor_ranking(importance, method)
        study = ranked[[_study_factor(f) for f in ranked["feature"]]]
        others = ranked[[not _study_factor(f) for f in ranked["feature"]]]
        top = ranked.head(4)
        in_top = sum(_study_factor(f) for f in top["feature"])
        all_clear = in_top == 4 and len(study) == 4 and bool((top["ci_low"] > 0).all())
        outranked = [(o.feature, s.feature) for o in others.itertuples() for s in study.itertuples()
                     if o.ci_low > s.ci_high]
        if all_clear:
            verdict = REPRODUCED
        elif outranked:
            verdict = CONTRADICTED
        else:
            verdict = INCONCLUSIVE
        verdicts.append(verdict)
        name = method.removeprefix("permutation, ").replace("_", " ")
        detail = (f"{outranked[0][0]} clearly above {outranked[0][1]}" if outranked else
                  f"{int((study['ci_low'] > 0).sum())} of the study's four with an interval above zero")
        texts.append(f"{name}: {in_top} of the top four are the study's; {detail}")
    if all(v == REPRODUCED for v in verdicts):
        overall = REPRODUCED
    elif CONTRADICTED in verdicts:
        overall = CONTRADICTED
    else:
        overall = INCONCLUSIVE
    return FactorVerdict(overall, "; ".join(texts))


NO_HIDDEN_VARIABLES = "On real data these variables do not exist, so this section has nothing to add."


def hidden_texts(gain: pd.DataFrame | None, ranking: pd.DataFrame | None, hidden: Sequence[str]) -> dict[str, str]:
    """What the hidden variables add (:func:`hidden_summary`); ``gain`` is None on real data, which have none."""
    if gain is None:
        return {"hidden_result": NO_HIDDEN_VARIABLES}
    return {"hidden_result": hidden_summary(gain, ranking, hidden)}


def length_texts(length_rows: pd.DataFrame, bins: pd.DataFrame, factors: pd.DataFrame,
                 note_reading: str) -> dict[str, str]:
    """Temporal-test AUROC in the shortest and the longest notes, how the model reads a note, and the median share
    of a test note it reads."""
    words = length_rows[(length_rows["group_var"] == "words_per_note_bin")
                        & (length_rows["split"] == "temporal_test")]
    words = words.set_index("group").reindex(bin_order(bins["words_per_note_bin"]))
    estimate = ["value", "ci_low", "ci_high"]
    return {
        "auroc_shortest": f"{words.index[0]}: {evaluation.format_estimate(*words.iloc[0][estimate])}",
        "auroc_longest": f"{words.index[-1]}: {evaluation.format_estimate(*words.iloc[-1][estimate])}",
        "median_share_read": f"{100 * factors['share_read'].median():.0f} %",
        "reading": ("reads every note whole, in windows of its input limit, so the share read is 100 % for every "
                    "note and the figure leaves out the panel by share read" if note_reading == "windows" else
                    "reads the first tokens of each note up to its input limit"),
    }


# --------------------------------------------------------------------------------------------------------------
# What real data may publish (helpers.privacy decides)
# --------------------------------------------------------------------------------------------------------------


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
    """:func:`factors_by_error` as real data may show it: admissions of 1 to 10 hidden, and the percentages of
    readmitted and government-insured admissions left empty where their count or complement is."""
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
