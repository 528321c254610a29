"""What a launched prepare or retrain is told, and what finds it again: names that running systems depend on.

- **Its environment.** Every launched program finds ``ORCHESTRATOR_JOB`` (``prepare`` or ``retrain``),
  ``ORCHESTRATOR_LABELS`` (comma-separated) and ``ORCHESTRATOR_KEY`` (the action's idempotency key); a
  retrain also finds ``DATASET_VERSION``, which is also the Space variable a retrain Space is told its
  version by (the seed's checklist).
- **Its arguments.** ``{label}``, ``{labels}`` (comma-separated) and ``{version}`` are filled in.
- **How it is found again after a crash.** An HF Job carries the labels ``orchestrator-kind`` and
  ``orchestrator-key`` (a digest of the idempotency key); a GitHub run carries a shorter digest, its
  correlation id, in its title.
- **The ledger's idempotency keys.** ``prepare:<run id>:<label>=<corrections>,…`` (past 200 characters,
  ``prepare:<run id>:<n> labels:<digest>``) and
  ``retrain:<label>:<version>`` (``…:retry:<run id>`` when ``orchestrator retry`` launches a failed one again):
  a key is recorded once, ever.

Changing any of these would break deployed retrain Spaces, workflows, running jobs or the ledger of
existing setups.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

# The variable a retrain reads its dataset version from (the seed's checklist).
VERSION_VARIABLE = "DATASET_VERSION"
_PLACEHOLDER = re.compile(r"\{(label|labels|version)\}")


# The longest prepare key written out in full; past it, its labels and counts are a digest (the ledger row
# keeps the labels in full, and each label's state its count), so that any number of labels fits.
MAX_READABLE_KEY = 200


def prepare_key(run_id: str, corrections: Mapping[str, int]) -> str:
    """The idempotency key of one run's prepare of some labels, at their correction counts:
    ``prepare:<run id>:<label>=<count>,…``, or ``prepare:<run id>:<n> labels:<digest>`` when that is too long."""
    listed = ",".join(f"{name}={count}" for name, count in corrections.items())
    key = f"prepare:{run_id}:{listed}"
    if len(key) <= MAX_READABLE_KEY:
        return key
    return f"prepare:{run_id}:{len(corrections)} labels:{hashlib.sha256(listed.encode()).hexdigest()[:32]}"


def retrain_key(label: str, version: str) -> str:
    """The idempotency key of a retrain: one per label and dataset version, ever."""
    return f"retrain:{label}:{version}"


def retry_key(label: str, version: str, run_id: str) -> str:
    """The idempotency key of a failed retrain launched again by ``orchestrator retry`` (in run ``run_id``)."""
    return f"{retrain_key(label, version)}:retry:{run_id}"


def fill(part: str, labels: Iterable[str], version: str | None) -> str:
    """``{label}``, ``{labels}`` (comma-separated) and ``{version}`` filled in; any other braces (shell,
    JSON) pass through untouched."""
    names = ",".join(labels)
    values = {"label": names, "labels": names, "version": version or ""}
    return _PLACEHOLDER.sub(lambda m: values[m[1]], part)


def environment(kind: str, labels: Iterable[str], key: str, version: str | None) -> dict[str, str]:
    """What every launched program finds in its environment."""
    env = {"ORCHESTRATOR_JOB": kind, "ORCHESTRATOR_LABELS": ",".join(labels), "ORCHESTRATOR_KEY": key}
    if version:
        env[VERSION_VARIABLE] = version
    return env


def correlation(key: str) -> str:
    """The id a dispatched GitHub run carries in its title: a digest of the action's idempotency key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def hf_job_labels(kind: str, key: str) -> dict[str, str]:
    """The labels a launched HF Job carries: which action it is, as a digest of its idempotency key."""
    return {"orchestrator-kind": kind, "orchestrator-key": hashlib.sha256(key.encode()).hexdigest()[:32]}
