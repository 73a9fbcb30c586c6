"""Lint of the GitHub Actions workflow that builds and publishes the book (it cannot run here).

It must be valid YAML with the triggers the project promises (every push; a schedule and a manual run), its steps must
call the commands the README gives users (`make test`, `make study ...`) and targets that the Makefile has, the
published folder must be the book of the study that the same job runs, and `.ci/run` must install the browser that
the browser test needs before it runs `make test`.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    content = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(content, dict), "the workflow is not a YAML mapping"
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    if True in content:
        content["on"] = content.pop(True)
    return content


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _run_lines(job: dict) -> list[str]:
    lines = []
    for step in _steps(job):
        for line in str(step.get("run", "")).splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _readme_commands() -> set[str]:
    """Every shell line in the README's code blocks, comments dropped."""
    text = (ROOT / "README.md").read_text()
    commands = set()
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                commands.add(line)
    # commands written inline in prose, e.g. `make study PARAMS=params/smoke.yaml`
    commands |= {m.strip() for m in re.findall(r"`((?:make|\.venv/bin/clinicllm-study) [^`]+)`", text)}
    return commands


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*):", text, re.M))


def test_triggers_and_jobs(workflow):
    triggers = workflow["on"]
    assert "push" in triggers, "the smoke study must build on every push"
    assert "workflow_dispatch" in triggers, "the default study can be run by hand"
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert crons and all(len(cron.split()) == 5 for cron in crons), crons
    jobs = workflow["jobs"]
    assert {"smoke", "default", "publish"} <= set(jobs)
    assert "push" in jobs["smoke"]["if"] and "schedule" in jobs["default"]["if"]
    assert "workflow_dispatch" in jobs["default"]["if"]


def test_steps_call_the_readme_commands_and_existing_make_targets(workflow):
    readme = _readme_commands()
    targets = _makefile_targets()
    smoke = _run_lines(workflow["jobs"]["smoke"])
    assert ".ci/run" in smoke, "the smoke job runs the CI script, which runs `make test`"
    assert "make study PARAMS=params/smoke.yaml" in smoke
    for job_name, job in workflow["jobs"].items():
        for line in _run_lines(job):
            if line.startswith("make"):
                words = shlex.split(line)
                target = words[1]
                assert target in targets, f"{job_name}: `{line}` calls a Makefile target that does not exist"
                if "$" not in line:
                    assert line in readme, f"{job_name}: `{line}` is not a command of the README"
                else:
                    assert f"make {target}" in readme, f"{job_name}: `make {target}` is not in the README"
    assert "make test" in readme and "make study" in readme
    default = _run_lines(workflow["jobs"]["default"])
    assert any(line.startswith('make study PARAMS="$PARAMS"') for line in default)
    assert "params/default.yaml" in workflow["jobs"]["default"]["env"]["PARAMS"]


def test_the_published_folder_is_the_book_of_the_study_run_in_the_same_job(workflow):
    default = workflow["jobs"]["default"]
    steps = _steps(default)
    upload = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@")]
    assert len(upload) == 1
    locate = [s for s in steps if s.get("id") == "book"][0]
    assert 'runs/$(basename "$PARAMS" .yaml)/html' in locate["run"]  # the runner writes runs/<stem>/html
    assert upload[0]["with"]["path"] == "${{ steps.book.outputs.path }}"
    # the path rule is the runner's: params/default.yaml -> runs/default/html
    from helpers.runner import plan_run

    assert plan_run(ROOT / "params" / "default.yaml", root=ROOT).run_dir == Path("runs") / "default"
    publish = workflow["jobs"]["publish"]
    assert publish["needs"] == "default"
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert publish["environment"]["name"] == "github-pages"
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages@") for s in _steps(publish))


def test_every_action_is_pinned_to_a_version(workflow):
    for job_name, job in workflow["jobs"].items():
        for step in _steps(job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*|[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (
                    f"{job_name}: {step['uses']} is not pinned to a version")


def test_ci_script_installs_the_browser_then_runs_make_test():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    install = text.index("apt-get install")
    assert "chromium" in text[install:install + 120] and "chromium-driver" in text[install:install + 120]
    assert "command -v chromedriver" in text  # only when missing
    assert text.index("make test") > install
