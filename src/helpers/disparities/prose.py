"""What chapter 3's prose says, computed from its rows: the worst groups, the contrasts, the verdicts, the setting."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import evaluation, privacy
from helpers.evaluation import first_row, select_rows
from helpers.disparities.groups import CALIBRATION_METRIC, CONTRAST, GROUP_VARS, group_label
from helpers.disparities.tables import estimate_cell
from helpers.disparities.verdicts import MULTIPLE_TESTING_METHOD, SHORTFALL_ALPHA, shortfall_p_values


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
    row = first_row(rows, **filters)
    if row is None:
        return "not computed"
    if not np.isfinite(row["value"]):
        return f"not estimable ({row['note']})" if row["note"] else "not estimable"
    return estimate_cell(row)


def contrast_text(rows: pd.DataFrame, contrast: str, split: str = "temporal_test", *, real_data: bool) -> str:
    """'AUROC 0.538 (0.407-0.669); vs the rest of the test -0.049 (-0.294-0.232)' for one contrast."""
    where = {"experiment": "global", "split": split, "group_var": CONTRAST, "group": contrast}
    auroc = estimate_text(rows, metric="auroc", **where)
    if auroc.startswith("not"):
        return privacy.hide_counts_in_text(auroc, real_data=real_data)
    delta = estimate_text(rows, metric="delta_auroc_vs_rest", **where)
    return f"AUROC {auroc}; difference to the rest of the test {delta}"


def verdict_summary(verdicts: pd.DataFrame, *, real_data: bool) -> dict[str, str]:
    """Counts and lists of weak groups by verdict, as text for the prose (real data: no oracle, no split)."""
    verdicts = verdicts.reset_index()
    clear = verdicts[~verdicts["verdict"].str.startswith("no clear")]

    def names(frame: pd.DataFrame) -> str:
        return ", ".join(frame["group"]) if len(frame) else "none"

    out = {"n_weak": str(len(verdicts)), "n_clear": str(len(clear)), "clear_groups": names(clear)}
    if real_data:
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
    part = select_rows(rows, experiment=experiment, split=split, metric=CALIBRATION_METRIC)
    hospitals = part[(part["group_var"] == "hospital") & np.isfinite(part["value"])]
    overall = first_row(part, group_var="overall")
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


def chapter_setting_texts(group_vars: Sequence[str], *, real_data: bool, n_bootstrap: int, min_group_size: int,
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
        "models_text": ("ClinicLLM (global), the TF-IDF baseline and the oracle" if not real_data
                        else "ClinicLLM (global) and the TF-IDF baseline (real data have no oracle)"),
        "privacy_text": ("These are simulated data, so every count is shown." if not real_data else
                         "These are real data: every table shows counts under 11 as <11 and hides rates that would "
                         "reveal them."),
    }


def overview_texts(rows: pd.DataFrame) -> dict[str, str]:
    """How many groups the global model is scored in, how many are too small, and its AUROC on each whole test."""
    auroc_rows = select_rows(rows, metric="auroc", experiment="global")
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
