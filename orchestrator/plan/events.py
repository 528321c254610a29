"""Which labels an outside event concerns: a Hub webhook's update of a watched dataset repo. Pure, no I/O."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ..config.settings import HubLocation, LabelConfig, Settings
from ..config.sources import HubFileSource
from ..contracts.webhook import HubEvent


def watched_labels(settings: Settings, event: HubEvent) -> list[LabelConfig]:
    """The labels whose dataset is the event's repo (a dataset repo's content update only)."""
    if event.repo_type != "dataset" or not event.content_update:
        return []
    return [label for label in settings.labels if dataset_repo(label) == event.repo_name]


def dataset_repo(label: LabelConfig) -> str | None:
    """The Hub dataset repo a label watches: its ``dataset``, else the repo its metadata URL reads from."""
    if isinstance(label.dataset, HubLocation):
        return label.dataset.repo
    if isinstance(label.metadata, HubFileSource):
        path = unquote(urlsplit(label.metadata.url).path)
        if "/datasets/" in path and "/resolve/" in path:
            return path.split("/datasets/", 1)[1].split("/resolve/", 1)[0]
    return None
