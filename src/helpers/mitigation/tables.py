"""Chapter 5's tables for reading: narrow enough for the text column, intervals on one line, '-' or a short reason
where there is no number, counts as integers, small counts hidden on real data (:mod:`helpers.privacy`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import evaluation, privacy
from helpers.contracts import TEST_SPLITS
from helpers.mitigation.strategies import CONTROL_OF, EXPERIMENTS, STRATEGIES

SHORT = {"local": "local", "instance_augmented": "augmented", "cluster": "cluster",
         "global_continued": "continued (ctrl)", "random_augmented": "random added (ctrl)"}
"""Short model names for table cells; the prose and the legend name them in full."""
STUDY_GAINS_PERCENT = (0.25, 11.74)
"""The study's local fine-tuning gains, in % of AUROC (Rahman et al., 2024): the smallest and the largest."""
NO_VALUE = "-"
SLASH = "\u00a0/\u00a0"
"""Between the two ways of training in one cell; no line break around it, so each pair stays on one line."""


def short_reason(note: str) -> str:
    """A few words for a table cell in place of a missing number; the full rule stays in the prose."""
    note = str(note or "")
    if "only one outcome class" in note or "one class" in note:
        return "one class only"
    if "no model of its own" in note or "has no model" in note:
        return "no model"
    if "not estimable" in note or "too few" in note or "fewer than" in note:
        return "too few cases"
    return NO_VALUE if not note else "not estimable"


def _number(value, digits: int = 3, sign: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return NO_VALUE
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _seed_means(rows: pd.DataFrame, split: str) -> pd.DataFrame:
    """Mean over seeds per experiment, hospital and metric on one test: value, the mean CI, SD, seeds, n, note."""
    part = rows[(rows["split"] == split) & (rows["group_var"] == "hospital")]
    return part.groupby(["experiment", "group", "metric"], sort=False).agg(
        value=("value", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
        sd=("value", "std"), seeds=("value", lambda v: int(np.isfinite(v).sum())), n=("n", "first"),
        n_pos=("n_pos", "first"), note=(evaluation.NOTE_COLUMN, "first"))


def _cell(means: pd.DataFrame, experiment: str, hospital: str, metric: str, *, sign=True, interval=True) -> str:
    """One change with its interval (or the MDE, ``interval=False``); a missing change gives its short reason, a
    missing MDE beside it only '-'."""
    key = (experiment, hospital, metric)
    if key not in means.index:
        return NO_VALUE
    found = means.loc[key]
    if not np.isfinite(found["value"]):
        return short_reason(found["note"]) if interval else NO_VALUE
    if not interval:
        return _number(found["value"], 3, sign)
    text = evaluation.format_estimate(found["value"], found["ci_low"], found["ci_high"])
    return f"+{text}" if sign and found["value"] >= 0 else text


def change_table(rows: pd.DataFrame, split: str) -> pd.DataFrame:
    """Per hospital and model on one test (means over seeds): the change against the global model with its paired
    95 % interval and minimum detectable change (MDE), and the same against the strategy's control."""
    means = _seed_means(rows, split)
    hospitals = sorted(rows.loc[rows["group_var"] == "hospital", "group"].astype(str).unique())
    records = []
    for hospital in hospitals:
        for experiment in EXPERIMENTS:
            if (experiment, hospital, "delta_auroc") not in means.index:
                continue
            control = CONTROL_OF.get(experiment)
            records.append({
                "hospital": hospital, "model": SHORT[experiment],
                "vs global [95 % CI]": _cell(means, experiment, hospital, "delta_auroc"),
                "MDE": _cell(means, experiment, hospital, "mde_delta_auroc", sign=False, interval=False),
                "vs control [95 % CI]": _cell(means, experiment, hospital, "delta_auroc_vs_control")
                if control else NO_VALUE,
                "MDE\u00a0": _cell(means, experiment, hospital, "mde_delta_auroc_vs_control", sign=False,
                                   interval=False) if control else NO_VALUE,
            })
    return pd.DataFrame(records).set_index(["hospital", "model"])


def seeds_table(rows: pd.DataFrame, split: str = "temporal_test") -> pd.DataFrame:
    """The change against the global model per single seed, beside its mean and SD over seeds."""
    part = rows[(rows["split"] == split) & (rows["group_var"] == "hospital") & (rows["metric"] == "delta_auroc")]
    table = part.pivot_table(index=["group", "experiment"], columns="seed", values="value", aggfunc="first",
                             dropna=False)
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    table = table.sort_index(key=lambda c: c.map(order) if c.name == "experiment" else c)
    shown = pd.DataFrame(index=table.index)
    for seed in table.columns:
        shown[f"seed {seed}"] = table[seed].map(lambda v: _number(v, 3, True))
    shown["mean"] = table.mean(axis=1).map(lambda v: _number(v, 3, True))
    shown["SD"] = table.std(axis=1, ddof=1).map(lambda v: _number(v, 3)) if table.shape[1] > 1 else NO_VALUE
    shown.index = pd.MultiIndex.from_tuples([(h, SHORT[e]) for h, e in shown.index], names=["hospital", "model"])
    return shown


def power_table(rows: pd.DataFrame, chapter3_rows: pd.DataFrame, *, real_data: bool,
                split: str = "temporal_test", experiment: str = "local") -> pd.DataFrame:
    """Per hospital: could this run detect a gain of the study's size?

    Two spreads give a minimum detectable change (MDE): the paired bootstrap of ``experiment``'s change (mean over
    seeds), which is near zero when the model barely moved from the global model (the two then score alike), and
    the spread of two *independent* AUROCs as precise as the global model's at that hospital (chapter 3's
    interval: 2.8 x sqrt(2) x its standard error), which does not depend on how alike two models happen to be.
    The larger decides whether the study's smallest and largest gains (in AUROC points at the global model's AUROC
    there) could have been detected, and the test admissions that would detect each (the MDE scales with
    1/sqrt(n))."""
    means = _seed_means(rows, split)
    reference = chapter3_rows[(chapter3_rows["split"] == split)]
    reference = reference[reference["seed"] == reference["seed"].min()].set_index(
        reference["group"].astype(str).rename("hospital"))
    records = []
    for hospital, found in reference.sort_index().iterrows():
        key = (experiment, str(hospital), "mde_delta_auroc")
        paired = float(means.loc[key, "value"]) if key in means.index else np.nan
        se_global = (found["ci_high"] - found["ci_low"]) / (2 * evaluation.Z_95)
        unpaired = evaluation.minimum_detectable(np.sqrt(2) * se_global)
        mde = np.nanmax([paired, unpaired]) if np.isfinite([paired, unpaired]).any() else np.nan
        n = int(found["n"]) if np.isfinite(found["n"]) else 0
        record = {"hospital": str(hospital), "test admissions": n, "MDE paired": _number(paired),
                  "MDE unpaired": _number(unpaired)}
        for percent in STUDY_GAINS_PERCENT:
            effect = percent / 100 * float(found["value"])
            needed = evaluation.size_to_detect(n, mde / evaluation.MDE_FACTOR, effect)
            record[f"+{percent:g} %: detected?"] = (f"{effect:.3f}: {'yes' if mde <= effect else 'no'}"
                                                    if np.isfinite(mde) and np.isfinite(effect) else NO_VALUE)
            record[f"n for +{percent:g} %"] = f"{needed:,.0f}" if np.isfinite(needed) else NO_VALUE
        records.append(record)
    table = pd.DataFrame(records).set_index("hospital")
    return privacy.hide_counts(table, ["test admissions"], real_data=real_data)


def ranking_table(rows: pd.DataFrame, split: str = "temporal_test") -> pd.DataFrame:
    """Strategies ranked on their per-hospital changes (means over seeds, each hospital counting once): the mean
    change against the global model and against the control, and at how many hospitals the control's interval
    excludes zero upwards or downwards. The pooled 'all hospitals' row plays no part."""
    means = _seed_means(rows, split).reset_index()
    records = []
    for experiment in STRATEGIES:
        mine = means[means["experiment"] == experiment]
        vs_global = mine[(mine["metric"] == "delta_auroc") & np.isfinite(mine["value"])]
        vs_control = mine[(mine["metric"] == "delta_auroc_vs_control") & np.isfinite(mine["value"])]
        records.append({
            "strategy": SHORT[experiment], "hospitals": len(vs_global),
            "mean vs global": vs_global["value"].mean() if len(vs_global) else np.nan,
            "mean vs control": vs_control["value"].mean() if len(vs_control) else np.nan,
            "beats control": int((vs_control["ci_low"] > 0).sum()),
            "loses to control": int((vs_control["ci_high"] < 0).sum()),
        })
    table = pd.DataFrame(records).sort_values("mean vs control", ascending=False, na_position="last")
    table.insert(0, "rank", range(1, len(table) + 1))
    for column in ("mean vs global", "mean vs control"):
        table[column] = table[column].map(lambda v: _number(v, 3, True))
    return table.set_index("strategy")


def models_table(models: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """One row per model: its training and validation admissions, and per seed the epoch kept, the epochs run and
    why training stopped; the mean best validation AUROC and the seconds over all seeds."""
    records = []
    for (strategy, unit), part in models.groupby(["strategy", "unit"], sort=False):
        trained = part[part["status"] == "trained"] if "status" in part else part.iloc[0:0]
        first = part.iloc[0]
        record = {"model": SHORT.get(strategy, strategy), "unit": str(unit),
                  "training": int(first["train_size"]), "validation": int(first["selection_size"])}
        if trained.empty:
            record.update({"kept epoch": short_reason(first["status"]), "epochs run": NO_VALUE,
                           "stopped by": NO_VALUE, "val. AUROC": NO_VALUE, "seconds": NO_VALUE})
        else:
            reasons = trained["stop_reason"].value_counts()
            record.update({
                "kept epoch": ", ".join(str(int(v)) for v in trained["best_epoch"]),
                "epochs run": ", ".join(str(int(v)) for v in trained["epochs_run"]),
                "stopped by": ", ".join(f"{'patience' if r.startswith('patience') else 'cap'}"
                                        f"{f' x{c}' if len(trained) > 1 else ''}" for r, c in reasons.items()),
                "val. AUROC": _number(trained["best_validation_auroc"].mean()),
                "seconds": f"{trained['seconds'].sum():.1f}",
            })
        records.append(record)
    table = pd.DataFrame(records).set_index(["model", "unit"])
    return privacy.hide_counts(table, ["training", "validation"], real_data=real_data)


def reference_table(chapter3_rows: pd.DataFrame) -> pd.DataFrame:
    """The global model's AUROC per hospital on both tests, as chapter 3 reported it."""
    records = {}
    for split in TEST_SPLITS:
        part = chapter3_rows[chapter3_rows["split"] == split]
        part = part[part["seed"] == part["seed"].min()]
        records[evaluation.SPLIT_NAMES.get(split, split) + " AUROC [95 % CI]"] = {
            str(r.group): evaluation.format_estimate(r.value, r.ci_low, r.ci_high) for r in part.itertuples()}
    table = pd.DataFrame(records)
    table.index.name = "hospital"
    return table.sort_index()


def scarcity_display(scarcity: pd.DataFrame) -> pd.DataFrame:
    """The scarcity table for reading: the three strategies' mean relative changes (%) with short names, counts as
    integers, the learning-curve slope when chapter 4 ran."""
    from helpers.mitigation.comparison import LABELS

    shown = pd.DataFrame(index=scarcity.index)
    shown["training admissions"] = scarcity["training admissions"].astype(int)
    shown["size rank"] = scarcity["size rank (1 = fewest)"].astype(int)
    for experiment in STRATEGIES:
        column = f"{LABELS[experiment]} (%)"
        if column in scarcity:
            shown[f"{SHORT[experiment]} (%)"] = scarcity[column].map(lambda v: _number(v, 2, True))
    slope = "learning-curve AUROC per doubling (ch. 4)"
    if slope in scarcity:
        shown["ch. 4 slope"] = scarcity[slope].map(lambda v: _number(v, 3, True))
    return shown


def cluster_display(makeup: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """The clusters' make-up for reading: training admissions, share readmitted and the count from each hospital
    (the figure above gives the shares); small counts hidden on real data, with the share of their row."""
    counts = [c for c in makeup.columns if c.endswith(" (n)")]
    shown = makeup[["training admissions", "readmitted (%)"] + counts].copy()
    shown.columns = ["training", "readmitted (%)"] + [c.replace(" (n)", "") for c in counts]
    return privacy.hide_counts(shown, ["training"] + [c.replace(" (n)", "") for c in counts], real_data=real_data,
                               share_columns=["readmitted (%)"])


def variant_numbers(main_models: pd.DataFrame, other_models: pd.DataFrame, main_rows: pd.DataFrame,
                    other_rows: pd.DataFrame, main_variant: str, split: str = "temporal_test") -> pd.DataFrame:
    """Per model trained both ways (one seed): validation and ``split`` AUROC of each variant, the paired difference
    (other minus main) with its interval and its minimum detectable change, epochs run and seconds of each. A hospital unit is read on its hospital's
    rows; the pooled control on the overall row. Numbers, for :func:`variant_table` and the prose."""
    from helpers.mitigation.top_layer import other_variant

    other = other_variant(main_variant)
    suffix = f"_{other}"
    records = []
    for found in other_models.itertuples():
        base = found.strategy[: -len(suffix)]
        seed = found.seed
        mine = main_models[(main_models["strategy"] == base) & (main_models["unit"] == found.unit)
                           & (main_models["seed"] == seed)]
        group_var, group = ("overall", "all") if base == "global_continued" else ("hospital", str(found.unit))

        def value(rows, experiment, metric, column="value"):
            hit = rows[(rows["experiment"] == experiment) & (rows["seed"] == seed) & (rows["split"] == split)
                       & (rows["group_var"] == group_var) & (rows["group"] == group) & (rows["metric"] == metric)]
            return float(hit[column].iloc[0]) if len(hit) else np.nan

        def of(frame, column):
            return float(frame[column].iloc[0]) if len(frame) and column in frame else np.nan

        delta = f"delta_auroc_vs_{main_variant}"
        records.append({
            "experiment": base, "unit": str(found.unit), "seed": int(seed), "status": found.status,
            f"val_{main_variant}": of(mine, "best_validation_auroc"),
            f"val_{other}": getattr(found, "best_validation_auroc", np.nan),
            f"test_{main_variant}": value(main_rows, base, "auroc"),
            f"test_{other}": value(other_rows, found.strategy, "auroc"),
            "difference": value(other_rows, found.strategy, delta),
            "ci_low": value(other_rows, found.strategy, delta, "ci_low"),
            "ci_high": value(other_rows, found.strategy, delta, "ci_high"),
            "mde": value(other_rows, found.strategy, f"mde_{delta}"),
            f"epochs_{main_variant}": of(mine, "epochs_run"), f"epochs_{other}": getattr(found, "epochs_run", np.nan),
            f"kept_{main_variant}": of(mine, "best_epoch"), f"kept_{other}": getattr(found, "best_epoch", np.nan),
            f"seconds_{main_variant}": of(mine, "seconds"), f"seconds_{other}": getattr(found, "seconds", np.nan),
        })
    return pd.DataFrame(records)


def variant_table(numbers: pd.DataFrame, main_variant: str) -> pd.DataFrame:
    """:func:`variant_numbers` for reading, narrow enough for the text column: one row per model, each cell
    "head only / top layer + head", the difference always as top layer minus head only."""
    from helpers.mitigation.top_layer import other_variant

    other = other_variant(main_variant)
    pair = ("head", "top_layer")
    records = []
    for row in numbers.itertuples(index=False):
        row = row._asdict()
        record = {"model": SHORT.get(row["experiment"], row["experiment"]), "unit": row["unit"]}
        if row["status"] != "trained":
            record["val. AUROC"] = short_reason(row["status"])
            records.append(record)
            continue
        record["val. AUROC"] = SLASH.join(_number(row[f"val_{v}"]) for v in pair)
        record["temporal AUROC"] = SLASH.join(_number(row[f"test_{v}"]) for v in pair)
        sign = 1.0 if other == "top_layer" else -1.0
        low, high = sorted((sign * row["ci_low"], sign * row["ci_high"]))
        value = sign * row["difference"]
        text = evaluation.format_estimate(value, low, high) if np.isfinite(value) else NO_VALUE
        record["top - head [95 % CI]"] = text if text.startswith(("-", NO_VALUE)) else f"+{text}"
        record["MDE"] = _number(row["mde"]) if np.isfinite(row["mde"]) else NO_VALUE
        if row["kept_head"] == 0 and row["kept_top_layer"] == 0:   # both are their start: nothing to compare
            record["top - head [95 % CI]"], record["MDE"] = "both kept the start", NO_VALUE
        record["kept (of)"] = SLASH.join(
            f"{int(row[f'kept_{v}'])}\u00a0({int(row[f'epochs_{v}'])})" if np.isfinite(row[f"epochs_{v}"]) else NO_VALUE
            for v in pair)
        records.append(record)
    return pd.DataFrame(records).set_index(["model", "unit"]).fillna(NO_VALUE)
