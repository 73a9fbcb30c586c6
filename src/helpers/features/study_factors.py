"""The study's four factors (sample size, age, comorbidities, words per note), the ranking they are read from, and
the one rule that judges them: chapter 4 states it and chapter 6 applies it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.features.factors import FACTOR_LABELS, HOSPITAL_BLOCK, HOSPITAL_LEVEL_FACTORS
from helpers.verdicts import CONTRADICTED, INCONCLUSIVE, REPRODUCED, combine_verdicts


STUDY_RANKING: tuple[str, ...] = ("fine-tuning sample size", "age", "comorbidity level", "words per note")
"""The factors the study found to matter most (Rahman et al., 2024, abstract), in its words."""


def is_study_factor(feature: str) -> bool:
    """Whether a ranked factor is one of the study's four: by its name, or the hospital block, which stands for the
    study's fine-tuning sample size (a hospital-level factor here)."""
    return feature in STUDY_RANKING or (feature == HOSPITAL_BLOCK and "fine-tuning sample size" in STUDY_RANKING)


def factor_ranking(importance: pd.DataFrame, method: str) -> pd.DataFrame:
    """Ranking for the comparison with the study: patient factors one by one, hospital-level factors as one block.

    The study's "fine-tuning sample size" is a hospital-level factor here, so it is ranked through the block.
    """
    part = importance[importance["method"] == method]
    hospital_names = {FACTOR_LABELS[f] for f in HOSPITAL_LEVEL_FACTORS}
    has_block = (part["feature"] == HOSPITAL_BLOCK).any()
    kept = part[~part["feature"].isin(hospital_names)] if has_block else part
    ranked = kept.sort_values("importance", ascending=False).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked["in the study's top four"] = ["yes" if is_study_factor(f) else "" for f in ranked["feature"]]
    return ranked


FACTOR_RULE = (
    "the finding is reproduced when, for every error classifier, the four most important candidate factors are the "
    "study's four (the hospital block standing for the sample size), each with its importance interval above zero; "
    "contradicted when, for some classifier, a factor outside the study's four is clearly more important than one "
    "of them (the lower end of its interval above the upper end of the other's); inconclusive otherwise (the "
    "intervals overlap, so the ranking is not settled). The study gives no sizes of importance, so no effect can "
    "be shown absent"
)
"""The one rule for the study's four factors; chapter 4 states it and chapter 6 applies it."""


@dataclass
class FactorVerdict:
    verdict: str
    evidence: str




def study_factor_verdict(importance: pd.DataFrame) -> FactorVerdict:
    """The verdict on "sample size, age, comorbidities and words per note matter most", by :data:`FACTOR_RULE`."""
    missing = [c for c in ("feature", "importance", "ci_low", "ci_high", "method") if c not in importance.columns]
    if missing:
        raise ValueError(f"study_factor_verdict: the importance table lacks column(s) {missing}; it is chapter 4's "
                         "importance.csv (feature, importance, ci_low, ci_high, method).")
    verdicts, texts = [], []
    for method in dict.fromkeys(importance["method"].astype(str)):
        ranked = factor_ranking(importance, method)
        study = ranked[[is_study_factor(f) for f in ranked["feature"]]]
        others = ranked[[not is_study_factor(f) for f in ranked["feature"]]]
        top = ranked.head(4)
        in_top = sum(is_study_factor(f) for f in top["feature"])
        all_clear = in_top == 4 and len(study) == 4 and bool((top["ci_low"] > 0).all())
        outranked = [(o.feature, s.feature) for o in others.itertuples() for s in study.itertuples()
                     if o.ci_low > s.ci_high]
        if all_clear:
            verdict = REPRODUCED
        elif outranked:
            verdict = CONTRADICTED
        else:
            verdict = INCONCLUSIVE
        verdicts.append(verdict)
        name = method.removeprefix("permutation, ").replace("_", " ")
        detail = (f"{outranked[0][0]} clearly above {outranked[0][1]}" if outranked else
                  f"{int((study['ci_low'] > 0).sum())} of the study's four with an interval above zero")
        texts.append(f"{name}: {in_top} of the top four are the study's; {detail}")
    overall = combine_verdicts(verdicts)
    return FactorVerdict(overall, "; ".join(texts))
