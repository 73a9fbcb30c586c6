"""ARCHITECTURE.md and docs/contracts.md stay true: every module, function, notebook and file they name exists, each
chapter's listed helpers are called by that chapter, and every citation of the contracts points at a section."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "ARCHITECTURE.md"
CONTRACTS = ROOT / "docs" / "contracts.md"
ARTIFACT_SUFFIXES = (".parquet", ".csv", ".json", ".joblib")


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _dotted_names(text: str) -> list[str]:
    return [span for span in _code_spans(text) if re.fullmatch(r"helpers(\.\w+)+", span)]


def _table_rows(text: str) -> list[list[str]]:
    """The chapter table's rows (those whose first cell names a notebook), split into cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| `notebooks/"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def resolve(dotted: str):
    """The object a dotted name points at: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)  # AttributeError names what is missing
        return target
    raise ModuleNotFoundError(dotted)


def _notebook_code(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def _source_text() -> str:
    files = list((ROOT / "src" / "helpers").rglob("*.py")) + list((ROOT / "notebooks").glob("*.ipynb"))
    return "\n".join(path.read_text() for path in files)


def test_the_readme_links_the_map_and_the_map_links_the_contracts():
    assert "(ARCHITECTURE.md)" in (ROOT / "README.md").read_text()
    assert "(docs/contracts.md)" in MAP.read_text()


def test_every_module_and_function_the_map_names_exists():
    names = sorted(set(_dotted_names(MAP.read_text())))
    assert len(names) >= 80, f"the map names only {len(names)} helpers; the check would prove little"
    missing = []
    for name in names:
        try:
            resolve(name)
        except (ModuleNotFoundError, AttributeError) as exc:
            missing.append(f"{name} ({exc})")
    assert not missing, f"ARCHITECTURE.md names helpers that do not exist: {missing}"


def test_the_map_has_one_row_per_notebook_and_lists_only_helpers_the_notebook_calls():
    rows = _table_rows(MAP.read_text())
    on_disk = sorted(f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(row[0].strip("`") for row in rows) == on_disk
    checked = 0
    for row in rows:
        assert len(row) == 5, f"{row[0]}: expected 5 cells, got {len(row)}"
        code = _notebook_code(ROOT / row[0].strip("`"))
        for name in _dotted_names(row[1]):
            function = name.rsplit(".", 1)[1]
            assert re.search(rf"\b{function}\(", code), f"{row[0]} does not call {name}, which the map lists"
            checked += 1
    assert checked >= 60, f"only {checked} chapter helpers checked"


def test_every_artifact_the_map_names_is_written_or_read_by_the_code():
    text = MAP.read_text() + CONTRACTS.read_text()
    files = sorted({span for span in _code_spans(text) if span.endswith(ARTIFACT_SUFFIXES) and " " not in span})
    assert len(files) >= 20, f"only {len(files)} artifact names found"
    code = _source_text()
    # a quoted name, or the end of a quoted path; inside a notebook's JSON the closing quote is escaped
    unknown = [name for name in files
               if not re.search(rf'["/]{re.escape(Path(name).name)}\\?"', code)]
    assert not unknown, f"file names that no helper or notebook writes or reads: {unknown}"


def test_every_experiment_in_the_rows_column_is_a_name_the_code_writes():
    code = _source_text()
    experiments = set()
    for row in _table_rows(MAP.read_text()):
        owned = row[3]
        if "/" in owned:
            notebook, names = owned.split("/", 1)
            assert notebook.strip().strip("`") == Path(row[0].strip("`")).stem, f"{row[0]} owns another's rows"
            experiments |= set(_code_spans(names))
    assert {"global", "tfidf_lr", "oracle", "local", "instance_augmented", "cluster"} <= experiments
    assert not [e for e in experiments if f'"{e}"' not in code]


def test_every_repository_path_the_map_names_exists():
    folders = ("src/", "notebooks/", "book/", "docs/", "params/", "tests/", "benchmarks/")
    paths = [span for span in _code_spans(MAP.read_text())
             if re.fullmatch(r"[\w./-]+\.(py|md|yml|ipynb)", span) and "NN_" not in span
             and (span.startswith(folders) or "/" not in span)]
    assert len(paths) >= 8
    assert not [p for p in paths if not (ROOT / p).exists()]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_citation_of_the_contracts_points_at_one_of_its_sections():
    anchors = _anchors(CONTRACTS.read_text())
    assert {"run-layout", "metrics-table", "privacy-rule", "published-numbers", "data-schema"} <= anchors
    cited = []
    files = [p for folder in ("src", "tests", "book", "notebooks") for p in (ROOT / folder).rglob("*")
             if p.suffix in (".py", ".md", ".ipynb")] + [MAP, CONTRACTS, ROOT / "README.md"]
    for path in files:
        cited += [(path.name, a) for a in re.findall(r"contracts\.md#([\w-]+)", path.read_text())]
    assert len(cited) >= 10
    assert not [c for c in cited if c[1] not in anchors], "citations of sections that do not exist"


@pytest.mark.parametrize("folder", ["src", "tests", "notebooks", "book"])
def test_no_citation_of_a_design_document_outside_the_repository(folder):
    outside = "DESIGN" + ".md"  # spelled apart so that this file does not cite it
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in (".py", ".md", ".ipynb") and outside in p.read_text()]
    assert not hits, f"cite docs/contracts.md instead: {hits}"


def _section(markdown: str, title: str) -> str:
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start:end if end > 0 else None]


def _first_column_names(section: str, table_index: int = 0) -> list[list[str]]:
    """Per row of the section's n-th table: the code spans of its first cell."""
    tables = re.split(r"\n\n+", section)
    tables = [block for block in tables if block.lstrip().startswith("|")]
    rows = tables[table_index].strip().splitlines()[2:]
    return [_code_spans(row.strip().strip("|").split(" | ")[0]) for row in rows]


def test_the_contracts_page_states_the_codes_metrics_columns_schema_splits_and_threshold():
    from helpers import contracts, evaluation, privacy, schema

    text = CONTRACTS.read_text()
    columns = [name for row in _first_column_names(_section(text, "Metrics table")) for name in row]
    assert columns == evaluation.METRICS_FILE_COLUMNS
    schema_table = _section(text, "Data schema").split("| column |")[1].split("\n\n")[0]
    schema_rows = list(zip(_first_column_names(_section(text, "Data schema")), schema_table.strip().splitlines()[2:]))
    documented = {name: line.rstrip().rstrip("|").rsplit("|", 1)[1].strip() == "yes"
                  for names, line in schema_rows for name in names}
    assert documented == {name: required for name, (_, required) in schema.ADMISSION_COLUMNS.items()}
    assert all(f"`{split}`" in _section(text, "Splits") for split in contracts.SPLITS)
    assert privacy.THRESHOLD == 11 and "`privacy.THRESHOLD` is 11" in _section(text, "Privacy rule")


def test_the_contracts_page_quotes_the_published_numbers_the_summary_compares_with():
    from helpers import summary

    table = _section(CONTRACTS.read_text(), "Published numbers").split("| quantity |")[1].split("\n\n")[0]
    published = [row.strip().strip("|").split(" | ")[1] for row in table.strip().splitlines()[2:]]
    assert len(published) == len(summary.PUBLISHED) + 1
    assert published[:-1] == [number.published for number in summary.PUBLISHED]
    assert published[-1].startswith(summary.LOCAL_GAIN_PUBLISHED)
    assert summary.PUBLISHED_GROUP_AUROC == {"smallest_hospital": 0.512, "age": 0.648, "highest_comorbidity": 0.581}
    assert "arXiv 2402.10965" in CONTRACTS.read_text()
