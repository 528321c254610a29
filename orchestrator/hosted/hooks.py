"""``orchestrator hooks``: a Hub webhook that starts an HF Job on each update of the labels' dataset repos, with no
server; and the run such a job makes (``orchestrator run --webhook-payload-env WEBHOOK_PAYLOAD``).

``hooks install`` starts a *source* job (the webhook needs one to copy; with no payload the run does nothing and
exits 0) and creates the webhook, or changes the one it made before, found by the source job's label
(``orchestrator-hooks=NAME``). The webhook gets the job's secrets itself: the Hub does not copy a source job's.
Its secret is ``WEBHOOK_SECRET`` when set, the existing webhook's when there is one, else a new random one (not
printed: nothing else needs it). The Hub takes a webhook's secrets only with a new job to copy, so an unchanged
job keeps the secrets it had: after rotating one, ``--recreate`` starts a new source job and hands them again.

The Hub runs a copy of the job per delivery with the payload in ``WEBHOOK_PAYLOAD`` and the webhook's secret in
``WEBHOOK_SECRET``. :func:`delivered` checks that secret against the secret of the Hub webhook that watches the
payload's repo (read with the token, so a forged payload needs a secret only the Hub and the token's owner
know), parses the raw JSON as ``serve`` does (``repo.headSha`` and ``updatedRefs`` included) and names the labels
it concerns; the run then runs the same cycle for them, under the same lease and ledger.
"""

from __future__ import annotations

import shlex
import secrets as random_secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..config.settings import LabelConfig, Settings
from ..contracts.webhook import BadDelivery, HubEvent, parse, secret_matches
from ..errors import AuthError, ConfigError
from ..plan.events import dataset_repo, watched_labels
from ..remote.hfjobs import HfJobs
from ..remote.hfwebhooks import HfWebhooks, Webhook
from ..remote.hub import Hub
from .spec import Hosting, concerns, describe, job_request, same_job

LABEL = "orchestrator-hooks"
NAME_VARIABLE = "ORCHESTRATOR_HOOKS_NAME"  # the --name, in the job's environment too: a Hub that shows no job labels
PAYLOAD_VARIABLE = "WEBHOOK_PAYLOAD"
PAYLOAD_OPTION = "--webhook-payload-env"


@dataclass(frozen=True)
class Done:
    """What a hooks command did (``created``, ``updated``, ``deleted``, ``nothing``; ``would ...`` in a dry run)
    and the webhook it left, if any."""

    action: str
    webhook: Webhook | None = None


def watched_repos(settings: Settings) -> list[tuple[str, str]]:
    repos = sorted({repo for label in settings.labels if (repo := dataset_repo(label))})
    if not repos:
        raise ConfigError("no label's dataset is a Hub dataset repo, so there is nothing for a webhook to watch",
                          hint="set each label's dataset = \"hub:owner/name\" (or a metadata URL on the Hub)")
    return [("dataset", repo) for repo in repos]


def _named(webhook: Webhook, name: str) -> bool:
    """Whether ``webhook`` is the one ``hooks install --name NAME`` made: its job's label, or its environment."""
    return name in (webhook.job_labels.get(LABEL), webhook.job_env.get(NAME_VARIABLE))


def _runs_payloads(webhook: Webhook) -> bool:
    return PAYLOAD_OPTION in " ".join(webhook.job_command)


class Hooks:
    """Install, show and delete this project's Hub webhook."""

    def __init__(self, hub: Hub, hosting: Hosting, name: str, say: Callable[[str], None]) -> None:
        self.hub, self.hosting, self.name, self.say = hub, hosting, name, say
        self.webhooks = HfWebhooks(hub)
        self.labels = {LABEL: name}

    def mine(self) -> list[Webhook]:
        """This project's webhooks: those whose job carries its label, or its name in the job's environment."""
        return [hook for hook in self.webhooks.all() if _named(hook, self.name)]

    def install(self, settings: Settings, *, dry_run: bool = False, recreate: bool = False) -> Done:
        request = job_request(settings, self.hosting, self.labels, PAYLOAD_OPTION, PAYLOAD_VARIABLE)
        request = replace(request, env={**request.env, NAME_VARIABLE: self.name})
        for concern in concerns(settings):
            self.say(f"warning: the job may not work on the Hub: {concern} (see docs/hosted.md)")
        watched = watched_repos(settings)
        found = self.mine()
        current = found[0] if found else None
        given = settings.serve.webhook_secret
        if dry_run:
            verb = "would update" if current else "would create"
            self.say(f"{verb} a Hub webhook watching {', '.join(name for _, name in watched)} (repo updates) that starts:")
            for line in describe(request):
                self.say(f"  {line}")
            self.say("  secret: " + ("WEBHOOK_SECRET" if given else "the webhook's own" if current and current.secret
                                      else "a new random one"))
            return Done(verb)
        secret = given.get_secret_value() if given else (current.secret if current and current.secret else None)
        secret = secret or random_secrets.token_urlsafe(32)
        unchanged = current is not None and not recreate and same_job(
            request, image=current.job_image, command=current.job_command, env=current.job_env,
            secret_names=current.job_secret_names, flavor=current.job_flavor, timeout=current.job_timeout)
        job_id = None  # the same job: the webhook keeps the one it copies
        if not unchanged:  # the webhook copies a job: start one (with no payload its run does nothing)
            jobs = HfJobs(self.hub)
            started = jobs.run(image=request.image, command=list(request.command), env=request.env,
                               secrets=request.secrets, flavor=request.flavor, timeout=request.timeout,
                               labels=request.labels, namespace=jobs.namespace(self.hosting.namespace))
            job_id = started.id
        if current is None:
            assert job_id is not None
            hook = self.webhooks.create(job_id=job_id, watched=watched, secret=secret, secrets=request.secrets)
            action = "created"
        else:
            # the Hub takes a webhook's secrets only with a job to start: the same job keeps the secrets it has
            hook = self.webhooks.update(current.id, job_id=job_id, watched=watched, secret=secret,
                                        secrets=request.secrets if job_id else None)
            action = "updated"
        if current is not None and current.disabled:  # as `schedule` resumes a suspended job
            self.webhooks.enable(hook.id)
            action += " and enabled"
        for extra in found[1:]:  # a webhook made twice (a create whose answer was lost): one is enough
            self.webhooks.delete(extra.id)
        source = f"a new copy of HF Job {job_id}" if job_id else "the same job as before"
        self.say(f"Hub webhook {hook.id}: {action}; it watches {', '.join(name for _, name in watched)} and starts "
                 f"{source} ({shlex.join(request.command)})")
        return Done(action, hook)

    def show(self) -> Done:
        found = self.mine()
        if not found:
            self.say(f"no Hub webhook {self.name!r} (create one with `orchestrator hooks install`)")
            return Done("nothing")
        for hook in found:
            state = "disabled" if hook.disabled else "enabled"
            self.say(f"Hub webhook {hook.id} ({state}): watches {', '.join(f'{t}:{n}' for t, n in hook.watched)}")
            self.say(f"  starts: {hook.job_image}: {shlex.join(hook.job_command)}")
        return Done("shown", found[0])

    def delete(self, *, dry_run: bool = False) -> Done:
        found = self.mine()
        if not found:
            self.say(f"no Hub webhook {self.name!r}: nothing to delete")
            return Done("nothing")
        for hook in found:
            if not dry_run:
                self.webhooks.delete(hook.id)
            self.say(f"{'would delete' if dry_run else 'deleted'} Hub webhook {hook.id}")
        return Done("would delete" if dry_run else "deleted")


def delivered(settings: Settings, hub: Hub, body: str) -> tuple[HubEvent, list[LabelConfig]]:
    """The delivery a webhook-started job was handed: its event and the labels it concerns.

    Raises :class:`ConfigError` for a body that is not a Hub delivery and :class:`AuthError` for a secret
    (``WEBHOOK_SECRET``, set by the Hub) that is not the secret of this project's webhook on that repo."""
    try:
        event = parse(body.encode("utf-8"))
    except BadDelivery as exc:
        raise ConfigError(f"{PAYLOAD_VARIABLE} is not a Hub webhook payload: {exc}",
                          hint="the Hub sets it on the jobs a webhook starts; check what the variable holds") from None
    presented = settings.serve.webhook_secret
    every = HfWebhooks(hub).all()
    name = settings.environ.get(NAME_VARIABLE)  # set by `hooks install` on the job: only that webhook's secret counts
    runs = [hook for hook in every if _named(hook, name)] if name else (
        [hook for hook in every if _runs_payloads(hook)] or [hook for hook in every if hook.url is None])
    if not runs:
        raise AuthError("no Hub webhook of this token starts a run, so the payload's secret cannot be checked",
                        hint="install one with `orchestrator hooks install` (with the same HF_TOKEN)")
    # the webhooks that watch the payload's repo; for a repo none watches, any of them (then nothing is run anyway)
    hooks = [hook for hook in runs if (event.repo_type, event.repo_name) in hook.watched] or runs
    given = presented.get_secret_value() if presented else None
    if not any(hook.secret and secret_matches(given, hook.secret) for hook in hooks):
        raise AuthError("the payload's secret (WEBHOOK_SECRET) is not the secret of the Hub webhook that watches "
                        f"{event.repo_name}: nothing was run",
                        hint="the Hub sets WEBHOOK_SECRET on the jobs its webhook starts; a run started otherwise "
                        "must present the same secret")
    return event, watched_labels(settings, event)
