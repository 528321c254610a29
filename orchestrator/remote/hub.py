"""All Hugging Face Hub HTTP, through ``huggingface_hub``'s own client.

This is the one place where:
- every call gets a timeout (``huggingface_hub``'s default client has none) and the retry policy;
- Hub statuses become our error types, each with a hint saying what to check;
- metadata is fetched with a conditional GET (``If-None-Match``), so an unchanged file costs a 304;
- the token is attached only to requests for the Hub's host (or an explicitly allowed one). The
  client also drops ``Authorization`` when a redirect leaves the origin.

``huggingface_hub`` is imported lazily: a run with nothing to do never pays for it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..config.settings import HubConfig
from ..contracts.metadata import too_large
from ..errors import HubAuthError, HubError, HubUnavailable
from .calls import Calls, tries_text
from .retry import is_transient, is_transient_before_sending, is_unsent, status_of

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

T = TypeVar("T")

_SESSION_LOCK = threading.Lock()  # huggingface_hub shares one HTTP client per process
TRANSITIONAL_STAGES = frozenset({"BUILDING", "RUNNING_BUILDING", "APP_STARTING", "RUNNING_APP_STARTING"})


def _client_with_timeout(seconds: float) -> Any:
    """huggingface_hub's own client (its request hooks: offline mode, request ids), with a timeout."""
    try:
        from huggingface_hub.utils._http import default_client_factory
    except ImportError:  # pragma: no cover - a future huggingface_hub moved it
        import httpx2

        return httpx2.Client(follow_redirects=True, timeout=seconds)
    client = default_client_factory()
    client.timeout = seconds
    return client


@dataclass(frozen=True)
class Fetched:
    """One conditional GET: ``missing`` (404 file), ``unchanged`` (304) or ``changed`` (200, with content)."""

    status: Literal["missing", "unchanged", "changed"]
    etag: str | None = None
    content: bytes | None = None


class Hub:
    """The orchestrator's view of the Hub: restart and inspect Spaces, fetch metadata files."""

    def __init__(
        self,
        config: HubConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self._calls = Calls(
            "the Hub", unavailable=HubUnavailable, retries=config.retries, backoff=config.backoff, sleep=sleep,
            on_retry=on_retry, before=functools.partial(_configure_session, config.timeout),
        )
        self._api: HfApi | None = None
        self._whoami: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._once: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------- plumbing
    @property
    def _token(self) -> str | bool:
        return self.config.token.get_secret_value() if self.config.token else False

    @property
    def api(self) -> HfApi:
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(endpoint=self.config.endpoint, token=self._token, library_name="orchestrator")
        return self._api

    def call(
        self, what: str, fn: Callable[[], T], *, not_found: str, refused: str | None = None,
        retry_on: Callable[[BaseException], bool] = is_transient,
    ) -> T:
        """Run ``fn``, a call through ``huggingface_hub``, under the retry policy; what escapes becomes our
        error types (``not_found``: what to check when the Hub answers 404; ``refused``: when it refuses the
        request otherwise, e.g. 400 or 422, after the Hub's own message; a read's default is ``not_found``).
        :mod:`.hfjobs` calls the Hub through it too."""
        return self._calls(
            what, fn, retry_on=retry_on,
            translate=lambda exc, tries: translate_error(exc, what, tries, not_found, self.config, refused=refused),
        )

    # ------------------------------------------------------------------------------------- the token
    def whoami(self) -> dict[str, Any]:
        """What the Hub knows of the token (``whoami-v2``), read once per Hub object: it is rate-limited."""
        with self._lock:  # read once, even when several targets are checked at once
            return self._whoami_once()

    def once(self, key: str, read: Callable[[], T]) -> T:
        """``read()`` the first time ``key`` is asked for on this client, its answer every time after: for what
        a run needs once (the job hardware list), whichever of its concurrent calls asks first."""
        with self._lock:
            if key not in self._once:
                self._once[key] = read()
            return self._once[key]

    def _whoami_once(self) -> dict[str, Any]:
        if self._whoami is None:
            if not self.config.token:
                raise HubAuthError(
                    "HF_TOKEN is not set, and restarting a Space or starting an HF Job needs a token",
                    hint="set HF_TOKEN to a token with write access to the Spaces it restarts (or the jobs' namespace)",
                )
            self._whoami = self.call(
                "checking HF_TOKEN (whoami)", lambda: self.api.whoami(), not_found="check HF_ENDPOINT"
            )
        return self._whoami

    def write_problem(self, repo_id: str, *, repo_type: str = "space") -> str | None:
        """Why the token may not write to ``repo_id`` (restart it, for a Space), as far as ``whoami`` can
        tell without acting; None when it may, or when the Hub's answer does not say."""
        return write_problem(self.whoami(), repo_id, repo_type)

    # ------------------------------------------------------------------------------------- spaces
    def restart_space(self, repo_id: str) -> str:
        """Restart a Space; returns its stage after the restart (usually BUILDING).

        A restart is not blindly repeated. A try that got no answer after sending (a read timeout, a
        dropped connection) is not retried at all: it raises :class:`HubUnavailable`, and the caller
        leaves the action open for the next run to reconcile. After an error answer (429, a gateway's
        5xx) the next try first reads the runtime, and a Space already building or starting counts as
        restarted.
        """
        tries = 0

        def restart() -> object:
            nonlocal tries
            tries += 1
            if tries > 1:
                runtime = self.api.get_space_runtime(repo_id)
                if str(runtime.stage) in TRANSITIONAL_STAGES:
                    return runtime
            return self.api.restart_space(repo_id)

        runtime = self.call(
            f"restarting Space {repo_id}",
            restart,
            not_found=f"check the Space id {repo_id!r}",
            refused="a static Space, for one, cannot be restarted",
            retry_on=is_transient_before_sending,
        )
        return str(runtime.stage)

    def space_stage(self, repo_id: str) -> str:
        runtime = self.call(
            f"reading the runtime of Space {repo_id}",
            lambda: self.api.get_space_runtime(repo_id),
            not_found=f"check the Space id {repo_id!r}",
        )
        return str(runtime.stage)

    def space_variable(self, repo_id: str, key: str) -> tuple[str | None, datetime | None]:
        """A Space variable's value and when it last changed ((None, None) when it is not set)."""
        found = self.call(
            f"reading the variables of Space {repo_id}",
            lambda: self.api.get_space_variables(repo_id).get(key),
            not_found=f"check the Space id {repo_id!r}",
        )
        return (found.value, found.updated_at) if found is not None else (None, None)

    def pause_space(self, repo_id: str) -> str:
        """Pause a Space (it stops running, and costing); returns its stage. Pausing twice is harmless."""
        runtime = self.call(
            f"pausing Space {repo_id}", lambda: self.api.pause_space(repo_id), not_found=f"check the Space id {repo_id!r}"
        )
        return str(runtime.stage)

    def set_space_variable(self, repo_id: str, key: str, value: str) -> None:
        """Set a Space variable, which restarts a running Space: only a try that surely never reached the
        Hub is repeated; any other failure is :class:`HubUnavailable`, left for the next run to check."""
        self.call(
            f"setting {key} on Space {repo_id}",
            lambda: self.api.add_space_variable(repo_id, key, value),
            not_found=f"check the Space id {repo_id!r}",
            refused=f"check the variable {key} and its value {value!r}",
            retry_on=is_unsent,
        )

    # ------------------------------------------------------------------------------------- repos
    def publish_folder(self, repo_id: str, folder: str, *, repo_type: str, tag: str | None, message: str) -> str:
        """Upload ``folder`` as one commit (created repo if needed), then tag it (if ``tag``); returns the commit id.

        A commit is atomic on the Hub: readers see all of a version's files or none. An existing tag
        of the same name (a retried publish) is left as it is.
        """
        from huggingface_hub.errors import HfHubHTTPError

        what = f"publishing {tag or message!r} to {repo_type} repo {repo_id}"
        hint = f"check the repo id {repo_id!r} and that HF_TOKEN may write to it"
        refused = f"check the repo id {repo_id!r}, its type ({repo_type}) and the files in {folder}"
        self.call(what, lambda: self.api.create_repo(repo_id, repo_type=repo_type, exist_ok=True), not_found=hint,
                  refused=refused)
        commit = self.call(
            what,
            lambda: self.api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type=repo_type, commit_message=message),
            not_found=hint,
            refused=refused,
        )

        def tag_it() -> None:
            try:
                self.api.create_tag(repo_id, tag=tag, repo_type=repo_type, revision=commit.oid)
            except HfHubHTTPError as exc:
                if getattr(exc.response, "status_code", None) != 409:  # 409: the tag exists already
                    raise

        if tag is not None:
            self.call(what, tag_it, not_found=hint, refused=f"check the tag name {tag!r}")
        return str(commit.oid)

    def download(self, repo_id: str, filename: str, *, repo_type: str, revision: str, local_dir: str) -> str:
        """Download one file of ``revision`` (a tag, branch or commit) into ``local_dir``; returns its path."""
        from huggingface_hub import hf_hub_download

        return self.call(
            f"downloading {filename} of {repo_type} repo {repo_id} at {revision}",
            lambda: hf_hub_download(
                repo_id,
                filename,
                repo_type=repo_type,
                revision=revision,
                local_dir=local_dir,
                endpoint=self.config.endpoint,
                token=self._token,
            ),
            not_found=f"check the repo id {repo_id!r} and the version {revision!r}",
        )

    def file_url(self, repo_id: str, filename: str, *, repo_type: str, revision: str = "main") -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=self.config.endpoint)

    # ------------------------------------------------------------------------------------- files
    def fetch(self, url: str, *, etag: str | None = None, what: str | None = None, limit: int | None = None) -> Fetched:
        """Conditional GET of a file on the Hub; a missing file is ``Fetched('missing')``. With ``limit``,
        the body is streamed and a larger one refused (:class:`MetadataError`) without reading it all."""
        from huggingface_hub.errors import RemoteEntryNotFoundError
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        what = what or f"fetching {url}"
        send_token = self.config.may_receive_token(url)  # a metadata check needs no HfApi: it stays cheap to start

        def get() -> Fetched:
            headers = build_hf_headers(token=self._token if send_token else False, library_name="orchestrator")
            if not send_token:  # never: config refuses such URLs; kept as a second lock on the door
                headers.pop("authorization", None)
            if etag:
                headers["If-None-Match"] = etag
            with get_session().stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Fetched("unchanged", etag=etag)
                if response.status_code >= 400:
                    response.read()  # an error body is small: hf_raise_for_status reads its message
                try:
                    hf_raise_for_status(response)
                except RemoteEntryNotFoundError:
                    return Fetched("missing")
                content = bytearray()
                for chunk in response.iter_bytes():
                    content += chunk
                    if limit is not None and len(content) > limit:
                        raise too_large(url, len(content))
                return Fetched("changed", etag=response.headers.get("etag"), content=bytes(content))

        return self.call(what, get, not_found=f"check the URL {url} (repo id, revision and file name)")


def _configure_session(timeout: float) -> None:
    """Before each call: our timeout on huggingface_hub's HTTP client (the library shares one per
    process, and gives it none), without importing its (slow) API module. The client the library
    holds says which timeout it has, so nothing is remembered here; a factory gives the same timeout
    to any client the library makes later (it replaces its client after a connection error)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session, set_client_factory

    # The library would otherwise look up a registry of "agent harnesses" on huggingface.co
    # (whatever our endpoint) to decorate its User-Agent: a CI tool has no use for it, and an
    # air-gapped or mirrored setup must not call out.
    constants.HF_HUB_DISABLE_TELEMETRY = True
    with _SESSION_LOCK:  # calls run at once (the labels of one step): the client is replaced once, not under another call
        if get_session().timeout != httpx2.Timeout(timeout):
            set_client_factory(functools.partial(_client_with_timeout, timeout))


def write_problem(info: dict[str, Any], repo_id: str, repo_type: str) -> str | None:
    """Why a token whose ``whoami`` answer is ``info`` may not write to ``repo_id``; None when it may, or
    when the answer does not say."""
    user = info.get("name")
    orgs = {org.get("name") for org in info.get("orgs") or () if isinstance(org, dict)}
    token = ((info.get("auth") or {}).get("accessToken") or {}) if isinstance(info.get("auth"), dict) else {}
    role = token.get("role")
    namespace = repo_id.split("/", 1)[0]
    if role == "read":
        return f"HF_TOKEN is a read token of {user}; restarting {repo_type} {repo_id} needs write access"
    if role in ("write", "admin") and user and namespace != user and namespace not in orgs:
        return f"HF_TOKEN belongs to {user}, who is neither {namespace} nor a member of it"
    if role == "fineGrained":
        scoped = ((token.get("fineGrained") or {}).get("scoped")) or []
        for scope in scoped:
            entity = scope.get("entity") or {}
            covers = (entity.get("type") == repo_type and entity.get("name") == repo_id) or (
                entity.get("type") in ("user", "org") and entity.get("name") == namespace
            )
            if covers and "repo.write" in (scope.get("permissions") or ()):
                return None
        return f"HF_TOKEN is a fine-grained token without repo.write on {repo_type} {repo_id} or on {namespace}"
    return None


def translate_error(
    exc: Exception, what: str, tries: int, not_found: str, config: HubConfig, *, refused: str | None = None
) -> Exception:
    """What escaped a Hub call, as our error types, each with a hint saying what to check: ``not_found`` for
    a 404, ``refused`` (else ``not_found``) for any other refusal, after the Hub's own message."""
    from huggingface_hub.errors import HfHubHTTPError

    status = status_of(exc)
    if is_transient(exc):
        reason = f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
        return HubUnavailable(
            f"{what}: the Hub did not answer successfully after {tries_text(tries)} ({reason})",
            hint=f"check that {config.endpoint} is reachable (HF_ENDPOINT), or run again later",
        )
    if not isinstance(exc, HfHubHTTPError) and isinstance(exc, (KeyError, ValueError, TypeError)):
        # a 2xx answer we could not parse
        return HubError(
            f"{what}: the Hub's answer could not be read ({type(exc).__name__}: {exc})",
            hint=f"check that HF_ENDPOINT ({config.endpoint}) is a Hugging Face Hub",
        )
    if not isinstance(exc, HfHubHTTPError):
        return exc
    server = _server_message(exc)
    error_code = (getattr(getattr(exc, "response", None), "headers", None) or {}).get("x-error-code")
    # A 401 to a request that carried a token means the token itself was refused, unless the Hub says
    # it is its way of hiding a private repo (X-Error-Code: RepoNotFound).
    if status == 401 and config.token and error_code != "RepoNotFound":
        return HubAuthError(
            f"{what}: the Hub rejected HF_TOKEN (401: {server})",
            status=401,
            hint="HF_TOKEN is wrong, expired or revoked: create a new token and update the secret",
        )
    if status == 401 and not config.token:
        return HubAuthError(
            f"{what}: the Hub requires a token (401: {server})",
            status=401,
            hint="HF_TOKEN is not set: set it to a token with access to the repo",
        )
    if status in (401, 404):
        return HubError(
            f"{what}: not found (HTTP {status}{': ' + server if server else ''})",
            status=status,
            hint=not_found + "; if the repo is private, check that HF_TOKEN may read it",
        )
    if status == 403:
        return HubError(
            f"{what}: forbidden (HTTP 403{': ' + server if server else ''})",
            status=403,
            hint="HF_TOKEN lacks the permission: it needs write access to the repo (and to restart Spaces)",
        )
    return HubError(
        f"{what}: the Hub answered HTTP {status}{': ' + server if server else ''}",
        status=status,
        hint=f"read the Hub's message above; {refused or not_found}",
    )


def _server_message(exc: HfHubHTTPError) -> str:
    """The Hub's own words, as huggingface_hub read them: the first line (its ``X-Error-Message`` header,
    else the body's ``error``)."""
    lines = (exc.server_message or "").strip().splitlines()
    return lines[0].strip() if lines else ""
