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
