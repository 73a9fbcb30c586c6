"""Chapter 4's factor analysis: which of the study's candidate factors go with the places where ClinicLLM errs.

The global model's test predictions become one row per admission with the study's candidate factors
(:func:`admission_factors`), analysed four ways, one module each:

1. **Descriptive** (``descriptive``): each factor by hospital, beside the model's AUROC there, and among the
   admissions the model gets wrong or right.
2. **Statistical** (``statistical``): a logistic model of a per-admission error on the patient factors, and a
   regression of subgroup AUROC on group factors.
3. **Supervised classification** (``classifiers``): gradient boosting and logistic regression predict where the
   model errs; permutation importance on held-out admissions ranks the factors, and ``study_factors`` judges the
   ranking against the study's four.
4. **What the study could not see** (``classifiers.hidden_variable_gain``): on simulated data the same classifiers
   again, with the simulator's hidden variables added.

``factors`` builds the factor table; ``tables``, ``figures`` and ``prose`` show it.
"""

from __future__ import annotations

from helpers.features.factors import (
    CATEGORICAL_FACTORS, FACTOR_LABELS, GOVERNMENT_INSURANCE, HIDDEN_LABELS, HOSPITAL_BLOCK, HOSPITAL_LEVEL_FACTORS,
    admission_factors, bin_order, hospital_factors, left_out_factors, length_bins, misclassified, note_share_read,
    visible_factors, youden_threshold,
)
from helpers.features.descriptive import (
    chapter3_hospital_rows, factors_by_error, hospital_profile,
)
from helpers.features.statistical import (
    ADJUSTMENT_PREFIXES, GROUP_FORMULA_TERMS, POOLED, GroupRegression, error_formula, error_model_frame,
    error_odds_ratios, fit_error_model, group_auroc_table, group_regression, odds_ratio_table, pooled_levels,
    readable_term,
)
from helpers.features.classifiers import (
    ErrorClassifiers, classifier_importance, error_classifiers, factor_groups, fit_error_classifiers,
    held_out_split, hidden_variable_gain, permutation_importance_table,
)
from helpers.features.study_factors import (
    FACTOR_RULE, STUDY_RANKING, FactorVerdict, factor_ranking, is_study_factor, study_factor_verdict,
)
from helpers.features.tables import (
    CLASSIFIER_NAMES, group_display, hidden_gain_display, hospital_factors_display, learning_curve_display,
    learning_stages_display, odds_ratio_display, performance_display, profile_display, publishable_by_error,
    publishable_profile, ranking_display, regression_display,
)
from helpers.features.figures import (
    importance_figure, length_figure, odds_ratio_figure, profile_figure,
)
from helpers.features.prose import (
    NO_HIDDEN_VARIABLES, ODDS_RATIO_KEYS, classifier_texts, error_texts, group_regression_texts, hidden_summary,
    hidden_texts, hospital_texts, length_texts, odds_ratio_texts, ranking_texts,
)

__all__ = [
    "ADJUSTMENT_PREFIXES", "CATEGORICAL_FACTORS", "CLASSIFIER_NAMES", "ErrorClassifiers", "FACTOR_LABELS",
    "FACTOR_RULE", "FactorVerdict", "GOVERNMENT_INSURANCE", "GROUP_FORMULA_TERMS", "GroupRegression",
    "HIDDEN_LABELS", "HOSPITAL_BLOCK", "HOSPITAL_LEVEL_FACTORS", "NO_HIDDEN_VARIABLES", "ODDS_RATIO_KEYS", "POOLED",
    "STUDY_RANKING", "admission_factors", "bin_order", "chapter3_hospital_rows", "classifier_importance",
    "classifier_texts", "classifiers", "descriptive", "error_classifiers", "error_formula", "error_model_frame",
    "error_odds_ratios", "error_texts", "factor_groups", "factor_ranking", "factors", "factors_by_error", "figures",
    "fit_error_classifiers", "fit_error_model", "group_auroc_table", "group_display", "group_regression",
    "group_regression_texts", "held_out_split", "hidden_gain_display", "hidden_summary", "hidden_texts",
    "hidden_variable_gain", "hospital_factors", "hospital_factors_display", "hospital_profile", "hospital_texts",
    "importance_figure", "is_study_factor", "learning_curve_display", "learning_stages_display", "left_out_factors",
    "length_bins", "length_figure", "length_texts", "misclassified", "note_share_read", "odds_ratio_display",
    "odds_ratio_figure", "odds_ratio_table", "odds_ratio_texts", "performance_display",
    "permutation_importance_table", "pooled_levels", "profile_display", "profile_figure", "prose",
    "publishable_by_error", "publishable_profile", "ranking_display", "ranking_texts", "readable_term",
    "regression_display", "statistical", "study_factor_verdict", "study_factors", "tables", "visible_factors",
    "youden_threshold",
]
