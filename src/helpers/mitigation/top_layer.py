"""The richer training variant of chapter 5: the **top encoder layer and the head** trained on cached outputs of the
frozen lower layer, beside the head-only variant of :mod:`helpers.mitigation.training`.

Why it is close to chapter 2's own fine-tuning. The tiny ClinicLLM has two encoder layers; chapter 2 fine-tunes
with the bottom one frozen (``finetune_frozen_layers: 1``). The bottom layer's output for a window therefore never
changes during fine-tuning, so it can be computed **once per window** (:func:`lower_layer_cache`) and each strategy
model then trains only what changes: the top layer reads the cached per-token vectors, its outputs are averaged over
each note's tokens (``window_pooling: features``) and the head reads that mean. What differs from chapter 2: the
word embeddings stay fixed (chapter 2 trains them at 30 times the encoder's rate; here they sit below the cache), a
training note is read through the same ``train_windows_per_note`` windows every epoch (drawn once, as the head-only
features draw them, instead of anew each epoch), and the learning rate is constant.

The cache holds only the real tokens of each window (no padding), in float16 by default: 64 numbers of 2 bytes per
token. Its size is reported (:attr:`LowerLayerCache.nbytes`). The top layer starts from the start model's (the
global model's, or the pretrained encoder's), so before any step a model equals its head-only twin at epoch 0.

Learning rates: the head at the chapter's ``strategy_learning_rate`` (as in the head-only variant), the top layer at
chapter 2's ``finetune_learning_rate`` (the rate it was fine-tuned with). Training steps compute the top layer at a
random ``finetune_position_share`` of each window's tokens, as chapter 2's steps do; evaluation and test scores read
every token.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.mitigation import training

VARIANTS = ("head", "top_layer")
VARIANT_LABELS = {"head": "head only", "top_layer": "top layer + head"}


def check_variant(value) -> str:
    """The ``strategy_training`` parameter, checked: one of :data:`VARIANTS`."""
    if value not in VARIANTS:
        raise ValueError(f"parameter 'strategy_training' is {value!r}; give \"head\" (the classification head "
                         "retrained on cached note features) or \"top_layer\" (the top encoder layer and the head "
                         "trained on cached outputs of the frozen lower layer).")
    return value


def other_variant(variant: str) -> str:
    """The variant the comparison trains beside ``variant``."""
    return VARIANTS[1 - VARIANTS.index(check_variant(variant))]


def comparison_name(experiment: str, variant: str) -> str:
    """The experiment name of ``experiment`` trained the other way, e.g. ``local_top_layer`` (metrics.csv)."""
    return f"{experiment}_{check_variant(variant)}"


# --------------------------------------------------------------------------------------------------------------
# The cache: the frozen lower layer's output at every real token of every window read
# --------------------------------------------------------------------------------------------------------------


@dataclass
class LowerLayerCache:
    """Per-token outputs of every encoder layer but the top one, for the windows of some notes.

    ``tokens`` stacks the real tokens of all windows (tokens x width); window ``w`` is
    ``tokens[starts[w]:starts[w + 1]]`` and belongs to note ``window_note[w]``, a row of ``admission_ids``.
    """

    admission_ids: np.ndarray
    tokens: np.ndarray
    starts: np.ndarray
    window_note: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.tokens.nbytes + self.starts.nbytes + self.window_note.nbytes)

    @property
    def n_windows(self) -> int:
        return len(self.window_note)

    def rows_of(self, admission_ids) -> np.ndarray:
        """The cache's note row of each admission (refused when one is not cached)."""
        index = pd.Index(self.admission_ids)
        rows = index.get_indexer(pd.Index(np.asarray(admission_ids).astype(str)))
        if (rows < 0).any():
            missing = np.asarray(admission_ids)[rows < 0][0]
            raise ValueError(f"{int((rows < 0).sum())} admission(s) have no cached lower-layer outputs (e.g. "
                             f"{missing!r}); the cache must cover every admission the trained models read.")
        return rows

    def windows_by_note(self) -> list[np.ndarray]:
        """The windows of each note row, in reading order (computed once)."""
        if getattr(self, "_by_note", None) is None:
            order = np.argsort(self.window_note, kind="stable")
            bounds = np.searchsorted(self.window_note[order], np.arange(len(self.admission_ids) + 1))
            self._by_note = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.admission_ids))]
        return self._by_note

    def save(self, folder: Path) -> None:
        """Write the arrays as .npy files into ``folder`` (the tokens only if they are not memory-mapped there)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("admission_ids", "tokens", "starts", "window_note"):
            value = getattr(self, name)
            if isinstance(value, np.memmap) and Path(value.filename).resolve() == (folder / f"{name}.npy").resolve():
                value.flush()
                continue
            np.save(folder / f"{name}.npy", np.asarray(value), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> LowerLayerCache:
        # The token vectors are memory-mapped: only the windows a batch reads are paged in.
        return cls(np.load(folder / "admission_ids.npy"), np.load(folder / "tokens.npy", mmap_mode="r"),
                   np.load(folder / "starts.npy"), np.load(folder / "window_note.npy"))


def _check_reading(config) -> None:
    if config.note_reading != "windows" or config.window_pooling != "features" or config.classifier_input != "mean" \
            or config.classifier_layers != "last":
        raise ValueError("strategy_training: \"top_layer\" needs chapter 2's model to read notes as windows whose "
                         "top-layer outputs are averaged before the head (note_reading: windows, window_pooling: "
                         "features, classifier_input: mean, classifier_layers: last); this run has "
                         f"{config.note_reading!r}, {config.window_pooling!r}, {config.classifier_input!r}, "
                         f"{config.classifier_layers!r}. Use strategy_training: \"head\".")


def encode_lower_layers(model, tokenizer, frame: pd.DataFrame, config, needed: np.ndarray,
                        dtype=np.float16, seed: int = 0, tokens_file: Path | None = None) -> LowerLayerCache:
    """The lower layers' outputs for the windows a model of this chapter reads of the ``needed`` rows of ``frame``:
    every window of a validation or test note, ``train_windows_per_note`` windows of a training note, drawn as
    :func:`helpers.mitigation.training.training_windows` draws them for the head-only features (same frame, same
    seed: the same windows). With ``tokens_file`` the token vectors are written straight into that .npy file
    (memory-mapped), so the cache never has to fit in memory at once."""
    from helpers.clinicllm.models import encode_until_last_layer
    from helpers.clinicllm.prediction import reading_inputs
    from helpers.progress import Throttled

    inputs, owner = reading_inputs(tokenizer, frame, config)
    owner = np.asarray(owner, dtype=np.int64)
    keep = training.training_windows(owner, frame["split"].eq("train").to_numpy(), config.train_windows_per_note,
                                     seed)
    keep &= np.asarray(needed, dtype=bool)[owner]
    kept = np.flatnonzero(keep)
    note_rows = np.flatnonzero(needed)
    row_of_note = np.full(len(frame), -1, dtype=np.int64)
    row_of_note[note_rows] = np.arange(len(note_rows))
    lengths = np.fromiter((len(inputs[w]) for w in kept), dtype=np.int64, count=len(kept))
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    shape = (int(starts[-1]), int(model.config.hidden_size))
    tokens = np.lib.format.open_memmap(tokens_file, mode="w+", dtype=dtype, shape=shape) if tokens_file \
        else np.empty(shape, dtype=dtype)
    model.eval()
    order = np.argsort(lengths, kind="stable")             # batches of similar length: little padding
    batch_size = int(config.eval_batch_size)
    progress = Throttled("chapter 5: lower-layer outputs", total=len(order), unit="window")
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            ids = torch.full((len(rows), int(lengths[rows].max())), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros(ids.shape, dtype=torch.long)
            for i, row in enumerate(rows):
                ids[i, :lengths[row]] = torch.as_tensor(inputs[kept[row]], dtype=torch.long)
                attention[i, :lengths[row]] = 1
            hidden, _ = encode_until_last_layer(model.bert, ids, attention, None, None, None)
            hidden = hidden.float().numpy()
            for i, row in enumerate(rows):
                tokens[starts[row]:starts[row + 1]] = hidden[i, :lengths[row]]
            progress.update(first + len(rows))
    ids = np.asarray(frame["admission_id"].astype(str).to_numpy()[note_rows], dtype=str)
    return LowerLayerCache(ids, tokens, starts, row_of_note[owner[kept]].astype(np.int32))


def lower_layer_cache(model_dir: str | Path, model_key: str, tokenizer, frame: pd.DataFrame, needed_ids, config,
                      root: str | Path, *, name: str) -> tuple[LowerLayerCache, bool, float]:
    """:func:`encode_lower_layers` of the start checkpoint for the admissions ``needed_ids`` (of the study
    ``frame``), cached in ``root/<name>-<key>/`` (float16 .npy files). Returns (cache, reused, seconds)."""
    from helpers.artifacts import cached_stage, code_key, frame_fingerprint, stage_key
    from helpers.clinicllm.config import READING_FIELDS, _config_part
    from helpers.clinicllm.models import load_classifier

    config = config.resolved()
    _check_reading(config)
    needed = frame["admission_id"].isin(set(needed_ids)).to_numpy()
    key = stage_key(model=model_key, reading=_config_part(config, READING_FIELDS), code=code_key(__name__),
                    train_windows=config.train_windows_per_note,
                    rows=frame_fingerprint(frame, ["admission_id", "split", "note_text"]),
                    needed=frame_fingerprint(frame[needed], ["admission_id"]))
    started = time.perf_counter()
    Path(root).mkdir(parents=True, exist_ok=True)

    def build(out: Path) -> None:
        # assembled in a folder beside ``out`` and renamed into place: an interrupted build is never taken for one
        import shutil
        import tempfile

        model = load_classifier(Path(model_dir), config.attention_kernel, classifier_input="mean")
        building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            encode_lower_layers(model, tokenizer, frame, config, needed, tokens_file=building / "tokens.npy"
                                ).save(building)
            if out.exists():
                shutil.rmtree(out)
            building.rename(out)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    cache, reused = cached_stage(Path(root) / f"{name}-{key}", key, build, LowerLayerCache.load,
                                 label=f"chapter 5: lower-layer outputs of {int(needed.sum()):,} admissions")
    return cache, reused, time.perf_counter() - started


# --------------------------------------------------------------------------------------------------------------
# The model trained: top layer + head on the cached lower-layer outputs
# --------------------------------------------------------------------------------------------------------------


class TopLayerModel(torch.nn.Module):
    """ClinicLLM above its frozen lower layers: the top encoder layer, the mean over each note's tokens, the head."""

    def __init__(self, layer: torch.nn.Module, head: training.Head, bert_config, position_share: float = 1.0):
        super().__init__()
        self.layer = layer
        self.head = head
        self.bert_config = bert_config
        self.position_share = float(position_share)

    def note_means(self, hidden: torch.Tensor, attention: torch.Tensor, window_note: torch.Tensor,
                   n_notes: int) -> torch.Tensor:
        """Mean of the top layer's output over the tokens of each note's windows (n_notes x width). In a training
        step with ``position_share`` below 1 the top layer is computed at a random share of each window's tokens
        (keys and values from every token), as chapter 2's steps do."""
        from transformers.masking_utils import create_bidirectional_mask

        from helpers.clinicllm.models import last_layer_at, pool_by_note, random_positions

        mask = create_bidirectional_mask(config=self.bert_config, inputs_embeds=hidden, attention_mask=attention)
        if self.training and torch.is_grad_enabled() and self.position_share < 1.0:
            positions, selected = random_positions(attention, self.position_share)
            output = last_layer_at(self.layer, hidden, mask, positions, self.bert_config._attn_implementation)
            weights = selected.unsqueeze(-1).to(output.dtype)
        else:
            output = self.layer(hidden, mask)
            output = output[0] if isinstance(output, tuple) else output
            weights = attention.unsqueeze(-1).to(output.dtype)
        sums, counts = pool_by_note((output * weights).sum(dim=1), weights.sum(dim=(1, 2)), window_note)
        if sums.shape[0] < n_notes:
            sums = torch.cat([sums, sums.new_zeros((n_notes - sums.shape[0], sums.shape[1]))])
            counts = torch.cat([counts, counts.new_zeros(n_notes - counts.shape[0])])
        return sums / counts.clamp(min=1.0).unsqueeze(-1)

    def forward(self, hidden, attention, window_note, n_notes):
        return self.head(self.note_means(hidden, attention, window_note, n_notes))


def _batch(cache: LowerLayerCache, windows: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded float32 lower-layer outputs, attention mask and note index (0..len(windows)-1) of notes' windows."""
    flat = np.concatenate(windows) if windows else np.zeros(0, dtype=np.int64)
    note = np.repeat(np.arange(len(windows)), [len(w) for w in windows])
    lengths = cache.starts[flat + 1] - cache.starts[flat]
    width = int(lengths.max()) if len(flat) else 1
    hidden = np.zeros((len(flat), width, cache.tokens.shape[1]), dtype=np.float32)
    attention = np.zeros((len(flat), width), dtype=np.int64)
    for i, (w, n) in enumerate(zip(flat, lengths)):
        hidden[i, :n] = cache.tokens[cache.starts[w]:cache.starts[w] + n]
        attention[i, :n] = 1
    return torch.from_numpy(hidden), torch.from_numpy(attention), torch.as_tensor(note, dtype=torch.long)


def note_means(model: TopLayerModel, cache: LowerLayerCache, rows: np.ndarray, batch_windows: int = 128
               ) -> np.ndarray:
    """The mean of the top layer over each note's tokens (evaluation mode): the features the head reads."""
    by_note = cache.windows_by_note()
    was_training = model.training
    model.eval()
    out, batch, sizes = [], [], 0
    with torch.inference_mode():
        for row in rows:
            batch.append(by_note[row])
            sizes += len(by_note[row])
            if sizes >= batch_windows:
                out.append(model.note_means(*_batch(cache, batch), len(batch)))
                batch, sizes = [], 0
        if batch:
            out.append(model.note_means(*_batch(cache, batch), len(batch)))
    model.train(was_training)
    width = cache.tokens.shape[1]
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, width), dtype=np.float32)


def scores(model: TopLayerModel, cache: LowerLayerCache, rows: np.ndarray) -> np.ndarray:
    """Probability of readmission of each note row (evaluation mode, float64)."""
    return model.head.scores(note_means(model, cache, rows))


@dataclass
class TrainedTopLayer:
    model: TopLayerModel
    run: training.StoppedRun
    steps: int
    best_steps: int
    seconds: float

    @property
    def head(self) -> training.Head:
        return self.model.head


def train_top_layer(start: TopLayerModel, cache: LowerLayerCache, train_ids, train_y, val_ids, val_y,
                    rule: training.StoppingRule, seed: int, layer_learning_rate: float) -> TrainedTopLayer:
    """Train a copy of ``start`` (top layer and head; ``start`` is left unchanged) on the training admissions with
    AdamW, ``rule.batch_size`` notes per step, and the stopping rule on the validation AUROC."""
    started = time.perf_counter()
    torch.manual_seed(int(seed))
    order_rng = np.random.default_rng(int(seed))
    model = copy.deepcopy(start)
    optimizer = torch.optim.AdamW([{"params": model.head.parameters(), "lr": rule.learning_rate},
                                   {"params": model.layer.parameters(), "lr": float(layer_learning_rate)}],
                                  weight_decay=0.01)
    by_note = cache.windows_by_note()
    train_rows, val_rows = cache.rows_of(train_ids), cache.rows_of(val_ids)
    labels = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    steps_per_epoch = int(np.ceil(len(train_rows) / rule.batch_size))

    def run_epoch(_epoch: int) -> float:
        model.train()
        order = order_rng.permutation(len(train_rows))
        total = 0.0
        for first in range(0, len(order), rule.batch_size):
            picked = order[first:first + rule.batch_size]
            hidden, attention, note = _batch(cache, [by_note[train_rows[i]] for i in picked])
            loss = torch.nn.functional.cross_entropy(model(hidden, attention, note, len(picked)), labels[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(picked)
        return total / max(len(order), 1)

    run = training.train_with_early_stopping(
        run_epoch, lambda: training.validation_auroc(val_y, scores(model, cache, val_rows)),
        snapshot=lambda: copy.deepcopy(model.state_dict()), restore=model.load_state_dict, rule=rule)
    model.eval()
    return TrainedTopLayer(model, run, run.epochs_run * steps_per_epoch, run.best_epoch * steps_per_epoch,
                           time.perf_counter() - started)


def start_model(model_dir: str | Path, config, head: training.Head | None = None) -> TopLayerModel:
    """The start checkpoint's top encoder layer with a copy of ``head`` (the head-only variant's start head; None:
    the checkpoint's own pooler and classifier)."""
    from helpers.clinicllm.models import load_classifier

    model = load_classifier(Path(model_dir), config.attention_kernel, classifier_input="mean")
    layer = copy.deepcopy(model.bert.encoder.layer[-1])
    dropout = config.finetune_dropout
    if dropout is not None:  # chapter 2's fine-tuning dropout (tiny: none), not the checkpoint's
        for module in layer.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = float(dropout)
    share = float(config.finetune_position_share or 1.0)
    if head is None:
        head = training.Head(model.config.hidden_size, float(config.hidden_dropout or 0.0))
        with torch.no_grad():
            head.dense.load_state_dict(model.bert.pooler.dense.state_dict())
            head.classifier.load_state_dict(model.classifier.state_dict())
    return TopLayerModel(layer, copy.deepcopy(head), model.config, position_share=share)


def trainer(cache: LowerLayerCache, start_for, layer_learning_rate: float):
    """The top-layer variant as :func:`helpers.mitigation.strategies.run_units` calls it: ``train(unit, rule,
    seed)`` trains ``start_for(unit)`` and returns (what was trained, ``score(frame)``)."""
    def train(unit, rule: training.StoppingRule, seed: int):
        trained = train_top_layer(start_for(unit), cache, unit.train["admission_id"],
                                  unit.train["readmitted_30d"].to_numpy(), unit.selection["admission_id"],
                                  unit.selection["readmitted_30d"].to_numpy(), rule, seed, layer_learning_rate)
        return trained, lambda frame: scores(trained.model, cache, cache.rows_of(frame["admission_id"]))

    return train
