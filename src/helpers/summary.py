"""The closing page: this run beside the published study, finding by finding, computed from ``metrics.csv`` only.

The page (``notebooks/06_summary.ipynb``) reads the run's ``metrics.csv`` and, when chapter 4 wrote it,
``artifacts/04_feature_analysis/importance.csv``. Nothing on it is typed in except the published figures, which
live here once, each with its source:

- :data:`PUBLISHED`: the numbers of Rahman et al. 2024 (arXiv 2402.10965) that DESIGN.md section 1 lists, each with
  the rows of this run that measure the same quantity;
- :data:`FINDINGS`: the study's qualitative findings, each with the rule that decides whether this run reproduces it;
- :data:`NYUTRON`: related figures of NYUTron (Jiang et al., Nature 2023) in the same health system.

The verdict rule. A finding about a direction ("the elderly do worse") is **reproduced** when the 95 % CI of this
run's difference excludes zero in the published direction, **not reproduced** when it does not (the CI includes
zero, or excludes it in the other direction), and **not estimable** when the rows are missing (a chapter was not
run) or the group was too small. With several seeds the rule is applied to every seed and the page shows the verdict
most seeds give (a tie is "not reproduced"). Findings that are not directions (the ranking of strategies, the four
factors) state their own rule in :data:`FINDINGS`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import evaluation

STUDY = "Rahman et al. 2024, arXiv 2402.10965"
NYUTRON_SOURCE = "NYUTron: Jiang et al., Nature 2023"
TEMPORAL, RANDOM = "temporal_test", "random_test"
REPRODUCED, NOT_REPRODUCED, NOT_ESTIMABLE = "reproduced", "not reproduced", "not estimable"
IMPORTANCE_FILE = Path("04_feature_analysis") / "importance.csv"
STRATEGIES = ("local", "instance_augmented", "cluster")
STUDY_FACTORS = ("sample size", "age", "comorbidit", "words per note")
"""The four factors the study found to matter most (sample size, age, comorbidities, words per note), as the
text each appears by in chapter 4's feature names (the hospital block stands for the sample size)."""


# --------------------------------------------------------------------------------------------------------------
# Reading metric rows
# --------------------------------------------------------------------------------------------------------------


def select(rows: pd.DataFrame, **filters) -> pd.DataFrame:
    """Rows matching every filter (compared as text); a filter value may be a tuple of allowed values."""
    mask = np.ones(len(rows), dtype=bool)
    for column, value in filters.items():
        allowed = [str(v) for v in value] if isinstance(value, (tuple, list)) else [str(value)]
        mask &= rows[column].astype(str).isin(allowed).to_numpy()
    return rows[mask]


@dataclass
class Estimate:
    """One quantity of this run: per-seed rows, and what the page shows of them."""

    rows: pd.DataFrame
    reason: str = ""

    @property
    def found(self) -> bool:
        return len(self.rows) > 0 and np.isfinite(self.rows["value"]).any()

    @property
    def seeds(self) -> int:
        return int(self.rows["seed"].nunique()) if len(self.rows) else 0

    @property
    def value(self) -> float:
        return float(self.rows["value"].mean()) if self.found else np.nan

    def text(self, digits: int = 3, scale: float = 1.0, unit: str = "") -> str:
        if not self.found:
            return f"{NOT_ESTIMABLE} ({self.reason or self.missing_reason()})"
        first = self.rows.iloc[0]
        estimate = evaluation.format_estimate(scale * first["value"], scale * first["ci_low"],
                                              scale * first["ci_high"], digits)
        if self.seeds <= 1:
            return estimate + unit
        values = scale * self.rows["value"]
        return (f"{scale * self.value:.{digits}f}{unit} (mean of {self.seeds} seeds, SD {values.std(ddof=1):.{digits}f}"
                f"; seed {int(first['seed'])}: {estimate})")

    def missing_reason(self) -> str:
        if len(self.rows):
            notes = [n for n in self.rows["note"].astype(str) if n]
            return notes[0] if notes else "no value"
        return "no rows in metrics.csv"


def estimate(rows: pd.DataFrame, *, notebooks: tuple[str, ...], reason: str = "", **filters) -> Estimate:
    """The rows of the first notebook (in ``notebooks`` order) that has any for ``filters``, one per seed."""
    for notebook in notebooks:
        found = select(rows, notebook=notebook, **filters)
        if len(found):
            return Estimate(found.sort_values("seed").drop_duplicates("seed"))
    chapters = " or ".join(n.split("_")[0].lstrip("0") for n in notebooks)
    return Estimate(rows.iloc[0:0], reason or f"chapter {chapters} has not written these rows")


def age_contrast(rows: pd.DataFrame) -> str:
    """The name of the age contrast chapter 3 wrote (``age_above_<threshold>``), or the default name."""
    names = sorted({g for g in select(rows, group_var="contrast")["group"] if str(g).startswith("age_above_")})
    return names[0] if names else "age_above_60"


def smallest_hospital_name(rows: pd.DataFrame) -> str | None:
    """The hospital whose test admissions match chapter 3's smallest-hospital contrast on both tests."""
    contrast = select(rows, notebook="03_disparities", experiment="global", metric="auroc", group_var="contrast",
                      group="smallest_hospital")
    hospitals = select(rows, notebook="03_disparities", experiment="global", metric="auroc", group_var="hospital")
    if contrast.empty or hospitals.empty:
        return None
    sizes = contrast.drop_duplicates("split").set_index("split")["n"]
    for hospital, part in hospitals.groupby("group"):
        counts = part.drop_duplicates("split").set_index("split")["n"]
        if counts.reindex(sizes.index).equals(sizes):
            return str(hospital)
    return None


# --------------------------------------------------------------------------------------------------------------
# The published numbers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedNumber:
    quantity: str
    published: str
    ours: Callable[[pd.DataFrame], Estimate]
    ours_label: str
    digits: int = 3
    scale: float = 1.0
    unit: str = ""


def _chapter3(group_var: str, group, metric: str = "auroc", split: str = TEMPORAL):
    return lambda rows: estimate(rows, notebooks=("03_disparities",), experiment="global", split=split,
                                 group_var=group_var, group=group(rows) if callable(group) else group,
                                 metric=metric)


def _overall(split: str):
    return lambda rows: estimate(rows, notebooks=("02_clinicllm", "03_disparities"), experiment="global",
                                 split=split, group_var="overall", metric="auroc")


PUBLISHED: tuple[PublishedNumber, ...] = (
    PublishedNumber("AUROC, global model, temporal test", "0.736", _overall(TEMPORAL),
                    "global ClinicLLM, whole temporal test"),
    PublishedNumber("AUROC at Hospital 3, temporal test", "0.699", _chapter3("hospital", "Hospital 3"),
                    "Hospital 3"),
    PublishedNumber("AUROC at Hospital 4 (the smallest), temporal test", "0.512",
                    _chapter3("contrast", "smallest_hospital"), "the smallest hospital"),
    PublishedNumber("AUROC above age 60, temporal test", "0.648", _chapter3("contrast", age_contrast),
                    "the age contrast of chapter 3"),
    PublishedNumber("AUROC at comorbidity level 4 (the highest), temporal test", "0.581",
                    _chapter3("contrast", "highest_comorbidity"), "the highest comorbidity level"),
)
LOCAL_GAIN_PUBLISHED = "+0.25 % to +11.74 %"


def local_gain_range(rows: pd.DataFrame, split: str = TEMPORAL) -> dict[str, str]:
    """This run's range of local fine-tuning's relative AUROC change over hospitals (chapter 5), as text."""
    part = select(rows, notebook="05_mitigation", experiment="local", split=split, group_var="hospital",
                  metric="delta_auroc_rel")
    part = part[np.isfinite(part["value"])]
    if part.empty:
        return {"range": f"{NOT_ESTIMABLE} (chapter 5 has not written these rows)", "spread": ""}
    by_hospital = part.groupby("group")
    means = by_hospital["value"].mean()
    low, high = means.idxmin(), means.idxmax()

    def one(hospital: str) -> str:
        first = part[part["group"] == hospital].sort_values("seed").iloc[0]
        return (f"{means[hospital]:+.2f} % at {hospital} "
                f"(CI {first['ci_low']:+.2f} to {first['ci_high']:+.2f})")

    seeds = int(part["seed"].nunique())
    spread = ""
    if seeds > 1:
        spread = f"largest SD across {seeds} seeds: {by_hospital['value'].std(ddof=1).max():.2f} points"
    return {"range": f"{one(low)} to {one(high)}", "spread": spread}


def published_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Each published number of the study beside this run's value with its CI (and seed spread when several)."""
    records = []
    for number in PUBLISHED:
        found = number.ours(rows)
        records.append({"quantity": number.quantity, f"published ({STUDY})": number.published,
                        "this run": found.text(number.digits, number.scale, number.unit),
                        "this run's group": number.ours_label,
                        "seeds": found.seeds or "-"})
    gain = local_gain_range(rows)
    seeds = select(rows, notebook="05_mitigation", experiment="local", metric="delta_auroc_rel")["seed"].nunique()
    records.append({"quantity": "local fine-tuning: relative AUROC change per hospital, temporal test",
                    f"published ({STUDY})": LOCAL_GAIN_PUBLISHED,
                    "this run": gain["range"] + (f"; {gain['spread']}" if gain["spread"] else ""),
                    "this run's group": "lowest to highest hospital (chapter 5)", "seeds": seeds or "-"})
    return pd.DataFrame(records).set_index("quantity")


# --------------------------------------------------------------------------------------------------------------
# The qualitative findings
# --------------------------------------------------------------------------------------------------------------


def direction_verdict(value: float, ci_low: float, ci_high: float, direction: int) -> str:
    """The page's rule for one difference: reproduced when the CI excludes zero in the published direction.

    ``direction`` is -1 when the study found the quantity negative (a group does worse) and +1 when positive.
    """
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 (published: lower) or +1 (published: higher); got {direction!r}.")
    if not (np.isfinite(value) and np.isfinite(ci_low) and np.isfinite(ci_high)):
        return NOT_ESTIMABLE
    if (direction < 0 and ci_high < 0) or (direction > 0 and ci_low > 0):
        return REPRODUCED
    return NOT_REPRODUCED


def majority(verdicts: list[str]) -> str:
    """The verdict most seeds give; a tie between reproduced and not is "not reproduced"."""
    if not verdicts:
        return NOT_ESTIMABLE
    counts = Counter(verdicts)
    best = max(counts.values())
    winners = [v for v, c in counts.items() if c == best]
    if len(winners) == 1:
        return winners[0]
    return NOT_REPRODUCED if NOT_REPRODUCED in winners or REPRODUCED in winners else NOT_ESTIMABLE


@dataclass
class Verdict:
    verdict: str
    evidence: str


def _seed_verdicts(found: Estimate, direction: int) -> list[str]:
    return [direction_verdict(r.value, r.ci_low, r.ci_high, direction) for r in found.rows.itertuples()]


def _difference_finding(found: Estimate, direction: int, label: str) -> Verdict:
    if not found.found:
        return Verdict(NOT_ESTIMABLE, f"{label}: {found.text()}")
    return Verdict(majority(_seed_verdicts(found, direction)), f"{label}: {found.text()}")


def contrast_finding(contrast: str | Callable[[pd.DataFrame], str], label: str):
    """A group does worse than the rest of the temporal test (chapter 3's delta_auroc_vs_rest of the contrast)."""
    def judge(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
        name = contrast(rows) if callable(contrast) else contrast
        found = estimate(rows, notebooks=("03_disparities",), experiment="global", split=TEMPORAL,
                         group_var="contrast", group=name, metric="delta_auroc_vs_rest")
        return _difference_finding(found, -1, f"{label} minus the rest, temporal test")
    return judge


def _strategy_change(rows: pd.DataFrame, strategy: str, split: str) -> Estimate:
    return estimate(rows, notebooks=("05_mitigation",), experiment=strategy, split=split, group_var="overall",
                    metric="delta_auroc")


def local_ranks_first(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: local's AUROC change over the global model (all hospitals, mean over seeds) is the largest of the
    three strategies on both tests. A ranking of point estimates: chapter 5 gives each change its own CI."""
    texts, ranked_first = [], []
    for split in (RANDOM, TEMPORAL):
        changes = {s: _strategy_change(rows, s, split) for s in STRATEGIES}
        if not all(c.found for c in changes.values()):
            missing = [s for s, c in changes.items() if not c.found]
            return Verdict(NOT_ESTIMABLE, f"no overall change for {', '.join(missing)} on the {split.replace('_', ' ')}"
                                          " (chapter 5 rows missing)")
        order = sorted(STRATEGIES, key=lambda s: -changes[s].value)
        ranked_first.append(order[0] == "local")
        texts.append(f"{split.replace('_', ' ')}: " + " > ".join(f"{s} {changes[s].value:+.3f}" for s in order))
    return Verdict(REPRODUCED if all(ranked_first) else NOT_REPRODUCED, "; ".join(texts))


def augmentation_random_vs_temporal(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: instance-based augmentation's AUROC change has a CI above zero on the random test and below zero on
    the temporal test (both directions must hold)."""
    random_change = _strategy_change(rows, "instance_augmented", RANDOM)
    temporal_change = _strategy_change(rows, "instance_augmented", TEMPORAL)
    evidence = f"random test {random_change.text()}; temporal test {temporal_change.text()}"
    if not (random_change.found and temporal_change.found):
        return Verdict(NOT_ESTIMABLE, evidence)
    helps = majority(_seed_verdicts(random_change, +1))
    hurts = majority(_seed_verdicts(temporal_change, -1))
    return Verdict(REPRODUCED if helps == hurts == REPRODUCED else NOT_REPRODUCED, evidence)


def cluster_no_gain(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: cluster-based fine-tuning shows no gain, i.e. its AUROC change's CI does not lie above zero, on
    either test. A CI above zero on either test is a gain: not reproduced."""
    changes = {split: _strategy_change(rows, "cluster", split) for split in (RANDOM, TEMPORAL)}
    evidence = "; ".join(f"{split.replace('_', ' ')} {c.text()}" for split, c in changes.items())
    if not all(c.found for c in changes.values()):
        return Verdict(NOT_ESTIMABLE, evidence)
    gains = [majority(_seed_verdicts(c, +1)) == REPRODUCED for c in changes.values()]
    return Verdict(NOT_REPRODUCED if any(gains) else REPRODUCED, evidence)


def local_gain_largest_where_scarce(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: on the temporal test, the smallest hospital (chapter 3) has the largest relative AUROC change of
    local fine-tuning among the hospitals (mean over seeds)."""
    part = select(rows, notebook="05_mitigation", experiment="local", split=TEMPORAL, group_var="hospital",
                  metric="delta_auroc_rel")
    part = part[np.isfinite(part["value"])]
    smallest = smallest_hospital_name(rows)
    if part.empty or smallest is None:
        missing = "chapter 5 rows" if part.empty else "chapter 3's smallest-hospital rows"
        return Verdict(NOT_ESTIMABLE, f"{missing} missing")
    means = part.groupby("group")["value"].mean().sort_values(ascending=False)
    if len(means) < 2:  # one site (or one with a local model): there is nothing to rank it against
        return Verdict(NOT_ESTIMABLE, f"local fine-tuning changes the AUROC at {len(means)} site only "
                                      f"({', '.join(map(str, means.index))}); a ranking needs two or more")
    evidence = ", ".join(f"{h} {v:+.2f} %" for h, v in means.items()) + f" (smallest: {smallest})"
    return Verdict(REPRODUCED if means.index[0] == smallest else NOT_REPRODUCED, evidence)


def _is_study_factor(feature: str) -> str | None:
    name = feature.lower()
    for factor in STUDY_FACTORS:
        if factor in name or (factor == "age" and name.startswith("age")):
            return factor
    return None


_HOSPITAL_LEVEL = ("hospital", "fine-tuning sample size", "hospital readmission rate", "hospital mortality rate",
                   "train_size", "readmission_rate", "mortality_rate")
_CANDIDATES = ("sample size", "words per note", "comorbidit", "age", "insurance", "borough", "hospital",
               "readmission", "mortality", "train_size", "words_per_note")


def factor_ranking(importance: pd.DataFrame, method: str) -> pd.DataFrame:
    """The study's candidate factors for one method, by importance; the hospital block replaces the
    hospital-level factors when chapter 4 permuted them jointly, and the simulator's hidden variables are left out
    (the study could not see them)."""
    part = importance[importance["method"].astype(str) == method].copy()
    part["feature"] = part["feature"].astype(str)
    has_block = part["feature"].str.contains("block").any()
    if has_block:
        part = part[~part["feature"].str.lower().isin(_HOSPITAL_LEVEL)]
    candidate = part["feature"].str.lower().map(lambda f: any(c in f for c in _CANDIDATES) and "share" not in f)
    return part[candidate].sort_values("importance", ascending=False).reset_index(drop=True)


def four_factors(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: for every classifier of chapter 4, the four most important candidate factors are the study's four
    (sample size, age, comorbidity, words per note), each with an importance CI above zero."""
    if importance is None or importance.empty:
        return Verdict(NOT_ESTIMABLE, "chapter 4's importance.csv is missing")
    missing = [c for c in ("feature", "importance", "ci_low", "ci_high", "method") if c not in importance.columns]
    if missing:
        return Verdict(NOT_ESTIMABLE, f"importance.csv lacks column(s) {missing}")
    verdicts, texts = [], []
    for method in dict.fromkeys(importance["method"].astype(str)):
        ranked = factor_ranking(importance, method)
        top = ranked.head(4)
        matched = {_is_study_factor(f) for f, low in zip(top["feature"], top["ci_low"]) if low > 0} - {None}
        verdicts.append(REPRODUCED if len(matched) == len(STUDY_FACTORS) else NOT_REPRODUCED)
        texts.append(f"{method}: top four {', '.join(top['feature'])} ({len(matched)} of the study's four with CI "
                     "above zero)")
    return Verdict(REPRODUCED if all(v == REPRODUCED for v in verdicts) else NOT_REPRODUCED, "; ".join(texts))


@dataclass(frozen=True)
class Finding:
    finding: str
    chapter: str
    judge: Callable[[pd.DataFrame, pd.DataFrame | None], Verdict]


FINDINGS: tuple[Finding, ...] = (
    Finding("Small hospitals do worse (the smallest hospital vs the rest)", "3",
            contrast_finding("smallest_hospital", "smallest hospital")),
    Finding("Government insurance does worse", "3", contrast_finding("government_insurance", "government insurance")),
    Finding("Unspecified insurance does worse", "3",
            contrast_finding("unspecified_insurance", "unspecified insurance")),
    Finding("The elderly do worse", "3", contrast_finding(age_contrast, "older patients")),
    Finding("High comorbidity does worse", "3", contrast_finding("highest_comorbidity", "highest comorbidity level")),
    Finding("Sample size, age, comorbidities and words per note matter most", "4", four_factors),
    Finding("Local fine-tuning beats instance-based augmented and cluster-based fine-tuning", "5",
            local_ranks_first),
    Finding("Local fine-tuning gains most where data are scarce (the smallest hospital)", "5",
            local_gain_largest_where_scarce),
    Finding("Instance-based augmentation helps on the random test and hurts on the temporal test", "5",
            augmentation_random_vs_temporal),
    Finding("Cluster-based fine-tuning brings no gain", "5", cluster_no_gain),
)


def findings_table(rows: pd.DataFrame, importance: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per qualitative finding of the study: this run's verdict by the page's rule, and the evidence."""
    records = []
    for finding in FINDINGS:
        result = finding.judge(rows, importance)
        records.append({"finding (Rahman et al. 2024)": finding.finding, "chapter": finding.chapter,
                        "verdict": result.verdict, "this run": result.evidence})
    return pd.DataFrame(records).set_index("finding (Rahman et al. 2024)")


def verdict_counts(findings: pd.DataFrame) -> dict[str, int]:
    """How many findings have each verdict (every verdict present, zero included)."""
    counts = findings["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in (REPRODUCED, NOT_REPRODUCED, NOT_ESTIMABLE)}


# --------------------------------------------------------------------------------------------------------------
# NYUTron's related figures
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelatedFigure:
    quantity: str
    published: str
    ours: Callable[[pd.DataFrame], Estimate] | None
    ours_label: str
    scale: float = 1.0
    digits: int = 3
    unit: str = ""


NOT_COMPUTED = "not computed in this run"
NYUTRON: tuple[RelatedFigure, ...] = (
    RelatedFigure("AUROC, random test", "0.841", _overall(RANDOM), "global ClinicLLM, whole random test"),
    RelatedFigure("AUROC, temporal test", "0.802", _overall(TEMPORAL), "global ClinicLLM, whole temporal test"),
    RelatedFigure("AUROC at ages 20-40", "0.84", _chapter3("age_group", "18-39"), "age group 18-39, temporal test"),
    RelatedFigure("AUROC at ages 60-70", "0.76", _chapter3("age_group", "60-79"), "age group 60-79, temporal test"),
    RelatedFigure("AUROC at ages 80-90", "0.68", _chapter3("age_group", "80+"), "age group 80+, temporal test"),
    RelatedFigure("readmission prevalence, youngest age group", "4.5 %",
                  _chapter3("age_group", "18-39", metric="prevalence"), "age group 18-39, temporal test", 100, 1,
                  " %"),
    RelatedFigure("readmission prevalence, oldest age group", "10.8 %",
                  _chapter3("age_group", "80+", metric="prevalence"), "age group 80+, temporal test", 100, 1, " %"),
    RelatedFigure("AUROC with 100 words kept", "0.768", None,
                  "(the model reads a fixed token limit; chapter 4 reports AUROC by words per note instead)"),
    RelatedFigure("AUROC with 400 words kept", "0.789", None,
                  "(the model reads a fixed token limit; chapter 4 reports AUROC by words per note instead)"),
)


def nyutron_table(rows: pd.DataFrame) -> pd.DataFrame:
    """NYUTron's related figures beside this run's same quantity (or "not computed in this run")."""
    records = []
    for figure in NYUTRON:
        ours = figure.ours(rows).text(figure.digits, figure.scale, figure.unit) if figure.ours else NOT_COMPUTED
        records.append({"quantity": figure.quantity, f"published ({NYUTRON_SOURCE})": figure.published,
                        "this run": ours, "this run's group": figure.ours_label})
    return pd.DataFrame(records).set_index("quantity")


# --------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------


def read_importance(run_dir: str | os.PathLike) -> pd.DataFrame | None:
    """Chapter 4's importance table when the chapter has run, else None."""
    path = Path(run_dir) / "artifacts" / IMPORTANCE_FILE
    return pd.read_csv(path) if path.exists() else None


def missing_chapters_text(rows: pd.DataFrame) -> str:
    """The chapters without rows in metrics.csv, comma-separated, or "none" (for the page's opening sentence)."""
    missing = [name for name, done in chapters_present(rows).items() if not done]
    return ", ".join(missing) if missing else "none"


def chapters_present(rows: pd.DataFrame) -> dict[str, bool]:
    """Which chapters have rows in metrics.csv."""
    notebooks = set(rows["notebook"].astype(str))
    return {name: name in notebooks for name in ("02_clinicllm", "03_disparities", "04_feature_analysis",
                                                 "05_mitigation")}
