"""Chapter 3's groups: the grouping variables' levels and the study's contrasts, and the table they are cut from.

The study's grouping variables (``hospital``, ``insurance``, ``age_group``, ``comorbidity_level``, ``borough``; a
column the data lack is skipped) partition a test split. The study's own contrasts (:func:`contrast_names`) are
single groups that need not partition anything: the smallest hospital (fewest admissions in the cohort), patients
aged ``age_threshold`` or over (``age_above_60`` by default, the study's "age above 60"), the highest comorbidity
level, government insurance (Medicare or Medicaid) and unspecified insurance. They are written with
``group_var = "contrast"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import evaluation
from helpers.contracts import TEST_SPLITS, check_columns


NOTEBOOK = "03_disparities"
EXPERIMENTS: tuple[str, ...] = ("global", "tfidf_lr", "oracle")
GROUP_VARS: tuple[str, ...] = ("hospital", "insurance", "age_group", "comorbidity_level", "borough")
CONTRAST = "contrast"
GOVERNMENT_INSURANCE: tuple[str, ...] = ("Medicare", "Medicaid")
UNSPECIFIED_INSURANCE: tuple[str, ...] = ("Unspecified",)
MODEL_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier")
EXPERIMENT_NAMES = {"global": "ClinicLLM", "tfidf_lr": "TF-IDF", "oracle": "oracle"}
"""The models as the book names them (the metrics file keeps the experiment names)."""
GROUP_VAR_NAMES = {"hospital": "hospital", "insurance": "insurance", "age_group": "age group",
                   "comorbidity_level": "comorbidity level", "borough": "borough", CONTRAST: "contrast"}
CALIBRATION_METRIC = "calibration_in_the_large"
SPLIT_TITLES = {"random_test": "random test", "temporal_test": "temporal test"}


def age_contrast_name(age_threshold: float) -> str:
    """``age_above_60`` for the default threshold (the threshold is part of the name)."""
    threshold = float(age_threshold)
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"age_threshold must be a positive age in years (e.g. 60); got {age_threshold!r}.")
    return f"age_above_{int(threshold) if threshold.is_integer() else threshold}"


def contrast_names(age_threshold: float = 60) -> list[str]:
    """The study's contrasts, in the order the chapter shows them."""
    return ["smallest_hospital", age_contrast_name(age_threshold), "highest_comorbidity", "government_insurance",
            "unspecified_insurance"]


@dataclass
class Group:
    """One group of one test split: which admissions belong to it, in words, and why it may not exist."""

    group_var: str
    group: str
    mask: np.ndarray
    definition: str = ""
    missing_reason: str | None = None


def level_label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _ordered_levels(values: pd.Series) -> list:
    present = values.dropna()
    if isinstance(present.dtype, pd.CategoricalDtype):
        return [c for c in present.cat.categories if (present == c).any()]
    return sorted(present.unique().tolist(), key=lambda v: (str(type(v)), v))


def smallest_hospital(cohort: pd.DataFrame) -> str:
    """The hospital with the fewest admissions in the cohort (ties: the first by name)."""
    check_columns(cohort, ["hospital"], where="cohort (smallest hospital)")
    counts = cohort["hospital"].astype(str).value_counts()
    if counts.empty:
        raise ValueError("cohort has no admissions, so it has no smallest hospital; run chapter 1 first.")
    return sorted(counts[counts == counts.min()].index)[0]


def contrast_definitions(*, age_threshold: float, smallest: str | None, highest_comorbidity: int | None,
                         government: Sequence[str] = GOVERNMENT_INSURANCE,
                         unspecified: Sequence[str] = UNSPECIFIED_INSURANCE) -> dict[str, str]:
    """Each contrast's definition in words, for the chapter's table."""
    threshold = float(age_threshold)
    shown = int(threshold) if threshold.is_integer() else threshold
    return {
        "smallest_hospital": f"{smallest} (fewest admissions in the cohort)" if smallest else "no hospital column",
        age_contrast_name(age_threshold): f"aged {shown} or over",
        "highest_comorbidity": (f"comorbidity level {highest_comorbidity} (the highest)"
                                if highest_comorbidity is not None else "no comorbidity_level column"),
        "government_insurance": "insurance " + " or ".join(government),
        "unspecified_insurance": "insurance " + " or ".join(unspecified),
    }


def contrast_groups(table: pd.DataFrame, *, age_threshold: float, smallest: str | None,
                    highest_comorbidity: int | None,
                    government: Sequence[str] = GOVERNMENT_INSURANCE,
                    unspecified: Sequence[str] = UNSPECIFIED_INSURANCE) -> list[Group]:
    """The study's contrasts as groups of ``table`` (one split); a contrast the data cannot form says why.

    Insurance values are matched without regard to case. A contrast whose column is absent keeps its row with the
    reason (e.g. "the data have no comorbidity_level").
    """
    definitions = contrast_definitions(age_threshold=age_threshold, smallest=smallest,
                                       highest_comorbidity=highest_comorbidity, government=government,
                                       unspecified=unspecified)
    threshold = float(age_threshold)

    def in_values(values):
        wanted = {str(v).lower() for v in values}
        return lambda column: column.notna() & column.astype(str).str.lower().isin(wanted)

    rules = [
        ("smallest_hospital", "hospital", lambda c: c.astype(str) == smallest, smallest is not None),
        (age_contrast_name(age_threshold), "age", lambda c: c >= threshold, True),
        ("highest_comorbidity", "comorbidity_level", lambda c: c == highest_comorbidity,
         highest_comorbidity is not None),
        ("government_insurance", "insurance", in_values(government), True),
        ("unspecified_insurance", "insurance", in_values(unspecified), True),
    ]
    groups = []
    for name, column, select, possible in rules:
        if column not in table.columns or not possible:
            groups.append(Group(CONTRAST, name, np.zeros(len(table), bool), definitions[name],
                                f"the data have no {column}"))
        else:
            groups.append(Group(CONTRAST, name, select(table[column]).fillna(False).to_numpy(dtype=bool),
                                definitions[name]))
    return groups


def study_groups(table: pd.DataFrame, group_vars: Sequence[str], **contrast_options) -> list[Group]:
    """Overall, every level of every grouping variable present in ``table``, then the contrasts."""
    groups = [Group("overall", "all", np.ones(len(table), bool), "the whole test split")]
    for var in group_vars:
        if var not in table.columns:
            continue
        for level in _ordered_levels(table[var]):
            groups.append(Group(var, level_label(level), (table[var] == level).to_numpy(dtype=bool)))
    return groups + contrast_groups(table, **contrast_options)


def disparity_frame(predictions: pd.DataFrame, cohort: pd.DataFrame,
                    group_vars: Sequence[str] = GROUP_VARS,
                    splits: Sequence[str] = TEST_SPLITS) -> tuple[pd.DataFrame, list[str]]:
    """Predictions of the test splits joined with the cohort's group columns and age.

    Returns the long table (one row per experiment x admission) and the grouping variables the data have; a
    variable the cohort lacks (``borough`` in many real datasets) is left out, not an error.
    """
    if "experiment" not in predictions.columns:
        raise ValueError("predictions needs an 'experiment' column (global, tfidf_lr, oracle); it is written by "
                         "chapter 2 in predictions_02_clinicllm.parquet.")
    predictions = evaluation.validate_predictions(predictions)
    check_columns(cohort, ["admission_id"], where="cohort (chapter 3)")
    present = [v for v in group_vars if v in cohort.columns or v in predictions.columns]
    from_cohort = [c for c in dict.fromkeys(present + ["age"]) if c in cohort.columns and c not in predictions]
    part = predictions[predictions["split"].isin(list(splits))]
    if part.empty:
        raise ValueError(f"predictions have no rows for the splits {list(splits)}; chapter 2 evaluates those.")
    joined = part.merge(cohort[["admission_id"] + from_cohort], on="admission_id", how="left",
                        validate="many_to_one", indicator=True)
    unmatched = joined["_merge"] == "left_only"
    if unmatched.any():
        raise ValueError(
            f"{int(unmatched.sum())} prediction row(s) have an admission_id missing from the cohort (e.g. "
            f"{joined.loc[unmatched, 'admission_id'].iloc[0]!r}); predictions and cohort come from different runs. "
            "Re-run chapter 2 on this run's cohort."
        )
    return joined.drop(columns="_merge"), present


def split_table(frame: pd.DataFrame, split: str, experiments: Sequence[str]) -> pd.DataFrame:
    """One split as a wide table: an admission per row with its label, groups and one ``score:<experiment>`` column.

    Rows keep the order of the first experiment's predictions (so that the overall rows draw the same patient
    resamples as chapter 2's :func:`helpers.evaluation.evaluate_predictions`). Every experiment must score the same
    admissions with the same labels; anything else is refused, because the paired comparisons assume it.
    """
    part = frame[frame["split"] == split]
    base_columns = [c for c in part.columns if c not in ("experiment", "model", "y_score", "split")]
    first = part[part["experiment"] == experiments[0]]
    base = first[base_columns].reset_index(drop=True)
    order = pd.Index(base["admission_id"])
    scores = {}
    for experiment in experiments:
        rows = part[part["experiment"] == experiment].set_index("admission_id")
        if len(rows) != len(order) or not order.isin(rows.index).all():
            raise ValueError(f"experiment {experiment!r} scores different {split} admissions than "
                             f"{experiments[0]!r}; every model must score every admission of the split.")
        rows = rows.loc[order]
        if (rows["y_true"].to_numpy() != base["y_true"].to_numpy()).any():
            raise ValueError(f"experiment {experiment!r} has other y_true labels than {experiments[0]!r} in {split}.")
        scores[f"score:{experiment}"] = rows["y_score"].to_numpy()
    return pd.concat([base, pd.DataFrame(scores)], axis=1)


def group_label(group_var: str, group: str) -> str:
    """A group as a reader names it: 'comorbidity level 1', 'age group 60-79', 'Hospital 2', 'Medicaid'."""
    if group_var in ("comorbidity_level", "age_group"):
        return f"{GROUP_VAR_NAMES[group_var]} {group}"
    if group_var == CONTRAST:
        return contrast_name(group)
    return str(group)


CONTRAST_NAMES = {"smallest_hospital": "smallest hospital", "highest_comorbidity": "highest comorbidity level",
                  "government_insurance": "government insurance", "unspecified_insurance": "unspecified insurance"}


def contrast_name(group: str) -> str:
    if group.startswith("age_above_"):
        return f"aged {group.removeprefix('age_above_')} or over"
    return CONTRAST_NAMES.get(group, group.replace("_", " "))


def contrast_settings(cohort: pd.DataFrame) -> dict:
    """The cohort-wide choices the contrasts need: the smallest hospital and the highest comorbidity level."""
    highest = None
    if "comorbidity_level" in cohort.columns and cohort["comorbidity_level"].notna().any():
        highest = int(pd.to_numeric(cohort["comorbidity_level"], errors="coerce").max())
    smallest = smallest_hospital(cohort) if "hospital" in cohort.columns else None
    return {"smallest": smallest, "highest_comorbidity": highest}
