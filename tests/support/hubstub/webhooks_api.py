"""Webhooks routes, as ``create_webhook``, ``list_webhooks``, ``get_webhook``, ``update_webhook``,
``enable_webhook``, ``disable_webhook`` and ``delete_webhook`` of the real client (huggingface_hub 2.4) call
them, and the test hooks ``webhooks`` (inspect) and ``deliver_webhook`` (an event reaching a webhook).

A webhook belongs to the token's user (``/api/settings/webhooks`` lists only theirs; another user's id is
``404``) and targets either a ``url`` or a source job (``jobSourceId``): the Hub then keeps a copy of that
job's spec, without its secrets, and the webhook's own ``secrets`` for the jobs it starts. Answers carry
the signing ``secret`` but only the names of the ``secrets``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from .access import _may_manage_webhooks
from .jobs import _Job, _job_spec, _new_job_id
from .server import _error, _json_object, _json_reply, _Reply

_Callbacks = list[tuple[Callable[[Any], None], float]]
WATCHED_TYPES = frozenset({"bucket", "dataset", "model", "org", "space", "user"})
DOMAINS = frozenset({"repo", "discussion"})


@dataclass
class _Webhook:
    id: str
    owner: str  # the user whose settings hold it
    watched: list[dict[str, str]]
    domains: list[str]
    secret: str | None = None
    url: str | None = None
    job_id: str | None = None  # the source job
    job: dict[str, Any] | None = None  # the source job's spec, as copied (its secrets left out)
    job_owner: tuple[str, str] = ("", "user")  # the source job's namespace and its type
    secrets: dict[str, str] = field(default_factory=dict)  # for the jobs it starts
    disabled: bool = False
    deliveries: list[str | None] = field(default_factory=list)  # the job each delivery started (None: a URL)

    def info(self) -> dict[str, Any]:
        """The Hub's webhook JSON (as the client parses ``WebhookInfo``): ``job`` as a ``JobSpec`` with
        the webhook's secrets by name only."""
        payload: dict[str, Any] = {
            "id": self.id,
            "watched": [dict(item) for item in self.watched],
            "domains": list(self.domains),
            "secret": self.secret,
            "disabled": self.disabled,
        }
        if self.url is not None:
            payload["url"] = self.url
        if self.job is not None:
            payload["job"] = _job_spec(self.job, self.secrets)
        return payload

    def record(self) -> dict[str, Any]:
        """What a test sees through ``HubStub.webhooks()``: secret and secrets values included."""
        return {
            **self.info(),
            "owner": self.owner,
            "url": self.url,
            "job_id": self.job_id,
            "job": json.loads(json.dumps(self.job)),
            "secrets": dict(self.secrets),
            "deliveries": list(self.deliveries),
        }


class _WebhooksApi:
    """HubStub's ``/api/settings/webhooks/...`` routes and webhook hooks."""

    _lock: Any  # threading.RLock
    _jobs: dict[str, _Job]
    _webhooks: dict[str, _Webhook]
    callback_errors: list[BaseException]
    _start_job: Callable[..., _Job]  # jobs_api._JobsApi
    _run_callbacks: Callable[[_Callbacks], None]  # routes._Routes

    # ------------------------------------------------------------------ hooks
    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook not deleted (oldest first), of every user; see ``_Webhook.record``."""
        with self._lock:
            return [webhook.record() for webhook in self._webhooks.values()]

    def deliver_webhook(self, webhook_id: str, payload: dict[str, Any]) -> str | None:
        """An event reaches a webhook (whatever it watches). A job webhook starts a copy of its source job
        whose environment gains ``WEBHOOK_PAYLOAD`` (``payload`` as JSON), ``WEBHOOK_REPO_ID`` and
        ``WEBHOOK_REPO_TYPE`` (``payload["repo"]["name"]``/``["type"]``) and ``WEBHOOK_SECRET``, with the
        webhook's ``secrets``: returns the job id (``on_job`` callbacks run). A URL webhook gets ``payload``
        POSTed with ``X-Webhook-Secret`` (connection errors go to ``callback_errors``): None. A disabled
        webhook gets nothing: None."""
        callbacks: _Callbacks = []
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
            if webhook is None:
                raise KeyError(f"no webhook {webhook_id!r}")
            if webhook.disabled:
                return None
            job = None if webhook.job is None else self._webhook_job(webhook, payload, callbacks)
            webhook.deliveries.append(None if job is None else job.id)
            url, secret = webhook.url, webhook.secret
        self._run_callbacks(callbacks)
        if job is not None:
            return job.id
        headers = {"Content-Type": "application/json", **({"X-Webhook-Secret": secret} if secret else {})}
        request = urllib.request.Request(str(url), json.dumps(payload).encode(), headers, method="POST")
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except urllib.error.HTTPError:
            pass  # the Hub does not retry a delivery the receiver refused
        except OSError as exc:
            with self._lock:
                self.callback_errors.append(exc)
        return None

    def _webhook_job(self, webhook: _Webhook, payload: dict[str, Any], callbacks: _Callbacks) -> _Job:
        spec = json.loads(json.dumps(webhook.job))
        repo = payload.get("repo") or {}
        spec["environment"] = {
            **(spec.get("environment") or {}),
            "WEBHOOK_PAYLOAD": json.dumps(payload),
            "WEBHOOK_REPO_ID": str(repo.get("name", "")),
            "WEBHOOK_REPO_TYPE": str(repo.get("type", "")),
            "WEBHOOK_SECRET": webhook.secret or "",
        }
        spec.pop("secrets", None)
        if webhook.secrets:
            spec["secrets"] = dict(webhook.secrets)
        namespace, namespace_type = webhook.job_owner
        initiator = {"type": "webhook", "id": webhook.id}
        return self._start_job(namespace, namespace_type, webhook.owner, spec, callbacks, initiator)

    # ------------------------------------------------------------------ routes
    def _webhooks_api(self, method: str, rest: list[str], user: str | None, access: dict, body: bytes) -> _Reply:
        """``/api/settings/webhooks[/{id}[/enable|/disable]]``: a token of the webhook's user; changes need a
        write token (``_may_manage_webhooks``)."""
        if len(rest) > 2 or (rest and not rest[0]):
            return _error(404, "Not Found")
        if user is None:
            return _error(401, "You must be authenticated to manage webhooks")
        if method != "GET" and not _may_manage_webhooks(access, user):
            return _error(403, "This token can't manage webhooks")
        if not rest:
            if method == "GET":
                return _json_reply(200, [w.info() for w in self._webhooks.values() if w.owner == user])
            if method == "POST":
                return self._save_webhook(None, user, access, body)
            return _error(405, "Method Not Allowed")
        webhook = self._webhooks.get(rest[0])
        if webhook is None or webhook.owner != user:
            return _error(404, f"Webhook {rest[0]} not found")
        action = rest[1] if len(rest) == 2 else None
        if (method, action) == ("GET", None):
            return _json_reply(200, {"webhook": webhook.info()})
        if (method, action) == ("POST", None):
            return self._save_webhook(webhook, user, access, body)
        if (method, action) == ("DELETE", None):
            del self._webhooks[webhook.id]
            return _json_reply(200, {})
        if method == "POST" and action in ("enable", "disable"):
            webhook.disabled = action == "disable"
            return _json_reply(200, {"webhook": webhook.info()})
        return _error(404, "Not Found")

    def _save_webhook(self, webhook: _Webhook | None, user: str, access: dict, body: bytes) -> _Reply:
        """Create (``webhook`` None) or update one. On update every field sent replaces the stored one,
        except an empty ``watched`` (the client sends ``[]`` when not given: kept) and ``secrets``, merged
        (a key with ``""`` removes that secret); ``url`` and ``jobSourceId`` switch the target."""
        request = _json_object(body)
        if request is None:
            return _error(400, "Invalid JSON body")
        if (problem := _bad_webhook(request, webhook is None)) is not None:
            return _error(400, problem)
        source: _Job | None = None
        if "jobSourceId" in request:
            source = self._jobs.get(request["jobSourceId"])
            if source is None or (source.namespace != user and source.namespace not in access.get("orgs", [])):
                return _error(404, f"Job {request['jobSourceId']} not found")
        if "secrets" in request and source is None and (webhook is None or webhook.job is None):
            return _error(400, "secrets can only be set on a webhook that triggers a job")
        if webhook is None:
            webhook = _Webhook(_new_job_id(time.time()), user, [], ["repo", "discussion"])
            self._webhooks[webhook.id] = webhook
        if request.get("watched"):
            webhook.watched = [{"type": item["type"], "name": item["name"]} for item in request["watched"]]
        webhook.domains = list(request.get("domains", webhook.domains))
        webhook.secret = request.get("secret", webhook.secret)
        if "url" in request:
            webhook.url, webhook.job_id, webhook.job, webhook.secrets = request["url"], None, None, {}
        if source is not None:
            spec = {k: v for k, v in json.loads(json.dumps(source.spec)).items() if k != "secrets"}
            webhook.url, webhook.job_id, webhook.job = None, source.id, spec
            webhook.job_owner = (source.namespace, source.namespace_type)
        for name, value in (request.get("secrets") or {}).items():
            if value == "":
                webhook.secrets.pop(name, None)
            else:
                webhook.secrets[name] = value
        return _json_reply(200, {"webhook": webhook.info()})


def _bad_webhook(request: Any, creating: bool) -> str | None:
    """Why the Hub would refuse this create/update body (None if it is acceptable)."""
    if not isinstance(request, dict):
        return "Invalid JSON body"
    if "url" in request and "jobSourceId" in request:
        return "Set url or jobSourceId, not both"
    if creating and "url" not in request and "jobSourceId" not in request:
        return "One of url or jobSourceId is required"
    watched = request.get("watched", [])
    if not isinstance(watched, list) or (creating and not watched):
        return "watched must be a non-empty list"
    for item in watched:
        if not isinstance(item, dict) or item.get("type") not in WATCHED_TYPES or not isinstance(item.get("name"), str):
            return f"watched items need a type in {sorted(WATCHED_TYPES)} and a name"
    domains = request.get("domains", [])
    if not isinstance(domains, list) or not set(domains) <= DOMAINS:
        return f"domains must be a list of {sorted(DOMAINS)}"
    for key in ("url", "jobSourceId", "secret"):
        if key in request and not isinstance(request[key], str):
            return f"{key} must be a string"
    secrets = request.get("secrets", {})
    if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in [*secrets, *secrets.values()]):
        return "secrets must be an object of strings"
    return None
