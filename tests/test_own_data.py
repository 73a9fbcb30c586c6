"""Own data, end to end: the study on a data-file fixture, through every chapter to its rendered book, without
leaking note text.

The fixture (``tests/fixtures/own_export.py``) is a seeded CSV that looks like a hospital export: every required
column, no ``borough``, sex and insurance values outside the named categories, ~10-13 % readmitted, six years of
dates, and in every note a unique marker ``ZQXMARK<n>`` plus, for patients who live alone, the frequent and
predictive made-up word ``zqxalone``, and from 2021 on the made-up drug ``zqxvir`` (a word that emerges over time).
Finding any of them (any case) in a file under ``runs/<name>/`` means note text leaked there, unless the file is
on :data:`MAY_HOLD_NOTE_TEXT`. Figures are PNG images, whose text cannot be searched; the notebooks and pages that
show them, and every table, can.

Chapters are discovered at test time (every ``notebooks/NN_*.ipynb``), so chapters added later are covered too;
each gets the small settings below when it declares them.
"""

from __future__ import annotations

import ast
import fnmatch
import gzip
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
from own_export import EMERGING_WORD, LEAK_WORDS, MARKER, PREDICTIVE_WORD, write_export  # noqa: E402

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).parent / "clinicllm-study"

MAY_HOLD_NOTE_TEXT = (
    "artifacts/01_data/cohort.parquet",  # the cohort: the notes are the model's input
    "artifacts/*/tokenizer.json",       # the tokenizer's learned vocabulary, and its copy beside every model
    "artifacts/*/vocab.txt",            # (in any chapter's model folder: fnmatch's * also matches '/')
    "artifacts/02_clinicllm/tfidf_lr.joblib",  # the TF-IDF baseline's fitted vocabulary (a model file)
)
"""Files under ``runs/<name>/`` that must hold text from the notes (fnmatch patterns, relative to the run)."""

SMALL_SETTINGS = {
    "n_bootstrap": 100,
    "preset": "tiny",
    "tfidf_max_features": 20000,
    "max_train_samples": 1500,
    "pretrain_max_steps": 20,
    "finetune_max_steps": 80,
    "n_permutation_repeats": 3,
    "learning_curve_max_steps": 20,
    "learning_curve_eval_samples": 200,
    "strategy_max_epochs": 10,
    "augmentation_k": 100,
}
"""Speed settings, each given to every chapter whose parameters cell declares it (and only then)."""


def _declared_parameters(notebook: Path) -> dict[str, object]:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            names = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    names[node.targets[0].id] = ast.literal_eval(node.value)
            return names
    return {}


def own_data_params(data_path: Path) -> dict:
    """The parameters file of the test run: chapter 1 reads the file, every chapter gets the small settings."""
    chapters = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    notebooks: dict[str, dict] = {}
    for chapter in chapters:
        declared = _declared_parameters(chapter)
        chosen = {k: v for k, v in SMALL_SETTINGS.items() if k in declared}
        if chosen:
            notebooks[chapter.stem] = chosen
    notebooks.setdefault("01_data", {}).update({
        "data_source": "file", "data_path": str(data_path), "temporal_test_year": 2022,
    })
    return {"description": "own-data test (tests/test_own_data.py)", "global": {"seed": 0}, "notebooks": notebooks}


def _texts(path: Path) -> bytes:
    """The file's content as bytes to search: Parquet read back cell by cell, gzip decompressed, else raw bytes."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        buffer = io.StringIO()
        frame.astype(str).to_csv(buffer)
        return buffer.getvalue().encode() + " ".join(map(str, frame.columns)).encode()
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data


def leaks(run_dir: Path) -> list[str]:
    """Files under ``run_dir`` that hold the fixture's note text and are not allowed to."""
    found = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(run_dir).as_posix()
        if any(fnmatch.fnmatch(relative, pattern) for pattern in MAY_HOLD_NOTE_TEXT):
            continue
        content = _texts(path).lower()
        words = [w for w in LEAK_WORDS if w.encode() in content]
        if words:
            found.append(f"{relative} ({', '.join(words)})")
    return found


def _run(args: list[str], timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(CLI), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own_data")
    data = write_export(tmp / "hospital_export.csv", n_admissions=3000, seed=0)
    name = f"own-data-test-{os.getpid()}"
    params = tmp / f"{name}.yaml"
    params.write_text(yaml.safe_dump(own_data_params(data), sort_keys=False))
    run_dir = ROOT / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    result = _run(["run", str(params)])
    yield run_dir, result
    if result.returncode == 0:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_fixture_looks_like_a_real_export(tmp_path):
    from helpers.loaders import load_admissions

    path = write_export(tmp_path / "export.csv", n_admissions=3000, seed=0)
    raw = pd.read_csv(path, dtype=str)
    assert "borough" not in raw.columns
    assert raw["note_text"].str.contains(MARKER).all()
    assert raw["note_text"].str.contains(PREDICTIVE_WORD).mean() > 0.1
    late = pd.to_datetime(raw["admit_date"]).dt.year >= 2021
    assert raw.loc[late, "note_text"].str.contains(EMERGING_WORD).mean() > 0.3
    assert not raw.loc[~late, "note_text"].str.contains(EMERGING_WORD).any()
    loaded = load_admissions(path)
    assert {"Unknown", "Other"} <= set(loaded["sex"]) and {"Other", "Unspecified"} <= set(loaded["insurance"])
    assert 0.08 <= loaded.loc[loaded["died_in_hospital"] == 0, "readmitted_30d"].mean() <= 0.16
    assert loaded["discharge_date"].dt.year.nunique() >= 5
    # seeded: the same call writes the same file
    again = write_export(tmp_path / "again.csv", n_admissions=3000, seed=0)
    assert path.read_bytes() == again.read_bytes()


def test_the_study_runs_on_own_data_to_its_book(own_run):
    run_dir, result = own_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    executed = sorted(p.stem for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed == chapters
    pages = list(run_dir.rglob("_build/html/index.html")) + list(run_dir.rglob("html/index.html"))
    assert pages, f"no rendered book under {run_dir}"
    source = pd.read_json(run_dir / "artifacts" / "01_data" / "source.json", typ="series")
    assert not bool(source["simulated"]) and not (run_dir / "artifacts" / "01_data" / "oracle.parquet").exists()


def test_no_note_text_outside_the_files_that_must_hold_it(own_run):
    run_dir, result = own_run
    assert result.returncode == 0, result.stderr[-3000:]
    # the check can fail: the cohort file does hold every one of the words
    cohort = _texts(run_dir / "artifacts" / "01_data" / "cohort.parquet").lower()
    assert all(word.encode() in cohort for word in LEAK_WORDS)
    assert leaks(run_dir) == []
    # nor in what the runner printed
    printed = (result.stdout + result.stderr).lower()
    assert not [word for word in LEAK_WORDS if word in printed]


def test_small_cells_are_suppressed_on_real_data(own_run):
    run_dir, result = own_run
    assert result.returncode == 0, result.stderr[-3000:]
    table1 = pd.read_csv(run_dir / "artifacts" / "01_data" / "table1_by_hospital.csv", index_col=0)
    # the fixture has 16 admissions of sex 'X' spread over hospitals: every one of their cells is under 11
    assert set(table1.loc["Sex: Other"]) <= {"<11", "0 (0.0%)"}
    counts = table1.drop(index=[i for i in table1.index if "median" in i or "mean" in i])
    for cell in counts.to_numpy().ravel():
        if cell != "<11":
            n = int(str(cell).split(" ")[0].replace(",", ""))
            assert n == 0 or n >= 11, cell
    executed = (run_dir / "notebooks" / "01_data.ipynb").read_text()
    assert "<11" in executed


def test_a_bad_data_file_leaves_no_artifacts(tmp_path):
    """A file the loader refuses stops chapter 1 before anything is written (here: latin-1, ';'-separated)."""
    data = write_export(tmp_path / "export.csv", n_admissions=300, seed=1, sep=";", encoding="latin-1")
    text = data.read_text(encoding="latin-1").replace("Riverside General", "Hôpital Riverside")
    data.write_bytes(text.encode("latin-1"))
    name = f"own-data-bad-{os.getpid()}"
    params = tmp_path / f"{name}.yaml"
    params.write_text(yaml.safe_dump({"global": {"seed": 0}, "notebooks": {"01_data": {
        "data_source": "file", "data_path": str(data), "temporal_test_year": 2022}}}))
    run_dir = ROOT / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        result = _run(["run", str(params), "--only", "01", "--no-book"], timeout=600)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "is not utf-8 text" in output and "csv_options: {encoding: latin-1}" in output
        artifacts = run_dir / "artifacts"
        assert not artifacts.exists() or not [p for p in artifacts.rglob("*") if p.is_file()]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# The privacy walk: every number of every executed notebook against the small-count rule
# ---------------------------------------------------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "tests"))
from privacy_walk import walk_notebook  # noqa: E402


def _notebook_with(tmp_path: Path, tables: list[pd.DataFrame], texts: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/html": t.to_html(), "text/plain": "table"},
                                           execution_count=1) for t in tables]
    cell.outputs += [nbformat.v4.new_output("display_data", {"application/papermill.record/text/plain": repr(t)})
                     for t in texts]
    nb.cells.append(cell)
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_walk_finds_every_kind_of_planted_leak_and_passes_a_clean_table(tmp_path):
    leaking = pd.DataFrame({"n": [7, 200, 40, 247], "readmissions": ["<11", 20, 12, 35],
                            "prevalence (%)": [14.3, 10.0, 30.0, 14.2]}, index=["A", "B", "C", "all"])
    table1 = pd.DataFrame({"A": ["5 (2.0%)", "300"], "B": ["<11", "40"], "Overall": ["9 (2.6%)", "340"]},
                          index=["Sex: Other", "Admissions"])
    found, n_tables = walk_notebook(_notebook_with(tmp_path, [leaking, table1], ["3 admissions < min 20"]))
    assert n_tables == 2
    kinds = sorted(f.split(": ", 1)[1].split(" ")[0] for f in found)
    # n = 7; a share beside the hidden count; a column total with one hidden cell; two 'n (%)' cells;
    # the Overall column with one hidden cell; the count in the text
    assert len([f for f in found if "count '7' in column 'n'" in f]) == 1, found
    assert any("share '14.3'" in f for f in found) and any("column 'readmissions' shows its total" in f
                                                           for f in found)
    assert len([f for f in found if "'n (%)' cell" in f]) == 2 and any("row 'Sex: Other' shows its total" in f
                                                                       for f in found)
    assert any("'3 admissions' in text" in f for f in found), kinds
    clean = pd.DataFrame({"n": ["<11", 200, "<11", 247], "readmissions": ["<11", 20, "<11", 35],
                          "prevalence (%)": ["", 10.0, "", 14.2]}, index=["A", "B", "C", "all"])
    assert walk_notebook(_notebook_with(tmp_path, [clean], ["<11 admissions < min 20", "2021 notes"]))[0] == []


def test_every_number_in_every_executed_notebook_keeps_the_small_count_rule(own_run):
    run_dir, result = own_run
    assert result.returncode == 0, result.stderr[-3000:]
    notebooks = sorted((run_dir / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    breaches, tables = [], 0
    for notebook in notebooks:
        found, n_tables = walk_notebook(notebook)
        breaches += found
        tables += n_tables
    assert tables >= 20  # the walk read the chapters' tables, not an empty page
    # the run does show hidden cells: the rule was applied, not merely satisfied by large numbers
    assert "&lt;11" in (run_dir / "notebooks" / "01_data.ipynb").read_text()
    assert breaches == [], "\n".join(breaches[:40])
