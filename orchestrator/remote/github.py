"""All GitHub REST HTTP: dispatch a workflow and follow its run (the GitHub workflow launcher's boundary).

- Every call has a timeout and :mod:`orchestrator.remote.retry`'s policy. Reads retry connection errors,
  timeouts, 429, 5xx and rate-limit 403s. A dispatch (a POST: not idempotent) retries only what surely
  did not reach GitHub or was refused unread: connect errors, connect / pool timeouts, 429 and
  rate-limit 403s. A read timeout, a dropped connection or a 5xx after sending raises
  :class:`GitHubUnavailable` at once: the run may exist, and the caller reconciles with ``find_run``.
- GitHub's statuses become our errors, with GitHub's own ``message`` and a hint saying what to check.
- The token goes only to the API's origin (scheme, host, port). Redirects are followed here, not by
  httpx2: within that origin (a renamed repository answers 301 / 307), never to another one.

Correlation: GitHub Enterprise Server versions without ``return_run_details`` answer a dispatch with
a bare 204, so the run is found by listing the workflow's ``workflow_dispatch`` runs and matching a
correlation id in their ``display_title``. The workflow must declare the input carrying it (under
``on.workflow_dispatch.inputs``; every input sent must be declared, else 422) and name its runs with
it, e.g. ``run-name: retrain ${{ inputs.orchestrator_key }}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from .. import __version__, redact
from ..errors import ConfigError, GitHubAuthError, GitHubError, GitHubUnavailable
from .calls import Calls, tries_text
from .retry import is_transient, is_unsent, status_of

T = TypeVar("T")
DEFAULT_API_URL = "https://api.github.com"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
           "User-Agent": f"continuous-learning-orchestrator/{__version__}"}
MAX_REDIRECTS = 5
CLOCK_SKEW = timedelta(minutes=2)  # find_run also looks this far before ``created_after``
FAILED = frozenset({"failure", "timed_out", "cancelled", "startup_failure", "action_required"})


@dataclass(frozen=True)
class Workflow:
    id: int
    name: str
    path: str
    state: str  # active, disabled_manually, disabled_inactivity, disabled_fork, deleted


@dataclass(frozen=True)
class DispatchedRun:  # what a dispatch with return_run_details answers
    id: int
    api_url: str
    html_url: str


@dataclass(frozen=True)
class Run:
    """A workflow run, as GitHub lists it: its status, and its conclusion once it completed."""

    id: int
    status: str  # requested, queued, pending, waiting, in_progress, completed
    conclusion: str | None  # None until completed; success, failure, cancelled, timed_out, skipped ...
    html_url: str
    display_title: str

    completed = property(lambda self: self.status == "completed")
    succeeded = property(lambda self: self.conclusion == "success")

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Run:
        title = d.get("display_title") or d.get("name") or ""
        return cls(int(d["id"]), str(d["status"]), d.get("conclusion"), str(d.get("html_url") or ""), str(title))


@dataclass(frozen=True)
class Timing:
    """A run's timing (``GET .../actions/runs/{id}/timing``): per runner OS (``UBUNTU``, ``MACOS``, ``WINDOWS``)
    each job's billable milliseconds (or the OS's total, where GitHub lists no jobs), and the run's duration."""

    billable_ms: Mapping[str, tuple[int, ...]]
    run_ms: int | None

    @property
    def billable_minutes(self) -> int:
        """GitHub bills each job by the minute, rounded up."""
        return sum(math.ceil(ms / 60000) for jobs in self.billable_ms.values() for ms in jobs)

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Timing:
        billable: dict[str, tuple[int, ...]] = {}
        listed = d.get("billable")
        for system, spent in (listed.items() if isinstance(listed, Mapping) else ()):
            if not isinstance(spent, Mapping):
                continue
            runs = spent.get("job_runs") or ()
            billable[str(system)] = (tuple(int(job["duration_ms"]) for job in runs) if runs
                                     else (int(spent.get("total_ms") or 0),))
        run_ms = d.get("run_duration_ms")
        return cls(billable, int(run_ms) if isinstance(run_ms, (int, float)) else None)


class GitHub:
    """The orchestrator's view of GitHub Actions: check a workflow, dispatch it, follow its runs."""

    def __init__(self, api_url: str = DEFAULT_API_URL, token: str | None = None, *, timeout: float = 30.0,
                 retries: int = 5, backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[str], None] | None = None, token_name: str = "GITHUB_TOKEN (or GH_TOKEN)") -> None:
        redact.register(token)
        redact.register_url(api_url)
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ConfigError(f"GITHUB_API_URL {redact.redact(api_url)!r} is not an http(s) URL without credentials",
                              hint="e.g. https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server")
        self.api_url, self.token, self.token_name, self.timeout = api_url.rstrip("/"), token or None, token_name, timeout
        self._calls = Calls("GitHub", unavailable=GitHubUnavailable, retries=retries, backoff=backoff, sleep=sleep,
                            on_retry=on_retry)
        self._origin = _origin(self.api_url)
        self._client: Any = None
        self._run_details = True  # False once the server refused return_run_details (an older GHES)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **options: Any) -> GitHub:
        """``GITHUB_API_URL`` (GitHub Actions sets it; GHES: ``https://HOST/api/v3``); the token from
        ``GITHUB_TOKEN``, else ``GH_TOKEN``."""
        name = next((n for n in ("GITHUB_TOKEN", "GH_TOKEN") if (environ.get(n) or "").strip()), None)
        url = (environ.get("GITHUB_API_URL") or "").strip() or DEFAULT_API_URL
        return cls(url, environ[name].strip() if name else None, token_name=name or "GITHUB_TOKEN (or GH_TOKEN)", **options)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------------------------- the API
    def check(self, repo: str, workflow: str) -> Workflow:
        """Read-only preflight: the workflow (file name like ``retrain.yml``, or id) exists and is active."""
        found = self._call(f"reading workflow {workflow} of {repo}", "GET", _wf_path(repo, workflow), repo, workflow,
                           lambda d: Workflow(int(d["id"]), str(d.get("name")), str(d.get("path")), str(d["state"])))
        if found.state != "active":
            raise GitHubError(f"workflow {workflow} of {repo} is {found.state.replace('_', ' ')}: it cannot be dispatched",
                              hint=f"enable it (the repository's Actions tab, or `gh workflow enable {workflow} -R {repo}`)")
        return found

    def dispatch(self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str]) -> DispatchedRun | None:
        """Dispatch once. The run when GitHub says which (``return_run_details``); None after a 204 (or an
        unreadable 200: dispatched all the same), when :meth:`find_run` finds it by correlation."""
        body: dict[str, Any] = {"ref": ref, "inputs": dict(inputs), **({"return_run_details": True} if self._run_details else {})}

        def send() -> DispatchedRun | None:
            return self._call(f"dispatching workflow {workflow} of {repo} on {ref}", "POST",
                              _wf_path(repo, workflow) + "/dispatches", repo, workflow, _dispatched, json=body)

        try:
            return send()
        except GitHubError as exc:  # a 422 is refused, not acted upon: an older GHES ("... not a permitted key")
            if exc.status != 422 or "return_run_details" not in exc.message or not body.pop("return_run_details", False):
                raise
        self._run_details = False
        return send()

    def repository_dispatch(self, repo: str, event_type: str, payload: Mapping[str, Any]) -> None:
        """``POST /repos/{repo}/dispatches``: start the workflows of ``repo`` that listen for ``event_type``
        (``on: repository_dispatch: types: [...]``). Sent once (an event twice is two runs)."""
        self._call(f"sending {event_type} to {repo}", "POST", f"{_repo_path(repo)}/dispatches", repo, None,
                   lambda d: None, json={"event_type": event_type, "client_payload": dict(payload)})

    def find_run(self, repo: str, workflow: str, correlation: str, created_after: datetime) -> Run | None:
        """The newest ``workflow_dispatch`` run of the workflow created since ``created_after`` (less
        :data:`CLOCK_SKEW`) whose ``display_title`` (or ``name``) contains ``correlation``; None if none
        (yet: a new run takes a few seconds to be listed). Reads the newest 100 such runs."""
        since = (created_after if created_after.tzinfo else created_after.replace(tzinfo=timezone.utc)) - CLOCK_SKEW
        created = ">=" + since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def match(data: dict[str, Any]) -> Run | None:
            titles = ((item, f"{item.get('display_title') or ''}\n{item.get('name') or ''}") for item in data["workflow_runs"])
            return next((Run.of(item) for item, title in titles if correlation in title), None)  # newest first

        return self._call(f"listing runs of workflow {workflow} of {repo}", "GET", _wf_path(repo, workflow) + "/runs",
                          repo, workflow, match, params={"event": "workflow_dispatch", "created": created, "per_page": "100"})

    def run(self, repo: str, run_id: int) -> Run:
        return self._call(f"reading run {run_id} of {repo}", "GET", f"{_repo_path(repo)}/actions/runs/{int(run_id)}",
                          repo, None, Run.of)

    def timing(self, repo: str, run_id: int) -> Timing:
        """The run's billable time per runner OS, and its duration."""
        return self._call(f"reading the billable time of run {run_id} of {repo}", "GET",
                          f"{_repo_path(repo)}/actions/runs/{int(run_id)}/timing", repo, None, Timing.of)

    def failed_jobs_summary(self, repo: str, run_id: int) -> list[str]:
        """``job: step, step`` for each failed job of the run's latest attempt (of its first 100 jobs)."""

        def failed(data: dict[str, Any]) -> list[str]:
            jobs = [job for job in data["jobs"] if job.get("conclusion") in FAILED]
            steps = [[str(s.get("name")) for s in job.get("steps") or () if s.get("conclusion") in FAILED] for job in jobs]
            return [f"{j.get('name')}: {', '.join(s)}" if s else f"{j.get('name')} ({j['conclusion']})" for j, s in zip(jobs, steps)]

        return self._call(f"reading the jobs of run {run_id} of {repo}", "GET",
                          f"{_repo_path(repo)}/actions/runs/{int(run_id)}/jobs", repo, None, failed,
                          params={"filter": "latest", "per_page": "100"})

    # ------------------------------------------------------------------------------------- plumbing
    def _send(self, method: str, path: str, params: Mapping[str, str] | None, json: Any) -> Any:
        """One request, following redirects within the API's origin only; raises for an error status."""
        import httpx2

        if self._client is None:
            self._client = httpx2.Client(timeout=self.timeout, follow_redirects=False, headers=HEADERS)
        url = self.api_url + path
        for _ in range(MAX_REDIRECTS + 1):
            auth = {"Authorization": f"Bearer {self.token}"} if self.token and _origin(url) == self._origin else {}
            response = self._client.request(method, url, params=params, json=json, headers=auth)
            if not (response.is_redirect and response.headers.get("location")):
                return response.raise_for_status()
            url, params, status = urljoin(url, response.headers["location"]), None, response.status_code
            if _origin(url) != self._origin:
                raise GitHubError(f"GitHub redirected {method} {path} to another host ({urlsplit(url).netloc}): not "
                                  "followed, the token goes to the API's host only", status=status,
                                  hint="check GITHUB_API_URL (GHES: https://HOST/api/v3)")
            if method != "GET" and status not in (307, 308):
                raise GitHubError(f"GitHub moved {path} (HTTP {status})", status=status,
                                  hint="the repository was probably renamed or transferred: update its name")
        raise GitHubError(f"{method} {path}: more than {MAX_REDIRECTS} redirects", hint="check GITHUB_API_URL")

    def _call(self, what: str, method: str, path: str, repo: str, workflow: str | None, parse: Callable[[dict], T],
              *, params: Mapping[str, str] | None = None, json: dict[str, Any] | None = None) -> T:
        """One API call under the retry policy, its answer parsed; what escapes becomes our error types."""

        def attempt() -> T:
            response = self._send(method, path, params, json)
            try:
                data = response.json() if response.content else {}
            except ValueError:  # not JSON: parse sees {} (a GET then fails as unreadable; a dispatch did happen)
                data = {}
            return parse(data if isinstance(data, dict) else {})

        ref = (json or {}).get("ref")
        return self._calls(what, attempt, retry_on=_refused_or_unsent if method == "POST" else _transient,
                           translate=lambda exc, tries: self._translate(exc, what, tries, method, repo, workflow, ref))

    def _translate(self, exc: Exception, what: str, tries: int, method: str, repo: str, workflow: str | None,
                   ref: str | None) -> Exception:
        import httpx2

        status, token = status_of(exc), self.token_name
        if _transient(exc):
            reason = f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
            maybe = "; the workflow may or may not have been dispatched" if method == "POST" and not _refused_or_unsent(exc) else ""
            return GitHubUnavailable(f"{what}: no successful answer from GitHub after {tries_text(tries)} ({reason}){maybe}",
                                     hint=f"check that {self.api_url} is reachable (GITHUB_API_URL), or run again later")
        if not isinstance(exc, httpx2.HTTPStatusError):
            if isinstance(exc, (KeyError, TypeError, ValueError)):  # a 2xx answer we could not read
                return GitHubError(f"{what}: GitHub's answer could not be read ({type(exc).__name__})",
                                   hint="check that GITHUB_API_URL is a GitHub API (GHES: https://HOST/api/v3)")
            return exc
        said = _message(exc.response)
        if status == 401:
            return GitHubAuthError(f"{what}: GitHub rejected {token} (401: {said})", status=401, hint=(
                f"{token} is wrong, expired or revoked: create a new token and update the secret" if self.token
                else f"no token is set: set {token} to a token with actions:write on {repo}"))
        if status == 404:
            what_to_check = f"the workflow {workflow!r} (a file name under .github/workflows, or its id)" if workflow else "the run id"
            unset = f"; no token is set ({token}), and GitHub hides private repositories" if not self.token else ""
            return GitHubError(f"{what}: not found (404: {said})", status=404, hint=(
                f"check the repository {repo!r}, {what_to_check}, and that the token can see the repository{unset}"))
        if status == 403:
            need = "write" if method == "POST" else "read"
            return GitHubError(f"{what}: forbidden (403: {said})", status=403, hint=(
                f"{token} needs actions:{need} on {repo} (a fine-grained token or app: Actions {need}; a classic token: "
                f"the repo and workflow scopes; a workflow's GITHUB_TOKEN: permissions: actions: {need})"))
        lowered, hint = said.lower(), "read GitHub's message"
        if status == 422 and "unexpected inputs" in lowered:
            hint = f"declare every input the orchestrator sends under on.workflow_dispatch.inputs of the workflow (on {ref})"
        elif status == 422 and "no ref found" in lowered:
            hint = f"check the ref {ref!r}: a branch or tag of {repo} that holds the workflow"
        elif status == 422 and "workflow_dispatch" in lowered:
            hint = "the workflow needs an `on: workflow_dispatch:` trigger, and must be enabled"
        return GitHubError(f"{what}: GitHub answered HTTP {status} ({said})", status=status, hint=hint)


def _dispatched(d: dict[str, Any]) -> DispatchedRun | None:
    try:
        return DispatchedRun(int(d["workflow_run_id"]), str(d.get("run_url") or ""), str(d.get("html_url") or ""))
    except (KeyError, TypeError, ValueError):
        return None


def _rate_limited(exc: BaseException) -> bool:
    """GitHub's rate limits answer 403 or 429 with ``retry-after`` or ``x-ratelimit-remaining: 0``."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    return status_of(exc) in (403, 429) and ("retry-after" in headers or headers.get("x-ratelimit-remaining") == "0")


def _transient(exc: BaseException) -> bool:
    return is_transient(exc) or _rate_limited(exc)


def _refused_or_unsent(exc: BaseException) -> bool:
    """What a dispatch may retry: the request never left (connect phase), or GitHub refused it unread."""
    return is_unsent(exc) or _rate_limited(exc)


def _message(response: Any) -> str:
    """GitHub's own words: the JSON ``message`` (and ``errors``), else the status phrase; one line."""
    try:
        data = response.json()
        errors = [e.get("message") or e.get("code") if isinstance(e, dict) else e for e in data.get("errors") or ()]
        said = "; ".join(str(part) for part in [data.get("message"), *errors] if part)
    except (ValueError, AttributeError):
        said = ""
    return " ".join((said or response.reason_phrase or "").split())[:300]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise ConfigError(f"{repo!r} is not a GitHub repository", hint="write it as OWNER/NAME")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _wf_path(repo: str, workflow: str) -> str:  # a path like .github/workflows/x.yml names the file x.yml
    return f"{_repo_path(repo)}/actions/workflows/{quote(str(workflow).rsplit('/', 1)[-1], safe='')}"
