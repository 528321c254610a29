"""The Hub's access rules: who may see a repo, write to it, restart/pause a Space, run jobs, or change
webhooks.

``_visible`` and ``_writable`` return the Hub's refusal (``None``: allowed); ``_may_write`` says
whether a token's role, organisations and scopes allow a write, ``_may_run_jobs`` whether they allow
running or cancelling jobs (and managing scheduled jobs) in a namespace the token's user belongs to,
``_may_manage_webhooks`` whether they allow creating, changing or deleting the user's webhooks.
"""

from __future__ import annotations

from .repos import _Repo
from .server import _error, _Reply


def _visible(repo: _Repo | None, user: str | None) -> _Reply | None:
    """The Hub's answer when ``user`` may not see ``repo`` (None if they may)."""
    if repo is None or (repo.private and user is not None and user != repo.owner):
        return _error(404, "Repository not found", "RepoNotFound")
    if repo.private and user is None:
        return _error(401, "Repository not found", "RepoNotFound")
    return None


def _writable(repo: _Repo | None, user: str | None, action: str) -> _Reply | None:
    """The Hub's answer when ``user`` may not write to ``repo`` (None if they may)."""
    if (denied := _visible(repo, user)) is not None:
        return denied
    assert repo is not None
    if user is None:
        return _error(401, "You must be authenticated to perform this action")
    if user != repo.owner:
        return _error(403, f"You don't have the rights to {action} {repo.repo_type} repo {repo.repo_id}")
    return None


def _may_write(access: dict, user: str, owner: str, repo_type: str, repo_id: str) -> bool:
    """Whether a token (its user and access, as in ``HubStub.token_access``) may write to a repo."""
    in_namespace = owner == user or owner in access.get("orgs", [])
    role = access.get("role", "write")
    if role == "read" or not in_namespace:
        return False
    if role != "fineGrained":
        return True
    for scope in access.get("scoped", []):
        entity = scope.get("entity", {})
        matches = (entity.get("type") == repo_type and entity.get("name") == repo_id) or (
            entity.get("type") in ("user", "org") and entity.get("name") == owner
        )
        if matches and "repo.write" in scope.get("permissions", []):
            return True
    return False


def _may_run_jobs(access: dict, namespace: str) -> bool:
    """A read token may inspect jobs but not run or cancel them; a fine-grained one needs ``job.write``
    on the namespace."""
    role = access.get("role", "write")
    if role == "read":
        return False
    if role != "fineGrained":
        return True
    return any(
        scope.get("entity", {}).get("type") in ("user", "org")
        and scope.get("entity", {}).get("name") == namespace
        and "job.write" in scope.get("permissions", [])
        for scope in access.get("scoped", [])
    )


def _may_manage_webhooks(access: dict, user: str) -> bool:
    """A read token may list and read its user's webhooks but not change them; a fine-grained one needs
    ``user.webhooks.write`` (the stub's name for it) on its own user."""
    role = access.get("role", "write")
    if role != "fineGrained":
        return role != "read"
    return any(
        scope.get("entity", {}).get("type") == "user"
        and scope.get("entity", {}).get("name") == user
        and "user.webhooks.write" in scope.get("permissions", [])
        for scope in access.get("scoped", [])
    )
