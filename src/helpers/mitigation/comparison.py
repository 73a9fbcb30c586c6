"""Each strategy against the global model on the same admissions: AUROC, its change and the change's paired CI.

The change is measured on exactly the admissions the strategy scored, against the global model's scores for the
same admissions, with a **paired** patient-level bootstrap: each resample draws patients once and both models are
scored on that one resample (:func:`helpers.evaluation.paired_bootstrap_delta`). Sampling noise common to both
models (which patients happen to be in the test) then cancels, and the interval is that of the *difference*.

The relative change is ``100 * (AUROC_strategy - AUROC_global) / AUROC_global`` (%), the form in which the study
reports its gains (0.25 % to 11.74 %). Its interval comes from the same patient resamples:
:func:`helpers.evaluation.bootstrap_resample_values` with the same seed draws the same resamples as the paired
bootstrap (tested), so the ratio is formed resample by resample.

Controls. A strategy's change against its control (``strategies.CONTROL_OF``, same seed) is measured the same
way, on the same admissions, as ``delta_auroc_vs_control``. Beside every change, ``mde_delta_auroc``: the minimum
detectable change, 2.8 standard errors of the paired bootstrap (80 % power, two-sided 5 %).

Seeds. With several seeds every strategy model is trained once per seed; the rows keep one value per seed (the
metrics contract), and :func:`seed_summary` gives the mean, the standard deviation across seeds (training noise)
and the average bootstrap interval of one seed (sampling noise), side by side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import evaluation
from helpers.evaluation import METRICS_FILE_COLUMNS, NOTE_COLUMN

NOTEBOOK = "05_mitigation"
from helpers.contracts import TEST_SPLITS  # the two tests, one home
from helpers.mitigation.top_layer import other_variant
CHANGE_METRICS = ("auroc", "delta_auroc", "delta_auroc_rel")
LABELS = {"local": "local fine-tuning", "instance_augmented": "instance-based augmented fine-tuning",
          "cluster": "cluster-based fine-tuning", "global": "global model",
          "global_continued": "global model trained further (control)",
          "random_augmented": "random admissions added (control)",
          "random_test": "random test", "temporal_test": "temporal test"}


def relative_change(strategy_auroc, global_auroc):
    """Relative change of AUROC in percent: 100 * (strategy - global) / global (NaN where global is 0 or NaN)."""
    strategy_auroc = np.asarray(strategy_auroc, dtype=float)
    global_auroc = np.asarray(global_auroc, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(global_auroc > 0, 100.0 * (strategy_auroc - global_auroc) / global_auroc, np.nan)
    return out if out.ndim else float(out)


def paired_change(y_true, global_score, strategy_score, patient_id, n_resamples: int = 1000,
                  seed: int = 0, reference_values: np.ndarray | None = None) -> dict[str, evaluation.MetricResult]:
    """AUROC of the strategy, its change against the reference model, the relative change (%), each with a CI, and
    the minimum detectable change.

    All come from the same patient resamples (:func:`helpers.evaluation.bootstrap_resample_values` draws the
    resamples of :func:`helpers.evaluation.paired_bootstrap_delta` for the same seed), so each model is scored on
    the resamples once and every interval is read from those two sets of values. The minimum detectable change
    (``mde_delta_auroc``) is :func:`helpers.evaluation.minimum_detectable` of the paired bootstrap's standard error
    (the SD of the change over the resamples): about 2.8 standard errors, the smallest true change a two-sided 5 %
    test detects with 80 % power. ``reference_values``: the reference model's resample AUROCs when already
    computed for these admissions and seed. Returns ``{"auroc", "delta_auroc", "delta_auroc_rel",
    "mde_delta_auroc"}``; a group that cannot be scored gets NaN values and the reason in every result.
    """
    point = evaluation.bootstrap_metrics(y_true, strategy_score, patient_id, metrics=("auroc",), n_resamples=0,
                                         seed=seed)["auroc"]
    delta = evaluation.paired_bootstrap_delta(y_true, global_score, strategy_score, patient_id, n_resamples=0,
                                              seed=seed)
    n, n_pos = delta.n, delta.n_pos
    if delta.reason:
        empty = evaluation.MetricResult(np.nan, np.nan, np.nan, n, n_pos, delta.reason, 0, n_resamples)
        strategy = evaluation.MetricResult(point.value, np.nan, np.nan, n, n_pos, point.reason, 0, n_resamples)
        return {"auroc": strategy, "delta_auroc": empty, "delta_auroc_rel": empty, "mde_delta_auroc": empty}
    global_auroc = evaluation.auroc(y_true, global_score)
    values_global = values_strategy = np.empty(0)
    if n_resamples:
        values_global = reference_values if reference_values is not None else \
            evaluation.bootstrap_resample_values(y_true, global_score, patient_id, "auroc", n_resamples, seed)
        values_strategy = evaluation.bootstrap_resample_values(y_true, strategy_score, patient_id, "auroc",
                                                               n_resamples, seed)
    deltas = values_strategy - values_global
    finite = deltas[np.isfinite(deltas)]
    mde = evaluation.minimum_detectable(float(np.std(finite, ddof=1))) if finite.size > 1 else np.nan

    def interval(values, value):
        low, high, used = evaluation.percentile_interval(values, 0.95)
        return evaluation.MetricResult(float(value), low, high, n, n_pos, None, used, n_resamples)

    return {"auroc": interval(values_strategy, point.value), "delta_auroc": interval(deltas, delta.value),
            "delta_auroc_rel": interval(relative_change(values_strategy, values_global),
                                        relative_change(global_auroc + delta.value, global_auroc)),
            "mde_delta_auroc": evaluation.MetricResult(mde, np.nan, np.nan, n, n_pos, None, int(finite.size),
                                                       n_resamples)}


def resample_values_cache(n_resamples: int, seed: int):
    """The reference model's resample AUROCs per set of admissions and scores, computed once: the global model is
    the reference of every experiment and seed on the same admissions."""
    store: dict = {}

    def values(members: pd.DataFrame) -> np.ndarray | None:
        if not n_resamples:
            return None
        # The resamples depend on the order of the rows (patients are coded in order of appearance): the key is
        # order-sensitive, and _compare hands the admissions over sorted.
        key = pd.util.hash_pandas_object(members[["admission_id", "reference_score"]], index=False).to_numpy()
        key = hash(key.tobytes())
        if key not in store:
            store[key] = evaluation.bootstrap_resample_values(
                members["y_true"].to_numpy(), members["reference_score"].to_numpy(),
                members["patient_id"].to_numpy(), "auroc", n_resamples, seed)
        return store[key]

    return values


def _row(experiment, split, group_var, group, metric, result: evaluation.MetricResult, seed, note=None) -> dict:
    return {"notebook": NOTEBOOK, "experiment": experiment, "model": "clinicllm", "split": split,
            "group_var": group_var, "group": str(group), "metric": metric, "value": result.value,
            "ci_low": result.ci_low, "ci_high": result.ci_high, "n": result.n, "n_pos": result.n_pos,
            "seed": int(seed), NOTE_COLUMN: note if note is not None else result.note}


def _reference_of(predictions: pd.DataFrame) -> pd.DataFrame:
    tests = predictions[predictions["split"].isin(TEST_SPLITS)]
    return tests[["admission_id", "split", "y_score", "y_true"]].rename(
        columns={"y_score": "reference_score", "y_true": "reference_true"})


def _compare(part: pd.DataFrame, reference: pd.DataFrame, expected: pd.DataFrame, hospitals: list[str],
             experiment: str, seed: int, skipped: dict, metric_names: dict, against: str, *, n_resamples: int,
             bootstrap_seed: int, cache) -> list[dict]:
    """Rows of ``experiment`` (one seed) against ``reference`` scores of the same admissions, overall and per
    hospital on both tests; ``metric_names`` maps paired_change's keys to the metric names written."""
    joined = part.merge(reference, on=["admission_id", "split"], how="inner", validate="one_to_one")
    if not (joined["reference_true"].to_numpy() == joined["y_true"].to_numpy()).all():
        raise ValueError(f"{experiment} predictions and the {against} predictions disagree on y_true for the same "
                         "admission; they come from different cohorts.")
    rows = []
    for split in TEST_SPLITS:
        in_split = joined[joined["split"] == split]
        groups = [("overall", "all", in_split)] + [
            ("hospital", h, in_split[in_split["hospital"].astype(str) == h]) for h in hospitals]
        for group_var, group, members in groups:
            members = members.sort_values(["admission_id"], kind="stable")
            if len(members) == 0:
                there = expected[(expected["split"] == split) & ((expected["hospital"] == group)
                                                                 | (group_var == "overall"))]
                reason = skipped.get(group, f"no {against} score for the admissions scored here")
                empty = evaluation.MetricResult(np.nan, np.nan, np.nan, len(there), int(there["y_true"].sum()),
                                                reason)
                rows += [_row(experiment, split, group_var, group, m, empty, seed) for m in metric_names.values()]
                continue
            results = paired_change(members["y_true"].to_numpy(), members["reference_score"].to_numpy(),
                                    members["y_score"].to_numpy(), members["patient_id"].to_numpy(),
                                    n_resamples=n_resamples, seed=bootstrap_seed, reference_values=cache(members))
            note = None
            if group_var == "overall" and members["hospital"].nunique() < len(hospitals):
                note = "pooled over the hospitals this strategy has a model for"
            for key, metric in metric_names.items():
                text = "; ".join(t for t in (results[key].note, note) if t) or ""
                rows.append(_row(experiment, split, group_var, group, metric, results[key], seed, text))
    return rows


VS_GLOBAL = {"auroc": "auroc", "delta_auroc": "delta_auroc", "delta_auroc_rel": "delta_auroc_rel",
             "mde_delta_auroc": "mde_delta_auroc"}
VS_CONTROL = {"delta_auroc": "delta_auroc_vs_control", "mde_delta_auroc": "mde_delta_auroc_vs_control"}
"""The metric names of a strategy's change against its control (``CONTROL_OF``), same seed, same admissions."""


def change_rows(strategy_predictions: pd.DataFrame, global_predictions: pd.DataFrame, models: pd.DataFrame,
                *, n_resamples: int = 1000, bootstrap_seed: int = 0) -> pd.DataFrame:
    """Metrics rows per experiment, seed, test, overall and hospital: ``auroc``, ``delta_auroc``,
    ``delta_auroc_rel`` and ``mde_delta_auroc`` against the global model, and for each strategy whose control was
    trained, ``delta_auroc_vs_control`` and ``mde_delta_auroc_vs_control`` against the control of the same seed.

    Every hospital of the global predictions gets rows on both tests, even when the experiment has no model for it
    (value NaN, the reason in ``note``). The ``seed`` column is the training seed; the bootstrap uses
    ``bootstrap_seed`` for every seed, so seeds differ only by training.
    """
    from helpers.mitigation.strategies import CONTROL_OF

    expected = global_predictions[global_predictions["split"].isin(TEST_SPLITS)]
    expected = expected.assign(hospital=expected["hospital"].astype(str))
    hospitals = sorted(expected["hospital"].unique())
    global_reference = _reference_of(global_predictions)
    cache = resample_values_cache(n_resamples, bootstrap_seed)
    rows = []
    for (experiment, seed), part in strategy_predictions.groupby(["experiment", "seed"], sort=True):
        missing = len(part) - len(part.merge(global_reference, on=["admission_id", "split"]))
        if missing:
            raise ValueError(f"{missing} {experiment} prediction(s) have no global prediction for the same "
                             "admission and split; both must come from the same run's study frame.")
        skipped = models[(models["strategy"] == experiment) & (models["seed"] == seed)]
        skipped = dict(zip(skipped["unit"].astype(str), skipped["status"].astype(str)))
        settings = dict(n_resamples=n_resamples, bootstrap_seed=bootstrap_seed, cache=cache)
        rows += _compare(part, global_reference, expected, hospitals, experiment, seed, skipped, VS_GLOBAL,
                         "global model", **settings)
        control = CONTROL_OF.get(experiment)
        control_rows = strategy_predictions[(strategy_predictions["experiment"] == control)
                                            & (strategy_predictions["seed"] == seed)]
        if control and len(control_rows):
            rows += _compare(part, _reference_of(control_rows), expected, hospitals, experiment, seed, skipped,
                             VS_CONTROL, control, **settings)
    return pd.DataFrame(rows, columns=METRICS_FILE_COLUMNS)


def seed_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, test, group and metric: mean over seeds, SD across seeds, range, and the mean bootstrap CI."""
    keys = ["experiment", "split", "group_var", "group", "metric"]
    grouped = rows.groupby(keys, sort=False)
    out = grouped.agg(mean=("value", "mean"), sd=("value", "std"), low_seed=("value", "min"),
                      high_seed=("value", "max"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
                      n_seeds=("value", lambda v: int(np.isfinite(v).sum())), n=("n", "first"),
                      n_pos=("n_pos", "first"), note=(NOTE_COLUMN, "first")).reset_index()
    return out


def training_sizes(strategy_predictions: pd.DataFrame, global_train_sizes: pd.Series) -> pd.DataFrame:
    """Training admissions behind each strategy's scores, per hospital (cluster: mean over its test admissions).

    Admissions that kept the global model's score count with the global model's training size.
    """
    first_seed = strategy_predictions["seed"].min()
    part = strategy_predictions[strategy_predictions["seed"] == first_seed].copy()
    total = float(global_train_sizes.sum())
    part["train_size"] = part["train_size"].fillna(total)
    sizes = part.groupby(["experiment", "hospital"], observed=True)["train_size"].mean().reset_index()
    global_rows = pd.DataFrame({"experiment": "global", "hospital": global_train_sizes.index.astype(str),
                                "train_size": total})
    return pd.concat([sizes, global_rows], ignore_index=True)


def change_range_sentence(summary: pd.DataFrame, experiment: str, split: str) -> str:
    """'local fine-tuning changed temporal-test AUROC by -1.20 % to +3.40 % across the 4 hospitals ...'."""
    part = summary[(summary["experiment"] == experiment) & (summary["split"] == split)
                   & (summary["group_var"] == "hospital") & (summary["metric"] == "delta_auroc_rel")]
    values = part.dropna(subset=["mean"])
    label = LABELS.get(experiment, experiment)
    where = LABELS.get(split, split)
    if values.empty:
        return f"{label[0].upper()}{label[1:]} could not be compared with the global model on the {where} at any hospital"
    low, high = values["mean"].min(), values["mean"].max()
    seeds = int(part["n_seeds"].max()) if len(part) else 1
    over = f" (means over {seeds} seeds)" if seeds > 1 else ""
    skipped = len(part) - len(values)
    left_out = f"; {skipped} hospital(s) could not be estimated" if skipped else ""
    excluded_up = int((values["ci_low"] > 0).sum())
    excluded_down = int((values["ci_high"] < 0).sum())
    return (f"{label[0].upper()}{label[1:]} changed the {where} AUROC by {low:+.2f} % to {high:+.2f} % across the {len(values)} "
            f"hospital(s) where it could be estimated{over}{left_out}; the 95 % CI of the change excludes zero "
            f"upwards at {excluded_up} and downwards at {excluded_down} of them")


def learning_curve_slopes(metrics: pd.DataFrame, split: str = "temporal_test") -> pd.Series:
    """AUROC gained per doubling of training admissions at each hospital, from chapter 4's learning curve.

    Reads rows with experiment ``learning_curve``, group_var ``train_size:<hospital>``, group ``n=<size>`` and
    metric ``auroc``; the slope is a least-squares fit of AUROC on log2(size). Empty when chapter 4 has not run.
    """
    rows = metrics[(metrics["experiment"] == "learning_curve") & (metrics["metric"] == "auroc")
                   & (metrics["split"] == split) & metrics["group_var"].astype(str).str.startswith("train_size:")]
    slopes = {}
    for group_var, part in rows.groupby("group_var"):
        sizes = pd.to_numeric(part["group"].astype(str).str.replace("n=", "", regex=False), errors="coerce")
        ok = sizes.notna() & (sizes > 0) & part["value"].notna()
        if ok.sum() >= 2 and sizes[ok].nunique() >= 2:
            slope = np.polyfit(np.log2(sizes[ok].to_numpy(float)), part.loc[ok, "value"].to_numpy(float), 1)[0]
            slopes[group_var.split(":", 1)[1]] = float(slope)
    return pd.Series(slopes, name="learning-curve AUROC per doubling", dtype=float)


def scarcity_table(summary: pd.DataFrame, global_train_sizes: pd.Series, slopes: pd.Series,
                   split: str = "temporal_test") -> pd.DataFrame:
    """Per hospital: its training admissions, its size rank (1 = fewest) and each strategy's mean change (%)."""
    part = summary[(summary["split"] == split) & (summary["group_var"] == "hospital")
                   & (summary["metric"] == "delta_auroc_rel")]
    table = part.pivot_table(index="group", columns="experiment", values="mean", aggfunc="first", dropna=False)
    table = table.reindex(global_train_sizes.index.astype(str))
    table.columns = [f"{LABELS.get(c, c)} (%)" for c in table.columns]
    table.insert(0, "training admissions", global_train_sizes.to_numpy())
    table.insert(1, "size rank (1 = fewest)", global_train_sizes.rank(method="min").astype(int).to_numpy())
    if len(slopes):
        table["learning-curve AUROC per doubling (ch. 4)"] = slopes.reindex(table.index)
    table.index.name = "hospital"
    return table.sort_values("training admissions")


def scarcity_sentence(table: pd.DataFrame, experiment: str = "local") -> str:
    """Whether the largest gain of ``experiment`` is at the hospital with the fewest training admissions."""
    column = f"{LABELS.get(experiment, experiment)} (%)"
    if column not in table.columns or table[column].notna().sum() == 0:
        return f"the {LABELS.get(experiment, experiment)} gains could not be related to training size"
    values = table[column].dropna()
    best = values.idxmax()
    rank = int(table.loc[best, "size rank (1 = fewest)"])
    where = "the fewest" if rank == 1 else f"the {_ordinal(rank)} fewest"
    verdict = "so the gain is largest where data are scarcest" if rank == 1 else \
        "so in this run the gain is not largest where data are scarcest"
    text = (f"the largest change from {LABELS.get(experiment, experiment)} ({values[best]:+.2f} %) is at {best}, the "
            f"hospital with {where} training admissions, {verdict}")
    sizes = table.loc[values.index, "training admissions"]
    if len(values) >= 3 and values.nunique() > 1 and pd.to_numeric(sizes, errors="coerce").nunique() > 1:
        rho = values.rank().corr(pd.to_numeric(sizes, errors="coerce").rank())
        text += (f"; across the {len(values)} hospitals the rank correlation of change and training size is "
                 f"{rho:+.2f}" + (" (descriptive only with so few hospitals)" if len(values) < 10 else ""))
    elif len(values) >= 3:
        text += f"; the {len(values)} hospitals' changes (or sizes) are all equal, so they have no rank correlation"
    return text


def _ordinal(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def headline_sentences(summary: pd.DataFrame, experiments=("local", "instance_augmented", "cluster")) -> dict[str, str]:
    """``range_<strategy>_<split>`` -> the study-style sentence, for every strategy and test (for glue)."""
    return {f"range_{e}_{s}": change_range_sentence(summary, e, s) for e in experiments for s in TEST_SPLITS}


def seed_noise_sentence(summary: pd.DataFrame, seeds: list[int]) -> str:
    """How the spread across seeds (training noise) compares with the bootstrap CI (sampling noise)."""
    if len(seeds) < 2:
        return (f"this run trained each strategy model with one seed ({seeds[0]}), so the intervals show sampling "
                "noise only; a run with several seeds (the default study runs three, params/seeds.yaml five) adds "
                "the spread that comes from training itself")
    part = summary[(summary["metric"] == "delta_auroc") & (summary["group_var"] == "hospital")].dropna(subset=["sd"])
    if part.empty:
        return f"with {len(seeds)} seeds no change could be estimated at any hospital"
    sd = float(part["sd"].median())
    width = float((part["ci_high"] - part["ci_low"]).median())
    if not width > 0:  # most models kept their start, so most changes are exactly zero on every resample
        return (f"across {len(seeds)} seeds the change in AUROC at a hospital has a median standard deviation of "
                f"{sd:.3f} and one seed's 95 % bootstrap interval a median width of {width:.3f}: most models kept "
                "their start, so at most hospitals there is neither training nor sampling noise to compare")
    ratio = sd / width
    return (f"across {len(seeds)} seeds the change in AUROC at a hospital has a median standard deviation of "
            f"{sd:.3f}, against a median width of {width:.3f} for one seed's 95 % bootstrap interval "
            f"(ratio {ratio:.2f}): training noise is {'small beside' if ratio < 0.25 else 'a real part of'} "
            "the uncertainty of each change")


def variant_rows(other_predictions: pd.DataFrame, main_predictions: pd.DataFrame, global_predictions: pd.DataFrame,
                 other_models: pd.DataFrame, main_variant: str, *, n_resamples: int = 1000,
                 bootstrap_seed: int = 0) -> pd.DataFrame:
    """Metrics rows of the models trained the other way (experiments ``<strategy>_<variant>``, e.g.
    ``local_top_layer``): the rows of :func:`change_rows` against the global model, and
    ``delta_auroc_vs_<main_variant>`` with ``mde_delta_auroc_vs_<main_variant>``: the paired change against the
    same strategy and seed trained the main way, on the same admissions (other minus main)."""
    rows = [change_rows(other_predictions, global_predictions, other_models, n_resamples=n_resamples,
                        bootstrap_seed=bootstrap_seed)]
    expected = global_predictions[global_predictions["split"].isin(TEST_SPLITS)]
    expected = expected.assign(hospital=expected["hospital"].astype(str))
    hospitals = sorted(expected["hospital"].unique())
    names = {"delta_auroc": f"delta_auroc_vs_{main_variant}", "mde_delta_auroc": f"mde_delta_auroc_vs_{main_variant}"}
    cache = resample_values_cache(n_resamples, bootstrap_seed)
    suffix = f"_{other_variant(main_variant)}"
    for (experiment, seed), part in other_predictions.groupby(["experiment", "seed"], sort=True):
        base = experiment[: -len(suffix)] if experiment.endswith(suffix) else experiment
        main = main_predictions[(main_predictions["experiment"] == base) & (main_predictions["seed"] == seed)]
        if main.empty:
            raise ValueError(f"{experiment} (seed {seed}) has no {base} predictions of the same seed to be "
                             f"compared with; train {base} with seed {seed} the main way too.")
        skipped = other_models[(other_models["strategy"] == experiment) & (other_models["seed"] == seed)]
        skipped = dict(zip(skipped["unit"].astype(str), skipped["status"].astype(str)))
        rows.append(pd.DataFrame(_compare(part, _reference_of(main), expected, hospitals, experiment, seed, skipped,
                                          names, f"{base} ({main_variant})", n_resamples=n_resamples,
                                          bootstrap_seed=bootstrap_seed, cache=cache), columns=METRICS_FILE_COLUMNS))
    return pd.concat([r for r in rows if len(r)], ignore_index=True)


def variant_sentence(table: pd.DataFrame, main_variant: str) -> str:
    """What training the other way changed, from :func:`helpers.mitigation.tables.variant_table`'s numbers."""
    from helpers.mitigation.top_layer import VARIANT_LABELS

    other = other_variant(main_variant)
    values = table.dropna(subset=["difference"])
    if values.empty:
        return (f"no unit could be compared on the temporal test, so this run cannot say what training the "
                f"{VARIANT_LABELS[other]} would change")
    up, down = int((values["ci_low"] > 0).sum()), int((values["ci_high"] < 0).sum())
    both = int(((values["kept_head"] == 0) & (values["kept_top_layer"] == 0)).sum())
    kept = (f"; {both} of them kept their start both ways (no epoch of either beat it), so there the two are the "
            "same model" if both else "")
    return (f"training the {VARIANT_LABELS[other]} instead of the {VARIANT_LABELS[main_variant]} changed the "
            f"temporal-test AUROC by {values['difference'].min():+.3f} to {values['difference'].max():+.3f} across the "
            f"{len(values)} models compared (mean {values['difference'].mean():+.3f}); the paired 95 % interval "
            f"excludes zero upwards at {up} and downwards at {down} of them{kept}")


def fitting_sentence(histories: pd.DataFrame) -> str:
    """Whether training fitted the models' own training admissions (the mean training loss of the first epoch
    against the last epoch run) while the validation AUROC did or did not rise: tells a model that kept its start
    because nothing beat it from one that never learned."""
    if histories.empty or "train_loss" not in histories or histories["train_loss"].isna().all():
        return "no model was trained, so there is no training loss to report"
    changes, rose = [], 0
    for _, one in histories.groupby(["strategy", "unit", "seed"], sort=False):
        one = one.sort_values("epoch")
        losses = one["train_loss"].dropna()
        if len(losses) >= 2:
            changes.append(100 * (losses.iloc[-1] - losses.iloc[0]) / losses.iloc[0])
        rose += int((one["validation_auroc"].iloc[1:] > one["validation_auroc"].iloc[0]).any())
    models = histories.groupby(["strategy", "unit", "seed"]).ngroups
    if not changes:
        return f"each of the {models} models ran one epoch only, so its training loss cannot be followed"
    changes = np.asarray(changes)
    return (f"from the first to the last epoch run, the mean training loss fell in {int((changes < 0).sum())} of "
            f"{len(changes)} models (median change {np.median(changes):+.1f} %), while the validation AUROC rose "
            f"above the start at some epoch in {rose} of {models}")
