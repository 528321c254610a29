"""Reporting: workflow-command escaping, the job summary, outputs and redaction."""

from __future__ import annotations

import io
import json

from orchestrator import redact
from orchestrator.report.reporter import Reporter, escape_data, escape_property
from orchestrator.report.results import LabelResult, RunResult
from orchestrator.report.summary import markdown_summary


def result(**kwargs) -> RunResult:
    labels = (
        LabelResult("department", 40, 60, 30, True, "r", decision="prepare", old_version="v1", new_version="v2",
                    outcome="retrain triggered"),
        LabelResult("urgency", 9, 13, 30, False, "r", outcome="failed", error="boom | pipe\nnewline", hint="look"),
        # prepared by an earlier run: its dataset arrived in this one
        LabelResult("topic", 2, 3, 30, False, "r", decision="pending", old_version="t1", new_version="t2",
                    outcome="retrain triggered"),
    )
    return RunResult(started_at="t0", finished_at="t1", dry_run=False, labels=labels, exit_code=1, **kwargs)


def test_workflow_command_escaping():
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("label a: b, c") == "label a%3A b%2C c"


def test_github_annotations_and_groups_are_escaped():
    out = io.StringIO()
    reporter = Reporter({"GITHUB_ACTIONS": "true"}, stream=out)
    with reporter.group("label x"):
        reporter.warning("line one\nline two", title="label x: timed out")
    assert out.getvalue().splitlines() == [
        "::group::label x",
        "::warning title=label x%3A timed out::line one%0Aline two",
        "::endgroup::",
    ]


def test_plain_logs_outside_github():
    out = io.StringIO()
    Reporter({}, stream=out).error("it broke", title="label y")
    assert out.getvalue().rstrip().endswith("ERROR: label y: it broke")


def test_markdown_summary_has_a_row_per_label_and_escapes_cells():
    markdown = markdown_summary(result())
    assert "| department | 40 | 60 / 30 | prepare | v1 | v2 | retrain triggered |" in markdown
    assert "| urgency | 9 | 13 / 30 | skip | – | – | failed |" in markdown
    assert "| topic | 2 | 3 / 30 | pending | t1 | t2 | retrain triggered |" in markdown  # not "skip"
    assert "boom \\| pipe newline" in markdown and "What to do: look" in markdown


def test_outputs_and_summary_files_are_redacted(tmp_path):
    redact.register("hf_reportsecretDDDDDDDDDDDDDD")
    summary, outputs = tmp_path / "s.md", tmp_path / "o.txt"
    reporter = Reporter(
        {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}, stream=io.StringIO()
    )
    run = result(error="token hf_reportsecretDDDDDDDDDDDDDD was refused")
    reporter.finish(run, summary_file=tmp_path / "j.json")
    for path in (summary, outputs, tmp_path / "j.json"):
        text = path.read_text()
        assert "hf_reportsecretDDDDDDDDDDDDDD" not in text and "***" in text
    assert json.loads((tmp_path / "j.json").read_text())["status"] == "error"
    assert "failed=urgency" in outputs.read_text().splitlines()


def test_redaction_of_urls_and_token_shapes():
    assert redact.redact("postgresql://app:" + "pw123" + "@db/x") == "postgresql://app:" + "***" + "@db/x"
    assert redact.redact("Bearer hf_abcdefghijklmnopqrstuv") == "Bearer ***"
