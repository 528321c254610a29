"""Start-up cost of `orchestrator run` when there is nothing to do, and what it imports.

Runs `orchestrator run` against a SQLite database whose feedback is below every threshold, R times,
and reports the median wall time, plus whether the ML stack or huggingface_hub's API was imported.

    python bench/startup.py --repeat 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.jobs import schema as sambodhan
from orchestrator.remote.database import make_engine

PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('IMPORTED=' + ','.join(m for m in ('sklearn', 'numpy', 'pyarrow', "
    "'huggingface_hub.hf_api', 'alembic') if m in sys.modules), file=sys.stderr))\n"
    "from orchestrator.cli import main\nmain(['run'])\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'app.db'}"
        engine = make_engine(url)
        sambodhan.create_schema(engine)
        sambodhan.add_feedback(engine, {"department": 3, "urgency": 3})
        engine.dispose()
        env = {
            "PATH": os.environ["PATH"], "DATABASE_URL": url, "PREPARE_DATASET_REPO": "o/p",
            "RETRAIN_DEPT_REPO": "o/d", "RETRAIN_URGENCY_REPO": "o/u", "THRESHOLD_DEPARTMENT": "40",
            "THRESHOLD_URGENCY": "30", "HF_HUB_METADATA_DEPT": "https://huggingface.co/datasets/o/d/resolve/main/dataset_metadata.json",
            "HF_HUB_METADATA_URGENCY": "https://huggingface.co/datasets/o/u/resolve/main/dataset_metadata.json",
            # PYTHONPATH=<another checkout> measures that checkout's code with the same interpreter
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
        }
        times, imported = [], ""
        for _ in range(args.repeat + 1):  # the first run creates the state tables; it is not counted
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, cwd=tmp)
            times.append(time.perf_counter() - started)
            assert done.returncode == 0, done.stderr
            imported = done.stderr.strip().splitlines()[-1]
    print(f"first run (creates the state tables): {times[0]:.2f}s")
    print(f"nothing to do: median {statistics.median(times[1:]):.2f}s, max {max(times[1:]):.2f}s over {args.repeat} runs")
    print(imported)


if __name__ == "__main__":
    main()
