"""The study runner: ``clinicllm-study run params/<name>.yaml``.

It executes ``notebooks/NN_*.ipynb`` in order with papermill into ``runs/<name>/notebooks/`` and then renders the
book from the executed copies (execution off), as NCAR CUPiD does: one YAML file drives everything.

A parameters file has two sections, both optional::

    global:             # given to every notebook that declares the key in its `parameters` cell
      seed: 0
    notebooks:
      01_data:          # given to this notebook only (the prefix "01" works too)
        n_admissions: 3000

Keys are checked before anything runs: each must be declared in a notebook's ``parameters`` cell, and its value
must have the type of that cell's literal default (an int is accepted where the default is a float; a default of
``None`` accepts null or the type :data:`helpers.parameter_checks.NULLABLE_PARAMETER_TYPES` declares). The contents
of ``simulation`` and ``clinicllm_options`` are checked by building the configurations they feed
(:mod:`helpers.parameter_checks`). ``run_dir`` is always set by the runner to ``runs/<name>``.

One run per run folder: ``run`` and ``book`` hold ``runs/<name>/run.lock`` (:func:`run_folder_lock`) while they
work; a second one on the same folder stops at once, naming the process that holds it (exit status 75), and a lock
left by a process that no longer runs is detected and replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers import parameter_checks, progress
from helpers.artifacts import RunPaths, write_json
from helpers.project import (  # noqa: F401  (re-exported: the runner's public names)
    NotebookSpec,
    ParameterError,
    discover_notebooks,
    parameters_cell_defaults,
    project_root,
)
from helpers.project import OFFLINE_ENVIRONMENT, use_offline_environment

RESERVED_KEYS = {"run_dir"}
HASH_SEED = "0"
#: Helper modules that no notebook imports: editing them does not make a finished notebook stale.
RUNNER_ONLY_MODULES = {"runner.py", "project.py", "parameter_checks.py"}


@dataclass
class RunPlan:
    name: str
    params_file: Path
    run_dir: Path
    notebooks: list[NotebookSpec]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    root: Path = field(default_factory=lambda: project_root())
    #: every notebook of the project in order (``notebooks`` may be a selection): the upstream chain of a key
    all_notebooks: list[str] = field(default_factory=list)
    force: bool = False


def _type_name(value: Any) -> str:
    return type(value).__name__


def _example_of(default: Any) -> str:
    """How a value of the default's type is written in YAML, for the fix in a type error."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (int, float)):
        return f"a number without quotes, e.g. {default!r}"
    if isinstance(default, str):
        return "text, e.g. \"...\" (quote it if YAML would read it as something else)"
    if isinstance(default, (list, tuple)):
        return f"a list, e.g. {list(default)!r}"
    if isinstance(default, dict):
        return "a mapping, e.g. {key: value}"
    return repr(default)


def _check_type(key: str, value: Any, default: Any, where: str) -> None:
    if default is None or (value is None and key in parameter_checks.NULLABLE_PARAMETER_TYPES):
        # null means "the preset's value" or "no cap"; the type is declared beside the plan-time checks
        parameter_checks.check_nullable(key, value, where)
        return
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ParameterError(
            f"parameter {key!r} ({where}) must be {_type_name(default)} like its default {default!r}, "
            f"got {_type_name(value)} {value!r}; write it as {_example_of(default)}"
        )


def _match_notebook(label: str, notebooks: list[NotebookSpec]) -> NotebookSpec:
    matches = [nb for nb in notebooks if nb.name == label or nb.number == label]
    if len(matches) != 1:
        names = ", ".join(nb.name for nb in notebooks)
        raise ParameterError(f"unknown notebook {label!r}; the notebooks are: {names} (or their numbers)")
    return matches[0]


def _valid_keys_text(notebooks: list[NotebookSpec]) -> str:
    lines = []
    for nb in notebooks:
        keys = ", ".join(k for k in nb.defaults if k not in RESERVED_KEYS)
        lines.append(f"  {nb.name}: {keys}")
    return "valid keys:\n" + "\n".join(lines)


def _nested_hint(key: str, notebook: NotebookSpec | None) -> str:
    """Where a key that is no notebook parameter belongs, when it is a field of a mapping parameter."""
    homes = []
    try:
        from helpers.simulator import simulation_knobs

        if key in simulation_knobs():
            homes.append(("simulation", "01"))
    except Exception:  # the hint must never fail the message
        pass
    try:
        import dataclasses

        from helpers.clinicllm import ClinicLLMConfig

        if key in {f.name for f in dataclasses.fields(ClinicLLMConfig)}:
            homes.append(("clinicllm_options", notebook.number if notebook else "02"))
    except Exception:
        pass
    return "".join(f" It is a field of the mapping parameter {mapping!r}: e.g. --set '{number}.{mapping}={{{key}: ...}}'."
                   for mapping, number in homes)


def _did_you_mean(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def parse_set_option(text: str) -> tuple[str | None, str, Any]:
    """``key=value`` (global) or ``NN.key=value`` / ``NN_name.key=value`` (one notebook); value is YAML."""
    if "=" not in text:
        raise ParameterError(f"--set {text!r}: expected key=value, e.g. --set seed=7 or --set 02.max_length=128")
    target, raw = text.split("=", 1)
    notebook, _, key = target.rpartition(".")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ParameterError(f"--set {text!r}: the value {raw!r} is not valid YAML ({exc.problem}); "
                             "quote text, write lists as [a, b] and mappings as {a: b}") from exc
    return (notebook or None), key.strip(), value


def resolve_parameters(
    raw: dict[str, Any], notebooks: list[NotebookSpec], overrides: list[str] | None = None, where: str = "params"
) -> dict[str, dict[str, Any]]:
    """Merge global and per-notebook parameters, validate them, and return what each notebook receives."""
    raw = dict(raw or {})
    unknown_sections = set(raw) - {"global", "notebooks", "description"}
    if unknown_sections:
        raise ParameterError(
            f"{where}: unknown top-level section(s) {sorted(unknown_sections)}; use 'global:' and 'notebooks:'"
        )
    for section in ("global", "notebooks"):
        if raw.get(section) is not None and not isinstance(raw[section], dict):
            raise ParameterError(f"{where}: the '{section}:' section must be a mapping of names to values, "
                                 f"got {_type_name(raw[section])} {raw[section]!r}")
    global_params = dict(raw.get("global") or {})
    per_notebook: dict[str, dict[str, Any]] = {nb.name: {} for nb in notebooks}
    for label, values in (raw.get("notebooks") or {}).items():
        if values is not None and not isinstance(values, dict):
            raise ParameterError(f"{where}: notebooks.{label} must be a mapping of parameter names to values, "
                                 f"got {_type_name(values)} {values!r}")
        # YAML reads a bare `01:` as the number 1: give it back its two digits
        label = f"{label:02d}" if isinstance(label, int) and not isinstance(label, bool) else str(label)
        per_notebook[_match_notebook(label, notebooks).name].update(values or {})
    from_set: set[tuple[str | None, str]] = set()
    for text in overrides or []:
        notebook, key, value = parse_set_option(text)
        if notebook is None:
            global_params[key] = value
            from_set.add((None, key))
        else:
            name = _match_notebook(notebook, notebooks).name
            per_notebook[name][key] = value
            from_set.add((name, key))

    def where_of(key: str, notebook: str | None) -> str:
        return "--set" if (notebook, key) in from_set else where

    all_keys = [k for nb in notebooks for k in nb.defaults if k not in RESERVED_KEYS]
    for key, value in global_params.items():
        if key in RESERVED_KEYS:
            raise ParameterError(f"{where}: {key!r} is set by the runner (runs/<name>), not by a parameters file")
        if key not in all_keys:
            hint = _did_you_mean(key, all_keys) or _nested_hint(key, None)
            raise ParameterError(f"{where_of(key, None)}: unknown parameter {key!r} in 'global'.{hint} "
                                 f"{_valid_keys_text(notebooks)}")
        for nb in notebooks:
            if key in nb.defaults:
                _check_type(key, value, nb.defaults[key], f"global, used by {nb.name}; {where_of(key, None)}")
    resolved: dict[str, dict[str, Any]] = {}
    for nb in notebooks:
        for key, value in per_notebook[nb.name].items():
            if key in RESERVED_KEYS:
                raise ParameterError(f"{where}: {key!r} is set by the runner, not by a parameters file")
            if key not in nb.defaults:
                own = [k for k in nb.defaults if k not in RESERVED_KEYS]
                elsewhere = [other.name for other in notebooks if key in other.defaults]
                hint = (f" It belongs to {', '.join(elsewhere)}." if elsewhere else
                        _did_you_mean(key, own) or _nested_hint(key, nb))
                raise ParameterError(f"{where_of(key, nb.name)}: unknown parameter {key!r} for notebook {nb.name}."
                                     f"{hint} {_valid_keys_text(notebooks)}")
            _check_type(key, value, nb.defaults[key], f"{nb.name}; {where_of(key, nb.name)}")
        merged = {k: v for k, v in global_params.items() if k in nb.defaults}
        merged.update(per_notebook[nb.name])
        resolved[nb.name] = merged
    # the contents of the mapping parameters, checked here so that a bad knob fails before chapter 1 runs
    def source_of(notebook: str, key: str) -> str:
        came_from_set = (notebook, key) in from_set or (None, key) in from_set
        return f"{notebook}; {'--set' if came_from_set else where}"

    parameter_checks.check_plan_parameters(notebooks, resolved, source_of)
    return resolved


def load_params_file(path: str | os.PathLike, root: Path | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        shipped = sorted((root or project_root()).glob("params/*.yaml"))
        names = ", ".join(f"params/{p.name}" for p in shipped) or "none"
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise ParameterError(f"parameters file {path} {what}; give the path of a YAML file, e.g. one of the shipped "
                             f"files: {names}")
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParameterError(f"{path}: not valid YAML{at} ({getattr(exc, 'problem', exc)}); "
                             "compare it with params/default.yaml (indent with spaces, 'key: value')") from exc
    if not isinstance(content, dict):
        raise ParameterError(f"{path}: expected a mapping with 'global:' and 'notebooks:' sections, "
                             f"got {_type_name(content)}; see params/default.yaml")
    return content


def plan_run(
    params_file: str | os.PathLike,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    runs_root: str | os.PathLike = "runs",
    root: Path | None = None,
    force: bool = False,
) -> RunPlan:
    params_file = Path(params_file)
    root = root or project_root()
    notebooks = discover_notebooks(root)
    raw = load_params_file(params_file, root)
    parameters = resolve_parameters(raw, notebooks, overrides, where=str(params_file))
    name = params_file.stem
    run_dir = Path(runs_root) / name
    selected = notebooks
    if only:
        wanted = {_match_notebook(label, notebooks).name for label in only}
        selected = [nb for nb in notebooks if nb.name in wanted]
    for nb in selected:
        parameters[nb.name]["run_dir"] = str(run_dir)
    try:
        shown_file = params_file.resolve().relative_to(root)
    except ValueError:
        shown_file = params_file
    return RunPlan(name, shown_file, run_dir, selected, {nb.name: parameters[nb.name] for nb in selected}, root,
                   [nb.name for nb in notebooks], force)


def _failing_cell(output: Path) -> tuple[int, str] | None:
    """Position (1-based, as in the source notebook) and first line of the cell that raised, from its error output."""
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # the message must not fail on a damaged notebook
        return None
    position = 0
    for cell in nb.cells:
        # papermill adds the injected-parameters cell and, on failure, error banners: not cells of the source
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        position += 1
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            lines = cell.source.strip().splitlines()
            return position, (lines[0][:120] if lines else "")
    return None


def _failure_message(notebook: str, exc: Exception, output: Path) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    failing = _failing_cell(output) if output.exists() else None
    where = f"cell {failing[0]} (starts {failing[1]!r})" if failing else "before any cell ran"
    return (
        f"FAILED: notebook {notebook}, {where}: {ename}: {evalue}\n"
        f"  the partial executed notebook is kept at {output}"
    )


# ---------------------------------------------------------------------------------------------------------------
# Resume and reuse: a notebook whose inputs have not changed is not executed again
# ---------------------------------------------------------------------------------------------------------------
#
# A finished notebook is recorded in run_log.json with a *notebook key*: a hash of
#   - its parameters (as resolved for this run, run_dir left out),
#   - the bytes of the notebook file,
#   - the source of every helper module the notebooks import (src/helpers/**.py except the runner's own),
#   - the keys of the earlier notebooks it reads from, as last finished in this run (their artifacts and metrics
#     rows are what those notebooks wrote, so an upstream key stands for them; see upstream_notebooks),
# and the list of files it wrote. A later run skips a notebook whose key is unchanged, whose executed copy is
# there and whose files still exist, and says so. Anything else (a changed parameter, an edited notebook or helper,
# a re-run upstream notebook, a notebook killed half-way) executes it again; expensive stages inside a notebook
# (ClinicLLM tokenizer, pretraining, fine-tuning, predictions) keep their own cache, so a re-executed chapter
# reuses the stages whose own inputs did not change.


METRICS_READ = re.compile(r"metrics\.csv|read_metrics|paths\.metrics\b")


def upstream_notebooks(spec: NotebookSpec, earlier: list[str]) -> list[str]:
    """The earlier notebooks whose results this notebook reads.

    Notebooks read upstream files through ``RunPaths.upstream(name, producer)``, which names the producing notebook,
    so the earlier notebooks named in the code cells are its inputs (and theirs are covered through their keys). A
    notebook that names none, or that reads the long metrics table (every notebook writes rows there), is taken to
    depend on every earlier notebook: a wrong guess then costs time, never a stale result.
    """
    if not earlier:
        return []
    notebook = nbformat.read(spec.path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    named = [name for name in earlier if re.search(rf"[\"']{re.escape(name)}[\"']", code)]
    if not named or METRICS_READ.search(code):
        return list(earlier)
    return named


def helpers_source_hash(root: Path) -> str:
    """SHA-256 over the study's helper modules (path and bytes), the code every notebook runs."""
    digest = hashlib.sha256()
    base = root / "src" / "helpers"
    for path in sorted(base.rglob("*.py")):
        if path.name in RUNNER_ONLY_MODULES and path.parent == base:
            continue
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def notebook_key(spec: NotebookSpec, parameters: dict[str, Any], helpers_hash: str,
                 upstream: dict[str, str | None]) -> str:
    """The identity of one notebook's execution (see the comment above)."""
    digest = hashlib.sha256()
    shown = {k: v for k, v in parameters.items() if k not in RESERVED_KEYS}
    digest.update(json.dumps({"notebook": spec.name, "parameters": shown, "helpers": helpers_hash,
                              "upstream": upstream}, sort_keys=True, default=str).encode())
    digest.update(spec.path.read_bytes())
    return digest.hexdigest()[:20]


def _files_written_since(paths: RunPaths, since: float) -> list[str]:
    written = []
    for base in (paths.artifacts, paths.metrics):
        candidates = base.rglob("*") if base.is_dir() else [base]
        for path in candidates:
            try:
                if path.is_file() and path.stat().st_mtime >= since - 1:
                    written.append(str(path.relative_to(paths.root)))
            except OSError:
                continue
    return sorted(written)


def _reusable(entry: dict[str, Any], key: str, output: Path, paths: RunPaths) -> tuple[bool, str]:
    """Whether a finished notebook can be reused, and if not, why (for the terminal)."""
    if not entry:
        return False, "not run before"
    if entry.get("status") != "ok":
        return False, f"its last run did not finish (status {entry.get('status', '?')})"
    if entry.get("key") != key:
        return False, "its parameters, notebook, helpers or upstream inputs changed"
    if not output.exists():
        return False, f"its executed copy {output.name} is missing"
    missing = [name for name in entry.get("outputs", []) if not (paths.root / name).exists()]
    if missing:
        return False, f"{len(missing)} file(s) it wrote are missing, e.g. {missing[0]}"
    return True, ""


@contextlib.contextmanager
def _echo_new_log_lines(log_file: Path, every_seconds: float = 1.0):
    """While a notebook runs, print to the terminal each line its stages append to log.txt (helpers.progress).

    The kernel cannot print progress itself (its output is the book's), so the runner follows the log file.
    """
    start = log_file.stat().st_size if log_file.exists() else 0
    stop = threading.Event()

    def follow() -> None:
        position = start
        while True:
            finished = stop.wait(every_seconds)
            try:
                with open(log_file, encoding="utf-8", errors="replace") as handle:
                    handle.seek(position)
                    chunk = handle.read()
            except OSError:
                chunk = ""
            complete = chunk[:chunk.rfind("\n") + 1]
            if complete:
                print("    " + complete.rstrip("\n").replace("\n", "\n    "), flush=True)
                position += len(complete.encode("utf-8"))
            if finished:
                return

    thread = threading.Thread(target=follow, name="log-echo", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _say(message: str, log_file: Path) -> None:
    """A runner line: to the terminal (stdout) and to runs/<name>/log.txt."""
    print(message, flush=True)
    try:
        with open(log_file, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    except OSError:
        pass


def _kernel_manager_class():
    """A kernel manager that encrypts the kernel's local sockets (CurveZMQ) when the kernel supports it.

    Without it, every kernel start prints ipykernel's warning that it runs "over TCP without encryption" into the
    terminal. Falls back to the stock manager where this jupyter_client has no such option.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    if "transport_encryption" not in AsyncKernelManager.class_trait_names():
        return AsyncKernelManager

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _default_transport_encryption(self) -> str:
            return "auto"

    return EncryptedKernelManager


@dataclass
class RunOutcome:
    """What a run did with each notebook: seconds of the ones it executed, and the ones it reused."""

    executed: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)


def execute_plan(plan: RunPlan, log_output: bool = False) -> RunOutcome:
    """Run the plan's notebooks in order, reusing finished ones whose key is unchanged. Raises on a failure.

    The variables set for the kernels (the run's log file, the hash salt) are taken back afterwards, so a later
    run, or other code in the same process, does not write into this run's log.
    """
    saved = {name: os.environ.get(name) for name in (progress.LOG_ENV, "PYTHONHASHSEED", *OFFLINE_ENVIRONMENT)}
    use_offline_environment()  # the kernels inherit it, so Hugging Face starts offline in each of them
    try:
        return _execute_plan(plan, log_output)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _execute_plan(plan: RunPlan, log_output: bool) -> RunOutcome:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from helpers.book import git_state, machine_info

    paths = RunPaths.from_run_dir(plan.root / plan.run_dir)
    paths.notebooks.mkdir(parents=True, exist_ok=True)
    log_file = paths.root / "log.txt"
    log = _read_run_log(paths)
    log.update({"name": plan.name, "params_file": str(plan.params_file)})
    # What the run executed on; recorded when a notebook executes, so a run that only reuses keeps the record of
    # the run that computed its results.
    environment = {"python": platform.python_version(), "platform": platform.platform(),
                   "git": git_state(plan.root), "machine": machine_info()}
    entries = log.setdefault("notebooks", {})
    outcome = RunOutcome()
    total = len(plan.notebooks)
    helpers_hash = helpers_source_hash(plan.root)
    # Kernels inherit the environment: long stages append their progress lines here (helpers.progress).
    os.environ[progress.LOG_ENV] = str(log_file)
    # Python salts str hashes per process, so iterating a set of strings gives a different order in every kernel;
    # a helper that draws random numbers in such an order would give different data for the same seed. A fixed
    # salt makes every kernel iterate alike (a user's own PYTHONHASHSEED is kept).
    os.environ.setdefault("PYTHONHASHSEED", HASH_SEED)
    _say(f"run {plan.name}: {total} notebook(s) from {plan.params_file}, log in {log_file}", log_file)
    for i, nb in enumerate(plan.notebooks, start=1):
        output = paths.notebooks / nb.path.name
        earlier = plan.all_notebooks[: plan.all_notebooks.index(nb.name)] if plan.all_notebooks else []
        upstream_names = upstream_notebooks(nb, earlier)
        upstream = {name: entries.get(name, {}).get("key") if entries.get(name, {}).get("status") == "ok" else None
                    for name in upstream_names}
        key = notebook_key(nb, plan.parameters[nb.name], helpers_hash, upstream)
        entry = entries.get(nb.name, {})
        reusable, why = _reusable(entry, key, output, paths)
        if reusable and not plan.force:
            outcome.reused.append(nb.name)
            _say(f"[{i}/{total}] {nb.name}: reused, unchanged since {entry.get('finished', '?')} "
                 f"({entry.get('seconds', '?')} s then); nothing to execute", log_file)
            continue
        reason = "forced (--force)" if plan.force else why
        _say(f"[{i}/{total}] {nb.name}: running ({reason}; parameters: "
             f"{json.dumps({k: v for k, v in plan.parameters[nb.name].items() if k != 'run_dir'}, default=str)})",
             log_file)
        start_wall, start = time.time(), time.perf_counter()
        entries[nb.name] = {"status": "running", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "parameters": plan.parameters[nb.name]}
        log.update(environment)
        write_json(log, paths.run_log)
        try:
            with _echo_new_log_lines(log_file):
                pm.execute_notebook(
                    str(nb.path),
                    str(output),
                    parameters=plan.parameters[nb.name],
                    cwd=str(plan.root),
                    progress_bar=sys.stderr.isatty(),
                    log_output=log_output,
                    kernel_name="python3",
                    kernel_manager_class=_kernel_manager_class(),
                )
        except (PapermillExecutionError, Exception) as exc:
            elapsed = time.perf_counter() - start
            entries[nb.name] = {"seconds": round(elapsed, 1), "status": "failed",
                                "parameters": plan.parameters[nb.name]}
            write_json(log, paths.run_log)
            message = _failure_message(nb.name, exc, output)
            _say(message, log_file)
            raise RunFailed(message) from exc
        elapsed = time.perf_counter() - start
        outcome.executed[nb.name] = elapsed
        entries[nb.name] = {
            "seconds": round(elapsed, 1),
            "status": "ok",
            "key": key,
            "outputs": _files_written_since(paths, start_wall),
            "parameters": plan.parameters[nb.name],
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        write_json(log, paths.run_log)
        _say(f"[{i}/{total}] {nb.name}: done in {elapsed:.1f} s", log_file)
    if outcome.reused:
        executed = ", ".join(outcome.executed) or "none"
        _say(f"reused {len(outcome.reused)} finished notebook(s): {', '.join(outcome.reused)}; executed: {executed}",
             log_file)
    return outcome


def _read_run_log(paths: RunPaths) -> dict[str, Any]:
    if paths.run_log.exists():
        try:
            return json.loads(paths.run_log.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


# ---------------------------------------------------------------------------------------------------------------
# One run per run folder
# ---------------------------------------------------------------------------------------------------------------

LOCK_NAME = "run.lock"
"""The lock file in ``runs/<name>/`` while a run or a book build uses the folder (JSON: pid, host, start, command)."""
EXIT_LOCKED = 75
"""Exit status when the run folder is in use by another process (EX_TEMPFAIL: try again later)."""


class RunFolderInUse(RuntimeError):
    """Another live process holds the run folder's lock; the message names it and what to do."""


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (Linux /proc), to tell a live owner from a reused process id."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name in parentheses


def _owner_is_alive(owner: dict[str, Any]) -> bool:
    """Whether the process that wrote a lock still runs (on another host: assumed so, it cannot be checked)."""
    if owner.get("host") != platform.node():
        return True
    try:
        pid = int(owner.get("pid"))
    except (TypeError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    recorded = owner.get("process_start")
    return recorded is None or _process_start(pid) in (None, recorded)


@contextlib.contextmanager
def run_folder_lock(run_dir: str | os.PathLike, *, command: str = ""):
    """Hold ``run_dir/run.lock`` for the duration of the block: one run (or book build) per run folder at a time.

    The lock is created atomically (O_EXCL) and records this process id, host, start time and command; it is removed
    when the block ends, however it ends. A lock whose process no longer runs (killed, machine restarted) is stale:
    it is replaced, and the replacement says so. A lock held by a live process raises :class:`RunFolderInUse` at
    once, naming that process.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_NAME
    mine = {"pid": os.getpid(), "host": platform.node(), "process_start": _process_start(os.getpid()),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command or " ".join(sys.argv)}
    for attempt in range(50):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                owner = None
            if owner is None or not owner:  # being written this instant by its owner, or emptied: look again
                if attempt < 20:
                    time.sleep(0.05)
                    continue
                owner = {}
            if owner and _owner_is_alive(owner):
                raise RunFolderInUse(
                    f"{run_dir} is in use by another run: process {owner.get('pid')} on {owner.get('host')}, "
                    f"started {owner.get('started')} ({owner.get('command', '?')}). Only one run may write a run "
                    f"folder at a time. Fix: wait for it to finish, stop it (kill {owner.get('pid')}), or run "
                    f"under another name (copy the parameters file, or pass --runs-root). If no such process "
                    f"runs, delete {lock}."
                )
            print(f"removed a stale lock on {run_dir}: process {owner.get('pid', '?')} (started "
                  f"{owner.get('started', '?')}) no longer runs", file=sys.stderr, flush=True)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        with os.fdopen(handle, "w") as out:
            json.dump(mine, out)
        break
    else:
        raise RunFolderInUse(f"{run_dir}: could not take the lock {lock}. Fix: delete it if no run uses the folder.")
    try:
        yield lock
    finally:
        try:
            if json.loads(lock.read_text()).get("pid") == mine["pid"]:
                lock.unlink()
        except (OSError, json.JSONDecodeError):
            pass


class RunFailed(RuntimeError):
    """A notebook failed; the message names it, the cell and the error."""


def run_study(
    params_file: str | os.PathLike,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    render: bool = True,
    runs_root: str | os.PathLike = "runs",
    root: Path | None = None,
    force: bool = False,
) -> Path | None:
    """Execute the notebooks of a parameters file, then render the book. Returns the book's index.html."""
    from helpers.book import build_book

    plan = plan_run(params_file, only, overrides, runs_root=runs_root, root=root, force=force)
    paths = RunPaths.from_run_dir(plan.root / plan.run_dir)
    with run_folder_lock(paths.root):
        start = time.perf_counter()
        try:
            outcome = execute_plan(plan)
        except RunFailed:
            if paths.html.exists():
                # A book rendered before this failure would no longer match the notebooks: remove it.
                shutil.rmtree(paths.html)
                print(f"removed the stale book at {paths.html}", file=sys.stderr)
            raise
        print(f"notebooks done in {time.perf_counter() - start:.1f} s", flush=True)
        if not render:
            return None
        index = build_book(paths.root, root=plan.root, reuse=not outcome.executed and not force)
        print(f"study done in {time.perf_counter() - start:.1f} s", flush=True)
        return index


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from helpers.book import BookBuildError

    parser = argparse.ArgumentParser(
        prog="clinicllm-study",
        description="Run the ClinicLLM generalization study's notebooks and render its book.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks with a parameters file, then render the book")
    run.add_argument("params", help="parameters file, e.g. params/smoke.yaml")
    run.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks (e.g. --only 01 02)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a parameter: key=value for every notebook, NN.key=value for one",
    )
    run.add_argument("--no-book", action="store_true", help="execute only, do not render the book")
    run.add_argument("--force", action="store_true",
                     help="execute every selected notebook even when a finished, unchanged one could be reused")
    run.add_argument("--runs-root", default="runs", help="folder that holds the runs (default: runs)")
    book = sub.add_parser("book", help="render the book of an existing run (no execution)")
    book.add_argument("params", help="parameters file whose run to render, e.g. params/smoke.yaml")
    book.add_argument("--runs-root", default="runs", help="folder that holds the runs (default: runs)")
    keys = sub.add_parser("params", help="list every notebook's parameters and defaults")
    keys.add_argument("params", nargs="?", help="also show what this parameters file resolves to")
    args = parser.parse_args(argv)

    # Notebooks run with the project root as working directory and take run_dir relative to it, so the runner
    # works from there too (parameters-file paths given relative to the caller are resolved first).
    if getattr(args, "params", None):
        args.params = str(Path(args.params).resolve())
    if getattr(args, "runs_root", "runs") != "runs":
        args.runs_root = str(Path(args.runs_root).resolve())
    os.chdir(project_root())
    # A terminated run (kill, CI timeout) unwinds like an interrupted one, so that its run-folder lock is released.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        if args.command == "run":
            index = run_study(args.params, args.only, args.overrides, render=not args.no_book,
                              runs_root=args.runs_root, force=args.force)
            if index is not None:
                print(f"book: {index}")
        elif args.command == "book":
            from helpers.book import build_book

            run_dir = Path(args.runs_root) / Path(args.params).stem
            with run_folder_lock(run_dir):
                index = build_book(run_dir)
            print(f"book: {index}")
        elif args.command == "params":
            notebooks = discover_notebooks()
            resolved = (
                resolve_parameters(load_params_file(args.params), notebooks, where=args.params)
                if args.params else {}
            )
            for nb in notebooks:
                print(nb.name)
                for key, default in nb.defaults.items():
                    if key in RESERVED_KEYS:
                        continue
                    value = resolved.get(nb.name, {}).get(key, default)
                    mark = "  (from file)" if key in resolved.get(nb.name, {}) else ""
                    meaning = f"  # {nb.meanings[key]}" if key in nb.meanings else ""
                    print(f"  {key} = {value!r}{mark}{meaning}")
    except RunFolderInUse as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_LOCKED
    except (ParameterError, RunFailed, BookBuildError) as exc:
        print(str(exc), file=sys.stderr)
        return 2 if isinstance(exc, ParameterError) else 1
    except KeyboardInterrupt:
        print("\ninterrupted. Run the same command again to resume: finished notebooks and model stages are reused, "
              "the interrupted notebook runs again.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
