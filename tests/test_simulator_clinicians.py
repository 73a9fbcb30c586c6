"""Clinician style (helpers.simulator.clinicians and lexicon): each note is written by one clinician of the
hospital's staff, with their own habits; vocabulary grows with the number of clinicians; the habits change the
wording, never the facts."""

from __future__ import annotations

import re

import numpy as np
import pytest
from simulator_systems import system

from helpers.note_statistics import distinct_words_per_notes
from helpers.simulator import SimulationConfig
from helpers.simulator.clinicians import _trie_regex, add_typos, build_staff, reword, typo, wording_pattern
from helpers.simulator.draws import _Dice
from helpers.simulator.lexicon import SYNONYMS


def _staff(size=20, turnover=True, rate=0.07):
    return build_staff("H", size, {"heart failure": "CHF"}, seed=3, hospital_index=0, start_year=2013,
                       end_year=2021, turnover_rate=rate, turnover=turnover)


@pytest.mark.slow
def test_default_notes_hold_the_vocabulary_of_real_discharge_summaries():
    # 108 real discharge summaries use 4,240 distinct words; the earlier simulator's 108 notes used about 880
    default = system(SimulationConfig().n_admissions, 0)
    words = distinct_words_per_notes(default.admissions.note_text, n_notes=108, draws=20, seed=1)
    assert words >= 3000


@pytest.mark.slow
def test_vocabulary_falls_when_the_staff_shrinks():
    # staff turnover off, so that the staff size alone changes (a shrinking staff with turnover still hires)
    counts = [distinct_words_per_notes(system(2000, 8, clinician_staff_scale=scale,
                                              time_clinician_turnover=False).admissions.note_text,
                                       n_notes=108, draws=10, seed=2) for scale in (0.02, 0.2, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    assert counts[2] - counts[0] > 150


def test_staff_turnover_replaces_clinicians_at_the_rate():
    staff = _staff(size=400, rate=0.07)
    holders = [len(slot) for slot in staff.holders]
    # 8 yearly chances of replacement at 7 %: 0.56 replacements per slot on average
    assert np.mean(holders) - 1 == pytest.approx(8 * 0.07, abs=0.1)
    frozen = _staff(size=400, turnover=False)
    assert all(len(slot) == 1 for slot in frozen.holders)
    # the first staff is the same person with or without turnover
    assert [s[0].name for s in frozen.holders] == [s[0].name for s in staff.holders]
    for slot in staff.holders:
        for earlier, later in zip(slot, slot[1:]):
            assert earlier.left + 1 == later.hired
    # the writer of a year is the slot holder of that year
    writer = staff.writer(2021, 0.5)
    assert writer.hired <= 2021 <= writer.left


def test_clinicians_take_the_house_dialect_mostly_and_keep_their_choices():
    staff = _staff(size=300)
    choices = [c.wording["heart failure"] for c in staff.clinicians()]
    assert 0.65 < np.mean([c == "CHF" for c in choices]) < 0.85  # HOUSE_ADOPTION 0.75
    for c in staff.clinicians()[:20]:
        for canonical, chosen in c.wording.items():
            assert chosen == canonical or chosen in SYNONYMS.get(canonical, ()) or chosen == "CHF"


def test_reword_replaces_whole_phrases_longest_first():
    staff = _staff(size=50)
    clinician = next(c for c in staff.clinicians() if c.wording["shortness of breath"] != "shortness of breath"
                     and c.wording["heart failure"] == "CHF")
    text = "Worsening shortness of breath from heart failure; heart failures; preheart failure."
    out = reword(text, clinician, wording_pattern(clinician))
    assert clinician.wording["shortness of breath"] in out and "from CHF;" in out
    assert "heart failures" in out and "preheart failure" in out  # only whole phrases change
    pattern = re.compile("^(" + _trie_regex(["he", "heart", "heart rate", "hemoglobin"]) + ")$")
    assert all(pattern.match(w) for w in ("he", "heart", "heart rate", "hemoglobin"))
    assert not pattern.match("hear")


def test_typos_are_keyboard_slips_of_real_words():
    assert typo("furosemide", 0.0, 0.0) == "fruosemide"  # transposition after the first letter
    assert typo("furosemide", 0.3, 0.0) == "frosemide"  # a dropped letter
    assert typo("furosemide", 0.6, 0.0) == "fuurosemide"  # a doubled letter
    assert typo("abc", 0.0, 0.0) == "abc"  # short words are left alone
    text = "TITLE OF THE NOTE\nMedications:\n" + " ".join(["metoprolol tartrate 25 mg twice daily"] * 200)
    slipped = add_typos(text, 0.02, _Dice((1, 2, 3)))
    changed = sum(a != b for a, b in zip(text.split(), slipped.split()))
    # about 2 % of len(text) / 6 characters, on words of five letters or more; numbers, title and headers never
    # change
    assert 0.5 * 0.02 * len(text) / 6 <= changed <= 1.5 * 0.02 * len(text) / 6
    assert [w for w in slipped.split() if w.isdigit()] == [w for w in text.split() if w.isdigit()]
    assert slipped.split("\n")[:2] == ["TITLE OF THE NOTE", "Medications:"]
    assert add_typos(text, 0.0, _Dice((1, 2, 3))) == text


def test_copy_forward_repeats_the_previous_history_and_stays_true():
    a = system(3000, 5).admissions.sort_values(["patient_id", "admit_date"])
    history = a.note_text.str.extract(r"(Past medical history is notable for [^.]*\.)")[0]
    previous = history.groupby(a.patient_id).shift(1)
    same = history.notna() & (history == previous)
    repeat_share = same[previous.notna()].mean()
    assert 0.15 < repeat_share < 0.7  # copy-forward propensity ~0.35 plus identical histories written anew
    # a copied history never names a condition the patient does not have
    for _, row in a[same].head(200).iterrows():
        if "diabetes" in row.note_text.split("Past medical history")[1].split(".")[0]:
            assert "diabetes" in row.chronic_conditions


def test_each_note_names_its_writer_and_the_staff_parameter_is_validated():
    sim = system(3000, 5)
    assert sim.oracle.note_writer.str.startswith(tuple(sim.hospitals.name)).all()
    per_hospital = sim.oracle.note_writer.groupby(sim.admissions.hospital).nunique()
    assert per_hospital["Hospital 1"] > per_hospital["Hospital 4"]
    with pytest.raises(ValueError, match=r"clinician_staff_scale = 0\.0 is outside"):
        SimulationConfig(clinician_staff_scale=0)
    with pytest.raises(ValueError, match="needs at least one clinician"):
        build_staff("H", 0, {}, seed=0, hospital_index=0, start_year=2013, end_year=2021, turnover_rate=0.1,
                    turnover=True)
