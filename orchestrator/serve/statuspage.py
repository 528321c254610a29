"""The status page: server-side HTML of where each label stands, the deployed model's metric over time
(an inline SVG chart, no JavaScript), and the recent runs with any problem and its hint.

It renders the rows :mod:`orchestrator.report.views` gathers for ``orchestrator status`` and ``history``,
and nothing else: no setting, no URL with credentials, no secret is on the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .. import redact

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:.4rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.num{text-align:right}.state{font-weight:600}.problem{color:#a40e26}
.deployed{color:#116329}.rejected{color:#7d4e00}.awaiting_approval{color:#0550ae;font-weight:600}.failed{color:#a40e26}.muted{color:#57606a}
figure{margin:1rem 0}figcaption{font-weight:600}svg text{font:12px system-ui,sans-serif;fill:#57606a}
"""


def _t(value: Any) -> str:
    """One cell's text: escaped, redacted, an en dash for nothing."""
    if value is None or value == "":
        return "–"
    return escape(redact.redact(str(value)))


def metric_series(history: list[dict[str, Any]]) -> dict[str, list[tuple[str, float, str]]]:
    """Per label, (run start, metric, dataset version) of every deploy, oldest first."""
    series: dict[str, list[tuple[str, float, str]]] = {}
    for run in reversed(history):
        for name, entry in run["labels"].items():
            if entry.get("outcome") == "deployed" and entry.get("metric") is not None:
                series.setdefault(name, []).append((run["started_at"], float(entry["metric"]), entry.get("new_version") or ""))
    return series


def chart(name: str, points: list[tuple[str, float, str]], metric: str | None, *, width: int = 640, height: int = 180) -> str:
    """A line chart of the deployed model's metric, one point per deploy, as inline SVG."""
    if not points:
        return f'<p class="muted" data-chart="{_t(name)}" data-points="0">no deploy with a metric recorded yet</p>'
    pad = 36
    values = [p[1] for p in points]
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 0.01, high + 0.01
    step = (width - 2 * pad) / max(len(points) - 1, 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        return pad + index * step, height - pad - (value - low) / (high - low) * (height - 2 * pad)

    coords = [xy(i, v) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#0969da"><title>{_t(when)}: {value:.4f} ({_t(version)})</title></circle>'
        for (x, y), (when, value, version) in zip(coords, points)
    )
    label = _t(metric or "metric")
    return (
        f'<svg role="img" aria-label="{_t(name)}: {label} of the deployed model" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" data-chart="{_t(name)}" data-points="{len(points)}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#d0d7de"/>'
        f'<text x="4" y="{pad}">{high:.3f}</text><text x="4" y="{height - pad}">{low:.3f}</text>'
        f'<text x="{pad}" y="{height - 8}">{_t(points[0][0])}</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{_t(points[-1][0])}</text>'
        f'<polyline points="{line}" fill="none" stroke="#0969da" stroke-width="2"/>{dots}</svg>'
    )


def _cost(cost: dict[str, Any] | None) -> str:
    """Spent since the last deploy, and what the last deployed improvement cost (report/costs.py's text)."""
    return _t(cost["text"]) if cost else "–"


def _awaited(row: dict[str, Any]) -> str | None:
    """The dataset version a label waits for, or is being retrained on."""
    if row["state"] == "prepare_requested":
        return f"newer than {row['previous_version'] or 'none'}"
    if row["state"] in ("dataset_ready", "retrain_requested"):
        return f"{row['new_version']} (to retrain)"
    if row["state"] == "retraining":
        return f"{row['last_retrained_version']} (retraining)"
    return None


def render(
    status: list[dict[str, Any]], history: list[dict[str, Any]], *, runs: int = 50, title: str = "orchestrator"
) -> str:
    """The page: the chart from every run in ``history``, the table from its newest ``runs``. (A status
    token that came in the URL is not carried into the links: no secret is ever on the page.)"""
    rows = []
    for r in status:
        awaited = _awaited(r)
        outcome = r["last_outcome"]
        metric = f"{r['metric_name'] or 'metric'} {r['metric']:.4f}" if r["metric"] is not None else None
        rows.append(
            f'<tr data-label="{_t(r["label"])}"><td>{_t(r["label"])}</td><td class="state">{_t(r["state"])}</td>'
            f'<td class="num">{r["new_since_last_prepare"]} new / {r["corrections"]}</td>'
            f'<td class="num">{r["dataset_len"]} / {r["threshold"]}</td><td>{_t(r["plan"])}: {_t(r["plan_reason"])}</td>'
            f'<td>{_t(r["last_retrained_version"])}</td><td>{_t(awaited)}</td>'
            f'<td class="{_t(outcome)}">{_t(outcome)}{": " + _t(r["last_outcome_reason"]) if r["last_outcome_reason"] else ""}</td>'
            f'<td>{_t(metric)}</td><td class="cost">{_cost(r.get("cost"))}</td></tr>'
        )
    series = metric_series(history)
    charts = "".join(
        f'<figure><figcaption>{_t(r["label"])}</figcaption>{chart(r["label"], series.get(r["label"], []), r["metric_name"])}</figure>'
        for r in status
    )
    table = []
    for run in history[:runs]:
        labels = "; ".join(f"{_t(name)}: {_t(entry.get('outcome'))}" for name, entry in run["labels"].items())
        problems = [
            f"{_t(name)}: {_t(entry['error'])}" + (f" — {_t(entry['hint'])}" if entry.get("hint") else "")
            for name, entry in run["labels"].items()
            if entry.get("error")
        ]
        if run.get("error"):
            problems.insert(0, _t(run["error"]) + (f" — {_t(run['hint'])}" if run.get("hint") else ""))
        table.append(
            f'<tr><td>{_t(run["started_at"])}</td><td>{_t(run["run"][:8])}</td><td>{_t(run["mode"])}</td>'
            f'<td>{_t(run["status"])}</td><td>{labels or "–"}</td><td class="problem">{"<br>".join(problems) or "–"}</td></tr>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_t(title)}: status</title><style>{STYLE}</style></head>
<body><h1>{_t(title)}: where each label stands</h1>
<table id="labels"><thead><tr><th>label</th><th>state</th><th>corrections</th><th>dataset_len / threshold</th><th>plan</th>
<th>current version</th><th>awaited</th><th>last retrain</th><th>deployed model</th><th>cost</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>The deployed model's metric, per deploy</h2>{charts}
<h2>Recent runs</h2>
<table id="runs"><thead><tr><th>started</th><th>run</th><th>mode</th><th>status</th><th>labels</th><th>problem and hint</th></tr></thead>
<tbody>{"".join(table) or '<tr><td colspan="6" class="muted">no runs recorded yet</td></tr>'}</tbody></table>
<p class="muted">Read-only. JSON: <a href="api/status">api/status</a>, <a href="api/history">api/history</a>.</p>
</body></html>
"""
