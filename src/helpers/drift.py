"""What changes between the years a model learns from and the year it is deployed in.

The temporal test comes from the future: its notes may use words the training notes never did (a renamed template
section, a newer drug), its patients may differ, and its base rate may have moved. These measures put numbers on
that shift, so the chapter can say what drives the gap between the random and the temporal test in this data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from helpers.privacy import HIDDEN_SHARE, hide_counts, is_small, share_hidden

_WORD = re.compile(r"[a-z][a-z\-]+")


def _word_counts(texts: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(_WORD.findall(text.lower()))
    return counts


def vocabulary_shift(train_texts: Iterable[str], test_texts: Iterable[str], *, min_count: int = 1) -> dict[str, float]:
    """Share of the test notes' words (tokens and distinct types) never seen in the training notes.

    Words are lower-cased alphabetic runs; a word counts as seen when it occurs at least ``min_count`` times in
    training.
    """
    train = _word_counts(train_texts)
    test = _word_counts(test_texts)
    seen = {w for w, c in train.items() if c >= min_count}
    total = sum(test.values())
    unseen_tokens = sum(c for w, c in test.items() if w not in seen)
    return {
        "test_words": int(total),
        "unseen_word_share": unseen_tokens / total if total else float("nan"),
        "unseen_type_share": (sum(1 for w in test if w not in seen) / len(test)) if test else float("nan"),
    }


def emerging_terms(early_texts: Iterable[str], late_texts: Iterable[str], *, top: int = 10,
                   min_late_share: float = 0.01) -> pd.DataFrame:
    """Words whose share of notes changed most between two sets of notes (late minus early), both directions.

    ``min_late_share`` drops words too rare to matter. Returns word, share of early notes, share of late notes.
    """
    early = list(early_texts)
    late = list(late_texts)
    early_docs = Counter(w for text in early for w in set(_WORD.findall(text.lower())))
    late_docs = Counter(w for text in late for w in set(_WORD.findall(text.lower())))
    words = set(early_docs) | set(late_docs)
    rows = [{"word": w, "early_share": early_docs[w] / max(1, len(early)),
             "late_share": late_docs[w] / max(1, len(late))} for w in words]
    table = pd.DataFrame(rows)
    table = table[(table["late_share"] >= min_late_share) | (table["early_share"] >= min_late_share)]
    table["change"] = table["late_share"] - table["early_share"]
    rising = table.sort_values("change", ascending=False).head(top)
    falling = table.sort_values("change").head(top)
    out = pd.concat([rising.assign(direction="more frequent late"), falling.assign(direction="less frequent late")])
    return out.reset_index(drop=True)


LEVEL4_COUNT = "comorbidity level 4 (admissions)"
"""The count behind the level-4 share: kept in the table so that real data can hide the share exactly; not shown."""


def split_shift_table(data: pd.DataFrame) -> pd.DataFrame:
    """Per split: admissions, readmissions and their prevalence, mean age, share with comorbidity level 4, words
    per note."""
    rows = []
    for split, part in data.groupby("split", observed=True, sort=False):
        level4 = int((part["comorbidity_level"] == 4).sum()) if "comorbidity_level" in part else np.nan
        rows.append({
            "split": split,
            "admissions": len(part),
            "readmissions": int(part["readmitted_30d"].sum()),
            "prevalence (%)": 100 * part["readmitted_30d"].mean(),
            "mean age": part["age"].mean() if "age" in part else np.nan,
            "comorbidity level 4 (%)": 100 * level4 / len(part),
            LEVEL4_COUNT: level4,
            "median words per note": part["note_text"].str.split().str.len().median(),
        })
    return pd.DataFrame(rows).set_index("split").round(1)


def split_shift_display(table: pd.DataFrame, *, real_data: bool = False) -> pd.DataFrame:
    """:func:`split_shift_table` for reading: splits named as the book names them, counts as whole numbers; on real
    data the privacy rule (helpers.privacy): a count from 1 to 10 shows "<11", a share or mean that would give one
    back is left empty, and one more count where the splits' sum (the cohort size) would recover a hidden one."""
    from helpers.evaluation import SPLIT_NAMES

    counts = table.reset_index()
    counts[["admissions", "readmissions"]] = counts[["admissions", "readmissions"]].astype(int)
    shown = hide_counts(counts, ["admissions", "readmissions"], real_data=real_data,
                        share_columns={"prevalence (%)": ("readmissions", "admissions"),
                                       "comorbidity level 4 (%)": (LEVEL4_COUNT, "admissions")},
                        sums_within=[])
    if real_data:   # a mean over fewer than 11 admissions describes them
        few = np.asarray(is_small(counts["admissions"]), dtype=bool)
        for column in ("mean age", "median words per note"):
            shown[column] = shown[column].astype(object)
            shown.loc[few, column] = HIDDEN_SHARE
    for column in ("admissions", "readmissions"):
        shown[column] = [value if isinstance(value, str) else f"{int(value):,}" for value in shown[column]]
    shown = shown.drop(columns=LEVEL4_COUNT).set_index("split").astype(object)
    shown.index = [SPLIT_NAMES.get(name, name) for name in shown.index]
    shown.index.name = "split"
    return shown


def format_terms(terms: pd.DataFrame) -> pd.DataFrame:
    """The emerging-terms table for reading: shares of notes in percent, one row per word."""
    out = terms.copy()
    out["training notes (%)"] = (100 * out.pop("early_share")).round(1)
    out["test-year notes (%)"] = (100 * out.pop("late_share")).round(1)
    out = out.drop(columns="change")
    return out.set_index(["direction", "word"])


def vocabulary_shift_by_split(data: pd.DataFrame, splits=("random_test", "temporal_test")) -> pd.DataFrame:
    """:func:`vocabulary_shift` of each split's notes against the training notes, one row per split."""
    train = data.loc[data["split"] == "train", "note_text"]
    return pd.DataFrame({split: vocabulary_shift(train, data.loc[data["split"] == split, "note_text"])
                         for split in splits}).T


def shift_texts(shift: pd.DataFrame, shift_table: pd.DataFrame, *, simulated: bool) -> dict[str, str]:
    """Chapter 2's phrases on the shift: the share of unseen words and the prevalence in each test, and what the
    word table shows (on real data no table of words: the words of real notes are patient text)."""
    return {
        "unseen_random": f"{100 * shift.loc['random_test', 'unseen_word_share']:.3f} %",
        "unseen_temporal": f"{100 * shift.loc['temporal_test', 'unseen_word_share']:.3f} %",
        "prevalence_random": _prevalence_text(shift_table, "random_test", simulated),
        "prevalence_temporal": _prevalence_text(shift_table, "temporal_test", simulated),
        "word_use_table": ("the second table shows how the use of words moved: the share of notes containing each "
                           "word in the training years and in the test year (template sections renamed, newer drugs "
                           "and terms)") if simulated else (
                           "on real data the words themselves are note text, so the book does not list which words "
                           "rose or fell"),
    }


def _prevalence_text(shift_table: pd.DataFrame, split: str, simulated: bool) -> str:
    row = shift_table.loc[split]
    if not simulated and "readmissions" in row and share_hidden(row["readmissions"], row["admissions"]):
        return "not shown (a count under 11)"
    return f"{row['prevalence (%)']:.1f} %"


def word_use_table(data: pd.DataFrame, *, simulated: bool, top: int = 8) -> pd.DataFrame | None:
    """The words whose share of notes moved most between the training notes and the temporal test, for reading;
    None on real data, whose words are patient text and never shown."""
    if not simulated:
        return None
    return format_terms(emerging_terms(data.loc[data["split"] == "train", "note_text"],
                                       data.loc[data["split"] == "temporal_test", "note_text"], top=top))
