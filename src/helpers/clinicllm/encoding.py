"""Notes as model inputs: the head of each note (``note_reading: head``) or all its windows (``windows``)."""

from __future__ import annotations

import functools
import re
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ['EncodedNotes', 'encode_notes', 'NOTE_READINGS', 'WINDOW_POOLINGS', 'note_token_ids', 'window_starts',
           'NoteWindows', 'note_windows', 'pool_window_scores', 'RandomWindowNotes', 'NoteWindowBags',
           'WindowBagCollator']

NOTE_READINGS = ("head", "windows")
"""``head``: the first max_length tokens of a note (the rest is never read). ``windows``: the whole note, cut into
windows of max_length tokens, each scored, the scores combined per note."""
WINDOW_POOLINGS = ("clinicalbert", "mean", "max")
"""How a note's window scores become one: ClinicalBERT's (p_max + p_mean n/c) / (1 + n/c), the mean, or the max.
(``window_pooling: features`` pools before the head instead, see :class:`NoteWindowBags`.)"""


class EncodedNotes(torch.utils.data.Dataset):
    """Notes tokenized once (truncated to the token limit, not padded), optionally with labels.

    Padding is left to the collator, per batch, so that a batch of short notes costs little.
    """

    def __init__(self, input_ids: list[list[int]], labels: np.ndarray | None = None,
                 special_tokens_mask: list[list[int]] | None = None):
        self.input_ids = input_ids
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.special_tokens_mask = special_tokens_mask

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"input_ids": self.input_ids[index]}
        if self.labels is not None:
            item["labels"] = int(self.labels[index])
        if self.special_tokens_mask is not None:
            item["special_tokens_mask"] = self.special_tokens_mask[index]
        return item


def encode_notes(tokenizer, texts: list[str], max_length: int, labels=None,
                 with_special_tokens_mask: bool = False) -> EncodedNotes:
    """Tokenize and truncate notes to ``max_length`` tokens ([CLS] ... [SEP]), without padding.

    Padding is the collator's job, per batch (dynamic padding), so a batch of short notes stays short.
    """
    texts = list(texts)
    options = dict(truncation=True, max_length=int(max_length), add_special_tokens=True, return_attention_mask=False,
                   return_token_type_ids=False, return_special_tokens_mask=with_special_tokens_mask)
    if _splits_on_whitespace(tokenizer):
        # Only the first max_length words can reach the model (every word is at least one token), so tokenize
        # just those: a 400-word note cut to 128 tokens costs a third of the work. A note whose head gives
        # too few tokens (only possible if its words vanish in normalisation) is tokenized whole.
        heads = [_leading_words(text, int(max_length)) for text in texts]
        encoded = tokenizer(heads, **options)
        short = [i for i, (head, text, ids) in enumerate(zip(heads, texts, encoded["input_ids"]))
                 if len(head) < len(text) and len(ids) < max_length]
        if short:
            redo = tokenizer([texts[i] for i in short], **options)
            for key in encoded:
                for position, i in enumerate(short):
                    encoded[key][i] = redo[key][position]
    else:
        encoded = tokenizer(texts, **options)
    special = encoded["special_tokens_mask"] if with_special_tokens_mask else None
    return EncodedNotes(encoded["input_ids"], labels=labels, special_tokens_mask=special)


@functools.lru_cache(maxsize=8)
def _head_pattern(n_words: int) -> re.Pattern:
    return re.compile(r"(?:[ \t\n\r]*[^ \t\n\r]+){1,%d}" % n_words)


def _leading_words(text: str, n_words: int) -> str:
    """The text up to the end of its ``n_words``-th word, cut at an ASCII space/tab/newline (never inside a word)."""
    match = _head_pattern(n_words).match(text)
    return text[:match.end()] if match else text


def _splits_on_whitespace(tokenizer) -> bool:
    """True for BERT-style tokenizers (BertPreTokenizer), whose tokens never straddle ASCII whitespace."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and type(backend.pre_tokenizer).__name__ == "BertPreTokenizer"


# --------------------------------------------------------------------------------------------------------------
# Reading the whole note: windows
# --------------------------------------------------------------------------------------------------------------

_TOKEN_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def note_token_ids(tokenizer, texts: list[str], chunk: int = 4000) -> list[np.ndarray]:
    """Every note's token ids, whole (no [CLS]/[SEP], no truncation), as int32 arrays in the order of ``texts``.

    One pass of the Rust tokenizer per note and tokenizer object: the ids are remembered (per tokenizer, per text),
    so the tokenization report, fine-tuning and predictions of a chapter tokenize each note once.
    """
    texts = list(texts)
    cache = _TOKEN_CACHE.setdefault(tokenizer, {})
    missing = list(dict.fromkeys(text for text in texts if text not in cache))
    backend = getattr(tokenizer, "backend_tokenizer", None)
    for start in range(0, len(missing), chunk):
        part = missing[start:start + chunk]
        if backend is not None and hasattr(backend, "encode_batch_fast"):
            ids = [encoding.ids for encoding in backend.encode_batch_fast(part, add_special_tokens=False)]
        else:
            ids = tokenizer(part, add_special_tokens=False, truncation=False, return_attention_mask=False,
                            return_token_type_ids=False, verbose=False)["input_ids"]
        for text, row in zip(part, ids):
            cache[text] = np.asarray(row, dtype=np.int32)
    return [cache[text] for text in texts]


def window_starts(n_tokens: int, content: int, stride: int) -> np.ndarray:
    """Where each window of ``content`` tokens starts in a note of ``n_tokens`` tokens, one every ``stride``.

    The first window starts at 0; windows follow every ``stride`` tokens until one reaches the note's end, so the
    windows cover every token and none lies wholly inside the previous one's span past the end. An empty note
    still gets one (empty) window.
    """
    if content < 1 or stride < 1:
        raise ValueError(f"window_starts: content ({content}) and stride ({stride}) must be at least 1 token.")
    extra = max(0, int(n_tokens) - content)
    return np.arange(0, 1 + -(-extra // stride)) * stride


@dataclass
class NoteWindows:
    """All windows of a set of notes: ``input_ids`` per window ([CLS] window [SEP]) and the note each belongs to."""

    input_ids: list[np.ndarray]
    note_index: np.ndarray
    """Row (in the notes given) of each window's note; windows of one note are consecutive, in reading order."""
    n_notes: int

    @property
    def windows_per_note(self) -> np.ndarray:
        return np.bincount(self.note_index, minlength=self.n_notes)

    def tokens_per_note(self) -> np.ndarray:
        """Tokens the model reads per note ([CLS] and [SEP] of every window included)."""
        lengths = np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))
        return np.bincount(self.note_index, weights=lengths, minlength=self.n_notes)


def note_windows(token_ids: list[np.ndarray], max_length: int, stride: int | None, cls_id: int,
                 sep_id: int) -> NoteWindows:
    """Cut each note into windows of ``max_length`` tokens ([CLS] and [SEP] included), ``stride`` content tokens
    apart (None: ``max_length - 2``, windows side by side without overlap). A window never holds tokens of two notes.
    """
    content = int(max_length) - 2
    stride = content if stride is None else int(stride)
    if content < 1:
        raise ValueError(f"note_windows: max_length is {max_length}; a window needs at least 3 tokens.")
    if not 1 <= stride <= content:
        raise ValueError(f"window_stride is {stride}; use 1 to max_length - 2 = {content} (no gap between windows).")
    cls, sep = np.array([cls_id], dtype=np.int32), np.array([sep_id], dtype=np.int32)
    windows, owner = [], []
    for row, ids in enumerate(token_ids):
        for start in window_starts(len(ids), content, stride):
            windows.append(np.concatenate([cls, ids[start:start + content], sep]))
            owner.append(row)
    return NoteWindows(windows, np.asarray(owner, dtype=np.int64), len(token_ids))


def pool_window_scores(scores: np.ndarray, note_index: np.ndarray, n_notes: int, pooling: str = "clinicalbert",
                       c: float = 2.0) -> np.ndarray:
    """One score per note from its windows' scores (probabilities).

    ``clinicalbert`` (Huang et al., 2019): (p_max + p_mean * n / c) / (1 + n / c) over a note's n windows: a note
    with few windows is scored mostly by its most alarming window, one with many mostly by the mean, since a long
    note has more chances of one noisy high window. ``mean`` and ``max`` are the two ends. A note with one window
    gets that window's score under every pooling.
    """
    if pooling not in WINDOW_POOLINGS:
        raise ValueError(f"window_pooling is {pooling!r}; choose one of {list(WINDOW_POOLINGS)}.")
    if not np.isfinite(c) or c <= 0:
        raise ValueError(f"window_pooling_c is {c}; it must be a positive number (ClinicalBERT: 2).")
    scores = np.asarray(scores, dtype=np.float64)
    note_index = np.asarray(note_index, dtype=np.int64)
    if scores.shape != note_index.shape:
        raise ValueError(f"pool_window_scores: {len(scores)} scores but {len(note_index)} window owners.")
    n = np.bincount(note_index, minlength=n_notes).astype(np.float64)
    if (n == 0).any():
        raise ValueError(f"pool_window_scores: note rows {np.flatnonzero(n == 0)[:5].tolist()} have no window.")
    mean = np.bincount(note_index, weights=scores, minlength=n_notes) / n
    peak = np.full(n_notes, -np.inf)
    np.maximum.at(peak, note_index, scores)
    if pooling == "mean":
        return mean
    if pooling == "max":
        return peak
    return (peak + mean * n / c) / (1 + n / c)


class RandomWindowNotes(torch.utils.data.Dataset):
    """Training notes for ``note_reading: windows``: each time a note is drawn, one of its windows at random.

    Used for MLM pretraining (no labels, with the special-tokens mask the masking collator reads) and fine-tuning.

    An epoch then costs what it costs with ``head`` (one window of max_length tokens per note), while over the
    epochs the model sees text from the whole note; each window carries its note's label. Each draw is a function of
    (``seed``, epoch, note) alone, not of how many draws came before, so a run is repeatable and a run resumed from
    a checkpoint in the middle of an epoch draws the windows the uninterrupted run drew. The Trainer sets the epoch
    through :class:`~helpers.clinicllm.trainer.WindowEpochs`.
    """

    def __init__(self, windows: NoteWindows, labels: np.ndarray | None = None, seed: int = 0,
                 with_special_tokens_mask: bool = False):
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        if self.labels is not None and len(self.labels) != windows.n_notes:
            raise ValueError(f"RandomWindowNotes: {len(self.labels)} labels for {windows.n_notes} notes.")
        self.with_special_tokens_mask = with_special_tokens_mask
        bounds = np.concatenate([[0], np.cumsum(windows.windows_per_note)])
        self.first, self.count = bounds[:-1], np.diff(bounds)
        self.windows = windows
        self.seed = int(seed)
        self.epoch = 0
        # Lengths for the length-grouped sampler: the head window's (all but a note's last window are full).
        self.input_ids = [windows.input_ids[first] for first in self.first]

    def __len__(self) -> int:
        return len(self.first)

    def use_epoch(self, epoch: int) -> None:
        """Draw the windows of pass number ``epoch`` (0 for the first) from now on."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        draw = np.random.default_rng([self.seed, self.epoch, int(index)]).integers(self.count[index])
        window = self.first[index] + int(draw)
        ids = self.windows.input_ids[window].tolist()
        item: dict[str, Any] = {"input_ids": ids}
        if self.labels is not None:
            item["labels"] = int(self.labels[index])
        if self.with_special_tokens_mask:
            item["special_tokens_mask"] = [1] + [0] * (len(ids) - 2) + [1]
        return item


class NoteWindowBags(torch.utils.data.Dataset):
    """Notes as bags of windows, for ``window_pooling: features``: each item is every window of one note (or, with
    ``max_windows``, that many of them drawn at random per epoch, in reading order) and the note's label.

    The model reads all the windows of a note in one step and pools their token features into one note vector
    before its head, so the label, which belongs to the whole note, is never pinned on a window that may not hold
    the facts behind it. Draws depend on (``seed``, epoch, note) alone, as in :class:`RandomWindowNotes`.
    """

    def __init__(self, windows: NoteWindows, labels: np.ndarray | None = None, seed: int = 0,
                 max_windows: int | None = None):
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        if self.labels is not None and len(self.labels) != windows.n_notes:
            raise ValueError(f"NoteWindowBags: {len(self.labels)} labels for {windows.n_notes} notes.")
        bounds = np.concatenate([[0], np.cumsum(windows.windows_per_note)])
        self.first, self.count = bounds[:-1], np.diff(bounds)
        self.windows = windows
        self.seed = int(seed)
        self.max_windows = None if max_windows is None else int(max_windows)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.first)

    def use_epoch(self, epoch: int) -> None:
        """Draw the windows of pass number ``epoch`` (0 for the first) from now on."""
        self.epoch = int(epoch)

    def window_rows(self, index: int) -> np.ndarray:
        """Rows (in ``windows``) of the windows item ``index`` reads this epoch, in reading order."""
        first, count = int(self.first[index]), int(self.count[index])
        if self.max_windows is None or count <= self.max_windows:
            return np.arange(first, first + count)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        return first + np.sort(rng.choice(count, self.max_windows, replace=False))

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"input_ids": [self.windows.input_ids[w].tolist() for w in self.window_rows(index)]}
        if self.labels is not None:
            item["labels"] = int(self.labels[index])
        return item


class WindowBagCollator:
    """Batches :class:`NoteWindowBags` items: every window of the batch's notes in one padded tensor, with
    ``window_note`` telling which note (row of ``labels``) each window belongs to."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 8):
        self.pad_token_id = int(pad_token_id)
        self.multiple = int(pad_to_multiple_of)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        windows = [ids for feature in features for ids in feature["input_ids"]]
        owner = [note for note, feature in enumerate(features) for _ in feature["input_ids"]]
        width = max(len(ids) for ids in windows)
        width = -(-width // self.multiple) * self.multiple
        input_ids = torch.full((len(windows), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(windows), width), dtype=torch.long)
        for row, ids in enumerate(windows):
            input_ids[row, :len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention[row, :len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention,
                 "window_note": torch.as_tensor(owner, dtype=torch.long)}
        if "labels" in features[0]:
            batch["labels"] = torch.as_tensor([feature["labels"] for feature in features], dtype=torch.long)
        return batch
