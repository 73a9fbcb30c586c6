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


def chapter5(changes: dict, seed=0, local_rel=None, hospital_offsets=None, overall=None):
    """Chapter 5 rows: per-hospital delta_auroc per strategy and test, from ``changes[(strategy, split)] = (v, lo,
    hi)`` (each hospital the same, shifted by ``hospital_offsets[hospital]``), local's relative change per hospital
    from ``local_rel``, and, if given, misleading pooled ``overall`` rows the verdicts must not read."""
    offsets = hospital_offsets or {h: 0.0 for h in HOSPITALS}
    rows = []
    for (strategy, split), (value, low, high) in changes.items():
        for hospital, shift in offsets.items():
            rows.append(row("05_mitigation", strategy, split, "hospital", hospital, "delta_auroc", value + shift,
                            low + shift, high + shift, seed))
    for (strategy, split), values in (overall or {}).items():
        rows.append(row("05_mitigation", strategy, split, "overall", "all", "delta_auroc", *values, seed))
    for hospital, value in (local_rel or {}).items():
        rows.append(row("05_mitigation", "local", "temporal_test", "hospital", hospital, "delta_auroc_rel", value,
                        value - 2, value + 2, seed))
    return rows


HOSPITALS = ("Hospital 1", "Hospital 2", "Hospital 3", "Hospital 4")


def frame(*parts):
    rows = [r for part in parts for r in part]
    return ev.validate_metric_rows(pd.DataFrame(rows))


STUDY_CHANGES = {("local", "random_test"): (0.06, 0.045, 0.075), ("local", "temporal_test"): (0.07, 0.055, 0.085),
                 ("instance_augmented", "random_test"): (0.02, 0.005, 0.035),
                 ("instance_augmented", "temporal_test"): (-0.02, -0.035, -0.005),
                 ("cluster", "random_test"): (0.0, -0.02, 0.02), ("cluster", "temporal_test"): (-0.01, -0.03, 0.01)}
LOCAL_REL = {"Hospital 1": 0.3, "Hospital 2": 2.0, "Hospital 3": 5.0, "Hospital 4": 11.0}


def verdicts(rows, importance=None):
    return summary.findings_table(rows, importance)["verdict"]


# ---------------------------------------------------------------- the published numbers


def test_published_table_shows_exactly_the_published_numbers_and_ours():
    table = summary.published_table(frame(chapter3(), chapter5(STUDY_CHANGES, local_rel=LOCAL_REL)))
    assert table["published"].tolist() == ["0.736", "0.699", "0.512", "0.648", "0.581", "+0.25 % to +11.74 %"]
    assert table["this run [95 % CI]"].tolist()[:5] == [
        "0.701\u00a0[0.660,\u00a00.740]", "0.650\u00a0[0.500,\u00a00.800]", "0.620\u00a0[0.550,\u00a00.690]",
        "0.620\u00a0[0.550,\u00a00.690]", "0.620\u00a0[0.550,\u00a00.690]"]
    assert table["this run [95 % CI]"].iloc[5] == ("0.30\u00a0[-1.70,\u00a02.30] % at Hospital 1 to "
                                                   "11.00\u00a0[9.00,\u00a013.00] % at Hospital 4")
    nyutron = summary.nyutron_table(frame(chapter3()))
    assert nyutron["published (NYUTron)"].tolist() == [
        "0.841", "0.802", "0.84", "0.76", "0.68", "4.5 %", "10.8 %", "0.768", "0.789"]
    assert nyutron.loc["AUROC, random test", "this run [95 % CI]"] == "0.751\u00a0[0.710,\u00a00.790]"
    assert nyutron.loc["readmission prevalence, oldest age group", "this run [95 % CI]"] == (
        "15.0\u00a0[13.0,\u00a017.0] %")
    assert nyutron.loc["AUROC with 100 words kept", "this run [95 % CI]"] == summary.NOT_COMPUTED


def test_several_seeds_show_mean_and_spread():
    rows = frame(chapter3(seed=0), [{**r, "value": r["value"] + 0.02} for r in chapter3(seed=1)],
                 [{**r, "value": r["value"] + 0.04} for r in chapter3(seed=2)])
    table = summary.published_table(rows)
    assert table.loc["AUROC, global model, temporal test", "this run [95 % CI]"] == (
        "0.721 (mean of 3 seeds, SD 0.020; seed 0: 0.701\u00a0[0.660,\u00a00.740])")
    assert table.loc["AUROC, global model, temporal test", "seeds"] == 3


# ---------------------------------------------------------------- the verdict rule


@pytest.mark.parametrize(("value", "low", "high", "direction", "effect", "expected"), [
    (-0.1, -0.2, -0.01, -1, None, summary.REPRODUCED),
    (0.1, 0.01, 0.2, -1, None, summary.CONTRADICTED),
    (0.1, 0.01, 0.2, +1, None, summary.REPRODUCED),
    (-0.1, -0.2, 0.01, -1, None, summary.INCONCLUSIVE),   # no published size: cannot be "absent"
    (-0.1, -0.2, 0.01, -1, -0.15, summary.INCONCLUSIVE),  # the published effect lies inside the interval
    # the smallest hospital: 0.019 [-0.115, 0.150] against a published -0.224: the run could have seen it
    (0.019, -0.115, 0.150, -1, -0.224, summary.ABSENT),
    (0.01, -0.02, 0.04, +1, 0.08, summary.ABSENT),
    (np.nan, np.nan, np.nan, -1, None, summary.NOT_ESTIMABLE),
])
def test_four_outcomes(value, low, high, direction, effect, expected):
    assert summary.difference_verdict(value, low, high, direction, effect) == expected


def test_minimum_detectable_difference_has_80_percent_power():
    from scipy.stats import norm

    se = summary.standard_error(-0.115, 0.150)
    assert se == pytest.approx(0.265 / (2 * 1.959964))
    mde = summary.minimum_detectable(se)
    assert mde == pytest.approx(2.8 * se, rel=1e-3)
    # a true difference of one MDE is detected (|estimate| / se > 1.96) with probability 0.80
    assert norm.sf(1.959964 - mde / se) == pytest.approx(0.80, abs=1e-4)
    # the cohort that detects the published -0.224 with 80 % power: the standard error there gives exactly that
    n = summary.size_to_detect(100, se, -0.224)
    se_there = se * np.sqrt(100 / n)
    assert norm.sf(1.959964 - 0.224 / se_there) == pytest.approx(0.80, abs=1e-4)
    assert n < 100  # the run had more than enough admissions to see -0.224: hence "absent"


def test_group_findings_follow_the_data_with_power_figures():
    worse = summary.findings_table(frame(chapter3(delta=(-0.10, -0.18, -0.02))))
    better = summary.findings_table(frame(chapter3(delta=(0.10, 0.02, 0.18))))
    unclear = summary.findings_table(frame(chapter3(delta=(-0.05, -0.12, 0.02))))
    groups = ["Small hospitals do worse (the smallest hospital vs the rest)", "Government insurance does worse",
              "Unspecified insurance does worse", "The elderly do worse", "High comorbidity does worse"]
    assert (worse.loc[groups, "verdict"] == summary.REPRODUCED).all()
    assert (better.loc[groups, "verdict"] == summary.CONTRADICTED).all()
    # an interval of [-0.12, 0.02] excludes the smallest hospital's published -0.224 and the highest comorbidity
    # level's -0.155 (absent), but not the elderly's -0.088, and insurance has no published size (inconclusive)
    assert unclear.loc[groups, "verdict"].tolist() == [summary.ABSENT, summary.INCONCLUSIVE, summary.INCONCLUSIVE,
                                                       summary.INCONCLUSIVE, summary.ABSENT]
    smallest = unclear.loc[groups[0]]
    assert smallest["published effect"] == "-0.224"
    assert smallest["smallest detectable (80 % power)"] == f"{2.801585 * 0.14 / (2 * 1.959964):.3f}"
    # the whole temporal test has 1,000 admissions; a 0.224 difference needs (MDE / 0.224)^2 of them
    needed = int(np.ceil(1000 * (2.801585 * 0.14 / (2 * 1.959964) / 0.224) ** 2))
    assert smallest["test admissions to detect the published effect"] == f"{needed:,} (this run has 1,000)"
    elderly = unclear.loc[groups[3]]
    needed = int(np.ceil(1000 * (2.801585 * 0.14 / (2 * 1.959964) / 0.088) ** 2))
    assert elderly["test admissions to detect the published effect"] == f"{needed:,} ({needed / 1000:.1f} x this run's 1,000)"
    assert unclear.loc[groups[1], "test admissions to detect the published effect"] == "no size published"


def test_majority_over_seeds_of_the_four_outcomes():
    rows = frame(chapter3(delta=(-0.1, -0.14, -0.06), seed=0), chapter3(delta=(-0.1, -0.14, -0.06), seed=1),
                 chapter3(delta=(-0.05, -0.09, -0.01), seed=2))
    # three seeds average to -0.083; the interval adds the spread across seeds to the bootstrap's
    found = summary.findings_table(rows).loc["The elderly do worse"]
    assert found["verdict"] == summary.REPRODUCED
    se = np.sqrt((0.08 / (2 * 1.959964)) ** 2 + np.var([-0.1, -0.1, -0.05], ddof=1) / 3)
    assert found["this run [95 % CI]"] == (f"older patients minus the rest, temporal test {-0.25 / 3:.3f}\u00a0"
                                           f"[{-0.25 / 3 - 1.959964 * se:.3f},\u00a0{-0.25 / 3 + 1.959964 * se:.3f}]"
                                           ", mean of 3 seeds")
    # the same spread of seeds around a wide bootstrap interval no longer decides
    wide = frame(chapter3(delta=(-0.1, -0.2, -0.01), seed=0), chapter3(delta=(-0.1, -0.2, -0.02), seed=1),
                 chapter3(delta=(-0.05, -0.15, 0.03), seed=2))
    assert summary.findings_table(wide).loc["The elderly do worse", "verdict"] == summary.INCONCLUSIVE
    assert summary.majority([summary.REPRODUCED, summary.INCONCLUSIVE]) == summary.INCONCLUSIVE
    assert summary.majority([summary.ABSENT, summary.ABSENT, summary.REPRODUCED]) == summary.ABSENT


def test_seed_mean_combines_sampling_and_training_noise():
    rows = pd.DataFrame({"value": [0.01, 0.03], "ci_low": [-0.03, -0.01], "ci_high": [0.05, 0.07],
                         "n": [500, 500], "seed": [0, 1]})
    found = summary.seed_mean(rows, "x")
    se_boot = 0.08 / (2 * 1.959964)
    expected = np.sqrt(se_boot ** 2 + np.var([0.01, 0.03], ddof=1) / 2)
    assert found.value == pytest.approx(0.02) and found.se == pytest.approx(expected)


def test_strategy_findings_read_the_hospital_rows_never_the_pooled_row():
    # the pooled rows say the opposite of the hospital rows: the verdicts must follow the hospitals
    pooled = {("cluster", "random_test"): (0.2, 0.15, 0.25), ("cluster", "temporal_test"): (0.2, 0.15, 0.25),
              ("local", "random_test"): (-0.2, -0.25, -0.15), ("local", "temporal_test"): (-0.2, -0.25, -0.15)}
    offsets = {"Hospital 1": 0.0, "Hospital 2": 0.0, "Hospital 3": 0.0, "Hospital 4": 0.0}
    study = summary.findings_table(frame(chapter3(), chapter5(STUDY_CHANGES, local_rel=LOCAL_REL,
                                                              hospital_offsets=offsets, overall=pooled)))["verdict"]
    assert study["Local fine-tuning beats instance-based augmented and cluster-based fine-tuning"] == summary.REPRODUCED
    assert (study["Instance-based augmentation helps on the random test and hurts on the temporal test"]
            == summary.REPRODUCED)
    # cluster's hospital changes straddle zero on both tests: a small gain cannot be excluded
    assert study["Cluster-based fine-tuning brings no gain"] == summary.INCONCLUSIVE


def test_strategy_findings_flip_when_the_data_flip():
    flipped = dict(STUDY_CHANGES)
    flipped[("cluster", "temporal_test")] = (0.15, 0.13, 0.17)  # cluster now gains most, and clearly
    flipped[("instance_augmented", "temporal_test")] = (0.03, 0.015, 0.045)  # augmentation now clearly helps
    other = summary.findings_table(frame(chapter3(), chapter5(flipped)))["verdict"]
    assert other["Local fine-tuning beats instance-based augmented and cluster-based fine-tuning"] == (
        summary.CONTRADICTED)
    assert (other["Instance-based augmentation helps on the random test and hurts on the temporal test"]
            == summary.CONTRADICTED)
    assert other["Cluster-based fine-tuning brings no gain"] == summary.CONTRADICTED
    hurts = {**STUDY_CHANGES, ("cluster", "random_test"): (-0.03, -0.05, -0.01),
             ("cluster", "temporal_test"): (-0.02, -0.035, -0.005)}
    assert summary.findings_table(frame(chapter3(), chapter5(hurts)))["verdict"][
        "Cluster-based fine-tuning brings no gain"] == summary.REPRODUCED


def test_local_gains_most_at_the_smallest_hospital():
    name = "Local fine-tuning gains most where data are scarce (the smallest hospital)"
    scarce = {"Hospital 1": 0.0, "Hospital 2": 0.0, "Hospital 3": 0.01, "Hospital 4": 0.10}
    assert summary.findings_table(frame(chapter3(), chapter5(STUDY_CHANGES, hospital_offsets=scarce)))[
        "verdict"][name] == summary.REPRODUCED
    large = {"Hospital 1": 0.10, "Hospital 2": 0.10, "Hospital 3": 0.10, "Hospital 4": -0.10}
    assert summary.findings_table(frame(chapter3(), chapter5(STUDY_CHANGES, hospital_offsets=large)))[
        "verdict"][name] == summary.CONTRADICTED
    even = {h: 0.0 for h in HOSPITALS}
    assert summary.findings_table(frame(chapter3(), chapter5(STUDY_CHANGES, hospital_offsets=even)))[
        "verdict"][name] == summary.INCONCLUSIVE


def test_the_learning_warning_is_the_first_reason():
    findings = summary.findings_table(frame(chapter3(delta=(-0.05, -0.12, 0.02))))
    reason = "ClinicLLM learned little in this run: its validation AUROC is 0.600, 0.112 below the baseline's"
    text = summary.reasons_text(findings, reason)
    assert text.startswith(f"First, {reason}")
    assert text.index("inconclusive") > text.index(reason)
    assert summary.reasons_text(findings, None).startswith("First, 3 finding(s) are inconclusive")


# ---------------------------------------------------------------- missing chapters


def test_missing_chapters_give_not_estimable_never_a_crash():
    empty = ev.validate_metric_rows(pd.DataFrame(columns=ev.METRIC_COLUMNS))
    for rows in (empty, frame(chapter3())):
        table = summary.findings_table(rows, None)
        assert len(table) == len(summary.FINDINGS)
        assert set(table["verdict"]) <= set(summary.VERDICTS) | {summary.NOT_ESTIMABLE}
        assert (table.loc[[f.finding for f in summary.FINDINGS if f.chapter == "5"], "verdict"]
                == summary.NOT_ESTIMABLE).all()
        published = summary.published_table(rows)
        assert len(published) == len(summary.PUBLISHED) + 1
        assert published.loc["local fine-tuning: relative AUROC change per hospital, temporal test",
                             "this run [95 % CI]"].startswith("not estimable")
    assert (summary.findings_table(empty)["verdict"] == summary.NOT_ESTIMABLE).all()
    assert summary.verdict_counts(summary.findings_table(empty)) == {
        summary.REPRODUCED: 0, summary.CONTRADICTED: 0, summary.ABSENT: 0, summary.INCONCLUSIVE: 0,
        summary.NOT_ESTIMABLE: len(summary.FINDINGS)}


def test_smallest_hospital_is_found_by_its_counts():
    assert summary.smallest_hospital_name(frame(chapter3())) == "Hospital 4"
    assert summary.smallest_hospital_name(frame(chapter5(STUDY_CHANGES))) is None


# ---------------------------------------------------------------- the page


def validation_predictions(global_signal: float, seed: int = 0, n: int = 3000) -> pd.DataFrame:
    """Chapter 2's predictions file, validation rows only: TF-IDF reads the outcome well, ClinicLLM with
    ``global_signal`` (0.3: learned little; 1.5: as well as TF-IDF)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    scores = {"global": y * global_signal + rng.normal(0, 1, n), "tfidf_lr": y * 1.5 + rng.normal(0, 1, n)}
    return pd.concat([pd.DataFrame({"admission_id": [f"A{i}" for i in range(n)],
                                    "patient_id": [f"P{i}" for i in range(n)], "hospital": "Hospital 1",
                                    "split": "validation", "model": {"global": "clinicllm"}.get(e, e),
                                    "y_true": y, "y_score": 1 / (1 + np.exp(-score)), "experiment": e})
                      for e, score in scores.items()], ignore_index=True)


def test_learning_warning_applies_chapter_twos_rule():
    from helpers import learning_warning

    from sklearn.metrics import roc_auc_score

    predictions = validation_predictions(0.3)
    ours, theirs = (roc_auc_score(p["y_true"], p["y_score"]) for _, p in predictions.groupby("experiment"))
    weak = learning_warning.learning_warning(predictions)
    assert weak is not None and weak.title == "ClinicLLM learned little in this run"
    assert weak.reason.startswith(f"ClinicLLM learned little in this run: its validation AUROC is {ours:.3f}, "
                                  f"{theirs - ours:.3f} below the TF-IDF baseline's {theirs:.3f}")
    assert learning_warning.learning_warning(validation_predictions(1.5)) is None
    flat = validation_predictions(0.0)
    flat.loc[flat["experiment"] == "global", "y_score"] = 0.2  # collapsed to the base rate
    assert learning_warning.learning_warning(flat).title == "ClinicLLM did not learn in this run"


@pytest.mark.slow
@pytest.mark.parametrize("complete", [True, False], ids=["all chapters, weak model", "chapters 4 and 5 missing"])
def test_summary_page_runs_and_glues_every_key(tmp_path, complete):
    papermill = pytest.importorskip("papermill")
    run_dir = tmp_path / "run"
    parts = [chapter3()] + ([chapter5(STUDY_CHANGES, local_rel=LOCAL_REL)] if complete else [])
    for notebook, rows in frame(*parts).groupby("notebook"):
        ev.write_metrics(run_dir, rows, notebook=notebook)
    if complete:
        (run_dir / "artifacts" / "04_feature_analysis").mkdir(parents=True)
        pd.DataFrame([{"feature": "age", "importance": 0.04, "ci_low": 0.03, "ci_high": 0.05,
                       "method": "permutation, gradient_boosting"}]).to_csv(
            run_dir / "artifacts" / "04_feature_analysis" / summary.IMPORTANCE_FILE, index=False)
        # chapter 2's predictions of a model that learned little: the page must give that as its first reason
        (run_dir / "artifacts" / "02_clinicllm").mkdir()
        validation_predictions(0.3).to_parquet(run_dir / "artifacts" / "02_clinicllm" / "predictions_02_clinicllm.parquet")
    output = tmp_path / "06_summary.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_summary.ipynb"), str(output),
                               parameters={"run_dir": str(run_dir)}, cwd=str(ROOT), progress_bar=False)
    nb = nbformat.read(output, as_version=4)
    glued, used = glued_names(nb), prose_glue_keys(nb)
    assert used and used <= glued, sorted(used - glued)
    html = "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    reasons = next(o["data"]["application/papermill.record/text/plain"] for c in nb.cells for o in c.get("outputs", [])
                   if o.get("metadata", {}).get("scrapbook", {}).get("name") == "reasons")
    card = (run_dir / "artifacts" / "06_summary" / "model_card" / "README.md").read_text()
    if complete:
        # every finding is judged, the four factors inconclusive with one factor only; the weak model comes first
        assert "not estimable" not in html
        assert reasons.strip("'\"").startswith("First, ClinicLLM learned little in this run")
        assert "**Warning: ClinicLLM learned little in this run" in card
    else:
        assert "not estimable" in html and "learned little" not in reasons
    assert card.startswith("---\n") and "model-index" in card and "AUROC (temporal test)" in card
    assert "(the model reads a fixed token limit; chapter 4 reports AUROC by words per note instead)" in html
    assert "0.736" in html and "+0.25 % to +11.74 %" in html


def test_missing_chapters_are_named_in_order_or_none():
    rows = pd.DataFrame({"notebook": ["02_clinicllm", "03_disparities"]})
    assert summary.missing_chapters_text(rows) == "04_feature_analysis, 05_mitigation"
    every = pd.DataFrame({"notebook": ["02_clinicllm", "03_disparities", "04_feature_analysis", "05_mitigation"]})
    assert summary.missing_chapters_text(every) == "none"


@pytest.mark.slow
def test_one_number_per_quantity_in_the_smoke_runs_metrics(smoke_run):
    """A model's metric in a group on a test (and seed) has one value, one interval and one count wherever a chapter
    writes it to metrics.csv: chapters 4 to 6 read chapter 3's rows instead of computing their own."""
    run_dir, _ = smoke_run
    rows = ev.read_metrics(run_dir)
    key = ["experiment", "model", "split", "group_var", "group", "metric", "seed"]
    shared = rows[rows.duplicated(key, keep=False)]
    assert len(shared), "no quantity is written by two chapters, so the test would check nothing"
    differ = []
    for values, part in shared.groupby(key, sort=False):
        numbers = part[["value", "ci_low", "ci_high", "n", "n_pos"]].round(12).drop_duplicates()
        if len(numbers) > 1:
            differ.append(f"{dict(zip(key, values))}: " + "; ".join(
                f"{r.notebook} {ev.format_estimate(r.value, r.ci_low, r.ci_high)} n={r.n}" for r in part.itertuples()))
    assert not differ, "\n".join(differ[:12])
