"""One patient-level bootstrap per test split, shared by every group, model and quantity of that split.

For each test split the patients of the whole split are resampled with replacement once per bootstrap round (the
weight matrix of :mod:`helpers.evaluation`), and every number of that split is computed on the same rounds: each
group's AUROC, AUPRC, Brier score and prevalence for every model, the rest of the split, the oracle. Three things
follow.

- *Paired comparisons between models.* The oracle gap (oracle AUROC minus the global model's AUROC in a group) is
  computed on the same resampled patients for both, so the CI of the gap is that of a paired difference.
- *The group against the rest of its split* (``delta_auroc_vs_rest``): the group and its complement are disjoint
  sets of admissions and, mostly, of patients, so there is nothing to pair admission by admission, and resampling
  each side as if it were the other's twin would be wrong. What is right is to redraw the test split as the study
  drew it, patients from one population, and let each round give both sides. A patient with admissions on both
  sides (seen at two hospitals in the test year, or crossing an age band) keeps the correlation between them;
  patients on one side only contribute independently, so for disjoint patient sets this is exactly the two-sample
  bootstrap, with side sizes that vary as they would in a new sample. The rest's AUROC for every group comes from
  one pass over the split (:func:`_rest_concordance`).
- *Groups have random sizes across rounds*, as they would in a new test set. For the overall row the rounds are
  the very resamples :func:`helpers.evaluation.bootstrap_metrics` draws with the same seed (rows keep chapter 2's
  order), so chapter 2's and this chapter's overall CIs agree to the last digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers import evaluation
from helpers.disparities.groups import MODEL_METRICS, Group


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
