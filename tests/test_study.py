"""The smoke study end to end: the runner executes every notebook and the book renders from the executed copies.

This is what `make study PARAMS=params/smoke.yaml` does, run once per session into a temporary runs folder (the
``smoke_run`` fixture of conftest.py) so the tests never touch a user's runs/. The last tests check that a run is
safe to interrupt and to repeat: a run killed during chapter 2 resumes to the same metrics.csv, byte for byte, as
an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from helpers import runner

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_every_notebook_is_executed_without_errors(smoke_run):
    run_dir, _ = smoke_run
    log = (run_dir / "log.txt").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert re.search(rf"\] {path.stem}: done in \d+\.\d s", log), f"log.txt has no finished line for {path.stem}"
    executed = sorted(p.name for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for path in (run_dir / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{path.name} has an error output"


def test_data_chapter_artifacts(smoke_run):
    run_dir, _ = smoke_run
    artifacts = run_dir / "artifacts" / "01_data"  # chapter 1's files
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
    cohort = pd.read_parquet(run_dir / "artifacts" / "01_data" / "cohort.parquet")
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

    predictions = pd.read_parquet(run_dir / "artifacts" / "02_clinicllm" / "predictions_02_clinicllm.parquet")
    oracle = predictions[(predictions["experiment"] == "oracle") & (predictions["split"] == "temporal_test")]
    expected = roc_auc_score(oracle["y_true"], oracle["y_score"])
    reported = chapter[(chapter["experiment"] == "oracle") & (chapter["split"] == "temporal_test")
                       & (chapter["metric"] == "auroc")]["value"].iloc[0]
    assert reported == pytest.approx(expected, abs=1e-9)
    n_temporal = (pd.read_parquet(run_dir / "artifacts" / "01_data" / "splits.parquet")["split"] == "temporal_test").sum()
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


# --- safe runs: resume after a kill, and determinism ------------------------------------------------------------

def _deterministic_smoke_params(tmp_path: Path) -> Path:
    """params/smoke.yaml with ClinicLLM trained in 32-bit floats (bfloat16 is not bit-reproducible), and shorter:
    fewer pretraining steps and fine-tuning admissions (still several checkpoints to be killed between)."""
    import yaml

    content = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    content.setdefault("notebooks", {}).setdefault("02_clinicllm", {}).update(
        {"clinicllm_options": {"bf16": False, "finetune_min_steps": 60}, "pretrain_max_steps": 40, "max_train_samples": 800, "n_bootstrap": 50})
    path = tmp_path / "det.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def _kill_tree(pid: int) -> None:
    """Kill the runner and its kernel (jupyter starts kernels in their own session), as a crash or `kill -9` would."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = parent.children(recursive=True) + [parent]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


def test_same_seed_gives_the_same_metrics_and_a_run_killed_in_chapter_2_resumes_to_them(tmp_path, capsys):
    params = _deterministic_smoke_params(tmp_path)
    only = ["01", "02"]

    # 1. Uninterrupted.
    runner.run_study(params, only=only, render=False, runs_root=tmp_path / "a", root=ROOT)
    reference = (tmp_path / "a" / "det" / "metrics.csv").read_bytes()

    # 2. The same, killed while chapter 2 fine-tunes (a fine-tuning checkpoint exists, the model is not finished).
    killed_dir = tmp_path / "b" / "det"
    # A second run from scratch in its own folder: nothing is shared with run 1 (tokenizer, pretraining and all),
    # so equal numbers at the end show that the same seed gives the same study (32-bit floats) as well as that
    # the resumed stages continue exactly where the killed ones stopped.
    command = [sys.executable, "-m", "helpers.runner", "run", str(params), "--only", *only, "--no-book",
               "--runs-root", str(tmp_path / "b")]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            # a complete fine-tuning checkpoint (the Trainer writes trainer_state.json last)
            if list((killed_dir / "artifacts" / "02_clinicllm" / "clinicllm").glob(".finetune-*.partial/checkpoint-*/trainer_state.json")):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run finished (or failed) before it could be killed during fine-tuning"
    finally:
        _kill_tree(proc.pid)
    log = json.loads((killed_dir / "run_log.json").read_text())
    assert log["notebooks"]["01_data"]["status"] == "ok"
    assert log["notebooks"]["02_clinicllm"]["status"] == "running"  # killed half-way

    # 3. Resume: chapter 1 is reused, chapter 2 runs again from its cached stages, and the numbers are the same.
    capsys.readouterr()
    outcome_out = runner.run_study(params, only=only, render=False, runs_root=tmp_path / "b", root=ROOT)
    assert outcome_out is None
    printed = capsys.readouterr().out
    assert "01_data: reused, unchanged since" in printed
    assert "02_clinicllm: running (its last run did not finish (status running)" in printed
    summary = json.loads((killed_dir / "artifacts" / "02_clinicllm" / "clinicllm" / "summary.json").read_text())
    assert summary["reused"]["pretrain"] is True  # the pretraining finished before the kill and was not redone
    resumed = (killed_dir / "metrics.csv").read_bytes()
    if resumed != reference:
        # A resume may change the model's weights by float32 rounding (seen once in a few runs: scores moved by at
        # most 9e-8 and a Brier score by 3e-9, every AUROC identical). Anything beyond 1e-6 is a real divergence
        # (another window, batch or step gives differences of 1e-3 and more).
        a = pd.read_csv(tmp_path / "a" / "det" / "metrics.csv")
        b = pd.read_csv(killed_dir / "metrics.csv")
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        numeric = a.select_dtypes("number").columns
        text = [column for column in a.columns if column not in numeric]
        pd.testing.assert_frame_equal(a[text], b[text])
        close = np.isclose(a[numeric].to_numpy(float), b[numeric].to_numpy(float), rtol=0, atol=1e-6, equal_nan=True)
        if not close.all():
            differ = a[~close.all(axis=1)].join(b[numeric], rsuffix="_resumed")
            pytest.fail(f"resumed metrics.csv differs from the uninterrupted run in {len(differ)} rows:\n"
                        f"{differ.head(12).to_string()}")

    # progress went to the terminal and to runs/<name>/log.txt: the runner's lines and the kernel's stage lines
    log_lines = (killed_dir / "log.txt").read_text().splitlines()
    assert sum("02_clinicllm: running" in line for line in log_lines) == 2  # the killed run and the resumed one
    assert any("02_clinicllm: done in" in line for line in log_lines)
    assert any(re.match(r"\d\d:\d\d:\d\d pretraining", line) for line in log_lines), "no stage progress in log.txt"
    # the resumed fine-tuning continued from the killed run's checkpoint (it did not start over)
    assert any(re.search(r"fine-tuning: resuming an interrupted run from its checkpoint at step \d+", line)
               for line in log_lines)

    # 4. A third run changes nothing: every notebook is reused and the file is untouched.
    capsys.readouterr()
    runner.run_study(params, only=only, render=False, runs_root=tmp_path / "b", root=ROOT)
    assert "reused 2 finished notebook(s): 01_data, 02_clinicllm; executed: none" in capsys.readouterr().out
    assert (killed_dir / "metrics.csv").read_bytes() == resumed


def test_a_second_run_with_the_same_parameters_reuses_every_notebook_and_the_book(smoke_run, capsys):
    run_dir, index = smoke_run
    metrics = (run_dir / "metrics.csv").read_bytes()
    book_stamp = index.stat().st_mtime_ns
    executed_stamps = {p.name: p.stat().st_mtime_ns for p in (run_dir / "notebooks").glob("*.ipynb")}
    capsys.readouterr()
    again = runner.run_study(ROOT / "params" / "smoke.yaml", runs_root=run_dir.parent, root=ROOT)
    out = capsys.readouterr().out
    n = len(executed_stamps)
    assert f"reused {n} finished notebook(s)" in out and "executed: none" in out
    assert "book: reused" in out
    assert again == index and index.stat().st_mtime_ns == book_stamp
    assert (run_dir / "metrics.csv").read_bytes() == metrics
    assert {p.name: p.stat().st_mtime_ns for p in (run_dir / "notebooks").glob("*.ipynb")} == executed_stamps


def test_every_glue_key_in_the_prose_was_glued_in_the_smoke_run(smoke_run):
    """The executed notebooks hold a glue output for every key their prose uses (keys a helper computes included)."""
    from test_notebooks import glue_keys_used

    run_dir, _ = smoke_run
    for path in sorted((run_dir / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        glued = {out.get("metadata", {}).get("scrapbook", {}).get("name")
                 for cell in nb.cells for out in cell.get("outputs", [])}
        missing = glue_keys_used(nb) - glued
        assert not missing, f"{path.name}: prose uses glue keys that the run never glued: {sorted(missing)}"
