"""Tables for chapter 2: parameter count, resolved configuration, tokenization by split, head against windows, and
the two ceilings (what the notes never say, and what they say that a model misses)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.splits import SPLITS as SPLIT_NAMES

from .config import (
    DATA_SELECTION_FIELDS,
    FINETUNE_FIELDS,
    PREDICT_FIELDS,
    PRETRAIN_FIELDS,
    SPEED_ONLY_FIELDS,
    TOKENIZER_FIELDS,
    ClinicLLMConfig,
    number_format_decision,
)

__all__ = ['parameter_count', 'config_table', 'tokenization_table', 'reading_comparison', 'ceiling_gap_rows',
           'ceiling_gap_table', 'ceiling_texts', 'CEILING_GAPS', 'reading_description', 'reading_texts',
           'reading_display', 'tokenization_display', 'timings_display', 'number_format_text', 'training_reading_description', 'classifier_description', 'finetuning_description', 'note_ceiling_rows', 'oracle_texts',
           'auroc_texts', 'log_loss_explained', 'learning_depth_texts', 'log_loss_explained_table']


def parameter_count(model_dir: str | os.PathLike) -> int:
    """Number of parameters stored in a checkpoint directory, read from the safetensors headers (no model load)."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"parameter_count: no *.safetensors weights in {str(model_dir)!r}.")
    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                total += int(np.prod(handle.get_slice(name).get_shape()))
    return total


def _stage_of(name: str) -> str:
    stages = [stage for stage, fields in (("tokenizer", TOKENIZER_FIELDS), ("pretraining", PRETRAIN_FIELDS),
                                          ("fine-tuning", FINETUNE_FIELDS), ("predictions", PREDICT_FIELDS))
              if name in fields]
    if name in DATA_SELECTION_FIELDS:
        stages.append("rows used")
    if name in SPEED_ONLY_FIELDS:
        stages.append("speed only")
    return ", ".join(stages)


def number_format_text(config: ClinicLLMConfig) -> str:
    """Which number format training ran in and why: the configuration's own choice, or the machine's decision
    when ``bf16`` is left to the machine (:func:`helpers.clinicllm.config.number_format_decision`)."""
    if config.bf16 is None:
        return number_format_decision().reason + " (bf16: null, decided for this machine)"
    return ("bfloat16 autocast in training, as bf16: true asks" if config.bf16
            else "float32, as bf16: false asks")


def config_table(config: ClinicLLMConfig) -> pd.DataFrame:
    """The resolved configuration as a table: setting, value (as text) and the stages whose cache key it enters.
    Given the configuration as the chapter asked for it (before :meth:`ClinicLLMConfig.resolved`), the ``bf16`` row
    says which number format ran and why."""
    resolved = config.resolved()
    rows = [{"setting": f.name, "value": str(getattr(resolved, f.name)), "affects": _stage_of(f.name)}
            for f in dataclasses.fields(resolved)]
    table = pd.DataFrame(rows).set_index("setting")
    table.loc["bf16", "value"] = f"{resolved.bf16}: {number_format_text(config)}"
    if resolved.train_windows_per_note is None:   # None is the field's "no cap", which a reader cannot guess
        table.loc["train_windows_per_note", "value"] = "None (every window of a note)"
    return table


TOKENIZATION_SHOWN = {
    "n_notes": "notes", "words_per_note_median": "words per note (median)",
    "tokens_per_note_median": "tokens per note (median)", "tokens_per_note_q1": "tokens per note (25th pct.)",
    "tokens_per_note_q3": "tokens per note (75th pct.)", "tokens_per_word": "tokens per word",
    "share_truncated": "notes longer than one window (%)", "mean_share_of_tokens_kept": "tokens in the first window (%)",
    "windows_per_note_mean": "windows per note (mean)",
}
STAGE_NAMES = {"tokenizer": "tokenizer", "tokenization": "tokenization pass", "pretrain": "MLM pretraining",
               "finetune": "fine-tuning", "predictions": "predictions (validation and tests)", "total": "total"}


def tokenization_display(table: pd.DataFrame) -> pd.DataFrame:
    """The tokenization table for reading: one row per measure (named as the page names it), one column per split;
    counts as integers, shares in percent."""
    shown = table[[c for c in TOKENIZATION_SHOWN if c in table.columns]].copy()
    for column in ("share_truncated", "mean_share_of_tokens_kept"):
        if column in shown:
            shown[column] = 100 * shown[column]
    text = {}
    for column in shown.columns:
        digits = 0 if column in ("n_notes", "words_per_note_median", "tokens_per_note_median", "tokens_per_note_q1",
                                 "tokens_per_note_q3", "share_truncated", "mean_share_of_tokens_kept") else 2
        text[TOKENIZATION_SHOWN[column]] = [f"{v:,.{digits}f}" for v in shown[column]]
    out = pd.DataFrame(text, index=[s.replace("_", " ") for s in shown.index]).T
    out.columns.name = "split"
    return out


def timings_display(timings: dict[str, float], reused: dict[str, bool]) -> pd.DataFrame:
    """The chapter's stage times for reading: seconds and whether the stage was reused from an earlier run."""
    rows = [{"stage": STAGE_NAMES.get(stage, stage.replace("_", " ")), "seconds": f"{seconds:,.1f}",
             "reused from an earlier run": ("yes" if reused[stage] else "no") if stage in reused else ""}
            for stage, seconds in timings.items()]
    return pd.DataFrame(rows).set_index("stage")


def tokenization_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per split of the tokenization report (vocabulary, tokens and words per note, share truncated)."""
    by_split = report.get("by_split") or {}
    if not by_split:
        raise ValueError("tokenization_table needs the report of run_clinicllm (with its 'by_split' entry).")
    order = [split for split in SPLIT_NAMES if split in by_split]
    table = pd.DataFrame([by_split[split] for split in order], index=pd.Index(order, name="split"))
    return table


# --------------------------------------------------------------------------------------------------------------
# Head against windows
# --------------------------------------------------------------------------------------------------------------


def reading_comparison(readings: dict[str, dict[str, Any]], *, splits=("random_test", "temporal_test"),
                       n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per note reading: AUROC on each test split with its 95 % patient-level bootstrap CI, tokens read
    per note and seconds.

    ``readings`` maps a reading's name to ``{"predictions": table, "tokens_per_note": float, "seconds": float,
    "trained": bool}`` (``trained``: the reading the model was fine-tuned with)
    (predictions in the evaluation contract). The numbers stay numbers: ``auroc_<split>``, ``ci_low_<split>`` and
    ``ci_high_<split>`` columns; :func:`helpers.evaluation.format_estimate` writes them for the page.
    """
    from helpers.evaluation import bootstrap_metrics

    rows = []
    for name, reading in readings.items():
        predictions = reading["predictions"]
        row: dict[str, Any] = {"reading": name}
        for split in splits:
            part = predictions[predictions["split"] == split]
            if part.empty:
                raise ValueError(f"reading_comparison: the {name!r} predictions have no {split!r} rows.")
            result = bootstrap_metrics(part["y_true"].to_numpy(), part["y_score"].to_numpy(),
                                       part["patient_id"].to_numpy(), metrics=("auroc",), n_resamples=n_resamples,
                                       seed=seed)["auroc"]
            row.update({f"auroc_{split}": result.value, f"ci_low_{split}": result.ci_low,
                        f"ci_high_{split}": result.ci_high})
        row["tokens_per_note"] = float(reading["tokens_per_note"])
        row["seconds"] = float(reading["seconds"])
        rows.append(row)
    table = pd.DataFrame(rows).set_index("reading")
    trained = [name for name, reading in readings.items() if reading.get("trained")]
    table.attrs["trained"] = trained[0] if trained else None
    return table


# --------------------------------------------------------------------------------------------------------------
# The two ceilings
# --------------------------------------------------------------------------------------------------------------

CEILING_GAPS = {
    "never_written": "oracle minus note ceiling: risk that no note records (frailty, social support, facts the "
                     "clinician left out)",
    "written_but_missed": "note ceiling minus the model: risk the note records that the model does not read",
}


def ceiling_gap_rows(predictions: pd.DataFrame, oracle: pd.DataFrame, *, notebook: str,
                     models: tuple[str, ...] = ("global", "tfidf_lr"), splits=("random_test", "temporal_test"),
                     group_var: str | None = "hospital", n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Metric rows (the metrics contract) for the two gaps below the oracle, with paired bootstrap CIs.

    The *note ceiling* is the true risk recomputed from only what the note documents (the simulator's
    ``documented_probability``). On the same admissions and the same patient resamples:

    * ``never_written`` (experiment ``note_ceiling``): AUROC(oracle) - AUROC(note ceiling), what no note reader
      can reach;
    * ``written_but_missed`` (experiment = each model): AUROC(note ceiling) - AUROC(model), what the notes say and
      the model misses;

    plus the note ceiling's own AUROC (experiment ``note_ceiling``, metric ``auroc``), overall and per
    ``group_var``. ``predictions`` has the evaluation contract plus ``experiment``; ``oracle`` has admission_id,
    true_probability and documented_probability (simulated data only).
    """
    from helpers.evaluation import NOTE_COLUMN, bootstrap_metrics, paired_bootstrap_delta, validate_metric_rows

    needed = {"admission_id", "true_probability", "documented_probability"}
    missing = sorted(needed - set(oracle.columns))
    if missing:
        raise ValueError(f"ceiling_gap_rows: the oracle table lacks {missing}; the note ceiling needs the "
                         "simulator's documented_probability (simulated data only).")
    wide = None
    for model in models:
        part = predictions[predictions["experiment"] == model]
        if part.empty:
            raise ValueError(f"ceiling_gap_rows: no predictions with experiment == {model!r}.")
        part = part[["admission_id", "patient_id", "hospital", "split", "y_true", "y_score"]].rename(
            columns={"y_score": model})
        wide = part if wide is None else wide.merge(part[["admission_id", model]], on="admission_id",
                                                    validate="one_to_one")
    wide = wide.merge(oracle[list(needed)], on="admission_id", how="left", validate="one_to_one")
    if wide[["true_probability", "documented_probability"]].isna().any().any():
        raise ValueError("ceiling_gap_rows: some admissions have no oracle row; the oracle is from another run.")
    rows = []

    def add(experiment, model, split, var, group, metric, result):
        rows.append({"notebook": notebook, "experiment": experiment, "model": model, "split": split,
                     "group_var": var, "group": group, "metric": metric, "value": result.value,
                     "ci_low": result.ci_low, "ci_high": result.ci_high, "n": result.n, "n_pos": result.n_pos,
                     "seed": seed, NOTE_COLUMN: result.note})

    for split in splits:
        in_split = wide[wide["split"] == split]
        groups = [("overall", "all", in_split)]
        if group_var:
            groups += [(group_var, str(name), g) for name, g in in_split.groupby(group_var, sort=True)]
        for var, group, g in groups:
            y, patients = g["y_true"].to_numpy(), g["patient_id"].to_numpy()
            documented = g["documented_probability"].to_numpy()
            options = dict(n_resamples=n_resamples, seed=seed)
            add("note_ceiling", "note_ceiling", split, var, group, "auroc",
                bootstrap_metrics(y, documented, patients, metrics=("auroc",), **options)["auroc"])
            add("note_ceiling", "note_ceiling", split, var, group, "never_written",
                paired_bootstrap_delta(y, documented, g["true_probability"].to_numpy(), patients, **options))
            for model in models:
                add(model, "clinicllm" if model == "global" else model, split, var, group, "written_but_missed",
                    paired_bootstrap_delta(y, g[model].to_numpy(), documented, patients, **options))
    return validate_metric_rows(pd.DataFrame(rows), notebook=notebook)


def ceiling_gap_table(rows: pd.DataFrame, split: str = "temporal_test") -> pd.DataFrame | None:
    """The gaps of :func:`ceiling_gap_rows` on one split for the page: one row per group (overall first), one
    column per gap, each written as 'value (low-high)'; None (nothing shown) when there are no rows (real data)."""
    from helpers.evaluation import format_estimate

    if rows is None or rows.empty:
        return None
    part = rows[(rows["split"] == split) & rows["metric"].isin(["auroc", "never_written", "written_but_missed"])]
    names = {"global": "ClinicLLM", "tfidf_lr": "TF-IDF"}
    part = part.assign(column=np.where(part["metric"] == "written_but_missed",
                                       "missed by " + part["experiment"].map(lambda e: names.get(e, e)),
                                       np.where(part["metric"] == "auroc", "note ceiling", "never written")),
                       text=[format_estimate(v, lo, hi) for v, lo, hi in
                             zip(part["value"], part["ci_low"], part["ci_high"])],
                       where=np.where(part["group_var"] == "overall", "all hospitals", part["group"].astype(str)))
    order_rows = list(dict.fromkeys(["all hospitals"] + part["where"].tolist()))
    table = part.pivot_table(index="where", columns="column", values="text", aggfunc="first")
    order = ["note ceiling", "never written"] + sorted(c for c in table.columns if c.startswith("missed"))
    table = table[[c for c in order if c in table.columns]]
    table.index.name = "temporal test" if split == "temporal_test" else split.replace("_", " ")
    table.columns.name = None
    return table.loc[[r for r in order_rows if r in table.index]]


def ceiling_texts(rows: pd.DataFrame | None, split: str = "temporal_test", reason: str = "") -> dict[str, str]:
    """Phrases for the chapter's prose from :func:`ceiling_gap_rows` (overall, on ``split``); with ``rows`` None
    (real data, or a simulator without the note ceiling) every key gets the same 'not available' text, so the
    page's glue keys exist on every path."""
    from helpers.evaluation import format_estimate

    keys = {"note_ceiling_auroc": ("note_ceiling", "auroc"), "never_written": ("note_ceiling", "never_written"),
            "missed_global": ("global", "written_but_missed"), "missed_tfidf": ("tfidf_lr", "written_but_missed")}
    if rows is None:
        text = f"not available ({reason or 'real data have no oracle'})"
        return {key: text for key in keys}
    overall = rows[(rows["split"] == split) & (rows["group_var"] == "overall")]
    texts = {}
    for key, (experiment, metric) in keys.items():
        row = overall[(overall["experiment"] == experiment) & (overall["metric"] == metric)].iloc[0]
        texts[key] = format_estimate(row["value"], row["ci_low"], row["ci_high"])
    return texts


def note_ceiling_rows(predictions: pd.DataFrame, oracle: pd.DataFrame | None, *, notebook: str,
                      n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """:func:`ceiling_gap_rows` on simulated data whose oracle has ``documented_probability``; on real data
    (``oracle`` None) or an older simulator's oracle, no rows (an empty metrics table)."""
    from helpers.evaluation import METRICS_FILE_COLUMNS

    if oracle is None or "documented_probability" not in oracle.columns:
        return pd.DataFrame(columns=METRICS_FILE_COLUMNS)
    return ceiling_gap_rows(predictions, oracle, notebook=notebook, n_resamples=n_resamples, seed=seed)


def auroc_texts(metric_rows: pd.DataFrame, experiments=("global", "tfidf_lr", "oracle"),
                splits=("random_test", "temporal_test")) -> dict[str, str]:
    """``auroc_<experiment>_<split>`` phrases ('0.736 (0.701-0.770)') for every experiment and split the prose
    names; an experiment without rows (the oracle on real data) gets 'not available' so its key still exists."""
    from helpers.evaluation import format_estimate

    texts = {}
    rows = metric_rows[(metric_rows["metric"] == "auroc") & (metric_rows["group_var"] == "overall")]
    for experiment in experiments:
        for split in splits:
            row = rows[(rows["experiment"] == experiment) & (rows["split"] == split)]
            texts[f"auroc_{experiment}_{split}"] = (
                format_estimate(row["value"].iloc[0], row["ci_low"].iloc[0], row["ci_high"].iloc[0]) if len(row)
                else "not available (real data have no oracle)")
    return texts


def oracle_texts(metric_rows: pd.DataFrame, ceiling_rows: pd.DataFrame, source_info: dict) -> dict[str, str]:
    """Every phrase of the chapter's oracle section, on simulated data (gaps to the oracle, the two ceilings) and
    on real data (each 'not available'), so the same prose renders on both."""
    from helpers.evaluation import describe_difference

    simulated = bool(source_info.get("simulated", False))
    rows = metric_rows[(metric_rows["metric"] == "auroc") & (metric_rows["group_var"] == "overall")]
    value = {(r.experiment, r.split): r.value for r in rows.itertuples()}
    if simulated and ("oracle", "temporal_test") in value:
        texts = {
            "oracle_temporal_vs_random": describe_difference(value[("oracle", "temporal_test")],
                                                             value[("oracle", "random_test")]),
            "gap_to_oracle_temporal": f"{value[('oracle', 'temporal_test')] - value[('global', 'temporal_test')]:.3f}",
            "gap_to_oracle_random": f"{value[('oracle', 'random_test')] - value[('global', 'random_test')]:.3f}",
            "tfidf_gap_to_oracle": f"{value[('oracle', 'temporal_test')] - value[('tfidf_lr', 'temporal_test')]:.3f}",
        }
    else:
        texts = {key: "not available (real data have no oracle)" for key in (
            "oracle_temporal_vs_random", "gap_to_oracle_temporal", "gap_to_oracle_random", "tfidf_gap_to_oracle")}
    if ceiling_rows is not None and len(ceiling_rows):
        texts.update(ceiling_texts(ceiling_rows))
    else:
        texts.update(ceiling_texts(None, reason="real data have no oracle" if not simulated else
                                   "this simulator's oracle has no documented_probability"))
    return texts


def reading_description(config: ClinicLLMConfig) -> str:
    """How the configured model reads a note, in words, for the page."""
    config = config.resolved()
    if config.note_reading == "head":
        return f"the first {config.max_length} tokens of each note"
    stride = config.window_stride or config.max_length - 2
    overlap = "side by side" if stride == config.max_length - 2 else f"starting every {stride} tokens"
    if config.window_pooling == "features":
        return (f"the whole note, in windows of {config.max_length} tokens {overlap}, pooled into one note vector "
                "(the mean over all the note's tokens) before the classification head")
    pooling = {"clinicalbert": f"ClinicalBERT's formula (c = {config.window_pooling_c:g})",
               "mean": "their mean", "max": "their maximum"}[config.window_pooling]
    return (f"the whole note, in windows of {config.max_length} tokens {overlap}, whose scores are combined by "
            f"{pooling}")


def training_reading_description(config: ClinicLLMConfig) -> str:
    """What one training example is, in words, for the page."""
    config = config.resolved()
    if config.note_reading == "head":
        return "each note's first window, the same one every epoch"
    if config.window_pooling == "features":
        cap = config.train_windows_per_note
        drawn = "every window of a note" if cap is None else (
            f"up to {cap} windows of a note, drawn at random anew each epoch,")
        return (f"{drawn} read together and pooled into one note vector, so the note's label is never pinned on "
                "a window that may not hold the facts behind it")
    return ("one window of a note, drawn at random anew each epoch, with the note's label; over the epochs the "
            "model sees the whole note")


def classifier_description(config: ClinicLLMConfig) -> str:
    """What the classification head reads, in words, for the page."""
    config = config.resolved()
    if config.classifier_input == "mean":
        layers = ("the mean of the embedding output and the last layer" if config.classifier_layers == "first_last"
                  else "the last layer")
        over = "a note's tokens, all its windows together" if config.window_pooling == "features" \
            else "a window's tokens"
        return (f"{layers} averaged over {over} (masked-language pretraining never trains the [CLS] vector, which "
                "after a short pretraining barely depends on the note)")
    return "the last layer's [CLS] vector, as BERT's classifier does"


def finetuning_description(config: ClinicLLMConfig) -> str:
    """What fine-tuning updates and which shortcuts its training steps take, in words, for the page."""
    config = config.resolved()
    frozen = config.finetune_frozen_layers or 0
    text = ("updates every weight" if not frozen else "updates every weight but the bottom layer's" if frozen == 1
            else f"updates every weight but the bottom {frozen} layers'")
    factors = {part: factor for part, factor in (("the word embeddings", config.finetune_embedding_lr_factor),
                                                 ("the head", config.finetune_head_lr_factor))
               if factor not in (None, 1, 1.0)}
    if len(set(factors.values())) == 1 and len(factors) == 2:
        rates = f" (the word embeddings and the head at {next(iter(factors.values())):g} times that)"
    else:
        rates = "".join(f" ({' and '.join(f'{part} at {f:g} times that' for part, f in factors.items())})"
                        for _ in [0] if factors)
    text += f" at a peak learning rate of {config.finetune_learning_rate:g}{rates}"
    dropout = config.finetune_dropout
    text += (", with the checkpoint's own dropout" if dropout is None else
             ", without dropout" if dropout == 0 else f", with dropout {dropout:g}")
    shortcuts = []
    if frozen and config.finetune_frozen_backward == "straight_through":
        shortcuts.append("the gradient reaches the embeddings past the frozen layer"
                         f"{'s' if frozen > 1 else ''} unchanged (straight-through) instead of through "
                         f"{'them' if frozen > 1 else 'it'}")
    if config.classifier_input == "mean" and config.finetune_position_share < 1:
        shortcuts.append(f"each step computes the top layer at a random {100 * config.finetune_position_share:.0f} % "
                         "of a window's tokens, drawn anew every step")
    if shortcuts:
        text += ("; to make a training step cheaper, " + " and ".join(shortcuts)
                 + ", while validation and predictions read the whole model")
    return text


def reading_texts(table: pd.DataFrame, config: ClinicLLMConfig | None = None) -> dict[str, str]:
    """Phrases comparing the two readings of :func:`reading_comparison` (temporal test); with the model's
    ``config``, what its training examples were in its own words (:func:`training_reading_description`)."""
    from helpers.evaluation import describe_difference, format_estimate

    def estimate(reading):
        row = table.loc[reading]
        return format_estimate(row["auroc_temporal_test"], row["ci_low_temporal_test"], row["ci_high_temporal_test"])

    head, windows = table.loc["head"], table.loc["windows"]
    return {
        "reading_head_temporal": estimate("head"),
        "reading_windows_temporal": estimate("windows"),
        "reading_windows_vs_head": describe_difference(windows["auroc_temporal_test"], head["auroc_temporal_test"])
        + " than from the head",
        "reading_token_ratio": f"{windows['tokens_per_note'] / head['tokens_per_note']:.1f}",
        "reading_trained": (training_reading_description(config) if config is not None else
                            "windows drawn at random from the whole note" if table.attrs.get("trained") == "windows"
                            else "its notes' heads"),
    }


def reading_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`reading_comparison` for the page: AUROC with CI per test, tokens read per note, seconds."""
    from helpers.evaluation import format_estimate

    shown = pd.DataFrame(index=table.index)
    for split in ("random_test", "temporal_test"):
        shown[f"AUROC {split.replace('_', ' ')}"] = [
            format_estimate(v, lo, hi) for v, lo, hi in
            zip(table[f"auroc_{split}"], table[f"ci_low_{split}"], table[f"ci_high_{split}"])]
    shown["tokens read per test note"] = table["tokens_per_note"].round(0).astype(int)
    shown["scoring time (s)"] = table["seconds"].round(1)
    return shown


def log_loss_explained(y_true, y_score) -> float:
    """Share of the base-rate log loss that the scores remove: 1 - log loss(scores) / log loss(the split's own
    prevalence for every admission) (McFadden's pseudo-R-squared). 0 for a model that knows only the base rate; 1
    for a perfect one; negative when miscalibrated scores do worse than the base rate."""
    from sklearn.metrics import log_loss

    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(y_score, dtype=float), 1e-7, 1 - 1e-7)
    base = np.full_like(y, y.mean())
    return float(1 - log_loss(y, p, labels=[0, 1]) / log_loss(y, base, labels=[0, 1]))


def learning_depth_texts(predictions: pd.DataFrame, pretrain_history: pd.DataFrame, vocab_size: int, *,
                         split: str = "temporal_test", experiments=("global", "tfidf_lr"), last_logs: int = 5
                         ) -> dict[str, str]:
    """How much each model learned, for chapter 2's explanation of a gap: the share of the base-rate log loss each
    model's scores remove on ``split`` (``explained_<model>``), and where the MLM pretraining ended: the mean of the
    last ``last_logs`` logged losses (``mlm_loss_end``), its perplexity, the perplexity of a uniform guess over the
    vocabulary and the number of pretraining steps."""
    texts: dict[str, str] = {}
    rows = predictions[predictions["split"] == split]
    for model in experiments:
        scored = rows[rows["experiment"] == model]
        texts[f"explained_{model}"] = (f"{100 * log_loss_explained(scored['y_true'], scored['y_score']):.1f} %"
                                       if len(scored) and scored["y_true"].nunique() == 2 else "not estimable")
    losses = pd.to_numeric(pretrain_history.get("train_loss", pd.Series(dtype=float)), errors="coerce").dropna()
    if len(losses):
        end = float(losses.tail(last_logs).mean())
        texts.update(mlm_loss_end=f"{end:.2f}", mlm_perplexity=f"{np.exp(end):,.0f}",
                     mlm_steps=f"{int(pd.to_numeric(pretrain_history['step']).max()):,}")
    else:
        texts.update(mlm_loss_end="not available (no pretraining in this run)", mlm_perplexity="not available",
                     mlm_steps="0")
    texts["mlm_uniform_perplexity"] = f"{int(vocab_size):,}"
    return texts


def log_loss_explained_table(predictions: pd.DataFrame, splits=("random_test", "temporal_test")) -> pd.DataFrame:
    """Share of the base-rate log loss removed (%), one row per experiment, one column per test split."""
    table = {}
    for (experiment, split), rows in predictions[predictions["split"].isin(splits)].groupby(["experiment", "split"]):
        if rows["y_true"].nunique() == 2:
            explained = log_loss_explained(rows["y_true"], rows["y_score"])
            table.setdefault(split, {})[experiment] = round(100 * explained, 1)
    frame = pd.DataFrame(table).reindex(columns=[s for s in splits if s in table])
    from helpers import evaluation

    # the models and tests as the book names them (the metrics file's ids are plumbing)
    frame = frame.rename(index=lambda name: evaluation.MODEL_NAMES.get(name, name),
                         columns=lambda name: evaluation.SPLIT_NAMES.get(name, name))
    frame.index.name = "base-rate log loss removed (%)"
    return frame
