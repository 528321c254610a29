"""The reference retrain job: train candidate challengers on one dataset version, compare them with the
deployed champion on rows none of them trained on, and deploy the best only if it is really better.

1. **Candidates** (:mod:`orchestrator.jobs.candidates`): one model per training weight of the
   model-labelled rows in ``jobs.sampled_weights``, trained on the ``train`` split.
2. **Evidence** (:mod:`orchestrator.jobs.evaluation_rows`, :mod:`orchestrator.jobs.hidden`, scored by
   :mod:`orchestrator.jobs.evaluate`): the held-out rows (``eval`` and ``test``, never
   trained on by the champion: those it did are left out), plus the training rows the champion never saw,
   scored out of fold.
3. **The gate** (:mod:`orchestrator.jobs.gate`): the candidate with the largest pooled gain is
   deployed if that gain is real, not noise, and not bought with a regression on the golden slice.

Every model trained is kept as a version of the model store, with its decision (:mod:`orchestrator.jobs.versions`):
written to ``decisions/`` and printed, with the numbers it was made on, the scores per source and every
candidate's result, and as ``retrain_result.json`` (the contract the orchestrator follows outcomes by) at its
root. A deploy (the gate accepted it, and approval is automatic) also writes the root's ``model.skops`` and
``metadata.json`` and restarts the inference Space, if one is configured; under manual approval the model waits
for ``orchestrator promote``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.contracts.metadata import METADATA_FILENAME, parse_metadata
from orchestrator.contracts.model_registry import version_path
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.remote.hub import Hub
from orchestrator.remote.stores import read_registry

from . import gate
from .candidates import BaseOutOfFold, Candidate, train_candidates
from .dataset import HELD_OUT, Split, read_ids, read_split, split_path
from .error_rate import base_error, champion_out_of_fold
from .evaluate import class_indices, compare, encode, per_source, weighted_macro_f1
from .evaluation_rows import Rows
from .hidden import (
    Hidden,
    champion_share,
    hidden_mistakes,
    share_to_carry,
)
from .model import Features, Model, load
from .prepare import DATASET_FILES, dataset_store
from .settings import JobLabel, JobsConfig, JobSettings
from .storage import Store, label_store
from .tracking import Tracker
from .versions import MODEL_FILE, MODEL_METADATA, champion_version, keep

MIN_FRESH_ROWS = 20  # fewer rows the champion never saw are not worth the out-of-fold models


@dataclass(frozen=True)
class Outcome:
    label: str
    dataset_version: str
    accepted: bool
    reason: str
    challenger: dict[str, float | None]  # scores: pooled, per source
    champion: dict[str, float | None] | None
    win_rate: float | None  # share of paired bootstrap resamples the challenger won
    decided_at: str
    recipe: str | None = None  # the chosen candidate
    candidates: tuple[dict[str, Any], ...] = ()
    evidence: dict[str, Any] | None = None


def model_store(label: JobLabel, hub: Hub) -> Store:
    return label_store(label, "model", hub)


def deployed_model(store: Store, scratch: Path) -> Model | None:
    """The champion, if one is deployed (loaded with skops, type allowlist enforced)."""
    return deployed(store, scratch)[0]


def deployed(store: Store, scratch: Path) -> tuple[Model | None, dict[str, Any]]:
    """The champion and its metadata (empty when nothing is deployed)."""
    raw = store.read(MODEL_METADATA)
    if raw is None:
        return None, {}
    folder = store.fetch([MODEL_FILE], version=None, into=scratch)
    try:
        metadata = json.loads(raw)
    except ValueError:
        metadata = {}
    return load(folder / MODEL_FILE), metadata if isinstance(metadata, dict) else {}


def _sampled_weight(metadata_extra: dict[str, Any], train: Split, held: Split) -> float:
    """How many unflagged complaints one sampled row stands for (1 when the dataset does not say)."""
    population = metadata_extra.get("population")
    unflagged = population.get("unflagged") if isinstance(population, dict) else None
    sampled = sum(s == "sampled" for s in train.sources) + sum(s == "sampled" for s in held.sources)
    if not isinstance(unflagged, int) or sampled == 0:
        return 1.0
    return max(unflagged / sampled, 1.0)


def _concat(*splits: Split) -> Split:
    return Split(*(sum((getattr(s, f.name) for s in splits), []) for f in fields(Split)))


def _rows(split: Split, indices: list[int] | None, sampled_weight: float) -> Rows:
    chosen = range(len(split)) if indices is None else indices
    return Rows(
        texts=tuple(split.texts[i] for i in chosen),
        labels=tuple(split.labels[i] for i in chosen),
        served=tuple(split.served[i] for i in chosen),
        sources=tuple(split.sources[i] for i in chosen),
        weights=tuple(sampled_weight if split.sources[i] == "sampled" else 1.0 for i in chosen),
    )


@dataclass(frozen=True)
class Seen:
    """What the champion's dataset tells of the current one's rows: indices into its train and held-out rows, and
    the ids the champion's dataset held."""

    unseen: list[int]  # training rows it never saw, or saw with another label
    fresh: list[int]  # of those, the rows compared on out of fold: all but base rows, which the golden slice represents
    trained_held: list[int]  # held-out rows it trained on (now held out, as more is): never compared on
    trained_ids: frozenset[str]  # the ids of its training rows
    held_ids: frozenset[str] | None  # the ids of its held-out rows; None when they could not be read

    def served(self, held_ids: Iterable[str], fresh_ids: Iterable[str]) -> list[bool] | None:
        """Which evaluation rows (held-out, then fresh) the champion served: the complaints that arrived after its
        dataset was cut, that is, in none of its splits. (A complaint left out of its dataset by a sample cap or the
        ``seed`` recipe, and sampled later, counts as served by it too.) Held-out rows count as not served when its
        held-out splits could not be read; with no fresh rows either, which rows it served is not known (None)."""
        known = self.trained_ids | (self.held_ids or frozenset())
        fresh = [row_id not in known for row_id in fresh_ids]
        if self.held_ids is None and not fresh:
            return None
        return [self.held_ids is not None and row_id not in known for row_id in held_ids] + fresh


def fresh_rows(
    datasets: Store, champion_meta: dict[str, Any], train: Split, held: Split, scratch: Path, log: Callable[[str], None], name: str
) -> Seen | None:
    """What the champion saw of ``train`` and ``held``, from its dataset; None when that dataset is not known. A base
    row it never trained on (it left the golden slice as the base set grew) or trained on with another label trains
    the candidates but is not compared on: the golden slice is the representative rows no model trained on."""
    version = champion_meta.get("dataset_version")
    if not isinstance(version, str) or not version:
        log(f"[{name}] the champion's metadata names no dataset version: comparing on held-out rows only, and held-out "
            "rows it may have trained on cannot be told")
        return None
    try:
        folder = datasets.fetch([split_path("train")], version=version, into=scratch)
        seen_split = read_split(folder, "train")
    except (OrchestratorError, OSError, ValueError) as exc:
        log(f"[{name}] the champion's dataset {version} cannot be read ({exc}); comparing on held-out rows only, and "
            "held-out rows it may have trained on cannot be told")
        return None
    try:
        folder = datasets.fetch([split_path(split) for split in HELD_OUT], version=version, into=scratch)
        held_ids = frozenset(row_id for split in HELD_OUT for row_id in read_ids(folder, split))
    except (OrchestratorError, OSError, ValueError) as exc:
        log(f"[{name}] the champion's held-out rows in {version} cannot be read ({exc}): the share of its mistakes "
            "reviewed is learned on the rows scored out of fold only")
        held_ids = None
    seen = dict(zip(seen_split.ids, seen_split.labels))
    unseen = [i for i, (row_id, label) in enumerate(zip(train.ids, train.labels)) if seen.get(row_id) != label]
    fresh = [i for i in unseen if train.sources[i] != "base"]
    trained_held = [i for i, row_id in enumerate(held.ids) if row_id in seen]
    return Seen(unseen, fresh, trained_held, frozenset(seen), held_ids)


def retrain(
    settings: JobSettings,
    label: JobLabel,
    *,
    dataset_version: str | None = None,
    log: Callable[[str], None] = print,
    hub: Hub | None = None,
) -> Outcome:
    """Train, evaluate against the champion, and deploy if the gate accepts. Returns the decision. ``hub``
    is the job's Hub client (default: one built from the settings)."""
    started = time.monotonic()
    jobs = settings.jobs
    hub = hub or Hub(settings.hub)
    datasets, models = dataset_store(label, hub), model_store(label, hub)
    with tempfile.TemporaryDirectory(prefix=f"retrain-{label.name}-") as tmp:
        scratch = Path(tmp)
        folder = datasets.fetch(DATASET_FILES, version=dataset_version, into=scratch / "dataset")
        metadata = parse_metadata((folder / METADATA_FILENAME).read_bytes(), source=f"{datasets.describe()} metadata")
        version = metadata.version_tag
        train = read_split(folder, "train")
        held = _concat(*(read_split(folder, split) for split in HELD_OUT))
        if not len(held):
            raise ConfigError(f"dataset {version} has no held-out rows", hint="the dataset is too small to evaluate on")
        champion, champion_meta = deployed(models, scratch / "champion")
        looked = fresh_rows(datasets, champion_meta, train, held, scratch / "seen", log, label.name) if champion else None
        unseen, fresh = (looked.unseen, looked.fresh) if looked is not None else (None, [])
        left_out = looked.trained_held if looked is not None else []
        if left_out:
            log(f"[{label.name}] {len(left_out)} held-out rows were training rows of the champion's dataset "
                "(more is held out now: a smaller base set, or a larger max_golden_rows): they are left out of the comparison")
            held = held.without(left_out)
            if not len(held):
                raise ConfigError(f"dataset {version}: the champion trained on every held-out row",
                                  hint="more is held out than when it trained (a smaller base set, or a larger "
                                       "jobs.max_golden_rows): restore the setting, or let more feedback arrive")
        folds = jobs.crossfit_folds if len(fresh) >= MIN_FRESH_ROWS else 0
        if folds < 2:
            fresh = []
        log(
            f"[{label.name}] training on dataset {version}: {len(train)} train rows, {len(held)} held-out rows "
            f"({sum(held.golden)} golden), {len(fresh)} rows the champion never saw"
        )
        features = Features.fit(train.texts)
        candidates = _train(train, held, fresh, jobs, folds, log, label.name, features)
        if len(candidates[0].predicted) < len(held) + len(fresh):
            fresh = []
        weight = _sampled_weight(metadata.model_extra or {}, train, held)
        rows = _rows(held, None, weight) + _rows(train, fresh, weight)
        out_of_fold, why_not = (
            champion_out_of_fold(features, train, unseen, jobs, held) if champion else (BaseOutOfFold(), None)
        )
        served = looked.served(held.ids, (train.ids[i] for i in fresh)) if looked is not None else None
        carried = registry = champion_name = None
        if champion:  # the share the champion carries, else the fullest one learned on its traffic, where it is reused
            registry = read_registry(models)
            champion_name = champion_version(champion_meta, registry)
            carried = champion_share(registry, champion_name, champion_meta, learns=served is not None)
        chosen, decision, comparisons, evidence, champion_scores = _judge(
            rows, candidates, champion, jobs, log=log, name=label.name, out_of_fold=out_of_fold, served=served,
            why_not=why_not, carried=carried,
        )
        outcome = Outcome(
            label=label.name,
            dataset_version=version,
            accepted=decision.accept,
            reason=decision.reason,
            challenger=_scores(evidence, rows, chosen.predicted),
            champion=champion_scores,
            win_rate=comparisons[chosen.weight]["wins"] if comparisons else None,
            decided_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            recipe=chosen.name,
            candidates=tuple(
                {"recipe": c.name, **comparisons.get(c.weight, {}), "scores": _scores(evidence, rows, c.predicted)}
                for c in candidates
            ),
            evidence={
                "held_out_rows": len(held),
                "fresh_rows": len(fresh),
                "golden_rows": sum(held.golden),
                "held_out_left_out": len(left_out),  # held-out rows the champion trained on (more held out now)
                "sources": {s: rows.count(s) for s in ("base", "feedback", "confirmed", "sampled")},
                "hidden_mistakes": evidence["hidden"],
                "hidden_per_correction": round(evidence["hidden_found"].per_correction, 4),
            },
        )
        lineage = {"dataset_version": version, **dict((metadata.model_extra or {}).get("lineage") or {})}
        approval = label.approval or jobs.approval
        kept = keep(models, outcome, chosen.model, approval=approval,
                    seconds=time.monotonic() - started, lineage=lineage, scratch=scratch / "record",
                    parent=champion_meta.get("version") if champion else None,
                    training_rows={source: train.sources.count(source) for source in sorted(set(train.sources))},
                    evaluation=_evaluation(held, train, fresh, rows, evidence.get("champion_predicted"), chosen.predicted),
                    review_share=share_to_carry(registry, champion_name, champion_meta, carried, evidence["hidden_found"])
                    if registry is not None else None)
        said = {"deployed": "DEPLOYED", "awaiting_approval": "AWAITING APPROVAL", "rejected": "NOT deployed"}[kept.verdict]
        log(f"[{label.name}] {said} as model version {kept.version} ({version}, {chosen.name}): {decision.reason}")
        if kept.verdict == "awaiting_approval":
            log(f"[{label.name}] to deploy it: orchestrator promote --label {label.name} --version {kept.version}")
        # tracking only watches: a failure is a warning line, never this retrain's failure
        Tracker(settings, log=log).log_retrain(
            outcome, kept, dataset=metadata, model_file=scratch / "record" / version_path(kept.version, MODEL_FILE),
            approval=approval, sampled_row_weight=weight,
        )
    if kept.verdict == "deployed" and label.inference_space:
        stage = hub.restart_space(label.inference_space)
        log(f"[{label.name}] inference Space {label.inference_space} restarted (stage {stage})")
    return outcome


def _train(
    train: Split, held: Split, fresh: list[int], jobs: JobsConfig, folds: int, log, name: str, features: Features
) -> list[Candidate]:
    """The candidates; out-of-fold scoring is dropped if a fold cannot be trained (too few classes left)."""
    try:
        return train_candidates(train, held.texts, fresh, weights=jobs.sampled_weights, folds=folds, seed=jobs.seed, features=features)
    except ValueError as exc:
        if not fresh:
            raise ConfigError(f"label {name}: cannot train on this dataset: {exc}", hint="the dataset needs rows of at least two classes") from None
        log(f"[{name}] out-of-fold scoring skipped ({exc}); comparing on held-out rows only")
        return train_candidates(train, held.texts, [], weights=jobs.sampled_weights, folds=0, seed=jobs.seed, features=features)


def _judge(
    rows: Rows, candidates: list[Candidate], champion: Model | None, jobs: JobsConfig, *, log, name: str,
    out_of_fold: BaseOutOfFold | None = None, served: list[bool] | None = None, why_not: str | None = None,
    carried: Hidden | None = None,
):
    """Pick the best candidate and run the gate on it. Returns (chosen, decision, comparisons, evidence,
    champion's scores)."""
    classes = sorted({*rows.labels, *(p for c in candidates for p in c.predicted)} | set(champion.classes if champion else ()))
    champion_predicted = champion.predict(list(rows.texts)) if champion else None
    golden = [s == "base" for s in rows.sources]
    errors = base_error(rows, champion_predicted, out_of_fold or BaseOutOfFold(), why_not) if champion_predicted is not None else None
    hidden = hidden_mistakes(rows, review_rate=jobs.review_rate, champion_errors=errors, served_by_champion=served,
                             carried=carried)
    classes = sorted(set(classes) | {s for s in rows.served if s is not None})
    encoded = encode(rows, hidden, classes)
    evidence = {"encoded": encoded, "classes": classes, "hidden": hidden.how, "hidden_found": hidden,
                "champion_predicted": champion_predicted}
    comparisons: dict[float, dict[str, float | None]] = {}
    if champion_predicted is None:
        mask = np.asarray(golden) if any(golden) else None
        score = {c.weight: weighted_macro_f1(encoded, class_indices(classes, c.predicted), mask) or 0.0 for c in candidates}
        best = max(candidates, key=lambda c: score[c.weight])
        decision = gate.decide(
            None, first_score=score[best.weight], first_on="golden" if mask is not None else "pooled", min_f1=jobs.min_f1
        )
        return best, decision, comparisons, evidence, None
    champion_codes = class_indices(classes, champion_predicted)
    results = {}
    for candidate in candidates:
        result = compare(
            encoded, champion_codes, class_indices(classes, candidate.predicted), resamples=jobs.resamples, seed=jobs.seed,
            margin=jobs.margin,
        )
        results[candidate.weight] = result
        comparisons[candidate.weight] = {
            "delta": round(result.delta, 4),
            "wins": round(result.wins, 4),
            "risk": round(result.risk, 4),
            "golden_delta": None if result.representative_delta is None else round(result.representative_delta, 4),
            "golden_lost": result.representative_lost,
            "golden_won": result.representative_won,
            "golden_p": None if result.representative_p is None else round(result.representative_p, 4),
            "negative_flips": result.flips,
            "flip_rows": result.flip_rows,
        }
        log(f"[{name}] candidate sampled×{candidate.weight:g}: pooled {result.delta:+.4f}, wins {result.wins:.0%}, "
            f"loses more than {jobs.margin:g} in {result.risk:.0%}")
    best = max(candidates, key=lambda c: results[c.weight].delta)
    decision = gate.decide(
        results[best.weight],
        min_delta=jobs.min_delta,
        confidence=jobs.confidence,
        golden_tolerance=jobs.golden_tolerance,
        max_negative_flips=jobs.max_negative_flips,
    )
    reason = f"{decision.reason}; hidden mistakes: {hidden.how}"
    return best, gate.GateDecision(decision.accept, reason), comparisons, evidence, _scores(evidence, rows, champion_predicted)


def _evaluation(
    held: Split, train: Split, fresh: list[int], rows: Rows, champion: list[str] | None, challenger: list[str]
) -> dict[str, list[Any]]:
    """The gate's rows, one per row in its order, for ``versions/<V>/evaluation.parquet``: the row's id, source,
    label (gold, or the served label of an unflagged complaint), the label it was served, its traffic weight,
    whether the challenger's answer is out of fold (a row the champion never saw), and both models' answers."""
    return {
        "id": [*held.ids, *(train.ids[i] for i in fresh)],
        "source": list(rows.sources),
        "label": list(rows.labels),
        "served": list(rows.served),
        "weight": list(rows.weights),
        "out_of_fold": [False] * len(held) + [True] * len(fresh),
        "champion": list(champion) if champion is not None else [None] * len(rows),
        "challenger": list(challenger),
    }


def _scores(evidence: dict[str, Any], rows: Rows, predicted: list[str]) -> dict[str, float | None]:
    """Pooled macro-F1 (golden plus reconstructed traffic) and plain macro-F1 per gold source."""
    encoded = evidence["encoded"]
    pooled = weighted_macro_f1(encoded, class_indices(evidence["classes"], predicted))
    return {"pooled": None if pooled is None else round(pooled, 4), **per_source(rows, predicted)}
