"""Where a label's documents are read from: the kinds of source, as users write them.

A source is a file in a Hub repo (``HubFileSource``: a resolve URL, or a table ``{repo = "owner/name"}``)
or a local file or folder standing in for one (``LocalFileSource``). :data:`Source` reads a label's
``metadata`` (``dataset_metadata.json``), :data:`ResultSource` its ``result`` (``retrain_result.json``,
by default in a model repo). Reading them is :mod:`orchestrator.remote.documents`' job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import quote

from pydantic import BeforeValidator, Field

from ..contracts.metadata import METADATA_FILENAME
from ..contracts.retrain_result import RESULT_FILENAME
from .fields import Frozen, did_you_mean, repo_id, shorthand


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
_REPO_KEYS = ("repo", "type", "revision", "path")


def _repo_file(table: Mapping[str, Any], filename: str = METADATA_FILENAME, repo_type: str = "dataset") -> dict[str, str]:
    """{repo = "owner/name", revision = "main", path = "dataset_metadata.json"}: the endpoint is filled in
    when the settings are loaded. (huggingface_hub's ``hf_hub_url`` builds the same URL, but importing it
    costs a run with nothing to do about 0.17 s; :meth:`orchestrator.remote.hub.Hub.file_url` uses it.)"""
    unknown = [f"unknown key {key!r}{did_you_mean(str(key), _REPO_KEYS)}" for key in table if key not in _REPO_KEYS]
    if unknown:
        raise ValueError("; ".join(unknown))
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
# Where a label's retrain publishes retrain_result.json (orchestrator.contracts.retrain_result): the same kinds of
# source, defaulting to that file, in a model repo.
ResultSource = Annotated[
    Annotated[Union[HubFileSource, LocalFileSource], Field(discriminator="kind")],
    BeforeValidator(
        shorthand(_result, {"repo": lambda table: _repo_file(table, RESULT_FILENAME, "model"), "path": "local"})
    ),
]
