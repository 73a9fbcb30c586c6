"""Random draws shared by the simulator's mechanisms: range checks, logistic helpers, categorical draws, and the
per-note dice that make every note reproducible on its own."""

from __future__ import annotations

import math

import numpy as np

def _check_range(name: str, value, low: float, high: float, *, low_open: bool = False) -> None:
    """Raise a ValueError naming the parameter, its bad value and the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a number in {'(' if low_open else '['}{low}, {high}]; got {value!r}.")
    ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        raise ValueError(f"{name} = {value!r} is outside its valid range {'(' if low_open else '['}{low}, {high}]; "
                         f"set it to a value inside that range.")




def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _year_of(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970).astype(int)


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Draw one column index per row of a non-negative weight matrix (rows need a positive sum)."""
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random(weights.shape[0]) * cumulative[:, -1]
    return np.minimum((cumulative <= draws[:, None]).sum(axis=1), weights.shape[1] - 1)



class _Dice:
    """Per-note random numbers from a PCG64 stream seeded by (seed, admission number): notes are reproducible
    one by one, independent of how many other notes are written."""

    __slots__ = ("_next", "_words", "_blocks", "_size")

    def __init__(self, seed_words: tuple[int, ...], block: int = 384):
        self._words = seed_words
        self._size = block
        self._blocks = 0
        self._next = iter(self._block()).__next__

    def _block(self) -> list[float]:
        seq = np.random.SeedSequence(list(self._words) + [self._blocks])
        self._blocks += 1
        return np.random.Generator(np.random.PCG64(seq)).random(self._size).tolist()

    def u(self) -> float:
        try:
            return self._next()
        except StopIteration:  # the block is used up: draw the next one of the same stream
            self._next = iter(self._block()).__next__
            return self._next()

    def chance(self, p: float) -> bool:
        try:
            return self._next() < p
        except StopIteration:
            return self.u() < p

    def pick(self, seq):
        n = len(seq)
        i = int(self.u() * n)
        return seq[i if i < n else n - 1]

    def integer(self, low: int, high: int) -> int:
        span = high - low + 1
        i = int(self.u() * span)
        return low + (i if i < span else span - 1)

    def normal(self) -> float:
        return math.sqrt(-2.0 * math.log(1.0 - self.u())) * math.cos(2.0 * math.pi * self.u())

    def sample(self, seq, k: int) -> list:
        items = list(seq)
        k = min(k, len(items))
        for i in range(k):
            j = i + min(int(self.u() * (len(items) - i)), len(items) - i - 1)
            items[i], items[j] = items[j], items[i]
        return items[:k]

