"""``orchestrator.remote.hub.Hub`` against the Hub stand-in, through the real ``huggingface_hub`` client over real HTTP.

Nothing of ours is mocked: the only thing injected is ``sleep`` (a recorder), so retries cost no time and
the exact waits the retry policy chose can be asserted.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator

import pytest
from conftest import TOKEN, wait_for
from support.hubstub import HubStub

from orchestrator.config.settings import HubConfig
from orchestrator.errors import AuthError, HubError, HubUnavailable
from orchestrator.remote import retry
from orchestrator.remote.hub import Fetched, Hub

OTHER_TOKEN = "hf_other-user-BBBBBBBBBBBB"  # valid, for user someone-else (see conftest.stub)
WRONG_TOKEN = "hf_wrong-token-CCCCCCCCCCCC"  # known to no one
DEPT = "owner/dept_dataset"
PREPARE = "owner/prepare"
RESOLVE = r"/resolve/"
RESTART = r"/restart$"


class Rig:
    """A Hub plus what it recorded: the waits it asked for and its retry notes."""

    def __init__(self, endpoint: str, **config: object) -> None:
        self.sleeps: list[float] = []
        self.notes: list[str] = []
        settings: dict[str, object] = {"endpoint": endpoint, "token": TOKEN, "retries": 3, "backoff": 0.05, "timeout": 5}
        settings.update(config)
        self.hub = Hub(HubConfig(**settings), sleep=self.sleeps.append, on_retry=self.notes.append)


def rig(stub: HubStub, **config: object) -> Rig:
    return Rig(stub.url, **config)


def gets(stub: HubStub, path_part: str = RESOLVE) -> list[int]:
    """Statuses of the GETs the stub answered whose path contains ``path_part``."""
    return [r.status for r in list(stub.requests) if r.method == "GET" and path_part in r.path]


def assert_no_secret(exc: BaseException) -> None:
    for secret in (TOKEN, OTHER_TOKEN, WRONG_TOKEN):
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in (getattr(exc, "hint", None) or "")


def etag_of(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest() + '"'


# ---------------------------------------------------------------------------------------------- fetch
def test_fetch_changed_returns_content_and_etag(stub: HubStub) -> None:
    r = rig(stub)
    fetched = r.hub.fetch(stub.metadata_url(DEPT))

    assert fetched.status == "changed"
    assert json.loads(fetched.content)["version_tag"] == "v1"
    assert fetched.etag == etag_of(fetched.content)
    [request] = stub.requests
    assert (request.method, request.status) == ("GET", 200)
    assert "if-none-match" not in request.headers
    assert request.headers["authorization"] == f"Bearer {TOKEN}"  # the Hub's own host gets the token
    assert r.sleeps == [] and r.notes == []


def test_fetch_same_etag_is_unchanged_via_304(stub: HubStub) -> None:
    r = rig(stub)
    first = r.hub.fetch(stub.metadata_url(DEPT))

    again = r.hub.fetch(stub.metadata_url(DEPT), etag=first.etag)

    assert again == Fetched("unchanged", etag=first.etag, content=None)
    assert gets(stub) == [200, 304]
    assert stub.requests[-1].headers["if-none-match"] == first.etag


def test_fetch_old_etag_after_a_new_commit_is_changed(stub: HubStub) -> None:
    r = rig(stub)
    first = r.hub.fetch(stub.metadata_url(DEPT))
    stub.put_metadata(DEPT, version_tag="v2", num_samples=20)

    fetched = r.hub.fetch(stub.metadata_url(DEPT), etag=first.etag)

    assert fetched.status == "changed"
    assert json.loads(fetched.content)["version_tag"] == "v2"
    assert fetched.etag == etag_of(fetched.content) != first.etag
    assert gets(stub) == [200, 200]


def test_fetch_missing_file_is_missing_not_an_error(stub: HubStub) -> None:
    r = rig(stub)
    fetched = r.hub.fetch(stub.metadata_url(DEPT, path="nope.json"))

    assert fetched == Fetched("missing")
    assert gets(stub) == [404]  # permanent: asked once
    assert r.sleeps == []


def test_fetch_missing_repo_is_hub_error_404_naming_the_url(stub: HubStub) -> None:
    r = rig(stub)
    url = stub.metadata_url("owner/no_such_dataset")

    with pytest.raises(HubError) as info:
        r.hub.fetch(url)

    exc = info.value
    assert type(exc) is HubError
    assert exc.status == 404
    assert f"check the URL {url}" in exc.hint
    assert "Repository not found" in exc.message
    assert gets(stub) == [404]
    assert r.sleeps == []
    assert_no_secret(exc)


def test_fetch_missing_revision_is_hub_error_404(stub: HubStub) -> None:
    r = rig(stub)
    url = stub.metadata_url(DEPT, revision="no-such-branch")

    with pytest.raises(HubError) as info:
        r.hub.fetch(url)

    assert info.value.status == 404
    assert url in info.value.hint
    assert gets(stub) == [404]


# ---------------------------------------------------------------------------------------------- transient
def test_two_503s_then_success_on_fetch(stub: HubStub) -> None:
    stub.fail("GET", RESOLVE, 503, times=2)
    r = rig(stub, backoff=0.05)

    fetched = r.hub.fetch(stub.metadata_url(DEPT))

    assert fetched.status == "changed" and json.loads(fetched.content)["version_tag"] == "v1"
    assert gets(stub) == [503, 503, 200]
    assert len(r.sleeps) == 2
    assert 0 <= r.sleeps[0] <= 0.05 and 0 <= r.sleeps[1] <= 0.1  # full jitter under base * 2**(n-1)
    assert [n.split(": attempt ")[1].split(";")[0] for n in r.notes] == ["1 failed (503)", "2 failed (503)"]
    assert r.notes[0].startswith(f"fetching {stub.metadata_url(DEPT)}: attempt 1 failed (503); retrying in ")


def test_502_on_restart_then_success_restarts_once(stub: HubStub) -> None:
    stub.fail("POST", RESTART, 502)
    r = rig(stub)

    assert r.hub.restart_space(PREPARE) == "BUILDING"

    assert stub.restarts(PREPARE) == 1
    assert [p.status for p in stub.posts()] == [502, 200]
    assert len(r.sleeps) == 1
    assert r.notes[0].startswith(f"restarting Space {PREPARE}: attempt 1 failed (502)")


def test_504_on_space_stage_then_success(stub: HubStub) -> None:
    stub.fail("GET", r"/runtime$", 504)
    r = rig(stub)

    assert r.hub.space_stage(PREPARE) == "RUNNING"
    assert gets(stub, "/runtime") == [504, 200]


def test_429_retry_after_is_honoured(stub: HubStub) -> None:
    stub.fail("GET", RESOLVE, 429, headers={"Retry-After": "2"})
    r = rig(stub)

    assert r.hub.fetch(stub.metadata_url(DEPT)).status == "changed"

    assert r.sleeps == [2.0]
    assert gets(stub) == [429, 200]
    assert r.notes[0].endswith("attempt 1 failed (429); retrying in 2.0s")


def test_retry_after_at_the_limit_is_still_waited(stub: HubStub) -> None:
    stub.fail("GET", RESOLVE, 503, headers={"Retry-After": str(int(retry.MAX_RETRY_AFTER))})
    r = rig(stub)

    assert r.hub.fetch(stub.metadata_url(DEPT)).status == "changed"
    assert r.sleeps == [retry.MAX_RETRY_AFTER]


def test_retry_after_too_long_is_unavailable_at_once(stub: HubStub) -> None:
    too_long = int(retry.MAX_RETRY_AFTER) + 1
    stub.fail("GET", RESOLVE, 429, headers={"Retry-After": str(too_long)}, times=5)
    r = rig(stub, retries=5)

    started = time.monotonic()
    with pytest.raises(HubUnavailable) as info:
        r.hub.fetch(stub.metadata_url(DEPT))

    assert time.monotonic() - started < 2.0
    assert f"asked to wait {too_long}s" in info.value.message
    assert "run again later" in info.value.hint
    assert gets(stub) == [429]  # not retried
    assert r.sleeps == []
    assert_no_secret(info.value)


def test_retries_exhausted_is_unavailable_naming_endpoint_and_tries(stub: HubStub) -> None:
    stub.fail("GET", RESOLVE, 503, times=3)
    r = rig(stub, retries=2)

    with pytest.raises(HubUnavailable) as info:
        r.hub.fetch(stub.metadata_url(DEPT))

    exc = info.value
    assert "after 3 tries (HTTP 503)" in exc.message
    assert f"check that {stub.url} is reachable" in exc.hint
    assert stub.url in str(exc)
    assert gets(stub) == [503, 503, 503]
    assert len(r.sleeps) == 2
    assert_no_secret(exc)
    # the three faults were used up by exactly three tries: the next call goes through
    assert r.hub.fetch(stub.metadata_url(DEPT)).status == "changed"


def test_restart_retries_exhausted_never_restarts(stub: HubStub) -> None:
    stub.fail("POST", RESTART, 504, times=2)
    r = rig(stub, retries=1)

    with pytest.raises(HubUnavailable) as info:
        r.hub.restart_space(PREPARE)

    assert "after 2 tries (HTTP 504)" in info.value.message
    assert stub.restarts(PREPARE) == 0
    assert [p.status for p in stub.posts()] == [504, 504]
    assert_no_secret(info.value)


def test_connection_refused_is_retried_then_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    r = Rig(endpoint, retries=2)

    with pytest.raises(HubUnavailable) as info:
        r.hub.space_stage(PREPARE)

    assert "after 3 tries (ConnectError" in info.value.message
    assert f"check that {endpoint} is reachable" in info.value.hint
    assert len(r.sleeps) == 2
    assert all("failed (ConnectError)" in note for note in r.notes)
    assert_no_secret(info.value)


def test_400_is_permanent_hub_error_with_the_hubs_message(stub: HubStub) -> None:
    stub.fail("POST", RESTART, 400, body=json.dumps({"error": "Cannot restart a static Space"}), times=3)
    r = rig(stub)

    with pytest.raises(HubError) as info:
        r.hub.restart_space(PREPARE)

    assert info.value.status == 400
    assert "Cannot restart a static Space" in info.value.message
    assert "static Space" in info.value.hint
    assert len(stub.posts()) == 1 and r.sleeps == []


def test_a_refusal_gets_the_hint_of_its_own_call_not_a_static_spaces(stub: HubStub, tmp_path) -> None:
    """A 400 says what that call could have got wrong: a job's spec, an upload's repo and files, a read's
    address; the static Space remark is a restart's alone (above)."""
    from orchestrator.remote.hfjobs import HfJobs

    r = rig(stub)
    refusal = json.dumps({"error": "Invalid flavor 'cpu-huge'"})
    stub.fail("POST", r"^/api/jobs/owner$", 400, body=refusal)
    with pytest.raises(HubError) as job:
        HfJobs(r.hub).run(image="python:3.12", command=["python", "-V"], env={}, secrets={}, flavor="cpu-huge",
                          timeout=None, labels={}, namespace="owner")
    assert job.value.status == 400 and "Invalid flavor 'cpu-huge'" in job.value.message
    assert all(word in job.value.hint for word in ("image", "flavor", "command", "namespace"))

    (tmp_path / "data.txt").write_text("rows")
    stub.fail("POST", r"/commit/main$", 400, body=json.dumps({"error": "Invalid path"}))
    with pytest.raises(HubError) as upload:
        r.hub.publish_folder("owner/new_dataset", str(tmp_path), repo_type="dataset", tag="v1", message="v1")
    assert upload.value.status == 400 and "'owner/new_dataset'" in upload.value.hint and "files" in upload.value.hint

    stub.fail("GET", r"/runtime$", 400, body=json.dumps({"error": "Invalid repo name"}))
    with pytest.raises(HubError) as read:
        r.hub.space_stage(PREPARE)
    assert read.value.status == 400 and f"check the Space id {PREPARE!r}" in read.value.hint

    for refused in (job, upload, read):
        assert "static Space" not in refused.value.hint and "read the Hub's message" in refused.value.hint
        assert_no_secret(refused.value)


# ---------------------------------------------------------------------------------------------- timeouts
def test_timeouts_are_retried_and_the_client_really_times_out(stub: HubStub) -> None:
    stub.delay("GET", RESOLVE, 1.0, times=2)
    r = rig(stub, timeout=0.3, retries=3)

    started = time.monotonic()
    fetched = r.hub.fetch(stub.metadata_url(DEPT))
    elapsed = time.monotonic() - started

    assert fetched.status == "changed"
    assert 0.5 <= elapsed < 1.5  # two ~0.3 s timeouts, far below the 2.0 s the stub would have made us wait
    assert len(r.sleeps) == 2
    assert ["ReadTimeout" in note for note in r.notes] == [True, True]
    # the stub records the delayed requests once their sleep is over
    assert wait_for(lambda: len(gets(stub)) == 3)
    assert sorted(gets(stub)) == [200, 200, 200]


def test_timeouts_outliving_the_retries_are_unavailable(stub: HubStub) -> None:
    stub.delay("GET", RESOLVE, 1.0, times=2)
    r = rig(stub, timeout=0.3, retries=1)

    started = time.monotonic()
    with pytest.raises(HubUnavailable) as info:
        r.hub.fetch(stub.metadata_url(DEPT))

    assert time.monotonic() - started < 1.5
    assert "after 2 tries (ReadTimeout" in info.value.message
    assert len(r.sleeps) == 1
    assert_no_secret(info.value)


def test_the_timeout_holds_after_the_library_replaces_its_client(stub: HubStub) -> None:
    """huggingface_hub closes its shared client after a connection error and makes a new one: that
    one must time out too, and each Hub's own timeout holds whatever another Hub set before."""
    from huggingface_hub.utils import close_session

    slow = rig(stub, timeout=0.3, retries=0)
    assert slow.hub.fetch(stub.metadata_url(DEPT)).status == "changed"
    close_session()  # what the library does after a ConnectError, also inside one of its own retries
    import httpx2
    from huggingface_hub.utils import get_session

    assert get_session().timeout == httpx2.Timeout(0.3)  # the client it makes next, before we touch it
    stub.delay("GET", RESOLVE, 2.0, times=1)
    started = time.monotonic()
    with pytest.raises(HubUnavailable):
        slow.hub.fetch(stub.metadata_url(DEPT))
    assert time.monotonic() - started < 1.5  # the new client timed out after ~0.3 s, not the stub's 2 s

    patient = rig(stub, timeout=5, retries=0)
    stub.delay("GET", RESOLVE, 0.6, times=1)
    assert patient.hub.fetch(stub.metadata_url(DEPT)).status == "changed"  # not cut off at another Hub's 0.3 s


# ---------------------------------------------------------------------------------------------- auth
def test_wrong_token_is_auth_error_and_nothing_restarts(stub: HubStub) -> None:
    r = rig(stub, token=WRONG_TOKEN)

    with pytest.raises(AuthError) as info:
        r.hub.restart_space(PREPARE)

    exc = info.value
    assert exc.status == 401
    assert "HF_TOKEN" in exc.message
    assert "Invalid credentials" in exc.message
    assert "wrong, expired or revoked" in exc.hint
    assert stub.restarts(PREPARE) == 0
    assert [p.status for p in stub.posts()] == [401]  # one try, refused: 401 is not retried
    assert r.sleeps == []
    assert_no_secret(exc)


def test_wrong_token_on_fetch_is_auth_error_not_missing(stub: HubStub) -> None:
    r = rig(stub, token=WRONG_TOKEN)

    with pytest.raises(AuthError) as info:
        r.hub.fetch(stub.metadata_url(DEPT))

    assert info.value.status == 401
    assert gets(stub) == [401]
    assert_no_secret(info.value)


def test_restart_with_another_users_token_is_403_permission(stub: HubStub) -> None:
    r = rig(stub, token=OTHER_TOKEN)

    with pytest.raises(HubError) as info:
        r.hub.restart_space(PREPARE)

    exc = info.value
    assert type(exc) is HubError
    assert exc.status == 403
    assert "permission" in exc.hint and "write access" in exc.hint
    assert "rights to restart this Space" in exc.message
    assert stub.restarts(PREPARE) == 0
    assert [p.status for p in stub.posts()] == [403]
    assert_no_secret(exc)


@pytest.mark.parametrize("call", ["restart_space", "space_stage"])
def test_unknown_space_is_404_naming_the_space(stub: HubStub, call: str) -> None:
    r = rig(stub)

    with pytest.raises(HubError) as info:
        getattr(r.hub, call)("owner/no_such_space")

    exc = info.value
    assert type(exc) is HubError
    assert exc.status == 404
    assert "check the Space id 'owner/no_such_space'" in exc.hint
    assert len(stub.requests) == 1 and r.sleeps == []
    assert_no_secret(exc)


# ---------------------------------------------------------------------------------------------- token hosts
@pytest.fixture
def elsewhere() -> Iterator[HubStub]:
    """A second server: another port on 127.0.0.1 is another host as far as the token is concerned."""
    with HubStub(tokens={TOKEN: "owner"}) as other:
        other.put_metadata("owner/mirror", version_tag="m1", num_samples=5)
        yield other


def test_no_token_for_a_host_not_in_token_hosts(stub: HubStub, elsewhere: HubStub) -> None:
    r = rig(stub, token_hosts=())

    fetched = r.hub.fetch(elsewhere.metadata_url("owner/mirror"))

    assert json.loads(fetched.content)["version_tag"] == "m1"
    assert len(elsewhere.requests) == 1
    assert elsewhere.auth_headers_seen() == []
    assert stub.requests == []


def test_token_for_a_host_listed_in_token_hosts(stub: HubStub, elsewhere: HubStub) -> None:
    r = rig(stub, token_hosts=(elsewhere.host,))

    assert r.hub.fetch(elsewhere.metadata_url("owner/mirror")).status == "changed"
    assert elsewhere.auth_headers_seen() == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("listed", [False, True])
def test_redirect_off_the_hub_drops_the_token(stub: HubStub, elsewhere: HubStub, listed: bool) -> None:
    stub.redirect(r"/datasets/owner/dept_dataset/resolve/", elsewhere.metadata_url("owner/mirror"))
    r = rig(stub, token_hosts=(elsewhere.host,) if listed else ())

    fetched = r.hub.fetch(stub.metadata_url(DEPT))

    assert json.loads(fetched.content)["version_tag"] == "m1"  # followed to the other server
    assert [x.status for x in stub.requests] == [302]
    assert stub.auth_headers_seen() == [f"Bearer {TOKEN}"]
    assert len(elsewhere.requests) == 1
    assert elsewhere.auth_headers_seen() == []


# ---------------------------------------------------------------------------------------------- secrets
@pytest.mark.parametrize("fault", [None, 404])
def test_secrets_in_a_url_never_reach_the_exception(stub: HubStub, fault: int | None) -> None:
    password = "s3cretpassw0rd"
    if fault:
        stub.fail("GET", RESOLVE, fault)  # HubError; otherwise the Basic credentials get a 401 -> AuthError
    url = stub.metadata_url(DEPT).replace("http://", f"http://user:{password}@")
    r = rig(stub)

    with pytest.raises(HubError) as info:
        r.hub.fetch(url)

    assert password not in str(info.value)


def test_a_restart_that_got_no_answer_is_not_sent_again(stub: HubStub) -> None:
    """A read timeout after the POST went out may hide a restart that happened: no blind retry."""
    stub.delay("POST", r"/restart$", 1.0)  # answered, and performed, only after the client gave up
    r = rig(stub, timeout=0.3)
    with pytest.raises(HubUnavailable) as caught:
        r.hub.restart_space("owner/prepare")
    assert "ReadTimeout" in caught.value.message
    assert wait_for(lambda: stub.restarts("owner/prepare") == 1)
    time.sleep(0.3)
    assert [x.method for x in stub.requests if x.path.endswith("/restart")] == ["POST"]


def test_an_unreadable_answer_is_a_hub_error_not_a_crash(stub: HubStub) -> None:
    stub.fail("GET", r"/runtime$", 200, body='{"no": "stage"}')
    with pytest.raises(HubError) as caught:
        rig(stub).hub.space_stage("owner/prepare")
    assert "could not be read" in caught.value.message and "HF_ENDPOINT" in caught.value.hint
    stub.fail("POST", r"/restart$", 200, body="<html>not json</html>")
    with pytest.raises(HubError, match="could not be read"):
        rig(stub).hub.restart_space("owner/prepare")


def test_any_401_to_a_token_is_the_token_refused(stub: HubStub) -> None:
    """Whatever the server's wording: a token sent and a 401 back stops the run as an AuthError."""
    stub.fail("GET", RESOLVE, 401, body='{"error": "Unauthorized"}', headers={"X-Error-Message": "Unauthorized"})
    with pytest.raises(AuthError) as caught:
        rig(stub).hub.fetch(stub.metadata_url(DEPT))
    assert "HF_TOKEN" in caught.value.message and caught.value.exit_code == 2
    stub.fail("GET", RESOLVE, 401, headers={"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
    with pytest.raises(HubError) as hidden:
        rig(stub).hub.fetch(stub.metadata_url(DEPT))
    assert not isinstance(hidden.value, AuthError) and hidden.value.status == 401
