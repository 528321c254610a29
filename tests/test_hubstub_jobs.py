"""The Hub stub's HF Jobs and Space variables, driven through the real ``huggingface_hub`` client.

These pin the stub to what the client (2.4) sends and parses: ``run_job``'s job spec, ``JobInfo``,
the SSE log stream ``fetch_job_logs`` reads (and must stop reading), ``list_jobs``'s label/stage
filters, ``cancel_job``, and ``add_space_variable``/``get_space_variables``/``delete_space_variable``
with the restart a variable change causes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from conftest import wait_for
from huggingface_hub import HfApi, JobInfo, hf_api
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.utils import get_session
from support.hubstub import HubStub

TOKENS = {"hf_good": "owner", "hf_other": "someone", "hf_read": "owner", "hf_team": "member"}
SPACE = "owner/trainer"
DATASET = "owner/reviews"
SECRET = "hf_s3cr3t-value-XYZ"


@pytest.fixture
def stub() -> Iterator[HubStub]:
    with HubStub(tokens=TOKENS) as hub:
        hub.token_access["hf_read"] = {"role": "read"}
        hub.token_access["hf_team"] = {"role": "write", "orgs": ["team"]}
        hub.add_space(SPACE)
        hub.add_dataset(DATASET)
        yield hub


def api(stub: HubStub, token: str | bool = "hf_good") -> HfApi:
    return HfApi(endpoint=stub.url, token=token)


def run(stub: HubStub, token: str = "hf_good", **kwargs: object) -> JobInfo:
    spec: dict = {"image": "python:3.12", "command": ["python", "train.py"], "namespace": "owner", **kwargs}
    return api(stub, token).run_job(**spec)  # type: ignore[arg-type]


def raw_get(stub: HubStub, path: str, token: str = "hf_good") -> str:
    response = get_session().get(f"{stub.url}{path}", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


# ---------------------------------------------------------------- run / inspect


def test_run_job_with_image_sends_the_spec_and_never_echoes_secret_values(stub: HubStub) -> None:
    job = api(stub).run_job(  # no namespace: the client asks whoami-v2 (the stub's) for it
        image="python:3.12",
        command=["python", "-m", "retrain", "--label", "dept"],
        env={"LABEL": "dept", "EPOCHS": "3"},
        secrets={"HF_TOKEN": SECRET},
        flavor="t4-small",
        timeout="2h",
        labels={"orchestrator": "retrain", "label": "dept"},
    )

    assert isinstance(job, JobInfo)
    assert job.status.stage == "SCHEDULING" and job.status.message is None
    assert job.owner.name == "owner" and job.owner.type == "user"
    assert job.docker_image == "python:3.12" and job.space_id is None
    assert job.command == ["python", "-m", "retrain", "--label", "dept"] and job.arguments == []
    assert job.environment == {"LABEL": "dept", "EPOCHS": "3"}
    assert job.secrets == {"HF_TOKEN": None}  # the name, never the value
    assert job.flavor == "t4-small"
    name = job.labels.pop("name")  # type: ignore[union-attr]  # run_job adds a default "name" label
    assert name.startswith("python-3-12-") and job.labels == {"orchestrator": "retrain", "label": "dept"}
    assert job.created_at is not None and job.started_at is None and job.finished_at is None
    assert job.url == f"{stub.url}/jobs/owner/{job.id}"
    assert [(r.method, r.path) for r in stub.requests] == [("GET", "/api/whoami-v2"), ("POST", "/api/jobs/owner")]

    [created] = stub.jobs()
    assert created["id"] == job.id and created["namespace"] == "owner" and created["created_by"] == "owner"
    assert created["secrets"] == {"HF_TOKEN": SECRET}  # as received
    assert created["timeout"] == 7200 and created["flavor"] == "t4-small"
    assert created["spec"]["dockerImage"] == "python:3.12" and "spaceId" not in created["spec"]
    assert created["labels"]["label"] == "dept" and created["stage"] == "RUNNING"

    inspected = api(stub).inspect_job(job_id=job.id, namespace="owner")
    assert inspected.status.stage == "RUNNING" and inspected.started_at is not None
    assert inspected.environment == job.environment and inspected.secrets == {"HF_TOKEN": None}
    for path in (f"/api/jobs/owner/{job.id}", "/api/jobs/owner"):
        assert SECRET not in raw_get(stub, path)


def test_run_job_from_a_space_and_from_a_missing_space(stub: HubStub) -> None:
    job = run(stub, image=f"hf.co/spaces/{SPACE}", command=["bash", "run.sh"])
    assert job.space_id == SPACE and job.docker_image is None
    assert stub.jobs()[0]["space_id"] == SPACE and stub.jobs()[0]["docker_image"] is None
    assert api(stub).inspect_job(job_id=job.id, namespace="owner").space_id == SPACE

    with pytest.raises(RepositoryNotFoundError) as info:
        run(stub, image="https://huggingface.co/spaces/owner/nope")
    assert info.value.response.status_code == 404
    assert len(stub.jobs()) == 1


def test_unknown_job_is_404_and_bad_spec_is_400(stub: HubStub) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        api(stub).inspect_job(job_id="0" * 24, namespace="owner")
    assert info.value.response.status_code == 404
    response = get_session().post(
        f"{stub.url}/api/jobs/owner", json={"command": ["x"]}, headers={"authorization": "Bearer hf_good"}
    )
    assert response.status_code == 400 and "dockerImage" in response.json()["error"]
    assert stub.jobs() == []


def test_set_job_stage_error_with_message(stub: HubStub) -> None:
    job = run(stub)
    stub.set_job_stage(job.id, "ERROR", message="OOMKilled")
    inspected = api(stub).inspect_job(job_id=job.id, namespace="owner")
    assert (inspected.status.stage, inspected.status.message) == ("ERROR", "OOMKilled")
    assert inspected.finished_at is not None
    with pytest.raises(ValueError):
        stub.finish_job(job.id, "RUNNING")


# ---------------------------------------------------------------- list / cancel


def test_list_jobs_filters_by_labels_and_stage_on_the_server(stub: HubStub) -> None:
    dept = run(stub, labels={"orchestrator": "retrain", "label": "dept"})
    urgency = run(stub, labels={"orchestrator": "retrain", "label": "urgency"})
    other = run(stub, labels={"orchestrator": "prepare"})
    run(stub, token="hf_team", namespace="team", labels={"orchestrator": "retrain", "label": "dept"})

    def ids(**kwargs: object) -> list[str]:
        return [j.id for j in api(stub).list_jobs(namespace="owner", **kwargs)]  # type: ignore[arg-type]

    assert ids() == [dept.id, urgency.id, other.id]
    assert ids(labels={"orchestrator": "retrain"}) == [dept.id, urgency.id]
    assert ids(labels={"orchestrator": "retrain", "label": "urgency"}) == [urgency.id]
    assert stub.requests[-1].query == "label=orchestrator%3Dretrain&label=label%3Durgency"

    stub.finish_job(dept.id)
    assert ids(status="COMPLETED") == [dept.id]
    assert ids(status=["RUNNING", "SCHEDULING"], labels={"orchestrator": "retrain"}) == [urgency.id]
    assert [j["namespace"] for j in stub.jobs("team")] == ["team"]


def test_cancel_job(stub: HubStub) -> None:
    job = run(stub)
    assert api(stub).cancel_job(job_id=job.id, namespace="owner") is None
    canceled = api(stub).inspect_job(job_id=job.id, namespace="owner")
    assert canceled.status.stage == "CANCELED" and canceled.finished_at is not None
    assert stub.job(job.id)["stage"] == "CANCELED"
    api(stub).cancel_job(job_id=job.id, namespace="owner")  # a finished job stays as it ended
    stub.finish_job(run(stub).id, "COMPLETED")
    assert [j["stage"] for j in stub.jobs()] == ["CANCELED", "COMPLETED"]
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, "hf_read").cancel_job(job_id=job.id, namespace="owner")
    assert info.value.response.status_code == 403


def test_list_jobs_without_namespace_asks_the_default_endpoint_not_the_stub(
    stub: HubStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client quirk: ``list_jobs(namespace=None)`` calls the module-level ``whoami`` (the default
    ``HfApi()``: huggingface.co unless HF_ENDPOINT is set) with ``token=None`` (so the locally saved or
    HF_TOKEN token, not the instance's), never ``self.whoami``. Callers must pass ``namespace``."""
    asked: list[object] = []
    monkeypatch.setattr(hf_api, "whoami", lambda token=None: asked.append(token) or {"name": "owner"})
    run(stub)
    assert len(list(api(stub).list_jobs())) == 1
    assert asked == [None]  # not "hf_good", and not through the stub:
    assert [r.path for r in stub.requests if r.path == "/api/whoami-v2"] == []


# ---------------------------------------------------------------- logs


def test_fetch_job_logs_of_a_finished_job_ends_and_honours_tail(stub: HubStub) -> None:
    job = run(stub)
    stub.finish_job(job.id, logs=["epoch 1", "epoch 2", "RESULT accuracy=0.91"], message="done")
    client = api(stub)

    start = time.monotonic()
    assert list(client.fetch_job_logs(job_id=job.id, namespace="owner")) == [
        "epoch 1",
        "epoch 2",
        "RESULT accuracy=0.91",
    ]
    assert list(client.fetch_job_logs(job_id=job.id, namespace="owner", tail=1)) == ["RESULT accuracy=0.91"]
    assert stub.requests[-1].query == "tail=1"
    assert list(client.fetch_job_logs(job_id=job.id, namespace="owner", follow=True))[-1] == "RESULT accuracy=0.91"
    assert time.monotonic() - start < 3  # no read timeout was needed to stop any of them

    body = raw_get(stub, f"/api/jobs/owner/{job.id}/logs")
    assert body.startswith('data: {"data": "===== Job started at ')  # the client drops this line
    assert body.count("\n\n") == 4
    inspected = client.inspect_job(job_id=job.id, namespace="owner")
    assert (inspected.status.stage, inspected.status.message) == ("COMPLETED", "done")


def test_follow_streams_a_running_job_until_it_ends(stub: HubStub) -> None:
    job = run(stub)
    stub.log_job(job.id, "loading data")

    def work() -> None:
        time.sleep(0.3)
        stub.log_job(job.id, "training")
        time.sleep(0.3)
        stub.finish_job(job.id, logs=["saved model"])

    threading.Thread(target=work, daemon=True).start()
    start = time.monotonic()
    lines = list(api(stub).fetch_job_logs(job_id=job.id, namespace="owner", follow=True))
    assert lines == ["loading data", "training", "saved model"]
    assert time.monotonic() - start < 3
    assert stub.job(job.id)["logs"] == lines


def test_logs_of_a_running_job_with_linger_zero_return_the_replay_at_once(stub: HubStub) -> None:
    stub.job_logs_linger = 0  # default None keeps the stream open like the Hub (no-follow then waits 5 s)
    job = run(stub)
    stub.log_job(job.id, "step 1", "step 2")
    start = time.monotonic()
    assert list(api(stub).fetch_job_logs(job_id=job.id, namespace="owner")) == ["step 1", "step 2"]
    assert time.monotonic() - start < 2


# ---------------------------------------------------------------- hooks and auto-finish


def test_on_job_callback_publishes_a_dataset_then_finishes_the_job(stub: HubStub) -> None:
    stub.put_metadata(DATASET, version_tag="v1", num_samples=10)

    def job_ran(hub: HubStub, job: dict) -> None:
        assert job["environment"] == {"LABEL": "dept"} and job["secrets"] == {"HF_TOKEN": SECRET}
        hub.put_metadata(DATASET, version_tag="v2", num_samples=20)
        hub.finish_job(job["id"], logs=["published v2"])

    stub.on_job(job_ran, delay=0.2)
    job = run(stub, env={"LABEL": "dept"}, secrets={"HF_TOKEN": SECRET})
    assert api(stub).inspect_job(job_id=job.id, namespace="owner").status.stage == "RUNNING"
    final = api(stub).wait_for_job(job.id, namespace="owner", poll_interval=0.05, timeout=5)
    assert final.status.stage == "COMPLETED"
    assert b'"v2"' in (stub.file(DATASET, "dataset_metadata.json") or b"")
    assert list(api(stub).fetch_job_logs(job_id=job.id, namespace="owner")) == ["published v2"]
    assert stub.callback_errors == []


def test_scheduling_then_auto_completion(stub: HubStub) -> None:
    stub.job_scheduling_seconds, stub.job_runs_for = 0.3, 0.3
    job = run(stub)
    assert api(stub).inspect_job(job_id=job.id, namespace="owner").status.stage == "SCHEDULING"
    assert wait_for(lambda: api(stub).inspect_job(job_id=job.id, namespace="owner").status.stage == "RUNNING")
    final = api(stub).wait_for_job(job.id, namespace="owner", poll_interval=0.05, timeout=5)
    assert final.status.stage == "COMPLETED"
    assert final.started_at is not None and final.finished_at is not None
    assert 0.2 < (final.finished_at - final.started_at).total_seconds() < 0.4


# ---------------------------------------------------------------- auth and faults


def test_bad_token_is_401_on_every_jobs_route(stub: HubStub) -> None:
    job = run(stub)
    calls = [
        lambda c: c.run_job(image="python:3.12", command=["x"], namespace="owner"),
        lambda c: c.inspect_job(job_id=job.id, namespace="owner"),
        lambda c: list(c.fetch_job_logs(job_id=job.id, namespace="owner")),
        lambda c: c.cancel_job(job_id=job.id, namespace="owner"),
    ]
    for call in calls:
        with pytest.raises(HfHubHTTPError) as info:
            call(api(stub, "hf_bad"))
        assert info.value.response.status_code == 401
        assert info.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert [j["stage"] for j in stub.jobs()] == ["RUNNING"]


def test_other_namespace_is_403_org_namespace_is_allowed(stub: HubStub) -> None:
    mine = run(stub)
    with pytest.raises(HfHubHTTPError) as info:
        run(stub, namespace="someone")
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, "hf_other").inspect_job(job_id=mine.id, namespace="owner")
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as info:  # my job id under someone's own namespace
        api(stub, "hf_other").inspect_job(job_id=mine.id, namespace="someone")
    assert info.value.response.status_code == 404

    team = run(stub, token="hf_team", namespace="team")
    assert team.owner.name == "team" and team.owner.type == "org"
    assert api(stub, "hf_team").inspect_job(job_id=team.id, namespace="team").initiator.name == "member"  # type: ignore[union-attr]

    with pytest.raises(HfHubHTTPError) as info:  # a read token may look but not run
        run(stub, token="hf_read")
    assert info.value.response.status_code == 403
    assert api(stub, "hf_read").inspect_job(job_id=mine.id, namespace="owner").id == mine.id
    assert [j["id"] for j in stub.jobs()] == [mine.id, team.id]


def test_injected_faults_on_jobs_routes(stub: HubStub) -> None:
    stub.fail("POST", r"^/api/jobs/owner$", 503, headers={"Retry-After": "1"})
    with pytest.raises(HfHubHTTPError) as info:
        run(stub)
    assert info.value.response.status_code == 503
    assert stub.jobs() == [] and [r.status for r in stub.posts()] == [503]  # run_job does not retry

    job = run(stub)
    stub.fail("GET", rf"^/api/jobs/owner/{job.id}$", 500)
    with pytest.raises(HfHubHTTPError) as info:
        api(stub).inspect_job(job_id=job.id, namespace="owner")
    assert info.value.response.status_code == 500  # nor does inspect_job

    stub.finish_job(job.id, logs=["done"])
    stub.fail("GET", r"/logs$", 503)
    with pytest.raises(HfHubHTTPError) as info:
        list(api(stub).fetch_job_logs(job_id=job.id, namespace="owner", follow=True))
    assert info.value.response.status_code == 503  # an HTTP error on the log stream is never retried

    stub.fail("GET", r"^/api/jobs/owner$", 500)
    assert [j.id for j in api(stub).list_jobs(namespace="owner")] == [job.id]  # list_jobs backs off (~1 s)
    assert [r.status for r in stub.requests if r.path == "/api/jobs/owner" and r.method == "GET"] == [500, 200]


# ---------------------------------------------------------------- Space variables


def test_space_variables_and_the_restarts_they_cause(stub: HubStub) -> None:
    restarted: list[int] = []
    stub.on_restart(SPACE, lambda hub: restarted.append(hub.restarts(SPACE)))
    client = api(stub)
    assert client.get_space_variables(SPACE) == {}

    answer = client.add_space_variable(SPACE, "MODEL_REPO", "owner/model-v1", description="the model")
    assert answer["MODEL_REPO"].value == "owner/model-v1" and answer["MODEL_REPO"].description == "the model"
    assert answer["MODEL_REPO"].updated_at is not None
    assert stub.restarts(SPACE) == 1 and restarted == [1]
    assert client.get_space_runtime(SPACE).stage in ("BUILDING", "RUNNING")

    client.add_space_variable(SPACE, "MODEL_REPO", "owner/model-v1")  # same value: not a change
    assert stub.restarts(SPACE) == 1
    client.add_space_variable(SPACE, "MODEL_REPO", "owner/model-v2")
    client.add_space_variable(SPACE, "THRESHOLD", "30")
    assert stub.restarts(SPACE) == 3 and restarted == [1, 2, 3]
    variables = client.get_space_variables(SPACE)
    assert {k: v.value for k, v in variables.items()} == {"MODEL_REPO": "owner/model-v2", "THRESHOLD": "30"}
    assert variables["MODEL_REPO"].description == "the model"  # kept when not sent again
    assert stub.space_variables(SPACE) == {"MODEL_REPO": "owner/model-v2", "THRESHOLD": "30"}

    assert set(client.delete_space_variable(SPACE, "THRESHOLD")) == {"MODEL_REPO"}
    client.delete_space_variable(SPACE, "THRESHOLD")  # already gone: not a change
    assert stub.restarts(SPACE) == 4 and restarted == [1, 2, 3, 4]


def test_space_variable_restart_policy_is_switchable(stub: HubStub) -> None:
    stub.variable_restarts = "never"
    api(stub).add_space_variable(SPACE, "A", "1")
    assert stub.restarts(SPACE) == 0 and stub.space_variables(SPACE) == {"A": "1"}
    stub.variable_restarts = "always"
    api(stub).add_space_variable(SPACE, "A", "1")
    api(stub).delete_space_variable(SPACE, "MISSING")
    assert stub.restarts(SPACE) == 2
    stub.add_space("owner/seeded", variables={"B": "2"})  # set up without a restart
    assert stub.restarts("owner/seeded") == 0 and api(stub).get_space_variables("owner/seeded")["B"].value == "2"


def test_only_the_owner_may_change_space_variables(stub: HubStub) -> None:
    for token, status in (("hf_other", 403), ("hf_read", 403), ("hf_bad", 401), (False, 401)):
        with pytest.raises(HfHubHTTPError) as info:
            api(stub, token).add_space_variable(SPACE, "K", "v")
        assert info.value.response.status_code == status, token
    with pytest.raises(RepositoryNotFoundError):
        api(stub).add_space_variable("owner/nope", "K", "v")
    assert stub.space_variables(SPACE) == {} and stub.restarts(SPACE) == 0
    api(stub).add_space_variable(SPACE, "K", "v")
    assert api(stub, "hf_other").get_space_variables(SPACE)["K"].value == "v"  # variables are public
