"""The runner: parameter merging and validation, and what it does when a notebook fails."""

from __future__ import annotations

import json
import os
import platform
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import run_lock, runner
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


def _write_notebook(path: Path, parameters: str, body: list[str], reads: list[str] | None = None) -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if reads is not None:
        nb.metadata["study"] = {"reads": reads}
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
        ["from pathlib import Path\nPath(run_dir, 'first.txt').write_text(str(seed))\n"
         "Path(run_dir, 'artifacts').mkdir(exist_ok=True)\nPath(run_dir, 'artifacts', 'first.csv').write_text(str(seed))"],
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


# --- bad input at the runner: each message names the problem and the fix, and nothing is written ---------------


def test_missing_params_file_names_the_shipped_files(tmp_path):
    with pytest.raises(ParameterError) as err:
        runner.plan_run(tmp_path / "nope.yaml", runs_root=tmp_path / "runs")
    message = str(err.value)
    assert "nope.yaml not found" in message
    assert "params/default.yaml" in message and "params/smoke.yaml" in message
    assert not (tmp_path / "runs").exists()


def test_a_folder_or_broken_yaml_is_refused_with_where_and_how(tmp_path):
    with pytest.raises(ParameterError, match="is a folder, not a file"):
        runner.load_params_file(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("notebooks:\n  01_data:\n    n_admissions: 10\n   seed: 1\n")
    with pytest.raises(ParameterError) as err:
        runner.load_params_file(broken)
    assert "not valid YAML at line 4" in str(err.value) and "params/default.yaml" in str(err.value)
    listed = tmp_path / "list.yaml"
    listed.write_text("- seed: 1\n")
    with pytest.raises(ParameterError, match="expected a mapping with 'global:' and 'notebooks:'"):
        runner.load_params_file(listed)


def test_mistyped_key_suggests_the_closest_one_and_a_key_of_another_notebook_says_where_it_belongs():
    with pytest.raises(ParameterError) as err:
        resolve_parameters({"notebooks": {"01_data": {"n_admisions": 5}}}, _specs())
    assert "Did you mean 'n_admissions'?" in str(err.value)
    with pytest.raises(ParameterError) as err:
        resolve_parameters({"notebooks": {"01": {"max_length": 64}}}, _specs())
    assert "unknown parameter 'max_length' for notebook 01_data. It belongs to 02_model." in str(err.value)
    with pytest.raises(ParameterError, match="Did you mean 'seed'"):
        resolve_parameters({}, _specs(), overrides=["sed=3"])


def test_wrong_type_message_says_how_to_write_the_value():
    with pytest.raises(ParameterError) as err:
        resolve_parameters({"notebooks": {"01_data": {"n_admissions": "3000"}}}, _specs())
    message = str(err.value)
    assert "must be int like its default 100, got str '3000'" in message
    assert "a number without quotes" in message
    with pytest.raises(ParameterError, match="true or false"):
        resolve_parameters({}, _specs(), overrides=["01.flag=yes please"])


def test_a_section_that_is_not_a_mapping_is_refused():
    with pytest.raises(ParameterError, match="'global:' section must be a mapping"):
        resolve_parameters({"global": ["seed", 1]}, _specs())
    with pytest.raises(ParameterError, match="notebooks.01_data must be a mapping"):
        resolve_parameters({"notebooks": {"01_data": 5}}, _specs())


def test_cli_messages_for_missing_file_and_wrong_type(tmp_path, capsys):
    assert runner.main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml not found" in capsys.readouterr().err
    bad = tmp_path / "typed.yaml"
    bad.write_text("notebooks:\n  01_data:\n    n_admissions: many\n")
    assert runner.main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "parameter 'n_admissions' (01_data; " in err and "typed.yaml) must be int" in err and "got str 'many'" in err
    assert not (runner.project_root() / "runs" / "typed").exists()
    assert not (runner.project_root() / "runs" / "missing").exists()


# --- resume and reuse -------------------------------------------------------------------------------------------


def _run(project: Path, *overrides: str, force: bool = False) -> runner.RunOutcome:
    plan = runner.plan_run(project / "params" / "t.yaml", overrides=list(overrides), runs_root=project / "runs",
                           root=project, force=force)
    return runner.execute_plan(plan)


@pytest.mark.slow
def test_a_second_run_reuses_finished_notebooks_and_a_change_reruns_only_what_depends_on_it(tiny_project, capsys):
    first = _run(tiny_project)
    assert set(first.executed) == {"01_first", "02_second"} and first.reused == []
    written = tiny_project / "runs" / "t" / "first.txt"
    stamp = written.stat().st_mtime_ns

    again = _run(tiny_project)
    assert again.executed == {} and again.reused == ["01_first", "02_second"]
    out = capsys.readouterr().out
    assert "01_first: reused, unchanged since" in out and "reused 2 finished notebook(s)" in out
    assert written.stat().st_mtime_ns == stamp  # the first notebook really did not run

    only_second = _run(tiny_project, "02.boom=false", "02.seed=9")  # a parameter of notebook 02 only
    assert list(only_second.executed) == ["02_second"] and only_second.reused == ["01_first"]

    upstream = _run(tiny_project, "01.seed=6", "02.seed=9")  # notebook 01 changes, so 02 (downstream) runs too
    assert list(upstream.executed) == ["01_first", "02_second"]
    assert written.read_text() == "6"

    log_lines = (tiny_project / "runs" / "t" / "log.txt").read_text()
    assert "02_second: running (its parameters, notebook, helpers or upstream inputs changed" in log_lines

    forced = _run(tiny_project, "01.seed=6", "02.seed=9", force=True)
    assert list(forced.executed) == ["01_first", "02_second"]


@pytest.mark.slow
def test_an_interrupted_or_damaged_notebook_is_executed_again(tiny_project):
    _run(tiny_project)
    run_dir = tiny_project / "runs" / "t"
    log = json.loads((run_dir / "run_log.json").read_text())
    assert log["notebooks"]["01_first"]["outputs"] == ["artifacts/first.csv"]  # what it wrote under artifacts/
    # a run killed during 02 leaves it marked "running"
    log["notebooks"]["02_second"]["status"] = "running"
    (run_dir / "run_log.json").write_text(json.dumps(log))
    resumed = _run(tiny_project)
    assert resumed.reused == ["01_first"] and list(resumed.executed) == ["02_second"]
    # the executed copy of a finished notebook is gone: run it again (and so its downstream notebook)
    (run_dir / "notebooks" / "01_first.ipynb").unlink()
    again = _run(tiny_project)
    assert list(again.executed) == ["01_first"] and again.reused == ["02_second"]
    # an edited notebook is stale, and so is everything after it
    nb = nbformat.read(tiny_project / "notebooks" / "01_first.ipynb", as_version=4)
    nb.cells.append(new_code_cell("y = 2"))
    nbformat.write(nb, tiny_project / "notebooks" / "01_first.ipynb")
    edited = _run(tiny_project)
    assert list(edited.executed) == ["01_first", "02_second"]
    # a file a finished notebook wrote is gone: run that notebook again
    (run_dir / "artifacts" / "first.csv").unlink()
    repaired = _run(tiny_project)
    assert list(repaired.executed) == ["01_first"] and (run_dir / "artifacts" / "first.csv").exists()


def test_notebook_key_depends_on_parameters_source_helpers_and_upstream(tmp_path):
    path = tmp_path / "01_x.ipynb"
    _write_notebook(path, "seed = 0", [])
    spec = NotebookSpec(path, {"seed": 0, "run_dir": "runs/x"})
    base = runner.notebook_key(spec, {"seed": 0, "run_dir": "runs/a"}, "h", {"00": "k"})
    assert base == runner.notebook_key(spec, {"seed": 0, "run_dir": "runs/b"}, "h", {"00": "k"})  # run_dir not
    assert base != runner.notebook_key(spec, {"seed": 1, "run_dir": "runs/a"}, "h", {"00": "k"})
    assert base != runner.notebook_key(spec, {"seed": 0, "run_dir": "runs/a"}, "h2", {"00": "k"})
    assert base != runner.notebook_key(spec, {"seed": 0, "run_dir": "runs/a"}, "h", {"00": "k2"})
    _write_notebook(path, "seed = 0", ["x = 1"])
    assert base != runner.notebook_key(spec, {"seed": 0, "run_dir": "runs/a"}, "h", {"00": "k"})


def test_helpers_hash_ignores_the_runner_but_not_the_study_helpers(tmp_path):
    helpers = tmp_path / "src" / "helpers"
    (helpers / "sub").mkdir(parents=True)
    (helpers / "runner.py").write_text("a")
    (helpers / "cohort.py").write_text("b")
    (helpers / "sub" / "x.py").write_text("c")
    base = runner.helpers_source_hash(tmp_path)
    (helpers / "runner.py").write_text("changed")
    assert runner.helpers_source_hash(tmp_path) == base
    (helpers / "sub" / "x.py").write_text("changed")
    assert runner.helpers_source_hash(tmp_path) != base


@pytest.mark.slow
def test_a_notebook_reruns_only_when_a_notebook_it_declares_reran(tiny_project):
    # 03 declares 01 and reads its file without naming it (as a helper would); 04 declares that it reads nothing,
    # though its code names '01_first'; 02 declares nothing, so it is taken to read every earlier notebook
    _write_notebook(tiny_project / "notebooks" / "03_third.ipynb", 'run_dir = "runs/x"\nseed = 0',
                    ["from pathlib import Path\nsources = list(Path(run_dir, 'artifacts').glob('*.csv'))"],
                    reads=["01_first"])
    _write_notebook(tiny_project / "notebooks" / "04_fourth.ipynb", 'run_dir = "runs/x"',
                    ["label = '01_first'"], reads=[])
    specs = {nb.name: nb for nb in runner.discover_notebooks(tiny_project)}
    names = list(specs)
    assert runner.upstream_notebooks(specs["03_third"], names[:2]) == ["01_first"]
    assert runner.upstream_notebooks(specs["02_second"], names[:1]) == ["01_first"]
    assert runner.upstream_notebooks(specs["04_fourth"], names[:3]) == []

    first = _run(tiny_project)
    assert list(first.executed) == names
    changed_02 = _run(tiny_project, "02.seed=8")
    assert list(changed_02.executed) == ["02_second"] and changed_02.reused == ["01_first", "03_third", "04_fourth"]
    changed_01 = _run(tiny_project, "02.seed=8", "01.seed=2")
    assert list(changed_01.executed) == ["01_first", "02_second", "03_third"] and changed_01.reused == ["04_fourth"]


def test_a_notebook_can_declare_only_earlier_notebooks(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "01_a.ipynb", 'run_dir = "runs/x"', [], reads=["02_b"])
    _write_notebook(tmp_path / "notebooks" / "02_b.ipynb", 'run_dir = "runs/x"', [], reads=["01_a"])
    with pytest.raises(ParameterError, match=r"01_a.ipynb: it declares that it reads \['02_b'\].*earlier ones: none"):
        runner.discover_notebooks(tmp_path)
    _write_notebook(tmp_path / "notebooks" / "01_a.ipynb", 'run_dir = "runs/x"', [], reads="02_b")
    with pytest.raises(ParameterError, match="must be a list of notebook names"):
        runner.discover_notebooks(tmp_path)


def test_a_bare_two_digit_notebook_label_works_although_yaml_reads_it_as_a_number():
    raw = yaml.safe_load("notebooks:\n  01:\n    n_admissions: 50\n  02:\n    max_length: 32\n")
    assert list(raw["notebooks"]) == [1, 2]  # what YAML makes of `01:`
    resolved = resolve_parameters(raw, _specs())
    assert resolved["01_data"] == {"n_admissions": 50} and resolved["02_model"] == {"max_length": 32}


def test_a_field_of_a_mapping_parameter_is_pointed_to_its_mapping():
    with pytest.raises(ParameterError) as err:
        resolve_parameters({}, runner.discover_notebooks(runner.project_root()), overrides=["02.bf16=true"])
    message = str(err.value)
    assert message.startswith("--set: unknown parameter 'bf16' for notebook 02_clinicllm.")
    assert "--set '02.clinicllm_options={bf16: ...}'" in message
    with pytest.raises(ParameterError, match=r"--set '01.simulation=\{drift_strength: \.\.\.\}'"):
        resolve_parameters({}, runner.discover_notebooks(runner.project_root()), overrides=["drift_strength=2"])


@pytest.mark.slow
def test_kernels_get_a_fixed_string_hash_salt(tiny_project):
    """Iterating a set of strings must give the same order in every run (see runner.HASH_SEED)."""
    import os
    import subprocess
    import sys

    _write_notebook(tiny_project / "notebooks" / "03_hash.ipynb", 'run_dir = "runs/x"',
                    ["from pathlib import Path\nPath(run_dir, 'hash.txt').write_text(str(hash('clinicllm')))"])
    expected = subprocess.run([sys.executable, "-c", "print(hash('clinicllm'))"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", runner.HASH_SEED)},
                              check=True).stdout.strip()
    plan = runner.plan_run(tiny_project / "params" / "t.yaml", only=["03"], runs_root=tiny_project / "runs",
                           root=tiny_project)
    runner.execute_plan(plan)
    assert (tiny_project / "runs" / "t" / "hash.txt").read_text() == expected


def test_progress_lines_a_kernel_appends_to_the_log_are_echoed_to_the_terminal(tmp_path, capsys):
    log_file = tmp_path / "log.txt"
    log_file.write_text("07:00:00 an earlier line, not echoed again\n")
    with runner._echo_new_log_lines(log_file, every_seconds=0.05):
        with open(log_file, "a") as handle:
            handle.write("07:00:01 pretraining: step 10/40 (25 %), 3 s\n07:00:02 half a li")
        time.sleep(0.3)
        with open(log_file, "a") as handle:
            handle.write("ne\n")
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["    07:00:01 pretraining: step 10/40 (25 %), 3 s", "    07:00:02 half a line"]


# ---------------------------------------------------------------------------------------------------------------
# One run per run folder
# ---------------------------------------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from helpers.runner import run_folder_lock
with run_folder_lock(sys.argv[1], command="holder"):
    print("held", flush=True)
    time.sleep(120)
"""


def _start_holder(run_dir: Path):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_live_lock_refuses_a_second_user_at_once_naming_the_process(tmp_path):
    run_dir = tmp_path / "runs" / "mine"
    holder = _start_holder(run_dir)
    try:
        lock = json.loads((run_dir / runner.LOCK_NAME).read_text())
        assert lock["pid"] == holder.pid and lock["command"] == "holder"
        started = time.perf_counter()
        with pytest.raises(runner.RunFolderInUse) as refused:
            with runner.run_folder_lock(run_dir):
                pytest.fail("the block must not run while another process holds the folder")
        assert time.perf_counter() - started < 5
        message = str(refused.value)
        assert f"process {holder.pid}" in message and "in use by another run" in message
        assert f"kill {holder.pid}" in message and "Fix:" in message
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed (no clean exit): its lock is stale, detected and replaced
    assert (run_dir / runner.LOCK_NAME).exists()
    with runner.run_folder_lock(run_dir):
        assert json.loads((run_dir / runner.LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (run_dir / runner.LOCK_NAME).exists()


def test_a_lock_is_released_when_the_block_fails_and_a_reused_pid_is_stale(tmp_path, capsys):
    run_dir = tmp_path / "r"
    with pytest.raises(ValueError, match="inside"):
        with runner.run_folder_lock(run_dir):
            raise ValueError("inside")
    assert not (run_dir / runner.LOCK_NAME).exists()
    # a lock naming a live process (this one's parent) but another start time: the pid was reused, so it is stale
    (run_dir / runner.LOCK_NAME).write_text(json.dumps({
        "pid": os.getppid(), "host": platform.node(), "process_start": "0", "started": "2020-01-01 00:00:00"}))
    with runner.run_folder_lock(run_dir):
        pass
    assert f"removed a stale lock on {run_dir}: process {os.getppid()}" in capsys.readouterr().err
    # the same lock with the parent's true start time is live
    (run_dir / runner.LOCK_NAME).write_text(json.dumps({
        "pid": os.getppid(), "host": platform.node(), "process_start": run_lock._process_start(os.getppid())}))
    with pytest.raises(runner.RunFolderInUse):
        with runner.run_folder_lock(run_dir):
            pass


@pytest.mark.slow
def test_a_second_concurrent_run_of_the_same_parameters_file_is_refused_through_the_cli(tmp_path):
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "clinicllm-study"
    params = tmp_path / f"lock-test-{os.getpid()}.yaml"
    params.write_text(yaml.safe_dump({"notebooks": {"01_data": {"n_admissions": 1500}}}))
    runs = tmp_path / "runs"
    first = subprocess.Popen([str(cli), "run", str(params), "--only", "01", "--no-book", "--runs-root", str(runs)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = runs / params.stem / runner.LOCK_NAME
        deadline = time.time() + 60
        while not lock.exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert lock.exists(), "the first run never took the lock"
        second = subprocess.run([str(cli), "run", str(params), "--only", "01", "--no-book", "--runs-root",
                                 str(runs)], capture_output=True, text=True, timeout=300)
        assert second.returncode == runner.EXIT_LOCKED, second.stderr
        # refused at once: it executed nothing, and did not wait for the first run to end
        assert "running" not in second.stdout and first.poll() is None
        first_line = second.stderr.strip().splitlines()[0]
        assert f"is in use by another run: process {first.pid}" in first_line
    finally:
        first.terminate()
        first.wait(timeout=60)
    # terminated, the first run unwound and released its lock
    assert first.returncode == 130 and not lock.exists()


# --------------------------------------------------------------------------------------------------------------
# Plan-time checks of None defaults and of the mapping parameters' contents (helpers.parameter_checks)
# --------------------------------------------------------------------------------------------------------------


def _resolve_real(*overrides: str) -> dict:
    return resolve_parameters({}, runner.discover_notebooks(runner.project_root()), overrides=list(overrides))


def test_every_parameter_with_a_none_default_has_a_declared_type():
    from helpers.parameter_checks import NULLABLE_PARAMETER_TYPES

    nullable = {key for nb in runner.discover_notebooks(runner.project_root())
                for key, default in nb.defaults.items() if default is None}
    assert nullable, "the notebooks have parameters with a None default; this test must see them"
    assert nullable <= set(NULLABLE_PARAMETER_TYPES), sorted(nullable - set(NULLABLE_PARAMETER_TYPES))


def test_a_none_default_takes_null_or_its_declared_type_and_refuses_text():
    resolved = _resolve_real("02.max_length=null", "02.vocab_size=500", "02.finetune_epochs=1")
    assert resolved["02_clinicllm"]["max_length"] is None and resolved["02_clinicllm"]["vocab_size"] == 500
    assert resolved["02_clinicllm"]["finetune_epochs"] == 1
    with pytest.raises(ParameterError) as err:
        _resolve_real("02.max_length='128'")
    assert "parameter 'max_length' (02_clinicllm; --set) must be int or null" in str(err.value)
    assert "e.g. 128" in str(err.value)
    with pytest.raises(ParameterError, match="'finetune_epochs'.*must be float or null.*got bool True"):
        _resolve_real("02.finetune_epochs=true")
    with pytest.raises(ParameterError, match="'n_bootstrap'.*must be int like its default"):
        _resolve_real("05.n_bootstrap=null")


def test_simulation_knobs_are_checked_for_name_type_and_range_before_anything_runs():
    assert _resolve_real("01.simulation={drift_strength: 2}")["01_data"]["simulation"] == {"drift_strength": 2}
    with pytest.raises(ParameterError) as err:
        _resolve_real("01.simulation={drift_strenght: 2.0}")
    assert "parameter 'simulation' (01_data; --set) has the unknown key 'drift_strenght'." in str(err.value)
    assert "Did you mean 'drift_strength'?" in str(err.value)
    with pytest.raises(ParameterError, match="simulation.*drift_strength must be float, got str 'high'"):
        _resolve_real("01.simulation={drift_strength: high}")
    with pytest.raises(ParameterError, match=r"parameter 'simulation' \(01_data; --set\): SimulationConfig\.drift_"):
        _resolve_real("01.simulation={drift_strength: -3.0}")
    with pytest.raises(ParameterError, match="SimulationConfig.n_admissions"):
        _resolve_real("01.n_admissions=-5")
    # a value from a params file is traced to the file
    with pytest.raises(ParameterError, match=r"'simulation' \(01_data; params/mine.yaml\): SimulationConfig\.drift"):
        resolve_parameters({"notebooks": {"01": {"simulation": {"drift_strength": -3.0}}}},
                           runner.discover_notebooks(runner.project_root()), where="params/mine.yaml")
    # not simulated: the knobs are not used, so they are not judged
    _resolve_real("01.data_source=file", "01.simulation={drift_strength: -3.0}")


def test_clinicllm_options_are_checked_against_the_configuration_they_build():
    with pytest.raises(ParameterError) as err:
        _resolve_real("02.clinicllm_options={bf16: 'no'}")
    assert "parameter 'clinicllm_options' (02_clinicllm; --set): bf16 must be" in str(err.value)
    with pytest.raises(ParameterError, match="'clinicllm_options'.*mlm_probability is 1.5; it must lie strictly"):
        _resolve_real("02.clinicllm_options={mlm_probability: 1.5}")
    with pytest.raises(ParameterError, match="clinicllm_options sets \\['max_length'\\]"):
        _resolve_real("02.clinicllm_options={max_length: 64}")
    with pytest.raises(ParameterError, match=r"\(04_feature_analysis; --set\) has the unknown key 'finetune_epoch'"):
        _resolve_real("04.clinicllm_options={finetune_epoch: 2}")
    with pytest.raises(ParameterError, match=r"\(05_mitigation; --set\).*finetune_dropout is 1.0"):
        _resolve_real("05.clinicllm_options={finetune_dropout: 1.0}")
    with pytest.raises(ParameterError, match="max_length is 4; it must be an integer of at least 8"):
        _resolve_real("02.max_length=4")


@pytest.mark.parametrize("params_file", sorted((Path(__file__).resolve().parents[1] / "params").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_params_file_passes_the_plan_time_checks(params_file):
    plan = runner.plan_run(params_file, runs_root="runs")
    assert [nb.name for nb in plan.notebooks] == plan.all_notebooks and plan.name == params_file.stem
