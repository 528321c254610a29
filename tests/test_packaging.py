"""The files the seed's users rely on: requirements.txt, .env_examples and the example configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from orchestrator.config.loader import load_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SEED_VARIABLES = [
    "HF_TOKEN", "PREPARE_DATASET_REPO", "RETRAIN_DEPT_REPO", "RETRAIN_URGENCY_REPO", "HF_HUB_METADATA_DEPT",
    "HF_HUB_METADATA_URGENCY", "DATABASE_URL", "THRESHOLD_DEPARTMENT", "THRESHOLD_URGENCY", "POLL_INTERVAL",
    "POLL_TIMEOUT", "DRY_RUN",
]


def _name(req: Requirement) -> str:
    return req.name.lower().replace("_", "-")


def test_requirements_pin_exactly_the_core_dependencies_within_their_ranges():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r): r for r in map(Requirement, project["dependencies"]) if r.marker is None or r.marker.evaluate()}
    lines = [line.strip() for line in (REPO / "orchestrator/requirements.txt").read_text().splitlines()]
    pinned = {_name(r): r for r in (Requirement(line) for line in lines if line and not line.startswith("#"))}
    assert set(pinned) == set(declared)
    for name, req in pinned.items():
        (spec,) = req.specifier
        assert spec.operator == "==", f"{name} is not pinned"
        assert declared[name].specifier.contains(spec.version), f"{name}=={spec.version} is outside {declared[name].specifier}"
        assert req.extras == declared[name].extras, name


def test_env_examples_lists_every_seed_variable_and_parses():
    text = (REPO / "orchestrator/.env_examples").read_text()
    assigned = {line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert set(SEED_VARIABLES) <= assigned
    settings = load_settings({}, env_file=REPO / "orchestrator/.env_examples")
    assert [label.threshold for label in settings.labels] == [40, 30]
    assert settings.poll_timeout == 1800


@pytest.mark.parametrize("example", sorted((REPO / "orchestrator/examples").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_parse(example):
    env = {"HF_TOKEN": "hf_exampleEEEEEEEEEEEEEEEEEE", "DATABASE_URL": "sqlite://"}
    settings = load_settings(env, config_file=example, env_file=None)
    assert settings.labels


def test_the_built_wheel_carries_every_module_and_migration(tmp_path):
    """The workflow installs the package non-editable: migrations and data files must be in the wheel, and nothing
    else (no module that moved away). Built from a copy of the sources, as a clean clone would build it."""
    import shutil
    import subprocess
    import zipfile

    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "site", "artifacts", "orchestrator-demo"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("continuous_learning_orchestrator-*.whl")  # the distribution name
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"orchestrator/{p.relative_to(REPO / 'orchestrator').as_posix()}" for p in (REPO / "orchestrator").rglob("*.py")}
    assert {name for name in names if name.endswith(".py")} == expected
    expected |= {
        "orchestrator/.env_examples",
        "orchestrator/requirements.txt",
        "orchestrator/state/migrations/script.py.mako",
        "orchestrator/examples/hub.toml",
    }
    assert expected - names == set()


def test_no_class_in_the_package_is_over_250_lines():
    """A class that grows past this does more than one job: split it (see docs/architecture.md)."""
    import ast

    too_big = []
    for path in sorted((REPO / "orchestrator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 250:
                too_big.append(f"{path.relative_to(REPO)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert too_big == []
