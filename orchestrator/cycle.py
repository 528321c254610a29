"""One orchestration cycle: count → decide → preflight → prepare → await → retrain. The only place that
sequences the steps; every external effect goes through a launcher, every read through a reader.

Order matters, and fixes the seed's faults:
- each firing label's current ``version_tag`` is read *before* prepare is triggered, so a dataset that
  is published at once is still seen as new;
- all waiting labels are polled in one loop, and each is retrained as soon as its dataset arrives;
- a label's failure (timeout, HTTP error, malformed metadata) is that label's alone;
- a dry run stops after the read-only preflight: no POST, no waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine

from .config import LabelConfig, Settings
from .errors import EXIT_LABEL_FAILED, EXIT_OK, AuthError, HubError, HubUnavailable, LaunchError, MetadataError, OrchestratorError
from .feedback import count_corrections
from .hub import Hub
from .launchers import Job, Launcher, launcher_for
from .metadata import DatasetMetadata
from .policy import Decision, decide, has_arrived
from .report import Reporter
from .results import FAILED, PLANNED, RETRAINED, SKIPPED, TIMED_OUT, LabelResult, RunResult
from .sources import MetadataReader


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Cycle:
    """What one run talks to. Tests build it with real parts pointed at local stand-ins."""

    settings: Settings
    engine: Engine
    hub: Hub
    reporter: Reporter
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    launcher_factory: Callable[..., Launcher] = launcher_for
    results: dict[str, LabelResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reader = MetadataReader(self.hub)

    # ------------------------------------------------------------------------------------------- run
    def run(self) -> RunResult:
        started = utc_now()
        self.reporter.mask_secrets()
        try:
            self._run()
        except OrchestratorError as exc:
            self.reporter.error(exc.message + (f" — check: {exc.hint}" if exc.hint else ""), title="orchestrator stopped")
            return self._result(started, exit_code=exc.exit_code, error=exc.message, hint=exc.hint)
        failed = any(r.failed for r in self.results.values())
        return self._result(started, exit_code=EXIT_LABEL_FAILED if failed else EXIT_OK)

    def _result(self, started: str, **kwargs) -> RunResult:
        ordered = tuple(self.results[label.name] for label in self.settings.labels if label.name in self.results)
        return RunResult(started_at=started, finished_at=utc_now(), dry_run=self.dry_run, labels=ordered, **kwargs)

    def _run(self) -> None:
        settings, reporter = self.settings, self.reporter
        counts = count_corrections(self.engine, settings.labels)
        decisions = {label.name: decide(label, counts[label.name]) for label in settings.labels}
        for label in settings.labels:
            self._record_decision(label, decisions[label.name])
        firing = [label for label in settings.labels if decisions[label.name].fire]
        if not firing:
            reporter.info("no label reached its threshold: nothing to do")
            return

        baselines = self._read_baselines(firing)
        firing = [label for label in firing if label.name in baselines]
        firing = self._preflight(firing)
        if not firing:
            return
        if self.dry_run:
            self._print_plan(firing, baselines)
            return
        prepared = self._prepare(firing)
        if prepared:
            self._await_and_retrain(prepared, baselines)

    # ------------------------------------------------------------------------------------------- steps
    def _record_decision(self, label: LabelConfig, decision: Decision) -> None:
        self.results[label.name] = LabelResult(
            label=label.name,
            corrections=decision.corrections,
            dataset_len=decision.dataset_len,
            threshold=decision.threshold,
            required=decision.required,
            fire=decision.fire,
            reason=decision.reason,
            outcome=SKIPPED,
            prepare_target=self.settings.prepare_target(label).describe(),
            retrain_target=label.retrain.describe(),
        )
        with self.reporter.group(f"label {label.name}"):
            sampled = decision.dataset_len - decision.counted
            self.reporter.info(
                f"[{label.name}] corrections={decision.corrections} sampled_correct={sampled} "
                f"dataset_len={decision.dataset_len} threshold={decision.threshold}"
            )
            self.reporter.info(f"[{label.name}] {'prepare' if decision.fire else 'skip'}: {decision.reason}")

    def _fail(self, label: str, exc: OrchestratorError, *, outcome: str = FAILED) -> None:
        self.results[label] = self.results[label].with_(outcome=outcome, error=exc.message, hint=exc.hint)
        level = self.reporter.warning if outcome == TIMED_OUT else self.reporter.error
        level(exc.message + (f" — check: {exc.hint}" if exc.hint else ""), title=f"label {label}: {outcome}")

    def _read_baselines(self, firing: list[LabelConfig]) -> dict[str, DatasetMetadata | None]:
        """Each firing label's current version, read BEFORE anything is triggered."""
        baselines: dict[str, DatasetMetadata | None] = {}
        self.etags: dict[str, str | None] = {}
        for label in firing:
            try:
                seen = self.reader.read(label)
            except MetadataError as exc:
                self.reporter.warning(
                    f"{exc.message}; treating it as no previous version", title=f"label {label.name}: metadata"
                )
                baselines[label.name] = None
                self.etags[label.name] = None
                continue
            except (AuthError, HubUnavailable):
                raise  # the token or the Hub itself is the problem: nothing can work, stop now
            except HubError as exc:
                self._fail(label.name, exc)
                continue
            baselines[label.name] = seen.metadata
            self.etags[label.name] = seen.etag
            version = seen.metadata.version_tag if seen.metadata else None
            self.results[label.name] = self.results[label.name].with_(old_version=version)
            self.reporter.info(f"[{label.name}] current dataset version: {version or 'none yet'}")
        return baselines

    def _preflight(self, firing: list[LabelConfig]) -> list[LabelConfig]:
        """Read-only checks of every target a firing label needs, before anything is triggered."""
        usable = []
        for label in firing:
            try:
                self.launcher_factory(label.retrain, self.hub).check()
            except (AuthError, HubUnavailable):
                raise
            except (HubError, LaunchError) as exc:
                self._fail(label.name, exc)
                continue
            usable.append(label)
        for target, members in self._by_prepare_target(usable).items():
            try:
                self.launcher_factory(target, self.hub).check()
            except (AuthError, HubUnavailable):
                raise
            except (HubError, LaunchError) as exc:
                for label in members:
                    self._fail(label.name, exc)
                usable = [label for label in usable if label not in members]
        return usable

    def _by_prepare_target(self, labels: list[LabelConfig]) -> dict:
        groups: dict = {}
        for label in labels:
            groups.setdefault(self.settings.prepare_target(label), []).append(label)
        return groups

    def _print_plan(self, firing: list[LabelConfig], baselines: dict[str, DatasetMetadata | None]) -> None:
        self.reporter.info("DRY RUN: nothing is restarted and nothing is awaited. The plan:")
        for target, members in self._by_prepare_target(firing).items():
            names = ", ".join(label.name for label in members)
            self.reporter.info(f"  would launch prepare: {target.describe()} for {names}")
        for label in firing:
            old = baselines.get(label.name)
            result = self.results[label.name]
            self.reporter.info(
                f"  [{label.name}] would wait for version_tag to change from {old.version_tag if old else 'none'} "
                f"with num_samples >= {result.required}, then launch retrain: {label.retrain.describe()}"
            )
            self.results[label.name] = result.with_(outcome=PLANNED)

    def _prepare(self, firing: list[LabelConfig]) -> list[LabelConfig]:
        prepared = []
        for target, members in self._by_prepare_target(firing).items():
            names = tuple(label.name for label in members)
            key = "prepare:" + ",".join(f"{n}={self.results[n].corrections}" for n in names)
            try:
                launched = self.launcher_factory(target, self.hub).launch(Job("prepare", names, key))
            except OrchestratorError as exc:
                for name in names:
                    self._fail(name, exc)
                continue
            self.reporter.info(f"prepare launched: {launched.target} ({launched.detail}) for {', '.join(names)}")
            for line in launched.output:
                self.reporter.info(f"  | {line}")
            prepared.extend(members)
        return prepared

    def _await_and_retrain(self, labels: list[LabelConfig], baselines: dict[str, DatasetMetadata | None]) -> None:
        settings = self.settings
        pending = {label.name: label for label in labels}
        latest: dict[str, DatasetMetadata | None] = dict(baselines)
        deadline = self.clock() + settings.poll_timeout
        with self.reporter.progress(list(pending), settings.poll_timeout) as progress:
            while True:
                for name, label in list(pending.items()):
                    outcome = self._check(label, baselines.get(name), latest, progress)
                    if outcome is not None:
                        del pending[name]
                if not pending:
                    return
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                self.sleep(min(settings.poll_interval, remaining))
                progress.tick()
        for name in pending:
            seen = latest.get(name)
            baseline = baselines.get(name)
            if seen is not None and (baseline is None or seen.version_tag != baseline.version_tag):
                why = f"version {seen.version_tag} has num_samples={seen.num_samples} < required {self.results[name].required}"
            else:
                why = f"version_tag is still {baseline.version_tag if baseline else 'missing'}"
            self._fail(
                name,
                OrchestratorError(
                    f"no new dataset after {settings.poll_timeout:.0f}s: {why}",
                    hint="check the prepare job's logs; raise POLL_TIMEOUT if preparation is slow",
                ),
                outcome=TIMED_OUT,
            )

    def _check(self, label: LabelConfig, baseline: DatasetMetadata | None, latest: dict, progress) -> str | None:
        """Poll ``label`` once. Returns its final outcome, or None while it is still waiting."""
        name = label.name
        try:
            seen = self.reader.read(label, etag=self.etags.get(name))
        except (MetadataError, HubError) as exc:  # broken metadata or a permanent HTTP error: this label only
            self._fail(name, exc)
            return FAILED
        except HubUnavailable as exc:  # the Hub is having a bad minute: keep waiting
            progress.update(name, f"Hub unavailable, will poll again ({exc.message})")
            return None
        if seen.status == "changed":
            self.etags[name] = seen.etag
            latest[name] = seen.metadata
        current = latest.get(name)
        required = self.results[name].required
        if current is not None and has_arrived(
            baseline=baseline.version_tag if baseline else None,
            version_tag=current.version_tag,
            num_samples=current.num_samples,
            required=required,
        ):
            progress.update(name, f"dataset {current.version_tag} arrived ({current.num_samples} samples)")
            return self._retrain(label, current)
        progress.update(
            name,
            f"current_len={current.num_samples if current else 0} required_len={required} "
            f"version={current.version_tag if current else 'none'}",
        )
        return None

    def _retrain(self, label: LabelConfig, dataset: DatasetMetadata) -> str:
        name = label.name
        self.results[name] = self.results[name].with_(new_version=dataset.version_tag, num_samples=dataset.num_samples)
        job = Job("retrain", (name,), key=f"retrain:{name}:{dataset.version_tag}", version=dataset.version_tag)
        try:
            launched = self.launcher_factory(label.retrain, self.hub).launch(job)
        except OrchestratorError as exc:
            self._fail(name, exc)
            return FAILED
        self.reporter.info(f"[{name}] retrain launched: {launched.target} ({launched.detail}) on {dataset.version_tag}")
        for line in launched.output:
            self.reporter.info(f"  | {line}")
        self.results[name] = self.results[name].with_(outcome=RETRAINED)
        return RETRAINED
