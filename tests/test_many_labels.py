"""Any number of labels: 100 labels with ordinary names on PostgreSQL, half of them firing, make one prepare
and one retrain per fired label, and a re-run starts nothing. Through the real CLI, against the Hub stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TOKEN, run_cli
from support.feedback import many_labels_feedback
from support.hubstub import HubStub

from orchestrator.contracts.actions import MAX_READABLE_KEY, prepare_key

LABELS = tuple(f"topic_{i:03d}" for i in range(100))
FIRING = LABELS[::2]  # 50 of them


def write_config(tmp: Path, url: str, stub: HubStub) -> Path:
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.2", "poll_timeout = 60",
             "", "[prepare]", 'target = "owner/prepare"']
    for label in LABELS:
        lines += ["", f"[labels.{label}]", "threshold = 30", f'metadata = {{ repo = "owner/{label}_dataset" }}',
                  f'retrain = "owner/retrain_{label}"']
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.mark.postgres
def test_a_hundred_labels_half_firing_prepare_once_and_retrain_each_fired_label_once(pg_url, tmp_path):
    stub = HubStub(tokens={TOKEN: "owner"}).start()
    try:
        stub.add_space("owner/prepare")
        for label in LABELS:
            stub.add_space(f"owner/retrain_{label}")
            stub.put_metadata(f"owner/{label}_dataset", version_tag="v1", num_samples=10)

        def publish(hub: HubStub) -> None:
            for label in FIRING:
                hub.put_metadata(f"owner/{label}_dataset", version_tag="v2", num_samples=500)

        stub.on_restart("owner/prepare", publish, delay=0.3)
        many_labels_feedback(pg_url, LABELS, FIRING)
        config = write_config(tmp_path, pg_url, stub)
        env = {"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN}

        done = run_cli(env, "run", "--config", str(config), "--json", timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        outcomes = {entry["label"]: entry["outcome"] for entry in json.loads(done.stdout)["labels"]}
        assert {label for label, outcome in outcomes.items() if outcome == "retrain triggered"} == set(FIRING)
        assert stub.restarts("owner/prepare") == 1
        assert [stub.restarts(f"owner/retrain_{label}") for label in LABELS] == [int(label in FIRING) for label in LABELS]

        again = run_cli(env, "run", "--config", str(config), "--json", timeout=240)
        assert again.returncode == 0, again.stderr[-3000:]
        assert stub.restarts("owner/prepare") == 1
        assert sum(stub.restarts(f"owner/retrain_{label}") for label in LABELS) == len(FIRING)
    finally:
        stub.stop()


def test_a_prepare_key_of_many_labels_is_a_digest_that_fits_the_ledger():
    few = prepare_key("run1", {"department": 40, "urgency": 12})
    assert few == "prepare:run1:department=40,urgency=12"  # as it always was
    many = prepare_key("0" * 32, {f"topic_{i:03d}_{'x' * 30}": 40 for i in range(100)})
    assert many.startswith("prepare:" + "0" * 32 + ":100 labels:") and len(many) <= MAX_READABLE_KEY
    assert many != prepare_key("0" * 32, {f"topic_{i:03d}_{'x' * 30}": 41 for i in range(100)})
