"""Subgroup disparities (chapter 3): where the global ClinicLLM does worse, by how much, and whether data or model is
to blame.

Chapter 3 (``notebooks/03_disparities.ipynb``) asks the study's central descriptive question: in which hospitals and
patient groups does the global model rank readmissions worse? This package turns chapter 2's predictions into metric
rows for every group and test split, and into the tables and figures the chapter shows. Modules, by job:
``groups`` (the grouping variables' levels and the study's contrasts), ``bootstrap`` (one patient-level bootstrap
per split, shared by every number of it), ``rows`` (the rows of ``metrics.csv``), ``tables``, ``verdicts`` (harder
data or model failure, :func:`gap_verdict`), ``figures`` and ``prose``. On real data every table and figure shows
what :mod:`helpers.privacy` allows.
"""

from __future__ import annotations

from helpers.disparities.groups import (
    CALIBRATION_METRIC, CONTRAST, CONTRAST_NAMES, EXPERIMENTS, EXPERIMENT_NAMES, GOVERNMENT_INSURANCE, GROUP_VARS,
    GROUP_VAR_NAMES, MODEL_METRICS, NOTEBOOK, SPLIT_TITLES, UNSPECIFIED_INSURANCE, Group, age_contrast_name,
    contrast_definitions, contrast_groups, contrast_name, contrast_names, contrast_settings, disparity_frame,
    group_label, level_label, smallest_hospital, split_table, study_groups,
)
from helpers.disparities.bootstrap import (
    SplitBootstrap, bootstrap_split,
)
from helpers.disparities.rows import (
    disparity_rows, metric_frame_by_variable, point_estimates, split_rows,
)
from helpers.disparities.tables import (
    calibration_table, contrast_definition_table, contrast_table, estimate_cell, reliability_by_hospital,
    subgroup_counts_table, subgroup_gap_table, subgroup_table, worst_display, worst_groups,
)
from helpers.disparities.verdicts import (
    HARDER_DATA_SHARE, MULTIPLE_TESTING_METHOD, SHORTFALL_ALPHA, gap_verdict, shortfall_p_values, verdict_display,
    verdict_table,
)
from helpers.disparities.figures import (
    forest_plot, reliability_figure,
)
from helpers.disparities.prose import (
    calibration_summary, chapter_setting_texts, contrast_text, estimate_text, multiple_testing_texts,
    overview_texts, verdict_summary, worst_group_text, worst_group_texts,
)

__all__ = [
    "CALIBRATION_METRIC", "CONTRAST", "CONTRAST_NAMES", "EXPERIMENTS", "EXPERIMENT_NAMES", "GOVERNMENT_INSURANCE",
    "GROUP_VARS", "GROUP_VAR_NAMES", "Group", "HARDER_DATA_SHARE", "MODEL_METRICS", "MULTIPLE_TESTING_METHOD",
    "NOTEBOOK", "SHORTFALL_ALPHA", "SPLIT_TITLES", "SplitBootstrap", "UNSPECIFIED_INSURANCE", "age_contrast_name",
    "bootstrap", "bootstrap_split", "calibration_summary", "calibration_table", "chapter_setting_texts",
    "contrast_definition_table", "contrast_definitions", "contrast_groups", "contrast_name", "contrast_names",
    "contrast_settings", "contrast_table", "contrast_text", "disparity_frame", "disparity_rows", "estimate_cell",
    "estimate_text", "figures", "forest_plot", "gap_verdict", "group_label", "groups", "level_label",
    "metric_frame_by_variable", "multiple_testing_texts", "overview_texts", "point_estimates", "prose",
    "reliability_by_hospital", "reliability_figure", "rows", "shortfall_p_values", "smallest_hospital",
    "split_rows", "split_table", "study_groups", "subgroup_counts_table", "subgroup_gap_table", "subgroup_table",
    "tables", "verdict_display", "verdict_summary", "verdict_table", "verdicts", "worst_display",
    "worst_group_text", "worst_group_texts", "worst_groups",
]
