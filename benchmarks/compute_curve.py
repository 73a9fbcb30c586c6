"""What each minute of CPU buys ClinicLLM: a grid of pretraining steps x fine-tuning epochs on a run's own data.

Trains the chapter's recipe (the configuration chapter 2 of the run saved) with other pretraining step caps and
fine-tuning epochs into the run's own stage cache (``runs/<name>/artifacts/02_clinicllm/clinicllm``), so that
chapter 2's compute curve (:mod:`helpers.clinicllm.compute`) shows them the next time the chapter runs, and prints
each point:
pretraining steps, fine-tuning epochs, training minutes and validation AUROC, with TF-IDF's validation AUROC. Every
point is an ordinary cached stage: a second call reuses them, and the chapter's own files are never touched.

    make compute-curve RUN=runs/default   (or: .venv/bin/python benchmarks/compute_curve.py --run runs/default ...) --run runs/default --pretrain 0 200 800 --epochs 1 2 3
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from helpers import cohort as cohort_lib
from helpers.artifacts import RunPaths
from helpers.clinicllm import ClinicLLMConfig, compute_points, run_clinicllm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/default", help="a run folder whose chapters 1 and 2 have run")
    parser.add_argument("--pretrain", type=int, nargs="+", default=[0, 200, 800], help="pretraining step caps")
    parser.add_argument("--epochs", type=float, nargs="+", default=[1.0, 3.0], help="fine-tuning epochs")
    args = parser.parse_args()

    paths = RunPaths.from_run_dir(args.run)
    root = paths.upstream("clinicllm", "02_clinicllm")
    summary = json.loads((root / "summary.json").read_text())
    chapter = ClinicLLMConfig.from_dict(summary["config"])
    data = cohort_lib.study_frame(pd.read_parquet(paths.upstream("cohort.parquet", "01_data")),
                                  pd.read_parquet(paths.upstream("splits.parquet", "01_data")))
    for steps, epochs in itertools.product(args.pretrain, args.epochs):
        values = {**chapter.to_dict(), "finetune_epochs": epochs,
                  # 0 steps: no pretraining at all (the encoder stays at its random initialisation)
                  **({"pretrain_max_steps": None, "pretrain_epochs": 0.0} if steps == 0 else
                     {"pretrain_max_steps": steps})}
        run_clinicllm(data, ClinicLLMConfig.from_dict(values), root, publish=False)

    points = compute_points(root, summary["model_dir"] if Path(summary["model_dir"]).is_dir()
                            else root / Path(summary["model_dir"]).name)
    best = points[~points["this_run"]] if (~points["this_run"]).any() else points
    tfidf = paths.written_by("02_clinicllm") / "predictions_02_clinicllm.parquet"
    baseline = None
    if tfidf.is_file():
        table = pd.read_parquet(tfidf)
        val = table[(table["model"] == "tfidf_lr") & (table["split"] == "validation")]
        baseline = roc_auc_score(val["y_true"], val["y_score"]) if len(val) else None
    print(f"run {args.run}: {len(best)} grid points (validation AUROC of the best evaluation of each)")
    for row in best.sort_values(["pretrain_steps", "finetune_epochs"]).itertuples():
        print(f"pretraining {row.pretrain_steps:>5} steps, fine-tuning {row.finetune_epochs:4.1f} epochs: "
              f"{row.minutes:5.1f} min, validation AUROC {row.validation_auroc:.3f}")
    if baseline is not None:
        print(f"TF-IDF + logistic regression, validation AUROC: {baseline:.3f}")


if __name__ == "__main__":
    main()
