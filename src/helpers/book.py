"""Rendering the book, and what the chapters use to show results safely.

The book is rendered by Jupyter Book 1 from the *executed* notebooks of a run, with execution off: the renderer
never re-runs anything. :func:`build_book` stages a copy of the book's sources in ``runs/<name>/_book_src/`` (the
top-level ``_config.yml`` and ``_toc.yml``, the Markdown pages of ``book/``, the run's executed notebooks and a
generated status section), builds it with warnings as errors, and moves the HTML into ``runs/<name>/html/``.

Privacy (DESIGN.md section 5): on real data the book never shows note text, and tables suppress counts under 11
patients; :func:`suppress_small_counts` does the latter for the chapters.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import yaml

from helpers.artifacts import RunPaths

HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
SMALL_CELL_THRESHOLD = 11
REPORTED_PACKAGES = (
    "torch", "transformers", "tokenizers", "accelerate", "numpy", "pandas", "scikit-learn", "statsmodels",
    "seaborn", "fairlearn", "comorbidipy", "papermill", "jupyter-book", "myst-nb",
)


class BookBuildError(RuntimeError):
    """Jupyter Book refused the run's pages; the message carries the warnings."""


def _project_root() -> Path:
    from helpers.runner import project_root

    return project_root()


def hide_parameter_cells(notebook: nbformat.NotebookNode) -> int:
    """Tag the parameters and papermill's injected-parameters cells ``remove-cell`` so the pages don't show them."""
    hidden = 0
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if any(tag in tags for tag in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
            hidden += 1
    return hidden


def _filter_toc(entries: list[dict[str, Any]], exists) -> tuple[list[dict[str, Any]], list[str]]:
    kept, dropped = [], []
    for entry in entries:
        entry = dict(entry)
        if "file" in entry and not exists(entry["file"]):
            dropped.append(entry["file"])
            continue
        for key in ("sections", "chapters", "parts"):
            if key in entry:
                entry[key], more = _filter_toc(entry[key], exists)
                dropped += more
        kept.append(entry)
    return kept, dropped


def package_versions() -> dict[str, str]:
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_status_markdown(run_dir: str | os.PathLike) -> str:
    """The run's status, for the reproducibility page: notebooks, time, parameters, versions (all from the run)."""
    paths = RunPaths.from_run_dir(run_dir)
    log = json.loads(paths.run_log.read_text()) if paths.run_log.exists() else {}
    lines = [
        "",
        "## This run",
        "",
        f"Rendered on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from the parameters file "
        f"`{log.get('params_file', '?')}` (run `{paths.name}`), Python {log.get('python', '?')} on "
        f"`{log.get('platform', '?')}`.",
        "",
        "| notebook | status | run time (s) | finished | parameters set by the run |",
        "|---|---|---|---|---|",
    ]
    total = 0.0
    for name, info in sorted(log.get("notebooks", {}).items()):
        params = {k: v for k, v in info.get("parameters", {}).items() if k != "run_dir"}
        shown = ", ".join(f"`{k}={v!r}`" for k, v in params.items()) or "defaults"
        total += float(info.get("seconds", 0))
        lines.append(
            f"| {name} | {info.get('status', '?')} | {info.get('seconds', '?')} | {info.get('finished', '')} "
            f"| {shown} |"
        )
    lines += ["", f"Total notebook time: {total:.0f} s.", "", "| package | version |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in package_versions().items()]
    return "\n".join(lines) + "\n"


def stage_book_sources(run_dir: str | os.PathLike, root: Path | None = None) -> tuple[Path, list[str]]:
    """Copy the book's sources and the run's executed notebooks into ``runs/<name>/_book_src``."""
    root = root or _project_root()
    paths = RunPaths.from_run_dir(run_dir)
    staging = paths.root / "_book_src"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copy(root / "_config.yml", staging / "_config.yml")
    shutil.copytree(root / "book", staging / "book")

    status_page = staging / "book" / "reproducibility.md"
    if status_page.exists():
        status_page.write_text(status_page.read_text() + run_status_markdown(run_dir))

    (staging / "notebooks").mkdir()
    for executed in sorted(paths.notebooks.glob("*.ipynb")):
        notebook = nbformat.read(executed, as_version=4)
        hide_parameter_cells(notebook)
        nbformat.write(notebook, staging / "notebooks" / executed.name)

    toc = yaml.safe_load((root / "_toc.yml").read_text())

    def exists(entry: str) -> bool:
        return any((staging / f"{entry}{suffix}").exists() for suffix in ("", ".md", ".ipynb"))

    dropped: list[str] = []
    for key in ("chapters", "parts"):
        if key in toc:
            toc[key], dropped = _filter_toc(toc[key], exists)
    (staging / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    if dropped:
        _unlink_dropped_pages(staging, dropped)
    return staging, dropped


def _unlink_dropped_pages(staging: Path, dropped: list[str]) -> None:
    """Turn links to chapters this run did not execute into plain text, so the book still builds."""
    names = {Path(entry).name for entry in dropped}
    pattern = re.compile(r"\{doc\}`([^`]+)`")

    def replace(match: re.Match) -> str:
        target = match.group(1)
        return f"*{Path(target).name} (not run in this run)*" if Path(target).name in names else match.group(0)

    for page in (staging / "book").glob("*.md"):
        text = page.read_text()
        page.write_text(pattern.sub(replace, text))


def build_book(run_dir: str | os.PathLike, root: Path | None = None) -> Path:
    """Render ``runs/<name>/html/`` from the run's executed notebooks (warnings are errors). Returns index.html."""
    paths = RunPaths.from_run_dir(run_dir)
    if not paths.notebooks.exists() or not any(paths.notebooks.glob("*.ipynb")):
        raise BookBuildError(
            f"no executed notebooks in {paths.notebooks}; run the study first: clinicllm-study run params/<name>.yaml"
        )
    staging, dropped = stage_book_sources(run_dir, root)
    if dropped:
        print(f"book: leaving out chapters this run has not executed: {', '.join(dropped)}", flush=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", str(staging),
               "--builder", "html", "-W", "-n", "--keep-going", "--all", "-q"]
    print("book: rendering with Jupyter Book (execution off) ...", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    built = staging / "_build" / "html"
    if result.returncode != 0 or not (built / "index.html").exists():
        if paths.html.exists():
            shutil.rmtree(paths.html)
        tail = (result.stdout + result.stderr)[-6000:]
        raise BookBuildError(f"the book did not build (warnings are errors); Jupyter Book said:\n{tail}")
    # Replace the previous book in one step so a reader never sees half of each.
    incoming = paths.root / ".html.incoming"
    if incoming.exists():
        shutil.rmtree(incoming)
    shutil.move(str(built), incoming)
    if paths.html.exists():
        shutil.rmtree(paths.html)
    os.replace(incoming, paths.html)
    print(f"book: rendered in {time.perf_counter() - start:.1f} s", flush=True)
    return paths.html / "index.html"


def suppress_small_counts(table: pd.DataFrame, count_columns: list[str], *, enabled: bool,
                          threshold: int = SMALL_CELL_THRESHOLD) -> pd.DataFrame:
    """Blank counts under ``threshold`` (and zero-free rates derived from them) when publishing real data.

    On simulated data (``enabled=False``) the table is returned unchanged. On real data every count in
    ``count_columns`` below the threshold becomes the text ``"<11"``, the usual rule for publishing health data.
    """
    if not enabled:
        return table
    out = table.copy()
    for column in count_columns:
        if column not in out.columns:
            raise KeyError(f"suppress_small_counts: column {column!r} not in the table ({list(out.columns)})")
        values = pd.to_numeric(out[column], errors="coerce")
        small = values.notna() & (values > 0) & (values < threshold)
        out[column] = out[column].astype(object)
        out.loc[small, column] = f"<{threshold}"
    return out
