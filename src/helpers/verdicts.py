"""What a run says of a published finding: the verdict words, the rule for one difference measured with a 95 %
interval, how several verdicts combine, and the power figures beside them. Chapter 4 (the study's four factors) and
the closing page (every finding) use this one rule.

The rule (:func:`difference_verdict`). Each finding is a difference with a published direction:

- **reproduced**: the interval excludes zero in the published direction;
- **contradicted**: it excludes zero in the other direction;
- **absent**: it includes zero but excludes the published effect size (where the study gives one): the run could
  have seen an effect that large and did not;
- **inconclusive**: none of these: the interval holds both zero and the published effect (or the study gives no
  size), so the run lacks the power to tell.

Beside each verdict: the minimum detectable difference at 80 % power, ``(1.96 + 0.84)`` standard errors (about 2.8),
with the standard error read from the interval's width; and, where the study gives an effect size, the test cohort
that would detect it, from the standard error shrinking with the square root of the sample size. A finding whose
rows are missing (a chapter not run, a group too small) is **not estimable**: that is not a verdict.

With several seeds, a difference measured per seed is averaged over seeds, and its standard error combines the
bootstrap's (sampling noise, the same test patients for every seed) with the spread across seeds (training noise).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import evaluation
from helpers.evaluation import Z_95, minimum_detectable, size_to_detect

REPRODUCED, CONTRADICTED, ABSENT, INCONCLUSIVE = "reproduced", "contradicted", "absent", "inconclusive"
NOT_ESTIMABLE = "not estimable"
VERDICTS: tuple[str, ...] = (REPRODUCED, CONTRADICTED, ABSENT, INCONCLUSIVE)


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """Several verdicts that must all hold: reproduced when all are, contradicted when any is, else inconclusive."""
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return INCONCLUSIVE


def standard_error(ci_low: float, ci_high: float) -> float:
    """The standard error a 95 % interval implies: its width over 2 x 1.96."""
    return (ci_high - ci_low) / (2 * Z_95)


def difference_verdict(value: float, ci_low: float, ci_high: float, direction: int,
                       published_effect: float | None = None) -> str:
    """The page's four outcomes for one difference (see the module docstring).

    ``direction`` is -1 when the study found the difference negative (a group does worse) and +1 when positive;
    ``published_effect`` is the study's size of the difference (signed), or None when it gives none.
    """
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 (published: lower) or +1 (published: higher); got {direction!r}.")
    if published_effect is not None and np.sign(published_effect) != direction:
        raise ValueError(f"published_effect {published_effect} has the other sign than direction {direction}.")
    if not (np.isfinite(value) and np.isfinite(ci_low) and np.isfinite(ci_high)):
        return NOT_ESTIMABLE
    if (direction < 0 and ci_high < 0) or (direction > 0 and ci_low > 0):
        return REPRODUCED
    if (direction < 0 and ci_low > 0) or (direction > 0 and ci_high < 0):
        return CONTRADICTED
    if published_effect is not None and not (ci_low <= published_effect <= ci_high):
        return ABSENT
    return INCONCLUSIVE


def majority(verdicts: list[str]) -> str:
    """The verdict most seeds give; a tie between verdicts is "inconclusive"."""
    verdicts = [v for v in verdicts if v != NOT_ESTIMABLE] or verdicts
    if not verdicts:
        return NOT_ESTIMABLE
    counts = Counter(verdicts)
    best = max(counts.values())
    winners = [v for v, c in counts.items() if c == best]
    return winners[0] if len(winners) == 1 else INCONCLUSIVE


@dataclass
class Difference:
    """One measured difference: value, 95 % interval, standard error and the admissions it rests on."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    label: str
    seeds: int = 1

    @property
    def se(self) -> float:
        return standard_error(self.ci_low, self.ci_high)

    @property
    def found(self) -> bool:
        return bool(np.isfinite(self.value) and np.isfinite(self.ci_low) and np.isfinite(self.ci_high))

    def text(self, digits: int = 3) -> str:
        shown = evaluation.format_estimate(self.value, self.ci_low, self.ci_high, digits)
        seeds = f", mean of {self.seeds} seeds" if self.seeds > 1 else ""
        return f"{self.label} {shown}{seeds}"

    @classmethod
    def from_normal(cls, value: float, se: float, n: int, label: str, seeds: int = 1) -> Difference:
        return cls(value, value - Z_95 * se, value + Z_95 * se, n, label, seeds)


def seed_mean(rows: pd.DataFrame, label: str) -> Difference:
    """Per-seed rows of one quantity as one difference: the mean over seeds; its standard error combines the mean
    bootstrap variance (sampling noise, the same test patients for every seed) and the variance of the mean across
    seeds (training noise). One seed gives its row's own percentile interval."""
    rows = rows[np.isfinite(rows["value"]) & np.isfinite(rows["ci_low"]) & np.isfinite(rows["ci_high"])]
    if rows.empty:
        return Difference(np.nan, np.nan, np.nan, 0, label, 0)
    if len(rows) == 1:
        row = rows.iloc[0]
        return Difference(float(row["value"]), float(row["ci_low"]), float(row["ci_high"]), int(row["n"]), label)
    se = standard_error(rows["ci_low"], rows["ci_high"])
    variance = float(np.mean(se ** 2)) + float(rows["value"].var(ddof=1)) / len(rows)
    return Difference.from_normal(float(rows["value"].mean()), np.sqrt(variance), int(rows["n"].iloc[0]), label,
                                  len(rows))


@dataclass
class Verdict:
    """What the page says about one finding."""

    verdict: str
    evidence: str
    published_effect: str = "no size published"
    mde: str = "-"
    size_needed: str = "-"


def _power_texts(difference: Difference, published_effect: float | None, n_total: int | None = None
                 ) -> tuple[str, str]:
    if not difference.found:
        return "-", "-"
    mde = f"{minimum_detectable(difference.se):.3f}"
    if published_effect is None:
        return mde, "no size published"
    base = n_total if n_total else difference.n
    needed = size_to_detect(base, difference.se, published_effect)
    if not np.isfinite(needed):
        return mde, "-"
    if needed <= base:
        return mde, f"{int(np.ceil(needed)):,} (this run has {base:,})"
    return mde, f"{int(np.ceil(needed)):,} ({needed / base:.1f} x this run's {base:,})"


def judge_difference(difference: Difference, direction: int, published_effect: float | None = None,
                     n_total: int | None = None, reason: str = "") -> Verdict:
    """The verdict, evidence and power figures of one difference (``n_total``: the test admissions it rests on)."""
    effect_text = f"{published_effect:+.3f}" if published_effect is not None else "no size published"
    if not difference.found:
        return Verdict(NOT_ESTIMABLE, f"{difference.label}: {reason or 'no estimate in metrics.csv'}", effect_text)
    verdict = difference_verdict(difference.value, difference.ci_low, difference.ci_high, direction,
                                 published_effect)
    mde, needed = _power_texts(difference, published_effect, n_total)
    return Verdict(verdict, difference.text(), effect_text, mde, needed)
