"""Rendering the book.

The book is rendered by Jupyter Book 1 from the *executed* notebooks of a run, with execution off: the renderer
never re-runs anything. :func:`build_book` stages a copy of the book's sources in ``runs/<name>/_book_src/`` (the
top-level ``_config.yml`` and ``_toc.yml``, the Markdown pages of ``book/``, the run's executed notebooks and a
generated status section), builds it with warnings as errors, and moves the HTML into ``runs/<name>/html/``.

Privacy (docs/contracts.md#privacy-rule): on real data the book never shows note text, and tables suppress counts
under 11 patients; the chapters ask :mod:`helpers.privacy`, which holds the rule.
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
import yaml

from helpers.artifacts import RunPaths, file_sha256
from helpers.project import discover_notebooks, project_root

HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
REPORTED_PACKAGES = (
    "torch", "transformers", "tokenizers", "accelerate", "numpy", "pandas", "scikit-learn", "statsmodels",
    "seaborn", "fairlearn", "comorbidipy", "papermill", "jupyter-book", "myst-nb",
)


class BookBuildError(RuntimeError):
    """Jupyter Book refused the run's pages; the message carries the warnings."""


def hide_parameter_cells(notebook: nbformat.NotebookNode) -> int:
    """Tag the parameters and papermill's injected-parameters cells ``remove-cell`` so the pages don't show them."""
    hidden = 0
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if any(tag in tags for tag in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
            hidden += 1
    return hidden


PLUMBING_CALLS = re.compile(r"\bglue\(|\bwrite_(metrics|csv|parquet|json|model_card)\(")
"""Code that only moves values: gluing them into the prose, or saving files."""
RECORD_MIME = "application/papermill.record/"


def _visible_outputs(cell: nbformat.NotebookNode) -> bool:
    """Whether the cell shows the reader anything: a glue with ``display=False`` leaves only a record output."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("text", "").strip():
            return True
        if output.get("output_type") == "error":
            return True
        data = output.get("data", {})
        if any(not mime.startswith(RECORD_MIME) for mime in data):
            return True
    return False


def tag_plumbing_cells(notebook: nbformat.NotebookNode) -> dict[str, int]:
    """Hide the code a reader does not need, by tags on the staged copy (never on the committed notebooks).

    A cell that glues values or saves files loses its code (``remove-input``), and the whole cell when it shows
    nothing (``remove-cell``); any other cell that shows nothing (imports, reading inputs) is folded away
    (``hide-input``, one click opens it). Cells that show a table or a figure keep their code: it is the call a
    reader re-uses.
    """
    counts = {"remove-cell": 0, "remove-input": 0, "hide-input": 0}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "remove-cell" in tags:
            continue
        plumbing = bool(PLUMBING_CALLS.search(cell.source))
        visible = _visible_outputs(cell)
        tag = ("remove-cell" if not visible else "remove-input") if plumbing else (None if visible else "hide-input")
        if tag and tag not in tags:
            tags.append(tag)
            counts[tag] += 1
    return counts


def carry_learning_warning(notebook: nbformat.NotebookNode, markdown: str) -> bool:
    """Put chapter 2's warning box right below a chapter's title (the first Markdown cell); False when no title."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            box = nbformat.v4.new_markdown_cell(markdown)
            box.id = "learning-warning"   # a fixed id: a random one would change the book's key at every build
            box.metadata["tags"] = ["learning-warning"]
            notebook.cells.insert(index + 1, box)
            return True
    return False


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


def git_state(root: Path) -> dict[str, str]:
    """The checkout's commit and whether it has uncommitted changes ("unknown" outside a git checkout)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        if result.returncode != 0:
            raise OSError(result.stderr.strip())
        return result.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (not a git checkout)", "dirty": "unknown"}
    return {"commit": commit, "dirty": "yes" if dirty else "no"}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """The machine a run executes on: CPU model, cores, native bfloat16 or not, GPU (recorded by the runner)."""
    import platform

    info: dict[str, Any] = {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        try:
            from helpers.clinicllm import bf16_supported

            info["native_bf16"] = bool(bf16_supported())
        except Exception:  # the model package may be mid-refactor; the machine record must not fail a run
            info["native_bf16"] = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    except ImportError:
        info["gpu"], info["native_bf16"] = "unknown (torch not installed)", "unknown"
    info["cpu_capability_env"] = os.environ.get("ATEN_CPU_CAPABILITY", "")
    return info


def _fmt(value: Any) -> str:
    """A parameter value as it is written in a parameters file, for a Markdown table cell."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else json.dumps(value)
    if value is None:
        text = "null"
    return "`" + text.replace("|", "\\|") + "`"


def _seeds(log: dict[str, Any], root: Path) -> dict[str, Any]:
    try:
        defaults = {nb.name: nb.defaults for nb in discover_notebooks(root)}
    except Exception:  # a page must render even when a notebook is being edited
        defaults = {}
    seeds = {}
    for name, info in sorted(log.get("notebooks", {}).items()):
        params = info.get("parameters", {})
        if "seed" in params:
            seeds[name] = params["seed"]
        elif "seed" in defaults.get(name, {}):
            seeds[name] = defaults[name]["seed"]
    return seeds


def _run_log(paths: RunPaths) -> dict[str, Any]:
    try:
        return json.loads(paths.run_log.read_text()) if paths.run_log.exists() else {}
    except json.JSONDecodeError:
        return {}


def run_status_markdown(run_dir: str | os.PathLike, root: Path | None = None) -> str:
    """The run's own record, for the reproducibility page: commit, date, parameters, machine, times, seeds,
    versions and the fingerprint of ``metrics.csv`` (all read from the run, none typed in)."""
    root = root or project_root()
    paths = RunPaths.from_run_dir(run_dir)
    log = _run_log(paths)
    git = log.get("git") or {**git_state(root), "note": "not recorded by the run; this checkout when rendered"}
    machine = log.get("machine") or {"cpu": "not recorded by the run", "cores": "?", "native_bf16": None,
                                     "gpu": "not recorded by the run"}
    notebooks = log.get("notebooks", {})
    finished = sorted(info.get("finished", "") for info in notebooks.values() if info.get("finished"))
    lines = [
        "",
        "| | |",
        "|---|---|",
        f"| run | `{paths.name}` |",
        f"| parameters file | `{log.get('params_file', '?')}` |",
        f"| git commit | `{git.get('commit', '?')}` (uncommitted changes: {git.get('dirty', '?')})"
        f"{'; ' + git['note'] if git.get('note') else ''} |",
        f"| run date | {finished[0] if finished else '?'} to {finished[-1] if finished else '?'} (machine time) |",
        f"| Python | {log.get('python', '?')} on `{log.get('platform', '?')}` |",
        f"| CPU | {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores |",
        f"| native bfloat16 | {_yes_no(machine.get('native_bf16'))} |",
        f"| GPU | {machine.get('gpu', '?')} |",
    ]
    summary = paths.written_by("02_clinicllm") / "clinicllm" / "summary.json"
    if summary.exists():
        try:
            used = json.loads(summary.read_text()).get("config", {}).get("bf16")
            lines.append(f"| ClinicLLM trained in bfloat16 | {_yes_no(used)} |")
        except (json.JSONDecodeError, AttributeError):
            pass
    seeds = _seeds(log, root)
    if seeds:
        shown = ", ".join(f"{name}: `{seed}`" for name, seed in seeds.items())
        lines.append(f"| seeds | {shown} |")
    if paths.metrics.exists():
        rows = sum(1 for _ in paths.metrics.open()) - 1
        lines.append(f"| SHA-256 of `metrics.csv` | `{file_sha256(paths.metrics)}` ({rows} rows) |")
    lines += [
        "",
        "Two runs agree when their `metrics.csv` fingerprints agree; compare yours with "
        "`sha256sum runs/<name>/metrics.csv`.",
        "",
        "| notebook | status | run time (s) | finished | parameters set by the run |",
        "|---|---|---|---|---|",
    ]
    total = 0.0
    for name, info in sorted(notebooks.items()):
        params = {k: v for k, v in info.get("parameters", {}).items() if k != "run_dir"}
        shown = ", ".join(f"`{k}={v!r}`" for k, v in params.items()) or "defaults"
        total += float(info.get("seconds", 0) or 0)
        lines.append(
            f"| {name} | {info.get('status', '?')} | {info.get('seconds', '?')} | {info.get('finished', '')} "
            f"| {shown} |"
        )
    lines += ["", f"Total notebook time: {total:.0f} s (the time each notebook took when it was last executed).",
              "", "| package | version |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in package_versions().items()]
    return "\n".join(lines) + "\n"


def _yes_no(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, "unknown") if isinstance(value, bool) or value is None else str(value)


#: Where the renderer puts generated content into a page (an HTML comment, invisible if left in place).
GENERATED_MARKER = "<!-- generated: {name} -->"


def parameter_reference_markdown(root: Path | None = None) -> str:
    """Every notebook's parameters (default and meaning, from its parameters cell) and what each shipped
    ``params/*.yaml`` sets: read from the code when the book is rendered, so the page cannot drift from it."""
    root = root or project_root()
    notebooks = discover_notebooks(root)
    lines: list[str] = []
    for nb in notebooks:
        lines += [f"### {nb.name}", "", "| parameter | default | meaning |", "|---|---|---|"]
        for key, default in nb.defaults.items():
            meaning = nb.meanings.get(key, "")
            if key == "run_dir":
                meaning = meaning or "set by the runner to `runs/NAME` (NAME = the parameters file's name); not settable"
            lines.append(f"| `{key}` | {_fmt(default)} | {meaning.replace('|', '/')} |")
        lines.append("")
    knobs = _simulation_knobs()
    if knobs:
        lines += ["### Simulator knobs (`simulation` in 01_data)", "",
                  "Each key of the `simulation` mapping sets one knob of the simulated health system, e.g. "
                  "`--set '01.simulation={drift_strength: 2.0}'`.", "",
                  "| knob | default | meaning |", "|---|---|---|"]
        for name, (_, default, doc) in knobs.items():
            lines.append(f"| `{name}` | {_fmt(default)} | {str(doc).replace('|', '/')} |")
        lines.append("")
    lines += ["### The shipped parameters files", "", "| file | notebook | parameter | value |", "|---|---|---|---|"]
    for path in sorted((root / "params").glob("*.yaml")):
        content = yaml.safe_load(path.read_text()) or {}
        for key, value in (content.get("global") or {}).items():
            lines.append(f"| `params/{path.name}` | every notebook | `{key}` | {_fmt(value)} |")
        for notebook, values in (content.get("notebooks") or {}).items():
            for key, value in (values or {}).items():
                lines.append(f"| `params/{path.name}` | {notebook} | `{key}` | {_fmt(value)} |")
    return "\n".join(lines) + "\n"


def _simulation_knobs() -> dict[str, tuple[Any, Any, str]]:
    # imported here: the simulator is needed only for this page; a knob without its doc fails the build, loudly
    from helpers.simulator import simulation_knobs

    return dict(simulation_knobs())


def papermill_commands_markdown(root: Path | None = None) -> str:
    """The papermill command that runs each chapter alone, from the notebooks that exist."""
    root = root or project_root()
    lines = ["```bash"]
    for nb in discover_notebooks(root):
        lines += [f".venv/bin/papermill notebooks/{nb.path.name} \\",
                  f"    runs/mine/notebooks/{nb.path.name} -p run_dir runs/mine --cwd ."]
    lines.append("```")
    return "\n".join(lines) + "\n"


def model_card_markdown(run_dir: str | os.PathLike) -> str:
    """The run's model card for its book page: the YAML metadata as a code block, the card's own sections below
    (its headings one level down, under the page's title)."""
    from helpers.model_card import read_model_card

    text = read_model_card(run_dir)
    if text is None:
        return "This run has not written a model card: chapter 6 (the summary) writes it.\n"
    metadata, body = "", text
    if text.startswith("---\n"):
        end = text.index("\n---", 4)
        metadata, body = text[4:end].strip("\n"), text[end + 4:]
    body = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", body, flags=re.MULTILINE)
    return (f"## The metadata (YAML)\n\n```yaml\n{metadata}\n```\n\n{body.strip()}\n" if metadata
            else body.strip() + "\n")


def fill_generated(text: str, sections: dict[str, str]) -> str:
    """Replace each ``<!-- generated: name -->`` marker of a page with its generated Markdown."""
    for name, content in sections.items():
        text = text.replace(GENERATED_MARKER.format(name=name), content)
    return text


def stage_book_sources(run_dir: str | os.PathLike, root: Path | None = None) -> tuple[Path, list[str]]:
    """Copy the book's sources and the run's executed notebooks into ``runs/<name>/_book_src``."""
    root = root or project_root()
    paths = RunPaths.from_run_dir(run_dir)
    staging = paths.root / "_book_src"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copy(root / "_config.yml", staging / "_config.yml")
    shutil.copytree(root / "book", staging / "book")

    generated = {
        "run-record": run_status_markdown(run_dir, root),
        "parameter-reference": parameter_reference_markdown(root),
        "papermill-commands": papermill_commands_markdown(root),
        "model-card": model_card_markdown(run_dir),
    }
    for page in (staging / "book").glob("*.md"):
        text = page.read_text()
        filled = fill_generated(text, generated)
        if filled != text:
            page.write_text(filled)

    (staging / "notebooks").mkdir()
    statuses = {name: info.get("status") for name, info in _run_log(paths).get("notebooks", {}).items()}
    from helpers import learning_warning

    warning = learning_warning.read_warning(paths.root)
    for executed in sorted(paths.notebooks.glob("*.ipynb")):
        if statuses.get(executed.stem, "ok") != "ok":
            # a failed or interrupted notebook is not a chapter: leave it out (its link becomes text)
            print(f"book: leaving out {executed.stem}: its last run did not finish ({statuses[executed.stem]})",
                  flush=True)
            continue
        notebook = nbformat.read(executed, as_version=4)
        hide_parameter_cells(notebook)
        tag_plumbing_cells(notebook)
        if warning is not None and executed.stem in learning_warning.CARRYING_CHAPTERS:
            carry_learning_warning(notebook, learning_warning.warning_markdown(warning))
        nbformat.write(notebook, staging / "notebooks" / executed.name)

    toc = yaml.safe_load((root / "_toc.yml").read_text())

    def exists(entry: str) -> bool:
        return any((staging / f"{entry}{suffix}").exists() for suffix in ("", ".md", ".ipynb"))

    dropped: list[str] = []
    for key in ("chapters", "parts"):
        if key in toc:
            toc[key], dropped = _filter_toc(toc[key], exists)
    (staging / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    _unlink_missing_pages(staging, toc)
    return staging, dropped


def _toc_files(entries: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(entries, dict):
        if "file" in entries:
            found.add(str(Path(entries["file"]).with_suffix("")))
        if "root" in entries:
            found.add(str(Path(entries["root"]).with_suffix("")))
        for value in entries.values():
            if isinstance(value, (list, dict)):
                found |= _toc_files(value)
    elif isinstance(entries, list):
        for entry in entries:
            found |= _toc_files(entry)
    return found


def _unlink_missing_pages(staging: Path, toc: dict[str, Any]) -> None:
    """Turn ``{doc}`` links to pages that are not in this book (a chapter this run did not execute, or one not
    written yet) into plain text, so the book still builds with warnings as errors."""
    in_book = _toc_files(toc)
    pattern = re.compile(r"\{doc\}`([^`<]+?)(?:\s*<([^>]+)>)?`")

    def replace(match: re.Match) -> str:
        title, target = (match.group(1).strip(), match.group(2)) if match.group(2) else (None, match.group(1))
        resolved = os.path.normpath(os.path.join("book", target.strip())).replace(os.sep, "/")
        if resolved in in_book:
            return match.group(0)
        return f"*{title or Path(target).name} (not in this run)*"

    for page in (staging / "book").glob("*.md"):
        text = page.read_text()
        new = pattern.sub(replace, text)
        if new != text:
            page.write_text(new)

    def replace_in_chapter(match: re.Match) -> str:
        title, target = (match.group(1).strip(), match.group(2)) if match.group(2) else (None, match.group(1))
        resolved = os.path.normpath(os.path.join("notebooks", target.strip())).replace(os.sep, "/")
        if resolved in in_book:
            return match.group(0)
        return f"*{title or Path(target).name} (not in this run)*"

    for path in (staging / "notebooks").glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                new = pattern.sub(replace_in_chapter, cell.source)
                changed |= new != cell.source
                cell.source = new
        if changed:
            nbformat.write(notebook, path)


def _staged_key(staging: Path) -> str:
    """A hash of everything the renderer reads: equal keys give the same book."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(staging.rglob("*")):
        if path.is_file() and "_build" not in path.relative_to(staging).parts:
            digest.update(str(path.relative_to(staging)).encode() + b"\0" + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def build_book(run_dir: str | os.PathLike, root: Path | None = None, reuse: bool = True) -> Path:
    """Render ``runs/<name>/html/`` from the run's executed notebooks (warnings are errors). Returns index.html.

    With ``reuse`` (the default), a book already rendered from exactly the same sources is kept as it is.
    """
    paths = RunPaths.from_run_dir(run_dir)
    if not paths.notebooks.exists() or not any(paths.notebooks.glob("*.ipynb")):
        raise BookBuildError(
            f"no executed notebooks in {paths.notebooks}; run the study first: clinicllm-study run params/<name>.yaml"
        )
    staging, dropped = stage_book_sources(run_dir, root)
    if dropped:
        print(f"book: leaving out chapters this run has not executed: {', '.join(dropped)}", flush=True)
    key = _staged_key(staging)
    key_file = paths.html / ".book-key"
    if reuse and (paths.html / "index.html").exists() and key_file.exists() and key_file.read_text() == key:
        print(f"book: reused {paths.html} (rendered before from the same notebooks and pages)", flush=True)
        return paths.html / "index.html"
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
    (incoming / ".book-key").write_text(key)
    if paths.html.exists():
        shutil.rmtree(paths.html)
    os.replace(incoming, paths.html)
    print(f"book: rendered in {time.perf_counter() - start:.1f} s", flush=True)
    return paths.html / "index.html"
