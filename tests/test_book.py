"""Staging the book's sources from a run: hidden parameter cells, chapters a run did not execute left out."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import yaml

from helpers.book import hide_parameter_cells, run_status_markdown, stage_book_sources
from helpers.artifacts import write_json

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_cells_are_tagged_for_removal():
    nb = nbformat.read(ROOT / "notebooks" / "01_data.ipynb", as_version=4)
    injected = nbformat.v4.new_code_cell("seed = 3")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    assert hide_parameter_cells(nb) == 2
    removed = [c for c in nb.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert [c.source for c in removed][1] == "seed = 3"
    assert hide_parameter_cells(nb) == 0  # idempotent


def test_a_run_with_only_the_data_chapter_stages_a_consistent_book(tmp_path):
    run_dir = tmp_path / "runs" / "partial"
    (run_dir / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_data.ipynb", run_dir / "notebooks" / "01_data.ipynb")
    write_json({"params_file": "params/partial.yaml", "python": "3.11",
                "notebooks": {"01_data": {"seconds": 12.5, "status": "ok", "parameters": {"seed": 4}}}},
               run_dir / "run_log.json")
    staging, dropped = stage_book_sources(run_dir, ROOT)
    assert dropped == ["notebooks/02_clinicllm"]
    toc = (staging / "_toc.yml").read_text()
    assert "notebooks/01_data" in toc and "02_clinicllm" not in toc
    assert yaml.safe_load(toc)["root"] == "book/intro"
    intro = (staging / "book" / "intro.md").read_text()
    assert "{doc}`../notebooks/02_clinicllm`" not in intro
    assert "{doc}`../notebooks/01_data`" in intro
    status = (staging / "book" / "reproducibility.md").read_text()
    assert "| 01_data | ok | 12.5 |" in status and "`seed=4`" in status
    staged = nbformat.read(staging / "notebooks" / "01_data.ipynb", as_version=4)
    params = [c for c in staged.cells if "parameters" in c.metadata.get("tags", [])][0]
    assert "remove-cell" in params.metadata["tags"]


def test_status_lists_versions():
    text = run_status_markdown(ROOT / "runs" / "does-not-exist")
    assert "| torch |" in text and "| transformers |" in text
