"""Fit time of the TF-IDF + logistic regression baseline on synthetic notes.

Default: 20,000 training notes of 400 words plus 4,000 validation notes, word 1-2-grams, the default ``C`` grid.
Prints ``tfidf_fit_seconds_20000x400``, the vocabulary size and the validation AUROC of the chosen ``C``.
Usage: ``.venv/bin/python benchmarks/bench_tfidf.py [--notes N --words W]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from helpers.baselines import fit_tfidf_lr


def synthetic_notes(n_notes: int, n_words: int, seed: int = 0) -> pd.DataFrame:
    """Notes drawn from a Zipf-like vocabulary of 8,000 words; readmitted notes use a few risk words more often."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(8000)])
    weights = 1 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    labels = (rng.random(n_notes) < 0.12).astype(int)
    word_ids = rng.choice(len(vocabulary), size=(n_notes, n_words), p=weights)
    risk_words = rng.integers(0, n_words, size=(n_notes, 3))
    for row in np.flatnonzero(labels):
        word_ids[row, risk_words[row]] = rng.choice([500, 501, 502], size=3)
    notes = [" ".join(vocabulary[row]) for row in word_ids]
    return pd.DataFrame({"note_text": notes, "readmitted_30d": labels})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--words", type=int, default=400)
    args = parser.parse_args()
    train = synthetic_notes(args.notes, args.words, seed=0)
    validation = synthetic_notes(max(args.notes // 5, 100), args.words, seed=1)
    started = time.perf_counter()
    model = fit_tfidf_lr(train, validation)
    elapsed = time.perf_counter() - started
    print(f"tfidf_fit_seconds_{args.notes}x{args.words}: {elapsed:.1f}")
    print(f"tfidf_n_features: {model.n_features}")
    print(f"tfidf_chosen_C: {model.C} (validation AUROC {model.validation_auroc[model.C]:.3f})")


if __name__ == "__main__":
    main()
