"""A local, in-process stand-in for the Hugging Face Hub HTTP API: ``HubStub`` (and ``Recorded``).

``HubStub`` runs a real HTTP/1.1 server on ``127.0.0.1`` (random port) so that the
*real* ``huggingface_hub`` client can be pointed at it with
``HfApi(endpoint=stub.url)`` or ``HF_ENDPOINT``. It emulates the small part of the
Hub the project talks to, with the status codes and headers the client parses:

* ``POST /api/spaces/{owner}/{name}/restart[?factory=true]`` and ``.../pause`` and
  ``GET /api/spaces/{owner}/{name}/runtime`` -> Space runtime JSON
  (as parsed by ``huggingface_hub.SpaceRuntime``). After a restart the Space is
  ``BUILDING`` for ``build_seconds`` and then ``RUNNING`` (derived lazily from
  timestamps, no background thread).
* ``GET``/``HEAD /{datasets/|spaces/|}{repo_id}/resolve/{revision}/{path}`` -> file
  bytes with ``ETag`` (quoted sha256 of the content), ``X-Repo-Commit`` and
  ``Content-Length``; ``If-None-Match`` on the current ETag -> ``304``.
* ``GET /api/whoami-v2``.
* Publishing with the real client (``create_repo``, ``upload_folder``/``upload_file``/
  ``create_commit``, ``create_tag``): ``POST /api/repos/create``; ``POST
  /api/{type}s/{repo_id}/preupload/{revision}``, which answers ``"uploadMode": "regular"``
  for every file so the client inlines the bytes (base64) in the commit instead of
  uploading them through LFS or Xet; ``POST /api/{type}s/{repo_id}/commit/{revision}``
  (NDJSON: ``header``, ``file``, ``deletedFile``, ``deletedFolder``; ``lfsFile`` is refused);
  ``POST``/``DELETE /api/{type}s/{repo_id}/tag/{revision|tag}``; ``POST /api/validate-yaml``.
  ``{type}s`` is ``models``, ``datasets`` or ``spaces``; preupload reports the git blob
  ``oid`` of files already on the revision, so the client skips unchanged files.
* Reading (``repo_info``, ``list_repo_refs``, ``list_repo_tree``, ``snapshot_download``):
  ``GET /api/{type}s/{repo_id}[/revision/{revision}]``, ``.../refs``,
  ``.../tree/{revision}[/{path}]``. Every ``revision`` (API and resolve) may be a branch, a
  tag, ``refs/heads/..``/``refs/tags/..`` or a (7+ char prefix of a) commit sha. Resolve never
  sends Xet headers (``X-Xet-Hash``), so downloads are plain HTTP; ``Range`` is honoured.
* HF Jobs (``run_job``, ``inspect_job``, ``list_jobs``, ``fetch_job_logs``, ``cancel_job``,
  ``wait_for_job``, ``list_jobs_hardware``): ``POST /api/jobs/{namespace}`` (the client's job spec:
  ``dockerImage`` or ``spaceId``, ``command``, ``arguments``, ``environment``, ``flavor``, optional
  ``secrets``, ``timeoutSeconds``, ``labels``, ``attempts``...; a ``spaceId`` must name a Space the user
  can see) -> job JSON as ``huggingface_hub.JobInfo`` parses it, stage ``SCHEDULING``;
  ``GET /api/jobs/{namespace}/{id}``; ``GET /api/jobs/{namespace}[?stage=S&label=k=v...]`` (filters
  applied, oldest first, no pagination); ``POST .../{id}/cancel`` (``CANCELED``; a finished job stays as
  it ended); ``GET .../{id}/logs[?tail=N]`` -> SSE ``data: {"data", "timestamp"}`` events, first the
  Hub's ``===== Job started at ... =====`` line (the client drops it). A finished job's stream ends
  after the replay, so the client's iterator ends; a running job's stays open (chunked) and streams new
  lines until the job ends, as on the Hub (``job_logs_linger`` caps that, ``0`` = replay only).
  Secret values are never returned (``"secrets": {name: null}``). Stages: ``SCHEDULING``, ``RUNNING``,
  ``COMPLETED``, ``CANCELED``, ``ERROR``, ``DELETED``.
* Scheduled jobs (``create_scheduled_job``, ``list_scheduled_jobs``, ``inspect_scheduled_job``,
  ``suspend_scheduled_job``, ``resume_scheduled_job``, ``delete_scheduled_job``, ``update_scheduled_job_schedule``,
  ``update_scheduled_job_labels``, ``trigger_scheduled_job``): ``POST /api/scheduled-jobs/{namespace}``
  (``{"jobSpec": <run_job's spec>, "schedule", "suspend"?, "concurrency"?}``; ``@hourly``.. or five-field
  CRON, else ``400``) and ``GET`` (``?label=k=v``) -> ``ScheduledJobInfo`` JSON (``jobSpec`` with ``timeout``
  seconds and secret names only, ``status: {"lastJob": {"id", "at"}, "nextJobRunAt"}``, null while suspended);
  ``GET``/``DELETE .../{id}``; ``POST .../{id}/suspend``, ``/resume``, ``/schedule`` (``{"schedule"}``),
  ``/run`` (-> ``JobInfo``; ``409`` while the last run is going and ``concurrency`` is off);
  ``PUT .../{id}/labels`` (``{"labels"}``, replaces them all). The stub never fires a schedule on its own.
* Webhooks (``create_webhook``, ``list_webhooks``, ``get_webhook``, ``update_webhook``, ``enable_webhook``,
  ``disable_webhook``, ``delete_webhook``): ``GET``/``POST /api/settings/webhooks``, ``GET``/``POST``/``DELETE
  .../{id}``, ``POST .../{id}/enable|disable`` -> ``{"webhook": {...}}`` (a list for ``GET`` of all): ``url`` or
  ``job`` (the ``jobSourceId`` job's spec, copied without its secrets), ``watched``, ``domains``, ``secret``,
  ``disabled``; the webhook's ``secrets`` (job webhooks only) are stored and answered by name only. An
  update keeps ``watched`` when it is sent empty (the client sends ``[]`` when not given) and merges
  ``secrets`` (``""`` removes one); ``url`` or ``jobSourceId`` switches the target.
* Space variables: ``GET``/``POST``/``DELETE /api/spaces/{owner}/{name}/variables`` (``get_space_variables``,
  ``add_space_variable``, ``delete_space_variable``) -> ``{key: {"value", "description", "updatedAt"}}``.
  A change restarts the Space like ``restart_space`` (``restarts``, ``on_restart``); what counts as one
  is ``variable_restarts`` (``"on_change"``, ``"always"``, ``"never"``; see ``space_variables``).

Errors carry a JSON body ``{"error": message}`` plus ``X-Error-Message``, and
``X-Error-Code`` (``RepoNotFound`` / ``RevisionNotFound`` / ``EntryNotFound``) where
the Hub sets one, so ``huggingface_hub.utils.hf_raise_for_status`` raises the same
typed errors as against huggingface.co. Every response has an ``X-Request-Id``.

Auth: ``Authorization: Bearer <token>``. A token not in ``tokens`` gets ``401
Invalid credentials in Authorization header`` on every route. ``token_access`` gives a token a role
(``read``, ``write``, or ``fineGrained`` with scoped permissions) and organisations, which
``whoami-v2`` reports and Space restart/pause, variable changes and jobs enforce. Without a token,
public reads work, private repos answer ``401`` + ``RepoNotFound`` and Space
restart/pause answer ``401``. A valid token of another user sees private repos as
``404 RepoNotFound`` and gets ``403`` on restart/pause.

Writes (preupload, commit, tag) need a token of the repo's namespace owner: no token
is ``401``, another user's token ``403`` (``404 RepoNotFound`` if the repo is private).
``create_repo`` is allowed only in the token user's own namespace (else ``403``) and answers
``409`` when the repo exists. Space variables: reading follows repo visibility, changing them needs
the owner's write token (``401`` without a token, ``403`` for another user or a read token). Jobs: every
route needs a valid token (``401``) whose user is the namespace or one of its ``orgs`` (``403``);
running or cancelling also needs a write token (a read token gets ``403``; a fine-grained one needs
``job.write`` on the namespace). Another namespace's job id is ``404``. Scheduled jobs follow the same
rules (every change, ``POST``/``PUT``/``DELETE``, as running). Webhooks belong to the token's user: another
user's webhook is ``404``; a read token may list and get them, changes need a write token (``403``).

Test hooks: ``fail`` (queued faults that replace the real handling), ``delay``, ``redirect``
(all three match any path, jobs, scheduled jobs, webhooks and variables included), ``on_restart``
callbacks, ``set_stage``; every request is recorded in ``requests``. Inspection: ``file``, ``files``, ``tags``,
``commits``, ``head``, ``restarts``, ``space_variables(repo_id) -> {key: value}``; ``add_space(...,
variables=)`` seeds variables without a restart. Jobs: ``jobs(namespace=None) -> list[dict]`` and
``job(id) -> dict`` (id, namespace, created_by, docker_image, space_id, command, arguments, environment,
secrets with their values as received, labels, flavor, timeout, attempts, stage, message, logs, spec);
``on_job(callback(stub, job), delay=0)`` after each created job; ``finish_job(id, stage="COMPLETED",
logs=[...], message=None, ran_for=None)`` (``ran_for``: the job's ``durations.runningSecs``); ``set_job_stage(id, stage, message=None)``; ``log_job(id, *lines)``;
``job_scheduling_seconds`` (0) and ``job_runs_for`` (None; seconds until auto-``COMPLETED``).
Scheduled jobs: ``scheduled_jobs(namespace=None) -> list[dict]`` (secret values included, ``runs``,
``last_job``) and ``fire_schedule(id) -> job_id | None`` (one run, as the Hub's clock would start it; None if
suspended or the last run is still going without ``concurrency``). Webhooks: ``webhooks() -> list[dict]``
(``secret`` and ``secrets`` values included) and ``deliver_webhook(id, payload) -> job_id | None`` (a job
webhook starts a copy of its source job with ``WEBHOOK_PAYLOAD``/``WEBHOOK_REPO_ID``/``WEBHOOK_REPO_TYPE``/
``WEBHOOK_SECRET`` in its environment and the webhook's ``secrets``; a URL webhook gets a POST, None).
``on_job`` callbacks also run for jobs started by a schedule or a webhook.
Standard library only; all state is guarded by one lock.

Modules: ``stub`` (``HubStub``: state, setup and inspection), ``server`` (HTTP server, handler,
lifecycle, ``Recorded``), ``routes`` (faults/delays/redirects, authentication, whoami, Spaces,
resolve), ``repo_api`` (create/read/publish repos), ``access`` (who may see or write a repo, run jobs,
change webhooks), ``repos`` (the in-memory repositories), ``jobs_api`` (jobs routes and hooks), ``jobs`` (a
job's state and JSON), ``schedules_api`` (scheduled jobs routes and hooks), ``schedules`` (a scheduled job
and its cron), ``webhooks_api`` (webhooks: routes, hooks and state), ``space_variables`` (Space variables).
Tests import ``from support.hubstub import HubStub`` (``tests/`` is on ``sys.path``); from the repository
root it is ``tests.support.hubstub``.
"""

from .server import Recorded
from .stub import HubStub

__all__ = ["HubStub", "Recorded"]
