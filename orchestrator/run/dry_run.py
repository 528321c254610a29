"""The dry run's plan, as it prints it: what a real run would launch, wait for and check, after the same reads
and read-only checks a real run makes. A dry run writes nothing, anywhere."""

from __future__ import annotations

import os

from ..config.settings import LabelConfig
from ..config.sources import LocalFileSource
from ..contracts.metadata import DatasetMetadata
from ..plan.planner import Plan
from ..report.results import PLANNED
from .context import RunContext

Baselines = dict[str, DatasetMetadata | None]


def print_plan(ctx: RunContext, plan: Plan, firing: list[LabelConfig], waiting: list[LabelConfig], baselines: Baselines) -> None:
    """What a real run would do now, as a dry run prints it (having read and checked everything it reads and checks)."""
    settings = ctx.settings
    say = ctx.reporter.info
    say("DRY RUN: nothing is restarted, recorded or awaited. The plan:")
    for target, members in ctx.by_target(firing, "prepare").items():
        say(f"  would launch prepare: {target.describe()} for {', '.join(label.name for label in members)}")
    how_long = f"for up to {settings.poll_timeout:.0f}s" if settings.wait else "once (non-blocking)"
    for label in firing:
        result, old = ctx.results[label.name], baselines.get(label.name)
        if result.trigger:  # (a retried prepare says why in its own line)
            say(f"  [{label.name}] fires by {', '.join(result.trigger)}: {result.reason}")
        say(
            f"  [{label.name}] would wait {how_long} for version_tag to change from "
            f"{old.version_tag if old else 'none'} with num_samples >= {ctx.results[label.name].required}, "
            f"then launch retrain: {label.retrain.describe()}"
        )
        folder = os.path.dirname(label.metadata.path) if isinstance(label.metadata, LocalFileSource) else None
        if folder is not None and not os.path.isdir(folder):
            ctx.reporter.warning(
                f"the metadata folder {folder} does not exist: unless the prepare job creates it, a real run "
                "would wait for nothing",
                title=f"label {label.name}: plan",
            )
        ctx.update(label.name, outcome=PLANNED)
    retried = {entry.name for entry in plan.labels if entry.retry}
    for label in waiting:
        state = ctx.journal.state(label.name)
        if label.name in retried:
            say(f"  [{label.name}] would launch retrain again: {label.retrain.describe()} on "
                f"{state.last_retrained_version} (retry)")
            continue
        say(
            f"  [{label.name}] pending: would check {how_long} for a version newer than "
            f"{state.baseline_version or 'none'}, then launch retrain: {label.retrain.describe()}"
        )
    for label in plan.of("follow"):
        state = ctx.journal.state(label.name)
        say(
            f"  [{label.name}] retraining: would check how the retrain of {state.last_retrained_version} "
            f"({state.retrain_ref or label.retrain.describe()}) ended"
        )
    for entry in plan.labels:
        if entry.unconfirmed is not None:
            action = entry.unconfirmed
            say(
                f"  [{entry.name}] the {action.kind} recorded by run {action.run_id[:8]} is unconfirmed: the next "
                f"real run checks {action.target} first"
            )
