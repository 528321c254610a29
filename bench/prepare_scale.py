"""`orchestrator prepare` on a large PostgreSQL feedback table: wall time and peak memory.

Creates a scratch database, fills `complaints` with N rows (5% of them flagged and reviewed as
corrections) with SQL `generate_series`, then runs `orchestrator prepare` as a subprocess and reports
its wall time and peak RSS. The dataset is written to a temporary local folder.

    python bench/prepare_scale.py --rows 100000 1000000 [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from orchestrator.jobs import schema as sambodhan
from orchestrator.jobs import synthetic
from orchestrator.remote.database import make_engine


def fill(url: str, rows: int) -> None:
    engine = make_engine(url)
    sambodhan.create_schema(engine)
    texts = [g.text for g in synthetic.generate(1000, seed=7)]
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE sample_texts (i int, t text)"))
        conn.execute(text("INSERT INTO sample_texts VALUES (:i, :t)"), [{"i": i, "t": t} for i, t in enumerate(texts)])
        conn.execute(
            text(
                "INSERT INTO complaints (id, message, department, urgency) "
                "SELECT g, s.t || ' #' || g, (CAST(:d AS text[]))[1 + g % 4], (CAST(:u AS text[]))[1 + g % 3] "
                "FROM generate_series(1, :n) g JOIN sample_texts s ON s.i = g % 1000"
            ),
            {"n": rows, "d": list(sambodhan.DEPARTMENTS), "u": list(sambodhan.URGENCIES)},
        )
        conn.execute(
            text(
                "INSERT INTO misclassified_complaints (complaint_id, model_predicted_department, correct_department,"
                " model_predicted_urgency, correct_urgency, reviewed) "
                "SELECT id, department, (CAST(:d AS text[]))[1 + (id + 1) % 4], urgency, urgency, true FROM complaints WHERE id % 20 = 0"
            ),
            {"d": list(sambodhan.DEPARTMENTS)},
        )
    engine.dispose()


def measure(url: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(
            f'[orchestrator]\ndatabase_url = "{url}"\n[prepare]\ntarget = {{ command = ["true"] }}\n'
            f'[labels.department]\nthreshold = 1\ndataset = "data"\nretrain = {{ command = ["true"] }}\n'
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", "prepare", "--config", str(config)],
            capture_output=True, text=True, cwd=tmp, env={**os.environ},
        )
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        meta = json.loads((Path(tmp) / "data" / "dataset_metadata.json").read_text())
    return {"rows": rows, "wall_s": round(wall, 1), "peak_rss_mb": round(max(peak, before) / 1024), "dataset_rows": meta["num_samples"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pg", default=os.environ.get("ORCHESTRATOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    print(f"{'complaints':>11}{'dataset rows':>14}{'wall s':>8}{'peak RSS MB':>13}")
    for rows in args.rows:
        name = f"orch_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
        try:
            fill(url, rows)
            result = measure(url, rows)
            print(f"{result['rows']:>11}{result['dataset_rows']:>14}{result['wall_s']:>8}{result['peak_rss_mb']:>13}")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
