"""How fast is the vectorised patient-level bootstrap, against a naive loop over resamples with scikit-learn?

Prints ``bootstrap_seconds_1000x5000`` (1,000 resamples of a 5,000-admission test set, AUROC + AUPRC + Brier),
the naive loop's time measured in the same run (on fewer resamples, scaled up linearly, since each resample costs
the same) and their ratio ``bootstrap_speedup``. Usage: ``.venv/bin/python benchmarks/bench_bootstrap.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from helpers.evaluation import bootstrap_metrics


def synthetic_test_set(n_admissions: int, seed: int = 0):
    """Admissions of about 0.7 n patients, 12 % readmitted, continuous scores (like a model's float outputs)."""
    rng = np.random.default_rng(seed)
    patient_id = rng.integers(0, int(0.7 * n_admissions), n_admissions)
    y_true = (rng.random(n_admissions) < 0.12).astype(int)
    y_score = 1 / (1 + np.exp(-(rng.normal(-2, 1, n_admissions) + 1.2 * y_true)))
    return y_true, y_score, patient_id


def naive_bootstrap(y_true, y_score, patient_id, n_resamples: int, seed: int = 0) -> None:
    """The textbook loop: draw patients, gather their admissions, call scikit-learn three times."""
    rng = np.random.default_rng(seed)
    patients, codes = np.unique(patient_id, return_inverse=True)
    rows_of = [np.flatnonzero(codes == p) for p in range(len(patients))]
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(patients), len(patients))
        rows = np.concatenate([rows_of[p] for p in drawn])
        y, s = y_true[rows], y_score[rows]
        if 0 < y.sum() < len(y):
            roc_auc_score(y, s)
            average_precision_score(y, s)
        brier_score_loss(y, s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admissions", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive-resamples", type=int, default=100, help="loop resamples timed, then scaled")
    args = parser.parse_args()
    y_true, y_score, patient_id = synthetic_test_set(args.admissions)

    bootstrap_metrics(y_true[:500], y_score[:500], patient_id[:500], n_resamples=10)  # warm-up
    started = time.perf_counter()
    bootstrap_metrics(y_true, y_score, patient_id, n_resamples=args.resamples, seed=1)
    vectorised = time.perf_counter() - started

    started = time.perf_counter()
    naive_bootstrap(y_true, y_score, patient_id, args.naive_resamples, seed=1)
    naive = (time.perf_counter() - started) * args.resamples / args.naive_resamples

    label = f"{args.resamples}x{args.admissions}"
    print(f"bootstrap_seconds_{label}: {vectorised:.3f}")
    print(f"naive_loop_seconds_{label}: {naive:.3f} (timed on {args.naive_resamples} resamples, scaled)")
    print(f"bootstrap_speedup: {naive / vectorised:.1f}")


if __name__ == "__main__":
    main()
