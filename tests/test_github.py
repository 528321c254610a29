"""``orchestrator.remote.github.GitHub`` against the GitHub stand-in, over real HTTP.

Nothing of ours is mocked: only ``sleep`` is injected (a recorder), so retries cost no time and the
waits the retry policy chose can be asserted.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from support.githubstub import GitHubStub

from orchestrator import redact
from orchestrator.errors import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    AuthError,
    ConfigError,
    GitHubAuthError,
    GitHubError,
    GitHubUnavailable,
    LaunchError,
    UnavailableError,
)
from orchestrator.remote.github import GitHub, Run

TOKEN = "ghp_testtoken_write_AAAAAAAAAAAA"  # test-only values, never real tokens
READ_TOKEN = "ghp_testtoken_read_BBBBBBBBBBBB"
WRONG_TOKEN = "ghp_testtoken_wrong_CCCCCCCCCCC"
SECRETS = (TOKEN, READ_TOKEN, WRONG_TOKEN)
REPO = "owner/models"
WF = "retrain.yml"
RUN_NAME = "retrain ${{ inputs.labels }} [${{ inputs.orchestrator_key }}]"
KEY = "retrain:dept:v7"
INPUTS = {"orchestrator_key": KEY, "labels": "dept", "dataset_version": "v7"}
DISPATCHES = r"/dispatches$"


def declare(stub: GitHubStub) -> GitHubStub:
    stub.add_workflow(
        REPO, WF, name="Retrain", run_name=RUN_NAME,
        inputs={"orchestrator_key": {"required": True}, "labels": {}, "dataset_version": {"default": ""}},
    )
    return stub


@pytest.fixture
def gh_stub() -> Iterator[GitHubStub]:
    with GitHubStub(tokens={TOKEN: "write", READ_TOKEN: "read"}) as stub:
        yield declare(stub)


@pytest.fixture
def other() -> Iterator[GitHubStub]:
    """A second server: another origin, to which the token must never go."""
    with GitHubStub(tokens={TOKEN: "write"}) as stub:
        yield declare(stub)


class Rig:
    def __init__(self, url: str, token: str | None = TOKEN, **options: object) -> None:
        self.sleeps: list[float] = []
        self.notes: list[str] = []
        settings: dict[str, object] = {"retries": 3, "backoff": 0.05, "timeout": 5.0}
        settings.update(options)
        self.gh = GitHub(url, token, sleep=self.sleeps.append, on_retry=self.notes.append, **settings)


@pytest.fixture
def rig(gh_stub: GitHubStub) -> Iterator[Rig]:
    r = Rig(gh_stub.url)
    yield r
    r.gh.close()


def assert_no_secret(exc: BaseException) -> None:
    for secret in SECRETS:
        for text in (str(exc), repr(exc), exc.hint or ""):
            assert secret not in text


def since() -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=5)


# ---------------------------------------------------------------------------------------------- construction
def test_from_environ_reads_the_api_url_and_github_token_first() -> None:
    gh = GitHub.from_environ({"GITHUB_API_URL": "https://ghe.example/api/v3/", "GITHUB_TOKEN": TOKEN, "GH_TOKEN": READ_TOKEN})
    assert (gh.api_url, gh.token, gh.token_name) == ("https://ghe.example/api/v3", TOKEN, "GITHUB_TOKEN")

    gh = GitHub.from_environ({"GITHUB_TOKEN": " ", "GH_TOKEN": READ_TOKEN})
    assert (gh.api_url, gh.token, gh.token_name) == ("https://api.github.com", READ_TOKEN, "GH_TOKEN")
    assert GitHub.from_environ({}).token is None


def test_the_token_is_registered_for_redaction() -> None:
    token = "ghp_registered_only_here_DDDDDDDD"
    assert redact.redact(f"x {token} y") == f"x {token} y"
    GitHub.from_environ({"GH_TOKEN": token})
    assert redact.redact(f"x {token} y") == f"x {redact.MASK} y"


def test_an_api_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ConfigError) as caught:
        GitHub("https://user:s3cr3t-pass@ghe.example/api/v3", TOKEN)
    assert "GITHUB_API_URL" in str(caught.value) and "s3cr3t-pass" not in str(caught.value)
    with pytest.raises(ConfigError):
        GitHub("ftp://ghe.example", TOKEN)


# ---------------------------------------------------------------------------------------------- happy paths
def test_check_reads_the_workflow_with_githubs_headers(gh_stub: GitHubStub, rig: Rig) -> None:
    workflow = rig.gh.check(REPO, WF)

    assert (workflow.name, workflow.path, workflow.state) == ("Retrain", ".github/workflows/retrain.yml", "active")
    [request] = gh_stub.requests
    assert (request.method, request.path, request.status) == ("GET", f"/repos/{REPO}/actions/workflows/{WF}", 200)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["user-agent"].startswith("continuous-learning-orchestrator/")
    assert rig.gh.check(REPO, str(workflow.id)) == workflow  # by id too
    assert gh_stub.dispatches() == []  # read-only


def test_check_refuses_a_disabled_workflow(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.add_workflow(REPO, "old.yml", state="disabled_manually")
    with pytest.raises(GitHubError) as caught:
        rig.gh.check(REPO, "old.yml")
    assert "old.yml of owner/models is disabled manually" in str(caught.value)
    assert "gh workflow enable old.yml" in caught.value.hint


def test_dispatch_returns_the_run_when_github_gives_its_details(gh_stub: GitHubStub, rig: Rig) -> None:
    dispatched = rig.gh.dispatch(REPO, WF, "main", INPUTS)

    [run] = gh_stub.runs()
    assert dispatched is not None and dispatched.id == run["id"]
    assert dispatched.html_url == run["html_url"] and dispatched.api_url.endswith(f"/actions/runs/{run['id']}")
    assert run["display_title"] == f"retrain dept [{KEY}]"  # run-name resolved: the correlation is in the title
    [post] = gh_stub.dispatches()
    assert post.body == {"ref": "main", "inputs": INPUTS, "return_run_details": True}
    assert post.status == 200


def test_without_run_details_dispatch_returns_none_and_find_run_finds_it(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.run_details = "ignored"  # an older GitHub Enterprise Server: 204, whatever was asked
    started = since()
    assert rig.gh.dispatch(REPO, WF, "main", {**INPUTS, "orchestrator_key": "retrain:urgency:u3"}) is None
    assert rig.gh.dispatch(REPO, WF, "main", INPUTS) is None
    assert [r.status for r in gh_stub.dispatches()] == [204, 204]

    found = rig.gh.find_run(REPO, WF, KEY, started)

    mine = next(r for r in gh_stub.runs() if KEY in r["display_title"])
    assert found == Run(mine["id"], "queued", None, mine["html_url"], f"retrain dept [{KEY}]")
    assert rig.gh.find_run(REPO, WF, "retrain:dept:v8", started) is None
    listing = gh_stub.requests[-1]
    assert listing.query["event"] == ["workflow_dispatch"]
    assert listing.query["created"][0].startswith(">=")


def test_find_run_ignores_runs_created_before_the_window(gh_stub: GitHubStub, rig: Rig) -> None:
    rig.gh.dispatch(REPO, WF, "main", INPUTS)
    assert rig.gh.find_run(REPO, WF, KEY, since()) is not None
    assert rig.gh.find_run(REPO, WF, KEY, datetime.now(timezone.utc) + timedelta(minutes=10)) is None


def test_a_server_refusing_return_run_details_is_asked_again_without_it(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.run_details = "rejected"  # GHES 3.19: 422 '"return_run_details" is not a permitted key.'

    assert rig.gh.dispatch(REPO, WF, "main", INPUTS) is None
    assert rig.gh.dispatch(REPO, WF, "main", INPUTS) is None  # remembered: asked once only

    assert [(r.status, "return_run_details" in r.body) for r in gh_stub.dispatches()] == [(422, True), (204, False), (204, False)]
    assert len(gh_stub.runs()) == 2


def test_run_follows_status_and_conclusion(gh_stub: GitHubStub, rig: Rig) -> None:
    dispatched = rig.gh.dispatch(REPO, WF, "main", INPUTS)
    assert dispatched is not None
    first = rig.gh.run(REPO, dispatched.id)
    assert (first.status, first.conclusion, first.completed) == ("queued", None, False)

    gh_stub.start_run(dispatched.id)
    assert rig.gh.run(REPO, dispatched.id).status == "in_progress"

    gh_stub.finish_run(dispatched.id, "failure", failed_steps={"train": "Fit the model"})
    done = rig.gh.run(REPO, dispatched.id)
    assert (done.status, done.conclusion, done.completed, done.succeeded) == ("completed", "failure", True, False)
    assert rig.gh.failed_jobs_summary(REPO, dispatched.id) == ["train: Fit the model"]


def test_on_dispatch_lets_a_test_finish_the_run(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.on_dispatch(lambda stub, run: stub.finish_run(run["id"], "success"))
    dispatched = rig.gh.dispatch(REPO, WF, "main", INPUTS)
    assert dispatched is not None and rig.gh.run(REPO, dispatched.id).succeeded
    assert gh_stub.callback_errors == []


def test_an_enterprise_api_url_with_a_path_prefix() -> None:
    with GitHubStub(tokens={TOKEN: "write"}, prefix="/api/v3") as stub:
        declare(stub)
        gh = GitHub.from_environ({"GITHUB_API_URL": stub.url, "GITHUB_TOKEN": TOKEN}, retries=0)
        assert gh.dispatch(REPO, WF, "main", INPUTS) is not None
        assert {r.path.split("/actions/")[0] for r in stub.requests} == {f"/api/v3/repos/{REPO}"}
        gh.close()


# ---------------------------------------------------------------------------------------------- errors
def test_a_wrong_token_is_an_auth_error_naming_the_variable_never_the_token(gh_stub: GitHubStub) -> None:
    gh = GitHub.from_environ({"GITHUB_API_URL": gh_stub.url, "GH_TOKEN": WRONG_TOKEN}, retries=0)
    with pytest.raises(GitHubAuthError) as caught:
        gh.check(REPO, WF)
    exc = caught.value
    assert isinstance(exc, AuthError) and exc.exit_code == EXIT_CONFIG and exc.status == 401
    assert "GitHub rejected GH_TOKEN (401: Bad credentials)" in exc.message
    assert "GH_TOKEN is wrong, expired or revoked" in exc.hint
    assert_no_secret(exc)
    assert len(gh_stub.requests) == 1  # permanent: not retried


def test_no_token_is_a_404_whose_hint_says_no_token_is_set(gh_stub: GitHubStub) -> None:
    with pytest.raises(GitHubError) as caught:
        Rig(gh_stub.url, token=None).gh.check(REPO, WF)
    assert caught.value.status == 404
    assert "no token is set (GITHUB_TOKEN (or GH_TOKEN))" in caught.value.hint
    assert "authorization" not in gh_stub.requests[0].headers


def test_an_unknown_workflow_is_a_404_naming_repo_and_workflow(rig: Rig) -> None:
    with pytest.raises(GitHubError) as caught:
        rig.gh.dispatch(REPO, "retrian.yml", "main", INPUTS)
    exc = caught.value
    assert isinstance(exc, LaunchError) and exc.status == 404 and "not found (404: Not Found)" in exc.message
    assert "'owner/models'" in exc.hint and "'retrian.yml'" in exc.hint and "token can see" in exc.hint
    assert "no token is set" not in exc.hint


def test_a_read_token_cannot_dispatch_and_is_told_it_needs_actions_write(gh_stub: GitHubStub) -> None:
    r = Rig(gh_stub.url, token=READ_TOKEN)
    r.gh.check(REPO, WF)  # reading is fine
    with pytest.raises(GitHubError) as caught:
        r.gh.dispatch(REPO, WF, "main", INPUTS)
    exc = caught.value
    assert exc.status == 403 and "Resource not accessible by personal access token" in exc.message
    assert "actions:write on owner/models" in exc.hint
    assert_no_secret(exc)
    assert gh_stub.runs() == []


def test_an_undeclared_input_is_a_422_saying_to_declare_it(gh_stub: GitHubStub, rig: Rig) -> None:
    with pytest.raises(GitHubError) as caught:
        rig.gh.dispatch(REPO, WF, "main", {**INPUTS, "extra": "1"})
    exc = caught.value
    assert exc.status == 422 and 'Unexpected inputs provided: ["extra"]' in exc.message
    assert "on.workflow_dispatch.inputs" in exc.hint
    assert gh_stub.runs() == [] and len(gh_stub.dispatches()) == 1


def test_an_unknown_ref_is_a_422_naming_the_ref(rig: Rig) -> None:
    with pytest.raises(GitHubError) as caught:
        rig.gh.dispatch(REPO, WF, "mian", INPUTS)
    assert "No ref found for: mian" in caught.value.message and "'mian'" in caught.value.hint


def test_a_workflow_without_the_dispatch_trigger(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.add_workflow(REPO, "ci.yml", dispatchable=False)
    with pytest.raises(GitHubError) as caught:
        rig.gh.dispatch(REPO, "ci.yml", "main", {})
    assert "on: workflow_dispatch:" in caught.value.hint


# ---------------------------------------------------------------------------------------------- retries
def test_a_503_on_a_read_is_retried(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.fail("GET", r"/workflows/", 503, times=2)

    assert rig.gh.check(REPO, WF).state == "active"

    assert [r.status for r in gh_stub.requests] == [503, 503, 200]
    assert len(rig.sleeps) == 2 and all(0 <= s <= 0.1 for s in rig.sleeps)
    assert "attempt 1 failed (503)" in rig.notes[0]


def test_a_read_that_keeps_failing_is_unavailable_after_every_try(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.fail("GET", r"/runs/", 502, times=10)
    with pytest.raises(GitHubUnavailable) as caught:
        rig.gh.run(REPO, 1)
    exc = caught.value
    assert isinstance(exc, UnavailableError) and exc.exit_code == EXIT_UNAVAILABLE
    assert "after 4 tries (HTTP 502)" in exc.message and "GITHUB_API_URL" in exc.hint
    assert len(gh_stub.requests) == 4


def test_a_secondary_rate_limit_403_waits_what_retry_after_says(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.fail("GET", r"/workflows/", 403, headers={"Retry-After": "7"},
                 body={"message": "You have exceeded a secondary rate limit."})
    assert rig.gh.check(REPO, WF).state == "active"
    assert rig.sleeps == [7.0]


def test_a_dispatch_answered_429_is_retried_it_was_refused_unread(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.fail("POST", DISPATCHES, 429, headers={"Retry-After": "1"})
    assert rig.gh.dispatch(REPO, WF, "main", INPUTS) is not None
    assert [r.status for r in gh_stub.dispatches()] == [429, 200] and len(gh_stub.runs()) == 1


def test_a_dispatch_answered_5xx_is_not_retried(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.fail("POST", DISPATCHES, 502, times=3)
    with pytest.raises(GitHubUnavailable) as caught:
        rig.gh.dispatch(REPO, WF, "main", INPUTS)
    assert "may or may not have been dispatched" in caught.value.message
    assert len(gh_stub.dispatches()) == 1 and rig.sleeps == []


def test_a_dispatch_that_timed_out_after_sending_is_not_sent_again(gh_stub: GitHubStub) -> None:
    gh_stub.slow("POST", DISPATCHES, 1.5)  # the run is created, the answer comes too late
    r = Rig(gh_stub.url, timeout=0.5)
    with pytest.raises(GitHubUnavailable) as caught:
        r.gh.dispatch(REPO, WF, "main", INPUTS)

    assert "ReadTimeout" in caught.value.message and "may or may not have been dispatched" in caught.value.message
    assert len(gh_stub.dispatches()) == 1 and r.sleeps == []
    [run] = gh_stub.runs()
    found = Rig(gh_stub.url).gh.find_run(REPO, WF, KEY, since())  # how the launcher reconciles it
    assert found is not None and found.id == run["id"]


def test_a_dispatch_that_cannot_connect_is_retried_then_unavailable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = Rig(f"http://127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(GitHubUnavailable) as caught:
        r.gh.dispatch(REPO, WF, "main", INPUTS)
    assert len(r.sleeps) == 3 and "after 4 tries (ConnectError" in caught.value.message
    assert "may or may not" not in caught.value.message  # it never left
    assert_no_secret(caught.value)


# ---------------------------------------------------------------------------------------------- the token's reach
def test_a_same_origin_redirect_is_followed_with_the_token(gh_stub: GitHubStub, rig: Rig) -> None:
    gh_stub.redirect("GET", rf"/workflows/{WF}$", f"/repos/{REPO}/actions/workflows/{gh_stub.add_workflow(REPO, 'x.yml')}")
    gh_stub.redirect("POST", DISPATCHES, f"{gh_stub.url}/repos/{REPO}/actions/workflows/{WF}/dispatches?moved=1", status=307)

    assert rig.gh.check(REPO, WF).path == ".github/workflows/x.yml"  # renamed repo: 301 to its new place
    assert rig.gh.dispatch(REPO, WF, "main", INPUTS) is not None  # 307 keeps the POST and its body

    assert [r.status for r in gh_stub.requests] == [301, 200, 307, 200]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in gh_stub.requests)
    assert gh_stub.dispatches()[-1].body["inputs"] == INPUTS


def test_a_redirect_to_another_port_is_not_followed(gh_stub: GitHubStub, other: GitHubStub, rig: Rig) -> None:
    gh_stub.redirect("GET", r"/workflows/", f"{other.url}/repos/{REPO}/actions/workflows/{WF}", status=302)
    with pytest.raises(GitHubError) as caught:
        rig.gh.check(REPO, WF)
    assert f"another host (127.0.0.1:{other.port})" in caught.value.message
    assert other.requests == []
    assert_no_secret(caught.value)


def test_a_redirect_to_another_host_name_gets_no_token(gh_stub: GitHubStub, rig: Rig) -> None:
    """``localhost`` is the same server under another name: another origin all the same."""
    gh_stub.redirect("POST", DISPATCHES, f"{gh_stub.url_for('localhost')}/repos/{REPO}/actions/workflows/{WF}/dispatches",
                     status=307)
    with pytest.raises(GitHubError):
        rig.gh.dispatch(REPO, WF, "main", INPUTS)
    hosts = [(r.headers["host"], "authorization" in r.headers) for r in gh_stub.requests]
    assert hosts == [(f"127.0.0.1:{gh_stub.port}", True)]
    assert gh_stub.runs() == []


def test_no_error_string_ever_holds_a_token(gh_stub: GitHubStub) -> None:
    """Whatever GitHub echoes back (here: the token, in an error message), no error shows it."""
    gh_stub.fail("GET", r"/workflows/", 422, body={"message": f"bad token {TOKEN}", "errors": [{"message": READ_TOKEN}]})
    redact.register(READ_TOKEN)
    with pytest.raises(GitHubError) as caught:
        Rig(gh_stub.url).gh.check(REPO, WF)
    assert redact.MASK in caught.value.message
    assert_no_secret(caught.value)
