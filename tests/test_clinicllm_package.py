"""The ``helpers.clinicllm`` package's surface: an explicit public list, nothing private, nothing set at import; the
offline, quiet environment is set by the entry points instead."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "src" / "helpers" / "clinicllm" / "__init__.py"


def _module_statements() -> list[ast.stmt]:
    return ast.parse(INIT.read_text()).body


def test_the_package_imports_public_names_only_and_lists_each_in_all():
    imported, declared = [], None
    for node in _module_statements():
        if isinstance(node, ast.ImportFrom):
            assert node.module != "__future__" or [a.name for a in node.names] == ["annotations"]
            names = [alias.asname or alias.name for alias in node.names]
            assert "*" not in names, f"star import from {node.module}"
            assert not [n for n in names if n.startswith("_") and n != "annotations"], f"private names: {names}"
            if node.module != "__future__":
                imported += names
        elif isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"]:
            declared = ast.literal_eval(node.value)
        else:
            # the docstring only: no os.environ writes, no warnings filters, no calls at import
            assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant), ast.unparse(node)[:80]
    assert declared is not None and sorted(declared) == sorted(imported)
    assert len(declared) == len(set(declared)) > 100


def test_every_public_name_resolves_and_the_chapters_use_no_private_one():
    import helpers.clinicllm as clinicllm

    assert not [name for name in clinicllm.__all__ if not hasattr(clinicllm, name)]
    assert {"run_clinicllm", "ClinicLLMConfig", "configure_environment", "configure_threads", "main"} <= set(
        clinicllm.__all__)
    users = [p for p in (ROOT / "notebooks").glob("*.ipynb")] + [
        p for folder in ("src", "benchmarks", "tests") for p in (ROOT / folder).rglob("*.py")
        if "clinicllm" not in p.parent.name]
    private = [(p.name, m) for p in users for m in re.findall(r"\bclinicllm\._(?!_)\w+", p.read_text())]
    assert not private, f"private names reached through the package: {private}"


def test_importing_the_package_sets_nothing_and_configure_environment_does():
    """In a fresh interpreter without the Hugging Face variables: the import leaves the environment and
    transformers' progress bars alone; configure_environment() sets them, keeping a value the user chose."""
    script = (
        "import json, os\n"
        "import helpers.clinicllm as c\n"
        "import transformers\n"
        "names = ['HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_DISABLE_TELEMETRY', 'HF_HUB_DISABLE_PROGRESS_BARS']\n"
        "before = {n: os.environ.get(n) for n in names}\n"
        "bars_before = transformers.utils.logging.is_progress_bar_enabled()\n"
        "c.configure_environment()\n"
        "import huggingface_hub\n"
        "print(json.dumps({'before': before, 'bars_before': bars_before,\n"
        "                  'after': {n: os.environ.get(n) for n in names},\n"
        "                  'bars_after': transformers.utils.logging.is_progress_bar_enabled(),\n"
        "                  'hub_offline': huggingface_hub.constants.HF_HUB_OFFLINE}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["HF_HUB_DISABLE_TELEMETRY"] = "0"  # a value the user chose is kept
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == {"HF_HUB_OFFLINE": None, "TRANSFORMERS_OFFLINE": None, "HF_HUB_DISABLE_TELEMETRY": "0",
                              "HF_HUB_DISABLE_PROGRESS_BARS": None}
    assert seen["bars_before"] is True
    assert seen["after"] == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "0",
                             "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    assert seen["bars_after"] is False and seen["hub_offline"] is True


def test_every_entry_point_that_trains_or_loads_a_model_sets_up_the_environment_first():
    from helpers.clinicllm import cli, distributed, stages

    for function in (stages.run_clinicllm, stages.finetune_stage, stages.prediction_stage, stages.embedding_stage,
                     cli.main, distributed.configure_threads):
        body = inspect.getsource(function)
        assert re.search(r"\n    (configure_environment|configure_threads)\(", body), function.__qualname__
    # the chapters reach the model through those entry points (chapter 5 calls configure_threads itself)
    chapter_5 = (ROOT / "notebooks" / "05_mitigation.ipynb").read_text()
    assert "clinicllm.configure_threads(" in chapter_5
