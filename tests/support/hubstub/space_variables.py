"""Space variables, as ``get_space_variables``, ``add_space_variable`` and ``delete_space_variable`` of
the real client call them: ``GET``/``POST``/``DELETE /api/spaces/{owner}/{name}/variables``.

Every answer is all the Space's variables, ``{key: {"value", "description", "updatedAt"}}``. Changing
the configuration restarts the Space on the Hub (huggingface_hub's "Manage your Space" guide: "Any
change in your Space configuration (secrets or hardware) will trigger a restart of your app"), so here a
change is a restart too: the same ``restarts`` counter and ``on_restart`` callbacks as ``restart_space``.
What counts as a change is ``HubStub.variable_restarts``: ``"on_change"`` (default: a new key, a new
value, or deleting an existing key; setting the same value again or deleting a missing key does not),
``"always"`` (every successful POST/DELETE) or ``"never"``. Whether the Hub restarts on an unchanged
value is not documented, hence the switch. Only a running (or starting) Space restarts on a change: a
``PAUSED`` or ``STOPPED`` one is not woken (pausing is its owner's decision, and the seed's retrain Spaces
pause themselves when they finish, so this is the common case), and we assume a Space in an error stage
is not either (undocumented).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable

from .access import _may_write, _visible
from .repos import _iso, _Repo, _RepoStore, _runtime
from .server import _error, _json_reply, _Reply

SPACE_VARIABLES = re.compile(r"^/api/spaces/([^/]+)/([^/]+)/variables$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESTART_POLICIES = ("on_change", "always", "never")
AWAKE = ("RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING", "BUILDING", "APP_STARTING")


def _listing(repo: _Repo) -> dict[str, dict[str, Any]]:
    return {key: dict(entry) for key, entry in sorted(repo.variables.items())}


class _SpaceVariablesApi:
    """HubStub's ``/api/spaces/{repo_id}/variables`` route and ``space_variables`` inspection."""

    _lock: Any  # threading.RLock
    _store: _RepoStore
    variable_restarts: str
    _restart: Callable[[_Repo, list], dict[str, Any]]  # routes._Routes: restart a Space as restart_space does

    def space_variables(self, repo_id: str) -> dict[str, str]:
        """A Space's variables, key -> value ({} if the Space does not exist)."""
        with self._lock:
            repo = self._store.get("space", repo_id)
            return {k: v["value"] for k, v in repo.variables.items()} if repo else {}

    def _space_variables(
        self,
        method: str,
        repo_id: str,
        user: str | None,
        access: dict,
        body: bytes,
        callbacks: list[tuple[Callable[[Any], None], float]],
    ) -> _Reply:
        repo = self._store.get("space", repo_id)
        if (denied := _visible(repo, user)) is not None:
            return denied
        assert repo is not None
        if method == "GET":
            return _json_reply(200, _listing(repo))
        if method not in ("POST", "DELETE"):
            return _error(405, "Method Not Allowed")
        if user is None:
            return _error(401, "You must be authenticated to perform this action")
        if not _may_write(access, user, repo.owner, "space", repo_id):
            return _error(403, "You don't have the rights to change the variables of this Space")
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON body")
        key = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(key, str) or not _KEY.match(key):
            return _error(400, f"Invalid variable key: {key!r}")
        if method == "DELETE":
            changed = repo.variables.pop(key, None) is not None
        else:
            value, description = payload.get("value"), payload.get("description")
            if not isinstance(value, str) or (description is not None and not isinstance(description, str)):
                return _error(400, "value (and description) must be strings")
            old = repo.variables.get(key)
            changed = old is None or old["value"] != value
            entry: dict[str, Any] = {"value": value, "updatedAt": _iso(time.time())}
            if description is not None or (old and old.get("description") is not None):
                entry["description"] = description if description is not None else old["description"]  # type: ignore[index]
            repo.variables[key] = entry
        policy = self.variable_restarts
        if policy not in RESTART_POLICIES:
            return _error(500, f"HubStub.variable_restarts must be one of {RESTART_POLICIES}, not {policy!r}")
        awake = _runtime(repo)["stage"] in AWAKE  # a paused, stopped or broken Space stays so: a restart wakes it
        if awake and (policy == "always" or (policy == "on_change" and changed)):
            self._restart(repo, callbacks)
        return _json_reply(200, _listing(repo))
