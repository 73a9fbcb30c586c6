"""Metrics, patient-level bootstrap confidence intervals and the metrics file shared by every chapter.

Every model in the study writes a *predictions table* (one row per admission: ``admission_id, patient_id,
hospital, split, model, y_true, y_score``) and every number the book shows comes from this package, so the chapters
report AUROC, AUPRC and Brier score in exactly the same way.

Modules, by job: ``scores`` (labels and scores checked, weighted metrics for many resamples at once),
``bootstrap`` (patient-level resampling, percentile intervals, power), ``curves`` (ROC and calibration tables),
``predictions`` (a predictions table to metric rows), ``metrics_file`` (``metrics.csv``: columns, checks, reading,
writing, finding rows; docs/contracts.md#metrics-table) and ``display`` (estimates and names as the book shows them).
"""

from __future__ import annotations

from helpers.contracts import SPLITS
from helpers.evaluation.scores import (
    RANKING_METRICS, SUPPORTED_METRICS, SortedScores, as_labels, as_patient_codes, as_scores, as_weights, auprc,
    auroc, batched_weighted_metrics, brier, check_metric_names, metrics_for_sorted_weights,
)
from helpers.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE, DEFAULT_MIN_CASES, DEFAULT_MIN_NEGATIVES, DEFAULT_MIN_POSITIVES, MDE_FACTOR, Z_95,
    Z_POWER_80, MetricResult, bootstrap_metrics, bootstrap_resample_values, check_bootstrap_parameters,
    insufficiency_reason, minimum_detectable, paired_bootstrap_delta, patient_resample_blocks, percentile_interval,
    size_to_detect,
)
from helpers.evaluation.curves import (
    calibration_curve_table, curves_by_experiment, roc_curve_table,
)
from helpers.evaluation.predictions import (
    EVALUATION_SPLITS, PREDICTION_COLUMNS, evaluate_experiments, evaluate_predictions, validate_predictions,
)
from helpers.evaluation.metrics_file import (
    FLOAT_COLUMNS, INT_COLUMNS, KEY_COLUMNS, METRICS_FILE_COLUMNS, METRIC_COLUMNS, NOTE_COLUMN, STRING_COLUMNS,
    combine_rows, first_row, lookup, read_metrics, select_rows, typed_rows, validate_metric_rows, write_metrics,
)
from helpers.evaluation.display import (
    METRIC_NAMES, MODEL_NAMES, NBSP, SPLIT_NAMES, describe_difference, format_estimate, metrics_display,
)

__all__ = [
    "DEFAULT_CONFIDENCE", "DEFAULT_MIN_CASES", "DEFAULT_MIN_NEGATIVES", "DEFAULT_MIN_POSITIVES",
    "EVALUATION_SPLITS", "FLOAT_COLUMNS", "INT_COLUMNS", "KEY_COLUMNS", "MDE_FACTOR", "METRICS_FILE_COLUMNS",
    "METRIC_COLUMNS", "METRIC_NAMES", "MODEL_NAMES", "MetricResult", "NBSP", "NOTE_COLUMN", "PREDICTION_COLUMNS",
    "RANKING_METRICS", "SPLITS", "SPLIT_NAMES", "STRING_COLUMNS", "SUPPORTED_METRICS", "SortedScores", "Z_95",
    "Z_POWER_80", "as_labels", "as_patient_codes", "as_scores", "as_weights", "auprc", "auroc",
    "batched_weighted_metrics", "bootstrap", "bootstrap_metrics", "bootstrap_resample_values", "brier",
    "calibration_curve_table", "check_bootstrap_parameters", "check_metric_names", "combine_rows", "curves",
    "curves_by_experiment", "describe_difference", "display", "evaluate_experiments", "evaluate_predictions",
    "first_row", "format_estimate", "insufficiency_reason", "lookup", "metrics_display", "metrics_file",
    "metrics_for_sorted_weights", "minimum_detectable", "paired_bootstrap_delta", "patient_resample_blocks",
    "percentile_interval", "predictions", "read_metrics", "roc_curve_table", "scores", "select_rows",
    "size_to_detect", "typed_rows", "validate_metric_rows", "validate_predictions", "write_metrics",
]
