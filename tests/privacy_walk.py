"""An independent reader of executed notebooks: every number a published page shows, checked against the
small-count rule (no count from 1 to 10 shown or recoverable), without using helpers.privacy.

What it checks, in every output of every executed notebook (tables as HTML, glued values, printed text):

- a cell of a count column (by its header: n, admissions, patients, readmissions, ..., or a row label of the same
  words in a transposed table) that holds a whole number from 1 to 10;
- an "n (%)" cell with n from 1 to 10;
- a percentage, prevalence or rate shown in a row (or, transposed, a column) where a count is hidden ("<11");
- a total minus the shown cells: in a column with an "all"/"Overall" row, or a row with an "Overall" column, exactly
  one hidden cell while the total shows (except in a table the page truncates, whose middle rows are not shown);
- in text, a whole number from 1 to 10 right before a count noun ("7 admissions").
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

HIDDEN = "<11"
COUNT_WORDS = re.compile(
    r"^(n|n_pos|admissions|patients|readmissions|readmitted|excluded|notes|test admissions|training admissions|"
    r"train_size|n_held_out|n_errors_held_out|in_hospital_deaths|cohort_admissions|fine-tuning sample size|"
    r"admissions seen|.*\(n\))$", re.IGNORECASE)
SHARE_WORDS = re.compile(r"^(?!.*predict).*(%|prevalence|rate)", re.IGNORECASE)
"""Shares of counts; a mean predicted probability (in %) is the model's, not a count's."""
TOTAL_LABELS = {"all", "overall", "total"}
NOUNS = r"admissions?|patients?|readmissions?|positives|negatives|deaths|events|cases"
SMALL_IN_TEXT = re.compile(rf"(?<![\d.,<])\b([1-9]|10)\b(?![.,]\d) (?:{NOUNS})\b")
N_PERCENT = re.compile(r"^([\d,]+) \(\d+(?:\.\d+)?%\)$")


class _Tables(HTMLParser):
    """Rows of cell texts of every <table>, with the header rows (<thead>) apart."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False
        self._pending: dict[int, tuple[int, str]] = {}  # column -> (rows still spanned, text) of a rowspan cell

    def _fill_spanned(self) -> None:
        while len(self._row) in self._pending:
            column = len(self._row)
            left, text = self._pending[column]
            self._row.append(text)
            if left <= 1:
                del self._pending[column]
            else:
                self._pending[column] = (left - 1, text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"head": [], "body": []})
            self._pending = {}
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._fill_spanned()
            self._cell = []
            attributes = dict(attrs)
            self._span = int(attributes.get("colspan", 1) or 1)
            self._rowspan = int(attributes.get("rowspan", 1) or 1)

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_head = False
            self._pending = {}
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = " ".join("".join(self._cell).split())
            for _ in range(self._span):
                if self._rowspan > 1:
                    self._pending[len(self._row)] = (self._rowspan - 1, text)
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self._fill_spanned()
            self.tables[-1]["head" if self._in_head else "body"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _small_whole(text: str) -> bool:
    value = _number(text)
    return value is not None and value == value and 1 <= value <= 10 and value == int(value)


def check_table(head: list[list[str]], body: list[list[str]], where: str) -> list[str]:
    """Every breach of the rule in one table."""
    found: list[str] = []
    width = max((len(r) for r in body), default=0)
    labels = [" ".join(h[i] for h in head if i < len(h) and h[i]).strip() for i in range(width)]
    labels = [label.split(" ")[-1] if label.count(" ") and not COUNT_WORDS.match(label) and
              COUNT_WORDS.match(label.split(" ")[-1]) else label for label in labels]
    count_columns = [i for i, label in enumerate(labels) if COUNT_WORDS.match(label)]
    share_columns = [i for i, label in enumerate(labels) if SHARE_WORDS.search(label)]
    split_grid = any(("admissions by" in " ".join(h) or "readmissions by" in " ".join(h)) for h in head)
    if split_grid:
        count_columns = list(range(1, width))
    for r, row in enumerate(body):
        row_label = row[0] if row else ""
        for c, cell in enumerate(row):
            found += check_text(cell, f"{where} table cell (row {row_label!r})")
            match = N_PERCENT.match(cell)
            if match and _small_whole(match.group(1)):
                found.append(f"{where}: 'n (%)' cell {cell!r} (row {row_label!r}, column {labels[c]!r})")
            if c in count_columns and _small_whole(cell):
                found.append(f"{where}: count {cell!r} in column {labels[c]!r} (row {row_label!r})")
        # a transposed table: the row label names the count
        row_is_count = bool(COUNT_WORDS.match(row_label))
        if row_is_count:
            for c, cell in enumerate(row[1:], start=1):
                if _small_whole(cell):
                    found.append(f"{where}: count {cell!r} in row {row_label!r} (column {labels[c]!r})")
        hidden_here = any(row[c] == HIDDEN for c in count_columns if c < len(row))
        if hidden_here:
            for c in share_columns:  # a share of 0 gives back a count of 0, which may show
                if c < len(row) and _number(row[c]) not in (None, 0.0):
                    found.append(f"{where}: share {row[c]!r} ({labels[c]!r}) beside a hidden count "
                                 f"(row {row_label!r})")
    # transposed: a hidden count in a column hides that column's shares
    count_rows = [r for r, row in enumerate(body) if row and COUNT_WORDS.match(row[0])]
    share_rows = [r for r, row in enumerate(body) if row and SHARE_WORDS.search(row[0])]
    for c in range(1, width):
        if any(c < len(body[r]) and body[r][c] == HIDDEN for r in count_rows):
            for r in share_rows:
                if c < len(body[r]) and _number(body[r][c]) not in (None, 0.0):
                    found.append(f"{where}: share {body[r][c]!r} (row {body[r][0]!r}) beside a hidden count "
                                 f"(column {labels[c]!r})")
    # a total minus the shown cells (not in a table the page truncates: its middle rows are not shown)
    truncated = any(all(cell in ("...", "…") for cell in row) for row in body if row)
    totals = [] if truncated else [r for r, row in enumerate(body) if row and row[0].strip().lower() in TOTAL_LABELS]
    for t in totals:
        for c in count_columns:
            parts = [row[c] for r, row in enumerate(body) if r != t and c < len(row)]
            # a total of 0 gives back hidden zeros only, which may show
            if c < len(body[t]) and _number(body[t][c]) not in (None, 0.0) and parts.count(HIDDEN) == 1:
                found.append(f"{where}: column {labels[c]!r} shows its total {body[t][c]!r} and exactly one hidden "
                             "cell, which the total minus the others gives back")
    total_columns = [i for i, label in enumerate(labels) if label.strip().lower() in TOTAL_LABELS]
    for c in total_columns:
        for row in body:
            parts = [cell for i, cell in enumerate(row) if i not in (0, c)]
            shown = row[c] if c < len(row) else ""
            if (_number(shown) is not None or N_PERCENT.match(shown)) and parts.count(HIDDEN) == 1:
                found.append(f"{where}: row {row[0]!r} shows its total {shown!r} and exactly one hidden cell")
    return found


def check_text(text: str, where: str) -> list[str]:
    return [f"{where}: {m.group(0)!r} in text" for m in SMALL_IN_TEXT.finditer(text)]


def walk_notebook(path: Path) -> tuple[list[str], int]:
    """Breaches in every output of one executed notebook, and how many tables were checked."""
    notebook = json.loads(path.read_text())
    found: list[str] = []
    n_tables = 0
    for number, cell in enumerate(notebook["cells"], start=1):
        if cell["cell_type"] == "markdown":
            found += check_text("".join(cell["source"]), f"{path.name} cell {number} (markdown)")
            continue
        for output in cell.get("outputs", []):
            where = f"{path.name} cell {number}"
            texts = [output.get("text", "")] if output.get("output_type") == "stream" else []
            for mime, value in output.get("data", {}).items():
                value = "".join(value) if isinstance(value, list) else value
                if mime.endswith("text/html"):
                    parser = _Tables()
                    parser.feed(value)
                    for table in parser.tables:
                        n_tables += 1
                        found += check_table(table["head"], table["body"], where)
                elif mime.endswith("text/plain") or mime.endswith("text/markdown"):
                    if "text/html" not in output.get("data", {}):  # a table's plain copy is checked as HTML
                        texts.append(value)
            for text in texts:
                found += check_text("".join(text) if isinstance(text, list) else text, where)
    return found, n_tables
