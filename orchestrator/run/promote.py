"""Promote and roll back a label's model: move the registry's pointer (:mod:`orchestrator.contracts.model_registry`)
to another kept version, through the ledger, once.

A promotion holds the run lock, records an intent (kind ``promote``) and a run row (mode ``promote``: ``history``
shows it, with who, when and why), then writes one change to the model store: the version's files at the root
(where the inference side reads them) and the registry with its new pointer and the promotion, which carries
the intent's key. Then it restarts the label's inference Space, if one is configured, and settles the intent.

An intent left open by an interrupted promotion is settled before anything else (:func:`settle`): if the store
shows the promotion's key, it is completed (the Space restarted); if not, nothing had changed, and it is undone
(recorded as failed, to be asked for again). Either way it is never done twice.
"""

from __future__ import annotations

import getpass
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ..contracts.model_registry import MODEL_FILE, MODEL_METADATA, REGISTRY_FILENAME, Promotion, Registry, version_path
from ..errors import ConfigError, OrchestratorError
from ..remote.hub import Hub
from ..remote.stores import Store, read_registry
from ..report.reporter import Reporter
from ..state.records import FIRST_DEPLOY, RETRAIN_REQUESTED, RETRAINING, Action, LabelState, utc_now
from ..state.store import HEAD, StateStore
from .journal import crash_point
from .lease import RunLock, iso

MODEL_FILES = (MODEL_FILE, MODEL_METADATA)  # a version's files, copied to the root when it is deployed


@dataclass(frozen=True)
class Place:
    """Where a label's models are: its store, how that store is written in the settings, and its inference Space."""

    label: str
    store: Store
    location: str
    space: str | None = None


@dataclass(frozen=True)
class Moved:
    """What a promotion did: the version deployed now, the one before, and whether anything changed."""

    label: str
    version: str
    previous: str | None
    changed: bool
    message: str


def actor(environ: Mapping[str, str]) -> str:
    """Who asks: ``GITHUB_ACTOR`` in a workflow, else the OS user."""
    if environ.get("GITHUB_ACTOR"):
        return f"{environ['GITHUB_ACTOR']} (GitHub)"
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


class Promoter:
    """Promotions and rollbacks of the labels' models, under the run lock and through the ledger."""

    def __init__(self, state: StateStore, hub: Hub, reporter: Reporter, *, lease: float, wait: float,
                 say: Callable[[str], None], crash_at: str | None = None) -> None:
        self.state, self.hub, self.reporter, self.say = state, hub, reporter, say
        self.lease_seconds, self.wait, self.crash_at = lease, wait, crash_at

    def promote(self, place: Place, version: str | None, *, reason: str, by: str, dry_run: bool = False) -> Moved:
        """Deploy ``version`` (None: the version deployed before the current one, a rollback)."""
        kind = "rollback" if version is None else "promote"
        if dry_run:
            return self._move(place, version, reason=reason, by=by, kind=kind, dry_run=True)
        self.state.migrate()
        lock = RunLock(self.state, self.reporter, clock=time.monotonic, sleep=time.sleep)
        run_id = uuid.uuid4().hex
        lock.acquire(run_id, ttl=self.lease_seconds, wait=self.wait)
        try:
            self._settle(place, lock)
            return self._move(place, version, reason=reason, by=by, kind=kind, run_id=run_id, lock=lock)
        finally:
            lock.release()

    def settle(self, places: Mapping[str, Place]) -> None:
        """Complete or undo every promotion an interrupted command left open (for the labels in ``places``)."""
        if self.state.schema_version() != HEAD:  # no promotion was ever recorded here
            return
        open_ = [a for a in self.state.unfinished(kinds=("promote",)) if a.labels and a.labels[0] in places]
        if not open_:
            return
        lock = RunLock(self.state, self.reporter, clock=time.monotonic, sleep=time.sleep)
        lock.acquire(uuid.uuid4().hex, ttl=self.lease_seconds, wait=self.wait)
        try:
            for action in open_:
                self._settle(places[action.labels[0]], lock, only=action)
        finally:
            lock.release()

    # ------------------------------------------------------------------------------------------------
    def _settle(self, place: Place, lock: RunLock, only: Action | None = None) -> None:
        for action in ([only] if only else self.state.unfinished(kinds=("promote",))):
            if action.labels != (place.label,):
                continue
            registry = read_registry(place.store)
            landed = any(p.key == action.key for p in registry.promotions)
            kind, by, reason = _asked(action)
            if landed and place.space:  # first: a restart that fails leaves the intent open for the next try
                self.hub.restart_space(place.space)
            if not landed:  # a local change cut short may have replaced root files before the pointer
                self._repair(place, registry)
            after = self._state_after(place.label, registry, kind, by, reason) if landed else None
            with self.state.write(lock.lease) as writer:
                if after is not None:
                    writer.result(action.key, "reconciled", "the model had moved: completed")
                    writer.save(after)
                else:
                    writer.result(action.key, "failed", "interrupted before the model moved: nothing changed")
                summary = _summary(place.label, kind, action.version or "?", None, by,
                                   f"{reason} (interrupted, then {'completed' if landed else 'undone'})", moved=landed)
                writer.finish_run(action.run_id, status="done" if landed else "failed", exit_code=0 if landed else 1,
                                  summary=summary)
            self.say(f"[{place.label}] an interrupted {kind} to {action.version} was "
                     + ("completed" if landed else "undone: nothing had changed; ask for it again"))

    def _repair(self, place: Place, registry: Registry) -> bool:
        """Make the root files the pointer's version again, where an interrupted local change left them otherwise
        (a local store replaces the root's files before the registry). True if it had to."""
        deployed = registry.deployed
        raw = place.store.read(MODEL_METADATA)
        try:
            served = json.loads(raw).get("version") if raw else None
        except (ValueError, AttributeError):
            served = None
        if deployed is None or served == deployed or raw is None:
            return False
        self._commit(place, registry, deployed, message=f"restore {place.label} model {deployed} at the root")
        self.say(f"[{place.label}] the root files were {served or 'another model'}'s while the pointer says {deployed} "
                 "(a change cut short): restored")
        return True

    def _move(self, place: Place, version: str | None, *, reason: str, by: str, kind: str, dry_run: bool = False,
              run_id: str = "", lock: RunLock | None = None) -> Moved:
        registry = read_registry(place.store)
        if version is None:
            version = registry.previous()
            if version is None:
                raise ConfigError(f"label {place.label!r}: no version was deployed before "
                                  f"{registry.deployed or 'the current one'}, so there is nothing to roll back to",
                                  hint=f"`orchestrator models --label {place.label}` lists the versions")
        try:
            registry.get(version)
        except KeyError as exc:
            raise ConfigError(f"label {place.label!r}: {exc.args[0]}",
                              hint=f"`orchestrator models --label {place.label}` lists the versions") from None
        previous = registry.deployed
        if version == previous:
            repaired = not dry_run and self._repair(place, registry)
            message = f"[{place.label}] {version} is already the deployed model: nothing changed" + (
                " but its files at the root, restored" if repaired else "")
            self.say(message)
            return Moved(place.label, version, previous, repaired, message)
        restart = f", then restart the inference Space {place.space}" if place.space else ""
        if dry_run:
            message = (f"[{place.label}] would {kind} to model version {version} (now {previous or 'none'}), "
                       f"{registry.status(version)}{restart}")
            self.say(message)
            return Moved(place.label, version, previous, False, message)
        assert lock is not None
        self._refuse_while_retraining(place.label)
        key = f"{kind}:{place.label}:{version}:{len(registry.promotions)}:{run_id[:12]}"  # one per attempt
        at = iso(utc_now())
        with self.state.write(lock.lease) as writer:
            writer.start_run(run_id, dry_run=False, mode=kind)
            writer.intent(Action(kind="promote", labels=(place.label,), key=key, version=version,
                                 target=f"{place.location}; {kind} by {by}: {reason}"[:500]), run_id=run_id)
        crash_point(self.crash_at, "after_promote_intent", self.say)
        promotion = Promotion(version, previous, by, at, reason, "rollback" if kind == "rollback" else "promote", key)
        moved = registry.promote(promotion)
        try:
            self._commit(place, moved, version, message=f"{kind} {place.label} model to {version}")
        except OrchestratorError as exc:
            try:  # the write may have landed though its answer was lost: look before saying it failed
                landed = any(p.key == key for p in read_registry(place.store).promotions)
            except OrchestratorError:
                raise exc from None  # cannot tell: the intent stays open, and the next command settles it
            if not landed:
                with self.state.write(lock.lease) as writer:
                    writer.result(key, "failed", exc.message)
                    writer.finish_run(run_id, status="failed", exit_code=exc.exit_code,
                                      summary=_summary(place.label, kind, version, previous, by, reason, moved=False))
                raise
        crash_point(self.crash_at, "after_promote_moved", self.say)
        if place.space:
            self.hub.restart_space(place.space)
        after = self._state_after(place.label, moved, kind, by, reason)
        first = registry.status(version) in ("awaiting_approval", "rejected")  # never deployed before: an improvement
        with self.state.write(lock.lease) as writer:
            writer.result(key, "ok", f"deployed {version} (was {previous or 'none'})" + (FIRST_DEPLOY if first else ""))
            writer.save(after)
            writer.finish_run(run_id, status="done", exit_code=0,
                              summary=_summary(place.label, kind, version, previous, by, reason))
        message = f"[{place.label}] {kind}: model version {version} is deployed (was {previous or 'none'}){restart and ', inference Space restarted'}"
        self.say(message)
        return Moved(place.label, version, previous, True, message)

    def _refuse_while_retraining(self, label: str) -> None:
        """A retrain that publishes while a promotion runs would write the registry from its older copy."""
        state = self.state.labels().get(label)
        if state is not None and state.state in (RETRAIN_REQUESTED, RETRAINING):
            raise ConfigError(f"label {label!r} is retraining ({state.last_retrained_version or state.dataset_version}): "
                              "a promotion now could be overwritten when it publishes",
                              hint="promote once `orchestrator status` shows the retrain ended")

    def _state_after(self, label: str, registry: Registry, kind: str, by: str, reason: str) -> LabelState:
        """The label's state once the move is recorded: its last outcome is the move, so that ``status`` and the
        status page show the model deployed now and its score."""
        state = self.state.labels().get(label) or LabelState(label)
        entry = registry.get(registry.deployed) if registry.deployed else None
        return state.with_(
            last_outcome="deployed", last_outcome_reason=f"{kind} to {registry.deployed} by {by}: {reason}",
            last_outcome_at=utc_now(), last_metric=entry.macro_f1 if entry else state.last_metric,
            last_metric_name="macro_f1" if entry and entry.macro_f1 is not None else state.last_metric_name,
        )

    def _commit(self, place: Place, registry: Registry, version: str, *, message: str) -> None:
        """One change: the version's files at the root (its metadata saying it is deployed), then the registry."""
        with tempfile.TemporaryDirectory(prefix=f"promote-{place.label}-") as tmp:
            scratch = Path(tmp)
            fetched = place.store.fetch([version_path(version, name) for name in MODEL_FILES], version=None,
                                        into=scratch / "fetched")
            folder = scratch / "commit"
            folder.mkdir()
            (folder / MODEL_FILE).write_bytes((fetched / version_path(version, MODEL_FILE)).read_bytes())
            try:
                metadata = json.loads((fetched / version_path(version, MODEL_METADATA)).read_bytes())
            except ValueError:
                metadata = {}
            last = registry.promotions[-1] if registry.promotions else None
            metadata = {**(metadata if isinstance(metadata, dict) else {}), "version": version, "decision": "deployed",
                        "promotion": asdict(last) if last and last.version == version else None}
            (folder / MODEL_METADATA).write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
            (folder / REGISTRY_FILENAME).write_text(registry.to_json(), encoding="utf-8")
            place.store.commit(folder, message=message, last=REGISTRY_FILENAME)


def _asked(action: Action) -> tuple[str, str, str]:
    """The kind, who and why of a promotion, from its intent (``location; kind by who: why``)."""
    kind = action.key.split(":")[0]
    said = (action.target or "").split("; ", 1)[1] if "; " in (action.target or "") else ""
    who_why = said.split(" by ", 1)[1] if " by " in said else "?: ?"
    by, _, reason = who_why.partition(": ")
    return kind, by or "?", reason or "?"


def _summary(label: str, kind: str, version: str, previous: str | None, by: str, reason: str, *,
             moved: bool = True) -> dict:
    """The run row of a promotion, shaped as a run's summary so that ``history`` shows it with the runs."""
    return {
        "labels": [{"label": label, "decision": kind, "outcome": "deployed" if moved else "failed",
                    "old_version": previous, "new_version": version, "retrain_reason": f"{kind} by {by}: {reason}"}],
        "promotion": {"label": label, "kind": kind, "version": version, "previous": previous, "by": by, "reason": reason},
    }
