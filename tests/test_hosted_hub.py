"""The loop on the Hub itself, end to end on the Hub stand-in with the real huggingface_hub client and real
subprocesses: ``orchestrator schedule`` makes one scheduled job however often it runs, ``hooks install`` one
webhook that starts a job, and the job a delivery starts (run as the Hub would run it: its environment and
secrets) retrains exactly the label whose dataset arrived, and nothing when its secret is wrong.
PostgreSQL only: a hosted run refuses SQLite."""

from __future__ import annotations

import json
import shlex

from huggingface_hub import HfApi

from conftest import TOKEN, run_cli, seed_feedback
from test_launch_hfjobs import env, retrain_jobs, write_config


def schedule(stub, config, *args):
    return run_cli(env(stub), "schedule", "--config", str(config), *args)


def test_schedule_twice_makes_one_scheduled_job_running_the_loop_with_its_secrets(tmp_path, pg_url, stub):
    config = write_config(tmp_path, pg_url)
    dry = schedule(stub, config, "--cron", "*/15 * * * *", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would create the scheduled job 'orchestrator' in owner" in dry.stderr
    assert "HF_TOKEN=***" in dry.stderr and TOKEN not in dry.stderr + dry.stdout
    assert stub.scheduled_jobs() == []  # the dry run created nothing

    first = schedule(stub, config, "--cron", "*/15 * * * *", "--install", "")
    second = schedule(stub, config, "--cron", "*/15 * * * *", "--install", "")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert ": created (" in first.stderr and ": unchanged (" in second.stderr
    (job,) = stub.scheduled_jobs()
    spec = job["jobSpec"] if "jobSpec" in job else job
    assert spec["command"] == ["orchestrator", "run", "--no-wait"]
    assert spec["secrets"]["HF_TOKEN"] == TOKEN
    assert TOKEN not in json.dumps(spec["environment"])
    assert spec["environment"]["ORCHESTRATOR_CONFIG_TOML"] == config.read_text()
    assert job["concurrency"] is False and job["schedule"] == "*/15 * * * *"
    assert TOKEN not in first.stderr + second.stderr

    moved = schedule(stub, config, "--cron", "@hourly", "--install", "")
    assert ": rescheduled (@hourly" in moved.stderr, moved.stderr
    (again,) = stub.scheduled_jobs()
    assert again["id"] == job["id"] and again["schedule"] == "@hourly"  # changed in place

    ran = stub.fire_schedule(job["id"])
    shown = schedule(stub, config, "--show")
    assert shown.returncode == 0 and f"scheduled job {job['id']} in owner: @hourly" in shown.stderr
    assert f"job {ran}: " in shown.stderr  # the run it started, with its stage

    gone = schedule(stub, config, "--delete")
    assert gone.returncode == 0 and f"deleted scheduled job {job['id']}" in gone.stderr
    assert stub.scheduled_jobs() == []
    assert "nothing to delete" in schedule(stub, config, "--delete").stderr


def test_schedule_warns_of_sqlite_and_refuses_a_missing_cron_with_exit_2(tmp_path, sqlite_url, stub):
    config = write_config(tmp_path, sqlite_url)
    usage = schedule(stub, config)
    assert usage.returncode == 2 and "--cron is required" in usage.stderr
    assert stub.scheduled_jobs() == []
    warned = schedule(stub, config, "--cron", "@hourly")
    assert warned.returncode == 0, warned.stderr
    assert "warning: the job may not work on the Hub: the app database (DATABASE_URL) is SQLite" in warned.stderr
    assert len(stub.scheduled_jobs()) == 1


def delivery(repo: str, head: str = "c0ffee") -> dict:
    return {"event": {"action": "update", "scope": "repo.content"},
            "repo": {"type": "dataset", "name": repo, "headSha": head},
            "updatedRefs": [{"ref": "refs/heads/main", "oldSha": "0" * 40, "newSha": head}],
            "webhook": {"id": "w", "version": 3}}


def hub_run(stub, job_id: str, **change: str):
    """Run a job the stand-in started as the Hub would: its command, with its environment and its secrets."""
    job = next(j for j in stub.jobs() if j["id"] == job_id)
    variables = {**job["environment"], **(job["secrets"] or {}), **change}
    assert job["command"][:2] == ["orchestrator", "run"], job["command"]
    return run_cli(variables, *job["command"][1:])


def test_hooks_install_makes_one_webhook_whose_job_retrains_exactly_the_label_that_was_waiting(tmp_path, pg_url, stub):
    seed_feedback(pg_url, {"department": 40, "urgency": 40})
    config = write_config(tmp_path, pg_url)
    fired = run_cli(env(stub), "run", "--config", str(config), "--no-wait")
    assert fired.returncode == 0, fired.stderr  # both labels prepared, both now wait for their datasets
    assert retrain_jobs(stub) == []

    hooks = {"WEBHOOK_SECRET": "pw-hook-secret-1"}
    first = run_cli(env(stub, **hooks), "hooks", "install", "--config", str(config), "--install", "")
    second = run_cli(env(stub, **hooks), "hooks", "install", "--config", str(config), "--install", "")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    (hook,) = stub.webhooks()
    assert hook["job_id"] and hook["secret"] == "pw-hook-secret-1" and hook["secrets"]["HF_TOKEN"] == TOKEN
    assert {(w["type"], w["name"]) for w in hook["watched"]} == {("dataset", "owner/dept_dataset"),
                                                                 ("dataset", "owner/urgency_dataset")}
    sources = [j for j in stub.jobs() if (j["labels"] or {}).get("orchestrator-hooks") == "orchestrator"]
    assert len(sources) == 1  # the second install reused the source job
    assert shlex.join(sources[0]["command"]) == "orchestrator run --no-wait --webhook-payload-env WEBHOOK_PAYLOAD"
    assert "pw-hook-secret-1" not in first.stderr + second.stderr and TOKEN not in first.stderr

    idle = hub_run(stub, sources[0]["id"])  # the source job itself: no payload, nothing to do
    assert idle.returncode == 0 and "no webhook payload in WEBHOOK_PAYLOAD" in idle.stderr

    stub.put_metadata("owner/dept_dataset", version_tag="department-v2", num_samples=500)
    stub.put_metadata("owner/urgency_dataset", version_tag="urgency-v2", num_samples=500)
    forged = stub.deliver_webhook(hook["id"], delivery("owner/dept_dataset"))
    refused = hub_run(stub, forged, WEBHOOK_SECRET="not-the-secret")
    assert refused.returncode == 2, refused.stderr
    assert "is not the secret of the Hub webhook that watches owner/dept_dataset" in refused.stderr
    assert retrain_jobs(stub) == []  # nothing was run

    job = stub.deliver_webhook(hook["id"], delivery("owner/dept_dataset"))
    done = hub_run(stub, job)
    assert done.returncode == 0, done.stderr
    (retrain,) = retrain_jobs(stub)  # exactly the label of that dataset, though urgency's arrived too
    assert retrain["environment"]["ORCHESTRATOR_LABELS"] == "department"
    assert retrain["environment"]["DATASET_VERSION"] == "department-v2"
    status = {r["label"]: r for r in json.loads(run_cli(env(stub), "status", "--config", str(config), "--json").stdout)}
    assert status["urgency"]["state"] == "prepare_requested"

    repeated = hub_run(stub, stub.deliver_webhook(hook["id"], delivery("owner/dept_dataset")))
    assert repeated.returncode == 0 and len(retrain_jobs(stub)) == 1  # the same delivery again: nothing twice

    elsewhere = hub_run(stub, stub.deliver_webhook(hook["id"], delivery("owner/unwatched")))
    assert elsewhere.returncode == 0 and "concerns no label: nothing to do" in elsewhere.stderr

    shown = run_cli(env(stub), "hooks", "--show", "--config", str(config))
    assert f"Hub webhook {hook['id']} (enabled): watches dataset:owner/dept_dataset" in shown.stderr
    gone = run_cli(env(stub), "hooks", "--delete", "--config", str(config))
    assert gone.returncode == 0 and stub.webhooks() == []


def test_a_payload_that_is_not_a_hub_delivery_exits_2_without_a_traceback(tmp_path, pg_url, stub):
    config = write_config(tmp_path, pg_url)
    bad = run_cli(env(stub, WEBHOOK_PAYLOAD="{not json", WEBHOOK_SECRET="s"), "run", "--config", str(config),
                  "--no-wait", "--webhook-payload-env", "WEBHOOK_PAYLOAD")
    assert bad.returncode == 2 and "WEBHOOK_PAYLOAD is not a Hub webhook payload: the body is not JSON" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_wrong_token_exits_2_naming_it_and_creates_nothing(tmp_path, pg_url, stub):
    config = write_config(tmp_path, pg_url)
    wrong = run_cli(env(stub, HF_TOKEN="hf_wrong-token-ZZZZZZZZZZZZ"), "schedule", "--config", str(config), "--cron", "@daily")
    assert wrong.returncode == 2, wrong.stderr
    assert "HF_TOKEN" in wrong.stderr and "hf_wrong-token-ZZZZZZZZZZZZ" not in wrong.stderr
    assert "Traceback" not in wrong.stderr and stub.scheduled_jobs() == []
    hooks = run_cli(env(stub, HF_TOKEN="hf_wrong-token-ZZZZZZZZZZZZ"), "hooks", "install", "--config", str(config))
    assert hooks.returncode == 2 and stub.webhooks() == [] and "HF_TOKEN" in hooks.stderr


def test_hooks_with_a_generated_secret_two_names_and_a_disabled_webhook(tmp_path, pg_url, stub):
    seed_feedback(pg_url, {"department": 40})
    config = write_config(tmp_path, pg_url, labels=("department",))
    assert run_cli(env(stub), "run", "--config", str(config), "--no-wait").returncode == 0
    install = ("hooks", "install", "--config", str(config), "--install", "")
    assert run_cli(env(stub), *install).returncode == 0  # no WEBHOOK_SECRET: a random one, never printed
    assert run_cli(env(stub), *install, "--name", "other").returncode == 0
    hooks = {h["job"]["environment"]["ORCHESTRATOR_HOOKS_NAME"]: h for h in stub.webhooks()}
    assert set(hooks) == {"orchestrator", "other"} and hooks["orchestrator"]["secret"] != hooks["other"]["secret"]
    assert len(hooks["orchestrator"]["secret"]) >= 32

    stub.put_metadata("owner/dept_dataset", version_tag="department-v2", num_samples=500)
    job = stub.deliver_webhook(hooks["orchestrator"]["id"], delivery("owner/dept_dataset"))
    done = hub_run(stub, job)  # the secret the Hub sets is the generated one: accepted
    assert done.returncode == 0, done.stderr
    assert [j["environment"]["ORCHESTRATOR_LABELS"] for j in retrain_jobs(stub)] == ["department"]
    crossed = hub_run(stub, job, WEBHOOK_SECRET=hooks["other"]["secret"])  # another project's secret: refused
    assert crossed.returncode == 2, crossed.stderr

    HfApi(endpoint=stub.url, token=TOKEN).disable_webhook(hooks["orchestrator"]["id"])
    again = run_cli(env(stub), *install)
    assert again.returncode == 0 and "updated and enabled" in again.stderr, again.stderr
    assert not next(h for h in stub.webhooks() if h["id"] == hooks["orchestrator"]["id"])["disabled"]
    gone = run_cli(env(stub), "hooks", "--delete", "--config", str(config), "--name", "other")
    assert gone.returncode == 0 and [h["id"] for h in stub.webhooks()] == [hooks["orchestrator"]["id"]]


def test_a_cron_that_is_no_schedule_exits_2_before_anything_is_sent(tmp_path, pg_url, stub):
    config = write_config(tmp_path, pg_url)
    before = len(stub.requests)
    bad = schedule(stub, config, "--cron", "every minute")
    assert bad.returncode == 2 and "is not a schedule: write five fields" in bad.stderr
    assert len(stub.requests) == before and stub.scheduled_jobs() == []


def test_a_refused_create_is_a_clear_error_and_the_next_schedule_still_makes_one_job(tmp_path, pg_url, stub):
    config = write_config(tmp_path, pg_url)
    stub.fail("POST", r"^/api/scheduled-jobs/owner$", 500)
    failed = schedule(stub, config, "--cron", "@hourly")
    assert failed.returncode != 0 and "creating a scheduled job" in failed.stderr and "Traceback" not in failed.stderr
    assert stub.scheduled_jobs() == []  # a create is never blindly sent twice
    assert schedule(stub, config, "--cron", "@hourly").returncode == 0
    assert len(stub.scheduled_jobs()) == 1
