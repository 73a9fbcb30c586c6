"""Declared notebook inputs: each notebook's ``metadata.study.reads`` covers every read its code makes.

The runner re-runs a notebook when a notebook it declares re-ran (helpers.notebook_reuse.upstream_notebooks), so a
read missing from the declaration could give a stale chapter. The scan below follows each notebook's calls into the
helpers (an AST call graph of src/helpers) and collects the producers its reads name: ``RunPaths.upstream(name,
producer)``, ``RunPaths.written_by(producer)``, and rows of the metrics table picked by a notebook's name. Reads it
cannot see (a helper that picks another chapter's rows by experiment name) are why chapters 4 to 6 declare more than
the scan finds; while the runner executes a notebook, ``RunPaths`` also refuses any undeclared read at run time.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from helpers import artifacts
from helpers.project import discover_notebooks, project_root

ROOT = project_root()
SOURCE = ROOT / "src"
NOTEBOOKS = {spec.name: spec for spec in discover_notebooks(ROOT)}
READ_METHODS = {"upstream": 1, "written_by": 0}  # RunPaths method -> position of its producer argument


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None when the chain does not start at a name."""
    names = []
    while isinstance(node, ast.Attribute):
        names.insert(0, node.attr)
        node = node.value
    return [node.id, *names] if isinstance(node, ast.Name) else None


class HelperIndex:
    """The helpers' functions and classes by qualified name, each module's imported names, and a resolver."""

    def __init__(self) -> None:
        self.modules: dict[str, ast.Module] = {}
        self.defs: dict[str, ast.AST] = {}
        self.owner: dict[str, str] = {}  # qualified def -> its module
        self.classes: dict[str, list[str]] = {}  # qualified class -> its methods
        self.aliases: dict[str, dict[str, str]] = defaultdict(dict)
        self.constants: dict[str, dict[str, str]] = defaultdict(dict)  # module -> NAME -> literal text
        for path in sorted((SOURCE / "helpers").rglob("*.py")):
            module = _module_name(path)
            tree = ast.parse(path.read_text())
            self.modules[module] = tree
            self.aliases[module] = _imports(tree, module)
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._add(f"{module}.{node.name}", node, module)
                elif isinstance(node, ast.ClassDef):
                    methods = [f"{module}.{node.name}.{item.name}" for item in node.body
                               if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
                    self.classes[f"{module}.{node.name}"] = methods
                    for item in node.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            self._add(f"{module}.{node.name}.{item.name}", item, module)
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                        and isinstance(node.value.value, str):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            self.constants[module][target.id] = node.value.value

    def _add(self, name: str, node: ast.AST, module: str) -> None:
        self.defs[name] = node
        self.owner[name] = module

    def resolve(self, dotted: str, depth: int = 0) -> str | None:
        """The def, class or module a qualified name means, following re-exports (``from x import f`` in a package)."""
        if dotted in self.defs or dotted in self.classes or dotted in self.modules:
            return dotted
        if depth > 8:
            return None
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in self.modules and parts[cut] in self.aliases[module]:
                return self.resolve(".".join([self.aliases[module][parts[cut]], *parts[cut + 1:]]), depth + 1)
        return None

    def local(self, module: str, names: list[str], aliases: dict[str, str], cls: str | None) -> str | None:
        """What a dotted name used in ``module`` (inside class ``cls``) means."""
        head, rest = names[0], names[1:]
        if head in ("self", "cls") and cls and rest:
            return self.resolve(".".join([cls, *rest]))
        if head in aliases:
            return self.resolve(".".join([aliases[head], *rest]))
        return self.resolve(".".join([module, *names]))


def _imports(tree: ast.AST, module: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("helpers"):
                    names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "helpers"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


INDEX = HelperIndex()


def _references(body: ast.AST, module: str, aliases: dict[str, str], cls: str | None) -> set[str]:
    """Every helper def a piece of code names (called or passed on); a class stands for all its methods."""
    found: set[str] = set()
    for node in ast.walk(body):
        if not isinstance(node, (ast.Name, ast.Attribute)):
            continue
        names = _dotted(node)
        if not names:
            continue
        target = INDEX.local(module, names, aliases, cls)
        if target in INDEX.defs:
            found.add(target)
        elif target in INDEX.classes:
            found.update(INDEX.classes[target])
        # the chapter's exercises are dispatched by its own name: follow only that chapter's entry
        if names[-1] == "answers" and isinstance(getattr(node, "ctx", None), ast.Load):
            found.update(_dispatched_answers(body))
    return found


def _dispatched_answers(body: ast.AST) -> set[str]:
    chapters = {node.args[0].value for node in ast.walk(body) if isinstance(node, ast.Call)
                and (_dotted(node.func) or [""])[-1] == "answers" and node.args
                and isinstance(node.args[0], ast.Constant)}
    table = next(node.value for node in INDEX.modules["helpers.exercises"].body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ANSWERS")
    return {f"helpers.exercises.{value.id}" for key, value in zip(table.keys, table.values)
            if isinstance(key, ast.Constant) and key.value in chapters}


def _reads(body: ast.AST, module: str | None) -> tuple[set[str], list[str]]:
    """The producers a piece of code reads (RunPaths reads and metrics rows picked by notebook name), and the reads
    whose producer is no literal (which the declaration check could not see)."""
    producers, unknown = set(), []
    for node in ast.walk(body):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READ_METHODS:
            position = READ_METHODS[node.func.attr]
            arg = node.args[position] if len(node.args) > position else \
                next((k.value for k in node.keywords if k.arg == "producer"), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                producers.add(arg.value)
            elif isinstance(arg, ast.Name) and module and arg.id in INDEX.constants[module]:
                producers.add(INDEX.constants[module][arg.id])
            else:
                unknown.append(ast.unparse(node))
        elif isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                if isinstance(part, ast.Constant) and part.value in NOTEBOOKS:
                    producers.add(part.value)
    return producers, unknown


def _notebook_code(name: str) -> ast.Module:
    cells = nbformat.read(NOTEBOOKS[name].path, as_version=4).cells
    lines = [line for cell in cells if cell.cell_type == "code" for line in cell.source.splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def _reachable(start: set[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        module = INDEX.owner[name]
        cls = name.rsplit(".", 1)[0] if name.rsplit(".", 1)[0] in INDEX.classes else None
        todo.extend(_references(INDEX.defs[name], module, INDEX.aliases[module], cls) - seen)
    return seen


def scanned_reads(name: str) -> dict[str, set[str]]:
    """Producer -> where a notebook reads it: its own cells ("notebook") or the helper functions it reaches."""
    code = _notebook_code(name)
    aliases = _imports(code, "__notebook__")
    where: dict[str, set[str]] = defaultdict(set)
    for producer in _reads(code, None)[0]:
        where[producer].add("notebook")
    for function in _reachable(_references(code, "__notebook__", aliases, None)):
        for producer in _reads(INDEX.defs[function], INDEX.owner[function])[0]:
            where[producer].add(function)
    return where


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_each_notebook_declares_every_notebook_it_reads(name):
    declared = NOTEBOOKS[name].reads
    assert declared is not None, f"{name} declares no inputs: add metadata {{'study': {{'reads': [...]}}}}"
    undeclared = {producer: sorted(where) for producer, where in scanned_reads(name).items()
                  if producer != name and producer not in declared}
    assert not undeclared, f"{name} reads notebooks it does not declare (metadata study.reads): {undeclared}"


def test_the_scan_sees_the_reads_made_inside_helpers():
    # chapter 5 reads chapters 1 and 2 only through helpers.mitigation.load_inputs (and the global model's summary)
    reads = scanned_reads("05_mitigation")
    assert "helpers.mitigation.load_inputs" in reads["01_data"]
    assert "helpers.mitigation.strategies.GlobalModel.from_run" in reads["02_clinicllm"]
    assert "helpers.mitigation.chapter3_pooled_sites" in reads["03_disparities"]
    # chapter 6 reads chapter 4's importance table through helpers.summary and chapter 2's summary in the card
    assert "helpers.summary.read_importance" in scanned_reads("06_summary")["04_feature_analysis"]
    # chapter 1's exercises read only chapter 1's files: the dispatch follows the chapter's own entry
    assert set(scanned_reads("01_data")) <= {"01_data"}


def test_every_read_names_its_producer_literally():
    unknown = []
    for module, tree in INDEX.modules.items():
        if module != "helpers.artifacts":
            unknown += [f"{module}: {call}" for call in _reads(tree, module)[1]]
    for name in NOTEBOOKS:
        unknown += [f"{name}: {call}" for call in _reads(_notebook_code(name), None)[1]]
    assert not unknown, f"reads whose producer the declaration check cannot see: {unknown}"


def test_no_code_builds_a_path_under_artifacts_by_hand():
    # every path under artifacts/ goes through RunPaths, which puts it in its producer's folder
    offenders = []
    for module, tree in INDEX.modules.items():
        if module in ("helpers.artifacts", "helpers.notebook_reuse"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "artifacts":
                offenders.append(f"{module}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "artifacts" and module != "helpers.runner":
                offenders.append(f"{module}:{node.lineno}")
    for name in NOTEBOOKS:
        for node in ast.walk(_notebook_code(name)):
            if isinstance(node, ast.Attribute) and node.attr == "artifacts":
                offenders.append(name)
    assert not offenders, offenders


def test_an_undeclared_read_is_refused_while_the_runner_executes_a_notebook(tmp_path, monkeypatch):
    paths = artifacts.RunPaths.from_run_dir(tmp_path, notebook="01_data")
    paths.artifact("cohort.parquet").write_text("x")
    assert (tmp_path / "artifacts" / "01_data" / "cohort.parquet").exists()  # by producer
    monkeypatch.setenv(artifacts.READS_ENV, json.dumps({"notebook": "03_disparities", "reads": ["02_clinicllm"]}))
    with pytest.raises(artifacts.UndeclaredRead, match=r"add \"01_data\" to the list 'reads'.*03_disparities"):
        paths.upstream("cohort.parquet", "01_data")
    monkeypatch.setenv(artifacts.READS_ENV, json.dumps({"notebook": "03_disparities", "reads": ["01_data"]}))
    assert paths.upstream("cohort.parquet", "01_data").read_text() == "x"
    monkeypatch.delenv(artifacts.READS_ENV)  # outside the runner (tests, papermill by hand) nothing is checked
    assert paths.upstream("cohort.parquet", "01_data").exists()
    with pytest.raises(ValueError, match="names no notebook"):
        artifacts.RunPaths.from_run_dir(tmp_path).artifact("x.csv")
