"""Progress of long stages, for the person at the terminal and the run's log, never for the book.

A notebook's own output ends up in the rendered book, so progress must not be printed there. Inside a kernel
started by papermill, ``sys.__stderr__`` is the kernel process's inherited stderr: the runner's terminal. Each
message goes there and, when the runner has set ``CLINICLLM_LOG`` (it points at ``runs/<name>/log.txt``), is
appended to that file too.
"""

from __future__ import annotations

import os
import sys
import time

LOG_ENV = "CLINICLLM_LOG"


def report(message: str) -> None:
    """One progress line (time-stamped) to the terminal and to the run's log; never to the notebook."""
    line = f"{time.strftime('%H:%M:%S')} {message}"
    stream = sys.__stderr__
    if stream is not None:
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass
    path = os.environ.get(LOG_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as log:
                log.write(line + "\n")
        except OSError:
            pass


class Throttled:
    """Report a counter at most every ``every_seconds`` (plus its last value), for loops with many steps.

    ``Throttled("fine-tuning", total=400).update(step)`` prints ``fine-tuning: step 120/400 (30 %), 41 s``.
    """

    def __init__(self, label: str, total: int | None = None, every_seconds: float = 10.0, unit: str = "step"):
        self.label, self.total, self.every, self.unit = label, total, every_seconds, unit
        self.started = time.perf_counter()
        self.last = -float("inf")

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.perf_counter()
        finished = self.total is not None and done >= self.total
        if not (force or finished or now - self.last >= self.every):
            return
        self.last = now
        share = f" ({100 * done / self.total:.0f} %)" if self.total else ""
        of = f"/{self.total}" if self.total is not None else ""
        report(f"{self.label}: {self.unit} {done}{of}{share}, {now - self.started:.0f} s")
