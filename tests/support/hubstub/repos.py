"""The stub's in-memory repositories: commits, files, branches, tags and Space state.

Every repo is a set of immutable snapshots (commit sha -> files) plus the branches and tags
that point at them. Nothing here locks: the stub's lock guards the store.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

_TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_HEX = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass
class _Repo:
    repo_type: str  # "model" | "dataset" | "space"
    repo_id: str
    owner: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # revision -> commit sha
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> files
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit sha
    log: dict[str, tuple[str | None, str, float]] = field(default_factory=dict)  # sha -> (parent, title, time)
    stage: str = "RUNNING"
    building_until: float | None = None
    restarts: int = 0
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)  # Space variables: key -> {"value", ...}


class _RepoStore:
    """All repos of one stub, keyed by ``(repo_type, repo_id)``."""

    def __init__(self) -> None:
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._commit_counter = 0

    def get(self, repo_type: str, repo_id: str) -> _Repo | None:
        return self._repos.get((repo_type, repo_id))

    def new_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo:
        """Create (or replace) a repo with one initial empty commit on ``main``."""
        repo = _Repo(repo_type, repo_id, repo_id.split("/")[0] if "/" in repo_id else "", private)
        repo.branches["main"] = self.commit(repo, {}, title="initial commit")
        self._repos[(repo_type, repo_id)] = repo
        return repo

    def commit(self, repo: _Repo, files: dict[str, bytes], *, title: str = "", parent: str | None = None) -> str:
        """Store ``files`` as a new snapshot of ``repo``; its sha (no branch is moved)."""
        self._commit_counter += 1
        seed = f"{repo.repo_type}/{repo.repo_id}/{self._commit_counter}/{time.time_ns()}".encode()
        sha = hashlib.sha1(seed).hexdigest()
        repo.snapshots[sha] = files
        repo.log[sha] = (parent, title, time.time())
        return sha

    def space(self, repo_id: str) -> _Repo:
        repo = self._repos.get(("space", repo_id))
        if repo is None:
            raise KeyError(f"no Space {repo_id!r}; call add_space first")
        return repo


def _rev_sha(repo: _Repo, revision: str) -> str | None:
    """Resolve a branch, tag, ``refs/heads|tags/..`` or (prefix of a) commit sha."""
    if revision in repo.branches:
        return repo.branches[revision]
    if revision in repo.tags:
        return repo.tags[revision]
    if revision.startswith("refs/heads/"):
        return repo.branches.get(revision.removeprefix("refs/heads/"))
    if revision.startswith("refs/tags/"):
        return repo.tags.get(revision.removeprefix("refs/tags/"))
    if revision in repo.snapshots:
        return revision
    if _HEX.match(revision):
        found = [sha for sha in repo.snapshots if sha.startswith(revision)]
        return found[0] if len(found) == 1 else None
    return None


def _runtime(repo: _Repo) -> dict[str, Any]:
    """A Space's runtime JSON; a finished build turns ``BUILDING`` into ``RUNNING`` on the way."""
    if repo.stage == "BUILDING" and repo.building_until is not None and time.time() >= repo.building_until:
        repo.stage, repo.building_until = "RUNNING", None
    current = None if repo.stage in ("PAUSED", "STOPPED") else "cpu-basic"
    return {
        "stage": repo.stage,
        "hardware": {"current": current, "requested": "cpu-basic"},
        "storage": None,
        "gcTimeout": 172800,
        "replicas": {"current": 1, "requested": 1},
        "devMode": False,
        "domains": [],
    }


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest() + '"'


def _git_blob_sha(content: bytes) -> str:
    """The git object id of a blob, as the Hub reports it for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _iso(timestamp: float) -> str:
    """The Hub's date format (``parse_datetime`` accepts only this one)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _repo_path(path: Any) -> str | None:
    """A normalised path inside a repo, or None if it is not one the Hub would accept."""
    if not isinstance(path, str):
        return None
    path = path.strip("/")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        return None
    return path
