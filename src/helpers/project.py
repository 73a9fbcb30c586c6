"""The project's layout: where the checkout is, which study notebooks it holds, and what their parameters are.

Both the runner (which executes the notebooks) and the book (which documents their parameters) read this, so it
lives apart from both and neither imports the other for it.
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

#: ``src/helpers/project.py`` -> the checkout's root (the project is installed editable).
SOURCE_ROOT = Path(__file__).resolve().parents[2]


RESERVED_KEYS = {"run_dir"}
"""Parameters the runner sets itself (``run_dir`` is always ``runs/<name>``); a parameters file may not."""


class ParameterError(ValueError):
    """A parameters file, ``--set`` value or parameters cell that the notebooks cannot take."""


OFFLINE_ENVIRONMENT: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # tqdm warns with its install path when transformers imports it in a kernel without ipywidgets, before any
    # helper could install a filter; no progress bar is ever shown, so the warning would only put a path in the book
    "PYTHONWARNINGS": "ignore:IProgress not found",
}
"""Environment of every process that runs the model: never reach the network, no telemetry, no progress bars."""


def use_offline_environment() -> None:
    """Set :data:`OFFLINE_ENVIRONMENT` in this process (and so in the kernels and workers it starts), keeping any
    value the user set. Hugging Face reads these when it is imported: call this before the first import of it."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def project_root() -> Path:
    """The checkout that holds ``notebooks/`` (the runner is installed editable, so this is the source tree)."""
    if (SOURCE_ROOT / "notebooks").is_dir():
        return SOURCE_ROOT
    return Path.cwd()


@dataclass
class NotebookSpec:
    """A study notebook, the literal defaults of its ``parameters`` cell and the comment on each line."""

    path: Path
    defaults: dict[str, Any]
    meanings: dict[str, str] = field(default_factory=dict)
    #: the earlier notebooks whose files or metrics rows it reads (its declaration); None when it declares none
    reads: list[str] | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def number(self) -> str:
        return self.name.split("_", 1)[0]


def _parameters_cell_source(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path.name}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0].source


def parameters_cell_defaults(path: Path) -> dict[str, Any]:
    """Read the literal defaults of the one cell tagged ``parameters``.

    Raises when the notebook has no such cell, several, or a default that is not a literal (derived values belong in
    the next cell).
    """
    defaults: dict[str, Any] = {}
    for node in ast.parse(_parameters_cell_source(path)).body:
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


def parameters_cell_meanings(path: Path) -> dict[str, str]:
    """The comment written on each parameter's line (``seed = 0  # seed of every random choice``), by name.

    A parameter whose line has no comment is absent from the result; a comment on the lines just above a parameter
    (a block comment) counts for it too.
    """
    source = _parameters_cell_source(path)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    meanings: dict[str, str] = {}
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        parts = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        above, line = [], node.lineno - 1
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        text = " ".join(p for p in above + parts if p)
        if text:
            meanings[node.targets[0].id] = text
    return meanings


READS_METADATA = "study"
"""A notebook declares the notebooks it reads in its metadata: ``{"study": {"reads": ["01_data", ...]}}``."""


def declared_reads(path: Path) -> list[str] | None:
    """The notebooks a notebook declares it reads (``metadata.study.reads``), or None when it declares nothing.

    The declaration sits in the notebook it describes, so a chapter and its inputs are added, copied and reviewed
    together, and the runner reads it from the same file as the parameters.
    """
    metadata = nbformat.read(path, as_version=4).metadata
    reads = metadata.get(READS_METADATA, {}).get("reads")
    if reads is None:
        return None
    if not isinstance(reads, list) or not all(isinstance(name, str) for name in reads):
        raise ParameterError(f"{path.name}: metadata '{READS_METADATA}.reads' must be a list of notebook names, "
                             f"e.g. [\"01_data\"]; got {reads!r}")
    return list(reads)


def discover_notebooks(root: Path | None = None) -> list[NotebookSpec]:
    """The study's notebooks ``notebooks/NN_*.ipynb`` in order, with their parameters and declared inputs.

    A notebook may only declare earlier notebooks (they run before it); any other name is refused here.
    """
    root = root or project_root()
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ParameterError(f"no notebooks found under {root / 'notebooks'}")
    specs = [NotebookSpec(p, parameters_cell_defaults(p), parameters_cell_meanings(p), reads=declared_reads(p))
             for p in paths]
    for i, spec in enumerate(specs):
        earlier = [other.name for other in specs[:i]]
        wrong = [name for name in spec.reads or [] if name not in earlier]
        if wrong:
            raise ParameterError(f"{spec.path.name}: it declares that it reads {wrong} (metadata "
                                 f"'{READS_METADATA}.reads'), but a notebook can only read earlier ones: "
                                 f"{earlier or 'none'}. Fix the names or the notebooks' order.")
    return specs
