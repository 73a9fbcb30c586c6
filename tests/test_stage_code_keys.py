"""A cached stage's key covers the code that builds it (helpers.artifacts.code_key): an edit of that code, or of a
helper module it imports, changes the key, so no stale model is reused; an edit elsewhere leaves it alone."""

from __future__ import annotations

import shutil

import pytest

from helpers.artifacts import HELPERS_PARENT, code_files, code_key
from helpers.clinicllm import stages

STAGE_MODULES = [stages.TOKENIZER_CODE, stages.TRAINING_CODE, "helpers.mitigation.training", "helpers.baselines"]


@pytest.fixture()
def copied(tmp_path):
    """A copy of the helpers package to edit."""
    shutil.copytree(HELPERS_PARENT / "helpers", tmp_path / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def test_the_copy_gives_the_same_keys(copied):
    for module in STAGE_MODULES:
        assert code_key(module, parent=copied) == code_key(module)


def test_editing_a_training_function_changes_the_training_stages_keys_only(copied):
    before = {module: code_key(module, parent=copied) for module in STAGE_MODULES}
    _edit(copied / "helpers" / "clinicllm" / "training.py", "def pretrain_mlm(", "def pretrain_mlm(  # edited\n")
    after = {module: code_key(module, parent=copied) for module in STAGE_MODULES}
    assert after[stages.TRAINING_CODE] != before[stages.TRAINING_CODE]
    # the tokenizer, the TF-IDF baseline and chapter 5's head training (which scores with prediction.py) do not
    # run it
    assert after[stages.TOKENIZER_CODE] == before[stages.TOKENIZER_CODE]
    assert after["helpers.baselines"] == before["helpers.baselines"]
    assert after["helpers.mitigation.training"] == before["helpers.mitigation.training"]


def test_editing_the_scoring_code_changes_the_keys_of_every_stage_that_scores(copied):
    before = {module: code_key(module, parent=copied) for module in STAGE_MODULES}
    _edit(copied / "helpers" / "clinicllm" / "prediction.py", "def batched_forward(",
          "def batched_forward(  # edited\n")
    after = {module: code_key(module, parent=copied) for module in STAGE_MODULES}
    # chapter 2's predictions (through training.py, which imports prediction.py) and chapter 5's note features
    assert after[stages.TRAINING_CODE] != before[stages.TRAINING_CODE]
    assert after["helpers.mitigation.training"] != before["helpers.mitigation.training"]
    assert after[stages.TOKENIZER_CODE] == before[stages.TOKENIZER_CODE]
    assert after["helpers.baselines"] == before["helpers.baselines"]


def test_editing_a_module_the_stage_imports_changes_its_key(copied):
    # models.py is imported by training.py, not by the stage's own module list
    assert "helpers.clinicllm.models" in code_files(stages.TRAINING_CODE, parent=copied)
    before = code_key(stages.TRAINING_CODE, parent=copied)
    _edit(copied / "helpers" / "clinicllm" / "models.py", "from .config import ClinicLLMConfig",
          "from .config import ClinicLLMConfig\nEDITED = True")
    assert code_key(stages.TRAINING_CODE, parent=copied) != before


def test_an_edit_of_the_book_or_the_runner_leaves_every_stage_key_alone(copied):
    before = {module: code_key(module, parent=copied) for module in STAGE_MODULES}
    for name in ("book.py", "runner.py", "summary.py"):
        path = copied / "helpers" / name
        if not path.exists():  # a module that became a package
            path = copied / "helpers" / name.removesuffix(".py") / "__init__.py"
        path.write_text(path.read_text() + "\n# edited\n")
    assert {module: code_key(module, parent=copied) for module in STAGE_MODULES} == before


def test_a_stage_function_of_its_own_counts_too():
    def build_a(out):
        return out

    def build_b(out):
        return out, 1

    assert code_key(stages.TRAINING_CODE, functions=(build_a,)) != code_key(stages.TRAINING_CODE, functions=(build_b,))
    assert code_key(stages.TRAINING_CODE, functions=(build_a,)) == code_key(stages.TRAINING_CODE, functions=(build_a,))


def test_an_unknown_module_is_refused(copied):
    with pytest.raises(ModuleNotFoundError, match="helpers.nonesuch"):
        code_key("helpers.nonesuch", parent=copied)


def test_every_cached_stage_keys_on_its_code():
    import ast

    # a stage_key call without code= is only allowed where no code of ours builds anything: the identity of a
    # user's checkpoint (and the tokenizer key that is that identity)
    allowed = {"_checkpoint_fingerprint": 1, "_tokenizer_stage": 1}
    for module in ("clinicllm/stages.py", "mitigation/training.py", "baselines.py",
                   "learning_curve.py", "mitigation/strategies.py"):
        tree = ast.parse((HELPERS_PARENT / "helpers" / module).read_text())
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            bare = [call for call in ast.walk(function) if isinstance(call, ast.Call)
                    and getattr(call.func, "id", "") == "stage_key"
                    and "code" not in {k.arg for k in call.keywords}]
            assert len(bare) <= allowed.get(function.name, 0), f"{module}:{function.name} keys a stage without code="
