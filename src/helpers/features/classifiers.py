"""Supervised classification of where the model errs: gradient boosting and logistic regression predict the errors
from the factors, and permutation importance on held-out admissions ranks the factors.

With k hospitals the hospital-level factors identify one another, so their separate effects cannot be told apart;
permutation importance permutes the four hospital-level columns together as one block as well as one at a time. On
simulated data :func:`hidden_variable_gain` fits the same classifiers again with the simulator's hidden variables.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from helpers import evaluation
from helpers.contracts import check_columns
from helpers.features.factors import (
    CATEGORICAL_FACTORS, FACTOR_LABELS, HIDDEN_LABELS, HOSPITAL_BLOCK, HOSPITAL_LEVEL_FACTORS,
)


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
            low, high, _ = evaluation.percentile_interval(drops, 0.95)
            rows.append({"feature": name, "importance": drops.mean(), "ci_low": low, "ci_high": high,
                         "method": method})
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
