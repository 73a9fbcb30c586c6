"""Where a run keeps its files, and how they are written.

A run of ``params/<name>.yaml`` lives in ``runs/<name>/`` (docs/contracts.md#run-layout)::

    runs/<name>/notebooks/NN_*.ipynb   executed notebooks
    runs/<name>/artifacts/NN_name/     each notebook's files: cohort, splits, tokenizer, models, predictions, tables
    runs/<name>/metrics.csv            every number, long format
    runs/<name>/html/index.html        the rendered book

Every artifact is written atomically (a temporary file in the same folder, then ``os.replace``), so an interrupted
run never leaves a half-written file that a later stage would mistake for a finished one. Stages that are expensive
record a key (a hash of their parameters and inputs) beside their output; :func:`stage_is_fresh` tells whether the
stored output still matches, which is how a second run with the same parameters reuses finished work.
:func:`cached_stage` is that rule in one place (load when fresh, else build, record the key, load), used by every
cached stage: the TF-IDF baseline and ClinicLLM's tokenizer, pretraining, fine-tuning, predictions and embeddings.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


READS_ENV = "STUDY_NOTEBOOK_READS"
"""Set by the runner while a notebook executes: JSON ``{"notebook": name, "reads": [names]}``, its declared inputs."""


class UndeclaredRead(RuntimeError):
    """A notebook read a file of a notebook it does not declare among its inputs (``metadata.study.reads``)."""


def _check_declared(name: str, producer: str) -> None:
    """Refuse, while the runner executes a notebook, a read of a producer that notebook does not declare: the runner
    re-runs a notebook only when a notebook it declares re-ran, so an undeclared read could give a stale result."""
    declared = os.environ.get(READS_ENV)
    if not declared:
        return
    running = json.loads(declared)
    if producer != running["notebook"] and producer not in running["reads"]:
        raise UndeclaredRead(
            f"notebook {running['notebook']} reads {name} of notebook {producer}, which it does not declare among "
            f"its inputs ({running['reads'] or 'none'}). Fix: add \"{producer}\" to the list 'reads' under "
            f"'study' in the metadata of notebooks/{running['notebook']}.ipynb, so that the runner re-runs it "
            f"when {producer} re-runs."
        )


@dataclass(frozen=True)
class RunPaths:
    """The folders and files of one run, from its run directory (``runs/<name>``).

    Each notebook's files live under ``artifacts/<notebook>/`` (docs/contracts.md#run-layout): ``notebook`` names
    the notebook that writes through this object (:meth:`artifact`, :attr:`output_dir`); reads name their producer
    (:meth:`upstream`).
    """

    root: Path
    notebook: str | None = None

    @classmethod
    def from_run_dir(cls, run_dir: str | os.PathLike, notebook: str | None = None) -> RunPaths:
        return cls(Path(run_dir), notebook)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def html(self) -> Path:
        return self.root / "html"

    @property
    def run_log(self) -> Path:
        return self.root / "run_log.json"

    def written_by(self, producer: str) -> Path:
        """The folder of a notebook's files, whether or not it exists: for optional reads and for the book."""
        _check_declared("the files", producer)
        return self.artifacts / producer

    def upstream(self, name: str, producer: str) -> Path:
        """Path of an artifact an earlier notebook wrote; a clear error says which notebook to run when it is missing."""
        _check_declared(name, producer)
        path = self.artifacts / producer / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: it is written by notebook {producer}. Run that notebook first, e.g. "
                f"`clinicllm-study run params/{self.name}.yaml --only {producer.split('_')[0]}`"
            )
        return path

    @property
    def output_dir(self) -> Path:
        """The folder of this notebook's own files, ``artifacts/<notebook>/``, created on demand."""
        if not self.notebook:
            raise ValueError("this RunPaths names no notebook, so it cannot say where to write: create it with "
                             "RunPaths.from_run_dir(run_dir, notebook=\"NN_name\")")
        folder = self.artifacts / self.notebook
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def artifact(self, name: str) -> Path:
        """Path of one of this notebook's files, ``artifacts/<notebook>/<name>``; its folder is created on demand."""
        path = self.output_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place; on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as Parquet, atomically; the same frame always gives the same bytes."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write a table as CSV, atomically."""
    kwargs.setdefault("index", False)
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, **kwargs))


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON (sorted keys, so equal content gives equal bytes), atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (the cohort's fingerprint in the book)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_key(**parts: Any) -> str:
    """A short, stable hash of a stage's parameters and input fingerprints."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


HELPERS_PARENT = Path(__file__).resolve().parents[1]
"""The folder that holds the ``helpers`` package (``src/``): where :func:`code_key` reads module sources."""


def _module_file(name: str, parent: Path) -> Path | None:
    base = parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _helper_imports(path: Path, name: str) -> list[str]:
    """The helper modules a module's import statements name (inside functions too); a name imported from a
    package may be a submodule, so both are listed and the caller keeps those that exist."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "helpers"]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            if module.split(".")[0] == "helpers":
                found += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return found


def code_files(*modules: str, parent: Path | None = None) -> dict[str, Path]:
    """The source files of ``modules`` and of every helper module they import, directly or through others.

    Only the import statements count: a package's ``__init__`` is included when it is imported by name (``from
    helpers import x`` names ``helpers``), not because one of its submodules is, so an edit to an unrelated
    module of the same package leaves the set unchanged.
    """
    parent = parent or HELPERS_PARENT
    files: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in files:
            continue
        path = _module_file(name, parent)
        if path is None:
            if name in modules:
                raise ModuleNotFoundError(f"code_key: no module {name!r} under {parent}")
            continue  # a function or class imported by name, not a module
        files[name] = path
        todo += _helper_imports(path, name)
    return dict(sorted(files.items()))


def code_key(*modules: str, functions: tuple[Callable, ...] = (), parent: Path | None = None) -> str:
    """A hash of the code a stage runs: the source of ``modules`` and of every helper module they import
    (:func:`code_files`), and of ``functions`` (a stage's own build step, defined elsewhere).

    Part of a stage's key, so any edit of that code rebuilds the stage instead of reusing what the old code made.
    """
    digest = hashlib.sha256()
    for name, path in code_files(*modules, parent=parent).items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    for function in functions:
        digest.update(inspect.getsource(function).encode() + b"\0")
    return digest.hexdigest()[:16]


def frame_fingerprint(frame: pd.DataFrame, columns: list[str]) -> str:
    """A hash of the given columns' values, row order included: the identity of a stage's input data."""
    hashed = pd.util.hash_pandas_object(frame[columns].astype(str), index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(json.dumps(columns).encode())
    return digest.hexdigest()[:16]


def _key_path(output: Path) -> Path:
    return output.with_name(output.name + ".key")


def stage_is_fresh(output: str | os.PathLike, key: str) -> bool:
    """True when ``output`` exists and was written by a stage with this key."""
    output = Path(output)
    key_file = _key_path(output)
    return output.exists() and key_file.exists() and key_file.read_text().strip() == key


def mark_stage(output: str | os.PathLike, key: str) -> None:
    """Record the key of the stage that just wrote ``output`` (after the output itself is in place)."""
    atomic_write(_key_path(Path(output)), lambda tmp: tmp.write_text(key + "\n"))


def cached_stage(output: str | os.PathLike, key: str, build: Callable[[Path], Any], load: Callable[[Path], Any], *,
                 label: str | None = None, build_here: bool = True, record: bool = True,
                 wait: Callable[[], None] | None = None) -> tuple[Any, bool]:
    """Load a finished stage's output, or build it first; returns (``load(output)``, reused).

    The output is fresh when it exists and either the key recorded beside it (``<output>.key``) equals ``key`` or
    its own name carries the key (``finetune-<key>/``: such a name is its own record). Otherwise ``build(output)``
    writes it (atomically: a file through :func:`atomic_write`, a folder assembled under another name and renamed)
    and the key is recorded after it is in place (unless the name carries it), so an interrupted build is never
    taken for a finished one.

    Several processes (torchrun): ``build_here`` says whether this process calls ``build`` (all of them, for a
    data-parallel training stage that itself writes only on the main process; the main process alone, otherwise),
    ``record`` whether it records the key (the main process), and ``wait`` is a barrier called before loading.
    ``label`` names the stage in the progress lines (terminal and the run's log, never the notebook).
    """
    from helpers.progress import report

    output = Path(output)
    reused = stage_is_fresh(output, key) or (key in output.name and output.exists())
    if reused:
        if label:
            report(f"{label}: reused")
    elif build_here:
        started = time.perf_counter()
        if label:
            report(f"{label}: running")
        build(output)
        if record and key not in output.name:
            mark_stage(output, key)
        if label:
            report(f"{label}: done in {time.perf_counter() - started:.0f} s")
    if wait is not None:
        wait()
    return load(output), reused
