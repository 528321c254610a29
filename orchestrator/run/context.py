"""What one run's steps share: the settings, the boundaries (Hub, launchers, metadata reader, reporter),
the journal, and each label's result as the run goes."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from ..config.settings import LabelConfig, Settings
from ..config.targets import Target
from ..errors import OrchestratorError
from ..launch import launcher_for
from ..launch.protocol import Launcher
from ..remote.documents import MetadataReader, Observation
from ..remote.hub import Hub
from ..report.reporter import Reporter
from ..report.results import FAILED, PENDING, TIMED_OUT, LabelResult, Outcome
from .journal import Journal, crash_point
from .lease import RunLock

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

# Outside calls made at once for the labels of one step (reads and checks): a cycle's time grows with the
# slowest label, not with their sum, and a burst stays small enough for the Hub's rate limits.
CONCURRENT_CALLS = 8


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What one of :meth:`RunContext.each`'s calls gave: its value, or the error it raised (raised again by
    :meth:`get`, where the caller handles it as it would a call of its own)."""

    value: T | None = None
    error: BaseException | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def answer(call: Callable[[K], T], item: K) -> Answer[T]:
    """``call(item)``'s value, or the error it raised (not an interrupt: that stops the run)."""
    try:
        return Answer(call(item))
    except Exception as exc:  # noqa: BLE001 - handed back to the caller, which raises it again
        return Answer(error=exc)


@dataclass
class RunContext:
    """What one run's steps share: settings, boundaries, journal, launchers (one per target), and each
    label's result as the run goes."""

    settings: Settings
    hub: Hub
    reporter: Reporter
    journal: Journal
    lock: RunLock
    launcher_factory: Callable[..., Launcher] = launcher_for
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    results: dict[str, LabelResult] = field(default_factory=dict)
    etags: dict[str, str | None] = field(default_factory=dict)  # the metadata ETag last seen, per label
    warned: set[tuple[str, str | None]] = field(default_factory=set)
    launchers: dict[Target, Launcher] = field(default_factory=dict)  # one per target for the whole run
    costed: set[str] = field(default_factory=set)  # labels whose prepare or retrain ended (and was costed) in this run

    def __post_init__(self) -> None:
        self.reader = MetadataReader(self.hub)

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    def launcher(self, target: Target) -> Launcher:
        """The target's launcher, made once per run: preflight, launch, reconcile and every poll of a
        followed retrain share it (and its client: a GitHub target's connections are reused)."""
        if target not in self.launchers:
            self.launchers[target] = self.launcher_factory(target, self.hub, self.settings.environ)
        return self.launchers[target]

    def each(self, items: list[K], call: Callable[[K], T]) -> dict[K, Answer[T]]:
        """``call(item)`` for every item, up to :data:`CONCURRENT_CALLS` at a time; each answer by its item.
        Only outside calls go here: the journal, the reporter and the launchers' registry stay in this thread."""
        if len(items) <= 1:
            return {item: answer(call, item) for item in items}
        with ThreadPoolExecutor(max_workers=min(CONCURRENT_CALLS, len(items)), thread_name_prefix="calls") as pool:
            return dict(zip(items, pool.map(lambda item: answer(call, item), items)))

    def crash_point(self, name: str) -> None:
        crash_point(self.settings.crash_at, name, self.reporter.info)

    def follows(self, label: LabelConfig, launcher: Launcher) -> bool:
        """Whether a launched retrain's outcome can be followed: its job's status tells when it ended, the
        retrain publishes a result (``result``), or it deploys to a model repo we watch (``model_repo``). A
        Space with neither is not followed."""
        return launcher.follows or label.result is not None or label.model_repo is not None

    def by_target(self, labels: list[LabelConfig], step: Literal["prepare", "retrain"]) -> dict[Target, list[LabelConfig]]:
        """Labels grouped by their prepare (or retrain) target: labels that share a prepare target are prepared
        by one launch, and a target is checked once."""
        groups: dict[Target, list[LabelConfig]] = {}
        for label in labels:
            groups.setdefault(self.settings.prepare_target(label) if step == "prepare" else label.retrain, []).append(label)
        return groups

    # ---------------------------------------------------------------------------------- results
    def update(self, name: str, **changes) -> None:
        self.results[name] = self.results[name].with_(**changes)

    def fail(self, name: str, exc: OrchestratorError, *, outcome: Outcome = FAILED) -> None:
        self.update(name, outcome=outcome, error=exc.message, hint=exc.hint)
        level = self.reporter.warning if outcome in (TIMED_OUT, PENDING) else self.reporter.error
        level(str(exc), title=f"label {name}: {outcome}")

    def note_state(self, name: str) -> None:
        self.update(name, state=self.journal.state(name).state)

    def warn_optional(self, name: str, seen: Observation) -> None:
        """Once per document: what is missing or mistyped among the optional metadata fields."""
        if seen.metadata is None or not seen.metadata.warnings or (name, seen.etag) in self.warned:
            return
        self.warned.add((name, seen.etag))
        self.reporter.warning(
            f"metadata {seen.metadata.version_tag}: {'; '.join(seen.metadata.warnings)} (optional fields; the cycle "
            "needs only version_tag and num_samples)",
            title=f"label {name}",
        )
