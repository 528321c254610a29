"""The core never imports the ML stack; the jobs package imports it only in its submodules. (That the core never
imports the reference jobs themselves is tests/test_architecture.py's.)"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "skops", "pyarrow", "numpy", "scipy", "pandas", "datasets")


def test_core_modules_and_the_jobs_package_import_no_ml_library():
    script = f"""
import importlib, pkgutil, sys
import orchestrator, orchestrator.jobs
for info in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
    if not info.name.startswith(("orchestrator.jobs", "orchestrator.__main__", "orchestrator.state.migrations")):
        importlib.import_module(info.name)
from orchestrator.jobs import gate, splits, text
print(sorted(name for name in sys.modules if name.split(".")[0] in {HEAVY!r}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
