"""The WordPiece tokenizer trained on the notes, and the report of what the token limit cuts off."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .config import SPECIAL_TOKENS
from .encoding import note_token_ids
from .distributed import _fresh_temp_dir, _publish_dir, _quiet_transformers

__all__ = ['train_tokenizer', 'load_tokenizer', 'tokenization_report', 'tokens_read', 'token_lengths']

def train_tokenizer(texts: list[str], vocab_size: int, out_dir: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on ``texts`` and save it (atomically) to ``out_dir``.

    BERT normaliser (lower-casing, accent stripping, control characters removed) and pre-tokeniser (split on
    whitespace and punctuation), the special tokens [PAD] [UNK] [CLS] [SEP] [MASK], and the [CLS] ... [SEP]
    template. Train it on the training notes only: a vocabulary learnt from test notes would leak their words.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("train_tokenizer got no texts; pass the training split's note_text (at least one note).")
    if (isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer))
            or vocab_size <= len(SPECIAL_TOKENS)):
        raise ValueError(
            f"train_tokenizer: vocab_size is {vocab_size!r}; use an integer well above {len(SPECIAL_TOKENS)}."
        )
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    # Hugging Face's WordPiece trainer numbers the word-inside pieces ("##e") in hash-map order, which changes from
    # process to process, and breaks ties between equally frequent merges by those numbers, so the same notes gave
    # different vocabularies (tokenizers issue 1794). Handing it every "##" piece up front, in sorted order, leaves
    # nothing to number by hash and makes the vocabulary a function of the notes alone.
    word_inside_pieces = [f"##{char}" for char in _alphabet(texts, normalizer)]
    trainer = trainers.WordPieceTrainer(
        vocab_size=int(vocab_size), special_tokens=SPECIAL_TOKENS + word_inside_pieces, min_frequency=2,
        show_progress=False,
    )
    draft = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    draft.normalizer = normalizer
    draft.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    draft.train_from_iterator(texts, trainer=trainer, length=len(texts))
    # The "##" pieces were passed as special tokens only to fix their numbers; the tokenizer that is kept has the
    # same vocabulary with the five BERT special tokens as its only special ones.
    backend = Tokenizer(models.WordPiece(vocab=draft.get_vocab(), unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.add_special_tokens(SPECIAL_TOKENS)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    backend.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    final = Path(out_dir)
    temp = _fresh_temp_dir(final)
    tokenizer.save_pretrained(temp)
    _publish_dir(temp, final)
    return tokenizer


def _alphabet(texts: list[str], normalizer) -> list[str]:
    """The sorted characters of ``texts`` after normalisation (lower-cased, accents stripped), spaces left out."""
    raw = set()
    for text in texts:
        raw.update(text)
    return sorted({char for piece in raw for char in normalizer.normalize_str(piece) if not char.isspace()})


def load_tokenizer(path: str | os.PathLike):
    """Load a tokenizer saved by :func:`train_tokenizer` or shipped with a checkpoint, from local files only."""
    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def token_lengths(tokenizer, texts: list[str], chunk: int = 2000, remember: bool = False) -> np.ndarray:
    """Tokens per text with [CLS] and [SEP], before any truncation.

    Counted in chunks straight from the Rust tokenizer (no offsets, no Python lists of ids), so measuring 25k
    long notes needs neither minutes nor gigabytes. With ``remember`` the ids are kept
    (:func:`~helpers.clinicllm.encoding.note_token_ids`) for the windows that fine-tuning and predictions read.
    """
    texts = list(texts)
    if remember:
        specials = tokenizer.num_special_tokens_to_add(pair=False)
        return np.array([len(ids) + specials for ids in note_token_ids(tokenizer, texts)], dtype=np.int64)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        if backend is not None and hasattr(backend, "encode_batch_fast"):
            counts = [len(encoding) for encoding in backend.encode_batch_fast(part, add_special_tokens=True)]
        else:
            encoded = tokenizer(part, add_special_tokens=True, truncation=False, return_attention_mask=False,
                                return_token_type_ids=False, verbose=False)
            counts = [len(ids) for ids in encoded["input_ids"]]
        lengths[start:start + len(part)] = counts
    return lengths


def tokenization_report(tokenizer, texts: list[str], max_length: int) -> dict[str, Any]:
    """How the tokenizer sees the notes and how much the token limit cuts off.

    Returns the vocabulary size, the tokens per note ([CLS] and [SEP] included, before truncation) as median and
    interquartile range, words per note (whitespace-separated), the share of notes longer than ``max_length``
    (their end is never read by the model) and the mean share of each note's tokens that is kept.
    """
    texts = list(texts)
    _check_max_length(max_length)
    if not texts:
        raise ValueError("tokenization_report got no texts; pass at least one note.")
    lengths = token_lengths(tokenizer, texts)
    return _report_from_lengths(len(tokenizer), lengths, _word_counts(texts), max_length)


def _word_counts(texts: list[str]) -> np.ndarray:
    return np.fromiter((len(text.split()) for text in texts), dtype=np.int64, count=len(texts))


def _check_max_length(max_length: int) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 2:
        raise ValueError(f"max_length is {max_length!r}; use an integer of at least 2 (the model's token limit).")


def tokens_read(lengths: np.ndarray, max_length: int, stride: int | None = None) -> dict[str, np.ndarray]:
    """Per note of ``lengths`` tokens ([CLS] and [SEP] included): the tokens the model reads with ``head`` (one
    window) and with ``windows`` (every window, its own [CLS] and [SEP] included), and the number of windows."""
    content = int(max_length) - 2
    stride = content if stride is None else int(stride)
    body = np.maximum(np.asarray(lengths, dtype=np.int64) - 2, 0)
    n_windows = 1 + -(-np.maximum(body - content, 0) // stride)
    # Window k starts at k * stride and holds min(content, body - k * stride) tokens, plus [CLS] and [SEP].
    k = np.arange(int(n_windows.max()) if len(n_windows) else 0)
    held = np.clip(body[:, None] - k[None, :] * stride, 0, content) * (k[None, :] < n_windows[:, None])
    return {"head": np.minimum(body, content) + 2, "windows": held.sum(axis=1) + 2 * n_windows,
            "n_windows": n_windows}


def _report_from_lengths(vocab_size: int, lengths: np.ndarray, words: np.ndarray, max_length: int,
                         stride: int | None = None) -> dict[str, Any]:
    kept = np.minimum(lengths, max_length) / np.maximum(lengths, 1)
    read = tokens_read(lengths, max_length, stride)
    q1, median, q3 = np.percentile(lengths, [25, 50, 75])
    w1, wmed, w3 = np.percentile(words, [25, 50, 75])
    return {
        "vocab_size": int(vocab_size),
        "n_notes": int(len(lengths)),
        "max_length": int(max_length),
        "tokens_per_note_median": float(median),
        "tokens_per_note_q1": float(q1),
        "tokens_per_note_q3": float(q3),
        "tokens_per_note_mean": float(lengths.mean()),
        "words_per_note_median": float(wmed),
        "words_per_note_q1": float(w1),
        "words_per_note_q3": float(w3),
        "tokens_per_word": float(lengths.sum() / max(1, words.sum())),
        "share_truncated": float(np.mean(lengths > max_length)),
        "mean_share_of_tokens_kept": float(kept.mean()),
        "tokens_read_head_mean": float(read["head"].mean()),
        "tokens_read_windows_mean": float(read["windows"].mean()),
        "windows_per_note_mean": float(read["n_windows"].mean()),
    }
