"""Where a label's ``dataset_metadata.json`` is read from: the Hub (conditional GET) or a local folder.

Each kind of source is defined here: its settings shape (a frozen model, and its rule in the
:data:`Source` shorthand) beside the code that reads it.

Both give the same :class:`Observation`, so the cycle never knows which one it is talking to. A
document that breaks the contract is an observation too (``malformed``, with its error and its ETag),
not an exception: whether that fails the label depends on whether the document changed since the
baseline, which only the cycle knows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from urllib.parse import quote

from pydantic import BeforeValidator, Field

from .errors import MetadataError
from .fields import Frozen, repo_id, shorthand
from .metadata import MAX_BYTES, METADATA_FILENAME, DatasetMetadata, parse_metadata, too_large
from .retrain_result import RESULT_FILENAME

if TYPE_CHECKING:  # pragma: no cover
    from .hub import Hub
    from .settings import LabelConfig

# ---------------------------------------------------------------------------------------------- the settings shape
class HubFileSource(Frozen):
    """A file in a Hub repo, fetched through the Hub's resolve endpoint."""

    kind: Literal["hub"] = "hub"
    url: str

    def describe(self) -> str:
        return self.url


class LocalFileSource(Frozen):
    """A file in a local folder that stands in for a Hub dataset repo."""

    kind: Literal["local"] = "local"
    path: str

    def describe(self) -> str:
        return self.path


# A URL scheme: two letters or more (C:\\ is a Windows drive), and not host:port.
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(?!\d)")
_HOST = re.compile(r"(?i)(localhost|[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}|\d{1,3}(\.\d{1,3}){3})(:\d+)?")


def missing_scheme(spec: str) -> str | None:
    """Why ``spec`` looks like a URL written without ``https://`` (None if it does not): its first part is a
    host name and no such local folder exists."""
    first = spec.split("/", 1)[0]
    if "/" in spec and _HOST.fullmatch(first) and not Path(first).exists():
        return f"{spec!r} looks like a URL without its scheme (there is no local folder {first!r})"
    return None


def _local_path(spec: str, filename: str) -> Path:
    """The file a local value means: the file itself (``.json``), or that folder's ``filename``."""
    path = Path(spec)
    if path.suffix != ".json":  # a folder standing in for a repo
        for part in (path, *path.parents):
            if part.exists() and not part.is_dir():
                raise ValueError(f"{spec!r}: {part} is a file, not a folder that could hold {filename}")
        path = path / filename
    return path


def _file(spec: str, filename: str = METADATA_FILENAME) -> dict[str, str]:
    """An http(s) URL is a file on the Hub; a path (or file:// URL) a local file or folder."""
    if not spec:
        raise ValueError("is empty")
    scheme = URL_SCHEME.match(spec)
    if scheme and scheme[1].lower() in ("http", "https"):
        return {"kind": "hub", "url": spec}
    if scheme and scheme[1].lower() == "file":
        rest = spec[scheme.end() :]
        if not rest.startswith("//"):
            raise ValueError(f"{spec!r} is not a file URL: write a local path as file:///path, or the path itself")
        spec = rest[2:]
        if not spec.startswith("/"):  # file://host/path: a file on another machine
            raise ValueError(f"file://{spec} names a host ({spec.split('/', 1)[0]!r}): write a local path as file:///path")
    elif scheme:
        raise ValueError(
            f"{scheme[1]}: URLs cannot be read; use https:// for a file on the Hub (…/resolve/main/{filename}) "
            "or a local path"
        )
    problem = missing_scheme(spec)
    if problem:
        raise ValueError(f"{problem}: write it as https://{spec}")
    return {"kind": "local", "path": str(_local_path(spec, filename))}


_URL_PREFIX = {"dataset": "datasets/", "model": "", "space": "spaces/"}


def _repo_file(table: Mapping[str, Any], filename: str = METADATA_FILENAME, repo_type: str = "dataset") -> dict[str, str]:
    """{repo = "owner/name", revision = "main", path = "dataset_metadata.json"}: the endpoint is filled in
    when the settings are loaded. (huggingface_hub's ``hf_hub_url`` builds the same URL, but importing it
    costs a run with nothing to do about 0.17 s; :meth:`orchestrator.hub.Hub.file_url` uses it.)"""
    repo = repo_id(table["repo"])
    kind = str(table.get("type", repo_type))
    if kind not in _URL_PREFIX:
        raise ValueError(f"type {kind!r} must be one of {', '.join(_URL_PREFIX)}")
    revision = quote(str(table.get("revision", "main")), safe="")  # quoted as hf_hub_url quotes them
    path = quote(str(table.get("path", filename)))
    return {"kind": "hub", "url": f"{{endpoint}}/{_URL_PREFIX[kind]}{repo}/resolve/{revision}/{path}"}


def _result(spec: str) -> Any:
    """``hub:owner/name`` is that model repo's retrain_result.json; otherwise a URL or a local file/folder."""
    if spec.startswith("hub:"):
        return _repo_file({"repo": spec[len("hub:") :]}, RESULT_FILENAME, "model")
    return _file(spec, RESULT_FILENAME)


Source = Annotated[
    Annotated[Union[HubFileSource, LocalFileSource], Field(discriminator="kind")],
    BeforeValidator(shorthand(_file, {"repo": _repo_file, "path": "local"})),
]
# Where a label's retrain publishes retrain_result.json (orchestrator.retrain_result): the same kinds of
# source, defaulting to that file, in a model repo.
ResultSource = Annotated[
    Annotated[Union[HubFileSource, LocalFileSource], Field(discriminator="kind")],
    BeforeValidator(
        shorthand(_result, {"repo": lambda table: _repo_file(table, RESULT_FILENAME, "model"), "path": "local"})
    ),
]


# ---------------------------------------------------------------------------------------------- reading


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
