"""The core package never imports the ML stack; the jobs package imports it only in its submodules."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "skops", "pyarrow", "numpy", "scipy", "pandas", "datasets")


def test_core_modules_and_the_jobs_package_import_no_ml_library():
    script = f"""
import importlib, pkgutil, sys
import orchestrator, orchestrator.jobs
for info in pkgutil.iter_modules(orchestrator.__path__):
    if info.name not in ("jobs", "__main__"):
        importlib.import_module("orchestrator." + info.name)
from orchestrator.jobs import gate, splits, text
print(sorted(name for name in sys.modules if name.split(".")[0] in {HEAVY!r}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"



def _imported(node) -> list[str]:
    """The absolute module names an import statement of a top-level ``orchestrator`` module can load."""
    import ast

    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative to the package ``orchestrator``
        base = "orchestrator" + (f".{base}" if base else "")
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def test_the_core_never_imports_the_reference_jobs():
    """The product stands apart from its reference jobs: only the command line loads them, lazily."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "orchestrator"
    offenders = []
    for path in sorted(package.glob("*.py")):
        if path.name == "cli.py":  # the command line loads a job's module when that command runs
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if any(name == "orchestrator.jobs" or name.startswith("orchestrator.jobs.") for name in _imported(node)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
    # the check sees every spelling of such an import
    for spelling in ("from .jobs import model", "from . import jobs", "import orchestrator.jobs.model", "from orchestrator import jobs"):
        assert any(n.startswith("orchestrator.jobs") for n in _imported(ast.parse(spelling).body[0])), spelling
