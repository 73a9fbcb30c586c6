"""The closing page's logic on synthetic metrics frames: the published numbers shown exactly, verdicts that flip
when the data flip, seeds, missing chapters, and the page itself on a run with and without chapters 4 and 5."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from executed_notebooks import glued_names, prose_glue_keys

from helpers import evaluation as ev
from helpers import summary

ROOT = Path(__file__).resolve().parents[1]


def row(notebook, experiment, split, group_var, group, metric, value, low, high, seed=0, n=200, n_pos=20, note=""):
    return {"notebook": notebook, "experiment": experiment, "model": experiment, "split": split,
            "group_var": group_var, "group": group, "metric": metric, "value": value, "ci_low": low,
            "ci_high": high, "n": n, "n_pos": n_pos, "seed": seed, "note": note}


def chapter3(delta=(-0.10, -0.18, -0.02), seed=0):
    """Chapter 3 rows: four hospitals, the contrasts with their AUROC and difference to the rest."""
    rows = []
    for split in ("random_test", "temporal_test"):
        rows.append(row("03_disparities", "global", split, "overall", "all", "auroc", 0.70, 0.66, 0.74, seed, 1000))
        for hospital, n in [("Hospital 1", 400), ("Hospital 2", 300), ("Hospital 3", 200), ("Hospital 4", 100)]:
            rows.append(row("03_disparities", "global", split, "hospital", hospital, "auroc", 0.60 + n / 4000,
                            0.5, 0.8, seed, n))
        for contrast, n in [("smallest_hospital", 100), ("age_above_60", 500), ("highest_comorbidity", 150),
                            ("government_insurance", 450), ("unspecified_insurance", 60)]:
            rows.append(row("03_disparities", "global", split, "contrast", contrast, "auroc", 0.62, 0.55, 0.69,
                            seed, n))
            rows.append(row("03_disparities", "global", split, "contrast", contrast, "delta_auroc_vs_rest", *delta,
                            seed, n))
        for group, prevalence in [("18-39", 0.05), ("60-79", 0.12), ("80+", 0.15)]:
            rows.append(row("03_disparities", "global", split, "age_group", group, "auroc", 0.66, 0.6, 0.72, seed))
            rows.append(row("03_disparities", "global", split, "age_group", group, "prevalence", prevalence,
                            prevalence - 0.02, prevalence + 0.02, seed))
    rows.append(row("02_clinicllm", "global", "temporal_test", "overall", "all", "auroc", 0.701, 0.66, 0.74, seed))
    rows.append(row("02_clinicllm", "global", "random_test", "overall", "all", "auroc", 0.751, 0.71, 0.79, seed))
    return rows


def chapter5(changes: dict, seed=0, local_rel=None):
    """Chapter 5 rows: overall delta_auroc per strategy and test from ``changes[(strategy, split)] = (v, lo, hi)``,
    and local's relative change per hospital from ``local_rel``."""
    rows = [row("05_mitigation", strategy, split, "overall", "all", "delta_auroc", *values, seed)
            for (strategy, split), values in changes.items()]
    for hospital, value in (local_rel or {}).items():
        rows.append(row("05_mitigation", "local", "temporal_test", "hospital", hospital, "delta_auroc_rel", value,
                        value - 2, value + 2, seed))
    return rows


def frame(*parts):
    rows = [r for part in parts for r in part]
    return ev.validate_metric_rows(pd.DataFrame(rows))


STUDY_CHANGES = {("local", "random_test"): (0.03, 0.01, 0.05), ("local", "temporal_test"): (0.04, 0.02, 0.06),
                 ("instance_augmented", "random_test"): (0.02, 0.005, 0.035),
                 ("instance_augmented", "temporal_test"): (-0.02, -0.035, -0.005),
                 ("cluster", "random_test"): (0.0, -0.02, 0.02), ("cluster", "temporal_test"): (-0.01, -0.03, 0.01)}
LOCAL_REL = {"Hospital 1": 0.3, "Hospital 2": 2.0, "Hospital 3": 5.0, "Hospital 4": 11.0}


def verdicts(rows, importance=None):
    return summary.findings_table(rows, importance)["verdict"]


# ---------------------------------------------------------------- the published numbers


def test_published_table_shows_exactly_the_published_numbers_and_ours():
    table = summary.published_table(frame(chapter3(), chapter5(STUDY_CHANGES, local_rel=LOCAL_REL)))
    published = table[f"published ({summary.STUDY})"].tolist()
    assert published == ["0.736", "0.699", "0.512", "0.648", "0.581", "+0.25 % to +11.74 %"]
    assert table["this run"].tolist()[:5] == ["0.701 (0.660-0.740)", "0.650 (0.500-0.800)", "0.620 (0.550-0.690)",
                                              "0.620 (0.550-0.690)", "0.620 (0.550-0.690)"]
    assert table["this run"].iloc[5] == ("+0.30 % at Hospital 1 (CI -1.70 to +2.30) to +11.00 % at Hospital 4 "
                                         "(CI +9.00 to +13.00)")
    nyutron = summary.nyutron_table(frame(chapter3()))
    assert nyutron[f"published ({summary.NYUTRON_SOURCE})"].tolist() == [
        "0.841", "0.802", "0.84", "0.76", "0.68", "4.5 %", "10.8 %", "0.768", "0.789"]
    assert nyutron.loc["AUROC, random test", "this run"] == "0.751 (0.710-0.790)"
    assert nyutron.loc["readmission prevalence, oldest age group", "this run"] == "15.0 (13.0-17.0) %"
    assert nyutron.loc["AUROC with 100 words kept", "this run"] == summary.NOT_COMPUTED


def test_several_seeds_show_mean_and_spread():
    rows = frame(chapter3(seed=0), [{**r, "value": r["value"] + 0.02} for r in chapter3(seed=1)],
                 [{**r, "value": r["value"] + 0.04} for r in chapter3(seed=2)])
    table = summary.published_table(rows)
    assert table.loc["AUROC, global model, temporal test", "this run"] == (
        "0.721 (mean of 3 seeds, SD 0.020; seed 0: 0.701 (0.660-0.740))")
    assert table.loc["AUROC, global model, temporal test", "seeds"] == 3


# ---------------------------------------------------------------- the verdict rule


@pytest.mark.parametrize(("value", "low", "high", "direction", "expected"), [
    (-0.1, -0.2, -0.01, -1, summary.REPRODUCED),
    (-0.1, -0.2, 0.01, -1, summary.NOT_REPRODUCED),
    (0.1, 0.01, 0.2, -1, summary.NOT_REPRODUCED),
    (0.1, 0.01, 0.2, +1, summary.REPRODUCED),
    (np.nan, np.nan, np.nan, -1, summary.NOT_ESTIMABLE),
])
def test_direction_rule(value, low, high, direction, expected):
    assert summary.direction_verdict(value, low, high, direction) == expected


def test_group_findings_flip_when_the_data_flip():
    worse = verdicts(frame(chapter3(delta=(-0.10, -0.18, -0.02))))
    better = verdicts(frame(chapter3(delta=(0.10, 0.02, 0.18))))
    unclear = verdicts(frame(chapter3(delta=(-0.05, -0.12, 0.02))))
    for finding in ["Small hospitals do worse (the smallest hospital vs the rest)", "Government insurance does worse",
                    "Unspecified insurance does worse", "The elderly do worse", "High comorbidity does worse"]:
        assert worse[finding] == summary.REPRODUCED
        assert better[finding] == summary.NOT_REPRODUCED
        assert unclear[finding] == summary.NOT_REPRODUCED


def test_majority_over_seeds():
    rows = frame(chapter3(delta=(-0.1, -0.2, -0.01), seed=0), chapter3(delta=(-0.1, -0.2, -0.02), seed=1),
                 chapter3(delta=(-0.05, -0.15, 0.03), seed=2))
    assert verdicts(rows)["The elderly do worse"] == summary.REPRODUCED
    assert summary.majority([summary.REPRODUCED, summary.NOT_REPRODUCED]) == summary.NOT_REPRODUCED


def test_strategy_findings_flip_when_the_data_flip():
    study = verdicts(frame(chapter3(), chapter5(STUDY_CHANGES, local_rel=LOCAL_REL)))
    assert study["Local fine-tuning beats instance-based augmented and cluster-based fine-tuning"] == summary.REPRODUCED
    assert study["Local fine-tuning gains most where data are scarce (the smallest hospital)"] == summary.REPRODUCED
    assert (study["Instance-based augmentation helps on the random test and hurts on the temporal test"]
            == summary.REPRODUCED)
    assert study["Cluster-based fine-tuning brings no gain"] == summary.REPRODUCED

    flipped = dict(STUDY_CHANGES)
    flipped[("cluster", "temporal_test")] = (0.08, 0.05, 0.11)  # cluster now gains most, and clearly
    flipped[("instance_augmented", "temporal_test")] = (0.01, -0.005, 0.025)  # augmentation no longer hurts
    rel = dict(LOCAL_REL, **{"Hospital 1": 20.0})  # the largest local gain is now at the largest hospital
    other = verdicts(frame(chapter3(), chapter5(flipped, local_rel=rel)))
    assert other["Local fine-tuning beats instance-based augmented and cluster-based fine-tuning"] == (
        summary.NOT_REPRODUCED)
    assert other["Local fine-tuning gains most where data are scarce (the smallest hospital)"] == summary.NOT_REPRODUCED
    assert (other["Instance-based augmentation helps on the random test and hurts on the temporal test"]
            == summary.NOT_REPRODUCED)
    assert other["Cluster-based fine-tuning brings no gain"] == summary.NOT_REPRODUCED


def _importance(features):
    return pd.DataFrame([{"feature": f, "importance": imp, "ci_low": imp - 0.005, "ci_high": imp + 0.005,
                          "method": method}
                         for method in ["gradient boosting", "logistic regression"]
                         for f, imp in features])


def test_four_factors_flip_when_the_ranking_flips():
    study = _importance([("hospital block (hospital, sample size, readmission and mortality rates)", 0.05),
                         ("age", 0.04), ("comorbidity level", 0.03), ("words per note", 0.02),
                         ("insurance", 0.01), ("borough", 0.001),
                         ("share of the admission's facts the note documents", 0.09)])  # hidden: left out
    name = "Sample size, age, comorbidities and words per note matter most"
    assert verdicts(frame(chapter3()), study)[name] == summary.REPRODUCED
    other = study.copy()
    other.loc[other["feature"] == "borough", "importance"] = 0.035  # borough enters the top four
    assert verdicts(frame(chapter3()), other)[name] == summary.NOT_REPRODUCED
    assert verdicts(frame(chapter3()), None)[name] == summary.NOT_ESTIMABLE


# ---------------------------------------------------------------- missing chapters


def test_missing_chapters_give_not_estimable_never_a_crash():
    empty = ev.validate_metric_rows(pd.DataFrame(columns=ev.METRIC_COLUMNS))
    for rows in (empty, frame(chapter3())):
        table = summary.findings_table(rows, None)
        assert len(table) == len(summary.FINDINGS)
        assert set(table["verdict"]) <= {summary.REPRODUCED, summary.NOT_REPRODUCED, summary.NOT_ESTIMABLE}
        assert (table.loc[[f.finding for f in summary.FINDINGS if f.chapter == "5"], "verdict"]
                == summary.NOT_ESTIMABLE).all()
        published = summary.published_table(rows)
        assert len(published) == len(summary.PUBLISHED) + 1
        assert published.loc["local fine-tuning: relative AUROC change per hospital, temporal test",
                             "this run"].startswith("not estimable")
    assert (summary.findings_table(empty)["verdict"] == summary.NOT_ESTIMABLE).all()
    assert summary.verdict_counts(summary.findings_table(empty)) == {
        summary.REPRODUCED: 0, summary.NOT_REPRODUCED: 0, summary.NOT_ESTIMABLE: len(summary.FINDINGS)}


def test_smallest_hospital_is_found_by_its_counts():
    assert summary.smallest_hospital_name(frame(chapter3())) == "Hospital 4"
    assert summary.smallest_hospital_name(frame(chapter5(STUDY_CHANGES))) is None


# ---------------------------------------------------------------- the page


@pytest.mark.slow
@pytest.mark.parametrize("complete", [True, False], ids=["all chapters", "chapters 4 and 5 missing"])
def test_summary_page_runs_and_glues_every_key(tmp_path, complete):
    papermill = pytest.importorskip("papermill")
    run_dir = tmp_path / "run"
    parts = [chapter3()] + ([chapter5(STUDY_CHANGES, local_rel=LOCAL_REL)] if complete else [])
    for notebook, rows in frame(*parts).groupby("notebook"):
        ev.write_metrics(run_dir, rows, notebook=notebook)
    if complete:
        (run_dir / "artifacts" / "04_feature_analysis").mkdir(parents=True)
        _importance([("age", 0.04)]).to_csv(run_dir / "artifacts" / summary.IMPORTANCE_FILE, index=False)
    output = tmp_path / "06_summary.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_summary.ipynb"), str(output),
                               parameters={"run_dir": str(run_dir)}, cwd=str(ROOT), progress_bar=False)
    nb = nbformat.read(output, as_version=4)
    glued, used = glued_names(nb), prose_glue_keys(nb)
    assert used and used <= glued, sorted(used - glued)
    html = "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    # complete: chapter 4's importance has one factor only, so the four factors are not reproduced; otherwise the
    # findings of chapters 4 and 5 cannot be judged
    assert ("not estimable" in html) != complete
    assert "(the model reads a fixed token limit; chapter 4 reports AUROC by words per note instead)" in html
    assert "0.736" in html and "+0.25 % to +11.74 %" in html


def test_missing_chapters_are_named_in_order_or_none():
    rows = pd.DataFrame({"notebook": ["02_clinicllm", "03_disparities"]})
    assert summary.missing_chapters_text(rows) == "04_feature_analysis, 05_mitigation"
    every = pd.DataFrame({"notebook": ["02_clinicllm", "03_disparities", "04_feature_analysis", "05_mitigation"]})
    assert summary.missing_chapters_text(every) == "none"
