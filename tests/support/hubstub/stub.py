"""``HubStub`` itself: its state, and the methods tests use to set up and inspect repos.

The HTTP server and lifecycle come from ``server._Serving``, the request handling from
``routes._Routes`` (with the hooks of ``routes._Faults``, the repo API of ``repo_api._RepoApi``, the
jobs and their hooks of ``jobs_api._JobsApi``, the scheduled jobs of ``schedules_api._SchedulesApi``, the
webhooks of ``webhooks_api._WebhooksApi`` and the Space variables of ``space_variables._SpaceVariablesApi``),
and the repositories live in a ``repos._RepoStore``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

from .jobs import JobCallback, _Job
from .repos import _iso, _RepoStore, _rev_sha
from .routes import _Callback, _Routes, _Rule
from .schedules import _Schedule
from .server import Recorded, _Server, _Serving
from .webhooks_api import _Webhook


class HubStub(_Serving, _Routes):
    """A fake Hugging Face Hub on 127.0.0.1; see the package docstring."""

    build_seconds: float = 0.0
    job_scheduling_seconds: float = 0.0  # a new job is SCHEDULING this long, then RUNNING
    job_runs_for: float | None = None  # None: a job runs until a hook ends it; else COMPLETED after this long
    job_logs_linger: float | None = None  # a running job's log stream: None = open until it ends, 0 = replay only
    variable_restarts: str = "on_change"  # "on_change" | "always" | "never": see space_variables

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens: dict[str, str] = dict(tokens or {})
        # What each token may do, as whoami-v2 reports it: {"role": "read" | "write" | "fineGrained",
        # "orgs": [...], "scoped": [{"entity": {"type": ..., "name": ...}, "permissions": [...]}]}.
        # A token not listed here is a "write" token of its user.
        self.token_access: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.callback_errors: list[BaseException] = []  # exceptions raised by on_restart callbacks
        self._lock = threading.RLock()
        self._store = _RepoStore()
        self._faults: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._redirects: list[_Rule] = []
        self._on_restart: dict[str, list[tuple[_Callback, float]]] = {}
        self._jobs: dict[str, _Job] = {}
        self._on_job: list[tuple[JobCallback, float]] = []
        self._schedules: dict[str, _Schedule] = {}
        self._webhooks: dict[str, _Webhook] = {}
        self._timers: list[threading.Timer] = []
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None

    # ------------------------------------------------------------------ repos
    def add_space(
        self,
        repo_id: str,
        *,
        owner: str | None = None,
        stage: str = "RUNNING",
        private: bool = False,
        variables: dict[str, str] | None = None,
    ) -> None:
        """Create (or replace) a Space, with ``variables`` already set (no restart); only a token of
        ``owner`` may restart/pause it or change its variables."""
        with self._lock:
            repo = self._store.new_repo("space", repo_id, private)
            repo.owner = owner if owner is not None else repo.owner
            repo.stage = stage
            now = _iso(time.time())
            repo.variables = {k: {"value": str(v), "updatedAt": now} for k, v in (variables or {}).items()}

    def add_dataset(self, repo_id: str, *, private: bool = False) -> None:
        """Create (or replace) an empty dataset repo (one initial commit on ``main``)."""
        with self._lock:
            self._store.new_repo("dataset", repo_id, private)

    def put_file(
        self, repo_id: str, path: str, content: bytes | str, *, repo_type: str = "dataset", revision: str = "main"
    ) -> None:
        """Commit one file to ``revision`` (creating repo/revision if needed); each call is a new commit."""
        data = content.encode() if isinstance(content, str) else bytes(content)
        with self._lock:
            repo = self._store.get(repo_type, repo_id) or self._store.new_repo(repo_type, repo_id, False)
            parent = repo.branches.get(revision) or repo.branches["main"]
            files = {**repo.snapshots[parent], path.lstrip("/"): data}
            repo.branches[revision] = self._store.commit(repo, files)

    def put_metadata(self, repo_id: str, *, version_tag: str, num_samples: int, **extra: Any) -> dict[str, Any]:
        """Write ``dataset_metadata.json`` at the dataset root; ``extra`` keys override/add. Returns it."""
        train, eval_ = int(num_samples * 0.8), int(num_samples * 0.1)
        metadata: dict[str, Any] = {
            "dataset_name": repo_id,
            "version_tag": version_tag,
            "num_samples": num_samples,
            "splits": {"train": train, "eval": eval_, "test": num_samples - train - eval_},
            "created_at": datetime.now(timezone.utc).isoformat(),
            **extra,
        }
        self.put_file(repo_id, "dataset_metadata.json", json.dumps(metadata, indent=2))
        return metadata

    def metadata_url(self, repo_id: str, path: str = "dataset_metadata.json", revision: str = "main") -> str:
        return f"{self.url}/datasets/{repo_id}/resolve/{revision}/{path}"

    def set_stage(self, repo_id: str, stage: str) -> None:
        with self._lock:
            repo = self._store.space(repo_id)
            repo.stage, repo.building_until = stage, None

    # ------------------------------------------------------------------ inspection
    def restarts(self, repo_id: str) -> int:
        with self._lock:
            repo = self._store.get("space", repo_id)
            return repo.restarts if repo else 0

    def posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def auth_headers_seen(self) -> list[str]:
        with self._lock:
            return [r.headers["authorization"] for r in self.requests if "authorization" in r.headers]

    def file(self, repo_id: str, path: str, *, repo_type: str = "dataset", revision: str = "main") -> bytes | None:
        """The bytes of ``path`` at ``revision`` (branch, tag or sha); None if repo/revision/file is missing."""
        files = self.files(repo_id, repo_type=repo_type, revision=revision)
        return None if files is None else files.get(path.strip("/"))

    def files(self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes] | None:
        """All files at ``revision`` (path -> bytes); None if the repo or revision does not exist."""
        with self._lock:
            repo = self._store.get(repo_type, repo_id)
            sha = _rev_sha(repo, revision) if repo else None
            return dict(repo.snapshots[sha]) if repo and sha else None

    def tags(self, repo_id: str, repo_type: str = "dataset") -> dict[str, str]:
        """Tag -> commit sha ({} if the repo does not exist)."""
        with self._lock:
            repo = self._store.get(repo_type, repo_id)
            return dict(repo.tags) if repo else {}

    def commits(self, repo_id: str, repo_type: str = "dataset") -> int:
        """Number of commits in the repo, counting the initial empty one of its creation (0: no repo)."""
        with self._lock:
            repo = self._store.get(repo_type, repo_id)
            return len(repo.snapshots) if repo else 0

    def head(self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main") -> str | None:
        """The commit sha ``revision`` points at (None if the repo or revision does not exist)."""
        with self._lock:
            repo = self._store.get(repo_type, repo_id)
            return _rev_sha(repo, revision) if repo else None
