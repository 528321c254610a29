"""``orchestrator demo``: the loop on a laptop, with no account and no network.

It makes a working folder with a SQLite database of synthetic, Sambodhan-shaped feedback, local folders
standing in for the Hub's dataset repos, and a TOML configuration, then runs a cycle against them.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import sambodhan
from .db import make_engine

CONFIG_NAME = "orchestrator.toml"


def write_config(workdir: Path) -> Path:
    """The demo's configuration: SQLite, local metadata folders, local commands as targets."""
    python = json.dumps(sys.executable)
    config = workdir / CONFIG_NAME
    config.write_text(
        f"""# Written by `orchestrator demo`: local mode, no network.
[orchestrator]
database_url = "sqlite:///app.db"
poll_interval = 0.5
poll_timeout = 30

[prepare]
target = {{ command = [{python}, "-c", "print('prepare: labels {{labels}}')"] }}

[labels.department]
threshold = 30
metadata = "hub/department"
retrain = {{ command = [{python}, "-c", "print('retrain {{label}} on {{version}}')"] }}

[labels.urgency]
threshold = 30
metadata = "hub/urgency"
retrain = {{ command = [{python}, "-c", "print('retrain {{label}} on {{version}}')"] }}
""",
        encoding="utf-8",
    )
    return config


def prepare_workdir(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{workdir / 'app.db'}")
    sambodhan.create_schema(engine)
    if sambodhan.count_rows(engine) == 0:
        sambodhan.add_feedback(engine, {"department": 24, "urgency": 12}, noise=20, seed=7)
    engine.dispose()
    for label in ("department", "urgency"):
        folder = workdir / "hub" / label
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "dataset_metadata.json"
        if not meta.exists():
            meta.write_text(
                json.dumps(
                    {
                        "dataset_name": f"local/{label}",
                        "version_tag": "v0",
                        "num_samples": 0,
                        "splits": {"train": 0, "eval": 0, "test": 0},
                        "created_at": datetime.now(timezone.utc).isoformat(),
                    }
                ),
                encoding="utf-8",
            )
    return write_config(workdir)
