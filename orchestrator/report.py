"""Everything the orchestrator tells people: logs, GitHub Actions annotations, the job summary, step
outputs, the JSON summary and the live progress display. Every line passes through secret redaction.

Under GitHub Actions (``GITHUB_ACTIONS=true``) logs are grouped per label with ``::group::`` and
problems become ``::warning``/``::error`` annotations; elsewhere they are plain timestamped lines on
stderr, and waiting on a terminal shows a live table.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from . import redact
from .results import DEPLOYED, REJECTED, RETRAIN_RUNNING, RETRAINED, LabelResult, RunResult


def escape_data(text: str) -> str:
    """Escape a workflow-command message (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (also ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Reporter:
    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        stream: IO[str] | None = None,
        quiet: bool = False,
    ) -> None:
        self.stream = stream or sys.stderr
        self.github = environ.get("GITHUB_ACTIONS") == "true"
        self.summary_path = environ.get("GITHUB_STEP_SUMMARY") or None
        self.output_path = environ.get("GITHUB_OUTPUT") or None
        self.quiet = quiet
        self.interactive = not self.github and _isatty(self.stream)
        self._masked: set[str] = set()
        self._live: Any = None

    # ----------------------------------------------------------------------------------- lines
    def _emit(self, line: str) -> None:
        if self._live is not None:  # above the live table, not through it
            self._live.console.print(redact.redact(line), markup=False, highlight=False, soft_wrap=True)
            return
        self.stream.write(redact.redact(line) + "\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        if self.quiet:
            return
        prefix = "" if self.github else time.strftime("%H:%M:%S ")
        for line in message.splitlines() or [""]:
            self._emit(prefix + line)

    def warning(self, message: str, *, title: str | None = None) -> None:
        self._annotate("warning", message, title)

    def error(self, message: str, *, title: str | None = None) -> None:
        self._annotate("error", message, title)

    def _annotate(self, level: str, message: str, title: str | None) -> None:
        message = redact.redact(message)
        if self.github:
            props = f" title={escape_property(redact.redact(title))}" if title else ""
            self._emit(f"::{level}{props}::{escape_data(message)}")
        else:
            head = f"{title}: " if title else ""
            self._emit(f"{time.strftime('%H:%M:%S ')}{level.upper()}: {head}{message}")

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.github:
            self._emit(f"::group::{escape_data(title)}")
        else:
            self.info(f"── {title}")
        try:
            yield
        finally:
            if self.github:
                self._emit("::endgroup::")

    # ----------------------------------------------------------------------------------- waiting
    @contextlib.contextmanager
    def progress(self, labels: list[str], timeout: float) -> Iterator[Progress]:
        """A live table while waiting (terminal only); otherwise progress lines are logged."""
        tracker = Progress(self, labels, timeout)
        if not self.interactive or self.quiet:
            yield tracker
            return
        from rich.console import Console
        from rich.live import Live

        with Live(tracker.render(), console=Console(file=self.stream), refresh_per_second=4, transient=True) as live:
            tracker.live = self._live = live
            try:
                yield tracker
            finally:
                tracker.live = self._live = None

    # ----------------------------------------------------------------------------------- end of run
    def finish(self, result: RunResult, *, json_stdout: bool = False, summary_file: Path | None = None) -> None:
        document = json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
        document = redact.redact(document)
        if summary_file is not None:
            summary_file.parent.mkdir(parents=True, exist_ok=True)
            summary_file.write_text(document + "\n", encoding="utf-8")
        if json_stdout:
            sys.stdout.write(document + "\n")
            sys.stdout.flush()
        if self.summary_path:
            with open(self.summary_path, "a", encoding="utf-8") as handle:
                handle.write(redact.redact(markdown_summary(result)))
        if self.output_path:
            self._write_outputs(result, json.dumps(result.to_dict(), ensure_ascii=False))

    def _write_outputs(self, result: RunResult, compact_json: str) -> None:
        outputs = {
            "status": result.status,
            "exit_code": str(result.exit_code),
            "triggered": ",".join(result.names(lambda r: r.fire and not result.dry_run)),
            "retrained": ",".join(
                result.names(lambda r: r.new_version is not None and r.outcome in (RETRAINED, RETRAIN_RUNNING))
            ),
            "deployed": ",".join(result.names(lambda r: r.outcome == DEPLOYED)),
            "rejected": ",".join(result.names(lambda r: r.outcome == REJECTED)),
            "failed": ",".join(result.names(lambda r: r.failed)),
        }
        delimiter = f"ORCHESTRATOR_{uuid.uuid4().hex}"
        with open(self.output_path, "a", encoding="utf-8") as handle:  # type: ignore[arg-type]
            for name, value in outputs.items():
                handle.write(f"{name}={redact.redact(value)}\n")
            handle.write(f"summary<<{delimiter}\n{redact.redact(compact_json)}\n{delimiter}\n")


class Progress:
    """Per-label waiting state, shown live on a terminal or logged at each change."""

    def __init__(self, reporter: Reporter, labels: list[str], timeout: float) -> None:
        self.reporter = reporter
        self.started = time.monotonic()
        self.timeout = timeout
        self.state: dict[str, str] = {label: "waiting" for label in labels}
        self.live: Any = None

    def update(self, label: str, text: str) -> None:
        changed = self.state.get(label) != text
        self.state[label] = text
        if self.live is not None:
            self.live.update(self.render())
        elif changed:
            self.reporter.info(f"[{label}] {text}")

    def tick(self) -> None:
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Any:
        from rich.table import Table

        elapsed = time.monotonic() - self.started
        table = Table(title=f"waiting for datasets: {elapsed:.0f}s of {self.timeout:.0f}s", title_justify="left")
        table.add_column("label")
        table.add_column("status")
        for label, text in self.state.items():
            table.add_row(label, redact.redact(text))
        return table


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_summary(result: RunResult) -> str:
    """The job summary: one row per label, then what failed and what to check."""
    title = "Orchestrator run" + (" (dry run)" if result.dry_run else "")
    lines = [f"## {title}: {result.status}", ""]
    if result.error:
        lines += [f"**Stopped:** {_cell(result.error)}", ""]
        if result.hint:
            lines += [f"What to do: {_cell(result.hint)}", ""]
    for note in result.notes:
        lines += [f"> {_cell(note)}", ""]
    if result.labels:
        lines += [
            "| label | corrections | dataset_len / threshold | decision | old version | new version | outcome | model |",
            "|---|---:|---:|---|---|---|---|---|",
        ]
        for r in result.labels:
            lines.append(
                f"| {_cell(r.label)} | {r.corrections} | {r.dataset_len} / {r.threshold} | {_cell(r.decision)} "
                f"| {_cell(r.old_version)} | {_cell(r.new_version)} | {_cell(r.outcome)} | {_cell(metric_text(r.metric_name, r.metric))} |"
            )
        lines.append("")
        ended = [r for r in result.labels if r.outcome in (DEPLOYED, REJECTED) and r.retrain_reason]
        for r in ended:
            lines.append(f"- **{_cell(r.label)}** {r.outcome}: {_cell(r.retrain_reason)}")
        if ended:
            lines.append("")
    failures: list[LabelResult] = [r for r in result.labels if r.error]
    if failures:
        lines += ["### Problems", ""]
        for r in failures:
            hint = f" What to do: {_cell(r.hint)}" if r.hint else ""
            lines.append(f"- **{_cell(r.label)}** ({_cell(r.outcome)}): {_cell(r.error)}.{hint}")
        lines.append("")
    lines.append(f"_Started {result.started_at}, finished {result.finished_at}, exit code {result.exit_code}._")
    return "\n".join(lines) + "\n\n"


def metric_text(name: str | None, value: float | None) -> str | None:
    """``macro_f1 0.8123``: the deployed model's headline metric, if known."""
    return f"{name or 'metric'} {value:.4f}" if value is not None else None


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------- status, history
def text_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain, aligned text table (readable in a terminal, a CI log or a pipe)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return redact.redact("\n".join(lines))


def render_status(rows: list[dict[str, Any]]) -> str:
    table = text_table(
        ["label", "corrections", "new", "dataset_len/threshold", "plan", "state", "versions (prev → new)", "retrained",
         "last outcome", "model", "last run"],
        [
            [
                r["label"],
                r["corrections"],
                r["new_since_last_prepare"],
                f"{r['dataset_len']}/{r['threshold']}",
                r["plan"],
                r["state"] + (f" since {r['waiting_since']}" if r["waiting_since"] else ""),
                f"{r['previous_version'] or '–'} → {r['new_version'] or '–'}" if r["state"] != "idle" else "–",
                r["last_retrained_version"],
                r["last_outcome"],
                metric_text(r["metric_name"], r["metric"]),
                f"{r['last_run']['started_at']} {r['last_run']['status']}" if r["last_run"] else None,
            ]
            for r in rows
        ],
    )
    reasons = [f"{r['label']}: last retrain {r['last_outcome']}: {r['last_outcome_reason']}" for r in rows
               if r["last_outcome_reason"] and r["last_outcome"] != "failed"]
    errors = [f"{r['label']}: last error: {r['last_error']}" for r in rows if r["last_error"]]
    return "\n".join([table, *reasons, *errors])


def render_history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no runs recorded yet"
    body = []
    for run in rows:
        labels = "; ".join(
            f"{name}: {entry['decision']} → {entry['outcome']}"
            + (f" ({entry['old_version'] or '–'} → {entry['new_version']})" if entry.get("new_version") else "")
            + (f", {metric_text(entry.get('metric_name'), entry['metric'])}" if entry.get("metric") is not None else "")
            for name, entry in run["labels"].items()
        )
        note = run["error"] or (run["notes"][0] if run["notes"] else "")
        body.append([run["started_at"], run["run"][:8], run["mode"], run["status"], run["exit_code"], labels or note])
    return text_table(["started", "run", "mode", "status", "exit", "labels"], body)
