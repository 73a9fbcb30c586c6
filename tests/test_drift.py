"""Measures of what changes between training years and the temporal test."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import drift


def test_vocabulary_shift_counts_unseen_words_by_hand():
    train = ["heart failure admitted", "heart attack"]
    test = ["heart failure with entresto", "entresto started"]
    shift = drift.vocabulary_shift(train, test)
    # test words: heart failure with entresto entresto started -> 6 tokens; unseen: with, entresto x2, started = 4
    assert shift["test_words"] == 6
    assert shift["unseen_word_share"] == pytest.approx(4 / 6)
    # distinct test words: heart, failure, with, entresto, started -> unseen 3 of 5
    assert shift["unseen_type_share"] == pytest.approx(3 / 5)


def test_emerging_terms_finds_the_renamed_section():
    early = ["chief complaint: pain"] * 10
    late = ["reason for admission: pain"] * 10
    terms = drift.emerging_terms(early, late, top=3)
    rising = terms[terms["direction"] == "more frequent late"]
    falling = terms[terms["direction"] == "less frequent late"]
    assert set(rising["word"]) >= {"reason", "admission"}
    assert set(falling["word"]) >= {"chief", "complaint"}
    assert terms.loc[terms["word"] == "chief", "change"].iloc[0] == pytest.approx(-1.0)
    shown = drift.format_terms(terms)
    assert shown.loc[("less frequent late", "chief"), "training notes (%)"] == 100.0


def test_split_shift_table_values():
    data = pd.DataFrame({
        "split": ["train", "train", "temporal_test"],
        "readmitted_30d": [1, 0, 0],
        "age": [60, 80, 50],
        "comorbidity_level": [4, 1, 4],
        "note_text": ["a b c", "a", "a b"],
    })
    table = drift.split_shift_table(data)
    assert table.loc["train", "prevalence (%)"] == 50.0
    assert table.loc["train", "mean age"] == 70.0
    assert table.loc["temporal_test", "comorbidity level 4 (%)"] == 100.0
    assert table.loc["train", "median words per note"] == 2.0


def test_vocabulary_shift_by_split_compares_each_split_with_training():
    data = pd.DataFrame({"split": ["train", "random_test", "temporal_test"],
                         "note_text": ["heart failure", "heart failure", "heart entresto"]})
    table = drift.vocabulary_shift_by_split(data)
    assert table.loc["random_test", "unseen_word_share"] == 0.0
    assert table.loc["temporal_test", "unseen_word_share"] == pytest.approx(0.5)


def test_shift_texts_and_the_word_table_stay_off_real_data():
    data = pd.DataFrame({
        "split": ["train"] * 4 + ["random_test"] * 2 + ["temporal_test"] * 2,
        "note_text": ["chief complaint chest pain"] * 4 + ["chief complaint cough"] * 2 + ["reason apixaban"] * 2,
        "readmitted_30d": [0, 1, 0, 0, 1, 0, 0, 0], "age": [60] * 8, "comorbidity_level": [1] * 8,
    })
    shift = pd.DataFrame({"unseen_word_share": [0.0, 0.5]}, index=["random_test", "temporal_test"])
    table = pd.DataFrame({"prevalence (%)": [50.0, 0.0]}, index=["random_test", "temporal_test"])
    simulated = drift.shift_texts(shift, table, simulated=True)
    assert (simulated["unseen_random"], simulated["unseen_temporal"]) == ("0.000 %", "50.000 %")
    assert (simulated["prevalence_random"], simulated["prevalence_temporal"]) == ("50.0 %", "0.0 %")
    assert "second table" in simulated["word_use_table"]
    assert "does not list" in drift.shift_texts(shift, table, simulated=False)["word_use_table"]
    assert drift.word_use_table(data, simulated=False) is None
    words = drift.word_use_table(data, simulated=True, top=2)
    assert "apixaban" in set(words.index.get_level_values("word"))


def test_split_shift_display_names_splits_as_the_book_does():
    data = pd.DataFrame({"split": ["train"] * 1200 + ["temporal_test"] * 3, "readmitted_30d": 0, "age": 60,
                         "comorbidity_level": 1, "note_text": "a b"})
    shown = drift.split_shift_display(drift.split_shift_table(data))
    assert shown.index.tolist() == ["training", "temporal test"]
    assert shown["admissions"].tolist() == ["1,200", "3"]


def test_split_shift_display_keeps_small_counts_off_real_data():
    """Real data: a split of 8 admissions shows "<11" and no prevalence, mean or share; a split with 3 readmissions
    hides them and its prevalence; one more count is hidden so that the sum of the splits cannot give one back."""
    n = {"train": 500, "validation": 40, "temporal_test": 8}
    readmitted = {"train": 100, "validation": 3, "temporal_test": 2}
    rows = []
    for split, size in n.items():
        rows += [{"split": split, "readmitted_30d": int(i < readmitted[split]), "age": 50 + i % 30,
                  "comorbidity_level": 4 if i % 2 else 1, "note_text": "a b c"} for i in range(size)]
    table = drift.split_shift_table(pd.DataFrame(rows))
    assert table.loc["validation", "readmissions"] == 3
    simulated = drift.split_shift_display(table)
    assert simulated.loc["temporal test", "admissions"] == "8"
    assert simulated.loc["validation", "prevalence (%)"] == 7.5
    assert drift.LEVEL4_COUNT not in simulated.columns
    real = drift.split_shift_display(table, real_data=True)
    assert real.loc["temporal test", "admissions"] == "<11"
    assert real.loc["temporal test", ["prevalence (%)", "mean age", "comorbidity level 4 (%)"]].tolist() == [""] * 3
    assert real.loc["validation", "readmissions"] == "<11"
    assert real.loc["validation", "prevalence (%)"] == ""
    # 500 + 40 + 8 is the cohort size, published in chapter 1: with the 8 alone hidden it would follow from the
    # others, so the next smallest count is hidden too (shown as "<11" like every hidden count)
    assert real["admissions"].tolist() == ["500", "<11", "<11"]
    text = drift.shift_texts(pd.DataFrame({"unseen_word_share": [0.0, 0.0]}, index=["random_test", "temporal_test"]),
                             table.rename(index={"validation": "random_test"}), simulated=False)
    assert text["prevalence_random"] == "not shown (a count under 11)"
    assert text["prevalence_temporal"] == "not shown (a count under 11)"
