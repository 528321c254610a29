"""Where a label's datasets and models live, as the reference jobs' settings say: a Hub repo or a local folder
(:mod:`orchestrator.remote.stores`)."""

from __future__ import annotations

from orchestrator.errors import ConfigError
from orchestrator.remote.hub import Hub
from orchestrator.remote.stores import Store, store_for

from .settings import JobLabel

__all__ = ["Store", "label_store"]


def label_store(label: JobLabel, repo_type: str, hub: Hub) -> Store:
    """The store of ``label``'s datasets (``repo_type="dataset"``) or models (``"model"``), on ``hub``
    (the job's one Hub client) or in a local folder."""
    location = label.dataset if repo_type == "dataset" else label.model
    if location is None:
        key = "labels.{}.dataset" if repo_type == "dataset" else "jobs.labels.{}.model"
        raise ConfigError(
            f"label {label.name!r} has no {repo_type} location",
            hint=f"set {key.format(label.name)} in the TOML file (a folder, or hub:owner/name)",
        )
    return store_for(location, hub, repo_type=repo_type)
