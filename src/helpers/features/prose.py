"""What chapter 4's prose says, computed: the error rates, the hospitals, the quoted odds ratios, the ranking and
the verdict on the study's four factors, the hidden variables, note length."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import evaluation
from helpers.features.factors import HIDDEN_LABELS, bin_order, left_out_factors
from helpers.features.statistical import GroupRegression
from helpers.features.study_factors import FACTOR_RULE, study_factor_verdict


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
    :func:`.descriptive.hospital_profile`, each with its AUROC (95 % CI)."""
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
"""The patient factors the prose quotes from the error model: glue key -> term of
:func:`.statistical.odds_ratio_table`."""


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
    """The four most important factors of :func:`.study_factors.factor_ranking`, and, given the whole importance
    table, the verdict on the study's four by :func:`.study_factors.study_factor_verdict` (the verdict chapter 6
    shows)."""
    top_four = ranking["feature"].head(4).tolist()
    texts = {"top_four": "; ".join(f"{i}. {name}" for i, name in enumerate(top_four, start=1))}
    if importance is not None:
        result = study_factor_verdict(importance)
        texts |= {"factor_verdict": result.verdict, "factor_evidence": result.evidence,
                  "factor_rule": FACTOR_RULE}
    return texts


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
