"""Plan-time checks of the parameters a literal default cannot type: ``None`` defaults and the mapping parameters.

The runner checks every parameter against its notebook's literal default before a kernel starts
(:func:`helpers.runner.resolve_parameters`). Two kinds of value escape that check, and would otherwise fail late,
inside a kernel, after earlier chapters had run:

- a parameter that accepts ``None`` ("the preset's value", "no cap"): its type is declared in
  :data:`NULLABLE_PARAMETER_TYPES`;
- the contents of the mappings ``simulation`` (knobs of :class:`helpers.simulator.SimulationConfig`) and
  ``clinicllm_options`` (fields of :class:`helpers.clinicllm.ClinicLLMConfig`): checked by building those
  configurations, whose own validation names the field, the value and the allowed range.

Every error is a :class:`helpers.project.ParameterError` that names the parameter, the notebook and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from helpers.project import RESERVED_KEYS, NotebookSpec, ParameterError

NULLABLE_PARAMETER_TYPES: dict[str, type] = {
    "max_length": int,
    "vocab_size": int,
    "hidden_size": int,
    "num_layers": int,
    "pretrain_max_steps": int,
    "finetune_epochs": float,
    "finetune_max_steps": int,
    "max_train_samples": int,
}
"""The type of every notebook parameter that accepts ``None`` (null in YAML), whether its default is ``None`` or a
value whose meaning comment offers "None: no cap". A test checks that every ``None`` default is listed here."""

PARAMETER_CHOICES: dict[str, tuple[str, ...]] = {
    "strategy_training": ("head", "top_layer"),
    "local_start": ("global", "pretrained"),
}
"""Parameters that take one of a few words, and the words (chapter 5's, written here so that a plan is checked
without importing the model code; a test keeps them equal to ``helpers.mitigation.VARIANTS`` and ``STARTS``)."""
LIST_CHOICES: dict[str, tuple[str, ...]] = {
    "training_comparison": ("local", "instance_augmented", "cluster", "global_continued", "random_augmented"),
}
"""List parameters whose every item is one of a few words (a test keeps them equal to
``helpers.mitigation.EXPERIMENTS``)."""

CLINICLLM_CHAPTER = "02_clinicllm"
"""The chapter whose own parameters and ``clinicllm_options`` make the ClinicLLM configuration the others build on."""


def value_has_type(value: Any, expected: type) -> bool:
    """``value`` is of ``expected``; a whole number is accepted for a float, a bool never for a number."""
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def check_nullable(key: str, value: Any, where: str) -> None:
    """A parameter whose default is ``None`` takes ``None`` or a value of its declared type."""
    expected = NULLABLE_PARAMETER_TYPES.get(key)
    if value is None or expected is None:
        return
    if not value_has_type(value, expected):
        example = "a whole number without quotes, e.g. 128" if expected is int else "a number, e.g. 0.5"
        raise ParameterError(
            f"parameter {key!r} ({where}) must be {expected.__name__} or null (its default, null, takes the "
            f"chapter's own value), got {type(value).__name__} {value!r}; write it as {example}, or null"
        )


def _allowed_types(hint: Any) -> tuple[type, ...]:
    """The plain types a dataclass field's annotation allows (``int | None`` -> (int, NoneType))."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(t for t in typing.get_args(hint))
    return (hint,)


def check_field_types(values: Mapping[str, Any], config_class: type, parameter: str, where: str) -> None:
    """Every key of ``values`` is a field of ``config_class`` and every value has the field's type."""
    hints = typing.get_type_hints(config_class)
    fields = [f.name for f in dataclasses.fields(config_class) if f.name in hints]
    for key, value in values.items():
        if key not in hints:
            close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"parameter {parameter!r} ({where}) has the unknown key {key!r}.{hint} "
                                 f"Valid keys: {', '.join(sorted(fields))}")
        allowed = _allowed_types(hints[key])
        if value is None and type(None) in allowed:
            continue
        if not any(isinstance(t, type) and value_has_type(value, t) for t in allowed if t is not type(None)):
            names = " or ".join("null" if t is type(None) else getattr(t, "__name__", str(t)) for t in allowed)
            raise ParameterError(f"parameter {parameter!r} ({where}): {key} must be {names}, got "
                                 f"{type(value).__name__} {value!r}; e.g. --set '{parameter}={{{key}: ...}}'")


def _build(build: Callable[[], Any], parameter: str, where: str, fix: str) -> Any:
    """Run a configuration's own validation; its ValueError becomes a ParameterError that names the parameter."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"parameter {parameter!r} ({where}): {exc} Fix: {fix}") from None


def _effective(notebook: NotebookSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """The values the notebook will run with: its defaults, overridden by what the params file sets."""
    return {**notebook.defaults, **given}


def check_simulation(notebook: NotebookSpec, given: Mapping[str, Any], where: str) -> None:
    """``simulation`` knobs are SimulationConfig fields of the right type and range (``n_admissions`` too)."""
    values = _effective(notebook, given)
    knobs = dict(values.get("simulation") or {})
    if values.get("data_source", "simulated") != "simulated" or not (knobs or "n_admissions" in given):
        return
    from helpers.simulator import SimulationConfig

    if "hospitals" in knobs:
        raise ParameterError(f"parameter 'simulation' ({where}): 'hospitals' is no knob; the hospitals are set in "
                             "Python code (helpers.simulator.hospitals). Remove it from 'simulation'.")
    check_field_types(knobs, SimulationConfig, "simulation", where)
    if values.get("n_admissions") is not None:
        knobs["n_admissions"] = values["n_admissions"]
    _build(lambda: SimulationConfig(**knobs), "simulation", where,
           "change the knob to a value in its range (the book's parameter page lists every knob).")


def chapter_two_config(notebook: NotebookSpec, given: Mapping[str, Any], where: str):
    """The ClinicLLM configuration chapter 2 builds from its parameters, as its first cell does."""
    from helpers.clinicllm import ClinicLLMConfig

    values = _effective(notebook, given)
    fields = {f.name for f in dataclasses.fields(ClinicLLMConfig)}
    own = {k: v for k, v in values.items() if k in fields and k != "clinicllm_options"}
    own["pretrained_path"] = own.get("pretrained_path") or None
    options = dict(values.get("clinicllm_options") or {})
    check_field_types(options, ClinicLLMConfig, "clinicllm_options", where)
    return _build(lambda: ClinicLLMConfig.from_parameters(options, **own).resolved(), "clinicllm_options", where,
                  "set each field once, to a value the message allows (ClinicLLMConfig documents every field).")


def check_clinicllm(notebooks: list[NotebookSpec], resolved: Mapping[str, Mapping[str, Any]],
                    where_of: Callable[[str, str], str]) -> None:
    """Chapter 2's configuration, and each later chapter's ``clinicllm_options`` on top of it, can be built.

    Skipped when nothing that feeds the configuration differs from the notebooks' defaults (importing the model
    code takes seconds)."""
    specs = {nb.name: nb for nb in notebooks}
    chapter_two = specs.get(CLINICLLM_CHAPTER)
    if chapter_two is None:
        return
    options_set = any((resolved.get(nb.name) or {}).get("clinicllm_options") for nb in notebooks)
    from_chapter_two = set(resolved.get(CLINICLLM_CHAPTER) or {}) - {"run_dir", "seed", "seeds", "n_bootstrap",
                                                                      "tfidf_max_features"}
    if not options_set and not from_chapter_two:
        return
    from helpers.clinicllm import ClinicLLMConfig

    base = chapter_two_config(chapter_two, resolved.get(CLINICLLM_CHAPTER) or {},
                              where_of(CLINICLLM_CHAPTER, "clinicllm_options"))
    for nb in notebooks:
        options = dict((resolved.get(nb.name) or {}).get("clinicllm_options") or {})
        if nb.name == CLINICLLM_CHAPTER or not options:
            continue
        where = where_of(nb.name, "clinicllm_options")
        check_field_types(options, ClinicLLMConfig, "clinicllm_options", where)
        _build(lambda: ClinicLLMConfig.from_dict({**base.to_dict(), **options}), "clinicllm_options",
               where, f"{nb.name} applies these fields on top of chapter 2's configuration; give each "
               "a value the message allows.")


def check_plan_parameters(notebooks: list[NotebookSpec], resolved: Mapping[str, Mapping[str, Any]],
                          where_of: Callable[[str, str], str]) -> None:
    """Every check of this module on the resolved parameters of a run, before any kernel starts; ``where_of(notebook,
    key)`` says where a value came from (the params file or --set), for the messages."""
    for nb in notebooks:
        if "simulation" in nb.defaults:
            check_simulation(nb, resolved.get(nb.name) or {}, where_of(nb.name, "simulation"))
        check_choices(nb, resolved.get(nb.name) or {}, where_of)
    check_clinicllm(notebooks, resolved, where_of)


# ---------------------------------------------------------------------------------------------------------------
# The runner's checks of one key and value (helpers.runner.resolve_parameters)
# ---------------------------------------------------------------------------------------------------------------

def type_name(value: Any) -> str:
    return type(value).__name__


def example_of(default: Any) -> str:
    """How a value of the default's type is written in YAML, for the fix in a type error."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (int, float)):
        return f"a number without quotes, e.g. {default!r}"
    if isinstance(default, str):
        return "text, e.g. \"...\" (quote it if YAML would read it as something else)"
    if isinstance(default, (list, tuple)):
        return f"a list, e.g. {list(default)!r}"
    if isinstance(default, dict):
        return "a mapping, e.g. {key: value}"
    return repr(default)


def check_type(key: str, value: Any, default: Any, where: str) -> None:
    if default is None or (value is None and key in NULLABLE_PARAMETER_TYPES):
        # null means "the preset's value" or "no cap"; the type is declared beside the plan-time checks
        check_nullable(key, value, where)
        return
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ParameterError(
            f"parameter {key!r} ({where}) must be {type_name(default)} like its default {default!r}, "
            f"got {type_name(value)} {value!r}; write it as {example_of(default)}"
        )


def match_notebook(label: str, notebooks: list[NotebookSpec]) -> NotebookSpec:
    matches = [nb for nb in notebooks if nb.name == label or nb.number == label]
    if len(matches) != 1:
        names = ", ".join(nb.name for nb in notebooks)
        raise ParameterError(f"unknown notebook {label!r}; the notebooks are: {names} (or their numbers)")
    return matches[0]


def valid_keys_text(notebooks: list[NotebookSpec]) -> str:
    lines = []
    for nb in notebooks:
        keys = ", ".join(k for k in nb.defaults if k not in RESERVED_KEYS)
        lines.append(f"  {nb.name}: {keys}")
    return "valid keys:\n" + "\n".join(lines)


def nested_hint(key: str, notebook: NotebookSpec | None) -> str:
    """Where a key that is no notebook parameter belongs, when it is a field of a mapping parameter."""
    homes = []
    try:
        from helpers.simulator import simulation_knobs

        if key in simulation_knobs():
            homes.append(("simulation", "01"))
    except Exception:  # the hint must never fail the message
        pass
    try:
        import dataclasses

        from helpers.clinicllm import ClinicLLMConfig

        if key in {f.name for f in dataclasses.fields(ClinicLLMConfig)}:
            homes.append(("clinicllm_options", notebook.number if notebook else "02"))
    except Exception:
        pass
    return "".join(f" It is a field of the mapping parameter {mapping!r}: e.g. --set '{number}.{mapping}={{{key}: ...}}'."
                   for mapping, number in homes)


def did_you_mean(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choices(notebook: NotebookSpec, given: Mapping[str, Any], where_of: Callable[[str, str], str]) -> None:
    """Each parameter of :data:`PARAMETER_CHOICES` (and each item of a :data:`LIST_CHOICES` list) that the notebook
    has is one of its words; the error names the parameter, the value and every word allowed."""
    values = _effective(notebook, given)
    for key, allowed in PARAMETER_CHOICES.items():
        if key in notebook.defaults and values.get(key) not in allowed:
            raise ParameterError(f"parameter {key!r} ({where_of(notebook.name, key)}) is {values.get(key)!r}; "
                                 f"give one of {', '.join(repr(a) for a in allowed)}.")
    for key, allowed in LIST_CHOICES.items():
        if key not in notebook.defaults:
            continue
        items = values.get(key)
        bad = [item for item in items if item not in allowed] if isinstance(items, list) else [items]
        if bad or len(set(items)) != len(items):
            raise ParameterError(f"parameter {key!r} ({where_of(notebook.name, key)}) is {items!r}; give a list "
                                 f"without repeats of any of {', '.join(repr(a) for a in allowed)} (or []).")
