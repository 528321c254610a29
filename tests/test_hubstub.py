"""The Hub stub, driven through the real ``huggingface_hub`` client over real HTTP.

These tests pin the stub to what the client parses (SpaceRuntime, typed errors from
``hf_raise_for_status``), so tests built on the stub exercise the real protocol.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator

import httpx2
import pytest
from huggingface_hub import HfApi, SpaceRuntime
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_session, hf_raise_for_status

from hubstub import HubStub

TOKENS = {"hf_good": "owner", "hf_other": "someone"}
SPACE = "owner/trainer"
DATASET = "owner/reviews"
AUTH = {"authorization": "Bearer hf_good"}


@pytest.fixture
def stub() -> Iterator[HubStub]:
    with HubStub(tokens=TOKENS) as hub:
        hub.add_space(SPACE)
        hub.add_dataset(DATASET)
        yield hub


def api(stub: HubStub, token: str | bool = "hf_good") -> HfApi:
    return HfApi(endpoint=stub.url, token=token)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def get(url: str, headers: dict[str, str] | None = None, **kwargs: object) -> httpx2.Response:
    return get_session().get(url, headers=headers or {}, **kwargs)


# ---------------------------------------------------------------- Spaces


def test_restart_by_owner_builds_then_runs(stub: HubStub) -> None:
    stub.build_seconds = 0.3
    runtime = api(stub).restart_space(SPACE)

    assert isinstance(runtime, SpaceRuntime)
    assert runtime.stage == "BUILDING"
    assert runtime.hardware == "cpu-basic" and runtime.requested_hardware == "cpu-basic"
    assert runtime.sleep_time == 172800 and runtime.dev_mode is False
    assert stub.restarts(SPACE) == 1
    [post] = stub.posts()
    assert post.path == f"/api/spaces/{SPACE}/restart" and post.status == 200
    assert post.headers["authorization"] == "Bearer hf_good"

    assert api(stub).get_space_runtime(SPACE).stage == "BUILDING"
    assert wait_for(lambda: api(stub).get_space_runtime(SPACE).stage == "RUNNING")


def test_factory_restart_and_pause(stub: HubStub) -> None:
    api(stub).restart_space(SPACE, factory_reboot=True)
    assert stub.posts()[-1].query == "factory=true"
    assert api(stub).pause_space(SPACE).stage == "PAUSED"
    assert api(stub).get_space_runtime(SPACE).stage == "PAUSED"
    assert stub.restarts(SPACE) == 1  # a pause is not a restart
    stub.set_stage(SPACE, "RUNTIME_ERROR")
    assert api(stub).get_space_runtime(SPACE).stage == "RUNTIME_ERROR"


def test_invalid_token_is_401_and_nothing_restarts(stub: HubStub) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_bad").restart_space(SPACE)
    assert not isinstance(info.value, RepositoryNotFoundError)
    assert info.value.response.status_code == 401
    assert info.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert info.value.response.headers["X-Request-Id"]
    assert stub.restarts(SPACE) == 0
    # Invalid credentials are refused on public reads too.
    stub.put_file(DATASET, "a.txt", "x")
    assert get(stub.metadata_url(DATASET, "a.txt"), {"authorization": "Bearer hf_bad"}).status_code == 401


def test_non_owner_is_403_and_missing_token_is_401(stub: HubStub) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_other").restart_space(SPACE)
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token=False).pause_space(SPACE)
    assert info.value.response.status_code == 401
    assert stub.restarts(SPACE) == 0
    assert api(stub).get_space_runtime(SPACE).stage == "RUNNING"


def test_unknown_space_is_repository_not_found(stub: HubStub) -> None:
    with pytest.raises(RepositoryNotFoundError) as info:
        api(stub).restart_space("owner/nope")
    assert info.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        api(stub).get_space_runtime("owner/nope")


def test_whoami(stub: HubStub) -> None:
    assert api(stub).whoami()["name"] == "owner"
    assert api(stub, token="hf_other").whoami()["name"] == "someone"
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_bad").whoami()
    assert info.value.response.status_code == 401


# ---------------------------------------------------------------- resolve


def test_resolve_etag_and_conditional_get(stub: HubStub) -> None:
    written = stub.put_metadata(DATASET, version_tag="v1", num_samples=1000)
    assert written["splits"] == {"train": 800, "eval": 100, "test": 100}
    url = stub.metadata_url(DATASET)

    first = get(url, AUTH)
    hf_raise_for_status(first)
    assert first.json() == written
    assert first.headers["content-type"] == "application/json"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)
    assert re.fullmatch(r"[0-9a-f]{40}", first.headers["x-repo-commit"])

    cached = get(url, {**AUTH, "if-none-match": etag})
    hf_raise_for_status(cached)  # 3xx does not raise
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["etag"] == etag

    head = get_session().head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(first.content)

    stub.put_metadata(DATASET, version_tag="v2", num_samples=10)
    changed = get(url, {**AUTH, "if-none-match": etag})
    assert changed.status_code == 200 and changed.json()["version_tag"] == "v2"
    assert changed.headers["etag"] != etag
    assert changed.headers["x-repo-commit"] != first.headers["x-repo-commit"]
    # The old commit stays addressable by its sha.
    old = get(stub.metadata_url(DATASET, revision=first.headers["x-repo-commit"]))
    assert old.json()["version_tag"] == "v1"


def test_resolve_typed_errors(stub: HubStub) -> None:
    with pytest.raises(RemoteEntryNotFoundError):
        hf_raise_for_status(get(stub.metadata_url(DATASET), AUTH))
    with pytest.raises(RevisionNotFoundError):
        hf_raise_for_status(get(stub.metadata_url(DATASET, revision="v9"), AUTH))
    with pytest.raises(RepositoryNotFoundError):
        hf_raise_for_status(get(stub.metadata_url("owner/missing"), AUTH))
    stub.put_file("owner/model", "config.json", "{}", repo_type="model")
    hf_raise_for_status(get(f"{stub.url}/owner/model/resolve/main/config.json"))


def test_private_dataset(stub: HubStub) -> None:
    stub.add_dataset("owner/secret", private=True)
    stub.put_file("owner/secret", "f.txt", "hidden")
    url = stub.metadata_url("owner/secret", "f.txt")
    anonymous = get(url)
    assert anonymous.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        hf_raise_for_status(anonymous)
    assert get(url, {"authorization": "Bearer hf_other"}).status_code == 404
    assert get(url, AUTH).text == "hidden"


# ---------------------------------------------------------------- faults, delays, hooks


def test_queued_503_is_served_once_then_service_resumes(stub: HubStub) -> None:
    stub.fail("POST", r"/restart$", 503, headers={"Retry-After": "7"})
    with pytest.raises(HfHubHTTPError) as info:
        api(stub).restart_space(SPACE)
    assert info.value.response.status_code == 503
    assert info.value.response.headers["Retry-After"] == "7"
    assert stub.restarts(SPACE) == 0  # the faulted request performed nothing
    assert api(stub).restart_space(SPACE).stage == "BUILDING"
    assert stub.restarts(SPACE) == 1
    assert [r.status for r in stub.posts()] == [503, 200]


def test_429_and_malformed_body(stub: HubStub) -> None:
    stub.fail("GET", r"/runtime$", 429, headers={"Retry-After": "3"}, times=2)
    for _ in range(2):
        with pytest.raises(HfHubHTTPError) as info:
            api(stub).get_space_runtime(SPACE)
        assert info.value.response.status_code == 429
        assert info.value.response.headers["Retry-After"] == "3"
    stub.fail("GET", r"/runtime$", 200, body="not json")
    with pytest.raises(json.JSONDecodeError):
        api(stub).get_space_runtime(SPACE)
    assert stub.requests[-1].status == 200
    assert api(stub).get_space_runtime(SPACE).stage == "RUNNING"


def test_delay_triggers_client_timeout_then_recovers(stub: HubStub) -> None:
    stub.delay("GET", r"/runtime$", 1.0)
    url = f"{stub.url}/api/spaces/{SPACE}/runtime"
    with pytest.raises(httpx2.TimeoutException):
        get(url, AUTH, timeout=0.2)
    assert get(url, AUTH, timeout=5).json()["stage"] == "RUNNING"


def test_request_bodies_are_read_and_connection_reused(stub: HubStub) -> None:
    session = get_session()
    assert session.post(f"{stub.url}/api/nothing", content=b"x" * 100_000).status_code == 404
    assert session.post(f"{stub.url}/api/nothing", content=iter([b"ab", b"cd"])).status_code == 404
    assert [r.body for r in stub.posts()] == [b"x" * 100_000, b"abcd"]
    assert api(stub).get_space_runtime(SPACE).stage == "RUNNING"


def test_on_restart_publishes_metadata(stub: HubStub) -> None:
    stub.put_metadata(DATASET, version_tag="v1", num_samples=100)
    stub.on_restart(SPACE, lambda s: s.put_metadata(DATASET, version_tag="v2", num_samples=200), delay=0.3)
    api(stub).restart_space(SPACE)
    url = stub.metadata_url(DATASET)
    assert get(url, AUTH).json()["version_tag"] == "v1"
    assert wait_for(lambda: get(url, AUTH).json()["version_tag"] == "v2")
    assert get(url, AUTH).json()["num_samples"] == 200
    assert stub.callback_errors == []


def test_on_restart_without_delay_runs_before_response(stub: HubStub) -> None:
    stub.on_restart(SPACE, lambda s: s.put_metadata(DATASET, version_tag="v3", num_samples=5, extra=True))
    api(stub).restart_space(SPACE)
    body = get(stub.metadata_url(DATASET), AUTH).json()
    assert body["version_tag"] == "v3" and body["extra"] is True and body["dataset_name"] == DATASET


def test_redirect_to_other_host_drops_authorization(stub: HubStub) -> None:
    with HubStub() as other:  # no valid tokens: a leaked header would also be a 401 there
        other.put_file(DATASET, "dataset_metadata.json", '{"version_tag": "elsewhere"}')
        stub.redirect(r"/resolve/", other.metadata_url(DATASET))
        response = get(stub.metadata_url(DATASET), AUTH)
        hf_raise_for_status(response)
        assert response.json() == {"version_tag": "elsewhere"}
        assert [r.status for r in stub.requests] == [302]
        assert stub.auth_headers_seen() == ["Bearer hf_good"]
        assert len(other.requests) == 1
        assert other.auth_headers_seen() == []
