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
import json
import os
import platform
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
from helpers.parameter_checks import check_type, did_you_mean, match_notebook, nested_hint, type_name, \
    valid_keys_text
from helpers.artifacts import READS_ENV, RunPaths, write_json
from helpers.project import (  # noqa: F401  (re-exported: the runner's public names)
    NotebookSpec,
    ParameterError,
    discover_notebooks,
    parameters_cell_defaults,
    project_root,
)
from helpers.project import OFFLINE_ENVIRONMENT, use_offline_environment
from helpers.notebook_reuse import (  # noqa: F401  (re-exported: the runner's public names)
    RESERVED_KEYS,
    RUNNER_ONLY_MODULES,
    helpers_source_hash,
    notebook_key,
    upstream_notebooks,
)
from helpers.notebook_reuse import files_written_since, is_reusable
from helpers.run_lock import EXIT_LOCKED, LOCK_NAME, RunFolderInUse, run_folder_lock  # noqa: F401  (re-exported)

HASH_SEED = "0"


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
                                 f"got {type_name(raw[section])} {raw[section]!r}")
    global_params = dict(raw.get("global") or {})
    per_notebook: dict[str, dict[str, Any]] = {nb.name: {} for nb in notebooks}
    for label, values in (raw.get("notebooks") or {}).items():
        if values is not None and not isinstance(values, dict):
            raise ParameterError(f"{where}: notebooks.{label} must be a mapping of parameter names to values, "
                                 f"got {type_name(values)} {values!r}")
        # YAML reads a bare `01:` as the number 1: give it back its two digits
        label = f"{label:02d}" if isinstance(label, int) and not isinstance(label, bool) else str(label)
        per_notebook[match_notebook(label, notebooks).name].update(values or {})
    from_set: set[tuple[str | None, str]] = set()
    for text in overrides or []:
        notebook, key, value = parse_set_option(text)
        if notebook is None:
            global_params[key] = value
            from_set.add((None, key))
        else:
            name = match_notebook(notebook, notebooks).name
            per_notebook[name][key] = value
            from_set.add((name, key))

    def where_of(key: str, notebook: str | None) -> str:
        return "--set" if (notebook, key) in from_set else where

    all_keys = [k for nb in notebooks for k in nb.defaults if k not in RESERVED_KEYS]
    for key, value in global_params.items():
        if key in RESERVED_KEYS:
            raise ParameterError(f"{where}: {key!r} is set by the runner (runs/<name>), not by a parameters file")
        if key not in all_keys:
            hint = did_you_mean(key, all_keys) or nested_hint(key, None)
            raise ParameterError(f"{where_of(key, None)}: unknown parameter {key!r} in 'global'.{hint} "
                                 f"{valid_keys_text(notebooks)}")
        for nb in notebooks:
            if key in nb.defaults:
                check_type(key, value, nb.defaults[key], f"global, used by {nb.name}; {where_of(key, None)}")
    resolved: dict[str, dict[str, Any]] = {}
    for nb in notebooks:
        for key, value in per_notebook[nb.name].items():
            if key in RESERVED_KEYS:
                raise ParameterError(f"{where}: {key!r} is set by the runner, not by a parameters file")
            if key not in nb.defaults:
                own = [k for k in nb.defaults if k not in RESERVED_KEYS]
                elsewhere = [other.name for other in notebooks if key in other.defaults]
                hint = (f" It belongs to {', '.join(elsewhere)}." if elsewhere else
                        did_you_mean(key, own) or nested_hint(key, nb))
                raise ParameterError(f"{where_of(key, nb.name)}: unknown parameter {key!r} for notebook {nb.name}."
                                     f"{hint} {valid_keys_text(notebooks)}")
            check_type(key, value, nb.defaults[key], f"{nb.name}; {where_of(key, nb.name)}")
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
                             f"got {type_name(content)}; see params/default.yaml")
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
        wanted = {match_notebook(label, notebooks).name for label in only}
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
    saved = {name: os.environ.get(name)
             for name in (progress.LOG_ENV, "PYTHONHASHSEED", READS_ENV, *OFFLINE_ENVIRONMENT)}
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
        reusable, why = is_reusable(entry, key, output, paths)
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
        # the kernel refuses a read of a notebook it does not declare (helpers.artifacts.RunPaths.upstream)
        os.environ[READS_ENV] = json.dumps({"notebook": nb.name, "reads": upstream_names})
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
            "outputs": files_written_since(paths, start_wall),
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
