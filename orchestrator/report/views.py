"""Read-only views of the loop for ``orchestrator status`` and ``orchestrator history``.

They gather the live correction counts and the persisted state into plain rows; the report module
renders them. Nothing here writes, so both commands are safe to run at any time, even mid-run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from ..config.settings import Settings
from ..plan.planner import make_plan
from ..remote.feedback import count_feedback
from ..state.records import utc_now
from ..state.store import HEAD, StateStore
from .costs import label_costs


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def status_rows(settings: Settings, engine: Engine, store: StateStore) -> list[dict[str, Any]]:
    """One row per label: counts against the threshold, every trigger's verdict, what is new, the state and the
    versions, and what its deployed improvements cost (``cost``: None before anything of it ended)."""
    feedback = count_feedback(engine, settings.labels)
    migrated = store.schema_version() == HEAD
    states = store.labels() if migrated else {}
    runs = {run["id"]: run for run in store.history(limit=200)} if migrated else {}
    costs = label_costs(store.actions(), settings.label_names) if migrated else {}
    plan = make_plan(settings, states, feedback.corrections, reviewed=feedback.reviewed, now=utc_now(),
                     unconfirmed=store.unfinished() if migrated else ())
    rows = []
    for entry in plan.labels:
        state, decision = entry.state, entry.decision
        last_run = runs.get(state.last_run_id) if state.last_run_id else None
        rows.append(
            {
                "label": entry.name,
                "corrections": decision.corrections,
                "new_since_last_prepare": decision.counted,
                "dataset_len": decision.dataset_len,
                "threshold": decision.threshold,
                "reviewed": decision.reviewed,
                "would_fire": entry.step == "fire",
                "trigger": list(decision.trigger) if entry.step == "fire" else [],
                "triggers": [{"trigger": c.trigger, "fire": c.fire, "reason": c.reason} for c in decision.checks],
                "plan": entry.step,
                "plan_reason": entry.reason,
                "state": state.state,
                "waiting_since": _iso(state.requested_at),
                "previous_version": state.baseline_version,
                "new_version": state.dataset_version,
                "last_retrained_version": state.last_retrained_version,
                "retrain_ref": state.retrain_ref,
                "last_outcome": state.last_outcome,
                "last_outcome_reason": state.last_outcome_reason,
                "last_outcome_at": _iso(state.last_outcome_at),
                "metric": state.last_metric,
                "metric_name": state.last_metric_name,
                "last_error": state.last_error,
                "last_run": (
                    {"id": last_run["id"], "started_at": _iso(last_run["started_at"]), "status": last_run["status"]}
                    if last_run
                    else None
                ),
                "cost": costs[entry.name].to_dict() if entry.name in costs else None,
            }
        )
    return rows


def history_rows(store: StateStore, *, label: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Past runs, newest first; with ``label``, that label's decision and outcome in each run."""
    if store.schema_version() != HEAD:
        return []
    rows = []
    for run in store.history(limit=limit if label is None else max(limit * 5, 100)):
        summary = run["summary"] or {}
        labels = {entry["label"]: entry for entry in summary.get("labels", [])}
        row = {
            "run": run["id"],
            "started_at": _iso(run["started_at"]),
            "finished_at": _iso(run["finished_at"]),
            "mode": run["mode"],
            "status": run["status"],
            "exit_code": run["exit_code"],
            "notes": summary.get("notes", []),
            "error": summary.get("error"),
            "hint": summary.get("hint"),
            "labels": {
                name: {
                    "decision": entry.get("decision"),
                    "corrections": entry.get("corrections"),
                    "outcome": entry.get("outcome"),
                    "old_version": entry.get("old_version"),
                    "new_version": entry.get("new_version"),
                    "retrain_reason": entry.get("retrain_reason"),
                    "metric": entry.get("metric"),
                    "metric_name": entry.get("metric_name"),
                    "error": entry.get("error"),
                    "hint": entry.get("hint"),
                }
                for name, entry in labels.items()
            },
        }
        if label is not None:
            if label not in row["labels"]:
                continue
            row["labels"] = {label: row["labels"][label]}
        rows.append(row)
        if len(rows) >= limit:
            break
    return rows
