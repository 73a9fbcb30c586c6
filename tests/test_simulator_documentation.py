"""Documentation (helpers.simulator.documentation): notes are written from the facts, each fact with a probability
below one, never stating the label; length and truncation behave like real discharge summaries."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers.simulator import simulate_health_system
from helpers.simulator.lexicon import SYNONYMS


def _any(canonical: str) -> str:
    """A regular expression for a canonical phrase in any clinician's wording."""
    options = (canonical,) + SYNONYMS.get(canonical, ())
    return "(?:" + "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True)) + ")"


_GIVE_AWAY = re.compile(r"readmi|return(?:ed|s)? (?:to|within)|bounce|rehospitali|came back|within 30 days|"
                        r"30-day|probability|risk score", re.IGNORECASE)


def test_notes_never_state_the_label_or_the_oracle(mid_table):
    notes = mid_table.note_text
    assert not notes.str.contains(_GIVE_AWAY).any()
    # no note quotes its own true probability
    for text, p in zip(notes.head(2000), mid_table.true_probability.head(2000)):
        assert f"{p:.3f}" not in text


def test_note_length_matches_real_discharge_summaries(mid):
    words = mid.admissions.note_words
    assert np.array_equal(words, mid.admissions.note_text.str.split().str.len())
    # real discharge summaries: median about 360 words, IQR about 270-530
    assert 320 <= words.median() <= 400
    assert 240 <= words.quantile(0.25) <= 310
    assert 430 <= words.quantile(0.75) <= 580
    medians = mid.admissions.groupby("hospital").note_words.median()
    # each hospital writes its own length; the small specialty hospital's notes are among the shortest
    assert medians.max() - medians.min() > 40
    assert medians["Hospital 4"] < min(medians["Hospital 1"], medians["Hospital 3"]) - 30


def test_negations_are_written_and_are_true(mid):
    a = mid.admissions
    no_hf = re.compile(rf"No {_any('history of')} (?:congestive )?{_any('heart failure')}\.")
    negated = a.note_text.str.contains(no_hf)
    assert negated.mean() > 0.05
    assert not a.chronic_conditions[negated].str.contains("heart failure").any()
    denies = a.note_text.str.contains(r"\b(?:Denies|denies|Negative for|negative for|reports no|No)\b")
    assert denies.mean() > 0.5
    h4 = a[(a.hospital == "Hospital 4") & (a.surgical == 1)]
    clean = h4.note_text.str.contains(r"(?:without|w/o|with no) erythema or drainage")
    assert clean.mean() > 0.1
    assert (h4.surgical_complication[clean] != "wound_infection").all()


def test_numbers_in_notes_are_the_admission_facts(mid):
    a = mid.admissions
    creatinine = a.note_text.str.extract(rf"Discharge labs: {_any('creatinine')} (\d+\.\d)")[0].astype(float)
    found = creatinine.notna()
    assert found.mean() > 0.5
    assert np.allclose(creatinine[found], a.creatinine[found])
    ef = a.note_text.str.extract(rf"{_any('ejection fraction')} of (\d+) {_any('percent')}")[0].astype(float)
    assert ef.notna().sum() > 100
    assert np.allclose(ef[ef.notna()], a.ejection_fraction[ef.notna()])
    los = a.note_text.str.extract(r"Total length of stay (?:was|stayed|continued to be) (\d+) days")[0].astype(float)
    assert los.notna().sum() > 100
    assert np.allclose(los[los.notna()], a.length_of_stay[los.notna()])


@pytest.mark.slow
def test_documentation_is_incomplete_and_follows_its_knob():
    sparse = simulate_health_system(n_admissions=800, seed=4, documentation_probability=0.4)
    full = simulate_health_system(n_admissions=800, seed=4, documentation_probability=1.0)
    share_sparse = sparse.admissions.facts_documented.sum() / sparse.admissions.facts_in_record.sum()
    share_full = full.admissions.facts_documented.sum() / full.admissions.facts_in_record.sum()
    # each fact is written with probability min(1, knob x salience), saliences 0.6-1.15: at 0.4 no fact reaches the
    # cap, so the written share scales with the knob (ratio 0.4, a little more because of the capped saliences)
    assert 0.37 <= share_sparse / share_full <= 0.45
    assert 0.75 <= share_full < 0.97
    default = simulate_health_system(n_admissions=800, seed=4)
    share_default = default.admissions.facts_documented.sum() / default.admissions.facts_in_record.sum()
    assert share_sparse < share_default < 1.0


@pytest.mark.slow
def test_note_length_scale_lengthens_notes():
    short = simulate_health_system(n_admissions=600, seed=3, note_length_scale=0.5)
    long = simulate_health_system(n_admissions=600, seed=3, note_length_scale=2.0)
    # the knob scales the narrative sentences, about a third of a note at the default
    assert long.admissions.note_words.median() > short.admissions.note_words.median() + 80


def test_late_facts_are_lost_when_notes_are_truncated(mid):
    a = mid.admissions
    long_notes = a[a.note_words > 256]
    assert len(long_notes) > 0.5 * len(a)

    def word_position(text: str, marker: str) -> int:
        at = text.find(marker)
        return -1 if at < 0 else len(text[:at].split())

    labs = long_notes.note_text.map(lambda t: word_position(t, "Discharge labs:"))
    assert (labs > 256).mean() > 0.1  # the lab values fall beyond a 256-word window in many long notes
    h1 = long_notes[long_notes.hospital == "Hospital 1"]
    disposition = h1.note_text.map(lambda t: word_position(t.lower(), "discharge disposition:"))
    assert (disposition > 256).mean() > 0.5
    assert (disposition[disposition >= 0] < h1.note_words[disposition >= 0]).all()


@pytest.mark.slow
def test_zero_drift_freezes_the_vocabulary():
    frozen = simulate_health_system(n_admissions=1500, seed=6, drift_strength=0.0)
    notes = frozen.admissions.note_text
    for term in ("sacubitril", "SARS-CoV-2", "Hospital Course by Problem", "(I50.9)", "empagliflozin"):
        assert not notes.str.contains(term, regex=False).any(), term
    assert (frozen.admissions.primary_diagnosis != "COVID-19 pneumonia").all()
