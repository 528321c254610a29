"""Every model a retrain trains is kept as a version of the label's model store, deployed or not
(:mod:`orchestrator.contracts.model_registry` says how the store is laid out).

One commit per retrain writes the new version's files (``versions/<version>/``), the decision record
(``decisions/``), ``retrain_result.json`` and the registry; when the gate accepts it under automatic approval,
also the root's ``model.skops`` and ``metadata.json`` (the seed's layout, which the inference side reads) and the
pointer. Under manual approval an accepted model waits (``awaiting_approval``) until ``orchestrator promote``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import __version__
from orchestrator.contracts.model_registry import (
    EVALUATION_FILE,
    MODEL_FILE,
    MODEL_METADATA,
    REGISTRY_FILENAME,
    Promotion,
    Registry,
    Version,
    valid_version,
    version_path,
)
from orchestrator.contracts.retrain_result import RESULT_FILENAME
from orchestrator.remote.stores import Store, read_registry

from .model import Model, save

def code_version() -> str:
    """This package's version, with the git commit when it runs from a clone."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def keep(
    models: Store,
    outcome: Any,
    model: Model,
    *,
    approval: str,
    seconds: float,
    lineage: dict[str, Any],
    scratch: Path,
    parent: str | None = None,
    training_rows: dict[str, int] | None = None,
    evaluation: Mapping[str, Sequence[Any]] | None = None,
    review_share: dict[str, Any] | None = None,
) -> Version:
    """Publish ``model`` as a new version with the gate's ``outcome`` (a :class:`~orchestrator.jobs.retrain.Outcome`);
    deploy it when the gate accepted it and approval is automatic. ``evaluation`` (columns) is kept beside it as
    ``evaluation.parquet``: the rows the gate decided on. ``review_share``, when given, goes into its details: the
    share of mistakes reviewed that the decisions use while it serves. Returns the version kept."""
    initial = registry = read_registry(models)
    if not registry.versions:
        registry = _adopt(models, registry, scratch)
    name = registry.next_version(outcome.dataset_version)
    verdict = ("awaiting_approval" if approval == "manual" else "deployed") if outcome.accepted else "rejected"
    scores = outcome.challenger or {}
    entry = Version(
        version=name,
        dataset_version=outcome.dataset_version,
        created_at=outcome.decided_at,
        verdict=verdict,
        reason=outcome.reason,
        macro_f1=scores.get("pooled"),
        parent=parent or registry.deployed,  # the champion it was compared with
        details={
            "scores": scores,
            "champion_scores": outcome.champion,
            "training_rows": training_rows,
            "evaluation_rows": (outcome.evidence or {}).get("sources"),
            "recipe": outcome.recipe,
            "win_rate": outcome.win_rate,
            "code_version": code_version(),
            "seconds": round(seconds, 1),
            "lineage": lineage,
            **({"review_share": review_share} if review_share else {}),
        },
    )
    registry = registry.add(entry)
    metadata = {**asdict(outcome), "version": name, "parent": registry.get(name).parent, "decision": verdict,
                "metric": "macro_f1", "details": dict(entry.details)}
    save(model, scratch / version_path(name, MODEL_FILE))
    _write_json(scratch / version_path(name, MODEL_METADATA), metadata)
    if evaluation:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {"weight": pa.float64(), "out_of_fold": pa.bool_()}  # the rest are text, None where there is none
        schema = pa.schema([(key, columns.get(key, pa.string())) for key in evaluation])
        pq.write_table(pa.table(dict(evaluation), schema=schema), scratch / version_path(name, EVALUATION_FILE))
    stamp = outcome.decided_at.replace(":", "").replace("-", "")
    _write_json(scratch / "decisions" / f"{stamp}_{outcome.dataset_version}.json", {**asdict(outcome), "model_version": name})
    _write_json(scratch / RESULT_FILENAME, result_document(outcome, verdict, name))
    if verdict == "deployed":
        registry = registry.promote(Promotion(name, entry.parent, "retrain", outcome.decided_at, outcome.reason, "deploy"))
        shutil.copyfile(scratch / version_path(name, MODEL_FILE), scratch / MODEL_FILE)  # the same bytes
        _write_json(scratch / MODEL_METADATA, metadata)
    registry = _again(models, initial, registry, entry)
    (scratch / REGISTRY_FILENAME).write_text(registry.to_json(), encoding="utf-8")
    message = {"deployed": "deploy", "awaiting_approval": "keep (awaiting approval)", "rejected": "reject"}[verdict]
    tag = {"deployed": "model", "awaiting_approval": "awaiting", "rejected": "rejected"}[verdict] + f"-{name}"
    models.commit(scratch, message=f"{message} {outcome.label} model {name}", last=REGISTRY_FILENAME, tag=tag)
    return registry.get(name)


def _again(models: Store, initial: Registry, built: Registry, entry: Version) -> Registry:
    """The registry to commit, read again just before the commit: a promotion made while this retrain trained is
    kept, not overwritten by the copy read at its start. (The orchestrator refuses promotions while a label
    retrains; a retrain run by hand is the case left.)"""
    fresh = read_registry(models)
    if fresh == initial:
        return built
    merged = fresh if any(v.version == entry.version for v in fresh.versions) else fresh.add(entry)
    deploy = next((p for p in reversed(built.promotions) if p.version == entry.version), None)
    return merged.promote(replace(deploy, previous=merged.deployed)) if deploy else merged


def _adopt(models: Store, registry: Registry, scratch: Path) -> Registry:
    """A model deployed before versions were kept (root files, no registry) becomes the first version, deployed,
    with its files under ``versions/`` in the same commit as the new one: rollback can go back to it."""
    raw = models.read(MODEL_METADATA)
    if raw is None:
        return registry
    try:
        old = json.loads(raw)
    except ValueError:
        old = {}
    old = old if isinstance(old, dict) else {}
    name = adopted_version(old)
    target = scratch / version_path(name, MODEL_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="adopt-") as aside:  # not inside the folder being committed
        fetched = models.fetch([MODEL_FILE], version=None, into=Path(aside))
        shutil.copyfile(fetched / MODEL_FILE, target)
    (scratch / version_path(name, MODEL_METADATA)).write_bytes(raw)
    at = str(old.get("decided_at") or "")
    scores = old.get("challenger") if isinstance(old.get("challenger"), dict) else {}
    entry = Version(name, str(old.get("dataset_version") or name), at, "deployed",
                    str(old.get("reason") or "deployed before model versions were kept"),
                    macro_f1=scores.get("pooled"), details={"adopted": True})
    return registry.add(entry).promote(Promotion(name, None, "retrain (adopted)", at, "deployed before versions were kept",
                                                 "deploy"))


def result_document(outcome: Any, verdict: str, version: str) -> dict[str, Any]:
    """The decision as the retrain result contract has it (orchestrator.contracts.retrain_result): the metrics are
    those of the model in service after it (the challenger if deployed, else the champion)."""
    kept = outcome.challenger if verdict == "deployed" else (outcome.champion or {})
    metrics = {"macro_f1": kept["pooled"]} if kept.get("pooled") is not None else {}
    metrics.update({f"macro_f1_{source}": v for source, v in kept.items() if source != "pooled" and v is not None})
    document: dict[str, Any] = {
        "dataset_version": outcome.dataset_version,
        "decision": verdict,
        "reason": outcome.reason,
        "metrics": metrics,
        "decided_at": outcome.decided_at,
        "model_version": version,
    }
    if metrics:
        document["metric"] = "macro_f1"
    return document


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def adopted_version(metadata: Mapping[str, Any]) -> str:
    """The version a model deployed before versions were kept is adopted as (:func:`_adopt`): named after its dataset
    version."""
    return _safe_name(str(metadata.get("dataset_version") or "legacy"))


def champion_version(champion_meta: Mapping[str, Any], registry: Registry) -> str | None:
    """The deployed model's version: its metadata's; else the registry's deployed one (a model deployed before its
    metadata named its version); else, with no version kept yet, the one :func:`keep` will adopt it as."""
    version = champion_meta.get("version")
    if isinstance(version, str):
        return version
    if registry.deployed is None and not registry.versions:
        return adopted_version(champion_meta)
    return registry.deployed


def _safe_name(name: str) -> str:
    try:
        return valid_version(name)
    except ValueError:
        return "legacy"
