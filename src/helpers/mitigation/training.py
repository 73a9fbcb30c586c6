"""How chapter 5 trains each strategy model: the classification head retrained on cached note features, with
early stopping on the model's own validation AUROC.

Why the head only. ClinicLLM reads a note as a bag of windows; the two encoder layers turn every token into a
vector, the vectors of all the note's windows are averaged (``window_pooling: features``), and the head (the pooler's
dense layer and tanh, then the classifier) turns that mean into a probability. Chapter 2 fine-tunes with the lower
layer frozen; the chapter's 16 models per seed cannot each afford a pass of the encoder over their admissions per
epoch on a 2-core CPU. So the encoder is run **once** over every admission of the study (:func:`note_features`:
the mean the head reads) and each strategy model retrains the head on those cached vectors (last-layer
retraining). A model then costs milliseconds per epoch, which lets every model train until its validation AUROC
stops improving instead of for a fixed number of steps. What this gives up: the encoder does not adapt to a
hospital's words. :mod:`helpers.mitigation.top_layer` trains the top encoder layer as well, on cached outputs of the
frozen lower layer, and the chapter measures on some models what head-only training costs.

Where a model starts (``local_start``):

- ``global``: the fine-tuned global model's head and encoder. Before any step the model *is* the global model
  (its scores equal chapter 2's, checked by :func:`check_start_matches_global`), so epoch 0 of every history is
  the global model on that unit's validation admissions, and a model that never beats it keeps the global head.
- ``pretrained``: the MLM-pretrained encoder of chapter 2, before any fine-tuning, with a new head (the pooler
  starts as the identity and the classifier at the unit's base rate), as NYUTron's site models started from the
  pretrained language model.

The stopping rule (:class:`StoppingRule`): after every epoch the validation AUROC is computed; the best head is
kept; training stops when ``patience`` epochs in a row did not beat it ("patience ran out") or at ``max_epochs``
("epoch cap").
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers import evaluation

STARTS = ("global", "pretrained")
STOPPED_BY_PATIENCE = "patience ran out"
STOPPED_BY_CAP = "epoch cap"


# --------------------------------------------------------------------------------------------------------------
# The stopping rule and the loop that applies it
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoppingRule:
    """How long each strategy model trains: until ``patience`` epochs bring no better validation AUROC, at most
    ``max_epochs`` passes over its training admissions."""

    max_epochs: int = 40
    patience: int = 5
    learning_rate: float = 1e-3
    batch_size: int = 32

    def __post_init__(self) -> None:
        for name, value in (("strategy_max_epochs", self.max_epochs), ("strategy_patience", self.patience),
                            ("strategy_batch_size", self.batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"parameter {name!r} is {value!r}; give a whole number of at least 1.")
        if self.patience > self.max_epochs:
            raise ValueError(f"parameter 'strategy_patience' ({self.patience}) exceeds 'strategy_max_epochs' "
                             f"({self.max_epochs}); patience could never run out. Lower it or raise the cap.")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (np.isfinite(rate) and rate > 0):
            raise ValueError(f"parameter 'strategy_learning_rate' is {rate!r}; give a positive number, e.g. 0.001.")


@dataclass
class StoppedRun:
    """What :func:`train_with_early_stopping` did: the score after every epoch (epoch 0: the start), the epoch
    whose state was kept, how many epochs ran and why they stopped."""

    scores: list[float]
    best_epoch: int
    epochs_run: int
    stop_reason: str
    losses: list[float] | None = None
    """Mean training loss over each epoch's batches (what ``run_epoch`` returned; epoch 0 has none: NaN)."""

    @property
    def best_score(self) -> float:
        return self.scores[self.best_epoch]


def train_with_early_stopping(run_epoch: Callable[[int], float | None], evaluate: Callable[[], float],
                              snapshot: Callable[[], object], restore: Callable[[object], None],
                              rule: StoppingRule) -> StoppedRun:
    """Run epochs until ``rule.patience`` epochs in a row bring no higher ``evaluate()``, or ``rule.max_epochs``;
    the state of the best epoch (the start counts as epoch 0) is restored at the end.

    A score must be strictly higher to count as better, so on a tie the earlier (shorter-trained) state is kept.
    A NaN score never counts as better. What ``run_epoch`` returns (e.g. its mean training loss) is kept in
    ``losses``.
    """
    scores = [float(evaluate())]
    losses = [float("nan")]
    best_epoch, best_state = 0, snapshot()
    since_best = 0
    reason = STOPPED_BY_CAP
    for epoch in range(1, rule.max_epochs + 1):
        loss = run_epoch(epoch)
        losses.append(float("nan") if loss is None else float(loss))
        score = float(evaluate())
        scores.append(score)
        if np.isfinite(score) and (not np.isfinite(scores[best_epoch]) or score > scores[best_epoch]):
            best_epoch, best_state, since_best = epoch, snapshot(), 0
        else:
            since_best += 1
        if since_best >= rule.patience:
            reason = STOPPED_BY_PATIENCE
            break
    restore(best_state)
    return StoppedRun(scores, best_epoch, len(scores) - 1, reason, losses)


# --------------------------------------------------------------------------------------------------------------
# The head: what is trained
# --------------------------------------------------------------------------------------------------------------


class Head(torch.nn.Module):
    """ClinicLLM's classification head: pooler dense layer and tanh, dropout, classifier (two logits)."""

    def __init__(self, width: int, dropout: float = 0.1):
        super().__init__()
        self.dense = torch.nn.Linear(width, width)
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(width, 2)

    def forward(self, means: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.tanh(self.dense(means))))

    def scores(self, means: np.ndarray) -> np.ndarray:
        """Probability of readmission for each row of token means (evaluation mode, float64)."""
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            logits = self(torch.as_tensor(means, dtype=torch.float32))
        self.train(was_training)
        return torch.softmax(logits, dim=-1)[:, 1].double().numpy()


def head_from_checkpoint(model_dir: str | Path, dropout: float) -> Head:
    """The fine-tuned model's own head (pooler dense and classifier weights) from its safetensors file."""
    from safetensors.torch import load_file

    weights = load_file(str(Path(model_dir) / "model.safetensors"))
    width = weights["bert.pooler.dense.weight"].shape[0]
    head = Head(width, dropout)
    with torch.no_grad():
        head.dense.weight.copy_(weights["bert.pooler.dense.weight"])
        head.dense.bias.copy_(weights["bert.pooler.dense.bias"])
        head.classifier.weight.copy_(weights["classifier.weight"])
        head.classifier.bias.copy_(weights["classifier.bias"])
    return head


def new_head(width: int, prevalence: float, dropout: float) -> Head:
    """A head for the pretrained encoder: the pooler as the identity, the classifier at the base rate (it says
    ``prevalence`` for every note until training moves it)."""
    head = Head(width, dropout)
    prevalence = float(np.clip(prevalence, 1e-4, 1 - 1e-4))
    with torch.no_grad():
        head.dense.weight.copy_(torch.eye(width))
        head.dense.bias.zero_()
        head.classifier.weight.zero_()
        head.classifier.bias.copy_(torch.tensor([0.0, float(np.log(prevalence / (1 - prevalence)))]))
    return head


@dataclass
class TrainedHead:
    head: Head
    run: StoppedRun
    steps: int
    """Optimizer steps taken in all epochs run (the kept head has seen fewer: ``best_steps``)."""
    best_steps: int
    seconds: float


def validation_auroc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AUROC on the validation admissions (NaN when a class is missing), the criterion of model selection."""
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(evaluation.auroc(y_true, scores))


def train_head(start: Head, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
               rule: StoppingRule, seed: int) -> TrainedHead:
    """Retrain a copy of ``start`` on (train_x, train_y) with Adam, shuffled mini-batches and the stopping rule on
    the validation AUROC; returns the best head (``start`` itself is left unchanged)."""
    threads = torch.get_num_threads()
    # A 64-wide head on batches of 32 is far too small to share between threads: one thread is ~15x faster on a
    # busy 2-core machine (the threads wait for each other at every tiny operation).
    torch.set_num_threads(1)
    try:
        return _train_head(start, train_x, train_y, val_x, val_y, rule, seed)
    finally:
        torch.set_num_threads(threads)


def _train_head(start: Head, train_x, train_y, val_x, val_y, rule: StoppingRule, seed: int) -> TrainedHead:
    started = time.perf_counter()
    torch.manual_seed(int(seed))
    order_rng = np.random.default_rng(int(seed))
    head = copy.deepcopy(start)
    optimizer = torch.optim.AdamW(head.parameters(), lr=rule.learning_rate, weight_decay=0.01)
    features = torch.as_tensor(train_x, dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    steps_per_epoch = int(np.ceil(len(labels) / rule.batch_size))

    def run_epoch(_epoch: int) -> float:
        head.train()
        order = torch.as_tensor(order_rng.permutation(len(labels)))
        total = 0.0
        for first in range(0, len(labels), rule.batch_size):
            rows = order[first:first + rule.batch_size]
            loss = torch.nn.functional.cross_entropy(head(features[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        return total / max(len(labels), 1)

    run = train_with_early_stopping(
        run_epoch, lambda: validation_auroc(val_y, head.scores(val_x)),
        snapshot=lambda: copy.deepcopy(head.state_dict()), restore=head.load_state_dict, rule=rule)
    head.eval()
    return TrainedHead(head, run, run.epochs_run * steps_per_epoch, run.best_epoch * steps_per_epoch,
                       time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------------------
# The cached features: the mean of the encoder's last layer over each note's tokens
# --------------------------------------------------------------------------------------------------------------


def training_windows(owner: np.ndarray, training_notes: np.ndarray, per_note: int | None, seed: int) -> np.ndarray:
    """Which windows to encode: every window of a validation or test note, and at most ``per_note`` windows of a
    training note, drawn at random (seeded) as chapter 2's training draws them (``train_windows_per_note``).
    ``owner`` is the note of each window; returns a boolean mask over the windows."""
    owner = np.asarray(owner, dtype=np.int64)
    if per_note is None or len(owner) == 0:
        return np.ones(len(owner), dtype=bool)
    keys = np.random.default_rng(int(seed)).random(len(owner))
    order = np.lexsort((keys, owner))                      # by note, then in a random order within the note
    first_of_note = np.searchsorted(owner[order], owner[order], side="left")
    rank = np.empty(len(owner), dtype=np.int64)
    rank[order] = np.arange(len(owner)) - first_of_note
    return ~np.asarray(training_notes, dtype=bool)[owner] | (rank < int(per_note))


def _encode_token_means(model_dir: Path, tokenizer, frame: pd.DataFrame, config, seed: int = 0) -> np.ndarray:
    """For each row's note, the mean of the last encoder layer over the tokens of its windows (notes x width): what
    the pooler of the mean-pooled classifier reads. Validation and test notes are read whole, as predictions read
    them; training notes through ``train_windows_per_note`` windows, as chapter 2's training steps read them."""
    from helpers.clinicllm.models import load_classifier, pool_by_note
    from helpers.clinicllm.prediction import batched_forward, reading_inputs

    model = load_classifier(model_dir, config.attention_kernel, classifier_input="mean")
    model.eval()
    inputs, owner = reading_inputs(tokenizer, frame, config)
    if owner is None:
        owner = np.arange(len(frame))
    keep = training_windows(owner, frame["split"].eq("train").to_numpy(), config.train_windows_per_note, seed)
    inputs = [ids for ids, kept in zip(inputs, keep) if kept]
    owner = np.asarray(owner, dtype=np.int64)[keep]

    def forward(ids, attention):
        sums, counts = model.token_sums(input_ids=ids, attention_mask=attention)
        return torch.cat([sums.float(), counts.float().unsqueeze(-1)], dim=-1).numpy()

    parts = np.stack(batched_forward(inputs, config.eval_batch_size, tokenizer.pad_token_id, forward,
                                      label="chapter 5: note features"))
    sums, counts = pool_by_note(torch.as_tensor(parts[:, :-1]), torch.as_tensor(parts[:, -1]),
                                torch.as_tensor(owner))
    return (sums / counts.clamp(min=1.0).unsqueeze(-1)).numpy().astype(np.float32)


def note_features(model_dir: str | Path, model_key: str, tokenizer, frame: pd.DataFrame, config,
                  root: str | Path, *, name: str) -> tuple[pd.DataFrame, bool, float]:
    """:func:`_encode_token_means` for every row of ``frame``, cached in ``root/<name>-<key>.parquet``.

    Returns (admission_id plus columns f0..f{width-1}, reused, seconds). The key covers the checkpoint's stage key,
    the reading settings and the notes with their splits. Reading training notes through a few windows, as chapter
    2's training does, also costs a fraction of reading them whole (the encoder pass is this chapter's largest
    cost).
    """
    from helpers.artifacts import cached_stage, code_key, frame_fingerprint, stage_key
    from helpers.clinicllm.config import READING_FIELDS, _config_part

    config = config.resolved()
    if config.classifier_input != "mean" or (config.note_reading == "windows" and config.window_pooling != "features"):
        raise ValueError("chapter 5 retrains the head on cached note features, which needs chapter 2's model to "
                         "read the mean over a note's tokens (classifier_input: mean, window_pooling: features); "
                         f"this run has classifier_input {config.classifier_input!r}, window_pooling "
                         f"{config.window_pooling!r}. Re-run chapter 2 with the tiny preset's defaults.")
    key = stage_key(model=model_key, reading=_config_part(config, READING_FIELDS), code=code_key(__name__),
                    train_windows=config.train_windows_per_note,
                    rows=frame_fingerprint(frame, ["admission_id", "split", "note_text"]))
    started = time.perf_counter()
    Path(root).mkdir(parents=True, exist_ok=True)

    def build(out: Path) -> None:
        means = _encode_token_means(Path(model_dir), tokenizer, frame, config)
        table = pd.DataFrame(means, columns=[f"f{i}" for i in range(means.shape[1])])
        table.insert(0, "admission_id", frame["admission_id"].to_numpy())
        table.to_parquet(out, index=False)

    table, reused = cached_stage(Path(root) / f"{name}-{key}.parquet", key, build, pd.read_parquet,
                                 label=f"chapter 5: {name} of {len(frame):,} admissions")
    return table, reused, time.perf_counter() - started


def feature_matrix(features: pd.DataFrame, admission_ids) -> np.ndarray:
    """The rows of ``features`` for ``admission_ids``, in that order (float32)."""
    indexed = features.set_index("admission_id")
    missing = pd.Index(admission_ids).difference(indexed.index)
    if len(missing):
        raise ValueError(f"{len(missing)} admission(s) have no cached note features (e.g. {missing[0]!r}); the "
                         "features must come from the same study frame.")
    return indexed.loc[list(admission_ids)].to_numpy(dtype=np.float32)


def check_start_matches_global(head: Head, features: pd.DataFrame, global_predictions: pd.DataFrame,
                               tolerance: float = 1e-4) -> float:
    """The largest gap between the global head on the cached features and chapter 2's scores of the same
    admissions; a gap above ``tolerance`` means the features do not reproduce the global model, and is refused."""
    rows = global_predictions.drop_duplicates("admission_id")
    gap = float(np.max(np.abs(head.scores(feature_matrix(features, rows["admission_id"]))
                              - rows["y_score"].to_numpy(dtype=float)))) if len(rows) else 0.0
    if gap > tolerance:
        raise ValueError(f"the global head on the cached note features differs from chapter 2's scores by up to "
                         f"{gap:.2g}; the features do not reproduce the global model (were chapter 2's model and "
                         "this run's reading settings changed since?). Re-run chapters 2 and 5.")
    return gap


def save_head(head: Head, path: Path, meta: dict) -> None:
    """The kept head's weights and what produced them (for re-use and inspection)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str))
