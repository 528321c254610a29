"""What each prepare and retrain cost, and the cost per deployed improvement: an HF Job's running seconds at its
flavor's price (the Hub stand-in's Jobs API), a GitHub run's billable minutes (the GitHub stand-in's timing), a
command's wall time; per label, everything spent since its last deploy, rejected retrains included."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import run_cli, seed_feedback
from support.githubstub import GitHubStub
from support.hubstub import HubStub
from test_launch_hfjobs import env as hub_env
from test_launch_hfjobs import write_config as hf_jobs_config
from test_launch_hfjobs import publish_prepared

from orchestrator.remote.database import make_engine
from orchestrator.report.costs import Spend, label_costs
from orchestrator.serve import statuspage
from orchestrator.state.records import Action
from orchestrator.state.store import StateStore

# The stand-in's prices per minute (support/hubstub/jobs.py HARDWARE), as list_jobs_hardware gives them.
CPU_BASIC, A10G_SMALL = 0.000167, 0.016667


def ledger(url: str) -> list[Action]:
    return StateStore(make_engine(url)).actions(kinds=("prepare", "retrain"))


# --------------------------------------------------------------------------------------------- the pure function
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def ended(kind: str, labels: tuple[str, ...], usd: float | None, seconds: float, outcome: str | None = None,
          key: str | None = None) -> Action:
    ended.n = getattr(ended, "n", 0) + 1
    return Action(kind, labels, key or f"{kind}:{ended.n}", result="ok", outcome=outcome,
                  ended_at=T0 + timedelta(hours=ended.n), cost_seconds=seconds, cost_usd=usd, cost_basis="b")


def test_since_the_last_deploy_counts_every_action_after_it_rejected_and_failed_retrains_included():
    ledger_ = [
        ended("prepare", ("department", "urgency"), 0.10, 60),  # shared: half each
        ended("retrain", ("department",), 1.00, 600, "deployed"),
        ended("retrain", ("urgency",), 0.40, 240, "rejected"),
        ended("prepare", ("department",), 0.20, 120),
        ended("retrain", ("department",), 0.50, 300, "rejected"),
        ended("retrain", ("department",), None, 90, "failed"),  # a wall time, no price
        Action("prepare", ("department",), "prepare:open", result="ok"),  # not ended: counts for nothing yet
    ]
    costs = label_costs(ledger_, ["department", "urgency", "topic"])
    department, urgency = costs["department"], costs["urgency"]
    assert "topic" not in costs  # nothing recorded: no entry
    assert department.since_deploy.usd == pytest.approx(0.70)
    assert (department.since_deploy.seconds, department.since_deploy.unpriced_seconds) == (510, 90)
    assert (department.since_deploy.retrains, department.since_deploy.actions) == (2, 3)
    assert department.last_improvement.usd == pytest.approx(1.05)  # its half of the prepare, and the deployed retrain
    assert department.last_improvement.retrains == 1
    assert department.text() == ("$0.70 + 90 s unpriced (2 retrains) since the last deploy; the last deployed "
                                 "improvement cost $1.05 (1 retrain)")
    assert urgency.last_improvement is None and urgency.since_deploy.usd == pytest.approx(0.45)
    assert urgency.text() == "$0.45 (1 retrain) spent, nothing deployed yet"
    assert department.to_dict()["since_last_deploy"] == {"usd": pytest.approx(0.70), "seconds": 510, "unpriced_seconds": 90,
                                                         "retrains": 2, "actions": 3}


def test_the_last_improvement_runs_from_the_deploy_before_it_and_a_promotion_by_hand_is_a_deploy():
    ledger_ = [
        ended("retrain", ("department",), 2.00, 60, "deployed"),
        ended("retrain", ("department",), 0.30, 60, "rejected"),
        ended("retrain", ("department",), 0.60, 60, "awaiting_approval"),
        Action("promote", ("department",), "promote:department:m3:1", "m3", result="ok",
               detail="deployed m3 (was m1); its first deploy"),
        Action("promote", ("department",), "rollback:department:m1:2", "m1", result="ok"),  # not an improvement
        Action("promote", ("department",), "promote:department:m3:3", "m3", result="ok",  # back again: neither
               detail="deployed m3 (was m1)"),
        ended("retrain", ("department",), None, 30, "failed"),
    ]
    cost = label_costs(ledger_, ["department"])["department"]
    assert cost.last_improvement.usd == pytest.approx(0.90) and cost.last_improvement.retrains == 2
    assert cost.since_deploy.usd is None and cost.since_deploy.seconds == 30
    assert cost.text() == "30 s (1 retrain) since the last deploy; the last deployed improvement cost $0.90 (2 retrains)"
    just_deployed = label_costs(ledger_[:1], ["department"])["department"]
    assert just_deployed.since_deploy == Spend()  # nothing since: zero
    assert just_deployed.text() == "nothing since the last deploy; the last deployed improvement cost $2.00 (1 retrain)"


def test_the_status_page_has_a_cost_column():
    row = {"label": "department", "state": "idle", "new_since_last_prepare": 0, "corrections": 40, "dataset_len": 60,
           "threshold": 30, "plan": "skip", "plan_reason": "r", "last_retrained_version": "v2", "previous_version": None,
           "new_version": None, "last_outcome": "rejected", "last_outcome_reason": None, "metric": None, "metric_name": None,
           "cost": label_costs([ended("retrain", ("department",), 0.5, 60, "rejected")], ["department"])["department"].to_dict()}
    page = statuspage.render([row, {**row, "label": "urgency", "cost": None}], [])
    assert "<th>cost</th>" in page
    assert '<td class="cost">$0.50 (1 retrain) spent, nothing deployed yet</td>' in page
    assert '<td class="cost">–</td>' in page


# --------------------------------------------------------------------------------------------- HF Jobs
class PricedJobs:
    """Prepare publishes both datasets after 30 s of running; each retrain publishes its decision after ``ran``."""

    def __init__(self, decisions: dict[str, tuple[str, int]]) -> None:
        self.decisions = decisions

    def __call__(self, stub: HubStub, job: dict) -> None:
        environment = job["environment"]
        if environment["ORCHESTRATOR_JOB"] == "prepare":
            publish_prepared(stub, environment)
            stub.finish_job(job["id"], ran_for=30)
            return
        label, version = environment["ORCHESTRATOR_LABELS"], environment["DATASET_VERSION"]
        decision, ran = self.decisions[label]
        stub.put_file(f"owner/{label}_model", "retrain_result.json", json.dumps({
            "dataset_version": version, "decision": decision, "reason": decision, "metrics": {"macro_f1": 0.83},
        }), repo_type="model")
        stub.finish_job(job["id"], ran_for=ran)


def test_an_hf_job_costs_its_running_seconds_at_its_flavors_price(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_job(PricedJobs({"department": ("deployed", 412), "urgency": ("rejected", 100)}), delay=0.2)
    config = hf_jobs_config(tmp_path, sqlite_url)
    done = run_cli(hub_env(stub), "run", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr

    actions = {(a.kind, a.labels): a for a in ledger(sqlite_url)}
    prepare = actions["prepare", ("department", "urgency")]
    department, urgency = actions["retrain", ("department",)], actions["retrain", ("urgency",)]
    assert (department.outcome, department.cost_seconds) == ("deployed", 412)
    assert department.cost_usd == pytest.approx(412 * A10G_SMALL / 60)  # running seconds × the price per minute
    assert department.cost_basis == "HF Job 412 s on a10g-small at $1.00/h"
    assert (urgency.outcome, urgency.cost_seconds) == ("rejected", 100)
    assert urgency.cost_usd == pytest.approx(100 * A10G_SMALL / 60)
    assert (prepare.outcome, prepare.cost_seconds) == (None, 30) and prepare.ended_at is not None
    assert prepare.cost_usd == pytest.approx(30 * CPU_BASIC / 60)  # the prepare's flavor: cpu-basic
    assert "the retrain of department-v2 cost $0.1144 (HF Job 412 s on a10g-small at $1.00/h)" in done.stderr

    status = {r["label"]: r["cost"] for r in json.loads(run_cli(hub_env(stub), "status", "--config", str(config), "--json").stdout)}
    assert status["department"]["last_improvement"]["usd"] == pytest.approx(prepare.cost_usd / 2 + department.cost_usd)
    assert status["department"]["since_last_deploy"]["actions"] == 0
    assert status["urgency"]["last_improvement"] is None  # rejected: nothing deployed yet
    assert status["urgency"]["since_last_deploy"]["usd"] == pytest.approx(prepare.cost_usd / 2 + urgency.cost_usd)
    run = {entry["label"]: entry["cost"] for entry in json.loads(done.stdout)["labels"]}
    assert run["department"]["text"] == status["department"]["text"]  # the run's summary says the same

    again = run_cli(hub_env(stub), "run", "--config", str(config))  # nothing to settle: no Hub call for a cost
    assert again.returncode == 0, again.stderr
    assert ledger(sqlite_url) == list(actions.values())
    assert not [r for r in stub.requests if "/jobs/hardware" in r.path][1:]  # the price list: read once, by the first run


# --------------------------------------------------------------------------------------------- GitHub
GH_TOKEN = "ghp_testtoken1234567890abcdef"
PREPARE = """
import json, pathlib, sys
for label in sys.argv[1].split(","):
    folder = pathlib.Path("datasets") / label
    count = folder / "count"
    n = int(count.read_text()) + 1 if count.exists() else 2
    folder.mkdir(parents=True, exist_ok=True)
    count.write_text(str(n))
    (folder / "dataset_metadata.json").write_text(json.dumps({"version_tag": f"{label}-v{n}", "num_samples": 500}))
"""


@pytest.fixture
def github():
    stub = GitHubStub(tokens={GH_TOKEN: "write"})
    stub.start()
    stub.add_workflow("owner/app", "retrain.yml", inputs=["label", "version", "orchestrator_key"],
                      run_name="retrain ${{ inputs.orchestrator_key }}")
    try:
        yield stub
    finally:
        stub.stop()


def github_config(tmp: Path, url: str, price: str = "") -> Path:
    (tmp / "prepare.py").write_text(PREPARE)
    python = json.dumps(sys.executable)
    (tmp / "orchestrator.toml").write_text("\n".join([
        "[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 5", "",
        "[prepare]", f'target = {{ command = [{python}, "prepare.py", "{{labels}}"], cwd = {json.dumps(str(tmp))} }}', "",
        "[labels.department]", "threshold = 30", 'dataset = "datasets/department"', 'result = "models/department"',
        f'retrain = {{ github = "owner/app", workflow = "retrain.yml", inputs = {{ label = "{{label}}", '
        f'version = "{{version}}" }}{price} }}',
    ]) + "\n")
    return tmp / "orchestrator.toml"


def publishing(tmp: Path, billable: dict | None):
    def on_dispatch(stub: GitHubStub, run: dict) -> None:
        folder = tmp / "models" / run["inputs"]["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "retrain_result.json").write_text(json.dumps({
            "dataset_version": run["inputs"]["version"], "decision": "rejected", "reason": "no gain"}))
        if billable is not None:
            stub.set_timing(run["id"], billable)
        stub.finish_run(run["id"], "success")

    return on_dispatch


def test_a_github_run_records_its_billable_minutes_and_dollars_at_the_configured_price(tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40})
    github.on_dispatch(publishing(tmp_path, {"UBUNTU": [61_000, 30_000], "WINDOWS": 5_000}))  # 2 + 1 + 1 minutes
    config = github_config(tmp_path, sqlite_url, price=", usd_per_minute = 0.008")
    done = run_cli({"GITHUB_API_URL": github.url, "GITHUB_TOKEN": GH_TOKEN}, "run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    (retrain,) = [a for a in ledger(sqlite_url) if a.kind == "retrain"]
    assert (retrain.outcome, retrain.cost_seconds, retrain.cost_basis) == (
        "rejected", 4 * 60, "GitHub billable 4 min at $0.008/min")
    assert retrain.cost_usd == pytest.approx(4 * 0.008)
    (run,) = github.runs()
    assert [r.path for r in github.requests if r.path.endswith("/timing")] == [f"/repos/owner/app/actions/runs/{run['id']}/timing"]


def test_without_a_price_github_minutes_have_no_dollars_and_an_unreadable_timing_records_the_wall_time(
        tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40})
    github.on_dispatch(publishing(tmp_path, {"UBUNTU": 125_000}))
    config = github_config(tmp_path, sqlite_url)
    github.fail("GET", r"/timing$", 404)  # GitHub retired the endpoint, say
    done = run_cli({"GITHUB_API_URL": github.url, "GITHUB_TOKEN": GH_TOKEN}, "run", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr  # never a reason to fail the label
    assert json.loads(done.stdout)["labels"][0]["outcome"] == "rejected"
    assert "could not read what the retrain cost" in done.stderr and "its wall time is recorded instead" in done.stderr
    (retrain,) = [a for a in ledger(sqlite_url) if a.kind == "retrain"]
    assert retrain.cost_usd is None and retrain.cost_basis == f"wall time {retrain.cost_seconds:.0f} s"

    seed_feedback(sqlite_url, {"department": 40}, seed=1)  # a second round, its timing readable: 3 minutes, no price
    done = run_cli({"GITHUB_API_URL": github.url, "GITHUB_TOKEN": GH_TOKEN}, "run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    second = [a for a in ledger(sqlite_url) if a.kind == "retrain"][-1]
    assert (second.version, second.cost_seconds, second.cost_usd, second.cost_basis) == (
        "department-v3", 180, None, "GitHub billable 3 min")


# --------------------------------------------------------------------------------------------- commands
RETRAIN = """
import json, pathlib, sys, time
label, version = sys.argv[1], sys.argv[2]
time.sleep(1.0)
folder = pathlib.Path("models") / label
folder.mkdir(parents=True, exist_ok=True)
decision = (pathlib.Path("decision").read_text().strip())
(folder / "retrain_result.json").write_text(json.dumps({"dataset_version": version, "decision": decision, "reason": decision}))
"""


def command_config(tmp: Path, url: str) -> Path:
    (tmp / "prepare.py").write_text(PREPARE)
    (tmp / "retrain.py").write_text(RETRAIN)
    python, cwd = json.dumps(sys.executable), json.dumps(str(tmp))
    (tmp / "orchestrator.toml").write_text("\n".join([
        "[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 5", "",
        "[prepare]", f'target = {{ command = [{python}, "prepare.py", "{{labels}}"], cwd = {cwd} }}', "",
        "[labels.department]", "threshold = 30", 'dataset = "datasets/department"', 'result = "models/department"',
        f'retrain = {{ command = [{python}, "retrain.py", "{{label}}", "{{version}}"], cwd = {cwd} }}',
    ]) + "\n")
    return tmp / "orchestrator.toml"


def test_commands_cost_their_wall_time_and_status_shows_what_was_spent_since_the_last_deploy(tmp_path, db_url):
    config = command_config(tmp_path, db_url)
    summary = tmp_path / "summary.md"
    rounds = []
    for seed, decision in enumerate(("deployed", "rejected", "rejected")):  # one deploy, then two rejections
        (tmp_path / "decision").write_text(decision)
        seed_feedback(db_url, {"department": 40}, seed=seed)
        done = run_cli({"GITHUB_STEP_SUMMARY": str(summary)}, "run", "--config", str(config), "--json")
        assert done.returncode == 0, done.stderr
        rounds.append(json.loads(done.stdout)["labels"][0])
    assert [r["outcome"] for r in rounds] == ["deployed", "rejected", "rejected"]

    actions = ledger(db_url)
    assert [(a.kind, a.outcome) for a in actions] == [("prepare", None), ("retrain", "deployed"), ("prepare", None),
                                                       ("retrain", "rejected"), ("prepare", None), ("retrain", "rejected")]
    for action in actions:  # wall time from the launch to the outcome: no dollars
        assert action.cost_usd is None and action.cost_basis == f"wall time {action.cost_seconds:.0f} s"
    assert all(a.cost_seconds >= 1.0 for a in actions if a.kind == "retrain")  # the command's own second included

    (row,) = json.loads(run_cli({}, "status", "--config", str(config), "--json").stdout)
    since, last = row["cost"]["since_last_deploy"], row["cost"]["last_improvement"]
    assert (since["retrains"], since["actions"], since["usd"]) == (2, 4, None)  # both rejected rounds
    assert since["seconds"] == pytest.approx(sum(a.cost_seconds for a in actions[2:]), abs=0.01)
    assert (last["retrains"], last["actions"]) == (1, 2)
    assert last["seconds"] == pytest.approx(sum(a.cost_seconds for a in actions[:2]), abs=0.01)
    assert row["cost"]["text"].startswith(f"{since['seconds']:.0f} s (2 retrains) since the last deploy; the last "
                                          "deployed improvement cost ")
    assert rounds[-1]["cost"] == row["cost"]  # the run's JSON summary
    table = run_cli({}, "status", "--config", str(config)).stdout
    assert f"department: cost {row['cost']['text']}" in table
    assert f"- **department** cost: {row['cost']['text']}" in summary.read_text()  # the job summary


def test_a_timing_with_nothing_billable_or_of_another_shape_is_read_without_error():
    from orchestrator.remote.github import Timing

    zero = Timing.of({"billable": {"UBUNTU": {"total_ms": 0, "job_runs": [{"duration_ms": 0}]}}, "run_duration_ms": 754_000})
    assert (zero.billable_minutes, zero.run_ms) == (0, 754_000)  # the run's duration is recorded, not 0 minutes
    assert Timing.of({"billable": None, "run_duration_ms": 5}).billable_minutes == 0
    assert Timing.of({"billable": [1, 2], "run_duration_ms": None}).billable_ms == {}
    assert Timing.of({"billable": {"UBUNTU": None}}).billable_ms == {}
