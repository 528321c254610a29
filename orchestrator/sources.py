"""Where a label's ``dataset_metadata.json`` is read from: the Hub (conditional GET) or a local folder.

Both give the same :class:`Observation`, so the cycle never knows which one it is talking to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .config import HubFileSource, LabelConfig, LocalFileSource
from .hub import Hub
from .metadata import DatasetMetadata, parse_metadata


@dataclass(frozen=True)
class Observation:
    """``missing``: no metadata file yet. ``unchanged``: same ETag as last time. ``changed``: parsed."""

    status: str
    etag: str | None = None
    metadata: DatasetMetadata | None = None


class MetadataReader:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def read(self, label: LabelConfig, *, etag: str | None = None) -> Observation:
        """Read ``label``'s metadata; raises MetadataError (malformed) or HubError (access)."""
        source = label.metadata
        what = f"label {label.name}: metadata {source.describe()}"
        if isinstance(source, LocalFileSource):
            path = Path(source.path)
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                return Observation("missing")
            tag = '"' + hashlib.sha256(content).hexdigest() + '"'
        else:
            assert isinstance(source, HubFileSource)
            fetched = self.hub.fetch(source.url, etag=etag, what=f"label {label.name}: fetching metadata")
            if fetched.status != "changed":
                return Observation(fetched.status, etag=fetched.etag)
            content, tag = fetched.content or b"", fetched.etag
        if etag is not None and tag == etag:
            return Observation("unchanged", etag=tag)
        return Observation("changed", etag=tag, metadata=parse_metadata(content, source=what))
