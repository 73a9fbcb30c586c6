"""The closing page: this run beside the published study, finding by finding, computed from ``metrics.csv`` only.

The page (``notebooks/06_summary.ipynb``) reads the run's ``metrics.csv`` and, when chapter 4 wrote it,
``artifacts/04_feature_analysis/importance.csv``. Nothing on it is typed in except the published figures, which
live here once, each with its source:

- :data:`PUBLISHED`: the numbers of Rahman et al. 2024 (arXiv 2402.10965) in
  docs/contracts.md#published-numbers, each with the rows of this run that measure the same quantity;
- :data:`FINDINGS`: the study's qualitative findings, each with the rule that decides what this run says of it;
- :data:`NYUTRON`: related figures of NYUTron (Jiang et al., Nature 2023) in the same health system.

Each finding is judged by the one verdict rule of :mod:`helpers.verdicts` (reproduced, contradicted, absent,
inconclusive, or not estimable), with the power figures beside it.

Chapter 5's strategies are compared on their per-hospital changes (``group_var == "hospital"``), averaged over
hospitals: the pooled ``overall`` row mixes probability scales of models trained for different hospitals.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import evaluation, features
from helpers.artifacts import RunPaths
from helpers.evaluation import (  # noqa: F401  (the power figures, as the page and its tests name them)
    MDE_FACTOR, Z_95, Z_POWER_80, minimum_detectable, select_rows, size_to_detect,
)
from helpers.verdicts import (  # noqa: F401  (the verdict rule, read by the page's tests and exercises here)
    ABSENT, CONTRADICTED, INCONCLUSIVE, NOT_ESTIMABLE, REPRODUCED, VERDICTS, Difference, Verdict, combine_verdicts,
    difference_verdict, judge_difference, majority, seed_mean, standard_error,
)


STUDY = "Rahman et al. 2024, arXiv 2402.10965"
NYUTRON_SOURCE = "NYUTron: Jiang et al., Nature 2023"
TEMPORAL, RANDOM = "temporal_test", "random_test"
IMPORTANCE_FILE = "importance.csv"
STRATEGIES = ("local", "instance_augmented", "cluster")
STRATEGY_NAMES = {"local": "local", "instance_augmented": "instance-based augmented", "cluster": "cluster-based",
                  "global_continued": "global trained further (control)",
                  "random_augmented": "random admissions added (control)"}


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
        found = select_rows(rows, notebook=notebook, **filters)
        if len(found):
            return Estimate(found.sort_values("seed").drop_duplicates("seed"))
    chapters = " or ".join(n.split("_")[0].lstrip("0") for n in notebooks)
    return Estimate(rows.iloc[0:0], reason or f"chapter {chapters} has not written these rows")


def age_contrast(rows: pd.DataFrame) -> str:
    """The name of the age contrast chapter 3 wrote (``age_above_<threshold>``), or the default name."""
    names = sorted({g for g in select_rows(rows, group_var="contrast")["group"] if str(g).startswith("age_above_")})
    return names[0] if names else "age_above_60"


def smallest_hospital_name(rows: pd.DataFrame) -> str | None:
    """The hospital whose test admissions match chapter 3's smallest-hospital contrast on both tests."""
    contrast = select_rows(rows, notebook="03_disparities", experiment="global", metric="auroc", group_var="contrast",
                      group="smallest_hospital")
    hospitals = select_rows(rows, notebook="03_disparities", experiment="global", metric="auroc", group_var="hospital")
    if contrast.empty or hospitals.empty:
        return None
    sizes = contrast.drop_duplicates("split").set_index("split")["n"]
    for hospital, part in hospitals.groupby("group"):
        counts = part.drop_duplicates("split").set_index("split")["n"]
        if counts.reindex(sizes.index).equals(sizes):
            return str(hospital)
    return None


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


PUBLISHED_OVERALL_AUROC = 0.736
PUBLISHED: tuple[PublishedNumber, ...] = (
    PublishedNumber("AUROC, global model, temporal test", f"{PUBLISHED_OVERALL_AUROC}", _overall(TEMPORAL),
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
    part = select_rows(rows, notebook="05_mitigation", experiment="local", split=split, group_var="hospital",
                  metric="delta_auroc_rel")
    part = part[np.isfinite(part["value"])]
    if part.empty:
        return {"range": f"{NOT_ESTIMABLE} (chapter 5 has not written these rows)", "spread": ""}
    by_hospital = part.groupby("group")
    means = by_hospital["value"].mean()
    low, high = means.idxmin(), means.idxmax()

    def one(hospital: str) -> str:
        first = part[part["group"] == hospital].sort_values("seed").iloc[0]
        interval = evaluation.format_estimate(means[hospital], first["ci_low"], first["ci_high"], 2)
        return f"{interval} % at {hospital}"

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
        records.append({"quantity": number.quantity, "published": number.published,
                        "this run [95 % CI]": found.text(number.digits, number.scale, number.unit),
                        "this run's group": number.ours_label,
                        "seeds": found.seeds or "-"})
    gain = local_gain_range(rows)
    seeds = select_rows(rows, notebook="05_mitigation", experiment="local", metric="delta_auroc_rel")["seed"].nunique()
    records.append({"quantity": "local fine-tuning: relative AUROC change per hospital, temporal test",
                    "published": LOCAL_GAIN_PUBLISHED,
                    "this run [95 % CI]": gain["range"] + (f"; {gain['spread']}" if gain["spread"] else ""),
                    "this run's group": "lowest to highest hospital (chapter 5)", "seeds": seeds or "-"})
    return pd.DataFrame(records).set_index("quantity")


PUBLISHED_GROUP_AUROC = {"smallest_hospital": 0.512, "age": 0.648, "highest_comorbidity": 0.581}
"""The study's temporal-test AUROCs of its contrasts (docs/contracts.md#published-numbers). The study reports no
AUROC for the rest of its test, so the published effect is the group's AUROC minus the overall AUROC (0.736). The
overall AUROC includes the group and lies between the group and the rest, so this understates a group-versus-rest
difference: "absent" is decided against the smaller effect, which makes it harder to call."""


def contrast_finding(contrast: str | Callable[[pd.DataFrame], str], label: str, published_key: str | None = None):
    """A group does worse than the rest of the temporal test (chapter 3's delta_auroc_vs_rest of the contrast)."""
    effect = (PUBLISHED_GROUP_AUROC[published_key] - PUBLISHED_OVERALL_AUROC) if published_key else None

    def judge(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
        name = contrast(rows) if callable(contrast) else contrast
        found = estimate(rows, notebooks=("03_disparities",), experiment="global", split=TEMPORAL,
                         group_var="contrast", group=name, metric="delta_auroc_vs_rest")
        difference = seed_mean(found.rows, f"{label} minus the rest, temporal test")
        overall = select_rows(rows, notebook="03_disparities", experiment="global", split=TEMPORAL,
                         group_var="overall", metric="auroc")
        n_total = int(overall["n"].iloc[0]) if len(overall) else None
        return judge_difference(difference, -1, effect, n_total, found.text())
    return judge


def hospital_changes(rows: pd.DataFrame, strategy: str, split: str, metric: str = "delta_auroc") -> pd.DataFrame:
    """A strategy's change against the global model per hospital (chapter 5's ``hospital`` rows), mean over seeds:
    columns hospital, value, se, n, seeds (hospitals without an estimate left out)."""
    part = select_rows(rows, notebook="05_mitigation", experiment=strategy, split=split, group_var="hospital",
                  metric=metric)
    records = []
    for hospital, block in part.groupby("group", sort=True):
        difference = seed_mean(block, str(hospital))
        if difference.found:
            records.append({"hospital": str(hospital), "value": difference.value, "se": difference.se,
                            "n": difference.n, "seeds": difference.seeds})
    return pd.DataFrame(records, columns=["hospital", "value", "se", "n", "seeds"])


def mean_over_hospitals(changes: pd.DataFrame, label: str) -> Difference:
    """The average of per-hospital changes, each hospital counting once; hospitals are disjoint admissions, so
    their standard errors combine as independent."""
    if changes.empty:
        return Difference(np.nan, np.nan, np.nan, 0, label, 0)
    se = float(np.sqrt((changes["se"] ** 2).sum())) / len(changes)
    return Difference.from_normal(float(changes["value"].mean()), se, int(changes["n"].sum()), label,
                                  int(changes["seeds"].max()))


def strategy_mean(rows: pd.DataFrame, strategy: str, split: str) -> Difference:
    title = split.replace("_", " ")
    return mean_over_hospitals(hospital_changes(rows, strategy, split),
                               f"{STRATEGY_NAMES.get(strategy, strategy)}, mean change over hospitals, {title}")


def strategy_gap(rows: pd.DataFrame, better: str, other: str, split: str) -> Difference:
    """Mean over hospitals of (change of ``better`` minus change of ``other``), on the hospitals both scored.

    The two changes share the global model and the test patients, so treating them as independent (as here)
    overstates the uncertainty of their difference: the interval is conservative."""
    a, b = hospital_changes(rows, better, split), hospital_changes(rows, other, split)
    both = a.merge(b, on="hospital", suffixes=("_a", "_b"))
    label = (f"{STRATEGY_NAMES.get(better, better)} minus {STRATEGY_NAMES.get(other, other)}, "
             f"{split.replace('_', ' ')}")
    if both.empty:
        return Difference(np.nan, np.nan, np.nan, 0, label, 0)
    gaps = pd.DataFrame({"value": both["value_a"] - both["value_b"],
                         "se": np.sqrt(both["se_a"] ** 2 + both["se_b"] ** 2),
                         "n": both["n_a"], "seeds": np.maximum(both["seeds_a"], both["seeds_b"])})
    return mean_over_hospitals(gaps, label)


def _combine(verdicts: list[Verdict], rule: str = "all") -> Verdict:
    """Several differences that must all hold: reproduced when all are, contradicted when any is; the largest MDE."""
    names = [v.verdict for v in verdicts]
    evidence = "; ".join(v.evidence for v in verdicts)
    mdes = [float(v.mde) for v in verdicts if v.mde not in ("-", "")]
    mde = f"{max(mdes):.3f}" if mdes else "-"
    if NOT_ESTIMABLE in names:
        return Verdict(NOT_ESTIMABLE, evidence, mde=mde)
    verdict = combine_verdicts(names)
    return Verdict(verdict, evidence, mde=mde, size_needed="no size published")


def local_ranks_first(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: on both tests, local fine-tuning's change (mean over hospitals) exceeds that of instance-based
    augmented and of cluster-based fine-tuning, each gap with its interval above zero."""
    return _combine([judge_difference(strategy_gap(rows, "local", other, split), +1,
                                      reason="chapter 5 rows missing")
                     for split in (RANDOM, TEMPORAL) for other in ("instance_augmented", "cluster")])


def local_gain_largest_where_scarce(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: on the temporal test, local fine-tuning's change at the smallest hospital (chapter 3) minus its mean
    change at the other hospitals is above zero."""
    smallest = smallest_hospital_name(rows)
    changes = hospital_changes(rows, "local", TEMPORAL)
    label = "local: smallest hospital minus the others' mean, temporal test"
    if len(changes) == 1:  # one site (or one with a local model): there is nothing to rank it against
        return Verdict(NOT_ESTIMABLE, f"{label}: local fine-tuning changes the AUROC at one site only "
                                      f"({changes['hospital'].iloc[0]}); a ranking needs two or more")
    if smallest is None or changes.empty or smallest not in set(changes["hospital"]) or len(changes) < 2:
        missing = "chapter 3's smallest-hospital rows" if smallest is None else "chapter 5's per-hospital rows"
        return Verdict(NOT_ESTIMABLE, f"{label}: {missing} missing")
    own = changes[changes["hospital"] == smallest].iloc[0]
    others = changes[changes["hospital"] != smallest]
    se = float(np.sqrt(own["se"] ** 2 + (others["se"] ** 2).sum() / len(others) ** 2))
    difference = Difference.from_normal(float(own["value"] - others["value"].mean()), se, int(changes["n"].sum()),
                                        f"{label} ({smallest})", int(changes["seeds"].max()))
    return judge_difference(difference, +1)


def augmentation_random_vs_temporal(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule: instance-based augmentation's change (mean over hospitals) has its interval above zero on the random
    test and below zero on the temporal test (both must hold)."""
    return _combine([judge_difference(strategy_mean(rows, "instance_augmented", RANDOM), +1,
                                      reason="chapter 5 rows missing"),
                     judge_difference(strategy_mean(rows, "instance_augmented", TEMPORAL), -1,
                                      reason="chapter 5 rows missing")])


def cluster_no_gain(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Rule for a finding of no effect: cluster-based fine-tuning's change (mean over hospitals) is reproduced when
    its interval lies at or below zero on both tests (no gain), contradicted when it lies above zero on either (a
    gain), and inconclusive otherwise (a gain smaller than the detectable one cannot be excluded)."""
    changes = [strategy_mean(rows, "cluster", split) for split in (RANDOM, TEMPORAL)]
    evidence = "; ".join(c.text() if c.found else f"{c.label}: chapter 5 rows missing" for c in changes)
    if not all(c.found for c in changes):
        return Verdict(NOT_ESTIMABLE, evidence)
    mde = f"{max(minimum_detectable(c.se) for c in changes):.3f}"
    if any(c.ci_low > 0 for c in changes):
        verdict = CONTRADICTED
    elif all(c.ci_high <= 0 for c in changes):
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return Verdict(verdict, evidence, mde=mde, size_needed="no size published")


def four_factors(rows: pd.DataFrame, importance: pd.DataFrame | None) -> Verdict:
    """Chapter 4's verdict on the study's four factors, by :func:`helpers.features.study_factor_verdict`."""
    if importance is None or importance.empty:
        return Verdict(NOT_ESTIMABLE, "chapter 4's importance.csv is missing")
    result = features.study_factor_verdict(importance)
    return Verdict(result.verdict, result.evidence, mde="-", size_needed="no size published")


@dataclass(frozen=True)
class Finding:
    finding: str
    chapter: str
    judge: Callable[[pd.DataFrame, pd.DataFrame | None], Verdict]


FINDINGS: tuple[Finding, ...] = (
    Finding("Small hospitals do worse (the smallest hospital vs the rest)", "3",
            contrast_finding("smallest_hospital", "smallest hospital", "smallest_hospital")),
    Finding("Government insurance does worse", "3", contrast_finding("government_insurance", "government insurance")),
    Finding("Unspecified insurance does worse", "3",
            contrast_finding("unspecified_insurance", "unspecified insurance")),
    Finding("The elderly do worse", "3", contrast_finding(age_contrast, "older patients", "age")),
    Finding("High comorbidity does worse", "3",
            contrast_finding("highest_comorbidity", "highest comorbidity level", "highest_comorbidity")),
    Finding("Sample size, age, comorbidities and words per note matter most", "4", four_factors),
    Finding("Local fine-tuning beats instance-based augmented and cluster-based fine-tuning", "5",
            local_ranks_first),
    Finding("Local fine-tuning gains most where data are scarce (the smallest hospital)", "5",
            local_gain_largest_where_scarce),
    Finding("Instance-based augmentation helps on the random test and hurts on the temporal test", "5",
            augmentation_random_vs_temporal),
    Finding("Cluster-based fine-tuning brings no gain", "5", cluster_no_gain),
)
FINDING_COLUMN = "finding (Rahman et al. 2024)"


def findings_table(rows: pd.DataFrame, importance: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per qualitative finding: the verdict by the page's rule, the evidence, and the power figures."""
    records = []
    for finding in FINDINGS:
        result = finding.judge(rows, importance)
        records.append({FINDING_COLUMN: finding.finding, "chapter": finding.chapter, "verdict": result.verdict,
                        "this run [95 % CI]": result.evidence, "published effect": result.published_effect,
                        "smallest detectable (80 % power)": result.mde,
                        "test admissions to detect the published effect": result.size_needed})
    return pd.DataFrame(records).set_index(FINDING_COLUMN)


def verdict_view(findings: pd.DataFrame) -> pd.DataFrame:
    """The verdicts with their evidence (the first of the page's two tables)."""
    return findings[["chapter", "verdict", "this run [95 % CI]"]]


def power_view(findings: pd.DataFrame) -> pd.DataFrame:
    """What the run could have seen: published effect, smallest detectable difference, cohort needed."""
    return findings[["verdict", "published effect", "smallest detectable (80 % power)",
                     "test admissions to detect the published effect"]]


def verdict_counts(findings: pd.DataFrame) -> dict[str, int]:
    """How many findings have each verdict (every outcome present, zero included)."""
    counts = findings["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS + (NOT_ESTIMABLE,)}


def verdict_sentence(findings: pd.DataFrame) -> str:
    """'2 reproduced, 0 contradicted, 1 absent, 6 inconclusive and 1 not estimable' for the prose."""
    counts = verdict_counts(findings)
    parts = [f"{counts[v]} {v}" for v in VERDICTS + (NOT_ESTIMABLE,)]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def reasons_text(findings: pd.DataFrame, warning_reason: str | None) -> str:
    """Why findings are not reproduced, most important first: the learning warning of chapter 2 (when it fired),
    then the power the run lacked, then the model's and data's scale."""
    counts = verdict_counts(findings)
    reasons = []
    if warning_reason:
        reasons.append(f"First, {warning_reason}. Every verdict here therefore judges a weak model, not the recipe "
                       "of the study.")
    if counts[INCONCLUSIVE]:
        mdes = pd.to_numeric(findings.loc[findings["verdict"] == INCONCLUSIVE, "smallest detectable (80 % power)"],
                             errors="coerce").dropna()
        largest = f" (smallest detectable differences up to {mdes.max():.3f} AUROC)" if len(mdes) else ""
        reasons.append(f"{'Then' if reasons else 'First'}, {counts[INCONCLUSIVE]} finding(s) are inconclusive: the "
                       f"test groups are too small for the intervals to decide{largest}.")
    reasons.append("Finally, the model and the data are far smaller than the study's: agreement in the pattern is "
                   "what the reproduction can test, not the level of the AUROCs.")
    return " ".join(reasons)


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
        records.append({"quantity": figure.quantity, "published (NYUTron)": figure.published,
                        "this run [95 % CI]": ours, "this run's group": figure.ours_label})
    return pd.DataFrame(records).set_index("quantity")


def read_importance(run_dir: str | os.PathLike) -> pd.DataFrame | None:
    """Chapter 4's importance table when the chapter has run, else None."""
    path = RunPaths.from_run_dir(run_dir).written_by("04_feature_analysis") / IMPORTANCE_FILE
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
