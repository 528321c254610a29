"""The orchestrator's error tree and its exit codes.

Every failure the orchestrator reports is one of these, raised with a message that names what is wrong
and a ``hint`` that says what to check. The CLI turns the class into the process exit code:

    OrchestratorError
    ├── ConfigError              exit 2  bad settings, bad usage, a token the Hub rejects
    ├── UnavailableError         exit 3  database or Hub unreachable before anything was triggered
    │   ├── DatabaseUnavailable
    │   └── HubUnavailable       (also raised for transient Hub failures that outlived every retry)
    ├── HubError                 a permanent Hub answer (403, 404, 400 ...): fails one label, exit 1
    │   └── AuthError            401: the token itself is wrong; stops the whole run (exit 2)
    ├── MetadataError            dataset_metadata.json is not JSON or misses / mistypes a field
    ├── LaunchError              a prepare or retrain target could not be started
    └── LockedError              another run holds the lock (exit 0: nothing to do)

Retryable conditions (connection errors, timeouts, 429, 5xx gateways) never surface as such: the retry
policy in :mod:`orchestrator.remote.retry` absorbs them and raises :class:`HubUnavailable` once it gives up.
"""

from __future__ import annotations

from .redact import redact

EXIT_OK = 0
EXIT_LABEL_FAILED = 1
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3


class OrchestratorError(Exception):
    """Base class. ``hint`` tells the user what to check."""

    exit_code = EXIT_LABEL_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Redacted at birth: whatever a message was built from, no secret leaves through it.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint

    def __str__(self) -> str:
        """The message, then what to do about it."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(OrchestratorError):
    exit_code = EXIT_CONFIG


class UnavailableError(OrchestratorError):
    exit_code = EXIT_UNAVAILABLE


class DatabaseUnavailable(UnavailableError):
    pass


class HubUnavailable(UnavailableError):
    pass


class HubError(OrchestratorError):
    """A permanent error answer from the Hub, with its HTTP status."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class AuthError(HubError):
    """The Hub rejected the token itself (401). Nothing else can work, so the run stops."""

    exit_code = EXIT_CONFIG


class MetadataError(OrchestratorError):
    pass


class LaunchError(OrchestratorError):
    pass


class LockedError(OrchestratorError):
    exit_code = EXIT_OK
