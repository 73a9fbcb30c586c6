"""Command line: ``python -m helpers.clinicllm {run,finetune}`` (alone, or under torchrun / accelerate launch)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from .config import DATA_COLUMNS, ClinicLLMConfig
from .distributed import _is_main_process, configure_environment
from .stages import run_clinicllm

def _read_frame(path: str) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if path.endswith(".csv"):
        return pd.read_csv(path)
    raise ValueError(f"--data {path!r}: give a .parquet or .csv file with columns {DATA_COLUMNS}.")


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.clinicllm {run,finetune} --data D --config C.json --out DIR [--model CKPT]``.

    ``run`` does the whole chapter; ``finetune`` starts from a pretrained checkpoint (``--model``, or the config's
    ``pretrained_path``) and fine-tunes and predicts. Both write the artifacts of :func:`run_clinicllm` and work
    the same alone or under ``torchrun --nproc_per_node N`` (data-parallel; gloo on CPU, NCCL on GPUs).
    """
    configure_environment()
    parser = argparse.ArgumentParser(prog="python -m helpers.clinicllm", description=main.__doc__)
    parser.add_argument("command", choices=["run", "finetune"])
    parser.add_argument("--data", required=True, help="parquet/csv with " + ", ".join(DATA_COLUMNS))
    parser.add_argument("--config", help="JSON (or YAML) file of ClinicLLMConfig fields")
    parser.add_argument("--out", required=True, help="output directory for the artifacts")
    parser.add_argument("--model", help="pretrained checkpoint directory (finetune)")
    args = parser.parse_args(argv)

    values: dict[str, Any] = {}
    if args.config:
        text = Path(args.config).read_text()
        if args.config.endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    if args.command == "finetune":
        if args.model:
            values.update(preset="pretrained", pretrained_path=args.model)
        if values.get("preset") != "pretrained":
            parser.error("finetune needs a pretrained checkpoint: pass --model DIR (or preset: pretrained and "
                         "pretrained_path in the config); use 'run' to pretrain first.")
    config = ClinicLLMConfig.from_dict(values)
    result = run_clinicllm(_read_frame(args.data), config, args.out)
    if _is_main_process():
        summary = {"model_dir": str(result.model_dir), "predictions": str(result.predictions_path),
                   "n_predictions": int(len(result.predictions)), "best_validation_auroc": result.best_validation_auroc,
                   "world_size": int(os.environ.get("WORLD_SIZE", "1")), "timings": result.timings}
        print(json.dumps(summary, indent=2))
    return 0
