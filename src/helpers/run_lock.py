"""One run per run folder: ``run`` and ``book`` hold ``runs/<name>/run.lock`` while they work on it.

A second process on the same folder stops at once, naming the process that holds it; a lock left by a process that
no longer runs is detected and replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

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
