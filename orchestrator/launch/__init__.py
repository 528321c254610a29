"""Launchers start the prepare and retrain jobs: one small protocol (:mod:`.protocol`), one module per kind
of target, loaded only when a target of that kind is used (a run with only Spaces never imports the
GitHub client).

A new kind of target is a settings shape in :mod:`orchestrator.config.targets` and a module here,
registered in :data:`KINDS`; the cycle only ever sees the protocol.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..config.targets import Target
    from ..remote.hub import Hub
    from .protocol import Launcher

# Each kind of target (its ``kind`` field): the module of its launcher, whose ``make`` builds one.
KINDS: dict[str, str] = {"space": "space", "command": "command", "job": "hf_job", "github": "workflow"}


def launcher_for(target: Target, hub: Hub, environ: Mapping[str, str] | None = None) -> Launcher:
    """The launcher of ``target``, with the run's Hub client and the environment the settings were read
    from (the process environment over ``.env``; None: the process environment)."""
    return importlib.import_module(f"{__name__}.{KINDS[target.kind]}").make(target, hub, environ or None)
