"""Clinician style: each hospital has a staff of clinicians, and each note is written by one of them.

A clinician is hired with fixed habits: one wording per concept (synonyms and abbreviations, taking the house
dialect of the hospital most of the time), a hedging rate, problem lists or prose, a typo rate, a propensity to copy
forward the history from the patient's previous note, whether they dictate, how they write dates, headers and labs,
a few stock sentences and a personal share of the narrative sentences. The habits change how facts are *written*,
never which facts are true or how likely a fact is to be written (documentation keeps its own probabilities), so
the facts still determine the risk.

Calibration (each a real magnitude):

* typo rate: misspellings are of the order of 1 % of the words of clinical notes (Lai et al., J Biomed Inform
  2015;55:188-95 report rates of this order across note types); each clinician's rate is log-normal around 1 %
  (sd 0.8 on the log scale), so that a few careless writers produce most errors.
* copy-forward: in one academic EHR, 54 % (attendings) to 78 % (residents) of progress-note text was copied from
  earlier notes (Wrenn et al., JAMIA 2010;17:49-53); discharge summaries copy less, so each clinician copies the past
  history and social history of the patient's previous note with a probability drawn around 0.35.
* dictation: about one clinician in five still dictates (transcription declined after EHR adoption); new hires
  dictate less (0.25 of the 2013 staff, falling by 0.02 a year of hire).
* staff turnover: ``SimulationConfig.clinician_turnover_rate`` (about 7 % a year, Hamidi et al. 2018).
* verbosity: some write long notes and some short (log-normal factor, sd 0.7), which with the stay's own
  variation gives real notes' spread of length (median about 360 words, IQR about 270-530).
* workload: notes per clinician are uneven (log-normal weights, sd 0.8), as rotas and part-time work make them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from helpers.simulator.lexicon import ROLES, COURSE_OPENERS, CREDENTIALS, EXAM_HEADINGS, FIRST_NAMES, EXAM_NORMAL, STOCK_PHRASES, \
    SURNAMES, SYNONYMS

#: chance that a clinician adopts the hospital's house wording for a concept the house dialect abbreviates
HOUSE_ADOPTION = 0.75
#: chance that a clinician keeps the canonical wording of a concept the house dialect leaves alone
CANONICAL_KEEP = 0.45

_QWERTY = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm",
                                ("wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "ol", "qsz", "awdx",
                                 "sefc", "drgv", "fthb", "gyjn", "hukm", "jil", "kop", "xa", "zsc", "xdv", "cfb",
                                 "vgn", "bhm", "nj"))}


@dataclass(frozen=True)
class Clinician:
    """One note writer of a hospital and their fixed habits."""

    hospital: str
    slot: int
    name: str
    credential: str
    hired: int  # first calendar year of notes
    left: int  # last calendar year of notes
    wording: dict  # canonical phrase -> this clinician's wording (house dialect included)
    hedge_rate: float
    problem_list: bool
    typo_rate: float
    copy_forward: float
    dictates: bool
    date_format: int
    header_case: int  # 0 as the template, 1 UPPER, 2 Title
    lab_style: int  # 0 "K 4.1", 1 "K-4.1", 2 "potassium 4.1 mmol/L"
    exam_wording: dict  # system -> (heading, normal finding)
    exam_systems: int
    stock: tuple
    opener: str
    narrative_share: float  # share of the hospital's narrative sentences this clinician uses
    verbosity: float  # multiplies the narrative and the chance of optional sections (exam, labs, family history)
    brand_names: float
    lists_allergy_reactions: bool
    role: str
    writes_letter: bool  # ends with a letter to the patient in plain words
    narrative_seed: int


def _draw_clinician(hospital: str, slot: int, hired: int, left: int, dialect: dict, rng: np.random.Generator,
                    start_year: int) -> Clinician:
    wording = {}
    for canonical, options in SYNONYMS.items():
        house = dialect.get(canonical)
        if house is not None and rng.random() < HOUSE_ADOPTION:
            wording[canonical] = house
        elif house is None and rng.random() < CANONICAL_KEEP:
            wording[canonical] = canonical
        else:
            wording[canonical] = options[int(rng.integers(len(options)))]
    for canonical, house in dialect.items():  # house terms the lexicon does not list are always used
        wording.setdefault(canonical, house)
    exam = {}
    for headings in EXAM_HEADINGS:
        system = headings[0]
        exam[system] = (headings[int(rng.integers(len(headings)))],
                        EXAM_NORMAL[system][int(rng.integers(len(EXAM_NORMAL[system])))])
    name = f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]} {SURNAMES[int(rng.integers(len(SURNAMES)))]}"
    years_after = max(0, hired - start_year)
    return Clinician(
        hospital=hospital, slot=slot, name=name, credential=CREDENTIALS[int(rng.integers(len(CREDENTIALS)))],
        hired=hired, left=left, wording=wording,
        hedge_rate=float(rng.beta(1.5, 4.0)), problem_list=bool(rng.random() < 0.35),
        typo_rate=float(min(0.04, 0.01 * math.exp(0.8 * rng.standard_normal()))),
        copy_forward=float(rng.beta(2.0, 3.7)),
        dictates=bool(rng.random() < max(0.02, 0.25 - 0.02 * years_after)),
        date_format=int(rng.integers(4)), header_case=int(rng.integers(3)), lab_style=int(rng.integers(3)),
        exam_wording=exam, exam_systems=int(rng.integers(2, 8)),
        stock=tuple(STOCK_PHRASES[i] for i in rng.choice(len(STOCK_PHRASES), size=int(rng.integers(0, 3)),
                                                          replace=False)),
        opener=COURSE_OPENERS[int(rng.integers(len(COURSE_OPENERS)))],
        narrative_share=float(rng.uniform(0.15, 0.5)), verbosity=float(math.exp(0.7 * rng.standard_normal())), brand_names=float(rng.beta(1.2, 3.0)),
        lists_allergy_reactions=bool(rng.random() < 0.6), writes_letter=bool(rng.random() < 0.4),
        role=ROLES[int(rng.integers(len(ROLES)))], narrative_seed=int(rng.integers(2**31)),
    )


@dataclass(frozen=True)
class Staff:
    """A hospital's note writers over time: ``slots`` positions, each held by a sequence of clinicians."""

    holders: tuple  # per slot: tuple of Clinician in hiring order
    workload: np.ndarray  # per slot: relative share of notes

    def writer(self, year: int, u: float) -> Clinician:
        """The clinician who writes a note in ``year``, for a uniform draw ``u`` (slot chosen by workload)."""
        cumulative = np.cumsum(self.workload)
        slot = min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), len(self.holders) - 1)
        for clinician in self.holders[slot]:
            if clinician.hired <= year <= clinician.left:
                return clinician
        return self.holders[slot][-1]

    def clinicians(self) -> list[Clinician]:
        return [c for slot in self.holders for c in slot]


def build_staff(hospital: str, size: int, dialect: dict, *, seed: int, hospital_index: int, start_year: int,
                end_year: int, turnover_rate: float, turnover: bool) -> Staff:
    """Hire ``size`` clinicians for a hospital and, with turnover, replace each at ``turnover_rate`` a year."""
    if size < 1:
        raise ValueError(f"hospital {hospital!r} needs at least one clinician; got a staff of {size}. Raise its "
                         f"clinicians field or SimulationConfig.clinician_staff_scale.")
    turns = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x5747, hospital_index])))
    holders = []
    for slot in range(size):
        # hiring years of the slot's holders: each year the holder leaves with probability turnover_rate
        hires = [start_year - 40]
        if turnover and turnover_rate > 0:
            leaves = np.flatnonzero(turns.random(end_year - start_year) < turnover_rate)
            hires += [start_year + 1 + int(k) for k in leaves]
        lefts = [h - 1 for h in hires[1:]] + [end_year + 40]
        sequence = []
        for k, (hired, left) in enumerate(zip(hires, lefts)):
            # each holder's habits come from their own stream: the first staff is the same with or without turnover
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x5747, hospital_index, slot,
                                                                              k])))
            sequence.append(_draw_clinician(hospital, slot, hired, left, dialect, rng, start_year))
        holders.append(tuple(sequence))
    workload = np.exp(0.8 * turns.standard_normal(size))
    return Staff(holders=tuple(holders), workload=workload)


def _trie_regex(words: list[str]) -> str:
    """A regular expression matching any of ``words``, built as a character trie (fast to scan)."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and not ends else "(?:" + "|".join(branches) + ")"
        return f"{body}?" if ends and len(branches) == 1 and branches[0][-1:] != ")" and len(branches[0]) == 1 \
            else (f"(?:{'|'.join(branches)})?" if ends else body)

    return build(trie)


def wording_pattern(clinician: Clinician) -> re.Pattern | None:
    """One regular expression for every phrase ``clinician`` writes differently from the canonical wording."""
    keys = [k for k, v in clinician.wording.items() if v != k]
    if not keys:
        return None
    return re.compile(r"(?<![\w/-])(" + _trie_regex(keys) + r")(?![\w/-])")


def reword(text: str, clinician: Clinician, pattern: re.Pattern | None) -> str:
    """Write the canonical phrases of ``text`` the way ``clinician`` writes them (longest phrase first)."""
    if pattern is None:
        return text
    wording = clinician.wording
    return pattern.sub(lambda m: wording[m.group(0)], text)


def typo(word: str, u1: float, u2: float) -> str:
    """A realistic slip of the keyboard in ``word``: a transposition, a dropped, doubled or neighbouring letter."""
    if len(word) < 4:
        return word
    i = 1 + min(int(u2 * (len(word) - 2)), len(word) - 3)
    kind = int(u1 * 4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    neighbours = _QWERTY.get(word[i].lower())
    if not neighbours:
        return word[:i] + word[i + 1:]
    return word[:i] + neighbours[int(u2 * 997) % len(neighbours)] + word[i + 1:]


_WORD = re.compile(r"\b[A-Za-z]{5,}\b")


def add_typos(text: str, rate: float, dice) -> str:
    """Misspell about ``rate`` of the words (counted as one word in six characters) in words of five letters or
    more: each slip lands on the next such word after a random position, never in the title block (title, dates,
    attending) or a section header (the template prints those)."""
    if rate <= 0:
        return text
    expected = rate * len(text) / 6.0
    n = int(expected) + (1 if dice.u() < expected - int(expected) else 0)
    top = text.find("\n\n")  # end of the title block (title, dates, attending)
    for _ in range(n):
        m = _WORD.search(text, int(dice.u() * len(text)))
        if m is None:
            continue
        line_start = text.rfind("\n", 0, m.start())
        line_end = text.find("\n", m.end())
        line = text[line_start + 1: len(text) if line_end < 0 else line_end]
        if m.start() < top or line.rstrip().endswith(":"):  # the template prints the top block and the headers
            continue
        text = text[:m.start()] + typo(m.group(0), dice.u(), dice.u()) + text[m.end():]
    return text
