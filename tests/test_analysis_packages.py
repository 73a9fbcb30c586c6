"""The analysis helpers split by job: each package's public list is explicit and true, no module or function grows
past the size a newcomer can read, and each study rule (row selection, percentile intervals, the verdict words and
how they combine, the study's four factors) has one home."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import evaluation, features, verdicts

HELPERS = Path(evaluation.__file__).resolve().parents[1]
PACKAGES = ("evaluation", "disparities", "features")
# every module of src/helpers but the data tables (word lists and catalogues, not code)
DATA_TABLES = {HELPERS / "simulator" / "lexicon.py", HELPERS / "simulator" / "catalogues.py"}
OWNED = sorted(path for path in HELPERS.rglob("*.py") if path not in DATA_TABLES)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_lists_its_public_names_and_imports_each_by_name(package):
    module = importlib.import_module(f"helpers.{package}")
    tree = ast.parse(Path(module.__file__).read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and any(alias.name == "*" for alias in node.names)], "no star imports"
    assert not [name for name in module.__all__ if not hasattr(module, name)]
    assert len(module.__all__) == len(set(module.__all__)) > 20
    assert not [name for name in module.__all__ if name.startswith("_")]


@pytest.mark.parametrize("path", OWNED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_modules_stay_under_600_lines_and_functions_under_120(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 600, f"{path.name} has {len(text.splitlines())} lines"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 120]
    assert not long, f"functions over 120 lines in {path.name}: {long}"


def test_no_private_name_crosses_a_module_boundary_of_the_packages():
    sources = [p for p in HELPERS.rglob("*.py")] + list((HELPERS.parents[1] / "notebooks").glob("*.ipynb"))
    pattern = re.compile(r"from helpers\.(?:%s)(?:\.\w+)? import [^\n]*\b_\w+|\b(?:%s)\._(?!_)\w+"
                         % ("|".join(PACKAGES), "|".join(PACKAGES)))
    hits = [(p.name, m.group(0)) for p in sources for m in pattern.finditer(p.read_text())]
    assert not hits, hits


def test_rows_are_found_one_way():
    rows = pd.DataFrame({"experiment": ["global", "global", "oracle"], "seed": [0, 1, 0],
                         "split": ["temporal_test", "random_test", "temporal_test"], "value": [0.7, 0.6, 0.8]})
    assert evaluation.select_rows(rows, experiment="global", seed="1")["value"].tolist() == [0.6]
    assert evaluation.select_rows(rows, seed=0, experiment=("global", "oracle"))["value"].tolist() == [0.7, 0.8]
    assert evaluation.first_row(rows, experiment="tfidf_lr") is None
    assert evaluation.first_row(rows, split="temporal_test")["value"] == 0.7
    assert evaluation.lookup(rows, experiment="oracle")["value"] == 0.8
    with pytest.raises(KeyError, match="found 2"):
        evaluation.lookup(rows, experiment="global")
    # no other helper filters metric rows by keyword filters of its own
    copies = [p.name for p in HELPERS.rglob("*.py") if "for column, value in filters.items()" in p.read_text()]
    assert copies == ["metrics_file.py"]


def test_percentile_intervals_have_one_home():
    values = np.array([0.1, np.nan, 0.3, 0.2, 0.5])
    low, high, used = evaluation.percentile_interval(values, 0.95)
    assert used == 4 and low == pytest.approx(np.percentile([0.1, 0.2, 0.3, 0.5], 2.5))
    assert high == pytest.approx(np.percentile([0.1, 0.2, 0.3, 0.5], 97.5))
    direct = [p.name for p in HELPERS.rglob("*.py")
              if re.search(r"np\.(nan)?percentile\([^)]*(2\.5|97\.5)", p.read_text())]
    assert not direct, f"percentile intervals computed outside evaluation.percentile_interval: {direct}"


def test_verdict_words_and_their_combination_have_one_home():
    assert verdicts.combine_verdicts([verdicts.REPRODUCED] * 3) == verdicts.REPRODUCED
    assert verdicts.combine_verdicts([verdicts.REPRODUCED, verdicts.CONTRADICTED]) == verdicts.CONTRADICTED
    assert verdicts.combine_verdicts([verdicts.REPRODUCED, verdicts.INCONCLUSIVE]) == verdicts.INCONCLUSIVE
    from helpers import summary

    assert summary.REPRODUCED is verdicts.REPRODUCED and summary.NOT_ESTIMABLE is verdicts.NOT_ESTIMABLE
    defined = [p.name for p in HELPERS.rglob("*.py") if re.search(r"^\s*REPRODUCED\b[^=\n]*=", p.read_text(), re.M)]
    assert defined == ["verdicts.py"]


def test_the_study_factors_are_matched_by_one_rule():
    assert features.is_study_factor("age") and features.is_study_factor(features.HOSPITAL_BLOCK)
    assert not features.is_study_factor("insurance") and not features.is_study_factor("hospital readmission rate")
    importance = pd.DataFrame({"feature": ["age", features.HOSPITAL_BLOCK, "insurance"],
                               "importance": [0.02, 0.03, 0.01], "ci_low": [0.01] * 3, "ci_high": [0.04] * 3,
                               "method": ["permutation, gradient_boosting"] * 3})
    ranked = features.factor_ranking(importance, "permutation, gradient_boosting")
    assert ranked["in the study's top four"].tolist() == ["yes", "yes", ""]
    assert [p.name for p in HELPERS.rglob("*.py") if "STUDY_RANKING:" in p.read_text()] == ["study_factors.py"]
