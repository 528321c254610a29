"""The field types the settings are made of, shared by every module that defines a settings shape
(``settings.py``, ``targets.py``, ``sources.py``, ``notify.py``, and the reference jobs' own): safe SQL
identifiers, Hub repo ids, GitHub repositories, flags, thresholds, durations (``"30d"``), frozen models, the one shorthand parser of "Hub or local"
values (:func:`shorthand`), and the hint at the key a misspelt one probably meant (:func:`did_you_mean`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def identifier(value: Any) -> Any:
    if isinstance(value, str) and not _IDENT.match(value):
        raise ValueError(f"{value!r} is not a safe SQL identifier (letters, digits and _, not starting with a digit)")
    return value


def _qualified_identifier(value: Any) -> Any:
    if isinstance(value, str):
        for part in value.split("."):
            identifier(part)
        if value.count(".") > 1:
            raise ValueError(f"{value!r}: use 'table' or 'schema.table'")
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _whole_number(value: Any) -> Any:
    """Thresholds are counts of dataset rows: '40' and 40 pass, '40%' and 4.5 do not."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number of dataset rows")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"expected a whole number of dataset rows, got {value!r}")
        return int(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected a whole number of dataset rows, got {value!r}")
        return int(value)
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([smhd]?)")


def _duration(value: Any) -> Any:
    """A positive duration in seconds: ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, or a number of seconds."""
    what = "expected a duration such as '30d', '12h', '90m' or '3600s' (a number with s, m, h or d)"
    if isinstance(value, bool):
        raise ValueError(f"{what}, got {value!r}")
    seconds = value
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().lower())
        if not match:
            raise ValueError(f"{what}, got {value!r}")
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if isinstance(seconds, (int, float)) and not seconds > 0:
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def duration_text(seconds: float) -> str:
    """``30d``, ``12h``, ``90s``, ``30.2d``: in the largest unit it reaches, whole or to a tenth."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit]:
            return f"{seconds / _UNITS[unit]:.1f}".removesuffix(".0") + unit
    return f"{seconds:.0f}s"


def repo_id(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    parts = value.split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", p) for p in parts):
        raise ValueError(f"{value!r} is not a Hub repo id of the form owner/name")
    if ".." in value or "--" in value or value.endswith(".git"):
        raise ValueError(f"{value!r} is not a valid Hub repo id ('..', '--' and '.git' are not allowed)")
    return value


# GitHub's rules: an owner (user or organisation) is up to 39 letters, digits and single hyphens, neither first nor
# last; a repository name up to 100 letters, digits, '.', '-' and '_' (GitHub drops a '.git' ending and keeps
# '.wiki' for wikis).
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9])*")
_GITHUB_NAME = re.compile(r"[A-Za-z0-9._-]+")


def github_repo(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    owner, slash, name = value.partition("/")
    problem = f"{value!r} is not a GitHub repository of the form owner/name"
    if not slash or not owner or not name or "/" in name:
        raise ValueError(problem)
    if len(owner) > 39 or not _GITHUB_OWNER.fullmatch(owner):
        raise ValueError(f"{problem}: an owner is up to 39 letters, digits and single hyphens, neither first nor last")
    if len(name) > 100 or not _GITHUB_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"{problem}: a repository name is up to 100 letters, digits, '.', '-' and '_'")
    if name.lower().endswith((".git", ".wiki")):
        raise ValueError(f"{problem}: write the repository's name without {name[name.rindex('.'):]!r}")
    return value


Identifier = Annotated[str, BeforeValidator(identifier)]
QualifiedIdentifier = Annotated[str, BeforeValidator(_qualified_identifier)]
Flag = Annotated[bool, BeforeValidator(_boolean)]
RepoId = Annotated[str, BeforeValidator(repo_id)]
GitHubRepo = Annotated[str, BeforeValidator(github_repo)]
Threshold = Annotated[int, BeforeValidator(_whole_number), Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]
Duration = Annotated[float, BeforeValidator(_duration)]  # seconds, written "30d", "12h", "90m", "45s" or a number


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Table = Callable[[Mapping[str, Any]], Any]


def shorthand(string: Callable[[str], Any], tables: Mapping[str, str | Table]) -> Callable[[Any], Any]:
    """The one parser of "Hub or local" values (targets, metadata sources, locations).

    A string goes to ``string``. A table without ``kind`` takes its kind from the first key of ``tables``
    it holds: the entry is that kind's name, or a function that rewrites the table. Anything else is left
    to pydantic, which names what is wrong."""

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            return string(value.strip())
        if isinstance(value, Mapping) and "kind" not in value:
            for key, kind in tables.items():
                if key in value:
                    return {"kind": kind, **value} if isinstance(kind, str) else kind(value)
            # no key says which kind: name the misspelt one, or the keys that would
            misspelt = [f"unknown key {key!r}{hint}" for key in value if (hint := did_you_mean(str(key), tables))]
            needed = ", ".join(repr(key) for key in tables)
            raise ValueError("; ".join(misspelt) or f"the table needs one of the keys {needed}, which says what it is")
        return value

    return parse


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'flavor'?)`` when a known key is close to ``key``, else an empty string."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
