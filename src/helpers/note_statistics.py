"""Chapter 1's measurements of the notes and of time: vocabulary per 100 notes, and per-year stationarity.

**How words are counted.** A note's words are its lower-cased runs of letters (``[a-z]+`` after lower-casing):
numbers, dates and punctuation are not words, "Pt." and "pt" are one word, "s/p" is two ("s", "p"). This is the
count that gives about 880 distinct words in 108 notes of the earlier simulator, the figure set beside the real
one. Distinct words depend on how many notes are pooled (Heaps' law), so they are
compared at a fixed number of notes: the mean over ``draws`` random samples of ``n_notes`` notes.

The real figure: 108 real discharge summaries use 4,240 distinct words (a measurement on real discharge
summaries that the project has never seen; median 364 words, IQR 272-534).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

#: Distinct words in 108 real discharge summaries, and where the figure comes from.
REAL_DISTINCT_WORDS = 4240
REAL_NOTES = 108
REAL_SOURCE = "a count by the project's maintainers on 108 real discharge summaries (median 364 words, IQR 272-534)"

_WORD = re.compile(r"[a-z]+")


def note_words(text: str) -> list[str]:
    """The words of one note as counted here: lower-cased runs of letters."""
    return _WORD.findall(str(text).lower())


def distinct_words(notes) -> int:
    """Number of distinct words in a collection of notes."""
    seen: set[str] = set()
    for text in notes:
        seen.update(note_words(text))
    return len(seen)


def distinct_words_per_notes(notes: pd.Series, n_notes: int = 100, draws: int = 20, seed: int = 0) -> float:
    """Mean number of distinct words in ``n_notes`` notes drawn at random (without replacement), over ``draws``
    samples; NaN when fewer than ``n_notes`` notes exist."""
    notes = pd.Series(notes).dropna().astype(str)
    if n_notes < 1 or draws < 1:
        raise ValueError(f"n_notes and draws must be >= 1; got n_notes={n_notes}, draws={draws}.")
    if len(notes) < n_notes:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = notes.to_numpy()
    return float(np.mean([distinct_words(values[rng.choice(len(values), n_notes, replace=False)])
                          for _ in range(draws)]))


def vocabulary_table(cohort: pd.DataFrame, n_notes: int = REAL_NOTES, draws: int = 20, seed: int = 0,
                     by: tuple[str, ...] = ("hospital", "discharge_year")) -> pd.DataFrame:
    """Distinct words per ``n_notes`` notes: overall, by each column of ``by``, with the real figure beside it.

    Columns: ``group_var``, ``group``, ``notes`` (how many notes the group has), ``distinct_words`` (mean over
    ``draws`` samples; blank when the group has fewer than ``n_notes`` notes). The last row is the real figure,
    measured on 108 notes, with its source; the default ``n_notes`` is therefore 108, so the rows compare directly.
    """
    for column in ("note_text",) + tuple(by):
        if column not in cohort.columns:
            raise ValueError(f"vocabulary_table needs column {column!r}; the cohort has {list(cohort.columns)}.")
    rows = [{"group_var": "overall", "group": "all", "notes": len(cohort),
             "distinct_words": distinct_words_per_notes(cohort["note_text"], n_notes, draws, seed)}]
    for column in by:
        for value, part in cohort.groupby(column, sort=True, observed=True):
            rows.append({"group_var": column, "group": str(value), "notes": len(part),
                         "distinct_words": distinct_words_per_notes(part["note_text"], n_notes, draws, seed)})
    rows.append({"group_var": "real discharge summaries", "group": f"{REAL_NOTES} notes ({REAL_SOURCE})",
                 "notes": REAL_NOTES, "distinct_words": float(REAL_DISTINCT_WORDS)})
    table = pd.DataFrame(rows)
    table["distinct_words"] = table["distinct_words"].round(0)
    return table


def stationarity_table(cohort: pd.DataFrame, oracle: pd.DataFrame | None = None,
                       year_column: str = "discharge_year") -> pd.DataFrame:
    """Per year: admissions, readmissions, prevalence, mean prior admissions in 12 months (when the column exists)
    and the oracle AUROC (simulated data, when ``oracle`` is given and the year has both outcomes)."""
    for column in (year_column, "readmitted_30d", "admission_id"):
        if column not in cohort.columns:
            raise ValueError(f"stationarity_table needs column {column!r}; the cohort has {list(cohort.columns)}.")
    frame = cohort
    if oracle is not None:
        frame = cohort.merge(oracle[["admission_id", "true_probability"]], on="admission_id", how="left",
                             validate="one_to_one")
    rows = []
    for year, part in frame.groupby(year_column, sort=True):
        row = {"year": int(year), "admissions": len(part), "readmissions": int(part["readmitted_30d"].sum()),
               "prevalence": float(part["readmitted_30d"].mean())}
        if "prior_admissions_12m" in part.columns:
            row["mean_prior_admissions"] = float(part["prior_admissions_12m"].mean())
        if oracle is not None:
            y = part["readmitted_30d"].to_numpy()
            ok = part["true_probability"].notna().to_numpy()
            row["oracle_auroc"] = (float(roc_auc_score(y[ok], part["true_probability"].to_numpy()[ok]))
                                   if len(set(y[ok])) == 2 else float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def overall_distinct_words(table: pd.DataFrame) -> str:
    """The overall row of :func:`vocabulary_table` as text for the chapter."""
    value = table.loc[table["group_var"] == "overall", "distinct_words"].iloc[0]
    return "too few notes to measure" if pd.isna(value) else f"{value:,.0f}"


def vocabulary_comment(*, simulated: bool) -> str:
    """What makes the vocabulary, in one sentence: the simulated clinicians, or real writers."""
    if simulated:
        return ("In the simulated health system the vocabulary comes from the clinicians who write the notes: each "
                "hospital has a staff, each clinician their own synonyms and abbreviations, hedges, problem lists or "
                "prose, typing slips and habit of copying the history forward, and the staff changes over the years "
                "(knobs clinician_staff_scale, clinician_turnover_rate, time_clinician_turnover).")
    return "These are the notes' own words, as their authors wrote them."


def stationarity_comment(table: pd.DataFrame, *, simulated: bool) -> str:
    """Per-year ranges of prevalence, prior admissions and oracle AUROC, as a sentence for the chapter."""
    if table.empty:
        return "No year has admissions."
    first, last = table.iloc[0], table.iloc[-1]
    text = (f"Across {len(table)} years, the readmission prevalence ranges from {table['prevalence'].min():.1%} to "
            f"{table['prevalence'].max():.1%} ({first['prevalence']:.1%} in {int(first['year'])}, "
            f"{last['prevalence']:.1%} in {int(last['year'])})")
    if "mean_prior_admissions" in table.columns:
        text += (f"; the mean number of admissions in the prior 12 months from "
                 f"{table['mean_prior_admissions'].min():.2f} to {table['mean_prior_admissions'].max():.2f}")
    if simulated and "oracle_auroc" in table.columns:
        text += f"; the oracle AUROC from {table['oracle_auroc'].min():.3f} to {table['oracle_auroc'].max():.3f}"
    return text + "."
