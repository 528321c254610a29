"""Plain text tables: the ``status`` and ``history`` commands' output (readable in a terminal, a CI log or
a pipe), and the cells every report shares."""

from __future__ import annotations

from typing import Any

from .. import redact


def cell(value: Any) -> str:
    """One cell: an en dash for nothing, no line breaks, and ``|`` escaped (a Markdown table's too)."""
    if value is None or value == "":
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def metric_text(name: str | None, value: float | None) -> str | None:
    """``macro_f1 0.8123``: the deployed model's headline metric, if known."""
    return f"{name or 'metric'} {value:.4f}" if value is not None else None


def text_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain, aligned text table (readable in a terminal, a CI log or a pipe)."""
    cells = [[cell(value) for value in row] for row in rows]
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
    triggers = [f"{r['label']}: {c['trigger']}{' fires' if c['fire'] else ''}: {c['reason']}" for r in rows
                if len(r["triggers"]) > 1 for c in r["triggers"][1:]]  # beyond the count, which the table shows
    reasons = [f"{r['label']}: last retrain {r['last_outcome']}: {r['last_outcome_reason']}" for r in rows
               if r["last_outcome_reason"] and r["last_outcome"] != "failed"]
    errors = [f"{r['label']}: last error: {r['last_error']}" for r in rows if r["last_error"]]
    costs = [f"{r['label']}: cost {r['cost']['text']}" for r in rows if r.get("cost")]
    return "\n".join([table, *triggers, *reasons, *costs, *errors])


def render_history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no runs recorded yet"
    body = []
    for run in rows:
        labels = "; ".join(
            f"{name}: {entry['decision']} → {entry['outcome']}"
            + (f" ({entry['old_version'] or '–'} → {entry['new_version']})" if entry.get("new_version") else "")
            + (f", {metric_text(entry.get('metric_name'), entry['metric'])}" if entry.get("metric") is not None else "")
            + (f" ({entry['retrain_reason']})" if run["mode"] in ("promote", "rollback") and entry.get("retrain_reason") else "")
            for name, entry in run["labels"].items()
        )
        note = run["error"] or (run["notes"][0] if run["notes"] else "")
        body.append([run["started_at"], run["run"][:8], run["mode"], run["status"], run["exit_code"], labels or note])
    return text_table(["started", "run", "mode", "status", "exit", "labels"], body)
