"""The cached stages shared by every chapter that fine-tunes or scores, and chapter 2's pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.artifacts import cached_stage, code_key, frame_fingerprint, stage_key
from helpers.contracts import ContractError, check_columns, check_split_names, check_unique, describe_rows
from helpers.evaluation import PREDICTION_COLUMNS

from helpers.progress import report as progress_report

from .checks import LearningCheck, learning_check
from .config import (
    DATA_COLUMNS,
    FINETUNE_FIELDS,
    HISTORY_FILE,
    MODEL_NAME,
    PREDICT_FIELDS,
    PREDICTED_SPLITS,
    PRETRAIN_FIELDS,
    READING_FIELDS,
    TOKENIZER_FIELDS,
    ClinicLLMConfig,
    _config_part,
)
from .distributed import (
    _barrier, _is_main_process, _write_json_atomic, _write_table_atomic, configure_environment, configure_threads,
)
from .tokenizer import _report_from_lengths, _word_counts, load_tokenizer, token_lengths, train_tokenizer
from .prediction import note_embeddings, predict_scores
from .training import finetune_classifier, labels_of, pretrain_mlm

__all__ = ['texts_fingerprint', 'finetune_stage', 'prediction_stage', 'embedding_stage', 'ClinicLLMResult',
    'validate_study_frame', 'run_clinicllm',
           'compare_readings', 'stage_seconds']

def texts_fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]



def _checkpoint_fingerprint(path: str) -> str:
    """Identity of a local checkpoint: its config and the names and sizes of its files."""
    root = Path(path)
    listing = sorted((p.name, p.stat().st_size) for p in root.iterdir() if p.is_file())
    return stage_key(config=(root / "config.json").read_text(), files=listing)


# Each stage's key holds a hash of the code that builds it (helpers.artifacts.code_key): the module of the function
# it calls with every helper module that imports, and the stage's own build step; an edit there rebuilds the stage.
TOKENIZER_CODE = "helpers.clinicllm.tokenizer"
TRAINING_CODE = "helpers.clinicllm.training"

_LABEL_COLUMNS = ["admission_id", "readmitted_30d", "note_text"]
_SCORED_COLUMNS = ["admission_id", "patient_id", "hospital", "split", "readmitted_30d", "note_text"]


def finetune_stage(start_dir: str | os.PathLike, start_key: str, tokenizer, train: pd.DataFrame,
                   selection: pd.DataFrame, config: ClinicLLMConfig, root: str | os.PathLike,
                   *, name: str = "finetune") -> tuple[Path, pd.DataFrame, str, bool]:
    """Fine-tune from ``start_dir`` on ``train``, selecting on ``selection``'s AUROC, cached in ``root``.

    ``start_key`` identifies the starting checkpoint (a stage key of the pretraining or of an earlier
    fine-tuning). The stage's key covers it, the fine-tuning fields of ``config`` (note reading and pooling
    included), the seed and fingerprints of both frames, so the same call twice trains once; the model lives in
    ``root/<name>-<key>/``. Returns (model dir, history, key, reused).
    """
    config = config.resolved()
    configure_environment()
    fingerprints = {"train": frame_fingerprint(train, _LABEL_COLUMNS),
                    "validation": frame_fingerprint(selection, _LABEL_COLUMNS)}
    key = stage_key(pretrain=start_key, fields=_config_part(config, FINETUNE_FIELDS), seed=config.seed,
                    code=code_key(TRAINING_CODE, functions=(finetune_stage,)), **fingerprints)

    def build(out: Path) -> None:
        started = time.perf_counter()
        finetune_classifier(start_dir, tokenizer, train, selection, config, out)
        # What it cost and what it read, beside it: the compute curve (helpers.clinicllm.compute) reads these.
        if _is_main_process():
            _write_json_atomic(_timing_path(out), {"seconds": time.perf_counter() - started, "start": start_key,
                                                   **fingerprints})

    history, reused = cached_stage(
        Path(root) / f"{name}-{key}", key, build=build,
        load=lambda out: pd.read_csv(out / HISTORY_FILE), label=f"{name}: fine-tuning {len(train):,} admissions",
        record=_is_main_process(), wait=_barrier,
    )
    return Path(root) / f"{name}-{key}", history, key, reused


def prediction_stage(model_dir: str | os.PathLike, model_key: str, tokenizer, frame: pd.DataFrame,
                     config: ClinicLLMConfig, root: str | os.PathLike, *, name: str = "predictions",
                     model_name: str = MODEL_NAME) -> tuple[pd.DataFrame, str, bool, Path]:
    """Readmission scores of a fine-tuned model for every row of ``frame``, cached in ``root/<name>-<key>.parquet``.

    ``frame`` needs admission_id, patient_id, hospital, split, readmitted_30d and note_text; the result has the
    prediction columns (``evaluation.PREDICTION_COLUMNS``) in the frame's order, one score per admission (with
    ``note_reading: windows``, its windows' pooled score). Returns (table, key, reused, path).
    """
    config = config.resolved()
    configure_environment()
    key = stage_key(finetune=model_key, fields=_config_part(config, PREDICT_FIELDS),
                    rows=frame_fingerprint(frame, _SCORED_COLUMNS),
                    code=code_key(TRAINING_CODE, functions=(prediction_stage,)))
    path = Path(root) / f"{name}-{key}.parquet"

    def build(out: Path) -> None:
        started = time.perf_counter()
        table = frame[["admission_id", "patient_id", "hospital", "split"]].copy()
        table["model"] = model_name
        table["y_true"] = frame["readmitted_30d"].to_numpy()
        table["y_score"] = predict_scores(model_dir, tokenizer, frame, config, label=f"{name}: scoring")
        _write_table_atomic(out, table[PREDICTION_COLUMNS].reset_index(drop=True))
        # How long the scoring took, kept beside it: a reused stage still reports what it cost to compute.
        _write_json_atomic(_timing_path(out), {"seconds": time.perf_counter() - started})

    predictions, reused = cached_stage(path, key, build, pd.read_parquet, label=f"{name}: {len(frame):,} admissions",
                                       build_here=_is_main_process(), record=_is_main_process(), wait=_barrier)
    return predictions, key, reused, path


def _timing_path(output: Path) -> Path:
    return output.with_name(output.name + ".timing.json")


def stage_seconds(output: str | os.PathLike) -> float:
    """Seconds a prediction stage took when it was computed (NaN for outputs written before this was recorded)."""
    path = _timing_path(Path(output))
    return float(json.loads(path.read_text())["seconds"]) if path.is_file() else float("nan")


def embedding_stage(model_dir: str | os.PathLike, model_key: str, tokenizer, frame: pd.DataFrame,
                    config: ClinicLLMConfig, root: str | os.PathLike,
                    *, name: str = "embeddings") -> tuple[pd.DataFrame, str, bool]:
    """:func:`note_embeddings` for every row of ``frame``, cached in ``root/<name>-<key>.parquet``.

    Returns (table with ``admission_id`` and columns ``e0 .. e{d-1}``, key, reused).
    """
    config = config.resolved()
    configure_environment()
    key = stage_key(model=model_key, max_length=config.max_length, reading=_config_part(config, READING_FIELDS),
                    vector=config.classifier_input,
                    rows=frame_fingerprint(frame, ["admission_id", "note_text"]),
                    code=code_key(TRAINING_CODE, functions=(embedding_stage,)))

    def build(out: Path) -> None:
        vectors = note_embeddings(model_dir, tokenizer, frame, config, label=f"{name}: encoding")
        table = pd.DataFrame(vectors, columns=[f"e{i}" for i in range(vectors.shape[1])])
        table.insert(0, "admission_id", frame["admission_id"].to_numpy())
        _write_table_atomic(out, table)

    table, reused = cached_stage(Path(root) / f"{name}-{key}.parquet", key, build, pd.read_parquet,
                                 label=f"{name}: {len(frame):,} admissions", build_here=_is_main_process(),
                                 record=_is_main_process(), wait=_barrier)
    return table, key, reused


# --------------------------------------------------------------------------------------------------------------
# The chapter pipeline
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ClinicLLMResult:
    """What :func:`run_clinicllm` produced, with the paths of every artifact."""

    config: ClinicLLMConfig
    """The resolved configuration (every preset field filled in)."""
    predictions: pd.DataFrame
    """admission_id, patient_id, hospital, split, model ('clinicllm'), y_true, y_score for validation and tests."""
    pretrain_history: pd.DataFrame
    """step, epoch, train_loss, learning_rate per logging step of MLM pretraining (empty for a checkpoint)."""
    finetune_history: pd.DataFrame
    """Training loss per logging step and validation AUROC per evaluation; ``best`` marks the kept checkpoint."""
    tokenization_report: dict[str, Any]
    """Vocabulary size, tokens per note, share truncated: for the training notes and for every split."""
    timings: dict[str, float]
    """Seconds per stage (loading time when a stage was reused) and in total."""
    reused: dict[str, bool]
    """Per stage, whether a finished artifact was loaded instead of recomputed."""
    tokenizer_dir: Path
    pretrained_dir: Path
    model_dir: Path
    predictions_path: Path
    best_validation_auroc: float | None = None
    best_step: int | None = None
    stage_keys: dict[str, str] = field(default_factory=dict)
    learning: LearningCheck | None = None
    """Did it learn: validation AUROC with its CI and the spread of the validation scores (checks.learning_check)."""


def validate_study_frame(data: pd.DataFrame) -> pd.DataFrame:
    """Check the frame the chapter reads, naming the column, the problem and the rows; returns a clean copy.

    The notebooks pass the study frame that ``helpers.cohort.study_frame`` has checked already; this entry point
    also takes a file from the command line (``python -m helpers.clinicllm run --data``), so it checks with the
    same contracts (helpers.contracts) and adds what training needs: a note in every row, train and validation rows.
    """
    where = "ClinicLLM input"
    check_columns(data, DATA_COLUMNS, where=where, fix="join the cohort with its splits (helpers.cohort.study_frame)")
    frame = data[DATA_COLUMNS].copy()
    check_split_names(frame["split"], where=where)
    frame["split"] = frame["split"].astype(str)
    text_ok = frame["note_text"].map(lambda t: isinstance(t, str) and t.strip() != "").astype(bool)
    if not text_ok.all():
        raise ContractError(
            f"{where}: column 'note_text' is missing or empty for "
            f"{describe_rows(frame.loc[~text_ok, 'admission_id'].tolist(), noun='admission')}. "
            "Fix: drop them or supply their notes."
        )
    check_unique(frame["admission_id"], column="admission_id", where=where)
    frame["readmitted_30d"] = labels_of(frame, "input")
    for split in ("train", "validation"):
        if not (frame["split"] == split).any():
            raise ContractError(f"{where}: column 'split' has no '{split}' rows; the model needs them to train and "
                                "select. Fix: check split_fractions in chapter 1.")
    return frame.reset_index(drop=True)


def _cap(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()


def _tokenizer_stage(config: ClinicLLMConfig, train_texts: list[str], train_text_key: str,
                     root: Path) -> tuple[Path, str, bool]:
    """The WordPiece tokenizer trained on the training notes (or a checkpoint's own): (folder, key, reused)."""
    if config.preset == "pretrained":
        key = stage_key(checkpoint=_checkpoint_fingerprint(config.pretrained_path))
        return Path(config.pretrained_path), key, True
    key = stage_key(fields=_config_part(config, TOKENIZER_FIELDS), texts=train_text_key,
                    code=code_key(TOKENIZER_CODE))
    folder, reused = cached_stage(
        root / f"tokenizer-{key}", key,
        build=lambda out: train_tokenizer(train_texts, config.vocab_size, out), load=lambda out: out,
        label="tokenizer", build_here=_is_main_process(), record=_is_main_process(), wait=_barrier,
    )
    return folder, key, reused


def _tokenization_stage(tokenizer, tokenizer_key: str, frame: pd.DataFrame, train: pd.DataFrame,
                        config: ClinicLLMConfig, root: Path) -> tuple[dict[str, Any], str, bool]:
    """Tokens per note and the share truncated, for the training notes and every split: (report, key, reused).

    The notes' token ids are remembered per tokenizer (encoding.note_token_ids), so the windows of fine-tuning and
    predictions reuse this pass instead of tokenizing again.
    """
    def build_report(out: Path) -> None:
        lengths = pd.Series(token_lengths(tokenizer, frame["note_text"].tolist(),
                                           remember=config.note_reading == "windows"), index=frame.index)
        words = pd.Series(_word_counts(frame["note_text"].tolist()), index=frame.index)
        report = _report_from_lengths(len(tokenizer), lengths[train.index].to_numpy(),
                                      words[train.index].to_numpy(), config.max_length, config.window_stride)
        report["by_split"] = {
            split: _report_from_lengths(len(tokenizer), lengths[rows].to_numpy(), words[rows].to_numpy(),
                                        config.max_length, config.window_stride)
            for split, rows in frame.groupby("split", sort=False).groups.items() if len(rows)
        }
        _write_json_atomic(out, report)

    key = stage_key(tokenizer=tokenizer_key, max_length=config.max_length, stride=config.window_stride,
                    notes=frame_fingerprint(frame, ["admission_id", "split", "note_text"]),
                    code=code_key(TOKENIZER_CODE, functions=(build_report,)))
    report, reused = cached_stage(
        root / f"tokenization-{key}.json", key, build_report, load=lambda out: json.loads(out.read_text()),
        label="tokenization pass", build_here=_is_main_process(), record=_is_main_process(), wait=_barrier,
    )
    return report, key, reused


def _pretraining_stage(tokenizer, tokenizer_key: str, train_texts: list[str], train_text_key: str,
                       config: ClinicLLMConfig, root: Path) -> tuple[Path, pd.DataFrame, str, bool]:
    """MLM pretraining on the training notes (a checkpoint is used as it is): (folder, history, key, reused)."""
    if config.preset == "pretrained":
        history = pd.DataFrame(columns=["step", "epoch", "train_loss", "learning_rate"])
        return Path(config.pretrained_path), history, tokenizer_key, True

    def build_pretraining(out: Path) -> None:
        started = time.perf_counter()
        pretrain_mlm(tokenizer, train_texts, config, out)
        if _is_main_process():
            _write_json_atomic(_timing_path(out), {"seconds": time.perf_counter() - started})

    key = stage_key(tokenizer=tokenizer_key, fields=_config_part(config, PRETRAIN_FIELDS), seed=config.seed,
                    texts=train_text_key, code=code_key(TRAINING_CODE, functions=(build_pretraining,)))
    history, reused = cached_stage(
        root / f"mlm-{key}", key, build=build_pretraining, load=lambda out: pd.read_csv(out / HISTORY_FILE),
        label="pretraining", record=_is_main_process(), wait=_barrier,
    )
    return root / f"mlm-{key}", history, key, reused


def run_clinicllm(data: pd.DataFrame, config: ClinicLLMConfig,
                  out_dir: str | os.PathLike, *, publish: bool = True) -> ClinicLLMResult:
    """The ClinicLLM chapter: tokenizer, MLM pretraining, fine-tuning, predictions, each cached by its inputs.

    The tokenizer and pretraining read only the training split's notes; fine-tuning reads train (labels) and
    selects on validation AUROC; predictions cover validation, random_test and temporal_test. Artifacts in
    ``out_dir``: ``tokenizer-<key>/``, ``mlm-<key>/``, ``finetune-<key>/``, ``predictions-<key>.parquet``,
    ``tokenization-<key>.json``, and, for the latest call, ``predictions.parquet``, ``pretrain_history.csv``,
    ``finetune_history.csv``, ``tokenization_report.json`` and ``summary.json`` (not with ``publish=False``: a
    model trained beside the chapter's own, e.g. with another seed, leaves the chapter's files as they are).
    """
    started = time.perf_counter()
    config = config.resolved()
    configure_threads(config.num_threads)
    frame = validate_study_frame(data)
    root = Path(out_dir)
    if _is_main_process():
        root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    reused: dict[str, bool] = {}
    keys: dict[str, str] = {}

    train = _cap(frame[frame["split"] == "train"], config.max_train_samples, config.seed)
    validation = frame[frame["split"] == "validation"]
    selection = _cap(validation, config.max_eval_samples, config.seed)
    train_texts = train["note_text"].tolist()
    train_text_key = texts_fingerprint(train_texts)

    # 1. Tokenizer (training notes only).
    t0 = time.perf_counter()
    tokenizer_dir, keys["tokenizer"], reused["tokenizer"] = _tokenizer_stage(config, train_texts, train_text_key,
                                                                             root)
    tokenizer = load_tokenizer(tokenizer_dir)
    timings["tokenizer"] = time.perf_counter() - t0

    # 2. Tokenization report: the training notes, and the share truncated in every split.
    t0 = time.perf_counter()
    report, keys["tokenization"], reused["tokenization"] = _tokenization_stage(tokenizer, keys["tokenizer"], frame,
                                                                               train, config, root)
    timings["tokenization"] = time.perf_counter() - t0

    # 3. MLM pretraining (training notes only).
    t0 = time.perf_counter()
    pretrained_dir, pretrain_history, keys["pretrain"], reused["pretrain"] = _pretraining_stage(
        tokenizer, keys["tokenizer"], train_texts, train_text_key, config, root)
    timings["pretrain"] = time.perf_counter() - t0

    # 4. Fine-tuning on train, selection on validation AUROC.
    t0 = time.perf_counter()
    model_dir, finetune_history, keys["finetune"], reused["finetune"] = finetune_stage(
        pretrained_dir, keys["pretrain"], tokenizer, train, selection, config, root)
    timings["finetune"] = time.perf_counter() - t0

    # 5. Predictions for validation and both test splits.
    t0 = time.perf_counter()
    scored = frame[frame["split"].isin(PREDICTED_SPLITS)]
    predictions, keys["predictions"], reused["predictions"], predictions_path = prediction_stage(
        model_dir, keys["finetune"], tokenizer, scored, config, root)
    timings["predictions"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started

    evals = finetune_history[finetune_history["kind"] == "eval"] if len(finetune_history) else finetune_history
    best_rows = evals[evals["best"].astype(bool)] if "best" in evals else evals.iloc[0:0]
    best_auroc = float(best_rows["eval_auroc"].iloc[0]) if len(best_rows) else None
    best_step = int(best_rows["step"].iloc[0]) if len(best_rows) else None

    learning = learning_check(predictions, seed=config.seed)
    if not learning.learned and publish:
        progress_report("ClinicLLM did not learn: " + "; ".join(learning.problems))
    result = ClinicLLMResult(
        config=config, predictions=predictions, pretrain_history=pretrain_history,
        finetune_history=finetune_history, tokenization_report=report, timings=timings, reused=reused,
        tokenizer_dir=tokenizer_dir, pretrained_dir=pretrained_dir, model_dir=model_dir,
        predictions_path=predictions_path, best_validation_auroc=best_auroc, best_step=best_step, stage_keys=keys,
        learning=learning,
    )
    if _is_main_process() and publish:
        _write_table_atomic(root / "predictions.parquet", predictions)
        _write_table_atomic(root / "pretrain_history.csv", pretrain_history)
        _write_table_atomic(root / "finetune_history.csv", finetune_history)
        _write_json_atomic(root / "tokenization_report.json", report)
        _write_json_atomic(root / "summary.json", {
            "config": config.to_dict(), "timings": timings, "reused": reused, "stage_keys": keys,
            "tokenizer_dir": tokenizer_dir, "pretrained_dir": pretrained_dir, "model_dir": model_dir,
            "predictions_path": predictions_path, "best_validation_auroc": best_auroc, "best_step": best_step,
            "learning_check": learning.to_dict(),
        })
    _barrier()
    return result


def compare_readings(result: ClinicLLMResult, data: pd.DataFrame, out_dir: str | os.PathLike) -> dict[str, dict]:
    """The chapter's model read both ways: its own reading's predictions, and the other reading's (``head`` for a
    model that reads ``windows``, and the other way round), scored by the same fine-tuned model (cached).

    Returns ``{reading: {"predictions", "tokens_per_note", "seconds"}}`` for
    :func:`helpers.clinicllm.tables.reading_comparison`: tokens read per test note (from the tokenization report)
    and the seconds the scoring of validation and test notes took.
    """
    config = result.config
    frame = validate_study_frame(data)
    scored = frame[frame["split"].isin(PREDICTED_SPLITS)]
    other = "head" if config.note_reading == "windows" else "windows"
    other_config = ClinicLLMConfig.from_dict({**config.to_dict(), "note_reading": other})
    tokenizer = load_tokenizer(result.tokenizer_dir)
    other_predictions, _, _, other_path = prediction_stage(result.model_dir, result.stage_keys["finetune"], tokenizer,
                                                           scored, other_config, out_dir, name=f"predictions-{other}")
    by_split = result.tokenization_report.get("by_split", {})
    test_reports = [by_split[s] for s in ("random_test", "temporal_test") if s in by_split]
    weights = np.array([r["n_notes"] for r in test_reports], dtype=float)

    def tokens(reading: str) -> float:
        values = np.array([r[f"tokens_read_{reading}_mean"] for r in test_reports])
        return float((values * weights).sum() / weights.sum()) if len(values) else float("nan")

    readings = {
        config.note_reading: {"predictions": result.predictions, "tokens_per_note": tokens(config.note_reading),
                              "seconds": stage_seconds(result.predictions_path), "trained": True},
        other: {"predictions": other_predictions, "tokens_per_note": tokens(other),
                "seconds": stage_seconds(other_path), "trained": False},
    }
    return {reading: readings[reading] for reading in ("head", "windows")}
