"""Where versions are published and read: a Hub repo (one commit plus a tag per version) or a local folder
that stands in for one. The reference jobs publish datasets and models there; ``orchestrator promote`` moves
the deployed model.

Both keep the newest version at the root, which is where the orchestrator and the inference side look
(``dataset_metadata.json``, ``model.skops``), and every version under its tag:

- Hub: the repo's ``main`` is the newest version, and each version is a tag on its commit.
- Local: the root holds the newest version, ``versions/<tag>/`` each version. Each file is replaced whole; a
  version's own files come first and the named "last" file (a dataset's metadata, the model registry) last, so
  a reader never sees new metadata before its data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from ..config.settings import HubLocation, LocalLocation
from ..contracts.model_registry import REGISTRY_FILENAME, Registry, parse_registry
from ..errors import ConfigError
from .hub import Hub


class Store(Protocol):
    """Where a label's versions are published and read back: a Hub repo or a local folder."""

    def describe(self) -> str: ...

    def read(self, path: str, *, version: str | None = None) -> bytes | None:
        """A file of ``version`` (None: the newest), or None if there is no such file."""
        ...

    def publish(self, folder: Path, *, tag: str, message: str, last: str) -> None:
        """Make the files in ``folder`` the newest version, tagged ``tag``; ``last`` appears last."""
        ...

    def fetch(self, files: list[str], *, version: str | None, into: Path) -> Path:
        """A local folder holding ``files`` of ``version`` (None: the newest)."""
        ...

    def commit(self, folder: Path, *, message: str, last: str, tag: str | None = None) -> None:
        """Write the files in ``folder`` at the same paths in the repo, as one change (``last`` last), tagged
        ``tag`` if given: the model registry's changes (a new version, a promotion)."""
        ...


class LocalStore:
    """A local folder standing in for a Hub repo: the newest version at the root, each under ``versions/<tag>/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def _folder(self, version: str | None) -> Path:
        return self.root if version is None else self.root / "versions" / version

    def read(self, path: str, *, version: str | None = None) -> bytes | None:
        try:
            return (self._folder(version) / path).read_bytes()
        except FileNotFoundError:
            return None

    def publish(self, folder: Path, *, tag: str, message: str, last: str) -> None:
        for destination in (self._folder(tag), self.root):
            _copy_into(folder, destination, last)

    def commit(self, folder: Path, *, message: str, last: str, tag: str | None = None) -> None:
        _copy_into(folder, self.root, last)

    def fetch(self, files: list[str], *, version: str | None, into: Path) -> Path:
        folder = self._folder(version)
        missing = [name for name in files if not (folder / name).is_file()]
        if missing:
            raise ConfigError(
                f"{folder} has no {', '.join(missing)}",
                hint="check the version tag" if version else "has anything been published there yet?",
            )
        return folder


class HubStore:
    """A Hub repo: one commit and a tag per version, ``main`` the newest."""

    def __init__(self, hub: Hub, repo_id: str, *, repo_type: str) -> None:
        self.hub, self.repo_id, self.repo_type = hub, repo_id, repo_type

    def describe(self) -> str:
        return f"{self.repo_type} repo {self.repo_id} on {self.hub.config.endpoint}"

    def read(self, path: str, *, version: str | None = None) -> bytes | None:
        url = self.hub.file_url(self.repo_id, path, repo_type=self.repo_type, revision=version or "main")
        try:
            fetched = self.hub.fetch(url)
        except Exception as exc:  # noqa: BLE001 - a repo that does not exist yet has no files
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return fetched.content if fetched.status == "changed" else None

    def publish(self, folder: Path, *, tag: str, message: str, last: str) -> None:
        # One commit holds every file, so `last` needs no special care here.
        self.hub.publish_folder(self.repo_id, str(folder), repo_type=self.repo_type, tag=tag, message=message)

    def commit(self, folder: Path, *, message: str, last: str, tag: str | None = None) -> None:
        self.hub.publish_folder(self.repo_id, str(folder), repo_type=self.repo_type, tag=tag, message=message)

    def fetch(self, files: list[str], *, version: str | None, into: Path) -> Path:
        for name in files:
            self.hub.download(self.repo_id, name, repo_type=self.repo_type, revision=version or "main", local_dir=str(into))
        return into


# Written just before ``last``: what the orchestrator follows outcomes by, once every file it names is in place.
RESULT_LAST = "retrain_result.json"


def _copy_into(folder: Path, destination: Path, last: str) -> None:
    """Copy ``folder``'s files under ``destination``, each appearing whole (written aside, then renamed): those in
    subfolders (a version's own files) first, then the root's, then ``retrain_result.json``, then ``last``."""
    files = sorted(p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file())
    rank = lambda f: (f.as_posix() == last, f.as_posix() == RESULT_LAST, len(f.parts) == 1)  # noqa: E731
    ordered = sorted(files, key=rank)
    for relative in ordered:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.partial")
        shutil.copyfile(folder / relative, staging)
        os.replace(staging, target)


def read_registry(store: Store) -> Registry:
    """The model registry a model store holds (empty when it holds none yet)."""
    return parse_registry(store.read(REGISTRY_FILENAME), source=f"{store.describe()} {REGISTRY_FILENAME}")


def store_for(location: HubLocation | LocalLocation, hub: Hub, *, repo_type: str) -> Store:
    if isinstance(location, HubLocation):
        return HubStore(hub, location.repo, repo_type=repo_type)
    return LocalStore(Path(location.path))
