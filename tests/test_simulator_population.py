"""Population and trajectories (helpers.simulator.population): the label is the next admission, prior admissions
are real history, and whole patients are chosen."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_label_is_the_next_admission_within_30_days(mid):
    a = mid.admissions.sort_values(["patient_id", "admit_date"])
    next_admit = a.groupby("patient_id").admit_date.shift(-1)
    has_next = next_admit.notna()
    gap = (next_admit - a.discharge_date).dt.days
    assert (gap[has_next] >= 1).all()  # stays do not overlap
    expected = (gap[has_next] <= 30).astype(int)
    assert np.array_equal(a.readmitted_30d[has_next].values, expected.values)
    # a readmission that is not a row must fall after the window: only late-2021 discharges can carry it
    orphan = a[~has_next & (a.readmitted_30d == 1)]
    assert (orphan.discharge_date >= pd.Timestamp("2021-09-01")).all()
    # and readmissions are real rows: most positive labels are followed by one
    assert has_next[a.readmitted_30d == 1].mean() > 0.9


def test_prior_admissions_count_real_history(mid):
    a = mid.admissions[["admission_id", "patient_id", "admit_date", "prior_admissions_12m"]]
    pairs = a.merge(a[["patient_id", "admit_date"]], on="patient_id", suffixes=("", "_other"))
    days_before = (pairs.admit_date - pairs.admit_date_other).dt.days
    counted = pairs[(days_before > 0) & (days_before < 365)].groupby("admission_id").size()
    table_count = a.set_index("admission_id").index.map(counted).fillna(0).astype(int)
    # from 2014 on, the 12-month window lies inside the table; earlier stays also count burn-in history
    late = (a.admit_date >= pd.Timestamp("2014-01-02")).values
    assert np.array_equal(a.prior_admissions_12m.values[late], np.asarray(table_count)[late])
    assert (a.prior_admissions_12m.values[~late] >= np.asarray(table_count)[~late]).all()
    assert (a.prior_admissions_12m.values[~late] > np.asarray(table_count)[~late]).any()
