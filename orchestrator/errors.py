"""The orchestrator's error tree and its exit codes, in one place.

Every failure the orchestrator reports is one of these, raised with a message that names what is wrong
and a ``hint`` that says what to check. The CLI turns the class into the process exit code:

    OrchestratorError                    (``status``: the remote's HTTP status, when it answered)
    ├── ConfigError              exit 2  bad settings, bad usage
    ├── AuthError                exit 2  a token refused (401), or missing where one is needed: stops the run
    │   ├── HubAuthError                 by the Hub (also a HubError: the Hub's answer)
    │   └── GitHubAuthError              by GitHub
    ├── UnavailableError         exit 3  unreachable, before anything was triggered
    │   ├── DatabaseUnavailable
    │   └── RemoteUnavailable            the Hub or GitHub: unreachable, or transient failures outlived every
    │       │                            retry; after a launch, the launch may or may not have happened
    │       ├── HubUnavailable
    │       └── GitHubUnavailable
    ├── HubError                 exit 1  a permanent Hub answer (403, 404, 400 ...): fails one label
    ├── MetadataError            exit 1  a contract document is not JSON, or misses / mistypes a field
    ├── LaunchError              exit 1  a prepare or retrain target could not be started
    │   └── GitHubError                  a permanent GitHub answer (403, 404, 422 ...)
    └── LockedError              exit 0  another run holds the lock: nothing to do

Retryable conditions (connection errors, timeouts, 429, 5xx gateways) never surface as such: the retry
policy in :mod:`orchestrator.remote.retry` absorbs them, and the client raises its ``RemoteUnavailable``
once it gives up.
"""

from __future__ import annotations

from .redact import redact

EXIT_OK = 0
EXIT_LABEL_FAILED = 1
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130  # SIGTERM or Ctrl-C


class OrchestratorError(Exception):
    """Base class. ``hint`` tells the user what to check; ``status`` is the HTTP status a remote answered
    with, for the errors that come from one."""

    exit_code = EXIT_LABEL_FAILED

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        # Redacted at birth: whatever a message was built from, no secret leaves through it.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint
        self.status = status

    def __str__(self) -> str:
        """The message, then what to do about it."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(OrchestratorError):
    exit_code = EXIT_CONFIG


class UnavailableError(OrchestratorError):
    exit_code = EXIT_UNAVAILABLE


class DatabaseUnavailable(UnavailableError):
    pass


class RemoteUnavailable(UnavailableError):
    """The Hub or GitHub cannot be reached. After a launch this means "maybe launched": the action's intent
    stays open, and the next run checks before it sends anything again."""


class HubUnavailable(RemoteUnavailable):
    pass


class GitHubUnavailable(RemoteUnavailable):
    pass


class AuthError(OrchestratorError):
    """A token was refused (401), or is missing where one is needed. Nothing else can work, so the run
    stops."""

    exit_code = EXIT_CONFIG


class HubError(OrchestratorError):
    """A permanent error answer from the Hub, with its HTTP status."""


class HubAuthError(AuthError, HubError):
    """The Hub rejected HF_TOKEN (or needs one): an :class:`AuthError` (exit 2), and an answer of the Hub."""


class GitHubAuthError(AuthError):
    """GitHub rejected its token (401), or none is set where one is needed (a workflow's dispatch)."""


class MetadataError(OrchestratorError):
    pass


class LaunchError(OrchestratorError):
    pass


class GitHubError(LaunchError):
    """A permanent answer from GitHub (403, 404, 422 ...): the workflow target cannot be used as configured."""


class LockedError(OrchestratorError):
    exit_code = EXIT_OK
