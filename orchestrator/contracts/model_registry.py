"""The model registry: every model a retrain trained, kept as a version, and the one pointer that says which is
deployed. It lives in the label's model store (a Hub model repo, or a local folder standing in for one)::

    models.json                      the registry: the versions, the pointer, the promotions (this module)
    model.skops, metadata.json       the deployed version's files, at the root as the seed's inference side reads them
    versions/<version>/model.skops   every version's model, deployed or not
    versions/<version>/metadata.json its metadata: dataset version, decision and reason, scores, rows, parent...
    versions/<version>/evaluation.parquet  the rows the gate decided on, with both models' answers

The pointer is ``models.json``'s ``deployed``. It changes only in a commit that also writes the root's model files,
so the root and the pointer always agree (one commit per change on the Hub; locally, ``models.json`` is replaced
last). ``promotions`` keeps every change of the pointer: who, when, why, from which version.

A version's status follows from the registry: ``deployed`` (the pointer), ``retired`` (was deployed, replaced),
``awaiting_approval`` (passed the gate under manual approval, not yet promoted), or ``rejected`` (the gate
refused it, or a newer version was approved or deployed while it waited). Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ..errors import MetadataError

REGISTRY_FILENAME = "models.json"
VERSIONS_FOLDER = "versions"
MODEL_FILE = "model.skops"  # a version's model, and the deployed one at the root
MODEL_METADATA = "metadata.json"  # its metadata, likewise
EVALUATION_FILE = "evaluation.parquet"  # a version's evaluation rows: what the gate decided on, row by row
Status = Literal["deployed", "retired", "rejected", "awaiting_approval"]
Verdict = Literal["deployed", "rejected", "awaiting_approval"]  # what the retrain made of the version
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HINT = "models.json is written by the reference retrain and `orchestrator promote`; see docs/models.md"


@dataclass(frozen=True)
class Version:
    """One kept model: what it was trained on and how the gate judged it (its numbers in ``details``)."""

    version: str
    dataset_version: str
    created_at: str
    verdict: Verdict
    reason: str
    macro_f1: float | None = None
    parent: str | None = None  # the version it was compared with (the deployed one then), None for the first
    superseded_by: str | None = None  # a waiting version that a newer approved or deployed one replaced
    details: Mapping[str, Any] = field(default_factory=dict)  # scores per source, rows per source, code version, cost...


@dataclass(frozen=True)
class Promotion:
    """One change of the pointer: to ``version`` from ``previous``, by whom, when and why."""

    version: str
    previous: str | None
    by: str
    at: str
    reason: str
    kind: Literal["deploy", "promote", "rollback"] = "promote"
    key: str | None = None  # the ledger key of the promotion that made it (None: a retrain's deploy)


@dataclass(frozen=True)
class Registry:
    """The versions (oldest first), the pointer, and its changes (oldest first)."""

    versions: tuple[Version, ...] = ()
    deployed: str | None = None
    promotions: tuple[Promotion, ...] = ()

    def get(self, version: str) -> Version:
        for entry in self.versions:
            if entry.version == version:
                return entry
        known = ", ".join(entry.version for entry in self.versions[-5:]) or "none yet"
        raise KeyError(f"no model version {version!r} (the newest: {known})")

    def status(self, version: str) -> Status:
        entry = self.get(version)
        if version == self.deployed:
            return "deployed"
        if any(p.version == version for p in self.promotions):
            return "retired"
        if entry.verdict == "awaiting_approval" and entry.superseded_by is None:
            return "awaiting_approval"
        return "rejected"

    def reason(self, version: str) -> str:
        """Why the version has its status, in one line."""
        entry = self.get(version)
        status = self.status(version)
        if status == "rejected" and entry.superseded_by is not None:
            return f"superseded by {entry.superseded_by} while awaiting approval"
        moves = [p for p in self.promotions if p.version == version or p.previous == version]
        if status in ("deployed", "retired") and moves:
            last = moves[-1]
            return f"{last.kind} by {last.by} at {last.at}: {last.reason}" if last.version == version else (
                f"replaced by {last.version} ({last.kind} by {last.by} at {last.at})")
        return entry.reason

    def next_version(self, dataset_version: str) -> str:
        """A new version's name: its dataset version, with ``.2``, ``.3``... for a retrain of the same dataset."""
        taken = {entry.version for entry in self.versions}
        name, n = dataset_version, 1
        while name in taken:
            n += 1
            name = f"{dataset_version}.{n}"
        return name

    def previous(self) -> str | None:
        """What ``rollback`` goes back to: the version deployed before the last move forward (a retrain's deploy or a
        promotion), None if there is none. A rollback is not a move forward, so rolling back twice lands on the same
        version: the second changes nothing. Further back is ``promote --version``."""
        for promotion in reversed(self.promotions):
            if promotion.kind != "rollback":
                return promotion.previous
        return None

    def add(self, entry: Version) -> Registry:
        if any(v.version == entry.version for v in self.versions):
            raise ValueError(f"version {entry.version!r} exists")
        return replace(self, versions=(*self.versions, entry))

    def promote(self, promotion: Promotion) -> Registry:
        """Point at ``promotion.version``; every version still awaiting approval that is older is superseded."""
        self.get(promotion.version)
        order = [v.version for v in self.versions]
        position = order.index(promotion.version)
        versions = tuple(
            replace(v, superseded_by=promotion.version)
            if i < position and v.verdict == "awaiting_approval" and v.superseded_by is None
            and not any(p.version == v.version for p in self.promotions) else v
            for i, v in enumerate(self.versions)
        )
        return Registry(versions, promotion.version, (*self.promotions, promotion))

    def to_json(self) -> str:
        document = {"deployed": self.deployed, "versions": [asdict(v) for v in self.versions],
                    "promotions": [asdict(p) for p in self.promotions]}
        return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def valid_version(name: str) -> str:
    """A version name as a user types it: letters, digits, ``.``, ``_`` and ``-`` (it is a folder name)."""
    if not _VERSION.match(name):
        raise ValueError(f"{name!r} is not a model version name (letters, digits, '.', '_', '-')")
    return name


def parse_registry(raw: bytes | str | None, *, source: str) -> Registry:
    """Read ``models.json`` (None or empty: no version yet); :class:`MetadataError` names what is wrong."""
    if raw is None or not raw.strip():
        return Registry()
    try:
        document = json.loads(raw)
        versions = tuple(
            Version(**{**entry, "details": dict(entry.get("details") or {})}) for entry in document.get("versions", [])
        )
        promotions = tuple(Promotion(**entry) for entry in document.get("promotions", []))
        deployed = document.get("deployed")
    except (ValueError, TypeError, AttributeError) as exc:
        raise MetadataError(f"{source} is not a model registry: {type(exc).__name__}: {exc}"[:300], hint=_HINT) from None
    registry = Registry(versions, deployed, promotions)
    if deployed is not None:
        try:
            registry.get(deployed)
        except KeyError:
            raise MetadataError(f"{source}: the deployed version {deployed!r} is not one of its versions", hint=_HINT) from None
    return registry


def version_path(version: str, filename: str) -> str:
    return f"{VERSIONS_FOLDER}/{version}/{filename}"
