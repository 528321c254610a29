"""The repo API: create a repo, read it (info, refs, tree) and publish to it (preupload, commit, tags),
as ``create_repo``, ``repo_info``, ``list_repo_refs``, ``list_repo_tree``, ``snapshot_download``,
``upload_folder``/``create_commit`` and ``create_tag``/``delete_tag`` of the real client call them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from .access import _visible, _writable
from .repos import _TYPE_PREFIX, _git_blob_sha, _iso, _Repo, _repo_path, _RepoStore, _rev_sha, _runtime
from .server import _error, _json_object, _json_reply, _Reply

_REPO_ACTIONS = frozenset({"preupload", "commit", "tag", "revision", "refs", "tree"})
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class _RepoApi:
    """HubStub's handlers of ``/api/repos/create`` and ``/api/{type}s/{repo_id}[/{action}/...]``."""

    _store: _RepoStore
    url: str

    def _url_of(self, repo: _Repo) -> str:
        return f"{self.url}/{_TYPE_PREFIX[repo.repo_type]}{repo.repo_id}"

    def _create_repo(self, body: bytes, user: str | None) -> _Reply:
        if user is None:
            return _error(401, "You must be authenticated to create a repo")
        payload = _json_object(body, empty={})
        if payload is None:
            return _error(400, "Invalid JSON body")
        name, namespace = payload.get("name"), payload.get("organization") or user
        repo_type = payload.get("type") or "model"
        if not isinstance(name, str) or not _REPO_NAME.match(name) or not isinstance(namespace, str):
            return _error(400, f"Invalid repo name: {name!r}")
        if repo_type not in _TYPE_PREFIX:
            return _error(400, f"Invalid repo type: {repo_type!r}")
        if namespace != user:
            return _error(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"')
        repo_id = f"{namespace}/{name}"
        existing = self._store.get(repo_type, repo_id)
        if existing is not None:
            message = f"You already created this {repo_type} repo"
            conflict = _error(409, message)
            conflict.body = json.dumps({"error": message, "url": self._url_of(existing)}).encode()
            return conflict
        private = payload.get("private") is True or payload.get("visibility") == "private"
        repo = self._store.new_repo(repo_type, repo_id, private)
        return _json_reply(200, {"url": self._url_of(repo), "name": repo_id, "id": repo_id})

    def _repo_api(
        self, method: str, repo_type: str, rest: list[str], user: str | None, body: bytes, query: dict[str, list[str]]
    ) -> _Reply | None:
        """``/api/{type}s/{repo_id}[/{action}/...]``; None when the path is no such route."""
        for n in (2, 1):  # "owner/name" or a legacy namespace-less id
            if len(rest) == n or (len(rest) > n and rest[n] in _REPO_ACTIONS):
                repo_id, action, args = "/".join(rest[:n]), rest[n] if len(rest) > n else None, rest[n + 1 :]
                break
        else:
            return None
        repo = self._store.get(repo_type, repo_id)
        key = (method, action, len(args))
        if key in (("GET", None, 0), ("HEAD", None, 0), ("GET", "revision", 1)):
            return self._repo_info(repo, args[0] if args else "main", user)
        if key == ("GET", "refs", 0):
            return self._refs(repo, user)
        if method == "GET" and action == "tree" and args:
            recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
            return self._tree(repo, args[0], "/".join(args[1:]), recursive, user)
        if key == ("POST", "preupload", 1):
            return self._preupload(repo, args[0], body, user)
        if key == ("POST", "commit", 1):
            return self._apply_commit(repo, args[0], body, user, query)
        if key == ("POST", "tag", 1):
            return self._create_tag(repo, args[0], body, user)
        if key == ("DELETE", "tag", 1):
            return self._delete_tag(repo, args[0], user)
        return None

    def _head_or_error(self, repo: _Repo, revision: str) -> str | _Reply:
        sha = _rev_sha(repo, revision)
        return sha if sha is not None else _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _readable_head(self, repo: _Repo | None, revision: str, user: str | None) -> str | _Reply:
        """The commit ``revision`` names, if ``user`` may read ``repo``; else the error reply."""
        if (denied := _visible(repo, user)) is not None:
            return denied
        assert repo is not None
        return self._head_or_error(repo, revision)

    def _repo_info(self, repo: _Repo | None, revision: str, user: str | None) -> _Reply:
        sha = self._readable_head(repo, revision, user)
        if isinstance(sha, _Reply):
            return sha
        assert repo is not None
        files = repo.snapshots[sha]
        first_commit = min(t for _, _, t in repo.log.values())
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.owner,
            "sha": sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "createdAt": _iso(first_commit),
            "lastModified": _iso(repo.log[sha][2]),
            "siblings": [
                {"rfilename": path, "size": len(data), "blobId": _git_blob_sha(data)}
                for path, data in sorted(files.items())
            ],
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        if repo.repo_type == "space":
            info.update(sdk="docker", runtime=_runtime(repo))
        return _json_reply(200, info)

    def _refs(self, repo: _Repo | None, user: str | None) -> _Reply:
        if (denied := _visible(repo, user)) is not None:
            return denied
        assert repo is not None

        def refs(names: dict[str, str], kind: str) -> list[dict[str, str]]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": sha} for n, sha in sorted(names.items())]

        payload = {"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags")}
        return _json_reply(200, {**payload, "converts": [], "pullRequests": []})

    def _tree(self, repo: _Repo | None, revision: str, folder: str, recursive: bool, user: str | None) -> _Reply:
        sha = self._readable_head(repo, revision, user)
        if isinstance(sha, _Reply):
            return sha
        assert repo is not None
        files = repo.snapshots[sha]
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in files):
            return _error(404, f"Entry not found: {folder}", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                if not recursive and depth > 1:
                    break
                folder_path = prefix + "/".join(parts[:depth])
                oid = hashlib.sha1(f"tree:{sha}:{folder_path}".encode()).hexdigest()
                entries.setdefault(folder_path, {"type": "directory", "oid": oid, "size": 0, "path": folder_path})
            if recursive or len(parts) == 1:
                entries[path] = {"type": "file", "oid": _git_blob_sha(data), "size": len(data), "path": path}
        return _json_reply(200, [entries[p] for p in sorted(entries)])

    def _preupload(self, repo: _Repo | None, revision: str, body: bytes, user: str | None) -> _Reply:
        if (denied := _writable(repo, user, "upload to")) is not None:
            return denied
        assert repo is not None
        sha = self._head_or_error(repo, revision)
        if isinstance(sha, _Reply):
            return sha
        try:
            wanted = json.loads(body)["files"]
            paths = [f["path"] for f in wanted]
        except (ValueError, KeyError, TypeError):
            return _error(400, "Invalid preupload payload: expected {\"files\": [{\"path\", \"sample\", \"size\"}]}")
        current = repo.snapshots[sha]
        answers = []
        for path in paths:
            # "regular" for every file, whatever its size or type: the client then sends the bytes
            # base64-encoded inside the commit and never talks to LFS or Xet storage.
            answer: dict[str, Any] = {"path": path, "uploadMode": "regular", "shouldIgnore": False}
            if isinstance(path, str) and path in current:
                answer["oid"] = _git_blob_sha(current[path])  # the client skips unchanged files
            answers.append(answer)
        return _json_reply(200, {"files": answers, "commitOid": sha})

    def _apply_commit(
        self, repo: _Repo | None, revision: str, body: bytes, user: str | None, query: dict[str, list[str]]
    ) -> _Reply:
        if (denied := _writable(repo, user, "commit to")) is not None:
            return denied
        assert repo is not None
        if (query.get("create_pr") or ["0"])[0] not in ("0", "false", ""):
            return _error(501, "HubStub does not implement pull requests (create_pr)")
        if revision not in repo.branches:
            if _rev_sha(repo, revision) is not None:
                return _error(400, f"Invalid rev id: {revision} is not a branch; commits go to branches only")
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = repo.branches[revision]
        files = dict(repo.snapshots[head])
        header = _apply_operations(body, files)
        if isinstance(header, _Reply):
            return header
        parent = header.get("parentCommit")
        if parent and not (isinstance(parent, str) and len(parent) >= 7 and head.startswith(parent)):
            return _error(412, "A commit has happened since. Please refresh and try again.")
        sha = self._store.commit(repo, files, title=str(header["summary"]), parent=head)
        repo.branches[revision] = sha
        commit_url = f"{self._url_of(repo)}/commit/{sha}"
        return _json_reply(
            200, {"success": True, "commitOid": sha, "commitUrl": commit_url, "hookOutput": "", "pullRequestUrl": None}
        )

    def _create_tag(self, repo: _Repo | None, revision: str, body: bytes, user: str | None) -> _Reply:
        if (denied := _writable(repo, user, "tag")) is not None:
            return denied
        assert repo is not None
        try:
            tag = json.loads(body)["tag"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 'Invalid payload: expected {"tag": ...}')
        if not isinstance(tag, str) or _repo_path(tag) is None or tag.startswith("refs/") or " " in tag:
            return _error(400, f"Invalid tag name: {tag!r}")
        sha = self._head_or_error(repo, revision)
        if isinstance(sha, _Reply):
            return sha
        if tag in repo.tags:
            return _error(409, f"Tag reference refs/tags/{tag} already exists")
        repo.tags[tag] = sha
        return _json_reply(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": sha})

    def _delete_tag(self, repo: _Repo | None, tag: str, user: str | None) -> _Reply:
        if (denied := _writable(repo, user, "delete a tag of")) is not None:
            return denied
        assert repo is not None
        if repo.tags.pop(tag, None) is None:
            return _error(404, f"Invalid rev id: {tag}", "RevisionNotFound")
        return _json_reply(200, {})


def _apply_operations(body: bytes, files: dict[str, bytes]) -> dict[str, Any] | _Reply:
    """Apply a commit's NDJSON operations to ``files`` in place; the commit header, or the Hub's error."""
    header: dict[str, Any] | None = None
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError):
            return _error(400, f"Invalid NDJSON commit payload at line {number}")
        if key == "header":
            if header is not None or not isinstance(value, dict) or not str(value.get("summary") or "").strip():
                return _error(400, "The commit needs exactly one header with a non-empty summary")
            header = value
            continue
        path = _repo_path(value.get("path") if isinstance(value, dict) else None)
        if path is None:
            return _error(400, f"Invalid path at line {number}")
        if key == "file":
            content, encoding = value.get("content"), str(value.get("encoding") or "utf-8").lower()
            if not isinstance(content, str):
                return _error(400, f"Missing content for {path}")
            try:
                files[path] = base64.b64decode(content, validate=True) if encoding == "base64" else content.encode()
            except (binascii.Error, ValueError):
                return _error(400, f"Invalid base64 content for {path}")
        elif key == "deletedFile":
            if files.pop(path, None) is None:
                return _error(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            inside = [p for p in files if p.startswith(path + "/")]
            if not inside:
                return _error(404, f"A file with this name doesn't exist: {path}/", "EntryNotFound")
            for p in inside:
                del files[p]
        elif key == "lfsFile":
            return _error(400, f"HubStub stores no LFS objects ({path}); preupload answers 'regular' for all")
        else:
            return _error(400, f"Unknown commit operation {key!r} at line {number}")
    if header is None:
        return _error(400, "The commit needs exactly one header with a non-empty summary")
    return header
