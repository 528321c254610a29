"""What the orchestrator tells people as it runs: log lines, GitHub Actions annotations and groups, the
live progress display, and at the end the documents of :mod:`.summary`. Every line passes through secret
redaction.

Under GitHub Actions (``GITHUB_ACTIONS=true``) logs are grouped per label with ``::group::`` and
problems become ``::warning``/``::error`` annotations; elsewhere they are plain timestamped lines on
stderr, and waiting on a terminal shows a live table.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .. import redact
from .results import RunResult
from .summary import markdown_summary, write_outputs


def escape_data(text: str) -> str:
    """Escape a workflow-command message (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (also ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Reporter:
    """Where the orchestrator's lines go: plain timestamped lines on stderr, or GitHub Actions' workflow
    commands (groups, annotations), the job summary and the step outputs when running under Actions."""

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
            write_outputs(self.output_path, result)


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


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
