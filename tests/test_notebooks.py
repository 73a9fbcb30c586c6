"""House rules for the committed notebooks: narrative, literal parameters, no outputs, glue keys defined."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import nbformat
import pytest

from helpers.project import discover_notebooks, parameters_cell_defaults

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_they_follow_the_naming():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z_]+\.ipynb", path.name), path.name
    assert [nb.path.name for nb in discover_notebooks(ROOT)] == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has outputs; clear them before committing"
            assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_literal_parameters_cell_with_run_dir_and_seed(path):
    defaults = parameters_cell_defaults(path)
    assert "run_dir" in defaults
    # the summary only reads metrics.csv and draws nothing at random: a seed there would be a knob that does nothing
    assert ("seed" in defaults) == (path.stem != "06_summary"), f"{path.stem}: {sorted(defaults)}"
    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert tagged == [first_code], "the parameters cell is the first code cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_has_a_meaning_that_papermill_can_read(path):
    # The meaning comment feeds the book's parameter reference; papermill parses the same lines with a regular
    # expression that gives up on a comment holding "=", and then warns that the parameter is unknown.
    from papermill.translators import PythonTranslator

    from helpers.project import parameters_cell_meanings

    defaults = parameters_cell_defaults(path)
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assert [p.name for p in PythonTranslator.inspect(cell)] == list(defaults)
    meanings = parameters_cell_meanings(path)
    assert not [name for name in defaults if not meanings.get(name)], "parameters without a meaning comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_function_or_class_definitions_and_no_absolute_paths(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"{path.name}: logic belongs in src/helpers/, not in a notebook cell:\n{cell.source}"
        assert not re.search(r"['\"](/home|/work|/tmp|/Users|C:\\\\)", cell.source), f"absolute path in {path.name}"


GLUE_USE = re.compile(r"\{glue:(?:text|md)?\}`([^`:]+)(?::[^`]*)?`")


def glue_keys_used(nb: nbformat.NotebookNode) -> set[str]:
    return set(GLUE_USE.findall("\n".join(c.source for c in nb.cells if c.cell_type == "markdown")))


def dynamic_glue(code: str) -> bool:
    """Whether the notebook glues keys it gets from a helper (e.g. ``for key, text in texts.items(): glue(key, text)``)."""
    return bool(re.search(r"glue\(\s*[A-Za-z_]\w*\s*,", code))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glue_key_in_the_prose_is_computed_in_the_notebook(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    used = glue_keys_used(nb)
    literal = set(re.findall(r"glue\(\s*[\"']([^\"']+)[\"']", code))
    # keys built with f-strings, e.g. glue(f"auroc_{experiment}_{split}", ...), become patterns
    patterns = [re.compile("^" + re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(template)) + "$")
                for template in re.findall(r"glue\(\s*f[\"']([^\"']+)[\"']", code)]
    assert used, f"{path.name}: the prose uses no computed numbers"
    missing = {key for key in used if key not in literal and not any(p.match(key) for p in patterns)}
    if dynamic_glue(code):
        # The rest come from a helper's dictionary: each must at least be a key some helper can write. That they
        # are glued in this chapter is checked on the executed smoke notebooks (slow lane:
        # tests/test_study.py::test_every_glue_key_in_the_prose_was_glued_in_the_smoke_run).
        missing = {key for key in missing if not any(p.match(key) for p in helper_string_patterns())}
    assert not missing, f"{path.name}: glue keys used but never computed: {sorted(missing)}"


def test_helper_string_patterns_match_what_helpers_write_and_nothing_else():
    patterns = helper_string_patterns()

    def written(key: str) -> bool:
        return any(p.match(key) for p in patterns)

    assert written("ex_temporal_minus_random")  # a literal key (helpers.exercises)
    assert written("ex_clinicllm_random")       # from f"ex_{name}_{split...}"
    assert written("mlm_steps")                 # a keyword: texts.update(mlm_steps=...)
    assert not written("a key no helper writes")
    assert not written("zzz_unwritten_key")


@functools.cache
def helper_string_patterns() -> tuple[re.Pattern, ...]:
    """Every string a module under src/helpers/ can build, as an anchored pattern: literals as they are, f-strings
    with each ``{...}`` replaced by ``.+`` (f-strings without a word of their own are left out: they match anything)."""
    found: set[str] = set()
    for source in (ROOT / "src" / "helpers").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.JoinedStr):
                parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
                fixed = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if re.search(r"[a-z]{2}", fixed):  # f"{a}_{b}" would match almost any key
                    found.add("^" + "".join(parts) + "$")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                found.add("^" + re.escape(node.value) + "$")
            elif isinstance(node, ast.keyword) and node.arg:  # texts.update(mlm_steps=...)
                found.add("^" + re.escape(node.arg) + "$")
    return tuple(re.compile(p) for p in sorted(found))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_1_to_5_end_with_exercises_whose_solutions_open_on_click_and_quote_the_run(path):
    """2-4 exercises at the end of every chapter but the summary; each solution is a dropdown that glues at least
    one number of the run, computed by helpers.exercises for that chapter."""
    from helpers import exercises

    nb = nbformat.read(path, as_version=4)
    if path.stem == "06_summary":
        assert not any(c.source.startswith("## Exercises") for c in nb.cells if c.cell_type == "markdown")
        return
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Exercises"), path.name
    solutions = re.findall(r":::\{admonition\} Solution\n:class: dropdown\n(.*?)\n:::", last.source, re.DOTALL)
    questions = re.findall(r"^\*\*\d\. ", last.source, re.MULTILINE)
    assert 2 <= len(questions) == len(solutions) <= 4, path.name
    assert all(re.search(r"\{glue:text\}`ex_\w+`", s) for s in solutions), "every solution quotes the run"
    code = nb.cells[-2].source
    assert f'exercises.answers("{path.stem}", run_dir)' in code and path.stem in exercises.ANSWERS
