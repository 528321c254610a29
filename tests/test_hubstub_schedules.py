"""The Hub stub's scheduled jobs and webhooks, driven through the real ``huggingface_hub`` client.

These pin the stub to what the client (2.4) sends and parses: ``create_scheduled_job``'s
``{"jobSpec", "schedule", "suspend", "concurrency"}`` body, ``ScheduledJobInfo`` (``status.last_job``,
``next_job_run_at``), suspend/resume/delete and the schedule/labels/run changes, and ``create_webhook``'s
``jobSourceId`` webhooks with their ``secrets``; plus the hooks that stand for the Hub's clock
(``fire_schedule``) and its events (``deliver_webhook``), auth and injected faults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from huggingface_hub import HfApi
from huggingface_hub._jobs_api import ScheduledJobInfo
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import get_session
from support.hubstub import HubStub

TOKENS = {"hf_good": "owner", "hf_other": "someone", "hf_read": "owner", "hf_team": "member"}
SECRET = "hf_s3cr3t-value-XYZ"
SOURCE_SECRET = "hf_source-only-secret"
OWNER = [{"type": "user", "name": "owner"}]


@pytest.fixture
def stub() -> Iterator[HubStub]:
    with HubStub(tokens=TOKENS) as hub:
        hub.token_access["hf_read"] = {"role": "read"}
        hub.token_access["hf_team"] = {"role": "write", "orgs": ["team"]}
        yield hub


def api(stub: HubStub, token: str | bool = "hf_good") -> HfApi:
    return HfApi(endpoint=stub.url, token=token)


def schedule(stub: HubStub, token: str = "hf_good", **kwargs: object) -> ScheduledJobInfo:
    spec: dict = {"image": "python:3.12", "command": ["python", "retrain.py"], "schedule": "@hourly",
                  "namespace": "owner", **kwargs}  # fmt: skip
    return api(stub, token).create_scheduled_job(**spec)  # type: ignore[arg-type]


def raw(stub: HubStub, method: str, path: str, token: str = "hf_good", **kwargs: object) -> tuple[int, str]:
    headers = {"authorization": f"Bearer {token}"}
    response = get_session().request(method, f"{stub.url}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.text


def status_of(call: object) -> int:
    with pytest.raises(HfHubHTTPError) as info:
        call()  # type: ignore[operator]
    return info.value.response.status_code


# ---------------------------------------------------------------- scheduled jobs


def test_create_scheduled_job_sends_the_spec_and_never_echoes_secret_values(stub: HubStub) -> None:
    created = api(stub).create_scheduled_job(  # no namespace: the client asks the stub's whoami-v2
        image="python:3.12", command=["python", "-m", "retrain"], schedule="0 9 * * 1", concurrency=True,
        suspend=False, env={"LABEL": "dept"}, secrets={"HF_TOKEN": SECRET}, flavor="t4-small", timeout="2h",
        labels={"orchestrator": "retrain"},
    )  # fmt: skip
    sent = json.loads(stub.requests[-1].body)
    assert (stub.requests[-1].method, stub.requests[-1].path) == ("POST", "/api/scheduled-jobs/owner")
    assert set(sent) == {"jobSpec", "schedule", "concurrency", "suspend"}
    assert (sent["schedule"], sent["concurrency"], sent["suspend"]) == ("0 9 * * 1", True, False)
    assert sent["jobSpec"]["secrets"] == {"HF_TOKEN": SECRET} and sent["jobSpec"]["timeoutSeconds"] == 7200

    assert len(created.id) == 24 and created.owner.name == "owner" and created.owner.type == "user"
    assert (created.schedule, created.suspend, created.concurrency) == ("0 9 * * 1", False, True)
    spec = created.job_spec
    assert spec.docker_image == "python:3.12" and spec.command == ["python", "-m", "retrain"]
    assert spec.environment == {"LABEL": "dept"} and spec.secrets == {"HF_TOKEN": None}
    assert (spec.flavor, spec.timeout) == ("t4-small", 7200)
    assert spec.labels is not None and spec.labels["orchestrator"] == "retrain" and "name" in spec.labels
    assert created.status.last_job is None
    now = datetime.now(timezone.utc)
    monday_9 = [d for d in (now.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=n)
                            for n in range(8)) if d.weekday() == 0 and d > now][0]  # fmt: skip
    assert created.status.next_job_run_at == monday_9

    [record] = stub.scheduled_jobs()
    assert record["id"] == created.id and record["secrets"] == {"HF_TOKEN": SECRET}  # the hook shows the value
    assert record["schedule"] == "0 9 * * 1" and record["concurrency"] is True and record["timeout"] == 7200
    for path in (f"/api/scheduled-jobs/owner/{created.id}", "/api/scheduled-jobs/owner"):
        status, body = raw(stub, "GET", path)
        assert status == 200 and SECRET not in body and "HF_TOKEN" in body


def test_ids_are_stable_and_listing_follows_labels_namespaces_and_deletion(stub: HubStub) -> None:
    dept = schedule(stub, labels={"orchestrator": "retrain", "label": "dept"})
    urgency = schedule(stub, labels={"orchestrator": "retrain", "label": "urgency"})
    team = schedule(stub, token="hf_team", namespace="team")
    assert team.owner.type == "org" and len({dept.id, urgency.id, team.id}) == 3
    client = api(stub)
    assert client.inspect_scheduled_job(scheduled_job_id=dept.id, namespace="owner").id == dept.id

    def ids(**kwargs: object) -> list[str]:
        return [s.id for s in client.list_scheduled_jobs(namespace="owner", **kwargs)]  # type: ignore[arg-type]

    assert ids() == [dept.id, urgency.id]
    assert ids(labels={"label": "urgency"}) == [urgency.id]
    assert stub.requests[-1].query == "label=label%3Durgency"
    assert ids(labels={"orchestrator": "retrain", "label": "dept"}) == [dept.id]  # 2nd label: client-side
    assert [s["id"] for s in stub.scheduled_jobs("team")] == [team.id]

    assert client.delete_scheduled_job(scheduled_job_id=dept.id, namespace="owner") is None
    assert ids() == [urgency.id]
    assert status_of(lambda: client.inspect_scheduled_job(scheduled_job_id=dept.id, namespace="owner")) == 404
    assert status_of(lambda: client.delete_scheduled_job(scheduled_job_id=dept.id, namespace="owner")) == 404
    client.delete_scheduled_job(scheduled_job_id=urgency.id, namespace="owner")
    assert ids() == [] and [s["id"] for s in stub.scheduled_jobs()] == [team.id]


def test_suspend_and_resume(stub: HubStub) -> None:
    created = schedule(stub, suspend=True)
    sent = json.loads(stub.requests[-1].body)
    assert sent["suspend"] is True and "concurrency" not in sent  # the client sends only what it is given
    assert created.suspend is True and created.status.next_job_run_at is None and created.concurrency is False
    assert stub.fire_schedule(created.id) is None and stub.jobs() == []  # a suspended schedule does not run

    client = api(stub)
    assert client.resume_scheduled_job(scheduled_job_id=created.id, namespace="owner") is None
    resumed = client.inspect_scheduled_job(scheduled_job_id=created.id, namespace="owner")
    assert resumed.suspend is False and resumed.status.next_job_run_at is not None
    assert resumed.status.next_job_run_at.minute == 0  # @hourly
    assert timedelta(0) < resumed.status.next_job_run_at - datetime.now(timezone.utc) <= timedelta(hours=1)
    job_id = stub.fire_schedule(created.id)
    assert job_id is not None

    client.suspend_scheduled_job(scheduled_job_id=created.id, namespace="owner")
    suspended = client.inspect_scheduled_job(scheduled_job_id=created.id, namespace="owner")
    assert suspended.suspend is True and stub.scheduled_jobs()[0]["suspend"] is True
    assert suspended.status.last_job is not None and suspended.status.last_job.id == job_id  # kept while suspended
    assert [r.path for r in stub.posts()][-1] == f"/api/scheduled-jobs/owner/{created.id}/suspend"


def test_fire_schedule_runs_the_spec_as_a_job_and_becomes_the_last_job(stub: HubStub) -> None:
    seen: list[dict] = []
    stub.on_job(lambda hub, job: seen.append(job))
    created = schedule(stub, env={"LABEL": "dept"}, secrets={"HF_TOKEN": SECRET}, timeout=600)
    first = stub.fire_schedule(created.id)
    assert first is not None and [j["id"] for j in seen] == [first]
    job = stub.job(first)
    assert job["command"] == ["python", "retrain.py"] and job["docker_image"] == "python:3.12"
    assert job["environment"] == {"LABEL": "dept"} and job["secrets"] == {"HF_TOKEN": SECRET}
    assert job["timeout"] == 600 and job["namespace"] == "owner" and job["created_by"] == "owner"
    info = api(stub).inspect_job(job_id=first, namespace="owner")
    assert info.initiator is not None and (info.initiator.type, info.initiator.id) == ("scheduled-job", created.id)
    assert info.secrets == {"HF_TOKEN": None}

    last = api(stub).inspect_scheduled_job(scheduled_job_id=created.id, namespace="owner").status.last_job
    assert last is not None and last.id == first
    assert abs((last.at - datetime.now(timezone.utc)).total_seconds()) < 5
    assert stub.fire_schedule(created.id) is None  # still RUNNING and concurrency is off: the Hub skips the run
    stub.finish_job(first)
    second = stub.fire_schedule(created.id)
    assert second not in (None, first)
    assert stub.scheduled_jobs()[0]["runs"] == [first, second] and stub.scheduled_jobs()[0]["last_job"] == second
    last = api(stub).inspect_scheduled_job(scheduled_job_id=created.id, namespace="owner").status.last_job
    assert last is not None and last.id == second

    concurrent = schedule(stub, concurrency=True)
    runs = [stub.fire_schedule(concurrent.id) for _ in range(2)]
    assert None not in runs and len(set(runs)) == 2
    with pytest.raises(KeyError):
        stub.fire_schedule("0" * 24)


def test_trigger_and_in_place_changes(stub: HubStub) -> None:
    created = schedule(stub, labels={"team": "ml"})
    client = api(stub)
    triggered = client.trigger_scheduled_job(scheduled_job_id=created.id, namespace="owner")
    assert triggered.status.stage == "SCHEDULING" and triggered.docker_image == "python:3.12"
    last = client.inspect_scheduled_job(scheduled_job_id=created.id, namespace="owner").status.last_job
    assert last is not None and last.id == triggered.id
    assert status_of(lambda: client.trigger_scheduled_job(scheduled_job_id=created.id, namespace="owner")) == 409

    daily = client.update_scheduled_job_schedule(scheduled_job_id=created.id, schedule="@daily", namespace="owner")
    assert daily.schedule == "@daily" and daily.status.next_job_run_at is not None
    assert (daily.status.next_job_run_at.hour, daily.status.next_job_run_at.minute) == (0, 0)
    relabeled = client.update_scheduled_job_labels(
        scheduled_job_id=created.id, labels={"team": "nlp"}, namespace="owner"
    )
    assert relabeled.job_spec.labels == {"team": "nlp"} and stub.requests[-1].method == "PUT"
    assert stub.scheduled_jobs()[0]["labels"] == {"team": "nlp"} and stub.scheduled_jobs()[0]["schedule"] == "@daily"


@pytest.mark.parametrize("bad", ["0 0 31 2 *", "every day", "61 * * * *", "@fortnightly", "* * * *"])
def test_a_bad_schedule_is_400_and_nothing_is_stored(stub: HubStub, bad: str) -> None:
    assert status_of(lambda: schedule(stub, schedule=bad)) == 400
    assert stub.scheduled_jobs() == []


def test_cron_lists_ranges_and_steps(stub: HubStub) -> None:
    created = schedule(stub, schedule="*/20 8-10,22 * * *")
    at = created.status.next_job_run_at
    assert at is not None and at.minute in (0, 20, 40) and at.hour in (8, 9, 10, 22)
    assert timedelta(0) < at - datetime.now(timezone.utc) <= timedelta(hours=11)


def test_scheduled_jobs_auth(stub: HubStub) -> None:
    mine = schedule(stub)
    calls = [
        lambda c: c.create_scheduled_job(image="x", command=["x"], schedule="@daily", namespace="owner"),
        lambda c: c.list_scheduled_jobs(namespace="owner"),
        lambda c: c.inspect_scheduled_job(scheduled_job_id=mine.id, namespace="owner"),
        lambda c: c.suspend_scheduled_job(scheduled_job_id=mine.id, namespace="owner"),
        lambda c: c.resume_scheduled_job(scheduled_job_id=mine.id, namespace="owner"),
        lambda c: c.delete_scheduled_job(scheduled_job_id=mine.id, namespace="owner"),
    ]
    for call in calls:
        with pytest.raises(HfHubHTTPError) as info:
            call(api(stub, "hf_bad"))
        assert info.value.response.status_code == 401
        assert info.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
        assert status_of(lambda call=call: call(api(stub, "hf_other"))) == 403  # not their namespace
        assert status_of(lambda call=call: call(api(stub, False))) == 401
    other = api(stub, "hf_other")
    assert status_of(lambda: other.inspect_scheduled_job(scheduled_job_id=mine.id, namespace="someone")) == 404
    assert status_of(lambda: other.delete_scheduled_job(scheduled_job_id=mine.id, namespace="someone")) == 404
    reader = api(stub, "hf_read")
    assert [s.id for s in reader.list_scheduled_jobs(namespace="owner")] == [mine.id]  # a read token may look
    assert status_of(lambda: reader.suspend_scheduled_job(scheduled_job_id=mine.id, namespace="owner")) == 403
    assert status_of(lambda: schedule(stub, token="hf_read")) == 403
    assert [(s["id"], s["suspend"]) for s in stub.scheduled_jobs()] == [(mine.id, False)]


def test_injected_faults_on_scheduled_jobs(stub: HubStub) -> None:
    stub.fail("POST", r"^/api/scheduled-jobs/owner$", 429, headers={"Retry-After": "7"})
    stub.fail("POST", r"^/api/scheduled-jobs/owner$", 500)
    with pytest.raises(HfHubHTTPError) as info:
        schedule(stub)
    assert info.value.response.status_code == 429 and info.value.response.headers["Retry-After"] == "7"
    assert status_of(lambda: schedule(stub)) == 500
    assert stub.scheduled_jobs() == [] and [r.status for r in stub.posts()] == [429, 500]  # no retry
    created = schedule(stub)
    stub.fail("GET", r"^/api/scheduled-jobs/owner$", 503)
    assert status_of(lambda: api(stub).list_scheduled_jobs(namespace="owner")) == 503  # nor for listing
    stub.fail("DELETE", rf"/{created.id}$", 500)
    assert status_of(lambda: api(stub).delete_scheduled_job(scheduled_job_id=created.id, namespace="owner")) == 500
    assert [s.id for s in api(stub).list_scheduled_jobs(namespace="owner")] == [created.id]


# ---------------------------------------------------------------- webhooks


def job_webhook(stub: HubStub, **kwargs: object) -> tuple[str, str]:
    """A source job (with a secret of its own) and a webhook on it; their ids."""
    job = api(stub).run_job(image="python:3.12", command=["python", "on_push.py"], env={"MODE": "push"},
                            secrets={"SOURCE_ONLY": SOURCE_SECRET}, namespace="owner")  # fmt: skip
    spec: dict = {"job_id": job.id, "watched": OWNER, "secret": "sig-1", "secrets": {"HF_TOKEN": SECRET}, **kwargs}
    return job.id, api(stub).create_webhook(**spec).id


def test_job_webhook_copies_the_source_job_and_answers_secret_names_only(stub: HubStub) -> None:
    job_id, hook_id = job_webhook(stub, domains=["repo"])
    sent = json.loads(stub.requests[-1].body)
    assert sent == {"watched": OWNER, "domains": ["repo"], "secret": "sig-1", "jobSourceId": job_id,
                    "secrets": {"HF_TOKEN": SECRET}}  # fmt: skip
    hook = api(stub).get_webhook(hook_id)
    assert hook.id == hook_id and hook.url is None and hook.disabled is False
    assert hook.job is not None and hook.job.docker_image == "python:3.12"
    assert hook.job.command == ["python", "on_push.py"] and hook.job.environment == {"MODE": "push"}
    assert hook.job.secrets == {"HF_TOKEN": None}  # the webhook's secrets by name; the source's are not copied
    assert [(w.type, w.name) for w in hook.watched] == [("user", "owner")] and hook.domains == ["repo"]
    assert hook.secret == "sig-1"
    assert [w.id for w in api(stub).list_webhooks()] == [hook_id]
    for path in ("/api/settings/webhooks", f"/api/settings/webhooks/{hook_id}"):
        status, body = raw(stub, "GET", path)
        assert status == 200 and SECRET not in body and SOURCE_SECRET not in body
    [record] = stub.webhooks()
    assert record["secrets"] == {"HF_TOKEN": SECRET} and record["secret"] == "sig-1" and record["job_id"] == job_id


def test_deliver_webhook_starts_the_source_job_with_the_payload(stub: HubStub) -> None:
    job_id, hook_id = job_webhook(stub)
    payload = {"event": {"action": "update", "scope": "repo.content"},
               "repo": {"type": "dataset", "name": "owner/feedback"}}  # fmt: skip
    started = stub.deliver_webhook(hook_id, payload)
    assert started is not None and started != job_id
    job = stub.job(started)
    assert job["command"] == ["python", "on_push.py"] and job["namespace"] == "owner"
    assert job["environment"] == {"MODE": "push", "WEBHOOK_PAYLOAD": json.dumps(payload),
                                  "WEBHOOK_REPO_ID": "owner/feedback", "WEBHOOK_REPO_TYPE": "dataset",
                                  "WEBHOOK_SECRET": "sig-1"}  # fmt: skip
    assert json.loads(job["environment"]["WEBHOOK_PAYLOAD"]) == payload
    assert job["secrets"] == {"HF_TOKEN": SECRET}  # the webhook's, not SOURCE_ONLY
    info = api(stub).inspect_job(job_id=started, namespace="owner")
    assert info.initiator is not None and (info.initiator.type, info.initiator.id) == ("webhook", hook_id)

    assert api(stub).disable_webhook(hook_id).disabled is True
    assert stub.deliver_webhook(hook_id, payload) is None and len(stub.jobs()) == 2
    assert api(stub).enable_webhook(hook_id).disabled is False
    assert stub.deliver_webhook(hook_id, payload) not in (None, started)
    assert stub.webhooks()[0]["deliveries"][0] == started and len(stub.jobs()) == 3


def test_update_webhook(stub: HubStub) -> None:
    job_id, hook_id = job_webhook(stub)
    client = api(stub)
    watched = [{"type": "dataset", "name": "owner/feedback"}]
    secrets = {"HF_TOKEN": "", "DB_URL": "postgres://x"}
    updated = client.update_webhook(hook_id, job_id=job_id, secrets=secrets, secret="sig-2", watched=watched)
    assert updated.job is not None and updated.job.secrets == {"DB_URL": None} and updated.secret == "sig-2"
    assert [(w.type, w.name) for w in updated.watched] == [("dataset", "owner/feedback")]
    assert stub.webhooks()[0]["secrets"] == {"DB_URL": "postgres://x"}  # "" removed HF_TOKEN, DB_URL added

    kept = client.update_webhook(hook_id, domains=["discussion"])  # the client sends "watched": [] here
    assert json.loads(stub.requests[-1].body) == {"watched": [], "domains": ["discussion"]}
    assert [w.name for w in kept.watched] == ["owner/feedback"] and kept.domains == ["discussion"]
    assert kept.secret == "sig-2" and stub.webhooks()[0]["secrets"] == {"DB_URL": "postgres://x"}

    to_url = client.update_webhook(hook_id, url="https://example.invalid/hook")
    assert to_url.url == "https://example.invalid/hook" and to_url.job is None
    assert stub.webhooks()[0]["secrets"] == {} and client.get_webhook(hook_id).url == to_url.url

    assert client.delete_webhook(hook_id) is None
    assert client.list_webhooks() == [] and stub.webhooks() == []
    assert status_of(lambda: client.get_webhook(hook_id)) == 404
    assert status_of(lambda: client.delete_webhook(hook_id)) == 404


def test_url_webhook_delivery_posts_the_payload_with_the_secret(stub: HubStub) -> None:
    with HubStub() as sink:
        hook = api(stub).create_webhook(url=f"{sink.url}/hook", watched=OWNER, secret="sig-url")
        assert hook.url == f"{sink.url}/hook" and hook.job is None
        assert stub.deliver_webhook(hook.id, {"event": {"action": "create"}}) is None
        [request] = sink.requests
        assert (request.method, request.path) == ("POST", "/hook")
        assert request.headers["x-webhook-secret"] == "sig-url"
        assert json.loads(request.body) == {"event": {"action": "create"}}
    assert stub.jobs() == [] and stub.callback_errors == []
    refused = {"url": "https://x", "watched": OWNER, "secrets": {"A": "b"}}
    status, body = raw(stub, "POST", "/api/settings/webhooks", json=refused)
    assert status == 400 and "secrets" in body  # the client refuses it before sending; the Hub does too


def test_webhooks_auth_and_faults(stub: HubStub) -> None:
    job_id, hook_id = job_webhook(stub)
    for call in (lambda c: c.list_webhooks(), lambda c: c.get_webhook(hook_id), lambda c: c.delete_webhook(hook_id),
                 lambda c: c.create_webhook(url="https://x", watched=OWNER)):  # fmt: skip
        with pytest.raises(HfHubHTTPError) as info:
            call(api(stub, "hf_bad"))
        assert info.value.response.status_code == 401
    other = api(stub, "hf_other")
    assert other.list_webhooks() == []  # a user sees only their own webhooks
    assert status_of(lambda: other.get_webhook(hook_id)) == 404
    assert status_of(lambda: other.delete_webhook(hook_id)) == 404
    assert status_of(lambda: other.create_webhook(job_id=job_id, watched=OWNER)) == 404  # not their job
    reader = api(stub, "hf_read")
    assert [w.id for w in reader.list_webhooks()] == [hook_id]
    assert status_of(lambda: reader.disable_webhook(hook_id)) == 403

    stub.fail("POST", r"^/api/settings/webhooks$", 500)
    assert status_of(lambda: api(stub).create_webhook(url="https://x", watched=OWNER)) == 500
    stub.fail("*", r"^/api/settings/webhooks/", 429, headers={"Retry-After": "3"})
    with pytest.raises(HfHubHTTPError) as info:
        api(stub).get_webhook(hook_id)
    assert info.value.response.status_code == 429 and info.value.response.headers["Retry-After"] == "3"
    assert [(w["id"], w["disabled"]) for w in stub.webhooks()] == [(hook_id, False)]
