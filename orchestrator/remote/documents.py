"""Reading a label's small documents (``dataset_metadata.json``, ``retrain_result.json``, a seed retrain
Space's model metadata) from where its settings point: the Hub (a conditional GET) or a local folder.

Both give the same :class:`Observation`, so the cycle never knows which one it is talking to. A
document that breaks the contract is an observation too (``malformed``, with its error and its ETag),
not an exception: whether that fails the label depends on whether the document changed since the
baseline, which only the cycle knows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config.settings import LabelConfig
from ..config.sources import HubFileSource, LocalFileSource
from ..contracts.metadata import MAX_BYTES, DatasetMetadata, parse_metadata, too_large
from ..contracts.model_metadata import MODEL_FILES
from ..errors import HubError, MetadataError
from .hub import Hub


@dataclass(frozen=True)
class Observation:
    """``missing``: no metadata file yet. ``unchanged``: same ETag as last time. ``changed``: parsed.
    ``malformed``: read, but it breaks the contract (``error`` says how)."""

    status: Literal["missing", "unchanged", "changed", "malformed"]
    etag: str | None = None
    metadata: DatasetMetadata | None = None
    error: MetadataError | None = None


def _digest(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest() + '"'


class MetadataReader:
    """Reads labels' ``dataset_metadata.json`` through the run's Hub client (or from local folders)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def read(self, label: LabelConfig, *, etag: str | None = None) -> Observation:
        """Read ``label``'s metadata; raises HubError (access) or MetadataError (an unreadable local file)."""
        what = f"metadata {label.metadata.describe()}"
        status, tag, content = read_file(self.hub, label.metadata, etag=etag, name="metadata")
        if status != "changed":
            return Observation(status, etag=tag)
        try:
            return Observation("changed", etag=tag, metadata=parse_metadata(content, source=what))
        except MetadataError as exc:
            return Observation("malformed", etag=tag, error=exc)


FileStatus = Literal["missing", "unchanged", "changed"]


def read_file(
    hub: Hub, source: HubFileSource | LocalFileSource, *, etag: str | None, name: str
) -> tuple[FileStatus, str | None, bytes]:
    """A small document (``name``: "metadata"), read conditionally: (status, ETag, content). A local file's
    ETag is its digest; ``unchanged`` when the ETag is ``etag``. Raises HubError (access) or MetadataError."""
    if isinstance(source, LocalFileSource):
        content = _read_local(Path(source.path), f"{name} {source.path}")
        if content is None:
            return "missing", None, b""
        tag = _digest(content)
    else:
        fetched = hub.fetch(source.url, etag=etag, what=f"fetching the {name}", limit=MAX_BYTES)
        if fetched.status != "changed":
            return fetched.status, fetched.etag, b""
        content = fetched.content or b""
        tag = fetched.etag or _digest(content)  # without an ETag, the content itself tells a change
    if etag is not None and tag == etag:
        return "unchanged", tag, b""
    return "changed", tag, content


def model_marker(hub: Hub, repo: str) -> str:
    """How a model repo's metadata files stand now (their ETags, ``null`` for one not there), as one string
    a label keeps when its retrain is launched."""
    return json.dumps({name: _model_file(hub, repo, name, None)[1] for name in MODEL_FILES})


def new_model(hub: Hub, repo: str, marker: str) -> tuple[str, bytes] | None:
    """The metadata file (its name and content) that is new or changed in ``repo`` since ``marker``: what a
    seed retrain Space writes when it deploys; None while there is none."""
    before = json.loads(marker)
    for name in MODEL_FILES:
        status, _, content = _model_file(hub, repo, name, before.get(name))
        if status == "changed":
            return name, content
    return None


def _model_file(hub: Hub, repo: str, name: str, etag: str | None) -> tuple[FileStatus, str | None, bytes]:
    source = HubFileSource(url=f"{hub.config.endpoint}/{repo}/resolve/main/{name}")
    try:
        return read_file(hub, source, etag=etag, name=f"model metadata of {repo}")
    except HubError as exc:
        if exc.status == 404:  # no such repo yet: the first deploy creates it
            return "missing", None, b""
        raise


def _read_local(path: Path, what: str) -> bytes | None:
    """The file's bytes, None if it does not exist yet; a path that cannot hold it is an error."""
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except (NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        raise MetadataError(
            f"{what}: cannot read {path} ({exc.strerror or type(exc).__name__})",
            hint="point the label's metadata at a folder holding dataset_metadata.json, or at that file",
        ) from None
    if len(content) > MAX_BYTES:
        raise too_large(what, len(content))
    return content
