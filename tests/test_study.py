"""The smoke study end to end: the runner executes every notebook and the book renders from the executed copies.

This is what `make study PARAMS=params/smoke.yaml` does, run into a temporary runs folder so the tests never touch
a user's runs/.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from helpers import runner

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    runs_root = tmp_path_factory.mktemp("runs")
    index = runner.run_study(ROOT / "params" / "smoke.yaml", runs_root=runs_root, root=ROOT)
    return runs_root / "smoke", index


def test_every_notebook_is_executed_without_errors(smoke_run):
    run_dir, _ = smoke_run
    executed = sorted(p.name for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for path in (run_dir / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{path.name} has an error output"


def test_data_chapter_artifacts(smoke_run):
    run_dir, _ = smoke_run
    artifacts = run_dir / "artifacts"
    for name in ["cohort.parquet", "splits.parquet", "oracle.parquet", "table1_by_hospital.csv",
                 "split_sizes.csv", "hospital_rates.csv", "subgroups.csv"]:
        assert (artifacts / name).exists(), name
    cohort = pd.read_parquet(artifacts / "cohort.parquet")
    splits = pd.read_parquet(artifacts / "splits.parquet")
    assert len(cohort) == len(splits) and set(cohort["admission_id"]) == set(splits["admission_id"])
    assert (cohort["died_in_hospital"] == 0).all()
    sizes = pd.read_csv(artifacts / "split_sizes.csv")
    assert sizes.loc[sizes["hospital"] == "all", "admissions"].sum() == len(cohort)


def test_book_renders_the_data_chapter_with_tables_figures_and_computed_prose(smoke_run):
    run_dir, index = smoke_run
    assert index == run_dir / "html" / "index.html" and index.exists()
    page = (run_dir / "html" / "notebooks" / "01_data.html").read_text()
    assert page.count("<table") >= 4
    assert len(re.findall(r"<img[^>]+src=\"[^\"]+\.png\"", page)) >= 3
    assert "glue:text" not in page  # every {glue:text} role was filled in
    cohort = pd.read_parquet(run_dir / "artifacts" / "cohort.parquet")
    assert f"{len(cohort):,}" in page  # the cohort size in the prose comes from the run
    # the parameters and the injected-parameters cells are hidden
    assert "n_admissions = 3000" not in page and "n_admissions = 24000" not in page
    assert "require_full_followup = True" not in page
    assert "book/intro.html" in index.read_text()  # Jupyter Book's index redirects to the root page
    intro = (run_dir / "html" / "book" / "intro.html").read_text()
    assert "simulated health system" in intro
    status = (run_dir / "html" / "book" / "reproducibility.html").read_text()
    assert "01_data" in status and "transformers" in status


def test_clinicllm_chapter_writes_the_metrics_contract(smoke_run):
    run_dir, _ = smoke_run
    metrics = pd.read_csv(run_dir / "metrics.csv")
    contract = ["notebook", "experiment", "model", "split", "group_var", "group", "metric", "value", "ci_low",
                "ci_high", "n", "n_pos", "seed"]
    assert list(metrics.columns[: len(contract)]) == contract
    chapter = metrics[(metrics["notebook"] == "02_clinicllm") & (metrics["group_var"] == "overall")]
    for experiment in ("global", "tfidf_lr", "oracle"):
        for split in ("random_test", "temporal_test"):
            for metric in ("auroc", "auprc", "brier"):
                row = chapter[(chapter["experiment"] == experiment) & (chapter["split"] == split)
                              & (chapter["metric"] == metric)]
                assert len(row) == 1, (experiment, split, metric)
                row = row.iloc[0]
                assert row["group"] == "all"
                assert row["ci_low"] <= row["value"] <= row["ci_high"], (experiment, split, metric)
    # the oracle's AUROC is recomputed here independently from the saved predictions
    from sklearn.metrics import roc_auc_score

    predictions = pd.read_parquet(run_dir / "artifacts" / "predictions_02_clinicllm.parquet")
    oracle = predictions[(predictions["experiment"] == "oracle") & (predictions["split"] == "temporal_test")]
    expected = roc_auc_score(oracle["y_true"], oracle["y_score"])
    reported = chapter[(chapter["experiment"] == "oracle") & (chapter["split"] == "temporal_test")
                       & (chapter["metric"] == "auroc")]["value"].iloc[0]
    assert reported == pytest.approx(expected, abs=1e-9)
    n_temporal = (pd.read_parquet(run_dir / "artifacts" / "splits.parquet")["split"] == "temporal_test").sum()
    assert (chapter[chapter["split"] == "temporal_test"]["n"] == n_temporal).all()


def test_clinicllm_page_renders_curves_and_numbers(smoke_run):
    run_dir, _ = smoke_run
    page = (run_dir / "html" / "notebooks" / "02_clinicllm.html").read_text()
    assert len(re.findall(r"<img[^>]+src=\"[^\"]+\.png\"", page)) >= 3  # training, ROC and calibration curves
    assert "glue:text" not in page
    metrics = pd.read_csv(run_dir / "metrics.csv")
    temporal = metrics[(metrics["experiment"] == "global") & (metrics["split"] == "temporal_test")
                       & (metrics["metric"] == "auroc")].iloc[0]
    assert f"{temporal['value']:.3f}" in page
