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
``None`` accepts anything). ``run_dir`` is always set by the runner to ``runs/<name>``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers import progress
from helpers.artifacts import RunPaths, write_json

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESERVED_KEYS = {"run_dir"}


class ParameterError(ValueError):
    """A parameters file or ``--set`` value that the notebooks cannot take."""


@dataclass
class NotebookSpec:
    """A study notebook and the literal defaults of its ``parameters`` cell."""

    path: Path
    defaults: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def number(self) -> str:
        return self.name.split("_", 1)[0]


@dataclass
class RunPlan:
    name: str
    params_file: Path
    run_dir: Path
    notebooks: list[NotebookSpec]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    root: Path = field(default_factory=lambda: project_root())


def project_root() -> Path:
    """The checkout that holds ``notebooks/`` (the runner is installed editable, so this is the source tree)."""
    if (PROJECT_ROOT / "notebooks").is_dir():
        return PROJECT_ROOT
    return Path.cwd()


def parameters_cell_defaults(path: Path) -> dict[str, Any]:
    """Read the literal defaults of the one cell tagged ``parameters``.

    Raises when the notebook has no such cell, several, or a default that is not a literal (derived values belong in
    the next cell).
    """
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path.name}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    defaults: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ParameterError(
                f"{path.name}: the parameters cell may only hold 'name = literal' lines; "
                f"found {ast.unparse(node)!r}. Move derived values to the next cell."
            )
        name = node.targets[0].id
        try:
            defaults[name] = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ParameterError(
                f"{path.name}: parameter {name!r} has a non-literal default {ast.unparse(node.value)!r}; "
                "defaults must be literals (derived values go in the next cell)"
            ) from exc
    return defaults


def discover_notebooks(root: Path | None = None) -> list[NotebookSpec]:
    root = root or project_root()
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ParameterError(f"no notebooks found under {root / 'notebooks'}")
    return [NotebookSpec(p, parameters_cell_defaults(p)) for p in paths]


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_type(key: str, value: Any, default: Any, where: str) -> None:
    if default is None:
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
            f"got {_type_name(value)} {value!r}"
        )


def _match_notebook(label: str, notebooks: list[NotebookSpec]) -> NotebookSpec:
    matches = [nb for nb in notebooks if nb.name == label or nb.number == label]
    if len(matches) != 1:
        names = ", ".join(nb.name for nb in notebooks)
        raise ParameterError(f"unknown notebook {label!r}; the notebooks are: {names}")
    return matches[0]


def _valid_keys_text(notebooks: list[NotebookSpec]) -> str:
    lines = []
    for nb in notebooks:
        keys = ", ".join(k for k in nb.defaults if k not in RESERVED_KEYS)
        lines.append(f"  {nb.name}: {keys}")
    return "valid keys:\n" + "\n".join(lines)


def parse_set_option(text: str) -> tuple[str | None, str, Any]:
    """``key=value`` (global) or ``NN.key=value`` / ``NN_name.key=value`` (one notebook); value is YAML."""
    if "=" not in text:
        raise ParameterError(f"--set {text!r}: expected key=value, e.g. --set seed=7 or --set 02.max_length=128")
    target, raw = text.split("=", 1)
    notebook, _, key = target.rpartition(".")
    return (notebook or None), key.strip(), yaml.safe_load(raw)


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
    global_params = dict(raw.get("global") or {})
    per_notebook: dict[str, dict[str, Any]] = {nb.name: {} for nb in notebooks}
    for label, values in (raw.get("notebooks") or {}).items():
        per_notebook[_match_notebook(str(label), notebooks).name].update(values or {})
    for text in overrides or []:
        notebook, key, value = parse_set_option(text)
        if notebook is None:
            global_params[key] = value
        else:
            per_notebook[_match_notebook(notebook, notebooks).name][key] = value

    all_keys = {k for nb in notebooks for k in nb.defaults}
    for key, value in global_params.items():
        if key in RESERVED_KEYS:
            raise ParameterError(f"{where}: {key!r} is set by the runner (runs/<name>), not by a parameters file")
        if key not in all_keys:
            raise ParameterError(f"{where}: unknown parameter {key!r} in 'global'. {_valid_keys_text(notebooks)}")
        for nb in notebooks:
            if key in nb.defaults:
                _check_type(key, value, nb.defaults[key], f"global, used by {nb.name}")
    resolved: dict[str, dict[str, Any]] = {}
    for nb in notebooks:
        for key, value in per_notebook[nb.name].items():
            if key in RESERVED_KEYS:
                raise ParameterError(f"{where}: {key!r} is set by the runner, not by a parameters file")
            if key not in nb.defaults:
                raise ParameterError(
                    f"{where}: unknown parameter {key!r} for notebook {nb.name}. {_valid_keys_text(notebooks)}"
                )
            _check_type(key, value, nb.defaults[key], nb.name)
        merged = {k: v for k, v in global_params.items() if k in nb.defaults}
        merged.update(per_notebook[nb.name])
        resolved[nb.name] = merged
    return resolved


def load_params_file(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"parameters file {path} not found; the shipped ones are in params/")
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise ParameterError(f"{path}: expected a mapping with 'global:' and 'notebooks:' sections")
    return content


def plan_run(
    params_file: str | os.PathLike,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    runs_root: str | os.PathLike = "runs",
    root: Path | None = None,
) -> RunPlan:
    params_file = Path(params_file)
    root = root or project_root()
    notebooks = discover_notebooks(root)
    parameters = resolve_parameters(load_params_file(params_file), notebooks, overrides, where=str(params_file))
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
    return RunPlan(name, shown_file, run_dir, selected, {nb.name: parameters[nb.name] for nb in selected}, root)


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


def execute_plan(plan: RunPlan, log_output: bool = False) -> dict[str, float]:
    """Run the plan's notebooks in order; return seconds per notebook. Raises on the first failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    paths = RunPaths.from_run_dir(plan.root / plan.run_dir)
    paths.notebooks.mkdir(parents=True, exist_ok=True)
    log = _read_run_log(paths)
    log.update(
        {
            "name": plan.name,
            "params_file": str(plan.params_file),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    )
    timings: dict[str, float] = {}
    total = len(plan.notebooks)
    # Kernels inherit the environment: long stages append their progress lines here (helpers.progress).
    os.environ[progress.LOG_ENV] = str(paths.root / "log.txt")
    for i, nb in enumerate(plan.notebooks, start=1):
        output = paths.notebooks / nb.path.name
        print(f"[{i}/{total}] {nb.name}: running (parameters: {json.dumps(plan.parameters[nb.name], default=str)})",
              flush=True)
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb.path),
                str(output),
                parameters=plan.parameters[nb.name],
                cwd=str(plan.root),
                progress_bar=sys.stderr.isatty(),
                log_output=log_output,
                kernel_name="python3",
            )
        except PapermillExecutionError as exc:
            elapsed = time.perf_counter() - start
            log.setdefault("notebooks", {})[nb.name] = {"seconds": round(elapsed, 1), "status": "failed"}
            write_json(log, paths.run_log)
            raise RunFailed(_failure_message(nb.name, exc, output)) from exc
        except Exception as exc:
            elapsed = time.perf_counter() - start
            log.setdefault("notebooks", {})[nb.name] = {"seconds": round(elapsed, 1), "status": "failed"}
            write_json(log, paths.run_log)
            raise RunFailed(_failure_message(nb.name, exc, output)) from exc
        elapsed = time.perf_counter() - start
        timings[nb.name] = elapsed
        log.setdefault("notebooks", {})[nb.name] = {
            "seconds": round(elapsed, 1),
            "status": "ok",
            "parameters": plan.parameters[nb.name],
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        write_json(log, paths.run_log)
        print(f"[{i}/{total}] {nb.name}: done in {elapsed:.1f} s", flush=True)
    return timings


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
) -> Path | None:
    """Execute the notebooks of a parameters file, then render the book. Returns the book's index.html."""
    from helpers.book import build_book

    plan = plan_run(params_file, only, overrides, runs_root=runs_root, root=root)
    paths = RunPaths.from_run_dir(plan.root / plan.run_dir)
    start = time.perf_counter()
    try:
        execute_plan(plan)
    except RunFailed:
        if paths.html.exists():
            # A book rendered before this failure would no longer match the notebooks: remove it.
            shutil.rmtree(paths.html)
            print(f"removed the stale book at {paths.html}", file=sys.stderr)
        raise
    print(f"notebooks done in {time.perf_counter() - start:.1f} s", flush=True)
    if not render:
        return None
    index = build_book(paths.root, root=plan.root)
    print(f"study done in {time.perf_counter() - start:.1f} s", flush=True)
    return index


def main(argv: list[str] | None = None) -> int:
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
    book = sub.add_parser("book", help="render the book of an existing run (no execution)")
    book.add_argument("params", help="parameters file whose run to render, e.g. params/smoke.yaml")
    keys = sub.add_parser("params", help="list every notebook's parameters and defaults")
    keys.add_argument("params", nargs="?", help="also show what this parameters file resolves to")
    args = parser.parse_args(argv)

    # Notebooks run with the project root as working directory and take run_dir relative to it, so the runner
    # works from there too (parameters-file paths given relative to the caller are resolved first).
    if getattr(args, "params", None):
        args.params = str(Path(args.params).resolve())
    os.chdir(project_root())
    try:
        if args.command == "run":
            index = run_study(args.params, args.only, args.overrides, render=not args.no_book)
            if index is not None:
                print(f"book: {index}")
        elif args.command == "book":
            from helpers.book import build_book

            index = build_book(Path("runs") / Path(args.params).stem)
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
                    print(f"  {key} = {value!r}{mark}")
    except (ParameterError, RunFailed) as exc:
        print(str(exc), file=sys.stderr)
        return 2 if isinstance(exc, ParameterError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
