"""Progress of long stages, for the person at the terminal and the run's log, never for the book.

A notebook's own output ends up in the rendered book, and ipykernel captures even the kernel process's raw
stderr, so progress must not be printed from inside a notebook. When the runner executes a notebook it sets
``CLINICLLM_LOG`` to ``runs/<name>/log.txt``: each message is appended there, and the runner echoes new lines of
that file to its terminal while the notebook runs. Outside a run (a helper called from a plain script or a
test) the message goes to stderr.
"""

from __future__ import annotations

import os
import sys
import time

LOG_ENV = "CLINICLLM_LOG"


def report(message: str) -> None:
    """One time-stamped progress line to the run's log (echoed by the runner), or to stderr outside a run."""
    line = f"{time.strftime('%H:%M:%S')} {message}"
    path = os.environ.get(LOG_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as log:
                log.write(line + "\n")
            return
        except OSError:
            pass
    if type(sys.stderr).__module__.startswith("ipykernel"):
        return  # inside a notebook without a run log: stay out of the cell's output
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


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
