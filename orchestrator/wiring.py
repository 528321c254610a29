"""The one place that builds what a command runs on from its settings: the app and state engines, the Hub
client, the reporter, a :class:`~orchestrator.run.cycle.Cycle`, the notifications of a run's result, and
the service of ``orchestrator serve``. ``orchestrator run``, ``orchestrator serve`` and the demo are wired
here alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .config.settings import Settings
from .plan.planner import RetryStep
from .remote.database import engines
from .remote.hub import Hub
from .report.reporter import Reporter
from .report.results import RunResult
from .run.cycle import Cycle

if TYPE_CHECKING:  # pragma: no cover
    from .serve.app import Service


class Wiring:
    """What a command runs on, built once from ``settings`` (and the environment the reports read, for
    GitHub Actions): the engines (a bad database URL fails here, before anything runs), one Hub client
    whose retries are reported, and the reporter. :meth:`close` gives the connections back."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
        self.settings = settings
        self.environ = environ
        self.engine, self.state_engine = engines(settings)
        self.reporter = Reporter(environ)
        self.hub = Hub(settings.hub, on_retry=lambda message: self.reporter.warning(message, title="retrying"))

    def cycle(
        self, settings: Settings | None = None, *, reporter: Reporter | None = None,
        retry: Mapping[str, RetryStep | None] | None = None,
    ) -> Cycle:
        """One cycle, with these settings or others derived from them (the service's: some labels, no wait),
        and the failed steps ``orchestrator retry`` launches again."""
        return Cycle(
            settings=settings or self.settings, engine=self.engine, state_engine=self.state_engine, hub=self.hub,
            reporter=reporter or self.reporter, retry=retry,
        )

    def notify(self, result: RunResult) -> None:
        """Send the run's notifications, when any receiver is configured (a failure to send is a warning)."""
        if self.settings.notify.urls:
            from .report.notify import notify

            notify(result, self.settings.notify, self.reporter, self.environ)

    def service(self) -> Service:
        """``orchestrator serve``'s service: cycles on demand (each reported on its own), the status views,
        and a GitHub client when events are forwarded instead. The state tables are created first, so that
        the status page works before the first cycle."""
        from .serve.app import Service
        from .serve.runner import CycleRunner
        from .state.store import StateStore

        store = StateStore(self.state_engine)
        store.migrate()
        runner = CycleRunner(
            self.settings,
            cycle=lambda settings: self.cycle(settings, reporter=Reporter(self.environ)),
            reporter=lambda: Reporter(self.environ),
            on_result=self.notify,
        )
        forwarder = None
        if self.settings.serve.forward_to:
            from .remote.github import GitHub

            forwarder = GitHub.from_environ(self.settings.environ, timeout=self.settings.hub.timeout)
        return Service(self.settings, runner, engine=self.engine, store=store, forwarder=forwarder)

    def close(self) -> None:
        self.engine.dispose()
        self.state_engine.dispose()
