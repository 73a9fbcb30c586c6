"""Shared fixtures. The smoke study runs ONCE per test session; every slow test that reads a finished smoke run
(its notebooks, metrics, book, pages in a browser) uses :func:`smoke_run`, so ``make test`` pays for it once.

``CLINICLLM_TEST_SMOKE_RUN=runs/smoke pytest tests/test_browser.py`` reuses a finished run of
``params/smoke.yaml`` (with its book) instead of running the study again, for working on the tests themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import runner

ROOT = Path(__file__).resolve().parents[1]
SMOKE_PARAMS = ROOT / "params" / "smoke.yaml"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, Path]:
    """``(run_dir, index.html)`` of the smoke study, executed and rendered into a temporary runs folder (so the
    tests never touch a user's ``runs/``)."""
    existing = os.environ.get("CLINICLLM_TEST_SMOKE_RUN")
    if existing:
        run_dir = (ROOT / existing).resolve()
        index = run_dir / "html" / "index.html"
        assert index.exists(), f"CLINICLLM_TEST_SMOKE_RUN={existing}: no rendered book at {index}"
        return run_dir, index
    runs_root = tmp_path_factory.mktemp("runs")
    index = runner.run_study(SMOKE_PARAMS, runs_root=runs_root, root=ROOT)
    return runs_root / "smoke", index


@pytest.fixture
def mid():
    """The 12,000-admission simulated system the simulator's statistical tests share (tests/simulator_systems.py)."""
    import simulator_systems

    return simulator_systems.mid()


@pytest.fixture
def mid_table():
    """``mid``'s admissions joined with its oracle table."""
    import simulator_systems

    return simulator_systems.mid_table()
