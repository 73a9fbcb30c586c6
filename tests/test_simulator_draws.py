"""Draws (helpers.simulator.draws): per-note dice are reproducible one by one, range checks name the parameter, and
categorical draws follow their weights."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.simulator.draws import _categorical, _check_range, _Dice


def test_dice_are_reproducible_and_independent_of_block_size_boundaries():
    a, b = _Dice((1, 2, 3)), _Dice((1, 2, 3))
    assert [a.u() for _ in range(1000)] == [b.u() for _ in range(1000)]  # crosses several 384-value blocks
    c = _Dice((1, 2, 4))
    assert [c.u() for _ in range(5)] != [_Dice((1, 2, 3)).u() for _ in range(5)]
    d = _Dice((9,))
    assert sorted(d.sample(range(10), 10)) == list(range(10))
    assert all(3 <= d.integer(3, 5) <= 5 for _ in range(200))
    values = np.array([_Dice((k,)).normal() for k in range(2000)])
    assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1


def test_categorical_follows_the_weights():
    rng = np.random.default_rng(0)
    draws = _categorical(rng, np.tile([1.0, 3.0, 0.0, 6.0], (20000, 1)))
    shares = np.bincount(draws, minlength=4) / len(draws)
    assert np.allclose(shares, [0.1, 0.3, 0.0, 0.6], atol=0.015)


def test_range_check_names_the_parameter():
    with pytest.raises(ValueError, match=r"x = 2 is outside its valid range \[0, 1\]"):
        _check_range("x", 2, 0, 1)
    with pytest.raises(ValueError, match=r"y must be a number in \(0"):
        _check_range("y", True, 0, 1, low_open=True)
