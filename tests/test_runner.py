"""The runner: parameter merging and validation, and what it does when a notebook fails."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import runner
from helpers.runner import NotebookSpec, ParameterError, parse_set_option, resolve_parameters


def _specs() -> list[NotebookSpec]:
    return [
        NotebookSpec(Path("notebooks/01_data.ipynb"), {"run_dir": "runs/x", "seed": 0, "n_admissions": 100,
                                                       "rate": 0.5, "flag": True, "mapping": {}, "path": ""}),
        NotebookSpec(Path("notebooks/02_model.ipynb"), {"run_dir": "runs/x", "seed": 0, "max_length": 128,
                                                        "pretrained_path": None}),
    ]


def test_global_keys_go_only_to_notebooks_that_declare_them():
    resolved = resolve_parameters({"global": {"seed": 7, "max_length": 64}}, _specs())
    assert resolved["01_data"] == {"seed": 7}
    assert resolved["02_model"] == {"seed": 7, "max_length": 64}


def test_notebook_section_overrides_global_and_accepts_number_prefix():
    raw = {"global": {"seed": 7}, "notebooks": {"01": {"seed": 3, "n_admissions": 50}}}
    resolved = resolve_parameters(raw, _specs())
    assert resolved["01_data"] == {"seed": 3, "n_admissions": 50}
    assert resolved["02_model"] == {"seed": 7}


def test_set_overrides_beat_the_file():
    raw = {"global": {"seed": 7}, "notebooks": {"01_data": {"n_admissions": 50}}}
    resolved = resolve_parameters(raw, _specs(), overrides=["seed=9", "01.n_admissions=75", "02.max_length=32"])
    assert resolved["01_data"] == {"seed": 9, "n_admissions": 75}
    assert resolved["02_model"] == {"seed": 9, "max_length": 32}


def test_unknown_key_is_refused_with_the_valid_keys():
    with pytest.raises(ParameterError) as err:
        resolve_parameters({"notebooks": {"01_data": {"n_admission": 5}}}, _specs())
    message = str(err.value)
    assert "'n_admission'" in message and "01_data" in message
    assert "n_admissions" in message and "max_length" in message  # the list of valid keys


def test_unknown_global_key_is_refused():
    with pytest.raises(ParameterError, match="unknown parameter 'sead'"):
        resolve_parameters({"global": {"sead": 1}}, _specs())


@pytest.mark.parametrize(
    "key,value",
    [("n_admissions", "many"), ("n_admissions", 1.5), ("flag", 1), ("rate", "half"), ("mapping", [1]),
     ("path", 3), ("n_admissions", True)],
)
def test_wrong_type_is_refused(key, value):
    with pytest.raises(ParameterError, match=f"parameter '{key}'"):
        resolve_parameters({"notebooks": {"01_data": {key: value}}}, _specs())


def test_int_is_accepted_for_a_float_and_anything_for_a_none_default():
    resolved = resolve_parameters(
        {"notebooks": {"01_data": {"rate": 1}, "02_model": {"pretrained_path": "/models/bert"}}}, _specs()
    )
    assert resolved["01_data"]["rate"] == 1
    assert resolved["02_model"]["pretrained_path"] == "/models/bert"


def test_run_dir_cannot_be_set_and_unknown_sections_or_notebooks_are_refused():
    with pytest.raises(ParameterError, match="run_dir"):
        resolve_parameters({"global": {"run_dir": "elsewhere"}}, _specs())
    with pytest.raises(ParameterError, match="top-level"):
        resolve_parameters({"globals": {"seed": 1}}, _specs())
    with pytest.raises(ParameterError, match="unknown notebook '07'"):
        resolve_parameters({"notebooks": {"07": {"seed": 1}}}, _specs())


def test_set_option_parsing():
    assert parse_set_option("seed=7") == (None, "seed", 7)
    assert parse_set_option("02.max_length=128") == ("02", "max_length", 128)
    assert parse_set_option("01_data.column_map={a: b}") == ("01_data", "column_map", {"a": "b"})
    assert parse_set_option("01.split_fractions=[0.7, 0.15, 0.15]")[2] == [0.7, 0.15, 0.15]
    with pytest.raises(ParameterError, match="key=value"):
        parse_set_option("seed")


def _write_notebook(path: Path, parameters: str, body: list[str]) -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# test"), params] + [new_code_cell(src) for src in body]
    nbformat.write(nb, path)


def test_parameters_cell_must_hold_literals(tmp_path):
    path = tmp_path / "01_x.ipynb"
    _write_notebook(path, "seed = 0\nn = seed + 1", [])
    with pytest.raises(ParameterError, match="non-literal default"):
        runner.parameters_cell_defaults(path)
    _write_notebook(path, "seed = 0\nname = 'a'\nsizes = [1, 2]", [])
    assert runner.parameters_cell_defaults(path) == {"seed": 0, "name": "a", "sizes": [1, 2]}


@pytest.fixture()
def tiny_project(tmp_path):
    """A project with two notebooks, the second failing at its third code cell."""
    (tmp_path / "notebooks").mkdir()
    _write_notebook(
        tmp_path / "notebooks" / "01_first.ipynb",
        'run_dir = "runs/x"\nseed = 0',
        ["from pathlib import Path\nPath(run_dir, 'first.txt').write_text(str(seed))"],
    )
    _write_notebook(
        tmp_path / "notebooks" / "02_second.ipynb",
        'run_dir = "runs/x"\nseed = 0\nboom = False',
        ["x = 1", "if boom:\n    raise ValueError('the planted failure')", "Path = None"],
    )
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "t.yaml").write_text(textwrap.dedent("""
        global:
          seed: 5
    """))
    return tmp_path


@pytest.mark.slow
def test_failure_names_notebook_cell_and_error_and_keeps_partial_notebook(tiny_project):
    plan = runner.plan_run(tiny_project / "params" / "t.yaml", overrides=["02.boom=true"],
                           runs_root=tiny_project / "runs", root=tiny_project)
    html = tiny_project / "runs" / "t" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("old book")
    with pytest.raises(runner.RunFailed) as err:
        runner.run_study(tiny_project / "params" / "t.yaml", overrides=["02.boom=true"],
                         runs_root=tiny_project / "runs", root=tiny_project)
    message = str(err.value)
    assert "02_second" in message and "cell 4" in message and "if boom" in message
    assert "ValueError" in message and "the planted failure" in message
    partial = plan.root / plan.run_dir / "notebooks" / "02_second.ipynb"
    assert partial.exists()
    assert (tiny_project / "runs" / "t" / "first.txt").read_text() == "5"  # the first notebook ran, with seed 5
    assert not html.exists()  # no stale book survives a failed run
    log = json.loads((tiny_project / "runs" / "t" / "run_log.json").read_text())
    assert log["notebooks"]["01_first"]["status"] == "ok"
    assert log["notebooks"]["02_second"]["status"] == "failed"


def test_cli_refuses_a_bad_key_before_running_anything(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebooks:\n  01_data:\n    n_admision: 10\n")
    assert runner.main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'n_admision'" in err and "n_admissions" in err
    assert not (runner.project_root() / "runs" / "bad").exists()
