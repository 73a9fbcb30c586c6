"""Scoring notes with a fine-tuned model: window or note scores, and the features the head reads."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
import transformers

from helpers.progress import Throttled

from .config import ClinicLLMConfig
from .distributed import _quiet_transformers
from .encoding import NoteWindows, encode_notes, note_token_ids, note_windows, pool_window_scores
from .models import load_classifier, pool_by_note

def reading_windows(tokenizer, texts: list[str], config: ClinicLLMConfig) -> NoteWindows:
    return note_windows(note_token_ids(tokenizer, texts), config.max_length, config.window_stride,
                        tokenizer.cls_token_id, tokenizer.sep_token_id)

__all__ = ['reading_windows', 'batched_forward', 'note_head_inputs', 'reading_inputs', 'predict_scores', 'note_embeddings']


def batched_forward(input_ids: list, batch_size: int, pad_id: int, forward, label: str | None = None) -> list:
    """``forward(input_ids, attention_mask)`` over length-sorted batches; returns the outputs in input order.

    Sorting by length keeps padding minimal; ``torch.inference_mode`` skips autograd bookkeeping. Progress goes to
    the terminal and the run's log under ``label``.
    """
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    order = np.argsort(lengths, kind="stable")
    outputs: list = [None] * len(input_ids)
    progress = Throttled(label, total=len(input_ids), unit="window") if label else None
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = int(lengths[rows].max())
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, row in enumerate(rows):
                ids[i, :lengths[row]] = torch.as_tensor(input_ids[row], dtype=torch.long)
                attention[i, :lengths[row]] = 1
            values = forward(ids, attention)
            for i, row in enumerate(rows):
                outputs[row] = values[i]
            if progress:
                progress.update(start + len(rows))
    return outputs


def note_head_inputs(model, inputs: list, owner: np.ndarray, n_notes: int, batch_size: int, pad_id: int,
                      label: str | None = None, device=None) -> np.ndarray:
    """The head input of each note from all its windows (``window_pooling: features``): the windows' token sums
    and counts added up per note (``owner``: the note of each window), then the mean through the pooler; float32,
    notes x hidden."""
    device = device or torch.device("cpu")

    def forward(ids, attention):
        sums, counts = model.token_sums(input_ids=ids.to(device), attention_mask=attention.to(device))
        return torch.cat([sums.float(), counts.float().unsqueeze(-1)], dim=-1).cpu().numpy()

    parts = np.stack(batched_forward(inputs, batch_size, pad_id, forward, label=label))
    with torch.inference_mode():
        sums, counts = pool_by_note(torch.as_tensor(parts[:, :-1]), torch.as_tensor(parts[:, -1]),
                                    torch.as_tensor(np.asarray(owner, dtype=np.int64)))
        if len(counts) < n_notes:
            raise ValueError(f"note_head_inputs: windows for {len(counts)} notes, expected {n_notes}.")
        mean = (sums / counts.clamp(min=1.0).unsqueeze(-1)).to(device)
        return model.head_from_mean(mean).float().cpu().numpy()


def reading_inputs(tokenizer, frame: pd.DataFrame, config: ClinicLLMConfig) -> tuple[list, np.ndarray | None]:
    """The inputs the model reads for each row, and for ``windows`` the row of each window (None for ``head``)."""
    texts = frame["note_text"].tolist()
    if config.note_reading == "head":
        return encode_notes(tokenizer, texts, config.max_length).input_ids, None
    windows = reading_windows(tokenizer, texts, config)
    return windows.input_ids, windows.note_index


def predict_scores(model_dir: str | os.PathLike, tokenizer, frame: pd.DataFrame,
                   config: ClinicLLMConfig, label: str | None = None) -> np.ndarray:
    """Probability of 30-day readmission for each row of ``frame`` (same order), from a fine-tuned model.

    ``note_reading: head`` scores each note's first ``max_length`` tokens; ``windows`` scores every window of every
    note and pools them per note (``window_pooling``). Inputs are scored in batches of similar length under
    ``torch.inference_mode`` in float32, and the scores are put back in the frame's order.
    """
    config = config.resolved()
    if "note_text" not in frame.columns:
        raise ValueError("predict_scores: the frame lacks column 'note_text'.")
    if len(frame) == 0:
        return np.zeros(0, dtype=np.float64)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_classifier(model_dir, config.attention_kernel)
    model.to(device).eval()
    inputs, owner = reading_inputs(tokenizer, frame, config)

    def forward(ids, attention):
        logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits
        return torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy()

    if owner is not None and config.window_pooling == "features":
        features = note_head_inputs(model, inputs, owner, len(frame), config.eval_batch_size, tokenizer.pad_token_id,
                                     label=label, device=device)
        with torch.inference_mode():
            logits = model.classifier(torch.as_tensor(features, device=device))
        return torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy().astype(np.float64)
    scores = np.asarray(batched_forward(inputs, config.eval_batch_size, tokenizer.pad_token_id, forward, label),
                        dtype=np.float64)
    if owner is None:
        return scores
    return pool_window_scores(scores, owner, len(frame), config.window_pooling, config.window_pooling_c)


def note_embeddings(model_dir: str | os.PathLike, tokenizer, frame: pd.DataFrame,
                    config: ClinicLLMConfig, label: str | None = None) -> np.ndarray:
    """The vector the classification head reads, for each row's note (rows x hidden size, float32, frame order):
    the last encoder layer at [CLS] (``classifier_input: cls``) or its mean over the tokens (``mean``).

    Admissions close in it are close for the model.
    With ``note_reading: windows`` a note's vector is the mean of its windows' [CLS] vectors.
    """
    config = config.resolved()
    if len(frame) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with _quiet_transformers():
        encoder = transformers.BertModel.from_pretrained(str(model_dir), local_files_only=True,
                                                         attn_implementation=config.attention_kernel,
                                                         add_pooling_layer=False)
    encoder.to(device).eval()
    inputs, owner = reading_inputs(tokenizer, frame, config)

    def forward(ids, attention):
        hidden = encoder(input_ids=ids.to(device), attention_mask=attention.to(device)).last_hidden_state.float()
        if config.classifier_input == "mean":
            weights = attention.to(device).unsqueeze(-1).float()
            return ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)).cpu().numpy()
        return hidden[:, 0].cpu().numpy()

    vectors = np.stack(batched_forward(inputs, config.eval_batch_size, tokenizer.pad_token_id, forward, label))
    if owner is None:
        return vectors.astype(np.float32)
    sums = np.zeros((len(frame), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, vectors)
    return (sums / np.bincount(owner, minlength=len(frame))[:, None]).astype(np.float32)
