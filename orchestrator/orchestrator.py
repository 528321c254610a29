"""The seed's entry point, kept working: ``python orchestrator/orchestrator.py`` runs one cycle.

Run as a script, Python puts this folder (not the repo root) first on ``sys.path``, where this very file
would shadow the package; so the repo root is put in its place before importing the package.
Arguments are passed through, and with none it runs ``orchestrator run``.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))
    from orchestrator.cli import main

    main(sys.argv[1:] or ["run"])
