"""Chapter 1's note and time measurements (helpers.note_statistics), checked against hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import note_statistics as ns


def test_words_are_lower_cased_runs_of_letters():
    assert ns.note_words("Pt. has CHF; pt s/p TKA 2019, EF 35%.") == ["pt", "has", "chf", "pt", "s", "p", "tka", "ef"]
    # by hand: pt, has, chf, s, p, tka, ef -> 7; the second note adds "walker" -> 8
    assert ns.distinct_words(["Pt. has CHF; pt s/p TKA 2019, EF 35%.", "walker, PT"]) == 8


def test_distinct_words_per_notes_samples_without_replacement():
    notes = pd.Series([f"word{chr(97 + i)} common" for i in range(10)])
    # every note has its own word plus "common": n notes hold n + 1 distinct words, whatever the sample
    assert ns.distinct_words_per_notes(notes, n_notes=4, draws=5) == 5
    assert np.isnan(ns.distinct_words_per_notes(notes, n_notes=11))
    with pytest.raises(ValueError, match="n_notes and draws must be >= 1"):
        ns.distinct_words_per_notes(notes, n_notes=0)


def test_vocabulary_table_has_groups_and_the_real_figure():
    cohort = pd.DataFrame({"note_text": ["alpha beta", "beta gamma", "gamma delta", "delta alpha"],
                           "hospital": ["A", "A", "B", "B"], "discharge_year": [2020, 2021, 2020, 2021]})
    table = ns.vocabulary_table(cohort, n_notes=2, draws=30, seed=0)
    row = table.set_index(["group_var", "group"])
    assert row.loc[("hospital", "A"), "distinct_words"] == 3  # alpha, beta, gamma
    assert row.loc[("hospital", "B"), "distinct_words"] == 3
    assert row.loc[("discharge_year", "2020"), "distinct_words"] == 4
    real = table[table.group_var == "real discharge summaries"].iloc[0]
    assert real.distinct_words == 4240 and "108 real discharge summaries" in real.group
    with pytest.raises(ValueError, match="needs column 'hospital'"):
        ns.vocabulary_table(cohort.drop(columns="hospital"))


def test_stationarity_table_by_hand():
    cohort = pd.DataFrame({"admission_id": list("abcdef"), "discharge_year": [2020, 2020, 2020, 2021, 2021, 2021],
                           "readmitted_30d": [1, 0, 0, 1, 1, 0], "prior_admissions_12m": [0, 1, 2, 3, 0, 0]})
    oracle = pd.DataFrame({"admission_id": list("abcdef"), "true_probability": [0.9, 0.2, 0.4, 0.3, 0.8, 0.1]})
    table = ns.stationarity_table(cohort, oracle).set_index("year")
    assert table.loc[2020, "prevalence"] == pytest.approx(1 / 3)
    assert table.loc[2021, "mean_prior_admissions"] == pytest.approx(1.0)
    assert table.loc[2020, "oracle_auroc"] == pytest.approx(roc_auc_score([1, 0, 0], [0.9, 0.2, 0.4]))
    assert table.loc[2021, "oracle_auroc"] == pytest.approx(1.0)
    without = ns.stationarity_table(cohort)
    assert "oracle_auroc" not in without.columns and list(without.admissions) == [3, 3]


def test_comments_read_the_tables():
    table = pd.DataFrame({"year": [2020, 2021], "admissions": [10, 10], "readmissions": [1, 2],
                          "prevalence": [0.1, 0.2], "mean_prior_admissions": [0.5, 0.25], "oracle_auroc": [0.8, 0.9]})
    text = ns.stationarity_comment(table, simulated=True)
    assert text == ("Across 2 years, the readmission prevalence ranges from 10.0% to 20.0% (10.0% in 2020, 20.0% in "
                    "2021); the mean number of admissions in the prior 12 months from 0.25 to 0.50; the oracle AUROC "
                    "from 0.800 to 0.900.")
    assert "oracle" not in ns.stationarity_comment(table, simulated=False)
    vocab = pd.DataFrame({"group_var": ["overall"], "group": ["all"], "notes": [5], "distinct_words": [np.nan]})
    assert ns.overall_distinct_words(vocab) == "too few notes to measure"
    vocab["distinct_words"] = [3141.0]
    assert ns.overall_distinct_words(vocab) == "3,141"
    assert "clinicians" in ns.vocabulary_comment(simulated=True)
    assert "clinicians" not in ns.vocabulary_comment(simulated=False)
