"""Table 1 (patient and stay characteristics by hospital) and the cohort-construction table of chapter 1, as real
data may publish them (:mod:`helpers.privacy`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers import privacy, schema


def _median_iqr(values: pd.Series, digits: int = 0) -> str:
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{med:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"




def table_one_cells(cohort: pd.DataFrame, admissions: pd.DataFrame, by: str = "hospital") -> pd.DataFrame:
    """Table 1 in long form: one row per characteristic and column, with the numbers the text is built from.

    Columns: ``characteristic``, ``column`` (a value of ``by``, or "Overall"), ``kind`` ("count" for "n (%)"
    cells, "size" for plain counts, "summary" for mean (SD) / median (IQR)), ``count`` (admissions counted in a
    count cell, or admissions the summary is computed on), ``total`` (the admissions of the column a count cell is a
    share of), ``patients`` (distinct patients behind that number),
    ``percent`` (count cells) and ``text`` (the cell as printed, before any suppression). Keeping the numbers next
    to the text is what lets :func:`table_one` suppress a cell by its patients, not by parsing "n (%)" strings.
    """
    groups = [(str(name), frame) for name, frame in cohort.groupby(by, sort=True, observed=True)]
    groups.append(("Overall", cohort))
    all_by = {str(k): v for k, v in admissions.groupby(by, sort=True, observed=True)}
    rows: list[dict[str, Any]] = []

    def count(name: str, column: str, frame: pd.DataFrame, mask: pd.Series) -> None:
        hits = frame[mask]
        n = len(hits)
        pct = 100 * n / len(frame) if len(frame) else float("nan")
        rows.append({"characteristic": name, "column": column, "kind": "count", "count": n, "total": len(frame),
                     "patients": hits["patient_id"].nunique(), "percent": pct, "text": f"{n:,} ({pct:.1f}%)"})

    def summary(name: str, column: str, frame: pd.DataFrame, text: str) -> None:
        rows.append({"characteristic": name, "column": column, "kind": "summary", "count": len(frame),
                     "total": len(frame), "patients": frame["patient_id"].nunique(), "percent": float("nan"),
                     "text": text})

    def present(column: str, values: list[str]) -> list[str]:
        return [v for v in values if (cohort[column] == v).any()] if column in cohort.columns else []

    sex_rows = [("Female", "F")] + [(f"Sex: {v}", v) for v in present("sex", ["Other", "Unknown"])]
    insurance_values = schema.INSURANCE_CATEGORIES + present("insurance", [schema.OTHER_CATEGORY])
    borough_values = schema.BOROUGHS + present("borough", [schema.UNKNOWN_CATEGORY])
    for name, frame in groups:
        source = admissions if name == "Overall" else all_by.get(name, admissions.iloc[0:0])
        for label, n_value in (("Admissions", len(frame)), ("Patients", frame["patient_id"].nunique())):
            rows.append({"characteristic": label, "column": name, "kind": "size", "count": n_value,
                         "total": n_value, "patients": frame["patient_id"].nunique(), "percent": float("nan"),
                         "text": f"{n_value:,}"})
        summary("Age, mean (SD)", name, frame, f"{frame['age'].mean():.1f} ({frame['age'].std():.1f})")
        for label, value in sex_rows:
            count(label, name, frame, frame["sex"] == value)
        for value in insurance_values:
            count(f"Insurance: {value}", name, frame, frame["insurance"] == value)
        if "borough" in frame.columns:
            for value in borough_values:
                count(f"Borough: {value}", name, frame, frame["borough"] == value)
        summary("Comorbidity index, median (IQR)", name, frame, _median_iqr(frame["comorbidity_index"]))
        for level in schema.COMORBIDITY_LEVEL_LABELS:
            count(f"Comorbidity level {level}", name, frame, frame["comorbidity_level"] == level)
        if "length_of_stay" in frame.columns:
            summary("Length of stay (days), median (IQR)", name, frame, _median_iqr(frame["length_of_stay"]))
        summary("Words per note, median (IQR)", name, frame, _median_iqr(frame["words_per_note"]))
        count("30-day readmission", name, frame, frame["readmitted_30d"] == 1)
        count("In-hospital mortality (all admissions)", name, source, source["died_in_hospital"] == 1)
    return pd.DataFrame(rows)


def table_one(cohort: pd.DataFrame, admissions: pd.DataFrame, by: str = "hospital", *,
              real_data: bool = False) -> pd.DataFrame:
    """Table 1: patient and stay characteristics by ``by`` (columns) with an overall column.

    Counts are shown as "n (%)", continuous values as mean (SD) or median (IQR). In-hospital mortality comes from
    all admissions (``admissions``, deaths included), everything else from the cohort. With ``real_data``, every
    cell resting on 1 to 10 patients shows "<11" instead (a count cell by the patients it counts, a size or summary
    cell by the patients of its column), and so does an "n (%)" cell whose complement (the column's admissions minus
    n) is 1 to 10, and one more cell of any sum that would give a hidden cell back (:mod:`helpers.privacy`); zero
    counts stay visible.
    """
    cells = table_one_cells(cohort, admissions, by)
    hidden = pd.Series(privacy.is_small(cells["patients"]) & real_data, index=cells.index)
    if real_data:
        is_count = (cells["kind"] == "count").to_numpy()
        hidden |= is_count & privacy.is_small(cells["total"] - cells["count"])
        hidden = _complementary_suppression(cells, hidden)
    text = cells["text"].where(~hidden, privacy.HIDDEN)
    table = cells.assign(text=text).pivot(index="characteristic", columns="column", values="text")
    table = table.loc[list(dict.fromkeys(cells["characteristic"])), list(dict.fromkeys(cells["column"]))]
    table.index.name = None
    table.columns.name = None
    return table


def _complementary_suppression(cells: pd.DataFrame, hidden: pd.Series) -> pd.Series:
    """Hide further cells so that no hidden count can be recovered by subtraction.

    Two sums hold in Table 1: across a row, the hospitals add up to "Overall"; down a column, the values of one
    category (insurance, borough, comorbidity level) add up to "Admissions". Wherever exactly one cell of such a
    sum is hidden (or its hidden cells add up to fewer than 11), the smallest non-zero visible cell of the same sum
    is hidden too, until nothing changes (:func:`helpers.privacy.protect_sums`).
    """
    counted = cells["kind"].isin(["count", "size"])
    prefix = cells["characteristic"].str.extract(r"^(Insurance|Borough|Comorbidity level)", expand=False)
    sums = []
    for _, part in cells[counted].groupby("characteristic", sort=False):
        sums.append(part.index)  # hospitals + Overall
    for (_, _), part in cells[counted & prefix.notna()].assign(block=prefix).groupby(["column", "block"]):
        total = cells.index[(cells["column"] == part["column"].iloc[0]) & (cells["characteristic"] == "Admissions")]
        sums.append(part.index.append(total))
    return privacy.protect_sums(cells["count"], hidden, sums)


def construction_table(steps: pd.DataFrame, *, real_data: bool = False) -> pd.DataFrame:
    """The exclusion steps of :func:`helpers.cohort.build_cohort` for the page: on real data counts of 1 to 10 show
    "<11"."""
    return privacy.hide_counts(steps, ["excluded", "admissions", "patients", "readmissions"], real_data=real_data)
