"""The bag-of-words baseline: TF-IDF word 1-2-grams and a logistic regression.

Why a baseline at all. A language model's AUROC only means something beside what a simple, transparent model
reaches on the same notes. TF-IDF with logistic regression is the standard reference for clinical note
classification: if ClinicLLM does not beat it, the pretraining bought nothing, and if both fail at the same hospital,
the difficulty lies in the data rather than in the transformer. It also trains in seconds on a CPU, so the chapters
can show it even in the smoke run.

The regularisation strength ``C`` is chosen on validation AUROC, the same selection rule as for ClinicLLM
(NYUTron recipe), and the final model is the one fitted on the training split with that ``C``; the validation split
is never trained on, so its AUROC stays an honest selection score.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from .contracts import binary_labels
from .evaluation import PREDICTION_COLUMNS, SPLITS, auroc

DEFAULT_MIN_DF = 2
"""A term must occur in at least two training notes: one-off tokens (typos, identifiers) only add noise."""
DEFAULT_MAX_FEATURES = 200_000
"""Cap on the vocabulary of 1-2-grams; keeps the model a few MB and the fit fast on ~20k notes."""
DEFAULT_C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""Inverse regularisation strengths tried, on a log scale around scikit-learn's default of 1."""


@dataclass
class TfidfBaseline:
    """A fitted TF-IDF + logistic regression model and the record of how ``C`` was chosen."""

    vectorizer: TfidfVectorizer
    classifier: LogisticRegression
    C: float
    validation_auroc: dict[float, float]
    text_column: str
    label_column: str
    fit_seconds: float
    n_train: int
    n_features: int
    params: dict = field(default_factory=dict)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted readmission probability for each note text."""
        return self.classifier.predict_proba(self.vectorizer.transform(texts))[:, 1]

    def selection_table(self) -> pd.DataFrame:
        """Validation AUROC for every ``C`` tried, one row per ``C``, the chosen one marked (for the book)."""
        table = pd.DataFrame({"validation AUROC": [round(v, 3) for v in self.validation_auroc.values()],
                              "chosen": ["chosen" if c == self.C else "" for c in self.validation_auroc]},
                             index=pd.Index(list(self.validation_auroc), name="regularisation C"))
        return table


def _checked_frame(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it needs {list(columns)}.")
    return frame


def _texts(frame: pd.DataFrame, text_column: str, name: str) -> list[str]:
    texts = frame[text_column]
    missing = texts.isna()
    if missing.any():
        raise ValueError(
            f"{name} column '{text_column}' has {int(missing.sum())} missing note(s) (first at index "
            f"{texts.index[missing.to_numpy()][0]!r}); drop those admissions or fill them with an empty string."
        )
    return texts.astype(str).tolist()


def _labels(frame: pd.DataFrame, label_column: str, name: str) -> np.ndarray:
    """0/1 labels (the study's one parser, helpers.contracts) of a frame that a classifier is fitted or selected
    on: both classes must be present."""
    labels = _labels_any(frame[label_column], name, label_column)
    if len(np.unique(labels)) < 2:
        raise ValueError(
            f"{name} column '{label_column}' has a single class ({int(labels[0])}); fitting and selecting a "
            "classifier needs both readmitted and not-readmitted admissions."
        )
    return labels


def fit_tfidf_lr(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    text_column: str = "note_text",
    label_column: str = "readmitted_30d",
    ngram_range: tuple[int, int] = (1, 2),
    min_df: int | float = DEFAULT_MIN_DF,
    max_features: int | None = DEFAULT_MAX_FEATURES,
    C_grid: Sequence[float] = DEFAULT_C_GRID,
    max_iter: int = 1000,
    seed: int = 0,
) -> TfidfBaseline:
    """Fit TF-IDF (word n-grams, sublinear tf) on the training notes and a logistic regression per ``C``; keep the
    ``C`` with the best validation AUROC (ties go to the smaller ``C``, the simpler model)."""
    for frame, name in ((train, "train"), (validation, "validation")):
        _checked_frame(frame, name, [text_column, label_column])
    grid = sorted({float(c) for c in C_grid})
    if not grid or any(not np.isfinite(c) or c <= 0 for c in grid):
        raise ValueError(f"C_grid must hold positive numbers (inverse regularisation strengths); got {C_grid!r}.")
    started = time.perf_counter()
    train_texts = _texts(train, text_column, "train")
    y_train = _labels(train, label_column, "train")
    y_validation = _labels(validation, label_column, "validation")

    vectorizer = TfidfVectorizer(
        analyzer="word",
        ngram_range=tuple(ngram_range),
        min_df=min_df,
        max_features=max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )
    x_train = vectorizer.fit_transform(train_texts)
    x_validation = vectorizer.transform(_texts(validation, text_column, "validation"))

    scores: dict[float, float] = {}
    fitted: dict[float, LogisticRegression] = {}
    best_c = None
    for c in grid:
        classifier = LogisticRegression(C=c, solver="liblinear", max_iter=max_iter, random_state=seed)
        classifier.fit(x_train, y_train)
        scores[c] = auroc(y_validation, classifier.predict_proba(x_validation)[:, 1])
        fitted[c] = classifier
        if best_c is None or scores[c] > scores[best_c]:
            best_c = c
    return TfidfBaseline(
        vectorizer=vectorizer,
        classifier=fitted[best_c],
        C=best_c,
        validation_auroc=scores,
        text_column=text_column,
        label_column=label_column,
        fit_seconds=time.perf_counter() - started,
        n_train=len(train_texts),
        n_features=len(vectorizer.vocabulary_),
        params={"ngram_range": tuple(ngram_range), "min_df": min_df, "max_features": max_features, "seed": seed},
    )


def predict_tfidf_lr(model: TfidfBaseline, frame: pd.DataFrame) -> np.ndarray:
    """Predicted readmission probability for every row of ``frame`` (its note text column)."""
    if not isinstance(model, TfidfBaseline):
        raise TypeError(f"model must be a TfidfBaseline from fit_tfidf_lr, got {type(model).__name__}.")
    _checked_frame(frame, "frame", [model.text_column])
    return model.predict_proba(_texts(frame, model.text_column, "frame"))


def _labels_any(labels: pd.Series, name: str, column: str) -> np.ndarray:
    """0/1 labels where one class only is fine (a small split may have no readmission)."""
    return binary_labels(labels, column=column, where=name)


def tfidf_predictions(
    model: TfidfBaseline, frames: Mapping[str, pd.DataFrame], *, model_name: str = "tfidf_lr"
) -> pd.DataFrame:
    """A predictions table (the contract of :mod:`helpers.evaluation`) for several splits, e.g.
    ``{"validation": val, "random_test": rt, "temporal_test": tt}``."""
    needed = ["admission_id", "patient_id", "hospital", model.text_column, model.label_column]
    tables = []
    for split, frame in frames.items():
        if split not in SPLITS:
            raise ValueError(f"frames key {split!r} is not a split name; use one of {list(SPLITS)}.")
        _checked_frame(frame, f"frames[{split!r}]", needed)
        tables.append(
            pd.DataFrame(
                {
                    "admission_id": frame["admission_id"].to_numpy(),
                    "patient_id": frame["patient_id"].to_numpy(),
                    "hospital": frame["hospital"].to_numpy(),
                    "split": split,
                    "model": model_name,
                    "y_true": _labels_any(frame[model.label_column], f"frames[{split!r}]", model.label_column),
                    "y_score": predict_tfidf_lr(model, frame),
                }
            )
        )
    if not tables:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(tables, ignore_index=True)[PREDICTION_COLUMNS]


def save_tfidf(model: TfidfBaseline, path: str | os.PathLike) -> Path:
    """Write the fitted baseline with joblib, atomically (temporary file, then ``os.replace``)."""
    if not isinstance(model, TfidfBaseline):
        raise TypeError(f"model must be a TfidfBaseline, got {type(model).__name__}.")
    from helpers.artifacts import atomic_write

    return atomic_write(path, lambda tmp: joblib.dump(model, tmp))


def load_tfidf(path: str | os.PathLike) -> TfidfBaseline:
    """Read a baseline written by :func:`save_tfidf` (joblib runs pickle: load only files this study wrote)."""
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"No TF-IDF baseline at {source}; run the baseline fit first (save_tfidf).")
    model = joblib.load(source)
    if not isinstance(model, TfidfBaseline):
        raise TypeError(f"{source} holds a {type(model).__name__}, not a TfidfBaseline.")
    return model


def run_tfidf_stage(data: pd.DataFrame, out_dir: str | os.PathLike, *, seed: int = 0,
                    **fit_options) -> tuple[TfidfBaseline, pd.DataFrame, bool]:
    """Fit (or reuse) the TF-IDF baseline on the study frame's train split, selecting C on validation.

    ``data`` is the chapter's frame (cohort joined with its splits). The fitted model is cached under ``out_dir``,
    keyed by the training and validation notes and labels and the fit options, so a second run with the same
    inputs loads it. Returns the model, its predictions for validation and both tests, and whether it was reused.
    """
    from helpers.artifacts import cached_stage, code_key, frame_fingerprint, stage_key

    train = data[data["split"] == "train"]
    validation = data[data["split"] == "validation"]
    inputs = pd.concat([train, validation])
    key = stage_key(stage="tfidf_lr", data=frame_fingerprint(inputs, ["admission_id", "note_text", "readmitted_30d"]),
                    seed=seed, options={k: list(v) if isinstance(v, tuple) else v for k, v in fit_options.items()},
                    code=code_key(__name__))
    model, reused = cached_stage(
        Path(out_dir) / "tfidf_lr.joblib", key,
        build=lambda path: save_tfidf(fit_tfidf_lr(train, validation, seed=seed, **fit_options), path),
        load=load_tfidf, label="tfidf_lr: fit",
    )
    frames = {split: data[data["split"] == split] for split in ("validation", "random_test", "temporal_test")}
    return model, tfidf_predictions(model, frames), reused


def oracle_predictions(oracle: pd.DataFrame, data: pd.DataFrame,
                       splits: Sequence[str] = ("validation", "random_test", "temporal_test")) -> pd.DataFrame:
    """The simulator's true readmission probabilities as a predictions table (model ``oracle``).

    Only for simulated data: no model reads this table; its AUROC on the same admissions is the ceiling for any
    model.
    """
    needed = {"admission_id", "true_probability"}
    if not needed <= set(oracle.columns):
        raise ValueError(f"the oracle table needs columns {sorted(needed)}; it has {list(oracle.columns)}")
    part = data[data["split"].isin(list(splits))]
    merged = part.merge(oracle[["admission_id", "true_probability"]], on="admission_id", how="left",
                        validate="one_to_one")
    if merged["true_probability"].isna().any():
        raise ValueError("some test admissions have no oracle probability: the oracle table is from another run")
    return pd.DataFrame({
        "admission_id": merged["admission_id"].to_numpy(),
        "patient_id": merged["patient_id"].to_numpy(),
        "hospital": merged["hospital"].to_numpy(),
        "split": merged["split"].astype(str).to_numpy(),
        "model": "oracle",
        "y_true": merged["readmitted_30d"].astype(int).to_numpy(),
        "y_score": merged["true_probability"].astype(float).to_numpy(),
    })[PREDICTION_COLUMNS]


def chapter_predictions(clinicllm_predictions: pd.DataFrame, tfidf_table: pd.DataFrame,
                        oracle: pd.DataFrame | None, data: pd.DataFrame) -> pd.DataFrame:
    """Chapter 2's predictions table: experiment ``global`` (ClinicLLM), ``tfidf_lr`` and, on simulated data
    (``oracle`` not None), ``oracle``, in the evaluation contract plus an ``experiment`` column."""
    parts = [clinicllm_predictions.assign(experiment="global"), tfidf_table.assign(experiment="tfidf_lr")]
    if oracle is not None:
        parts.append(oracle_predictions(oracle, data).assign(experiment="oracle"))
    return pd.concat(parts, ignore_index=True)
