"""Degenerate but legal exports through the command line: one site, a site without readmissions, 150 small sites,
and the files a real export can be that are refused at load (time zones mixed with plain dates, empty,
header-only, a duplicated header) leaving no ``artifacts/``.

The refusals are quick (chapter 1 stops at its loading cell) and always run. The three study runs execute every
chapter and take minutes each, so they run only when ``CLINICLLM_TEST_DEGENERATE=1``
(they are skipped with that reason otherwise, so a skip is never mistaken for a pass).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "tests"))
from own_export import (  # noqa: E402
    ONLY_SITE, SITE_WITHOUT_READMISSIONS, make_export, many_sites_export, single_site_export,
    site_without_readmissions_export,
)
from test_own_data import _run, own_data_params  # noqa: E402

pytestmark = pytest.mark.slow

STUDY_RUNS = os.environ.get("CLINICLLM_TEST_DEGENERATE") == "1"
needs_study_runs = pytest.mark.skipif(
    not STUDY_RUNS, reason="runs the whole study on three exports (minutes each): set CLINICLLM_TEST_DEGENERATE=1")


def _glued(notebook: Path) -> dict[str, str]:
    """The glued texts of an executed notebook, by name."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                text = [v for k, v in output["data"].items() if k.endswith("text/plain")][0]
                values[name] = str(ast.literal_eval(text))  # a repr of a str, as papermill records it
    return values


def _study(tmp_path: Path, name: str, frame: pd.DataFrame, only: list[str] | None = None):
    data = tmp_path / f"{name}.csv"
    frame.to_csv(data, index=False)
    params_name = f"{name}-{os.getpid()}"
    params = tmp_path / f"{params_name}.yaml"
    params.write_text(yaml.safe_dump(own_data_params(data), sort_keys=False))
    run_dir = ROOT / "runs" / params_name
    shutil.rmtree(run_dir, ignore_errors=True)
    args = ["run", str(params)] + (["--only", *only, "--no-book"] if only else [])
    return run_dir, _run(args, timeout=3600)


@needs_study_runs
def test_a_single_site_export_runs_every_chapter_to_its_book_and_says_what_cannot_be_compared(tmp_path):
    run_dir, result = _study(tmp_path, "single-site", single_site_export(2000, seed=2))
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert (run_dir / "html" / "index.html").exists()
        chapter1 = _glued(run_dir / "notebooks" / "01_data.ipynb")
        assert chapter1["n_hospitals"] == "one site"
        assert chapter1["rates_comment"].startswith(f"This cohort has one site, {ONLY_SITE}: its 30-day readmission")
        chapter3 = _glued(run_dir / "notebooks" / "03_disparities.ipynb")
        assert chapter3["worst_hospital_temporal"].startswith(f"not defined: {ONLY_SITE} is the only group")
        assert "rest of the split: no admissions" in chapter3["contrast_smallest_hospital"]
        summary = (run_dir / "notebooks" / "06_summary.ipynb").read_text()
        assert "Small hospitals do worse" in summary
        metrics = pd.read_csv(run_dir / "metrics.csv")
        contrast = metrics[(metrics["notebook"] == "03_disparities") & (metrics["group"] == "smallest_hospital")
                           & (metrics["metric"] == "delta_auroc_vs_rest")]
        assert len(contrast) and contrast["value"].isna().all()
    finally:
        if result.returncode == 0:
            shutil.rmtree(run_dir, ignore_errors=True)


@needs_study_runs
def test_a_site_without_readmissions_runs_every_chapter_and_its_auroc_is_not_estimable(tmp_path):
    run_dir, result = _study(tmp_path, "site-without-readmissions", site_without_readmissions_export(2000, seed=2))
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert (run_dir / "html" / "index.html").exists()
        rates = pd.read_csv(run_dir / "artifacts" / "01_data" / "hospital_rates.csv").set_index("hospital")
        site = rates.loc[SITE_WITHOUT_READMISSIONS]
        assert site["readmissions"] == 0 and site["readmission_ci_low"] == 0.0 and site["readmission_ci_high"] > 0
        chapter1 = _glued(run_dir / "notebooks" / "01_data.ipynb")
        assert f"1 site has no readmission in the cohort ({SITE_WITHOUT_READMISSIONS})" in chapter1["rates_comment"]
        metrics = pd.read_csv(run_dir / "metrics.csv")
        auroc = metrics[(metrics["notebook"] == "03_disparities") & (metrics["group"] == SITE_WITHOUT_READMISSIONS)
                        & (metrics["metric"] == "auroc")]
        assert len(auroc) and auroc["value"].isna().all()
    finally:
        if result.returncode == 0:
            shutil.rmtree(run_dir, ignore_errors=True)


@needs_study_runs
def test_150_small_sites_run_every_chapter_with_the_small_sites_pooled(tmp_path):
    frame = many_sites_export(150, 10, 300, seed=0)
    sizes = frame["hospital"].value_counts()
    assert len(sizes) == 150 and sizes.min() >= 10 and sizes.max() <= 310
    run_dir, result = _study(tmp_path, "many-sites", frame)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        chapter3 = _glued(run_dir / "notebooks" / "03_disparities.ipynb")
        assert "20 sites have their own row; the other 130 are pooled into one row" in chapter3["site_rows_text"]
        metrics = pd.read_csv(run_dir / "metrics.csv")
        hospital_rows = metrics[(metrics["notebook"] == "03_disparities") & (metrics["group_var"] == "hospital")]
        groups = set(hospital_rows["group"])
        assert len(groups) == 21 and "smaller sites (pooled)" in groups
        # the 20 sites with rows are the 20 largest of the cohort
        cohort = pd.read_parquet(run_dir / "artifacts" / "01_data" / "cohort.parquet")
        largest = set(cohort["hospital"].value_counts().sort_index().sort_values(ascending=False, kind="stable")
                      .index[:20])
        assert groups - {"smaller sites (pooled)"} == largest
        # chapter 5: the units are chapter 3's rows (the 130 smaller sites are one unit), its cluster table keeps 8
        # site columns
        chapter5 = metrics[metrics["notebook"] == "05_mitigation"]
        assert set(chapter5["experiment"]) == {"local", "instance_augmented", "cluster", "global_continued",
                                               "random_augmented"}
        assert set(chapter5.loc[chapter5["group_var"] == "hospital", "group"]) == groups
        executed = (run_dir / "notebooks" / "05_mitigation.ipynb").read_text()
        assert "other sites" in executed and "Warning" not in executed
        assert (run_dir / "html" / "index.html").exists()
    finally:
        if result.returncode == 0:
            shutil.rmtree(run_dir, ignore_errors=True)


def _refused(tmp_path: Path, name: str, write) -> tuple[int, str, Path]:
    data = write(tmp_path)
    params_name = f"refused-{name}-{os.getpid()}"
    params = tmp_path / f"{params_name}.yaml"
    params.write_text(yaml.safe_dump({"global": {"seed": 0}, "notebooks": {"01_data": {
        "data_source": "file", "data_path": str(data), "temporal_test_year": 2022}}}))
    run_dir = ROOT / "runs" / params_name
    shutil.rmtree(run_dir, ignore_errors=True)
    result = _run(["run", str(params), "--only", "01", "--no-book"], timeout=900)
    return result.returncode, result.stdout + result.stderr, run_dir


def _zoned_some_rows(tmp: Path) -> Path:
    frame = make_export(300, seed=4)
    frame.loc[:9, "admit_date"] = pd.to_datetime(frame.loc[:9, "admit_date"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.to_csv(tmp / "zoned.csv", index=False)
    return tmp / "zoned.csv"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.csv").write_text("")
    return tmp / "empty.csv"


def _header_only(tmp: Path) -> Path:
    (tmp / "header.csv").write_text(",".join(make_export(5, seed=4).columns) + "\n")
    return tmp / "header.csv"


def _duplicated_header(tmp: Path) -> Path:
    lines = make_export(300, seed=4).to_csv(index=False).splitlines()
    (tmp / "twice.csv").write_text("\n".join([lines[0] + ",hospital"] + [f"{line},Other" for line in lines[1:]]))
    return tmp / "twice.csv"


@pytest.mark.parametrize("name, write, expected", [
    ("zoned", _zoned_some_rows, "column 'admit_date': mixes date-times with a time zone (e.g. "),
    ("empty", _empty, "the file 'empty.csv' is empty"),
    ("header-only", _header_only, "the file 'header.csv' has a header line but no data rows"),
    ("duplicated-header", _duplicated_header,
     "column 'hospital': is the name of 2 columns of the header (columns 3, 13)"),
])
def test_files_a_real_export_can_be_are_refused_at_load_leaving_no_artifacts(tmp_path, name, write, expected):
    returncode, output, run_dir = _refused(tmp_path, name, write)
    try:
        assert returncode == 1, output[-3000:]
        assert "FAILED: notebook 01_data" in output and expected in output, output[-3000:]
        assert "Fix:" in output
        assert not (run_dir / "artifacts").exists()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
