"""The model versions as ``orchestrator models`` shows them: one row per version, newest first, and one version's
lineage (its dataset, the feedback rows that dataset holds, its parent, the prepare that built it, its promotions).
Pure: the command reads the registry and hands it here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..contracts.model_registry import Registry
from ..state.records import Action
from .tables import text_table


def version_costs(registry: Registry, retrains: Sequence[Action]) -> dict[str, str]:
    """What each version cost: the ledger's cost of the retrain that made it (the retrains of one dataset version
    matched to its versions in order), else the retrain's own seconds, as its metadata says."""
    by_dataset: dict[str, list[Action]] = {}
    for action in retrains:
        if action.kind == "retrain" and action.version and action.cost_seconds is not None and action.outcome != "failed":
            by_dataset.setdefault(action.version, []).append(action)
    costs: dict[str, str] = {}
    for entry in registry.versions:
        queue = by_dataset.get(entry.dataset_version) or []
        if queue:
            action = queue.pop(0)
            costs[entry.version] = (f"${action.cost_usd:.2f} ({action.cost_basis})" if action.cost_usd is not None
                                    else action.cost_basis or f"{action.cost_seconds:.0f} s")
        elif entry.details.get("seconds") is not None:
            costs[entry.version] = f"{float(entry.details['seconds']):.0f} s (the retrain's own time)"
    return costs


def model_rows(registry: Registry, costs: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """``version``, ``dataset_version``, ``status``, ``macro_f1``, ``created_at``, ``cost`` (and why), newest first."""
    costs = costs or {}
    return [
        {
            "version": entry.version,
            "dataset_version": entry.dataset_version,
            "status": registry.status(entry.version),
            "macro_f1": entry.macro_f1,
            "created_at": entry.created_at,
            "cost": costs.get(entry.version),
            "reason": registry.reason(entry.version),
        }
        for entry in reversed(registry.versions)
    ]


def model_detail(registry: Registry, version: str, *, dataset_place: str, costs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything kept about ``version``: its row, its numbers, and its lineage down to the feedback rows."""
    entry = registry.get(version)
    details = dict(entry.details)
    lineage = dict(details.pop("lineage", None) or {})
    ids_file = lineage.get("feedback_ids")
    row = next(r for r in model_rows(registry, costs) if r["version"] == version)
    return {
        **row,
        "parent": entry.parent,
        "superseded_by": entry.superseded_by,
        "gate": {"verdict": entry.verdict, "reason": entry.reason},
        "lineage": {
            "dataset_version": entry.dataset_version,
            "feedback_rows": lineage.get("feedback_rows"),
            "feedback_ids": f"{dataset_place} @ {entry.dataset_version}: {ids_file}" if ids_file else None,
            "parent": entry.parent,
            "dataset": {key: value for key, value in lineage.items() if key not in ("feedback_ids", "feedback_rows")},
        },
        "promotions": [
            {"kind": p.kind, "from": p.previous, "to": p.version, "by": p.by, "at": p.at, "reason": p.reason}
            for p in registry.promotions if version in (p.version, p.previous)
        ],
        "details": details,
    }


def render_models(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no model versions yet: a retrain keeps each model it trains"
    return text_table(
        ["version", "dataset_version", "status", "macro_f1", "created_at", "cost", "why"],
        [[r["version"], r["dataset_version"], r["status"], f"{r['macro_f1']:.4f}" if r["macro_f1"] is not None else None,
          _short(r["created_at"][:19]), r["cost"], _short(r["reason"])] for r in rows],
    )


def _short(text: str | None, width: int = 72) -> str | None:
    """A table cell's first clause, cut to ``width`` (``--json`` and ``--version`` give the whole reason)."""
    if not text:
        return text
    first = text.split("; ")[0]
    return first if len(first) <= width else first[: width - 1] + "…"
