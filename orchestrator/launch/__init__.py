"""Launchers start the prepare and retrain jobs: one small protocol (:mod:`.protocol`), one module per kind
of target, loaded only when a target of that kind is used (a run with only Spaces never imports the
GitHub client).

A new kind of target is a settings shape in :mod:`orchestrator.config.targets` and a module here with a
``make`` function, chosen in :func:`launcher_for`; the cycle only ever sees the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..config.targets import Target
    from ..remote.hub import Hub
    from .protocol import Launcher


def launcher_for(target: Target, hub: Hub, environ: Mapping[str, str] | None = None) -> Launcher:
    """The launcher of ``target``, with the run's Hub client and the environment the settings were read
    from (the process environment over ``.env``; None: the process environment). Each kind's module is
    imported here, when a target of that kind is first used."""
    if target.kind == "space":
        from .space import make
    elif target.kind == "command":
        from .command import make
    elif target.kind == "job":
        from .hf_job import make
    elif target.kind == "github":
        from .workflow import make
    else:  # pragma: no cover - the settings admit no other kind
        raise ValueError(f"no launcher for targets of kind {target.kind!r}")
    return make(target, hub, environ or None)
