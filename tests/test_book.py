"""Staging the book's sources from a run: hidden parameter cells, chapters a run did not execute left out."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import book
from helpers.artifacts import write_json
from helpers.book import (
    hide_parameter_cells,
    papermill_commands_markdown,
    parameter_reference_markdown,
    run_status_markdown,
    stage_book_sources,
)
from helpers.project import parameters_cell_defaults, parameters_cell_meanings

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
    toc_notebooks = [c["file"] for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
                     for c in part["chapters"] if c["file"].startswith("notebooks/")]
    assert dropped == [f for f in toc_notebooks if f != "notebooks/01_data"]  # every chapter it did not execute
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


def _notebook_with_parameters(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    nbformat.write(nb, path)


def test_parameter_reference_is_read_from_the_parameters_cells_and_params_files(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params").mkdir()
    _notebook_with_parameters(tmp_path / "notebooks" / "01_a.ipynb", (
        'run_dir = "runs/x"\n'
        "seed = 0  # seed of every random choice\n"
        "# share of patients that go to training\n"
        "train_share = 0.8\n"
        "names = ['a', 'b']\n"))
    (tmp_path / "params" / "small.yaml").write_text("global:\n  seed: 3\nnotebooks:\n  01_a:\n    train_share: 0.5\n")
    text = parameter_reference_markdown(tmp_path)
    assert "### 01_a" in text
    assert '| `seed` | `0` | seed of every random choice |' in text
    assert '| `train_share` | `0.8` | share of patients that go to training |' in text
    assert '| `names` | `["a", "b"]` |  |' in text  # no comment: meaning left empty
    assert "| `params/small.yaml` | every notebook | `seed` | `3` |" in text
    assert "| `params/small.yaml` | 01_a | `train_share` | `0.5` |" in text
    commands = papermill_commands_markdown(tmp_path)
    assert "papermill notebooks/01_a.ipynb \\\n    runs/mine/notebooks/01_a.ipynb -p run_dir runs/mine" in commands


def test_parameter_reference_lists_every_simulator_knob_and_fails_loudly_when_the_knobs_cannot_be_read(
        tmp_path, monkeypatch):
    import helpers.simulator as simulator

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params").mkdir()
    _notebook_with_parameters(tmp_path / "notebooks" / "01_a.ipynb", 'run_dir = "runs/x"\n')
    text = parameter_reference_markdown(tmp_path)
    knobs = simulator.simulation_knobs()
    assert "| `drift_strength` | `1.0` |" in text
    assert sum(line.startswith("| `") for line in text.split("### Simulator knobs")[1].splitlines()) >= len(knobs)

    def broken():
        raise KeyError("doc")  # a knob declared without its documentation

    monkeypatch.setattr(simulator, "simulation_knobs", broken)
    with pytest.raises(KeyError, match="doc"):
        parameter_reference_markdown(tmp_path)


def test_parameters_cell_meanings_and_defaults_agree_with_the_source(tmp_path):
    path = tmp_path / "01_a.ipynb"
    _notebook_with_parameters(path, 'a = 1  # first\nb = {"k": 2}  # a mapping # with a hash\nc = "x#y"\n')
    assert parameters_cell_meanings(path) == {"a": "first", "b": "a mapping # with a hash"}
    assert parameters_cell_defaults(path) == {"a": 1, "b": {"k": 2}, "c": "x#y"}  # '#' in a string is no comment


def test_run_record_reports_the_run_machine_seeds_and_metrics_fingerprint(tmp_path):
    import hashlib

    run_dir = tmp_path / "runs" / "rec"
    run_dir.mkdir(parents=True)
    metrics = "notebook,metric,value\n01_data,auroc,0.7\n02_clinicllm,auroc,0.8\n"
    (run_dir / "metrics.csv").write_text(metrics)
    write_json({"params_file": "params/rec.yaml", "python": "3.11.7", "platform": "Linux",
                "git": {"commit": "abc123", "dirty": "no"},
                "machine": {"cpu": "Test CPU 9000", "cores": 2, "native_bf16": False, "gpu": "none"},
                "notebooks": {
                    "01_data": {"seconds": 12.5, "status": "ok", "finished": "2026-11-30 07:00:00",
                                "parameters": {"seed": 4, "run_dir": "runs/rec"}},
                    "02_clinicllm": {"seconds": 30.0, "status": "ok", "finished": "2026-11-30 07:01:00",
                                     "parameters": {"run_dir": "runs/rec"}}}},
               run_dir / "run_log.json")
    text = run_status_markdown(run_dir, ROOT)
    assert f"`{hashlib.sha256(metrics.encode()).hexdigest()}` (2 rows)" in text
    assert "| git commit | `abc123` (uncommitted changes: no) |" in text
    assert "| CPU | Test CPU 9000, 2 cores |" in text and "| native bfloat16 | no |" in text
    assert "| run date | 2026-11-30 07:00:00 to 2026-11-30 07:01:00 (machine time) |" in text
    # the seed given by the run, and the notebook's own default where the run did not set one
    default_seed = parameters_cell_defaults(ROOT / "notebooks" / "02_clinicllm.ipynb")["seed"]
    assert f"| seeds | 01_data: `4`, 02_clinicllm: `{default_seed}` |" in text
    assert "Total notebook time: 42 s" in text


def test_links_to_pages_outside_the_book_become_text(tmp_path):
    run_dir = tmp_path / "runs" / "partial"
    (run_dir / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_data.ipynb", run_dir / "notebooks" / "01_data.ipynb")
    staging, _ = stage_book_sources(run_dir, ROOT)
    checklist = (staging / "book" / "tripod_llm.md").read_text()
    assert "{doc}`../notebooks/01_data`" in checklist  # in the book: still a link
    assert "{doc}`../notebooks/05_mitigation`" not in checklist and "*05_mitigation (not in this run)*" in checklist
    assert "{doc}`own_data`" in checklist
    rerun = (staging / "book" / "how_to_rerun.md").read_text()
    assert "<!-- generated:" not in rerun and "### 01_data" in rerun  # the generated sections are filled in


def test_the_shipped_pages_use_every_generated_section():
    pages = {p.name: p.read_text() for p in (ROOT / "book").glob("*.md")}
    assert "<!-- generated: parameter-reference -->" in pages["how_to_rerun.md"]
    assert "<!-- generated: papermill-commands -->" in pages["how_to_rerun.md"]
    assert "<!-- generated: run-record -->" in pages["reproducibility.md"]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in ("book/how_to_rerun", "book/reproducibility", "book/tripod_llm", "book/glossary", "book/references"):
        assert page in files


def test_book_and_runner_do_not_import_each_other():
    for module, other in (("book", "runner"), ("runner", "book")):
        source = (ROOT / "src" / "helpers" / f"{module}.py").read_text()
        top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        assert not any(f"helpers.{other}" in line or f"import {other}" in line for line in top_level), module
    book_source = (ROOT / "src" / "helpers" / "book.py").read_text()
    assert "helpers.runner" not in book_source  # not even inside a function


def test_a_notebook_whose_last_run_did_not_finish_is_left_out_of_the_book(tmp_path):
    run_dir = tmp_path / "runs" / "broken"
    (run_dir / "notebooks").mkdir(parents=True)
    for name in ("01_data", "02_clinicllm"):
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", run_dir / "notebooks" / f"{name}.ipynb")
    write_json({"notebooks": {"01_data": {"status": "ok"}, "02_clinicllm": {"status": "failed"}}},
               run_dir / "run_log.json")
    staging, dropped = stage_book_sources(run_dir, ROOT)
    assert (staging / "notebooks" / "01_data.ipynb").exists()
    assert not (staging / "notebooks" / "02_clinicllm.ipynb").exists() and "notebooks/02_clinicllm" in dropped


# ---------------------------------------------------------------- the reference pages agree with the code


def _glossary_entry(term: str) -> str:
    text = (ROOT / "book" / "glossary.md").read_text()
    start = text.index(f"\n{term}\n:")
    end = text.find("\n\n", start + 1)
    return " ".join(text[start:end].split())


def test_glossary_states_the_configuration_the_run_uses():
    from helpers import disparities, schema, summary
    from helpers.clinicllm import ClinicLLMConfig

    config = ClinicLLMConfig()
    assert f"`classifier_input: {config.classifier_input}`" in _glossary_entry("CLS token")
    assert f"hide {100 * config.mlm_probability:.0f} % of the tokens" in _glossary_entry(
        "Masked-language modelling (MLM)")
    assert f"$c = {config.window_pooling_c:g}$" in _glossary_entry("ClinicalBERT windows")
    resolved = config.resolved()
    assert f"`window_pooling: {resolved.window_pooling}`, the default" in _glossary_entry("Note-level pooling")
    cap = resolved.train_windows_per_note
    assert ("every window of each note (the tiny preset" if cap is None
            else f"(the tiny preset: `train_windows_per_note: {cap}`)") in _glossary_entry("Note-level pooling")
    year = parameters_cell_defaults(ROOT / "notebooks" / "01_data.ipynb")["temporal_test_year"]
    assert f"({year} by default)" in _glossary_entry("Temporal test")
    edges = schema.COMORBIDITY_LEVEL_EDGES  # index 0 | 1-2 | 3-4 | 5 or more
    assert (f"1 (index {edges[0]}), 2 ({edges[1]}-{edges[2] - 1}), 3 ({edges[2]}-{edges[3] - 1}) and 4 "
            f"({edges[3]} or more)") in _glossary_entry("Comorbidity index and level")
    from helpers.privacy import THRESHOLD

    assert f"under {THRESHOLD} patients" in _glossary_entry("Small-cell suppression")
    assert f"= {summary.MDE_FACTOR:.1f} standard errors" in _glossary_entry("Minimum detectable difference")
    assert disparities.MULTIPLE_TESTING_METHOD == "holm" and "Holm's correction" in _glossary_entry(
        "Harder data and model failure")
    assert f"below {disparities.SHORTFALL_ALPHA:g}" in _glossary_entry("Harder data and model failure")
    for verdict in summary.VERDICTS:
        assert f"*{verdict}*" in _glossary_entry("Verdict (chapter 6)")
    # chapter 5's strategies continue from the global checkpoint, as the glossary says of local fine-tuning
    from helpers.mitigation import strategies

    assert "from the **global checkpoint**" in strategies.__doc__
    assert "continues from the global model's checkpoint" in _glossary_entry("Fine-tuning, local")


def test_references_and_chapter_two_cite_clinicalbert_with_the_same_year():
    chapter2 = (ROOT / "notebooks" / "02_clinicllm.ipynb").read_text()
    year = re.search(r"Huang et al\., (\d{4})", chapter2).group(1)
    assert f"Huang, K., Altosaar, J., Ranganath, R. ({year})" in (ROOT / "book" / "references.md").read_text()
    assert f"Ranganath, {year})" in _glossary_entry("ClinicalBERT windows")


# ---------------------------------------------------------------- plumbing hidden, chapter 2's warning carried


def _executed(source: str, outputs: list) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = outputs
    return cell


def test_plumbing_cells_lose_their_code_and_cells_that_show_a_result_keep_it():
    record = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "'0.7'"},
                                    metadata={"scrapbook": {"name": "x"}})
    table = nbformat.v4.new_output("execute_result", data={"text/html": "<table></table>", "text/plain": "t"})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"),
                _executed('glue("x", "0.7", display=False)', [record]),          # glue only: gone
                _executed('rows = f()\nglue("y", 1, display=False)\ntable(rows)', [record, table]),  # code gone
                _executed("import pandas as pd\npaths = P()", []),                # shows nothing: folded
                _executed("disparities.subgroup_table(rows)", [table])]           # teaches: untouched
    assert book.tag_plumbing_cells(nb) == {"remove-cell": 1, "remove-input": 1, "hide-input": 1}
    assert [c.metadata.get("tags", []) for c in nb.cells[1:]] == [["remove-cell"], ["remove-input"],
                                                                   ["hide-input"], []]


def _weak_model_predictions(global_signal: float) -> "pd.DataFrame":
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.2).astype(int)
    frames = []
    for experiment, signal in (("global", global_signal), ("tfidf_lr", 1.5)):
        frames.append(pd.DataFrame({"admission_id": [f"A{i}" for i in range(n)], "patient_id": [f"P{i}" for i in
                                                                                                 range(n)],
                                    "hospital": "Hospital 1", "split": "validation",
                                    "model": {"global": "clinicllm"}.get(experiment, experiment), "y_true": y,
                                    "y_score": 1 / (1 + np.exp(-(y * signal + rng.normal(0, 1, n)))),
                                    "experiment": experiment}))
    return pd.concat(frames, ignore_index=True)


def test_chapter_twos_warning_heads_chapters_3_to_6_when_it_fires(tmp_path):
    for signal, fires in ((0.3, True), (1.5, False)):
        run_dir = tmp_path / f"signal-{signal}" / "runs" / "weak"
        (run_dir / "notebooks").mkdir(parents=True)
        (run_dir / "artifacts" / "02_clinicllm").mkdir(parents=True)
        _weak_model_predictions(signal).to_parquet(run_dir / "artifacts" / "02_clinicllm" /
                                                   "predictions_02_clinicllm.parquet")
        names = ["01_data", "02_clinicllm", "03_disparities", "04_feature_analysis", "05_mitigation", "06_summary"]
        for name in names:
            shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", run_dir / "notebooks" / f"{name}.ipynb")
        staging, _ = stage_book_sources(run_dir, ROOT)
        for name in names:
            cells = nbformat.read(staging / "notebooks" / f"{name}.ipynb", as_version=4).cells
            boxes = [i for i, c in enumerate(cells) if "learning-warning" in c.metadata.get("tags", [])]
            carries = fires and name not in ("01_data", "02_clinicllm")
            assert boxes == ([1] if carries else []), (name, signal)
            if carries:
                assert cells[0].source.startswith("# ")  # right below the chapter's title
                assert cells[1].source.startswith(":::{warning} ClinicLLM learned little in this run")
                assert "{doc}`02_clinicllm`" in cells[1].source


def test_the_carried_learning_warning_is_the_same_cell_at_every_build():
    """The box is staged anew at every book build; the book's key hashes the staged notebooks, so the box must not
    carry a random cell id (a reused run re-rendered its book whenever chapter 2's model failed its check)."""
    def staged() -> nbformat.NotebookNode:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 3. Disparities"),
                                                  nbformat.v4.new_code_cell("1 + 1")])
        assert book.carry_learning_warning(notebook, "```{warning}\nweak model\n```")
        return notebook

    first, second = staged(), staged()
    assert first.cells[1].source == "```{warning}\nweak model\n```"
    assert first.cells[1].metadata["tags"] == ["learning-warning"]
    assert first.cells[1].id == second.cells[1].id  # (the test's own cells get random ids; the box must not)
