"""Machine and process plumbing: threads, torchrun/accelerate processes, quiet transformers, atomic folders."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import huggingface_hub
import numpy as np
import pandas as pd
import torch
import transformers

from helpers.artifacts import atomic_write
from helpers.project import use_offline_environment

__all__ = ['configure_environment', 'configure_threads']

def _local_world_size() -> int:
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))))


def configure_environment() -> None:
    """Set up this process for the model: offline, without progress bars, telemetry or info chatter.

    Called by every entry point (:func:`configure_threads`, the cached stages, the command line) rather than at
    import, so importing the package changes nothing. Progress bars ("Loading weights", "Writing model shards")
    and tqdm's "IProgress not found" warning, which prints its install path, would otherwise land in the book.
    Checkpoints are always loaded with ``local_files_only``, so nothing is downloaded even before this runs.
    """
    use_offline_environment()
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        huggingface_hub.constants.HF_HUB_OFFLINE = True  # the hub read the variable when it was imported
    warnings.filterwarnings("ignore", message="IProgress not found")
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def configure_threads(num_threads: int | None = None) -> int:
    """Give each process its share of the cores (all of them when alone); returns the thread count set.

    torchrun sets OMP_NUM_THREADS=1, which starves a CPU run; one process alone should use every core, and
    several processes on one machine should split them rather than oversubscribe. Sets up the environment too
    (:func:`configure_environment`): every chapter that trains or scores calls this first.
    """
    configure_environment()
    if num_threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        num_threads = max(1, cores // _local_world_size())
    torch.set_num_threads(num_threads)
    return num_threads


def _distributed():
    """The accelerate process state the Trainer itself uses (gloo on CPU), created once per process."""
    from accelerate import PartialState

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return PartialState(cpu=True, backend="gloo")
    return PartialState()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _barrier() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _distributed().wait_for_everyone()


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' info/warning chatter (e.g. 'newly initialized classifier weights', which is expected
    when a classification head is put on a pretrained encoder)."""
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)


# --------------------------------------------------------------------------------------------------------------
# Atomic directories and fingerprints
# --------------------------------------------------------------------------------------------------------------


def _fresh_temp_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    temp.mkdir()
    return temp


def _publish_dir(temp: Path, final: Path) -> Path:
    """Move a finished temporary directory into place (a rename, so readers see all of it or none of it)."""
    if final.exists():
        old = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.old"
        os.replace(final, old)
        os.replace(temp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp, final)
    return final


def _write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _write_json_atomic(path: Path, obj: Any) -> None:
    _write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_table_atomic(path: Path, frame: pd.DataFrame) -> None:
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
