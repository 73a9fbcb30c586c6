"""Subgroup disparities: where the global ClinicLLM does worse, by how much, and whether data or model is to blame.

Chapter 3 (``notebooks/03_disparities.ipynb``) asks the study's central descriptive question: in which hospitals and
patient groups does the global model rank readmissions worse? This module turns chapter 2's predictions into metric
rows for every group and test split, and into the tables and figures the chapter shows.

What a *group* is. The study's grouping variables (``hospital``, ``insurance``, ``age_group``,
``comorbidity_level``, ``borough``; a column the data lack is skipped) partition a test split. The study's own
contrasts (:func:`contrast_names`) are single groups that need not partition anything: the smallest hospital (fewest
admissions in the cohort), patients aged ``age_threshold`` or over (``age_above_60`` by default, the study's "age
above 60"), the highest comorbidity level, government insurance (Medicare or Medicaid) and unspecified insurance.
They are written with ``group_var = "contrast"``.

One bootstrap per split, shared by everything. For each test split the patients of the whole split are resampled
with replacement once per bootstrap round (the weight matrix of :mod:`helpers.evaluation`), and every number of that
split is computed on the same rounds: each group's AUROC, AUPRC, Brier score and prevalence for every model, the
rest of the split, the oracle. Three things follow.

- *Paired comparisons between models.* The oracle gap (oracle AUROC minus the global model's AUROC in a group) is
  computed on the same resampled patients for both, so the CI of the gap is that of a paired difference.
- *The group against the rest of its split* (``delta_auroc_vs_rest``): the group and its complement are disjoint
  sets of admissions and, mostly, of patients, so there is nothing to pair admission by admission, and resampling
  each side as if it were the other's twin would be wrong. What is right is to redraw the test split as the study
  drew it, patients from one population, and let each round give both sides. A patient with admissions on both
  sides (seen at two hospitals in the test year, or crossing an age band) keeps the correlation between them;
  patients on one side only contribute independently, so for disjoint patient sets this is exactly the two-sample
  bootstrap, with side sizes that vary as they would in a new sample. The rest's AUROC for every group comes from one pass over the split (:func:`_rest_concordance`).
- *Groups have random sizes across rounds*, as they would in a new test set. For the overall row the rounds are
  the very resamples :func:`helpers.evaluation.bootstrap_metrics` draws with the same seed (rows keep chapter 2's
  order), so chapter 2's and this chapter's overall CIs agree to the last digit.

Point estimates of the per-group metrics come from fairlearn's :class:`~fairlearn.metrics.MetricFrame` with
scikit-learn's metric functions (the field's disaggregation tool); the bootstrap engine computes the same points
with weights of one, and the tests check that the two agree.

Too small to estimate. A group gets a value only when it has at least ``min_cases`` admissions, and AUROC/AUPRC
only with ``min_positives`` readmitted and ``min_negatives`` non-readmitted admissions (the defaults of
:mod:`helpers.evaluation`); otherwise the row keeps value NaN and the reason in ``note``. On real data every table
and figure also suppresses counts under 11 (:func:`publishable`).

Harder data or model failure? On simulated data the oracle (each admission's true risk) shows how well any model
could rank a group. :func:`gap_verdict` states the rule the chapter uses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from fairlearn.metrics import MetricFrame
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from helpers import evaluation, figures, privacy
from helpers.book import SMALL_CELL_THRESHOLD
from helpers.contracts import TEST_SPLITS, check_columns
from helpers.progress import report

NOTEBOOK = "03_disparities"
EXPERIMENTS: tuple[str, ...] = ("global", "tfidf_lr", "oracle")
GROUP_VARS: tuple[str, ...] = ("hospital", "insurance", "age_group", "comorbidity_level", "borough")
CONTRAST = "contrast"
GOVERNMENT_INSURANCE: tuple[str, ...] = ("Medicare", "Medicaid")
UNSPECIFIED_INSURANCE: tuple[str, ...] = ("Unspecified",)
MODEL_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier")
HARDER_DATA_SHARE = 0.5
"""Share of the model's shortfall the oracle must share for a weak group to count as "harder data"."""
SHORTFALL_ALPHA = 0.05
"""Family-wise error rate of the test for a clear shortfall, over every group of a test split (Holm's method)."""
MULTIPLE_TESTING_METHOD = "holm"
EXPERIMENT_NAMES = {"global": "ClinicLLM", "tfidf_lr": "TF-IDF", "oracle": "oracle"}
"""The models as the book names them (the metrics file keeps the experiment names)."""
GROUP_VAR_NAMES = {"hospital": "hospital", "insurance": "insurance", "age_group": "age group",
                   "comorbidity_level": "comorbidity level", "borough": "borough", CONTRAST: "contrast"}
CALIBRATION_METRIC = "calibration_in_the_large"

_SPLIT_TITLES = {"random_test": "random test", "temporal_test": "temporal test"}


# --------------------------------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------------------------------


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


def _label(value) -> str:
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
            groups.append(Group(var, _label(level), (table[var] == level).to_numpy(dtype=bool)))
    return groups + contrast_groups(table, **contrast_options)


# --------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------
# The shared bootstrap
# --------------------------------------------------------------------------------------------------------------


@dataclass
class SplitBootstrap:
    """Point estimates and per-round values of one split, keyed by (group index, experiment, quantity)."""

    points: dict[tuple, float] = field(default_factory=dict)
    rounds: dict[tuple, list[np.ndarray]] = field(default_factory=dict)

    def add(self, key: tuple, values: np.ndarray) -> None:
        self.rounds.setdefault(key, []).append(np.asarray(values, dtype=float))

    def values(self, key: tuple) -> np.ndarray:
        parts = self.rounds.get(key, [])
        return np.concatenate(parts) if parts else np.empty(0)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


@dataclass
class _ExperimentPlan:
    """One model's scores sorted once for the split, and each group's admissions in that order."""

    name: str
    order: np.ndarray
    sorted_scores: evaluation.SortedScores
    level_of: np.ndarray  # level (run of tied scores) of each admission, in sorted order
    members: np.ndarray  # n x G membership, rows in sorted order
    weighted_scores: np.ndarray  # members * score, rows in sorted order
    group_columns: list  # per group: its admissions' positions in sorted order (already ascending by score)
    group_scores: list  # per group: its own SortedScores (for its own ties), or None when not estimable


def _rest_concordance(sorted_scores: evaluation.SortedScores, level_of: np.ndarray, weights: np.ndarray,
                      members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concordance of the whole split, and for every group its pairs that involve the group (B x G).

    With weights ``w`` (one bootstrap round per row), let ``NB(i)`` be the weighted number of negatives scored
    below admission ``i`` (ties count one half) and ``PA(j)`` the weighted number of positives above ``j``. The
    split's concordance is ``C = sum over positives of w NB``. The rest of a group ``g`` then has concordance
    ``C_rest = C - S_g + C_g``, where ``S_g = sum over g of w (y NB + (1 - y) PA)`` counts every pair with at least
    one member in ``g`` (pairs inside ``g`` twice) and ``C_g`` is the group's own concordance. One matrix product
    gives ``S`` for all groups at once, so the rest's AUROC costs no more than the split's.
    """
    positive = weights * sorted_scores.labels
    negative = weights - positive
    starts = sorted_scores.level_starts
    pos_level = np.add.reduceat(positive, starts, axis=1)
    neg_level = np.add.reduceat(negative, starts, axis=1)
    negatives_below = np.cumsum(neg_level, axis=1) - 0.5 * neg_level
    positives_above = pos_level.sum(axis=1, keepdims=True) - np.cumsum(pos_level, axis=1) + 0.5 * pos_level
    total = (pos_level * negatives_below).sum(axis=1)
    per_admission = np.where(sorted_scores.labels > 0, negatives_below[:, level_of], positives_above[:, level_of])
    return total, (weights * per_admission) @ members


def _plan_experiment(name: str, labels: np.ndarray, scores: np.ndarray, membership: np.ndarray,
                     estimable: Sequence[bool]) -> _ExperimentPlan:
    sorted_scores = evaluation.SortedScores.build(labels, scores)
    order = sorted_scores.order
    level_of = np.repeat(np.arange(len(sorted_scores.level_starts)),
                         np.diff(np.append(sorted_scores.level_starts, len(order))))
    members = membership[order]
    columns, group_scores = [], []
    for index in range(membership.shape[1]):
        cols = np.flatnonzero(members[:, index])
        own = evaluation.SortedScores.build(labels[order][cols], scores[order][cols]) if estimable[index] else None
        columns.append(cols if own is None else cols[own.order])
        group_scores.append(own)
    return _ExperimentPlan(name, order, sorted_scores, level_of, members, members * scores[order][:, None], columns,
                           group_scores)


def bootstrap_split(table: pd.DataFrame, groups: Sequence[Group], experiments: Sequence[str], *,
                    n_resamples: int, seed: int, thresholds: dict[str, int],
                    rest_experiments: Sequence[str] = ("global", "oracle")) -> SplitBootstrap:
    """Every group's quantities on the same patient-level bootstrap rounds of one split (see module docstring).

    Stored per group index: ``("", "prevalence")``, and per experiment ``auroc``/``auprc``/``brier`` (when the
    group is large enough), ``mean_prediction`` and, for ``rest_experiments``, ``rest_auroc`` (the AUROC of the
    rest of the split). ``points`` holds the same quantities with every weight one.
    """
    labels = evaluation.as_labels(table["y_true"].to_numpy())
    codes, n_patients = evaluation.as_patient_codes(table["patient_id"].to_numpy(), len(labels))
    membership = np.column_stack([g.mask for g in groups]).astype(float)
    n_groups = membership.shape[1]
    counts = membership.sum(axis=0).astype(int)
    positives = (membership * labels[:, None]).sum(axis=0).astype(int)
    metrics, with_rest = [], []
    for index, group in enumerate(groups):
        n, n_pos = int(counts[index]), int(positives[index])
        ranking = evaluation.insufficiency_reason("auroc", n, n_pos, **thresholds) is None
        sized = evaluation.insufficiency_reason("brier", n, n_pos, **thresholds) is None
        metrics.append(tuple(m for m in MODEL_METRICS if (ranking if m in evaluation.RANKING_METRICS else sized)))
        rest_reason = evaluation.insufficiency_reason("auroc", len(labels) - n, int(labels.sum()) - n_pos,
                                                       **thresholds)
        with_rest.append(group.group_var != "overall" and ranking and rest_reason is None)
    plans = [_plan_experiment(e, labels, table[f"score:{e}"].to_numpy(dtype=float), membership,
                              [bool(m) for m in metrics]) for e in experiments]
    store = SplitBootstrap()

    def run_block(block: np.ndarray, point: bool) -> None:
        put = (lambda key, v: store.points.__setitem__(key, float(v[0]))) if point else store.add
        group_totals = block @ membership
        group_positives = block @ (membership * labels[:, None])
        group_negatives = group_totals - group_positives
        prevalence = _ratio(group_positives, group_totals)
        for index in range(n_groups):
            put((index, "", "prevalence"), prevalence[:, index])
        for plan in plans:
            weights = block[:, plan.order]
            mean_prediction = _ratio(weights @ plan.weighted_scores, group_totals)
            own_auroc = {}
            for index in range(n_groups):
                put((index, plan.name, "mean_prediction"), mean_prediction[:, index])
                if not metrics[index]:
                    continue
                values = evaluation.metrics_for_sorted_weights(plan.group_scores[index],
                                                                weights[:, plan.group_columns[index]],
                                                                metrics[index])
                for metric, v in values.items():
                    put((index, plan.name, metric), v)
                own_auroc[index] = values.get("auroc")
            if plan.name not in rest_experiments or not any(with_rest):
                continue
            total, involving = _rest_concordance(plan.sorted_scores, plan.level_of, weights, plan.members)
            all_positives = (weights @ plan.sorted_scores.labels)
            all_negatives = weights.sum(axis=1) - all_positives
            for index in range(n_groups):
                if not with_rest[index]:
                    continue
                p_g, n_g = group_positives[:, index], group_negatives[:, index]
                own = np.nan_to_num(own_auroc[index]) * p_g * n_g
                rest_pairs = (all_positives - p_g) * (all_negatives - n_g)
                put((index, plan.name, "rest_auroc"), _ratio(total - involving[:, index] + own, rest_pairs))

    run_block(np.ones((1, len(labels))), point=True)
    for block in evaluation.patient_resample_blocks(codes, n_patients, n_resamples, seed):
        run_block(block, point=False)
    return store


# --------------------------------------------------------------------------------------------------------------
# Rows for metrics.csv
# --------------------------------------------------------------------------------------------------------------


def _auroc_or_nan(y_true, y_score) -> float:
    return float(roc_auc_score(y_true, y_score)) if len(np.unique(y_true)) == 2 else np.nan


def _auprc_or_nan(y_true, y_score) -> float:
    return float(average_precision_score(y_true, y_score)) if np.sum(y_true) > 0 else np.nan


def _prevalence(y_true, y_score) -> float:
    return float(np.mean(y_true))


_FRAME_METRICS = {"auroc": _auroc_or_nan, "auprc": _auprc_or_nan, "brier": brier_score_loss}


def metric_frame_by_variable(table: pd.DataFrame, group_var: str, experiment: str) -> pd.DataFrame:
    """The disaggregation of one grouping variable with fairlearn's MetricFrame (one row per level, ``by_group``).

    AUROC/AUPRC are NaN for a level with one outcome class (scikit-learn would raise); the size rules are applied
    afterwards, where the rows are written.
    """
    present = table[table[group_var].notna()]
    frame = MetricFrame(metrics={**_FRAME_METRICS, "prevalence": _prevalence}, y_true=present["y_true"].to_numpy(),
                        y_pred=present[f"score:{experiment}"].to_numpy(dtype=float),
                        sensitive_features=present[group_var].map(_label).rename(group_var))
    return frame.by_group


def point_estimates(table: pd.DataFrame, groups: Sequence[Group], experiments: Sequence[str],
                    store: SplitBootstrap) -> dict[tuple, float]:
    """Point estimates keyed like the bootstrap store: MetricFrame's for the grouping variables' levels, the
    bootstrap engine's (weights of one, the same numbers) for the overall row and the overlapping contrasts."""
    points = dict(store.points)
    by_variable = {}
    for index, group in enumerate(groups):
        if group.group_var in ("overall", CONTRAST):
            continue
        for experiment in experiments:
            key = (group.group_var, experiment)
            if key not in by_variable:
                by_variable[key] = metric_frame_by_variable(table, group.group_var, experiment)
            values = by_variable[key].loc[group.group]
            for metric in MODEL_METRICS:
                points[(index, experiment, metric)] = float(values[metric])
            points[(index, "", "prevalence")] = float(values["prevalence"])
    return points


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    return evaluation.percentile_interval(values, confidence)


def _row(base: dict, metric: str, value: float, values: np.ndarray | None, n_resamples: int, confidence: float,
         reason: str | None = None) -> dict:
    if reason is not None or values is None or not np.isfinite(value):
        note = reason or "not estimable"
        return {**base, "metric": metric, "value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": note}
    low, high, used = _interval(values, confidence)
    note = "" if used >= n_resamples else (f"bootstrap kept {used}/{n_resamples} resamples (the others lost an "
                                            "outcome class)")
    return {**base, "metric": metric, "value": float(value), "ci_low": low, "ci_high": high, "note": note}


def split_rows(table: pd.DataFrame, split: str, groups: Sequence[Group], experiments: Sequence[str],
               models: dict[str, str], *, n_resamples: int, seed: int, thresholds: dict[str, int],
               confidence: float = evaluation.DEFAULT_CONFIDENCE, notebook: str = NOTEBOOK,
               rest_experiments: Sequence[str] = ("global", "oracle")) -> list[dict]:
    """Metric rows of one split: per group and experiment the metrics, vs-rest difference and oracle gap.

    ``delta_auroc_vs_rest`` is written for ``rest_experiments`` only (the global model, and the oracle that the
    verdict compares it with).
    """
    store = bootstrap_split(table, groups, experiments, n_resamples=n_resamples, seed=seed, thresholds=thresholds,
                            rest_experiments=rest_experiments)
    points = point_estimates(table, groups, experiments, store)
    labels = table["y_true"].to_numpy()
    rows = []
    for index, group in enumerate(groups):
        members = group.mask
        n, n_pos = int(members.sum()), int(labels[members].sum())
        others = ~members
        rest_reason = evaluation.insufficiency_reason("auroc", int(others.sum()), int(labels[others].sum()),
                                                       **thresholds)
        prevalence_reason = group.missing_reason or evaluation.insufficiency_reason("brier", n, n_pos, **thresholds)
        for experiment in experiments:
            base = {"notebook": notebook, "experiment": experiment, "model": models[experiment], "split": split,
                    "group_var": group.group_var, "group": group.group, "n": n, "n_pos": n_pos, "seed": seed}
            for metric in MODEL_METRICS:
                reason = group.missing_reason or evaluation.insufficiency_reason(metric, n, n_pos, **thresholds)
                rows.append(_row(base, metric, points.get((index, experiment, metric), np.nan),
                                 store.values((index, experiment, metric)), n_resamples, confidence, reason))
            rows.append(_row(base, "prevalence", points.get((index, "", "prevalence"), np.nan),
                             store.values((index, "", "prevalence")), n_resamples, confidence, prevalence_reason))
            if group.group_var in ("overall", "hospital"):
                citl_reason = prevalence_reason
                observed = store.values((index, "", "prevalence"))
                predicted = store.values((index, experiment, "mean_prediction"))
                value = store.points.get((index, "", "prevalence"), np.nan) - store.points.get(
                    (index, experiment, "mean_prediction"), np.nan)
                rows.append(_row(base, CALIBRATION_METRIC, value, observed - predicted, n_resamples, confidence,
                                 citl_reason))
            if group.group_var != "overall" and experiment in rest_experiments:
                auroc_reason = group.missing_reason or evaluation.insufficiency_reason("auroc", n, n_pos,
                                                                                         **thresholds)
                reason = (f"group: {auroc_reason}" if auroc_reason else
                          (f"rest of the split: {rest_reason}" if rest_reason else None))
                key = (index, experiment)
                value = store.points.get(key + ("auroc",), np.nan) - store.points.get(key + ("rest_auroc",), np.nan)
                deltas = store.values(key + ("auroc",)) - store.values(key + ("rest_auroc",)) if not reason else None
                rows.append(_row(base, "delta_auroc_vs_rest", value, deltas, n_resamples, confidence, reason))
            if experiment != "oracle" and "oracle" in experiments:
                reason = group.missing_reason or evaluation.insufficiency_reason("auroc", n, n_pos, **thresholds)
                key_o, key_e = (index, "oracle", "auroc"), (index, experiment, "auroc")
                value = store.points.get(key_o, np.nan) - store.points.get(key_e, np.nan)
                gaps = store.values(key_o) - store.values(key_e) if not reason else None
                rows.append(_row(base, "oracle_gap", value, gaps, n_resamples, confidence, reason))
    return rows


def disparity_rows(frame: pd.DataFrame, group_vars: Sequence[str], *, smallest: str | None,
                   highest_comorbidity: int | None, age_threshold: float = 60, n_resamples: int = 1000,
                   seed: int = 0, min_cases: int = evaluation.DEFAULT_MIN_CASES,
                   min_positives: int = evaluation.DEFAULT_MIN_POSITIVES,
                   min_negatives: int = evaluation.DEFAULT_MIN_NEGATIVES,
                   splits: Sequence[str] = TEST_SPLITS, notebook: str = NOTEBOOK) -> pd.DataFrame:
    """All of chapter 3's metric rows (contract columns plus ``note``), for every experiment present.

    ``frame`` is :func:`disparity_frame`'s table. Experiments are taken in the order of :data:`EXPERIMENTS`; the
    oracle exists on simulated data only, and without it no ``oracle_gap`` rows are written.
    """
    evaluation.check_bootstrap_parameters(n_resamples, evaluation.DEFAULT_CONFIDENCE,
                                           {"min_group_size": min_cases, "min_positives": min_positives,
                                            "min_negatives": min_negatives})
    experiments = [e for e in EXPERIMENTS if e in set(frame["experiment"])]
    if "global" not in experiments:
        raise ValueError("predictions have no 'global' experiment; chapter 2 writes it (the global ClinicLLM).")
    models = frame.groupby("experiment")["model"].first().astype(str).to_dict()
    thresholds = {"min_cases": min_cases, "min_positives": min_positives, "min_negatives": min_negatives}
    rows = []
    for split in splits:
        started = time.perf_counter()
        table = split_table(frame, split, experiments)
        groups = study_groups(table, group_vars, age_threshold=age_threshold, smallest=smallest,
                              highest_comorbidity=highest_comorbidity)
        rows += split_rows(table, split, groups, experiments, models, n_resamples=n_resamples, seed=seed,
                           thresholds=thresholds, notebook=notebook)
        report(f"03_disparities: {split}: {len(groups)} groups x {len(experiments)} models, {n_resamples} "
               f"bootstrap rounds, {time.perf_counter() - started:.1f} s")
    out = pd.DataFrame(rows, columns=evaluation.METRICS_FILE_COLUMNS)
    return evaluation.validate_metric_rows(out, notebook=notebook)


# --------------------------------------------------------------------------------------------------------------
# Reading the rows: tables, the worst group, the verdicts
# --------------------------------------------------------------------------------------------------------------


def _estimate(row) -> str:
    if row is None or not np.isfinite(row["value"]):
        return "not estimable"
    return evaluation.format_estimate(row["value"], row["ci_low"], row["ci_high"])


def _pick(rows: pd.DataFrame, **filters) -> pd.DataFrame:
    mask = np.ones(len(rows), dtype=bool)
    for column, value in filters.items():
        mask &= (rows[column].astype(str) == str(value)).to_numpy()
    return rows[mask]


def _one(rows: pd.DataFrame, **filters):
    found = _pick(rows, **filters)
    return found.iloc[0] if len(found) else None


def hide_small_numbers(text: str, *, simulated: bool, threshold: int = SMALL_CELL_THRESHOLD) -> str:
    """On real data, replace counts under 11 in a reason ('7 admissions < min 20') by '<11'
    (:func:`helpers.privacy.hide_counts_in_text`)."""
    return privacy.hide_counts_in_text(text, real_data=not simulated)


def publishable(table: pd.DataFrame, count_columns: Sequence[str], *, simulated: bool,
                rate_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Suppress counts under 11 on real data, and rates that would reveal them; unchanged on simulated data.

    The rule is :func:`helpers.privacy.hide_counts`: with ``n`` and ``n_pos`` both given, ``n_pos`` is hidden too
    where the admissions without a readmission (n - n_pos) number 1 to 10; a rate is hidden ("suppressed") in a row
    where a count is hidden.
    """
    complements = [("n", "n_pos")] if {"n", "n_pos"} <= set(count_columns) else []
    return privacy.hide_counts(table, list(count_columns), real_data=not simulated, share_columns=list(rate_columns),
                               complements=complements, hidden_share="suppressed")


def group_label(group_var: str, group: str) -> str:
    """A group as a reader names it: 'comorbidity level 1', 'age group 60-79', 'Hospital 2', 'Medicaid'."""
    if group_var in ("comorbidity_level", "age_group"):
        return f"{GROUP_VAR_NAMES[group_var]} {group}"
    if group_var == CONTRAST:
        return _contrast_name(group)
    return str(group)


CONTRAST_NAMES = {"smallest_hospital": "smallest hospital", "highest_comorbidity": "highest comorbidity level",
                  "government_insurance": "government insurance", "unspecified_insurance": "unspecified insurance"}


def _contrast_name(group: str) -> str:
    if group.startswith("age_above_"):
        return f"aged {group.removeprefix('age_above_')} or over"
    return CONTRAST_NAMES.get(group, group.replace("_", " "))


def _no_variable(group_var: str) -> pd.DataFrame:
    return pd.DataFrame({"note": [f"the data have no {group_var} column, so there is nothing to show"]},
                        index=pd.Index([group_var], name="group"))


def _groups_of(part: pd.DataFrame, splits: Sequence[str]):
    for split in splits:
        for group in dict.fromkeys(part.loc[part["split"] == split, "group"]):
            yield split, group


def subgroup_counts_table(rows: pd.DataFrame, group_var: str, *, simulated: bool,
                          splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The first of the chapter's three tables for one grouping variable: admissions, readmissions and prevalence
    per group and test, and why a group has no AUROC when it has none. On real data counts under 11 are
    suppressed, with the rates that would reveal them."""
    part = _pick(rows, group_var=group_var, experiment="global")
    if part.empty:
        return _no_variable(group_var)
    records = []
    for split, group in _groups_of(part, splits):
        first = _one(part, metric="auroc", split=split, group=group)
        prevalence = _one(part, metric="prevalence", split=split, group=group)
        records.append({"test": _SPLIT_TITLES.get(split, split), "group": group, "n": int(first["n"]),
                        "n_pos": int(first["n_pos"]),
                        "prevalence (%)": (f"{100 * prevalence['value']:.1f}" if np.isfinite(prevalence["value"])
                                           else "-"),
                        "why no AUROC": hide_small_numbers(first["note"] if not np.isfinite(first["value"]) else "",
                                                           simulated=simulated)})
    table = pd.DataFrame(records)
    if not table["why no AUROC"].astype(bool).any():
        table = table.drop(columns="why no AUROC")
    table = publishable(table, ["n", "n_pos"], simulated=simulated, rate_columns=["prevalence (%)"])
    return table.rename(columns={"n": "admissions", "n_pos": "readmissions"}).set_index(["test", "group"])


def subgroup_table(rows: pd.DataFrame, group_var: str, *, simulated: bool,
                   splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The second table: each model's AUROC with its 95 % interval per group and test ("-" where the group is too
    small: :func:`subgroup_counts_table` says why)."""
    part = _pick(rows, group_var=group_var, metric="auroc")
    if part.empty:
        return _no_variable(group_var)
    experiments = [e for e in EXPERIMENTS if e in set(part["experiment"])]
    records = []
    for split, group in _groups_of(part[part["experiment"] == "global"], splits):
        record = {"test": _SPLIT_TITLES.get(split, split), "group": group}
        for experiment in experiments:
            record[f"AUROC {EXPERIMENT_NAMES.get(experiment, experiment)}"] = _estimate(
                _one(part, split=split, group=group, experiment=experiment))
        records.append(record)
    return pd.DataFrame(records).replace("not estimable", "-").set_index(["test", "group"])


def subgroup_gap_table(rows: pd.DataFrame, group_var: str, *, simulated: bool,
                       splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The third table: ClinicLLM's AUPRC, its AUROC minus that of the rest of the test, and (simulated data) the
    oracle's AUROC minus ClinicLLM's. The Brier score of every group is in metrics.csv."""
    part = _pick(rows, group_var=group_var, experiment="global")
    if part.empty:
        return _no_variable(group_var)
    records = []
    for split, group in _groups_of(part, splits):
        where = {"split": split, "group": group}
        record = {"test": _SPLIT_TITLES.get(split, split), "group": group,
                  "AUPRC": _estimate(_one(part, metric="auprc", **where)),
                  "AUROC minus the rest's": _estimate(_one(part, metric="delta_auroc_vs_rest", **where))}
        if simulated and "oracle_gap" in set(part["metric"]):
            record["oracle's AUROC minus ClinicLLM's"] = _estimate(_one(part, metric="oracle_gap", **where))
        records.append(record)
    return pd.DataFrame(records).replace("not estimable", "-").set_index(["test", "group"])


def worst_groups(rows: pd.DataFrame, *, experiment: str = "global",
                 group_vars: Sequence[str] | None = None) -> pd.DataFrame:
    """Per split and grouping variable, the group with the lowest estimable AUROC, with its CI and vs-rest delta."""
    part = _pick(rows, experiment=experiment, metric="auroc")
    part = part[~part["group_var"].isin(["overall", CONTRAST])]
    if group_vars is not None:
        part = part[part["group_var"].isin(list(group_vars))]
    records = []
    for (split, group_var), block in part.groupby(["split", "group_var"], sort=False):
        estimable = block[np.isfinite(block["value"])]
        if estimable.empty:
            records.append({"split": split, "group_var": group_var, "group": "none estimable", "auroc": np.nan,
                            "ci_low": np.nan, "ci_high": np.nan, "n": 0, "AUROC (95 % CI)": "not estimable",
                            "vs rest (95 % CI)": "not estimable"})
            continue
        worst = estimable.loc[estimable["value"].idxmin()]
        delta = _one(rows, experiment=experiment, split=split, group_var=group_var, group=worst["group"],
                     metric="delta_auroc_vs_rest")
        records.append({"split": split, "group_var": group_var, "group": worst["group"], "auroc": worst["value"],
                        "ci_low": worst["ci_low"], "ci_high": worst["ci_high"], "n": int(worst["n"]),
                        "AUROC (95 % CI)": _estimate(worst), "vs rest (95 % CI)": _estimate(delta),
                        "groups": int(block["group"].nunique())})
    return pd.DataFrame(records)


def worst_display(worst: pd.DataFrame, *, simulated: bool) -> pd.DataFrame:
    """The worst group of each variable on each test, as the chapter shows it."""
    shown = publishable(worst, ["n"], simulated=simulated)
    table = pd.DataFrame({
        "test": [_SPLIT_TITLES.get(s, s) for s in shown["split"]],
        "variable": [GROUP_VAR_NAMES.get(v, v) for v in shown["group_var"]],
        "worst group": [group_label(v, str(g)) if g != "none estimable" else g
                        for v, g in zip(shown["group_var"], shown["group"])],
        "admissions": shown["n"].tolist(),
        "AUROC ClinicLLM": shown["AUROC (95 % CI)"].tolist(),
        "minus the rest's": shown["vs rest (95 % CI)"].tolist(),
    })
    return table.set_index(["test", "variable"])


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

    part = _pick(rows, split=split, experiment="global", metric="delta_auroc_vs_rest")
    part = part[np.isfinite(part["value"]) & np.isfinite(part["ci_low"]) & np.isfinite(part["ci_high"])].copy()
    if part.empty:
        return part.assign(p_value=[], p_adjusted=[])
    se = (part["ci_high"] - part["ci_low"]) / (2 * norm.ppf(0.975))
    z = np.where(se > 0, part["value"] / se.where(se > 0, 1.0), np.inf * np.sign(part["value"]))
    part["p_value"] = 2 * norm.sf(np.abs(z))
    part["p_adjusted"] = multipletests(part["p_value"], alpha=SHORTFALL_ALPHA, method=MULTIPLE_TESTING_METHOD)[1]
    return part


def verdict_table(rows: pd.DataFrame, split: str, *, simulated: bool,
                  share: float = HARDER_DATA_SHARE) -> pd.DataFrame:
    """Every weak group of a split (ClinicLLM below the rest of the split), whether its shortfall is clear after
    Holm's correction over all the split's groups, and, for clear shortfalls only, the oracle's view of it."""
    tested = shortfall_p_values(rows, split)
    records = []
    for row in tested.itertuples():
        if row.value >= 0:
            continue
        where = {"split": split, "group_var": row.group_var, "group": row.group}
        oracle_delta = _one(rows, experiment="oracle", metric="delta_auroc_vs_rest", **where)
        oracle_value = oracle_delta["value"] if oracle_delta is not None else np.nan
        clear = row.p_adjusted < SHORTFALL_ALPHA and row.ci_high < 0
        if not simulated:
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
                  "ClinicLLM minus the rest": _estimate({"value": row.value, "ci_low": row.ci_low,
                                                         "ci_high": row.ci_high}),
                  "adjusted p": f"{row.p_adjusted:.3f}" if row.p_adjusted >= 0.001 else "<0.001",
                  "_p": row.p_adjusted}
        if simulated:
            record["oracle minus the rest"] = _estimate(oracle_delta)
        record["verdict"] = verdict
        records.append(record)
    columns = ["group", "group_var", "group_value", "n", "ClinicLLM minus the rest", "adjusted p"] + (
        ["oracle minus the rest"] if simulated else []) + ["verdict", "_p"]
    table = pd.DataFrame(records, columns=columns).sort_values("_p", kind="stable").drop(columns="_p")
    table = publishable(table, ["n"], simulated=simulated).rename(columns={"n": "admissions"})
    return table.set_index("group")


def verdict_display(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdict table as the chapter shows it (the keys used to look groups up left out)."""
    return verdicts.drop(columns=["group_var", "group_value"])


def contrast_table(rows: pd.DataFrame, *, simulated: bool, definitions: dict[str, str] | None = None) -> pd.DataFrame:
    """The study's contrasts on both tests: ClinicLLM's AUROC and its difference to the rest of the test (the
    oracle's view of a contrast is in the verdict table, for the contrasts with a clear shortfall)."""
    records = []
    part = _pick(rows, group_var=CONTRAST, experiment="global", metric="auroc")
    for row in part.itertuples():
        where = {"split": row.split, "group_var": CONTRAST, "group": row.group, "experiment": "global"}
        record = {"contrast": _contrast_name(row.group), "test": _SPLIT_TITLES.get(row.split, row.split),
                  "n": int(row.n), "AUROC ClinicLLM": _estimate(_one(rows, metric="auroc", **where)),
                  "minus the rest's": _estimate(_one(rows, metric="delta_auroc_vs_rest", **where))}
        if not np.isfinite(row.value):
            record["AUROC ClinicLLM"] = f"not estimable ({hide_small_numbers(row.note, simulated=simulated)})"
        records.append(record)
    table = publishable(pd.DataFrame(records), ["n"], simulated=simulated).rename(columns={"n": "admissions"})
    return table.set_index(["test", "contrast"])


def contrast_definition_table(definitions: dict[str, str]) -> pd.DataFrame:
    """Each contrast's definition in this run (the smallest hospital by name, the age threshold, ...)."""
    return pd.DataFrame({"contrast": [_contrast_name(k) for k in definitions],
                         "admissions in the contrast": list(definitions.values())}).set_index("contrast").rename(
        columns={"admissions in the contrast": "definition in this run"})


def calibration_table(rows: pd.DataFrame, *, simulated: bool, experiment: str = "global") -> pd.DataFrame:
    """Calibration-in-the-large by hospital: observed rate, mean predicted risk and their difference, with CI."""
    part = _pick(rows, experiment=experiment, metric=CALIBRATION_METRIC)
    records = []
    for row in part.itertuples():
        where = {"split": row.split, "group_var": row.group_var, "group": row.group, "experiment": experiment}
        prevalence = _one(rows, metric="prevalence", **where)
        observed = prevalence["value"] if prevalence is not None else np.nan
        predicted = observed - row.value
        records.append({
            "test": _SPLIT_TITLES.get(row.split, row.split), "hospital": row.group if row.group_var == "hospital"
            else "all hospitals", "n": int(row.n), "n_pos": int(row.n_pos),
            "observed (%)": f"{100 * observed:.1f}" if np.isfinite(observed) else "not estimable",
            "mean predicted (%)": f"{100 * predicted:.1f}" if np.isfinite(predicted) else "not estimable",
            "observed - predicted (points, 95 % CI)": (
                evaluation.format_estimate(100 * row.value, 100 * row.ci_low, 100 * row.ci_high, digits=1)
                if np.isfinite(row.value) else "not estimable"),
            "O/E": f"{observed / predicted:.2f}" if np.isfinite(predicted) and predicted > 0 else "n/a",
        })
    table = publishable(pd.DataFrame(records), ["n", "n_pos"], simulated=simulated,
                        rate_columns=["observed (%)", "O/E"])
    return table.rename(columns={"n": "admissions", "n_pos": "readmissions"}).set_index(["test", "hospital"])


# --------------------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------------------


def forest_plot(rows: pd.DataFrame, group_var: str, *, simulated: bool) -> plt.Figure | None:
    """AUROC with 95 % CI per group (one panel per test, one marker per model), the overall global AUROC dashed.

    Groups that cannot be estimated keep their line, marked "not estimable", so a reader sees they exist. A
    variable the data lack gives no figure (None).
    """
    part = _pick(rows, group_var=group_var, metric="auroc")
    if part.empty:
        return None
    experiments = [e for e in EXPERIMENTS if e in set(part["experiment"])]
    groups = list(dict.fromkeys(part["group"]))
    splits = [s for s in TEST_SPLITS if s in set(part["split"])]
    fig, axes = plt.subplots(1, len(splits), figsize=(8.5, 0.45 * len(groups) + 2.2), squeeze=False)
    palette = dict(zip(EXPERIMENTS, sns.color_palette("colorblind")))
    markers = {"global": "o", "tfidf_lr": "s", "oracle": "D"}
    offsets = dict(zip(experiments, np.linspace(-0.2, 0.2, len(experiments))))
    finite = part[np.isfinite(part["ci_low"])]
    left = min(0.3, float(finite["ci_low"].min()) - 0.02) if len(finite) else 0.3
    handles = {}
    for ax, split in zip(axes[0], splits):
        labels = []
        for position, group in enumerate(groups):
            first = _one(part, split=split, group=group, experiment="global")
            count = publishable(pd.DataFrame({"n": [int(first["n"])]}), ["n"], simulated=simulated)["n"].iloc[0]
            labels.append(f"{group} (n={count})" + ("" if np.isfinite(first["value"]) else "\nnot estimable"))
            for experiment in experiments:
                row = _one(part, split=split, group=group, experiment=experiment)
                if row is None or not np.isfinite(row["value"]):
                    continue
                handles[experiment] = ax.errorbar(
                    row["value"], position + offsets[experiment],
                    xerr=[[row["value"] - row["ci_low"]], [row["ci_high"] - row["value"]]],
                    fmt=markers.get(experiment, "o"), color=palette[experiment], capsize=2, markersize=5)
        overall = _one(rows, split=split, group_var="overall", experiment="global", metric="auroc")
        if overall is not None and np.isfinite(overall["value"]):
            ax.axvline(overall["value"], color=palette["global"], linestyle="--", linewidth=1)
            ax.annotate(f"ClinicLLM, whole test\n{overall['value']:.3f}", (overall["value"], -0.6), fontsize=8,
                        ha="center", va="bottom", color=palette["global"], annotation_clip=False)
        ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(groups)), labels, fontsize=10)
        ax.set_ylim(len(groups) - 0.5, -1.0)
        ax.set_title(_SPLIT_TITLES.get(split, split), pad=18)
        ax.set_xlabel("AUROC (95 % CI)")
        ax.set_xlim(left, 1.0)
    fig.legend(list(handles.values()), [EXPERIMENT_NAMES.get(k, k) for k in handles], loc="lower center",
               ncol=len(handles),
               frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(GROUP_VAR_NAMES.get(group_var, group_var.replace("_", " ")), fontsize="medium")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def reliability_by_hospital(frame: pd.DataFrame, *, simulated: bool, experiment: str = "global",
                            n_bins: int = 5) -> pd.DataFrame:
    """Reliability-diagram bins (quantile bins of predicted risk) per test and hospital for one model.

    On real data a bin with fewer than 11 admissions is dropped from the figure rather than shown.
    """
    part = frame[frame["experiment"] == experiment]
    tables = []
    for (split, hospital), block in part.groupby(["split", "hospital"], sort=True):
        if len(block) < n_bins:
            continue
        bins = evaluation.calibration_curve_table(block["y_true"], block["y_score"], n_bins=n_bins)
        tables.append(bins.assign(split=split, hospital=hospital))
    if not tables:
        return pd.DataFrame(columns=["split", "hospital", "mean_pred", "frac_pos", "n"])
    bins = pd.concat(tables, ignore_index=True)
    if not simulated:
        bins = bins[bins["n"] >= SMALL_CELL_THRESHOLD]
    return bins


def reliability_figure(bins: pd.DataFrame) -> plt.Figure:
    """Reliability curves, one panel per test, one line per hospital; the diagonal is perfect calibration."""
    splits = [s for s in TEST_SPLITS if s in set(bins["split"])] or list(TEST_SPLITS)
    ordered = bins.sort_values("hospital", kind="stable")
    return figures.calibration_curves(ordered, hue="hospital", splits=splits, bin_label="quantile bins")


# --------------------------------------------------------------------------------------------------------------
# What the chapter's prose says, computed
# --------------------------------------------------------------------------------------------------------------


def contrast_settings(cohort: pd.DataFrame) -> dict:
    """The cohort-wide choices the contrasts need: the smallest hospital and the highest comorbidity level."""
    highest = None
    if "comorbidity_level" in cohort.columns and cohort["comorbidity_level"].notna().any():
        highest = int(pd.to_numeric(cohort["comorbidity_level"], errors="coerce").max())
    smallest = smallest_hospital(cohort) if "hospital" in cohort.columns else None
    return {"smallest": smallest, "highest_comorbidity": highest}


def worst_group_text(worst: pd.DataFrame, group_var: str, split: str) -> str:
    """'Hospital 2, AUROC 0.480 (0.334-0.657)' for the worst group of a variable, or why there is none."""
    found = worst[(worst["group_var"] == group_var) & (worst["split"] == split)]
    if found.empty:
        return f"not in the data (no {group_var} column)"
    row = found.iloc[0]
    if not np.isfinite(row["auroc"]):
        return "none estimable"
    if row.get("groups", 2) == 1:  # one site, or one group: no group is worse than another
        return (f"not defined: {group_label(group_var, str(row['group']))} is the only group (AUROC "
                f"{row['AUROC (95 % CI)']}), nothing to compare")
    return f"{group_label(group_var, str(row['group']))}, AUROC {row['AUROC (95 % CI)']}"


def estimate_text(rows: pd.DataFrame, **filters) -> str:
    """One metric row as 'value (low-high)', or 'not estimable (reason)'."""
    row = _one(rows, **filters)
    if row is None:
        return "not computed"
    if not np.isfinite(row["value"]):
        return f"not estimable ({row['note']})" if row["note"] else "not estimable"
    return _estimate(row)


def contrast_text(rows: pd.DataFrame, contrast: str, split: str = "temporal_test", *, simulated: bool) -> str:
    """'AUROC 0.538 (0.407-0.669); vs the rest of the test -0.049 (-0.294-0.232)' for one contrast."""
    where = {"experiment": "global", "split": split, "group_var": CONTRAST, "group": contrast}
    auroc = estimate_text(rows, metric="auroc", **where)
    if auroc.startswith("not"):
        return hide_small_numbers(auroc, simulated=simulated)
    delta = estimate_text(rows, metric="delta_auroc_vs_rest", **where)
    return f"AUROC {auroc}; difference to the rest of the test {delta}"


def verdict_summary(verdicts: pd.DataFrame, *, simulated: bool) -> dict[str, str]:
    """Counts and lists of weak groups by verdict, as text for the prose (real data: no oracle, no split)."""
    verdicts = verdicts.reset_index()
    clear = verdicts[~verdicts["verdict"].str.startswith("no clear")]

    def names(frame: pd.DataFrame) -> str:
        return ", ".join(frame["group"]) if len(frame) else "none"

    out = {"n_weak": str(len(verdicts)), "n_clear": str(len(clear)), "clear_groups": names(clear)}
    if not simulated:
        unavailable = "not available (real data have no oracle)"
        return out | {"n_harder": unavailable, "n_failure": unavailable, "harder_groups": unavailable,
                      "failure_groups": unavailable}
    harder = verdicts[verdicts["verdict"].str.startswith("harder data")]
    failure = verdicts[verdicts["verdict"].str.startswith("model failure")]
    return out | {"n_harder": str(len(harder)), "n_failure": str(len(failure)), "harder_groups": names(harder),
                  "failure_groups": names(failure)}


def multiple_testing_texts(rows: pd.DataFrame, split: str = "temporal_test") -> dict[str, str]:
    """How many groups the correction covers and its method, for the rule's paragraph."""
    tested = shortfall_p_values(rows, split)
    return {"n_tested": f"{len(tested)}", "alpha": f"{SHORTFALL_ALPHA:g}",
            "correction": "Holm's step-down correction" if MULTIPLE_TESTING_METHOD == "holm"
            else MULTIPLE_TESTING_METHOD}


def calibration_summary(rows: pd.DataFrame, split: str = "temporal_test", experiment: str = "global") -> dict:
    """The hospital whose observed rate is furthest from the mean prediction, and the whole test's difference."""
    part = _pick(rows, experiment=experiment, split=split, metric=CALIBRATION_METRIC)
    hospitals = part[(part["group_var"] == "hospital") & np.isfinite(part["value"])]
    overall = _one(part, group_var="overall")
    out = {"overall": "not estimable", "worst": "none estimable"}
    if overall is not None and np.isfinite(overall["value"]):
        out["overall"] = evaluation.format_estimate(100 * overall["value"], 100 * overall["ci_low"],
                                                    100 * overall["ci_high"], digits=1) + " percentage points"
    if len(hospitals):
        worst = hospitals.loc[hospitals["value"].abs().idxmax()]
        difference = evaluation.format_estimate(100 * worst["value"], 100 * worst["ci_low"], 100 * worst["ci_high"],
                                                digits=1)
        out["worst"] = f"{worst['group']} (observed minus predicted {difference} percentage points)"
    return out


def chapter_setting_texts(group_vars: Sequence[str], *, simulated: bool, n_bootstrap: int, min_group_size: int,
                          min_positives: int) -> dict[str, str]:
    """The chapter's setting for the prose: grouping columns present and absent, models, bootstrap, size rules."""
    absent = [v for v in GROUP_VARS if v not in group_vars]
    return {
        "group_vars_text": ", ".join(v.replace("_", " ") for v in group_vars),
        "absent_vars_text": ", ".join(absent) if absent else "none",
        "n_bootstrap_text": f"{n_bootstrap:,}",
        "min_group_size": f"{min_group_size}",
        "min_positives": f"{min_positives}",
        # real data have no true risk, so there is no oracle to score
        "models_text": ("ClinicLLM (global), the TF-IDF baseline and the oracle" if simulated
                        else "ClinicLLM (global) and the TF-IDF baseline (real data have no oracle)"),
        "privacy_text": ("These are simulated data, so every count is shown." if simulated else
                         "These are real data: every table shows counts under 11 as <11 and hides rates that would "
                         "reveal them."),
    }


def overview_texts(rows: pd.DataFrame) -> dict[str, str]:
    """How many groups the global model is scored in, how many are too small, and its AUROC on each whole test."""
    auroc_rows = _pick(rows, metric="auroc", experiment="global")
    # one test is enough for the count: both tests have the same groups (contrasts included)
    temporal_groups = auroc_rows[(auroc_rows["split"] == "temporal_test") & (auroc_rows["group_var"] != "overall")]
    overall = {"experiment": "global", "group_var": "overall", "metric": "auroc"}
    return {
        "n_groups": f"{len(temporal_groups)}",
        "n_not_estimable": f"{int(auroc_rows['value'].isna().sum())}",
        "overall_temporal": estimate_text(rows, split="temporal_test", **overall),
        "overall_random": estimate_text(rows, split="random_test", **overall),
    }


def worst_group_texts(worst: pd.DataFrame, smallest: str | None) -> dict[str, str]:
    """The worst group of every grouping variable on both tests (:func:`worst_group_text`), and the smallest
    hospital's name (the study's worst hospital was its smallest)."""
    texts = {}
    for group_var in GROUP_VARS:
        for split, suffix in (("temporal_test", "temporal"), ("random_test", "random")):
            texts[f"worst_{group_var}_{suffix}"] = worst_group_text(worst, group_var, split)
    texts["smallest_hospital_name"] = str(smallest)
    return texts
