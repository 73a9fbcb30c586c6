"""The statistical view of chapter 4: a logistic model of the per-admission error on the patient factors (standard
errors clustered by patient), and a regression of subgroup AUROC on group factors weighted by the inverse bootstrap
variance of each AUROC.

The hospital-level factors (the hospital, its sample size, readmission and mortality rates) take one value per
hospital each and so identify one another: the error model adjusts for the hospital, and the group regression uses
the sample size of each subgroup, which varies within hospitals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from helpers import evaluation
from helpers.contracts import check_columns
from helpers.features.factors import CATEGORICAL_FACTORS, GOVERNMENT_INSURANCE


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
