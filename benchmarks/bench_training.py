"""Training speed of ClinicLLM against a plain Trainer set-up, with one ablation line per speed-up, and chapter time.

Throughput is real (non-padding) tokens per second of ``Trainer.train()``, counted in the collator, on the same
model (same initial weights), the same notes and the same number of optimizer steps:

* plain: every note padded to ``max_length`` up front, random batches, float32, the stock heads (the MLM head
  projects every position onto the whole vocabulary), PyTorch's default threads;
* project: dynamic padding (``DataCollatorWithPadding`` / the MLM collator, to a multiple of 8), length-grouped
  batches (``train_sampling_strategy='group_by_length'``), MLM logits only at masked positions, in fine-tuning the
  bottom layer(s) frozen (``finetune_frozen_layers``) with their backward pass skipped (straight-through,
  ``finetune_frozen_backward``), the top layer at a random half of the tokens (``finetune_position_share``) and no
  dropout (``finetune_dropout``), bfloat16 autocast in training where the processor has native bfloat16, threads
  set to the cores. The fine-tuning techniques change the gradient, not the model: their effect on validation AUROC
  was measured in the chapter (``helpers/clinicllm/config.py`` records it), not here.

Both set-ups use the Trainer's default optimizer, the fused AdamW kernel (``adamw_torch_fused``, the default since
torch 2.8), so it has no line of its own. ``torch.compile`` was tried and not kept: on this 2-layer model on a CPU
it made a fine-tuning step slower (141 ms against 105 ms with dropout, 106 against 96 without, float32, 2 cores),
after 10-30 s of compiling.

Two paths, each against the same plain set-up: ``float32`` (always; what a CPU without native bfloat16 runs) and
``bfloat16`` (where the processor has it natively, or with ``--bf16-anyway``). Each path prints its ablation lines
(one per technique kept, alone) and ``finetune_speedup_<path>`` / ``pretrain_speedup_<path>``. Techniques: dynamic
padding with length-grouped batches, the MLM head and last layer at masked positions only, the [CLS]-only last layer
(when the classifier reads [CLS]), frozen lower layers, their straight-through backward, the top layer at a random
share of tokens and no dropout in fine-tuning, threads set to the cores, and on the bfloat16 path bfloat16 autocast
with the faster attention kernel. A profile of one fine-tuning step (share of CPU time per op group) shows where the
plain and the project step spend their time.

Each configuration runs ``--repeats`` times, interleaved with the others, and its best run counts (the machine is
shared, so the best run is the least disturbed one). Prints ``finetune_speedup: X`` and ``pretrain_speedup: Y``,
ablation lines, prediction throughput, and the whole chapter (tokenizer, pretraining, fine-tuning, predictions) at
smoke size in a separate process (wall time and peak memory). ``--chapter-admissions 25000`` times the full size.

Usage: ``.venv/bin/python benchmarks/bench_training.py [--admissions 3000] [--steps 30] [--max-length 128]
[--chapter-admissions 3000] [--no-chapter]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import (
    BertForMaskedLM,
    BertForSequenceClassification,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    Trainer,
    default_data_collator,
)
from transformers.trainer_callback import PrinterCallback

from helpers import clinicllm
from helpers.clinicllm import ClinicLLMConfig, build_mlm_model, encode_notes, train_tokenizer
from helpers.clinicllm.config import number_format_decision
# the benchmark times the project's own Trainer set-up, so it reaches the training module's internals
from helpers.clinicllm.distributed import _quiet_transformers
from helpers.clinicllm.head_start import finetune_dropout_overrides, freeze_lower_layers, set_step_shortcuts
from helpers.clinicllm.trainer import make_trainer, training_arguments


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------


def study_notes(n_admissions: int, seed: int = 0) -> pd.DataFrame:
    """The simulated health system's cohort with splits (or, without the simulator, notes generated here)."""
    try:
        from helpers.simulator import simulate_health_system
        from helpers.splits import assign_splits
    except ImportError:
        return _fallback_notes(n_admissions, seed)
    admissions = simulate_health_system(n_admissions=n_admissions, seed=seed).admissions
    cohort = admissions[admissions["died_in_hospital"] == 0].reset_index(drop=True)
    last_year = int(pd.to_datetime(cohort["discharge_date"]).dt.year.max())
    splits = assign_splits(cohort, temporal_test_year=last_year, seed=seed)
    return cohort.merge(splits[["admission_id", "split"]], on="admission_id")


def _fallback_notes(n: int, seed: int) -> pd.DataFrame:
    """Notes of log-normal length (median ~360 words, like discharge summaries) with a planted risk word."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"term{i}" for i in range(3000)])
    weights = 1 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    labels = (rng.random(n) < 0.12).astype(int)
    lengths = np.clip(rng.lognormal(np.log(360), 0.45, n).astype(int), 60, 3000)
    notes = []
    for label, length in zip(labels, lengths):
        words = list(vocabulary[rng.choice(len(vocabulary), size=length, p=weights)])
        if rng.random() < (0.6 if label else 0.1):
            words.insert(int(rng.integers(0, 40)), "decompensated")
        notes.append(" ".join(words))
    split = rng.choice(["train", "validation", "random_test", "temporal_test"], size=n, p=[0.7, 0.1, 0.1, 0.1])
    return pd.DataFrame({"admission_id": np.arange(n), "patient_id": np.arange(n), "hospital": "H1",
                         "note_text": notes, "readmitted_30d": labels, "split": split})


# ----------------------------------------------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------------------------------------------


class CountingCollator:
    """Wraps a collator and counts the real (attention-mask) tokens of every batch it builds."""

    def __init__(self, inner):
        self.inner = inner
        self.tokens = 0

    def __call__(self, features):
        batch = self.inner(features)
        self.tokens += int(batch["attention_mask"].sum())
        return batch


def plain_padded(tokenizer, texts: list[str], max_length: int, labels=None) -> list[dict]:
    """The plain set-up's data: every note tokenized and padded to max_length, with its attention mask."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding="max_length",
                        return_token_type_ids=False)
    rows = []
    for i in range(len(texts)):
        row = {"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i]}
        if labels is not None:
            row["labels"] = int(labels[i])
        rows.append(row)
    return rows


class PlainDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]


def timed_train(model, dataset, collator, config: ClinicLLMConfig, steps: int, batch_size: int, *, grouped: bool,
                bf16: bool, threads: int, out: Path, learning_rate: float, plain: bool = False) -> tuple[float, int]:
    """Train ``steps`` optimizer steps; returns (real tokens per second, real tokens).

    ``plain`` uses the stock ``transformers.Trainer`` (no bfloat16); otherwise the project's trainer.
    """
    torch.set_num_threads(threads)
    counting = CountingCollator(collator)
    args = training_arguments(
        config, out, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=learning_rate,
        logging_steps=steps, train_sampling_strategy="group_by_length" if grouped else "random",
    )
    if plain:
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=counting)
        trainer.remove_callback(PrinterCallback)
    else:
        trainer = make_trainer(ClinicLLMConfig(**{**config.to_dict(), "bf16": bf16}), model=model,
                                          args=args, train_dataset=dataset, data_collator=counting)
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    return counting.tokens / elapsed, counting.tokens


def best_of(repeats: int, runs: dict) -> dict[str, tuple[float, int]]:
    """Run every configuration ``repeats`` times, interleaved, and keep each one's fastest run."""
    best: dict[str, tuple[float, int]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            result = run()
            if name not in best or result[0] > best[name][0]:
                best[name] = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admissions", type=int, default=3000, help="simulated admissions whose notes are used")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per measured run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=None, help="token limit (default: the tiny preset's)")
    parser.add_argument("--chapter-admissions", type=int, default=3000)
    parser.add_argument("--no-chapter", action="store_true")
    parser.add_argument("--bf16-anyway", action="store_true",
                        help="also measure the bfloat16 path where the processor has no native bfloat16 (emulated)")
    parser.add_argument("--chapter-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chapter_only:
        chapter(args.chapter_admissions)
        return

    overrides = {"max_length": args.max_length} if args.max_length else {}
    config = ClinicLLMConfig(**overrides).resolved()
    default_threads = torch.get_num_threads()   # PyTorch's own choice, before configure_threads
    threads = clinicllm.configure_threads(None)
    notes = study_notes(args.admissions)
    texts = notes["note_text"].tolist()
    labels = notes["readmitted_30d"].to_numpy()
    workdir = Path(tempfile.mkdtemp(prefix="bench_training_"))
    tokenizer = train_tokenizer(texts, config.vocab_size, workdir / "tokenizer")
    report = clinicllm.tokenization_report(tokenizer, texts, config.max_length)
    print(f"data: {len(texts)} notes, median {report['words_per_note_median']:.0f} words / "
          f"{report['tokens_per_note_median']:.0f} tokens, {100 * report['share_truncated']:.0f} % longer than "
          f"max_length {config.max_length}; model {config.num_layers} x {config.hidden_size}, vocabulary "
          f"{len(tokenizer)}; classifier reads {config.classifier_input}; {threads} threads; {args.steps} steps, best "
          f"of {args.repeats}")
    print(f"number format decision (bf16: null): {number_format_decision().reason}")

    # One initial model for every run, saved once.
    init_dir = workdir / "init"
    build_mlm_model(config, tokenizer).save_pretrained(init_dir)
    tokenizer.save_pretrained(init_dir)

    def mlm_model(masked_only: bool, kernel: str = "sdpa"):
        cls = clinicllm.MaskedPositionsBertForMaskedLM if masked_only else BertForMaskedLM
        with _quiet_transformers():
            return cls.from_pretrained(str(init_dir), local_files_only=True, attn_implementation=kernel)

    reads_mean = config.classifier_input == "mean"

    def classifier(cls_only: bool = False, kernel: str = "sdpa", frozen: int = 0, dropout: float | None = None,
                   straight: bool = False, share: float = 1.0):
        # The model the project fine-tunes: the mean-pooled head (classifier_input: mean; the same model in the
        # plain set-up, only the Trainer set-up differs) or the [CLS] head (stock, or [CLS]-only last layer).
        # frozen / dropout / straight / share: finetune_frozen_layers, finetune_dropout, finetune_frozen_backward
        # and finetune_position_share (the plain set-up trains every weight exactly, with the pretraining dropout).
        torch.manual_seed(config.seed)
        if reads_mean:
            cls = clinicllm.MeanPooledBertForSequenceClassification
        else:
            cls = clinicllm.ClsOnlyLastLayerBertForSequenceClassification if cls_only \
                else BertForSequenceClassification
        with _quiet_transformers():
            model = cls.from_pretrained(str(init_dir), num_labels=2, local_files_only=True,
                                        attn_implementation=kernel, **finetune_dropout_overrides(dropout))
        freeze_lower_layers(model, frozen)
        set_step_shortcuts(model, "straight_through" if straight else "exact", share)
        return model

    plain_rows = plain_padded(tokenizer, texts, config.max_length, labels)
    plain_cls = PlainDataset(plain_rows)
    plain_mlm = PlainDataset([{k: v for k, v in row.items() if k != "labels"} for row in plain_rows])
    dynamic_cls = encode_notes(tokenizer, texts, config.max_length, labels=labels)
    dynamic_mlm = encode_notes(tokenizer, texts, config.max_length, with_special_tokens_mask=True)
    pad_collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)
    if config.window_pooling == "features":
        # The project's own training data: notes as bags of windows pooled before the head (window_pooling:
        # features); tokens per second stay comparable, every real token of every window counted.
        windows = clinicllm.note_windows(clinicllm.note_token_ids(tokenizer, texts), config.max_length,
                                         config.window_stride, tokenizer.cls_token_id, tokenizer.sep_token_id)
        project_cls = clinicllm.NoteWindowBags(windows, labels, seed=config.seed,
                                               max_windows=config.train_windows_per_note)
        project_collator = clinicllm.WindowBagCollator(tokenizer.pad_token_id)
    else:
        project_cls, project_collator = dynamic_cls, pad_collator

    def mlm_collator():
        return DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=config.mlm_probability,
                                               pad_to_multiple_of=8, seed=config.seed)

    ft_lr, pt_lr = config.finetune_learning_rate, config.pretrain_learning_rate
    frozen_layers, finetune_dropout = config.finetune_frozen_layers, config.finetune_dropout
    straight = config.finetune_frozen_backward == "straight_through" and frozen_layers > 0
    share = config.finetune_position_share if reads_mean else 1.0
    fb, pb = config.finetune_batch_size, config.pretrain_batch_size

    def ft(dataset, collator, grouped, use_bf16, cls_only=False, kernel="sdpa", n_threads=threads, plain=False,
           frozen=0, dropout=None, straight=False, share=1.0):
        return lambda: timed_train(classifier(cls_only, kernel, frozen, dropout, straight, share), dataset, collator,
                                   config, args.steps, fb, grouped=grouped, bf16=use_bf16, threads=n_threads,
                                   out=workdir / "ft", learning_rate=ft_lr, plain=plain)

    def pt(masked_only, dataset, grouped, use_bf16, kernel="sdpa", n_threads=threads, plain=False):
        return lambda: timed_train(mlm_model(masked_only, kernel), dataset, mlm_collator(), config, args.steps, pb,
                                   grouped=grouped, bf16=use_bf16, threads=n_threads, out=workdir / "pt",
                                   learning_rate=pt_lr, plain=plain)

    paths = ["float32"] + (["bfloat16"] if config.bf16 or args.bf16_anyway else [])
    if "bfloat16" not in paths:
        print("path bfloat16: skipped (this processor has no native bfloat16; --bf16-anyway measures it emulated)")
    speedups: dict[str, tuple[float, float]] = {}
    for path in paths:
        use_bf16 = path == "bfloat16"
        kernel = config.attention_kernel if use_bf16 else "sdpa"
        print(f"path {path}: plain = stock Trainer, float32, padded to max_length, random batches, stock heads, "
              f"PyTorch's default threads ({default_threads}); project = every technique below"
              + (", bf16 autocast in training" if use_bf16 else ""))
        finetune_runs = {
            "plain": ft(plain_cls, default_data_collator, False, False, n_threads=default_threads, plain=True),
            "dynamic padding + length grouping only": ft(dynamic_cls, pad_collator, True, False),
        }
        if not reads_mean:
            finetune_runs["[CLS]-only last layer only"] = ft(plain_cls, default_data_collator, False, False,
                                                             cls_only=True)
        if frozen_layers:
            finetune_runs[f"bottom {frozen_layers} layer(s) frozen only"] = ft(
                plain_cls, default_data_collator, False, False, frozen=frozen_layers)
        if straight:
            finetune_runs[f"bottom {frozen_layers} layer(s) frozen + straight-through backward only"] = ft(
                plain_cls, default_data_collator, False, False, frozen=frozen_layers, straight=True)
        if share < 1.0:
            finetune_runs[f"top layer at a random {share:g} of tokens only"] = ft(
                plain_cls, default_data_collator, False, False, share=share)
        if finetune_dropout != config.hidden_dropout:
            finetune_runs[f"dropout {finetune_dropout:g} in fine-tuning only"] = ft(
                plain_cls, default_data_collator, False, False, dropout=finetune_dropout)
        pretrain_runs = {
            "plain": pt(False, plain_mlm, False, False, n_threads=default_threads, plain=True),
            "dynamic padding + length grouping only": pt(False, dynamic_mlm, True, False),
            "masked positions only (head + last layer)": pt(True, plain_mlm, False, False),
        }
        if use_bf16:
            finetune_runs["bf16 autocast only (sdpa)"] = ft(plain_cls, default_data_collator, False, True)
            finetune_runs[f"bf16 autocast + {kernel} attention"] = ft(plain_cls, default_data_collator, False, True,
                                                                     kernel=kernel)
            pretrain_runs["bf16 autocast only (sdpa)"] = pt(False, plain_mlm, False, True)
            pretrain_runs[f"bf16 autocast + {kernel} attention"] = pt(False, plain_mlm, False, True, kernel=kernel)
        finetune_runs["project"] = ft(project_cls, project_collator, True, use_bf16, cls_only=True, kernel=kernel,
                                      frozen=frozen_layers, dropout=finetune_dropout, straight=straight, share=share)
        pretrain_runs["project"] = pt(True, dynamic_mlm, True, use_bf16, kernel=kernel)
        finetune = best_of(args.repeats, finetune_runs)
        pretrain = best_of(args.repeats, pretrain_runs)
        speedups[path] = (report_block(f"{path} finetune", finetune), report_block(f"{path} pretrain", pretrain))
        batch = default_data_collator(plain_rows[:fb])
        for label, model in (("plain", classifier()),
                             ("project", classifier(True, kernel, frozen_layers, finetune_dropout, straight,
                                                    share))):
            shares = step_profile(model, batch, ft_lr, use_bf16 and label == "project")
            print(f"{path} finetune profile {label}: " + ", ".join(f"{group} {100 * share:.0f} %"
                                                                  for group, share in shares.items()))
        if path == paths[-1]:
            one_thread = timed_train(classifier(True, kernel, frozen_layers, finetune_dropout, straight, share),
                                     project_cls, project_collator, config, args.steps, fb, grouped=True,
                                     bf16=use_bf16,
                                     threads=1, out=workdir / "ft", learning_rate=ft_lr)
            torch.set_num_threads(threads)
            print(f"finetune threads ({path}): {one_thread[0]:,.0f} tokens/s with 1 thread (torchrun's "
                  f"OMP_NUM_THREADS=1) vs {finetune['project'][0]:,.0f} with {threads} (configure_threads): "
                  f"x{finetune['project'][0] / one_thread[0]:.2f}")
    prediction_lines(tokenizer, texts, config, classifier, plain_cls, workdir)
    for path, (finetune_speedup, pretrain_speedup) in speedups.items():
        print(f"finetune_speedup_{path}: {finetune_speedup:.2f}")
        print(f"pretrain_speedup_{path}: {pretrain_speedup:.2f}")
    finetune_speedup, pretrain_speedup = speedups[paths[-1]]
    print(f"finetune_speedup: {finetune_speedup:.2f} ({paths[-1]} path)")
    print(f"pretrain_speedup: {pretrain_speedup:.2f} ({paths[-1]} path)")
    if not args.no_chapter:
        completed = subprocess.run([sys.executable, __file__, "--chapter-only", "--chapter-admissions",
                                    str(args.chapter_admissions)], capture_output=True, text=True)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("chapter")]
        print("\n".join(lines) if lines else completed.stderr[-2000:])


# Profiler op name fragments, in order of precedence, and the share of a step each group is reported as.
OP_GROUPS = (
    ("optimizer step", ("adamw", "optimizer")),
    ("attention", ("scaled_dot_product", "softmax", "bmm")),
    ("matrix products", ("addmm", "aten::mm", "aten::linear")),
    ("dropout masks", ("bernoulli", "dropout")),
    ("GELU", ("gelu",)),
    ("layer norm", ("layer_norm",)),
    ("embedding gradient", ("embedding",)),
)


def step_profile(model, batch: dict, learning_rate: float, use_bf16: bool, steps: int = 4) -> dict[str, float]:
    """Share of a training step's self CPU time per op group (forward, backward and the fused AdamW step)."""
    from torch.profiler import ProfilerActivity, profile

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, fused=True)
    model.train()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    totals = {name: 0.0 for name, _ in OP_GROUPS} | {"other": 0.0}
    for event in prof.key_averages():
        name = event.key.lower()
        group = next((g for g, fragments in OP_GROUPS if any(f in name for f in fragments)), "other")
        totals[group] += event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {group: value / whole for group, value in totals.items()}


def report_block(name: str, results: dict[str, tuple[float, int]]) -> float:
    """One ablation line per configuration (tokens/s and ratio to plain); returns project / plain."""
    plain = results["plain"][0]
    for label, (rate, tokens) in results.items():
        print(f"{name} {label}: {rate:,.0f} tokens/s ({tokens:,} tokens) x{rate / plain:.2f}")
    return results["project"][0] / plain


def prediction_lines(tokenizer, texts, config, classifier, plain_dataset, workdir: Path) -> None:
    """Scoring throughput: Trainer.predict on padded notes vs predict_scores (inference_mode, length-sorted,
    [CLS]-only last layer)."""
    model = classifier()
    model_dir = workdir / "classifier"
    model.save_pretrained(model_dir)
    frame = pd.DataFrame({"note_text": texts})
    real_tokens = sum(len(ids) for ids in encode_notes(tokenizer, texts, config.max_length).input_ids)
    args = training_arguments(config, workdir / "predict", per_device_eval_batch_size=config.eval_batch_size)
    trainer = Trainer(model=model, args=args)
    started = time.perf_counter()
    trainer.predict(plain_dataset)
    plain = real_tokens / (time.perf_counter() - started)
    started = time.perf_counter()
    # Like for like: the plain set-up reads each note's head, so predict_scores reads the head too here.
    clinicllm.predict_scores(model_dir, tokenizer, frame, ClinicLLMConfig.from_dict({**config.to_dict(),
                                                                                     "note_reading": "head"}))
    project = real_tokens / (time.perf_counter() - started)
    print(f"predict plain (Trainer.predict, padded): {plain:,.0f} tokens/s; project (predict_scores): "
          f"{project:,.0f} tokens/s x{project / plain:.2f}")


def chapter(n_admissions: int) -> None:
    """The whole chapter at the tiny preset, in this (fresh) process: wall time, stage times, peak memory."""
    from sklearn.metrics import roc_auc_score

    notes = study_notes(n_admissions)
    with tempfile.TemporaryDirectory(prefix="bench_chapter_") as out:
        started = time.perf_counter()
        result = clinicllm.run_clinicllm(notes, ClinicLLMConfig(), out)
        elapsed = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    aurocs = {split: round(roc_auc_score(part["y_true"], part["y_score"]), 3)
              for split, part in result.predictions.groupby("split")}
    stages = {k: round(v, 1) for k, v in result.timings.items()}
    print(f"chapter_seconds_{len(notes)}_admissions: {elapsed:.1f}")
    print(f"chapter stages (s): {json.dumps(stages)}")
    print(f"chapter peak memory: {peak_gb:.2f} GB; AUROC {json.dumps(aurocs)}")


if __name__ == "__main__":
    main()
