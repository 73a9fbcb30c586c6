"""The answers to each chapter's exercises, computed from the run that rendered the chapter.

Every chapter of the study ends with a few exercises: a prediction to make, a parameter to change with ``--set``,
a place to look. Their solutions open on click and quote this run's numbers, which come from here: each function
reads the files the chapter (and the chapters before it) wrote and returns the phrases the solutions glue. Nothing
is typed in, so the solutions stay right when a reader re-runs the study with other parameters or data; on real
data a count under 11 is never quoted.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from helpers import evaluation, privacy
from helpers.artifacts import RunPaths

TESTS = {"random_test": "random test", "temporal_test": "temporal test"}


def _count(value: int, simulated: bool) -> str:
    return privacy.count_text(value, real_data=not simulated)


def _simulated(run_dir) -> bool:
    import json

    path = RunPaths.from_run_dir(run_dir).written_by("01_data") / "source.json"
    return bool(json.loads(path.read_text()).get("simulated", False)) if path.exists() else False


def _estimate(row: pd.Series | None) -> str:
    if row is None or not np.isfinite(row["value"]):
        return "not estimable in this run"
    return evaluation.format_estimate(row["value"], row["ci_low"], row["ci_high"])


# --------------------------------------------------------------------------------------------------------------
# Chapter 1: the data
# --------------------------------------------------------------------------------------------------------------


def data_answers(run_dir: str | os.PathLike) -> dict[str, str]:
    """Chapter 1: the hospital with the highest and lowest readmission rate, the split sizes, note lengths."""
    paths = RunPaths.from_run_dir(run_dir)
    simulated = _simulated(run_dir)
    rates = pd.read_csv(paths.upstream("hospital_rates.csv", "01_data"))
    highest = rates.loc[rates["readmission_rate"].idxmax()]
    lowest = rates.loc[rates["readmission_rate"].idxmin()]

    def rate(row) -> str:
        return (f"{row['hospital']} ({evaluation.format_estimate(100 * row['readmission_rate'], 100 * row['readmission_ci_low'], 100 * row['readmission_ci_high'], 1)} %)")

    sizes = pd.read_csv(paths.upstream("split_sizes.csv", "01_data"))
    whole = sizes[sizes["hospital"] == "all"].set_index("split")
    smallest = rates.loc[rates["cohort_admissions"].idxmin(), "hospital"]
    small_temporal = sizes[(sizes["hospital"] == smallest) & (sizes["split"] == "temporal_test")]
    words = pd.read_csv(paths.upstream("words_by_hospital_year.csv", "01_data"))
    medians = words.groupby("hospital")["median"].median()
    return {
        "ex_highest_rate": rate(highest), "ex_lowest_rate": rate(lowest),
        "ex_train_admissions": _count(int(whole.loc["train", "admissions"]), simulated),
        "ex_temporal_admissions": _count(int(whole.loc["temporal_test", "admissions"]), simulated),
        "ex_smallest_hospital": str(smallest),
        "ex_smallest_temporal_readmissions": (_count(int(small_temporal["readmissions"].iloc[0]), simulated)
                                              if len(small_temporal) else "none"),
        "ex_longest_notes": f"{medians.idxmax()} ({medians.max():.0f} words, median over years)",
        "ex_shortest_notes": f"{medians.idxmin()} ({medians.min():.0f} words)",
    }


# --------------------------------------------------------------------------------------------------------------
# Chapter 2: ClinicLLM
# --------------------------------------------------------------------------------------------------------------


def clinicllm_answers(run_dir: str | os.PathLike) -> dict[str, str]:
    """Chapter 2: the global model on both tests, against TF-IDF and the oracle, and the learning warning."""
    from helpers import learning_warning

    rows = evaluation.read_metrics(run_dir)
    rows = rows[(rows["notebook"] == "02_clinicllm") & (rows["group_var"] == "overall") & (rows["metric"] == "auroc")]
    texts = {}
    for experiment, name in (("global", "clinicllm"), ("tfidf_lr", "tfidf"), ("oracle", "oracle")):
        for split, title in TESTS.items():
            row = evaluation.first_row(rows, experiment=experiment, split=split)
            texts[f"ex_{name}_{split.split('_')[0]}"] = _estimate(row)
    random, temporal = (evaluation.first_row(rows, experiment="global", split=s) for s in TESTS)
    texts["ex_temporal_minus_random"] = (evaluation.describe_difference(temporal["value"], random["value"])
                                         if random is not None and temporal is not None else "not measurable")
    history = RunPaths.from_run_dir(run_dir).written_by("02_clinicllm") / "clinicllm" / "pretrain_history.csv"
    pretrain = pd.read_csv(history).dropna(subset=["train_loss"]) if history.exists() else pd.DataFrame()
    texts["ex_pretrain_steps"] = f"{int(pretrain['step'].max()):,}" if len(pretrain) else "no recorded"
    texts["ex_mlm_loss_end"] = f"{pretrain['train_loss'].iloc[-1]:.2f}" if len(pretrain) else "not recorded"
    warning = learning_warning.read_warning(run_dir)
    texts["ex_learning_warning"] = (f"In this run the warning fired: {warning.reason}." if warning else
                                    "In this run the warning did not fire: ClinicLLM is within "
                                    "0.1 AUROC of TF-IDF on validation.")
    return texts


# --------------------------------------------------------------------------------------------------------------
# Chapter 3: disparities
# --------------------------------------------------------------------------------------------------------------


def disparity_answers(run_dir: str | os.PathLike) -> dict[str, str]:
    """Chapter 3: the worst and the smallest hospital on the temporal test, how many groups are weak by chance."""
    from helpers import disparities

    rows = evaluation.read_metrics(run_dir)
    rows = rows[rows["notebook"] == disparities.NOTEBOOK]
    hospitals = rows[(rows["experiment"] == "global") & (rows["metric"] == "auroc") & (rows["group_var"] == "hospital")
                     & (rows["split"] == "temporal_test") & np.isfinite(rows["value"])]
    smallest = evaluation.first_row(rows, experiment="global", metric="auroc", group_var="contrast",
                                    group="smallest_hospital", split="temporal_test")
    smallest_name = next((r["group"] for _, r in hospitals.iterrows()
                          if smallest is not None and int(r["n"]) == int(smallest["n"])), "the smallest hospital")
    worst = hospitals.loc[hospitals["value"].idxmin()] if len(hospitals) else None
    delta = evaluation.first_row(rows, experiment="global", metric="delta_auroc_vs_rest", group_var="contrast",
                                 group="smallest_hospital", split="temporal_test")
    ages = rows[(rows["group_var"] == "contrast") & rows["group"].astype(str).str.startswith("age_above_")
                & (rows["experiment"] == "global") & (rows["metric"] == "auroc") & (rows["split"] == "temporal_test")]
    age = ages.iloc[0] if len(ages) else None
    tested = disparities.shortfall_p_values(rows, "temporal_test")
    clear = tested[(tested["value"] < 0) & (tested["p_adjusted"] < disparities.SHORTFALL_ALPHA)
                   & (tested["ci_high"] < 0)]
    return {
        "ex_worst_hospital": (f"{worst['group']} ({_estimate(worst)})" if worst is not None else "none estimable"),
        "ex_smallest_hospital": f"{smallest_name} ({_estimate(smallest)})",
        "ex_smallest_vs_rest": _estimate(delta),
        "ex_n_tested": f"{len(tested)}",
        "ex_n_weak": f"{int((tested['value'] < 0).sum())}",
        "ex_n_clear": f"{len(clear)}",
        "ex_age_contrast": (f"{disparities.group_label('contrast', str(age['group']))}: "
                            f"{_count(int(age['n']), _simulated(run_dir))} admissions, AUROC {_estimate(age)}"
                            if age is not None else "not in this run"),
    }


# --------------------------------------------------------------------------------------------------------------
# Chapter 4: the factors
# --------------------------------------------------------------------------------------------------------------


def feature_answers(run_dir: str | os.PathLike) -> dict[str, str]:
    """Chapter 4: the most important factor, the hospital block's importance, and the verdict on the four."""
    from helpers import features

    importance = pd.read_csv(RunPaths.from_run_dir(run_dir).upstream("importance.csv", "04_feature_analysis"))
    method = "permutation, gradient_boosting"
    ranking = features.factor_ranking(importance, method if method in set(importance["method"])
                                      else str(importance["method"].iloc[0]))
    top = ranking.iloc[0]
    block = importance[(importance["feature"] == features.HOSPITAL_BLOCK) & (importance["method"] == method)]
    alone = importance[(importance["feature"].isin([features.FACTOR_LABELS[f] for f in features.HOSPITAL_LEVEL_FACTORS]))
                       & (importance["method"] == method)]
    return {
        "ex_top_factor": f"{top['feature']} ({evaluation.format_estimate(top['importance'], top['ci_low'], top['ci_high'], 4)})",
        "ex_block_importance": (evaluation.format_estimate(*block.iloc[0][["importance", "ci_low", "ci_high"]], 4)
                                if len(block) else "not computed (one hospital-level factor only)"),
        "ex_largest_alone": (f"{alone['importance'].max():.4f}" if len(alone) else "not computed"),
        "ex_factor_verdict": features.study_factor_verdict(importance).verdict,
    }


# --------------------------------------------------------------------------------------------------------------
# Chapter 5: mitigation
# --------------------------------------------------------------------------------------------------------------


def mitigation_answers(run_dir: str | os.PathLike) -> dict[str, str]:
    """Chapter 5: each strategy's change at the smallest hospital on the temporal test (mean over seeds), the best
    one, and the same-budget control's change there."""
    from helpers import summary

    rows = evaluation.read_metrics(run_dir)
    smallest = summary.smallest_hospital_name(rows) or "the smallest hospital"
    changes = {}
    for strategy in ("local", "instance_augmented", "cluster", "global_continued", "random_augmented"):
        part = summary.hospital_changes(rows, strategy, "temporal_test")
        part = part[part["hospital"] == smallest]
        if len(part):
            found = part.iloc[0]
            changes[strategy] = evaluation.format_estimate(found["value"], found["value"] - 1.959964 * found["se"],
                                                           found["value"] + 1.959964 * found["se"])
    best = max((s for s in changes if s in summary.STRATEGIES), default=None,
               key=lambda s: float(changes[s].split("\u00a0")[0]))
    return {
        "ex_smallest_hospital": smallest,
        "ex_strategy_changes": "; ".join(f"{summary.STRATEGY_NAMES.get(s, s)} {v}" for s, v in changes.items())
        or "chapter 5 has no per-hospital rows in this run",
        "ex_best_strategy": summary.STRATEGY_NAMES.get(best, best) if best else "none",
        "ex_control_changes": "; ".join(f"{summary.STRATEGY_NAMES[s]} {changes[s]}" for s in
                                        ("global_continued", "random_augmented") if s in changes)
        or "this run's chapter 5 has no control rows at that hospital",
    }


ANSWERS = {"01_data": data_answers, "02_clinicllm": clinicllm_answers, "03_disparities": disparity_answers,
           "04_feature_analysis": feature_answers, "05_mitigation": mitigation_answers}


def answers(chapter: str, run_dir: str | os.PathLike) -> dict[str, str]:
    """The phrases the solutions of ``chapter`` glue (keys ``ex_*``)."""
    if chapter not in ANSWERS:
        raise ValueError(f"no exercises for chapter {chapter!r}; chapters with exercises: {sorted(ANSWERS)}.")
    return ANSWERS[chapter](run_dir)
