"""Chapter 2 as a reader sees it: no noise in the executed notebook, and the did-it-learn warning when it did not.

The executed chapter of the smoke run (conftest's ``smoke_run``, shared with the other slow tests) must not carry
progress bars ("Loading weights", "Writing model shards", tqdm), tracebacks, warnings or the run's absolute path in
any cell output: all of those would reach the rendered book.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from helpers.clinicllm import learning_check, learning_display

NOISE = [
    re.compile(r"Loading weights|Writing model shards|it/s\]|\d+%\|"),        # tqdm / transformers progress bars
    re.compile(r"Traceback \(most recent call last\)|Error:"),
    re.compile(r"Warning\b|warnings\.warn|UserWarning|FutureWarning|DeprecationWarning"),
]


def _output_texts(notebook) -> list[tuple[int, str]]:
    texts = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append((index, output.get("text", "")))
            elif output.get("output_type") == "error":
                texts.append((index, "Traceback (most recent call last) " + output.get("ename", "")))
            else:
                for kind, value in output.get("data", {}).items():
                    if kind.startswith("text/"):
                        texts.append((index, value if isinstance(value, str) else "".join(value)))
    return texts


@pytest.mark.slow
def test_executed_chapter_2_has_no_progress_bars_tracebacks_warnings_or_paths(smoke_run):
    run_dir, _ = smoke_run
    notebook = nbformat.read(run_dir / "notebooks" / "02_clinicllm.ipynb", as_version=4)
    outputs = _output_texts(notebook)
    assert outputs, "the executed chapter has no outputs at all"
    absolute = str(run_dir.resolve())
    for index, text in outputs:
        for pattern in NOISE:
            assert not pattern.search(text), f"cell {index} output has {pattern.pattern!r}: {text[:300]!r}"
        assert absolute not in text, f"cell {index} output shows the run's absolute path: {text[:300]!r}"
        assert "/work/" not in text and "/home/" not in text and "/tmp/" not in text, (
            f"cell {index} output shows a local path: {text[:300]!r}")


def test_a_collapsed_model_shows_the_warning_box_and_a_learning_one_shows_nothing():
    rng = np.random.default_rng(1)
    labels = (rng.random(1500) < 0.11).astype(int)
    frame = pd.DataFrame({"patient_id": np.arange(1500), "split": "validation", "y_true": labels})
    collapsed = learning_display(learning_check(frame.assign(y_score=0.11 + rng.normal(0, 0.0005, 1500))))
    html = collapsed._repr_html_() if hasattr(collapsed, "_repr_html_") else collapsed.data
    assert "did not learn" in html and "admonition warning" in html
    assert learning_display(learning_check(frame.assign(y_score=0.1 + 0.08 * labels
                                                        + rng.normal(0, 0.03, 1500)))) is None
