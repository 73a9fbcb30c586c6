"""Time: calendar days, and how new terms, drugs and templates are adopted over the years.

Each time mechanism has an on/off knob in :class:`~helpers.simulator.config.SimulationConfig` (``time_*``); the
helpers here turn a knob and ``drift_strength`` into the share of notes (or stays) that use the new thing in a year.
"""

from __future__ import annotations

import numpy as np

_EPOCH = np.datetime64("1970-01-01", "D")


def _day(year: int, month: int = 1, day: int = 1) -> int:
    return int((np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D") - _EPOCH).astype(int))



def _year_of(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970).astype(int)



def _adoption(year: np.ndarray | float, first_year: float, years_to_full: float, drift: float,
              ceiling: float = 1.0) -> np.ndarray:
    """Share of notes using a new term/drug/template in ``year``: 0 before ``first_year``, then rising linearly
    (scaled by ``drift_strength``) to ``ceiling``. drift 0 freezes the vocabulary of the first years."""
    if isinstance(year, (int, float)) and isinstance(first_year, (int, float)):  # one note: plain arithmetic
        return min(1.0, max(0.0, drift * (year - first_year + 1.0) / years_to_full)) * ceiling
    share = drift * (np.asarray(year, dtype=float) - first_year + 1.0) / years_to_full
    return np.clip(share, 0.0, 1.0) * ceiling



_ICD10_DAY = _day(2015, 10, 1)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _date(day: int, style: int) -> str:
    """A calendar day written the way a clinician writes dates: 03/14/2019, 3/14/19, 2019-03-14 or March 14, 2019."""
    d = (np.datetime64(int(day), "D")).astype(object)
    if style == 0:
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    if style == 1:
        return f"{d.month}/{d.day}/{d.year % 100:02d}"
    if style == 2:
        return f"{d.year}-{d.month:02d}-{d.day:02d}"
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"
