"""The cost per deployed improvement, per label, from the ledger's ended actions (a pure function: no I/O).

Every prepare and retrain records what it cost when it ended (:mod:`orchestrator.run.costs`). Per label, in
the ledger's order:

- **since the last deploy**: everything its actions cost after its last deploy (rejected, failed and not deployed
  retrains included, and the prepares that fed them), with the number of retrains among them;
- **the last deployed improvement**: everything from the deploy before it, after that one, up to and including
  the last deploy.

A deploy is a retrain whose outcome was ``deployed``, or a promotion of a version by hand (``orchestrator
promote``, after ``awaiting_approval``); a rollback is not. A prepare shared by several labels is split evenly
among them. Dollars are summed where the cost had a price (an HF Job's flavor, a GitHub workflow's
``usd_per_minute``); the time of the others (a command's or a Space's wall time) is kept apart as unpriced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..state.records import FIRST_DEPLOY, Action

SENT = ("ok", "reconciled")


@dataclass(frozen=True)
class Spend:
    """What a run of actions cost: dollars where priced, time in all, and the retrains among them."""

    usd: float | None = None  # the dollars of those with a price (None: none had one)
    seconds: float = 0.0  # the time of them all
    unpriced_seconds: float = 0.0  # the time of those without a price
    retrains: int = 0
    actions: int = 0

    def add(self, action: Action, share: float) -> Spend:
        seconds = (action.cost_seconds or 0.0) * share
        priced = action.cost_usd is not None
        return replace(
            self,
            usd=(self.usd or 0.0) + action.cost_usd * share if priced else self.usd,
            seconds=self.seconds + seconds,
            unpriced_seconds=self.unpriced_seconds + (0.0 if priced else seconds),
            retrains=self.retrains + (action.kind == "retrain"),
            actions=self.actions + 1,
        )

    def text(self) -> str:
        """``$1.23``, ``$1.23 + 5 min unpriced``, or ``5 min`` (nothing priced)."""
        if self.usd is None:
            return duration(self.seconds)
        unpriced = f" + {duration(self.unpriced_seconds)} unpriced" if self.unpriced_seconds >= 0.5 else ""
        return dollars(self.usd) + unpriced

    def to_dict(self) -> dict[str, Any]:
        return {"usd": self.usd, "seconds": round(self.seconds, 3), "unpriced_seconds": round(self.unpriced_seconds, 3),
                "retrains": self.retrains, "actions": self.actions}


@dataclass(frozen=True)
class LabelCost:
    """One label's spend since its last deploy, and what its last deployed improvement cost (None: no deploy
    recorded yet)."""

    label: str
    since_deploy: Spend
    last_improvement: Spend | None = None

    def text(self) -> str:
        since = f"{self.since_deploy.text()} ({_retrains(self.since_deploy.retrains)})"
        if self.last_improvement is None:
            return f"{since} spent, nothing deployed yet"
        last = self.last_improvement
        since = f"{since} since the last deploy" if self.since_deploy.actions else "nothing since the last deploy"
        return f"{since}; the last deployed improvement cost {last.text()} ({_retrains(last.retrains)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "since_last_deploy": self.since_deploy.to_dict(),
            "last_improvement": self.last_improvement.to_dict() if self.last_improvement else None,
            "text": self.text(),
        }


def is_deploy(action: Action) -> bool:
    """A retrain that deployed its model, or a version promoted by hand that was never deployed before (one that
    waited for approval, or that the gate rejected). Going back to an earlier model (a rollback, or promoting a
    retired version) is no improvement."""
    if action.kind == "retrain":
        return action.outcome == "deployed"
    return (action.kind == "promote" and action.key.startswith("promote:") and action.result in SENT
            and (action.detail or "").endswith(FIRST_DEPLOY))


def label_costs(actions: Iterable[Action], labels: Iterable[str]) -> dict[str, LabelCost]:
    """Per label of ``labels`` with anything recorded, its :class:`LabelCost`, from ``actions`` in the ledger's
    order (actions that have not ended, or ended before costs were recorded, count for nothing)."""
    wanted = set(labels)
    since: dict[str, Spend] = {}
    last: dict[str, Spend] = {}
    for action in actions:
        for name in (n for n in action.labels if n in wanted):
            spend = since.get(name, Spend())
            if action.ended_at is not None and action.kind in ("prepare", "retrain"):
                spend = spend.add(action, 1.0 / len(action.labels))
            since[name] = spend
            if is_deploy(action):
                last[name], since[name] = spend, Spend()
    return {name: LabelCost(name, spend, last.get(name)) for name, spend in since.items()
            if spend.actions or name in last}


def dollars(usd: float) -> str:
    """``$1.23``; a small amount with its first digits (``$0.0023``)."""
    return f"${usd:.4f}" if 0 < usd < 0.01 else f"${usd:,.2f}"


def duration(seconds: float) -> str:
    """``95 s``, ``12 min``, ``3.5 h``."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 100 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _retrains(count: int) -> str:
    return f"{count} retrain{'' if count == 1 else 's'}"
