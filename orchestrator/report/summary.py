"""The documents a finished run leaves behind: the Markdown job summary and the step outputs (GitHub
Actions), beside the JSON summary (:meth:`~orchestrator.report.results.RunResult.to_dict`). Their names and
fields are a contract with workflows that read them."""

from __future__ import annotations

import json
import uuid

from .. import redact
from .results import AWAITING_APPROVAL, DEPLOYED, REJECTED, RETRAIN_RUNNING, RETRAINED, LabelResult, RunResult
from .tables import cell, metric_text


def markdown_summary(result: RunResult) -> str:
    """The job summary: one row per label, then what failed and what to check."""
    title = "Orchestrator run" + (" (dry run)" if result.dry_run else "")
    lines = [f"## {title}: {result.status}", ""]
    if result.error:
        lines += [f"**Stopped:** {cell(result.error)}", ""]
        if result.hint:
            lines += [f"What to do: {cell(result.hint)}", ""]
    for note in result.notes:
        lines += [f"> {cell(note)}", ""]
    if result.labels:
        lines += [
            "| label | corrections | dataset_len / threshold | decision | old version | new version | outcome | model |",
            "|---|---:|---:|---|---|---|---|---|",
        ]
        for r in result.labels:
            lines.append(
                f"| {cell(r.label)} | {r.corrections} | {r.dataset_len} / {r.threshold} | {cell(r.decision)} "
                f"| {cell(r.old_version)} | {cell(r.new_version)} | {cell(r.outcome)} | {cell(metric_text(r.metric_name, r.metric))} |"
            )
        lines.append("")
        ended = [r for r in result.labels if r.outcome in (DEPLOYED, REJECTED, AWAITING_APPROVAL) and r.retrain_reason]
        for r in ended:
            lines.append(f"- **{cell(r.label)}** {r.outcome}: {cell(r.retrain_reason)}")
        if ended:
            lines.append("")
        costs = [r for r in result.labels if r.cost]
        for r in costs:
            lines.append(f"- **{cell(r.label)}** cost: {cell(r.cost['text'])}")
        if costs:
            lines.append("")
    failures: list[LabelResult] = [r for r in result.labels if r.error]
    if failures:
        lines += ["### Problems", ""]
        for r in failures:
            hint = f" What to do: {cell(r.hint)}" if r.hint else ""
            lines.append(f"- **{cell(r.label)}** ({cell(r.outcome)}): {cell(r.error)}.{hint}")
        lines.append("")
    lines.append(f"_Started {result.started_at}, finished {result.finished_at}, exit code {result.exit_code}._")
    return "\n".join(lines) + "\n\n"


def step_outputs(result: RunResult) -> dict[str, str]:
    """The step outputs, but ``summary`` (the compact JSON)."""
    return {
        "status": result.status,
        "exit_code": str(result.exit_code),
        "triggered": ",".join(result.names(lambda r: r.fire and not result.dry_run)),
        "retrained": ",".join(
            result.names(lambda r: r.new_version is not None and r.outcome in (RETRAINED, RETRAIN_RUNNING))
        ),
        "deployed": ",".join(result.names(lambda r: r.outcome == DEPLOYED)),
        "rejected": ",".join(result.names(lambda r: r.outcome == REJECTED)),
        "awaiting_approval": ",".join(result.names(lambda r: r.outcome == AWAITING_APPROVAL)),
        "failed": ",".join(result.names(lambda r: r.failed)),
    }


def write_outputs(path: str, result: RunResult) -> None:
    """Append the step outputs to ``$GITHUB_OUTPUT``, ``summary`` as a multi-line value."""
    delimiter = f"ORCHESTRATOR_{uuid.uuid4().hex}"
    compact = json.dumps(result.to_dict(), ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in step_outputs(result).items():
            handle.write(f"{name}={redact.redact(value)}\n")
        handle.write(f"summary<<{delimiter}\n{redact.redact(compact)}\n{delimiter}\n")
