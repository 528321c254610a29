"""Notifications of a finished run (failures, timeouts, deploy verdicts) through apprise: Slack, Discord, Teams,
e-mail, a JSON webhook ... any apprise URL.

One message per run and URL, holding the run's notifications that ``events`` selects (the most severe sets its
level): one request per receiver, so apprise's per-service throttling (up to 5.5 s between requests) never applies.
Receivers are sent to in parallel and given up on ``timeout`` + 1 s after the start. Nothing here raises: every
failure is one warning. apprise is imported only to send. URLs carry secrets: their parts are registered for
redaction on validation, warnings name a URL's scheme only, and apprise's log lines never reach a console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import redact
from ..config.notify import Event, NotifyConfig
from .results import LabelResult, RunResult

if TYPE_CHECKING:  # pragma: no cover
    from .reporter import Reporter

Level = Literal["failure", "warning", "success", "info"]  # apprise's NotifyType values
INSTALL = "pip install 'continuous-learning-orchestrator[notify]'"
GRACE = 1.0  # seconds past the socket timeout for apprise to give up on its own and say why
_OUTCOMES: dict[str, Event] = {"failed": "label_failed", "prepare failed": "prepare_failed", "timed out": "timed_out",
                                "expired": "prepare_expired", "deployed": "deployed", "rejected": "rejected",
                                "not deployed": "not_deployed", "awaiting approval": "awaiting_approval"}
_LEVELS: dict[Event, Level] = {"run_failed": "failure", "label_failed": "failure", "prepare_failed": "failure",
                               "timed_out": "warning", "prepare_expired": "warning", "deployed": "success",
                               "rejected": "info", "not_deployed": "warning", "awaiting_approval": "warning"}
_RANK: tuple[Level, ...] = ("info", "success", "warning", "failure")


def scheme(url: str) -> str:
    """The part of a URL a message may name (never the rest: it carries secrets)."""
    found = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return found[1].lower() if found else "?"


@dataclass(frozen=True)
class Notification:
    event: Event
    label: str | None
    title: str
    body: str  # what happened, to which label, what to do, and the run's link (last line) when there is one
    level: Level
    link: str | None = None


def run_link(environ: Mapping[str, str]) -> str | None:
    """The GitHub Actions run's page, when running under GitHub Actions."""
    parts = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0].rstrip('/')}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def _make(event: Event, label: str | None, title: str, lines: list[str | None], link: str | None) -> Notification:
    body = "\n".join(line for line in [*lines, f"Run: {link}" if link else None] if line)
    return Notification(event, label, redact.redact(title), redact.redact(body), _LEVELS[event], link)


def _label(event: Event, r: LabelResult, link: str | None) -> Notification:
    metric = f"{r.metric_name or 'metric'} {r.metric:.4f}" if r.metric is not None else None
    stage = "retrain " if r.retrain_ref or r.retrain_reason else ""
    headline, title, hint = {
        "label_failed": (f"Label {r.label}: the {stage}run failed.", f"{stage}failed",
                         "check the job's logs, then `orchestrator status`"),
        "prepare_failed": (f"Label {r.label}: its prepare failed, and no new dataset came.", "prepare failed",
                           f"read the prepare job's logs; `orchestrator retry --label {r.label}` prepares again"),
        "timed_out": (f"Label {r.label}: timed out waiting for its new dataset.", "timed out",
                      "check the prepare job's logs; the next run goes on waiting"),
        "prepare_expired": (f"Label {r.label}: its prepare expired without a new dataset.", "prepare expired",
                            "check the prepare job's logs; the next run may prepare again"),
        "deployed": (f"Label {r.label}: the retrain deployed a new model" + (f" ({metric})." if metric else "."),
                     "deployed" + (f" ({metric})" if metric else ""), None),
        "rejected": (f"Label {r.label}: the retrain's gate kept the deployed model.", "retrain rejected",
                     "nothing: the deployed model stays; if retrains keep being rejected, review the gate and the "
                     "corrections"),
        "awaiting_approval": (f"Label {r.label}: a new model passed the gate and awaits your approval.",
                              "awaiting approval", "approve it with the `orchestrator promote` command in Why, or leave it: "
                              "a newer approved model supersedes it"),
        "not_deployed": (f"Label {r.label}: the retrain finished without deploying a new model.", "not deployed",
                         "read the retrain Space's logs: its gate rejected the model, or it failed"),
    }[event]
    version = f"Dataset version: {r.new_version}" + (f" (was {r.old_version})" if r.old_version else "")
    lines = [headline, f"Error: {r.error}" if r.error else None,
             f"Why: {r.retrain_reason}" if r.retrain_reason and r.retrain_reason not in (r.error or "") else None,
             version if r.new_version else None, f"Retrain: {r.retrain_ref}" if r.retrain_ref else None,
             f"What to do: {r.hint or hint}" if r.hint or hint else None]
    return _make(event, r.label, f"orchestrator: {r.label} {title}", lines, link)


def events_of(result: RunResult, environ: Mapping[str, str] = os.environ) -> list[Notification]:
    """The notifications a finished run deserves (none for a dry run). ``environ`` gives the run's link only."""
    if result.dry_run:
        return []
    link = run_link(environ)
    notes = []
    if result.error:
        lines = [f"The run stopped: {result.error}", f"What to do: {result.hint or 'check the run log'}",
                 f"Started {result.started_at}, exit code {result.exit_code}."]
        notes.append(_make("run_failed", None, "orchestrator: run failed", lines, link))
    notes += [_label(_OUTCOMES[r.outcome], r, link) for r in result.labels if r.outcome in _OUTCOMES]
    return notes


def digest(notes: list[Notification]) -> tuple[str, str, Level]:
    """One title, body and level for a run's notifications (at least one): the most severe level wins."""
    if len(notes) == 1:
        return notes[0].title, notes[0].body, notes[0].level
    link = notes[0].link
    title = "orchestrator: " + "; ".join(n.title.removeprefix("orchestrator: ") for n in notes)
    body = "\n\n".join(n.body.removesuffix(f"\nRun: {link}") if link else n.body for n in notes)
    return title, body + (f"\n\nRun: {link}" if link else ""), max((n.level for n in notes), key=_RANK.index)


class _Kept(logging.Handler):
    """apprise's warnings and errors, kept per thread and never printed (they may name a receiver)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a logging handler must never raise
            self.lines.setdefault(record.thread or 0, []).append(record.getMessage())

    def take(self) -> str | None:
        """This thread's last line, with any URL cut to its scheme."""
        lines = self.lines.pop(threading.get_ident(), [])
        return _clean(lines[-1]) if lines else None


def _clean(text: str) -> str:
    return redact.redact(re.sub(r"\b([A-Za-z][A-Za-z0-9+.-]*)://\S*?(?=[:;,.)]?(?:\s|$))", r"\1://…", text))[:300]


_KEPT = _Kept()


def _quiet_apprise() -> None:
    apprise_logger = logging.getLogger("apprise")
    if _KEPT not in apprise_logger.handlers:
        apprise_logger.addHandler(_KEPT)
        apprise_logger.propagate = False  # its lines reach no console, whatever logging the host configured


class _Send(threading.Thread):
    """One receiver's notification, sent in a thread of its own so that a slow receiver cannot hold the run."""

    def __init__(self, plugin: Any, scheme: str, message: dict[str, Any]) -> None:
        super().__init__(daemon=True, name=f"notify-{scheme}")  # a stuck receiver never holds the process
        self.plugin, self.scheme, self.message = plugin, scheme, message
        self.ok, self.why = False, None

    def run(self) -> None:
        try:
            self.ok = bool(self.plugin.notify(**self.message))
        except Exception as exc:  # noqa: BLE001  (a plugin's bug is a warning, like any failure)
            self.why = _clean(f"{type(exc).__name__}: {exc}")
        self.why = _KEPT.take() or self.why


def _load(apprise: Any, url: str) -> Any:
    """apprise's plugin for ``url``, or None if it cannot use it."""
    try:
        with warnings.catch_warnings():  # loading its e-mail plugin imports the deprecated imghdr
            warnings.simplefilter("ignore", DeprecationWarning)
            return apprise.Apprise.instantiate(url)
    except Exception:  # noqa: BLE001
        return None
    finally:
        _KEPT.take()  # "could not load <URL>": not for anyone's eyes


def notify(result: RunResult, config: NotifyConfig, reporter: Reporter, environ: Mapping[str, str] = os.environ) -> int:
    """Send the run's notifications that ``config.events`` selects, one message per URL. Returns how many receivers
    took it. Never raises; every failure is a warning."""
    try:
        return _notify(result, config, reporter, environ)
    except Exception as exc:  # noqa: BLE001  (a bug here must not change the run's outcome)
        reporter.warning(f"notifications failed: {_clean(f'{type(exc).__name__}: {exc}')}", title="notify")
        return 0


def _notify(result: RunResult, config: NotifyConfig, reporter: Reporter, environ: Mapping[str, str]) -> int:
    notes = [n for n in events_of(result, environ) if n.event in config.events]
    if not notes or not config.urls:
        return 0
    try:
        import apprise
    except ImportError:
        reporter.warning(f"notifications are configured but apprise is not installed: {INSTALL}", title="notify")
        return 0
    _quiet_apprise()
    title, body, level = digest(notes)
    sends = []
    for url in config.urls:
        plugin = _load(apprise, url)
        if plugin is None:
            reporter.warning(f"apprise cannot use the {scheme(url)}:// notification URL (unknown scheme or a missing "
                             "or malformed part); nothing sent to it", title="notify")
            continue
        plugin.socket_connect_timeout = plugin.socket_read_timeout = config.timeout
        send = _Send(plugin, scheme(url), {"body": body, "title": title, "notify_type": apprise.NotifyType(level)})
        send.start()
        sends.append(send)
    deadline = time.monotonic() + config.timeout + GRACE
    sent = 0
    for send in sends:
        send.join(max(0.0, deadline - time.monotonic()))
        if send.is_alive():
            reporter.warning(f"the {send.scheme}:// receiver did not answer within {config.timeout + GRACE:.0f}s; "
                             "gave up on it (the run is unaffected)", title="notify")
        elif not send.ok:
            reporter.warning(f"the {send.scheme}:// receiver did not take the notification: "
                             f"{send.why or 'apprise reported a failure'}", title="notify")
        else:
            sent += 1
    return sent
