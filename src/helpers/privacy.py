"""What the book may publish on real data: the study's one small-count rule, decided here and nowhere else.

The rule (docs/contracts.md#privacy-rule; the usual rule for publishing health data): on real data no number
shown lets a reader know that a count of patients or admissions is between 1 and 10. Zero may show. A count
from 1 to 10 is *hidden* (shown as :data:`HIDDEN`, "<11"); and because a hidden count can be worked out from what
stands beside it, the same rule hides:

- a **share or rate** whose count or whose complement (the total minus the count) is from 1 to 10, or whose total
  is: 5 % of 200 admissions is 10 readmissions, 95 % of 200 is 10 admissions without one (:func:`share_hidden`);
- the **part beside its total** when the total minus the part is from 1 to 10: with n = 200 and n_pos = 195 shown,
  the 5 admissions without a readmission are known (:func:`hide_counts`, ``complements``);
- one more cell of a **sum** in which exactly one cell is hidden (the smallest visible non-zero cell), or in which
  the hidden cells add up to fewer than 11, since the total minus the shown cells would give it back
  (:func:`protect_sums`);
- counts from 1 to 10 written in **sentences** ("7 admissions") (:func:`hide_counts_in_text`).

The one flag is ``real_data``: True for a user's own data and MIMIC-IV (the rule applies), False for the simulated
health system, whose numbers are no one's and are shown in full. Every chapter and every analysis helper asks this
module, with that flag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

THRESHOLD = 11
"""The smallest count of patients or admissions a published table may show, zero apart."""
HIDDEN = f"<{THRESHOLD}"
"""What a hidden count shows."""
HIDDEN_SHARE = ""
"""What a hidden share or rate shows by default (an empty cell: a number there would give the count back)."""

COUNT_NOUNS = ("admissions", "admission", "patients", "patient", "readmissions", "readmission", "positives",
               "negatives", "events", "deaths", "notes", "cases", "errors")
"""Words that make the number before them a count in a sentence ("7 admissions")."""


def is_small(count) -> np.ndarray | bool:
    """True where a count is from 1 to ``THRESHOLD - 1`` (10): what real data must not publish. NaN is not small.

    Accepts a number, an array or a Series (returned as a boolean array, or a bool for a single number).
    """
    values = pd.to_numeric(pd.Series(np.atleast_1d(count)), errors="coerce").to_numpy(dtype=float)
    small = np.isfinite(values) & (values > 0) & (values < THRESHOLD)
    if np.ndim(count) == 0:
        return bool(small[0])
    return small


def count_text(n, *, real_data: bool) -> str:
    """A count for a table or the prose: "1,234", or "<11" for 1 to 10 on real data."""
    return HIDDEN if real_data and is_small(n) else f"{int(n):,}"


def share_hidden(count, total) -> np.ndarray | bool:
    """True where a share count / total must not be shown on real data: the count, the total minus the count or
    the total is from 1 to 10 (each of them would follow from the share and the other). NaN is not hidden."""
    scalar = np.ndim(count) == 0 and np.ndim(total) == 0
    count = pd.to_numeric(pd.Series(np.atleast_1d(count)), errors="coerce").to_numpy(dtype=float)
    total = pd.to_numeric(pd.Series(np.atleast_1d(total)), errors="coerce").to_numpy(dtype=float)
    hidden = np.asarray(is_small(count) | is_small(total - count) | is_small(total), dtype=bool)
    return bool(hidden[0]) if scalar else hidden


def protect_sums(values: pd.Series, hidden: pd.Series, sums: Iterable[Sequence]) -> pd.Series:
    """Hide further cells so that no hidden count follows from a sum (complementary suppression).

    ``values`` are the counts (any index), ``hidden`` what is hidden so far, ``sums`` groups of index labels whose
    cells add up to a total a reader knows (the total's own label may be in the group, or the total may be published
    elsewhere). Wherever a group has exactly one hidden cell, or hidden cells that add up to fewer than 11, its
    smallest visible non-zero cell is hidden too, until nothing changes. Returns the new mask.
    """
    hidden = hidden.astype(bool).copy()
    groups = [list(members) for members in sums]
    changed = True
    while changed:
        changed = False
        for members in groups:
            inside = hidden.loc[members]
            n_hidden = int(inside.sum())
            if n_hidden == 0:
                continue
            hidden_total = float(pd.to_numeric(values.loc[members][inside.to_numpy()], errors="coerce").sum())
            if n_hidden == 1 or hidden_total < THRESHOLD:
                numbers = pd.to_numeric(values.loc[members], errors="coerce")
                candidates = numbers[~inside.to_numpy() & (numbers > 0).to_numpy()]
                if len(candidates):
                    hidden.loc[candidates.idxmin()] = True
                    changed = True
    return hidden


def hide_counts(
    table: pd.DataFrame,
    count_columns: Sequence[str],
    *,
    real_data: bool,
    share_columns: Mapping[str, tuple[str, str]] | Sequence[str] = (),
    complements: Sequence[tuple[str, str]] = (),
    sums_within: Sequence[str] | None = None,
    hidden_share: str = HIDDEN_SHARE,
) -> pd.DataFrame:
    """The table as real data may publish it; unchanged when ``real_data`` is False.

    - every count from 1 to 10 in ``count_columns`` shows "<11";
    - ``complements``: pairs ``(total, part)`` of count columns (``("n", "n_pos")``); where the total minus the part
      is from 1 to 10 the part is hidden too;
    - ``share_columns``: shares or rates derived from the counts. As a mapping ``{share: (count, total)}`` a share is
      hidden by :func:`share_hidden` and wherever its count or total is hidden; as a list, a share is hidden
      wherever a count of its row is hidden. A hidden
      share shows ``hidden_share`` (default empty);
    - ``sums_within``: columns whose values split the rows into groups whose counts add up to a total known
      elsewhere (each split's test size, a hospital's cohort size); in each group and count column,
      :func:`protect_sums` hides one more cell where one would be recoverable (``[]`` for the whole table as one
      group; None: no sums).
    """
    if not real_data:
        return table
    out = table.copy()
    for column in count_columns:
        if column not in out.columns:
            raise KeyError(f"privacy.hide_counts: column {column!r} not in the table ({list(out.columns)})")
    numbers = {c: pd.to_numeric(table[c], errors="coerce") for c in count_columns}
    hidden = {c: pd.Series(is_small(numbers[c]), index=table.index) for c in count_columns}
    for total, part in complements:
        if total in numbers and part in numbers:
            hidden[part] |= pd.Series(is_small(numbers[total] - numbers[part]), index=table.index)
    if sums_within is not None:
        keys = [table[c].astype(str) for c in sums_within]
        groups = ([list(idx) for _, idx in table.groupby(keys, sort=False).groups.items()] if keys
                  else [list(table.index)])
        for column in count_columns:
            if table.index.has_duplicates:
                raise ValueError("privacy.hide_counts: sums_within needs a table with a unique index")
            hidden[column] = protect_sums(numbers[column], hidden[column], groups)
    for column in count_columns:
        out[column] = out[column].astype(object)
        out.loc[hidden[column].to_numpy(), column] = HIDDEN
    any_hidden = np.zeros(len(out), dtype=bool)
    for column in count_columns:
        any_hidden |= hidden[column].to_numpy()
    if isinstance(share_columns, Mapping):
        for share, (count, total) in share_columns.items():
            mask = np.asarray(share_hidden(table[count].to_numpy(), table[total].to_numpy()), dtype=bool)
            for column in (count, total):  # a share beside a hidden count or total would give it back
                if column in hidden:
                    mask = mask | hidden[column].to_numpy()
            out[share] = out[share].astype(object)
            out.loc[mask, share] = hidden_share
    else:
        for share in share_columns:
            out[share] = out[share].astype(object)
            out.loc[any_hidden, share] = hidden_share
    return out


def hide_counts_in_text(text: str, *, real_data: bool) -> str:
    """On real data, a count from 1 to 10 written before a count noun ("7 admissions < min 20") becomes "<11"."""
    if not real_data or not text:
        return text
    nouns = "|".join(sorted(COUNT_NOUNS, key=len, reverse=True))
    return re.sub(rf"(?<![\d.,])(\d+)(?![\d.,]\d)(?= (?:{nouns})\b)",
                  lambda m: HIDDEN if is_small(int(m.group(1))) else m.group(1), text)


def share_text(count, total, *, real_data: bool, digits: int = 1, hidden: str = "not shown (a count under 11)"
               ) -> str:
    """A share for the prose, "12.3 %", or ``hidden`` on real data where :func:`share_hidden` says so; "not
    estimable (no admissions)" for a total of 0."""
    if not total or not np.isfinite(float(total)):
        return "not estimable (no admissions)"
    if real_data and share_hidden(count, total):
        return hidden
    return f"{100 * float(count) / float(total):.{digits}f} %"


def hide_grid(table: pd.DataFrame, *, real_data: bool, totals: pd.DataFrame | None = None) -> pd.DataFrame:
    """A table of counts with rows and columns that add up (sites by split, with an 'all' row), as real data may
    publish it; unchanged when ``real_data`` is False.

    Counts from 1 to 10 show "<11"; every column (the total row included) and every row are sums a reader knows
    (the row totals are published elsewhere, e.g. a site's size in Table 1), so :func:`protect_sums` hides one more
    cell where one would be recoverable. ``totals`` (same shape, e.g. the admissions behind a table of
    readmissions) hides a cell whose complement, total minus count, is 1 to 10.
    """
    if not real_data:
        return table
    values = pd.to_numeric(table.stack(future_stack=True), errors="coerce")
    hidden = pd.Series(is_small(values), index=values.index)
    if totals is not None:
        aligned = totals.reindex(index=table.index, columns=table.columns)
        other = pd.to_numeric(aligned.stack(future_stack=True), errors="coerce")
        hidden |= pd.Series(is_small(other - values), index=values.index)
    sums = [[(r, c) for r in table.index] for c in table.columns] + [[(r, c) for c in table.columns]
                                                                    for r in table.index]
    hidden = protect_sums(values, hidden, sums)
    out = table.astype(object).copy()
    for (row, column), hide in hidden.items():
        if hide:
            out.loc[row, column] = HIDDEN
    return out


def hide_counts_in_cells(table: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """:func:`hide_counts_in_text` applied to every text cell of a table (reasons, evidence sentences)."""
    if not real_data:
        return table
    return table.map(lambda v: hide_counts_in_text(v, real_data=True) if isinstance(v, str) else v)
