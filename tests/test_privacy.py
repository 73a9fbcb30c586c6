"""The one publishability rule (helpers.privacy) and the one rate function (cohort.rate_with_interval), with known
answers: which cells a reader could recover a count below 11 from, and Wilson intervals at 0 and all events."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import book, cohort, disparities, figures, privacy


def test_small_counts_are_one_to_ten():
    assert privacy.is_small([0, 1, 10, 11, np.nan, 250]).tolist() == [False, True, True, False, False, False]
    assert privacy.is_small(7) is True and privacy.is_small(0) is False
    assert privacy.count_text(7, real_data=True) == "<11" and privacy.count_text(7, real_data=False) == "7"
    assert privacy.count_text(1234, real_data=True) == "1,234" and privacy.count_text(0, real_data=True) == "0"


@pytest.mark.parametrize("count, total, hidden", [
    (5, 200, True),     # the count itself
    (195, 200, True),   # its complement: 5 admissions without the event
    (3, 8, True),       # the total
    (0, 200, False), (200, 200, False), (50, 200, False), (11, 22, False), (11, 21, True),
])
def test_a_share_is_hidden_when_its_count_complement_or_total_is_small(count, total, hidden):
    assert privacy.share_hidden(count, total) is hidden
    assert privacy.share_text(count, total, real_data=True) == (
        "not shown (a count under 11)" if hidden else f"{100 * count / total:.1f} %")
    assert privacy.share_text(count, total, real_data=False) == f"{100 * count / total:.1f} %"


def test_protect_sums_hides_one_more_cell_where_a_total_minus_the_shown_cells_gives_a_count_back():
    values = pd.Series({"A": 100, "B": 5, "C": 40, "all": 145})
    hidden = pd.Series(privacy.is_small(values), index=values.index)
    protected = privacy.protect_sums(values, hidden, [["A", "B", "C", "all"]])
    assert protected.to_dict() == {"A": False, "B": True, "C": True, "all": False}  # C, the smallest visible
    # two hidden cells that add up to fewer than 11 (1 + 1) would still give both away: one more is hidden
    values = pd.Series({"A": 1, "B": 1, "C": 50, "D": 60})
    hidden = pd.Series(privacy.is_small(values), index=values.index)
    assert privacy.protect_sums(values, hidden, [list(values.index)]).tolist() == [True, True, True, False]
    # nothing hidden, nothing changes; zeros are never chosen
    values = pd.Series({"A": 0, "B": 5, "C": 30})
    hidden = pd.Series(privacy.is_small(values), index=values.index)
    assert privacy.protect_sums(values, hidden, [list(values.index)]).tolist() == [False, True, True]


def test_hide_counts_hides_small_counts_their_complements_and_the_shares_beside_them():
    table = pd.DataFrame({"group": ["a", "b", "c", "d"], "n": [200, 12, 300, 40], "n_pos": [195, 3, 30, 0],
                          "prevalence (%)": [97.5, 25.0, 10.0, 0.0]})
    out = privacy.hide_counts(table, ["n", "n_pos"], real_data=True, complements=[("n", "n_pos")],
                              share_columns={"prevalence (%)": ("n_pos", "n")})
    assert out["n"].tolist() == [200, 12, 300, 40]
    assert out["n_pos"].tolist() == ["<11", "<11", 30, 0]   # a: 5 without a readmission; b: 3
    assert out["prevalence (%)"].tolist() == ["", "", 10.0, 0.0]
    assert privacy.hide_counts(table, ["n", "n_pos"], real_data=False) is table
    # a list of shares is hidden wherever a count of the row is
    listed = privacy.hide_counts(table, ["n_pos"], real_data=True, share_columns=["prevalence (%)"],
                                 hidden_share="suppressed")
    assert listed["prevalence (%)"].tolist() == [97.5, "suppressed", 10.0, 0.0]
    # groups adding up to a known total: one more hidden per group
    blocks = pd.DataFrame({"var": ["x", "x", "x", "y", "y"], "notes": [100, 4, 50, 77, 81]})
    shown = privacy.hide_counts(blocks, ["notes"], real_data=True, sums_within=["var"])
    assert shown["notes"].tolist() == [100, "<11", "<11", 77, 81]
    with pytest.raises(KeyError, match="'missing' not in the table"):
        privacy.hide_counts(blocks, ["missing"], real_data=True)


def test_hide_grid_protects_rows_and_columns_of_a_sites_by_split_table():
    table = pd.DataFrame({"train": [100, 5, 105], "test": [30, 20, 50]}, index=["A", "B", "all"])
    shown = privacy.hide_grid(table, real_data=True)
    # B's 5 is hidden; A's train (column sum) and then A's test (row sum) and B's test (column sum) follow
    assert shown.to_dict() == {"train": {"A": "<11", "B": "<11", "all": 105}, "test": {"A": "<11", "B": "<11",
                                                                                      "all": 50}}
    readmissions = pd.DataFrame({"train": [20, 0, 20], "test": [25, 0, 25]}, index=["A", "B", "all"])
    admissions = pd.DataFrame({"train": [30, 0, 30], "test": [28, 0, 28]}, index=["A", "B", "all"])
    # A's test: 28 - 25 = 3 admissions without a readmission, so 25 is hidden, and so is the total that gives it
    out = privacy.hide_grid(readmissions, real_data=True, totals=admissions)
    assert out.loc["A", "test"] == "<11" and out.loc["all", "test"] == "<11" and out.loc["A", "train"] == "<11"


def test_counts_in_sentences_follow_the_same_rule():
    text = "7 admissions < min 20; 12 admissions; 3 positives and 10 patients, 0.5 admissions, 2021 notes"
    assert privacy.hide_counts_in_text(text, real_data=True) == (
        "<11 admissions < min 20; 12 admissions; <11 positives and <11 patients, 0.5 admissions, 2021 notes")
    assert privacy.hide_counts_in_text(text, real_data=False) == text


def test_one_privacy_api_and_one_flag():
    """The older homes of the rule are gone, and no analysis module imports the book module for it."""
    assert not [name for name in ("publishable", "hide_small_numbers") if hasattr(disparities, name)]
    assert not hasattr(cohort, "count_text") and not hasattr(book, "suppress_small_counts")
    helpers = Path(privacy.__file__).parent
    book_import = re.compile(r"from helpers\.book import|from helpers import [\w, ]*\bbook\b")
    importers = sorted(str(path.relative_to(helpers)) for path in helpers.rglob("*.py")
                       if path.name not in ("book.py", "runner.py") and book_import.search(path.read_text()))
    assert not importers, f"helpers that import the book module: {importers}"
    analysis = [helpers / "cohort.py", helpers / "table_one.py", *(helpers / "disparities").rglob("*.py"),
                *(helpers / "features").rglob("*.py")]
    other_flag = re.compile(r"[(,]\s*(simulated|suppress|enabled): bool")  # a parameter, not a record field
    flags = sorted(path.name for path in analysis if other_flag.search(path.read_text()))
    assert not flags, f"privacy flags other than real_data: {flags}"


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out, as an independent answer."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("n", [1, 5, 37, 100, 1000, 2999])
def test_a_rate_and_its_interval_come_from_one_function_that_holds_at_0_and_all_events(n):
    events = np.array([0, 1, n // 2, n - 1, n]) if n > 1 else np.array([0, 1])
    rate, low, high = cohort.rate_with_interval(events, np.full(len(events), n))
    assert (low <= rate).all() and (rate <= high).all() and (low >= 0).all() and (high <= 1).all()
    assert low[0] == 0.0 and rate[0] == 0.0 and high[-1] == 1.0 and rate[-1] == 1.0
    for k, lo, hi in zip(events, low, high):
        expected = _wilson(int(k), n)
        assert lo == pytest.approx(max(expected[0], 0), abs=1e-12) and hi == pytest.approx(min(expected[1], 1),
                                                                                           abs=1e-12)
    # the interval at 0 events of 37: statsmodels gives a lower bound of +7e-18, which made the figure crash
    rate, low, high = cohort.rate_with_interval([0], [0])
    assert np.isnan([rate[0], low[0], high[0]]).all()


def test_the_hospital_rates_figure_draws_sites_without_events(tmp_path):
    cohort_frame = pd.DataFrame({"hospital": ["A"] * 37 + ["B"] * 40, "readmitted_30d": [0] * 37 + [1] * 40})
    admissions = cohort_frame.assign(died_in_hospital=0)
    rates = cohort.hospital_rates(cohort_frame, admissions)
    assert rates["readmission_ci_low"].tolist() == [0.0, pytest.approx(_wilson(40, 40)[0])]
    assert rates["readmission_ci_high"].tolist()[1] == 1.0 and rates["mortality_ci_low"].tolist() == [0.0, 0.0]
    figure = figures.hospital_rates(cohort.rates_long(rates))  # raised "'xerr' must not contain negative values"
    figure.savefig(tmp_path / "rates.png")
    texts = cohort.hospital_rate_texts(rates, real_data=False)["rates_comment"]
    assert "highest at B (100.0 % (95 % CI" in texts and "1 site has no readmission in the cohort (A)" in texts
    assert "fewer than three sites" in texts
    one = cohort.hospital_rate_texts(rates.iloc[[0]], real_data=False)["rates_comment"]
    assert one.startswith("This cohort has one site, A: its 30-day readmission rate is 0.0 % (95 % CI 0.0-9.4 %)")


def test_site_rows_pool_the_small_and_the_many_sites_and_say_so():
    sizes = {"Big": 500, "Mid": 120, "Mid2": 120, "Small": 30, "Tiny": 5}
    frame = pd.DataFrame({"hospital": [h for h, n in sizes.items() for _ in range(n)]})
    rows = cohort.site_rows(frame, min_admissions=50, max_sites=2)
    assert rows.own == ["Big", "Mid"] and rows.pooled == ["Mid2", "Small", "Tiny"]  # ties broken by name
    relabelled = rows.apply(frame)["hospital"].value_counts()
    assert relabelled.to_dict() == {"Big": 500, cohort.POOLED_SITES: 155, "Mid": 120}
    assert "2 sites have their own row; the other 3 are pooled" in rows.text()
    everyone = cohort.site_rows(frame, min_admissions=0, max_sites=20)
    assert everyone.pooled == [] and "every one of this cohort's 5 sites has its own row" in everyone.text()
    with pytest.raises(ValueError, match="min_site_admissions"):
        cohort.site_rows(frame, min_admissions=10, max_sites=0)


def test_subgroup_table_protects_each_groupings_sum_and_chapter_4_hides_shares_beside_hidden_counts():
    summary = pd.DataFrame({"group_var": ["hospital", "age_group", "age_group", "age_group"],
                            "group": ["H", "18-39", "40-59", "60-79"], "admissions": [300, 6, 94, 200],
                            "patients": [200, 6, 80, 150], "readmissions": [30, 1, 9, 20],
                            "prevalence": [0.1, 1 / 6, 9 / 94, 0.1]})
    shown = cohort.format_subgroups(summary, real_data=True)
    assert shown.loc[("age_group", "18-39"), "admissions"] == "<11"
    assert shown.loc[("age_group", "40-59"), "admissions"] == "<11"  # 300 - 200 - the rest would give 6 back
    assert shown.loc[("age_group", "60-79"), "readmissions"] == "<11"  # 30 - 20 would give 1 + 9 back
    assert shown.loc[("age_group", "18-39"), "prevalence (%)"] == "" and shown.loc[("hospital", "H"),
                                                                                    "prevalence (%)"] == 10.0
    from helpers import features

    factors = pd.DataFrame({"split": "temporal_test", "hospital": ["A"] * 50 + ["B"] * 50,
                            "insurance": ["Medicare"] * 3 + ["Private"] * 47 + ["Medicare"] * 25 + ["Private"] * 25,
                            "error": [1] * 30 + [0] * 20 + [1] * 25 + [0] * 25, "y_true": [1] * 12 + [0] * 88,
                            "train_size": 100, "words_per_note": 300, "age": 70.0, "comorbidity_level": 2})
    by_error = features.publishable_by_error(factors, real_data=True)
    assert by_error.loc["admissions"].tolist() == ["45", "55"]
    # wrong: 12 readmitted of 55 is shown; right: 0 of 45 is shown (zero is publishable)
    assert by_error.loc["readmitted (%)"].tolist() == ["0.0", f"{100 * 12 / 55:.1f}"]
    rates = pd.DataFrame({"hospital": ["A", "B"], "readmissions": [5, 40], "cohort_admissions": [300, 300],
                          "in_hospital_deaths": [20, 0], "admissions": [320, 300]})
    table = pd.DataFrame({"train_size": [7, 200], "readmission_rate": [5 / 300, 40 / 300],
                          "mortality_rate": [20 / 320, 0.0]}, index=pd.Index(["A", "B"], name="hospital"))
    site_rates = cohort.publishable_site_rates(table, rates, ["train_size"], real_data=True)
    assert site_rates["train_size"].tolist() == ["<11", 200]
    assert site_rates["readmission_rate"].tolist() == ["", 40 / 300]
    assert site_rates["mortality_rate"].tolist() == [20 / 320, 0.0]


def test_a_share_beside_a_count_hidden_only_to_protect_a_sum_is_hidden_too():
    # B's 5 admissions are hidden, and A's 60 to protect the block's sum; 12 of A's 60 readmitted (20 %) would give
    # the 60 back, so A's share goes too
    table = pd.DataFrame({"var": "x", "admissions": [60, 5, 200], "readmissions": [12, 0, 40],
                          "share": [20.0, 0.0, 20.0]})
    out = privacy.hide_counts(table, ["admissions"], real_data=True, sums_within=["var"],
                              share_columns={"share": ("readmissions", "admissions")})
    assert out["admissions"].tolist() == ["<11", "<11", 200] and out["share"].tolist() == ["", "", 20.0]


def test_a_hospital_with_a_hidden_count_in_chapter_4s_profile_shows_no_percentage():
    from helpers import features

    # hospital B: 40 test admissions, 35 readmitted, so the 5 not readmitted are hidden through the complement
    factors = pd.DataFrame({"split": "temporal_test", "hospital": ["A"] * 60 + ["B"] * 40,
                            "insurance": ["Medicare"] * 30 + ["Private"] * 70,
                            "error": [1, 0] * 50, "y_true": [1] * 20 + [0] * 40 + [1] * 35 + [0] * 5,
                            "train_size": [500] * 60 + [300] * 40, "words_per_note": 300, "age": 70.0,
                            "comorbidity_level": 2, "readmission_rate": [0.2] * 60 + [0.3] * 40,
                            "mortality_rate": 0.02})
    auroc = pd.DataFrame({"group_var": "hospital", "split": "temporal_test", "metric": "auroc", "group": ["A", "B"],
                          "value": [0.7, 0.6], "ci_low": [0.6, 0.5], "ci_high": [0.8, 0.7]})
    profile = features.hospital_profile(factors, auroc)
    rates = pd.DataFrame({"hospital": ["A", "B"], "readmissions": [100, 150], "cohort_admissions": [500, 500],
                          "in_hospital_deaths": [20, 20], "admissions": [520, 520]})
    shown = features.publishable_profile(profile, factors, rates, real_data=True)
    assert shown.loc["readmissions", "B"] == privacy.HIDDEN
    shares = [row for row in shown.index if row.endswith("(%)")]
    assert (shown.loc[shares, "B"] == privacy.HIDDEN_SHARE).all()
    assert shown.loc["government insurance (%)", "A"] == 50.0 and shown.loc["readmissions", "A"] == 20
    assert features.publishable_profile(profile, factors, rates, real_data=False).loc["readmissions", "B"] == 35


def test_chapter5_forest_labels_training_sizes_by_the_one_rule():
    from helpers.mitigation.figures import _size_label  # the forest plot's "n=" label

    assert [_size_label(n, True) for n in (5.0, 10.0, 11.0, 1234.0)] == ["<11", "<11", "11", "1,234"]
    assert _size_label(5.0, False) == "5"
    assert _size_label(float("nan"), True) == "n/a"
