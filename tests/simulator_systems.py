"""Simulated systems shared by the simulator's test files, generated once per test session (cached), so that each
file can check its own mechanism on the same data without paying for it again."""

from __future__ import annotations

import functools

import pandas as pd

from helpers.simulator import SimulatedHealthSystem, simulate_health_system


@functools.lru_cache(maxsize=None)
def system(n_admissions: int, seed: int, **knobs) -> SimulatedHealthSystem:
    return simulate_health_system(n_admissions=n_admissions, seed=seed, **knobs)


def mid() -> SimulatedHealthSystem:
    """12,000 admissions: the statistical checks use tolerances of about three standard errors at this size."""
    return system(12000, 11)


def small() -> SimulatedHealthSystem:
    return system(3000, 5)


@functools.lru_cache(maxsize=None)
def mid_table() -> pd.DataFrame:
    m = mid()
    return m.admissions.merge(m.oracle, on="admission_id", validate="one_to_one")


def alive(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.died_in_hospital == 0]
