"""The split design: a temporal test from the last year, and a patient-level random split of the years before.

As in deployment, the temporal test holds every admission discharged in ``temporal_test_year`` (or later), whether
or not the patient was seen before; :func:`temporal_overlap` reports how many were. The earlier admissions are split
**by patient** into train, validation and random test (80/10/10 by default), so that no patient's admissions fall
in two of them and the random test measures generalization to new patients of the same years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.contracts import EVALUATION_SPLITS, SPLITS  # SPLITS re-exported: split names live in contracts


def assign_splits(
    cohort: pd.DataFrame,
    *,
    temporal_test_year: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> pd.DataFrame:
    """Return ``admission_id, patient_id, hospital, split`` for every cohort admission.

    ``fractions`` are the shares of *patients* (before the temporal test year) that go to train, validation and
    random test. Patients are shuffled with a seeded generator, so the same seed gives the same split.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"parameter 'split_fractions' is {list(fractions)}; give three non-negative shares for train, "
            "validation and random test that sum to 1, e.g. [0.8, 0.1, 0.1]"
        )
    years = pd.to_datetime(cohort["discharge_date"]).dt.year
    if not (years >= temporal_test_year).any():
        raise ValueError(
            f"parameter 'temporal_test_year' is {temporal_test_year}, but no admission is discharged then or later "
            f"(discharge years run {years.min()}-{years.max()}). Fix: choose a year in that range"
        )
    if not (years < temporal_test_year).any():
        raise ValueError(
            f"parameter 'temporal_test_year' is {temporal_test_year}, which leaves no earlier admissions to train on "
            f"(discharge years run {years.min()}-{years.max()}). Fix: choose a later year"
        )
    temporal = years >= temporal_test_year
    split = pd.Series("temporal_test", index=cohort.index, dtype=object)

    earlier_patients = np.sort(cohort.loc[~temporal, "patient_id"].astype(str).unique())
    order = np.random.default_rng(seed).permutation(len(earlier_patients))
    shuffled = earlier_patients[order]
    n_train = int(round(fractions[0] * len(shuffled)))
    n_val = int(round(fractions[1] * len(shuffled)))
    patient_split = pd.Series("random_test", index=shuffled, dtype=object)
    patient_split.iloc[:n_train] = "train"
    patient_split.iloc[n_train:n_train + n_val] = "validation"
    split.loc[~temporal] = cohort.loc[~temporal, "patient_id"].astype(str).map(patient_split).to_numpy()

    sizes = split.value_counts()
    empty = [name for name in SPLITS if sizes.get(name, 0) == 0]
    if empty:
        n_earlier = len(earlier_patients)
        shares = dict(zip(SPLITS[:3], fractions))
        raise ValueError(
            f"the split design leaves split(s) {empty} empty: parameter 'split_fractions' is {list(fractions)} and "
            f"{n_earlier} patient(s) are discharged before temporal_test_year {temporal_test_year} "
            f"(shares asked: {', '.join(f'{k} {v:g}' for k, v in shares.items())}). Fix: give every split a "
            "share above 0 (e.g. [0.8, 0.1, 0.1]), or choose a later temporal_test_year so that more patients "
            "come before it."
        )
    out = cohort[["admission_id", "patient_id", "hospital"]].copy()
    out["split"] = pd.Categorical(split, categories=list(SPLITS))
    return out


def single_class_groups(summary: pd.DataFrame, splits: tuple[str, ...] = EVALUATION_SPLITS) -> pd.DataFrame:
    """Hospitals whose evaluation split holds admissions of one outcome class only (all or none readmitted).

    Their AUROC and AUPRC cannot be estimated; the model chapters report them as NaN with the reason in the
    metrics file's ``note`` rather than failing. ``summary`` is :func:`split_summary`'s table.
    """
    part = summary[summary["split"].isin(splits) & (summary["hospital"] != "all") & (summary["admissions"] > 0)]
    one_class = (part["readmissions"] == 0) | (part["readmissions"] == part["admissions"])
    return part.loc[one_class, ["split", "hospital", "admissions", "readmissions"]].reset_index(drop=True)


def describe_single_class_groups(groups: pd.DataFrame) -> str:
    """A phrase for the prose: "none", or "Hospital 4 in temporal_test" style list."""
    if groups.empty:
        return "none"
    return "; ".join(f"{row.hospital} in {row.split.replace('_', ' ')}" for row in groups.itertuples())


def split_summary(cohort: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Admissions, patients, readmissions and prevalence per split and hospital (plus an 'all' row per split)."""
    frame = cohort[["admission_id", "readmitted_30d"]].merge(splits, on="admission_id", validate="one_to_one")
    rows = []
    for split_name in SPLITS:
        in_split = frame[frame["split"] == split_name]
        for hospital, part in [("all", in_split)] + list(in_split.groupby("hospital", observed=True)):
            rows.append({
                "split": split_name,
                "hospital": hospital,
                "admissions": len(part),
                "patients": part["patient_id"].nunique(),
                "readmissions": int(part["readmitted_30d"].sum()),
                "prevalence": float(part["readmitted_30d"].mean()) if len(part) else np.nan,
            })
    return pd.DataFrame(rows)


def temporal_overlap(splits: pd.DataFrame) -> dict[str, float]:
    """How many temporal-test admissions belong to patients already seen in the earlier years (any split)."""
    temporal = splits[splits["split"] == "temporal_test"]
    earlier_patients = set(splits.loc[splits["split"] != "temporal_test", "patient_id"])
    seen = temporal["patient_id"].isin(earlier_patients)
    seen_train = temporal["patient_id"].isin(set(splits.loc[splits["split"] == "train", "patient_id"]))
    return {
        "temporal_admissions": int(len(temporal)),
        "seen_before": int(seen.sum()),
        "seen_before_share": float(seen.mean()) if len(temporal) else float("nan"),
        "seen_in_train": int(seen_train.sum()),
        "seen_in_train_share": float(seen_train.mean()) if len(temporal) else float("nan"),
    }


def check_patient_separation(splits: pd.DataFrame) -> None:
    """Raise if any patient has admissions in two of train, validation and random test."""
    earlier = splits[splits["split"] != "temporal_test"]
    per_patient = earlier.groupby("patient_id", observed=True)["split"].nunique()
    leaking = per_patient[per_patient > 1]
    if len(leaking):
        raise AssertionError(f"{len(leaking)} patients fall in two earlier splits, e.g. {list(leaking.index[:5])}")


def split_table(summary: pd.DataFrame, value: str) -> pd.DataFrame:
    """One count (``admissions`` or ``readmissions``) per hospital (rows) and split (columns), ``all`` last."""
    table = summary.pivot(index="hospital", columns="split", values=value)
    table = table[[s for s in SPLITS if s in table.columns]]
    order = sorted(h for h in table.index if h != "all") + ["all"]
    table = table.loc[order]
    table.columns.name = None
    table.index.name = f"{value} by hospital"
    return table
