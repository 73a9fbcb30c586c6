"""Resume and reuse: a notebook whose inputs have not changed since it last finished is not executed again.

The runner (:mod:`helpers.runner`) decides with the functions here; ARCHITECTURE.md says how, in a few lines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from helpers.artifacts import RunPaths
from helpers.project import RESERVED_KEYS, NotebookSpec

#: Helper modules that no notebook imports: editing them does not make a finished notebook stale.
RUNNER_ONLY_MODULES = {"runner.py", "project.py", "parameter_checks.py", "run_lock.py", "notebook_reuse.py"}

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


def upstream_notebooks(spec: NotebookSpec, earlier: list[str]) -> list[str]:
    """The earlier notebooks whose results this notebook reads: its declaration (``metadata.study.reads``).

    A notebook that declares nothing is taken to read every earlier notebook: a missing declaration then costs time,
    never a stale result. The study's notebooks all declare theirs (tests/test_notebook_inputs.py checks each
    declaration against the reads in the notebook and in the helpers it calls).
    """
    if spec.reads is None:
        return list(earlier)
    return [name for name in earlier if name in spec.reads]


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


def files_written_since(paths: RunPaths, since: float) -> list[str]:
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


def is_reusable(entry: dict[str, Any], key: str, output: Path, paths: RunPaths) -> tuple[bool, str]:
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
