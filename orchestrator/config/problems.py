"""Validation errors as lines a user can act on: each names the variable or TOML key to fix.

pydantic locates an error by a path through the validated tree (``labels, 0, retrain, job, flavour``): a
label by its index, a target or source table by its kind's tag. :func:`error_lines` names it as the user
wrote it (``orchestrator.toml: labels.x.retrain``), from the origin of each value the loader remembered. Given
the schema, it also names a key inside a table that is unknown (``unknown key 'flavour' (did you mean
'flavor'?)``) or missing (``'workflow' is required``).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from .fields import did_you_mean


def describe_error(
    exc: ValidationError, origin: Mapping[tuple[Any, ...], str], tree: Mapping[str, Any], schema: type[BaseModel] | None = None
) -> str:
    """One line per problem, each naming the variable or TOML key the user must fix."""
    return describe_problems(error_lines(exc, origin, tree, schema))


def describe_problems(lines: list[str]) -> str:
    unique = list(dict.fromkeys(lines))
    text = unique[0] if len(unique) == 1 else "".join(f"\n  - {line}" for line in unique)
    return "invalid configuration: " + text


def error_lines(
    exc: ValidationError, origin: Mapping[tuple[Any, ...], str], tree: Mapping[str, Any], schema: type[BaseModel] | None = None
) -> list[str]:
    """The problems ``exc`` found, each naming the variable or TOML key (``origin``) the user wrote. With the
    ``schema`` that was validated, a key unknown or missing inside a table is named, with the key probably meant."""
    lines = []
    errors = exc.errors(include_url=False)
    if any(len(e["loc"]) > 1 and e["loc"][0] == "labels" for e in errors):
        errors = [e for e in errors if tuple(e["loc"]) != ("labels",)]  # the empty tuple follows from those
    for error in errors:
        loc = tuple(error["loc"])
        if schema is not None and loc and (error["type"] == "extra_forbidden" or error["type"] == "missing" and loc not in origin):
            lines.append(_key_problem(error["type"], loc, origin, tree, schema))
            continue
        name = _name(loc, origin, tree)
        message = error["msg"]
        if error["type"] == "missing":
            message = "is required but not set"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if not loc:  # a check across settings: name each one as the user set it
            message = re.sub(
                r"\b(poll_interval|poll_timeout|prepare)\b(?! target)",  # named as the user would set it
                lambda m: origin.get((m[1],), m[1]),
                message,
            )
            lines.append(message)
            continue
        lines.append(f"{name}: {message}")
    return lines


def _name(loc: tuple[Any, ...], origin: Mapping[tuple[Any, ...], str], tree: Mapping[str, Any]) -> str:
    """The name of the longest part of ``loc`` the user set (a variable, a TOML key), or ``loc`` dotted."""
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in origin:
            return origin[loc[:cut]]
    return _dotted(loc, tree) or "settings"


def _key_problem(
    kind: str, loc: tuple[Any, ...], origin: Mapping[tuple[Any, ...], str], tree: Mapping[str, Any], schema: type[BaseModel]
) -> str:
    """``labels.x.retrain: unknown key 'flavour' (did you mean 'flavor'?)``, or ``…: 'workflow' is required``:
    the table named as the user wrote it, the key inside it named in the message."""
    *parent, key = loc
    model, tags = _walk(schema, tuple(parent))
    if parent:  # the longest part the user set, then the rest of the way but for the tags of kinds
        named = max((cut for cut in range(1, len(parent) + 1) if tuple(parent[:cut]) in origin), default=0)
        rest = [_part(loc, i, tree) for i in range(named, len(parent)) if i not in tags]
        table = ".".join([*([origin[tuple(parent[:named])]] if named else []), *rest])
    else:  # a top-level key: the section the user wrote it in ("orchestrator.toml: orchestrator")
        own = origin.get((key,), "")
        table = own[: -len(key) - 1] if own.endswith(f".{key}") else own[: -len(key) - 2] if own.endswith(f": {key}") else ""
    table = table or "settings"
    if kind == "missing":
        return f"{table}: {key!r} is required"
    known = tuple(model.model_fields) if model is not None else ()
    return f"{table}: unknown key {key!r}{did_you_mean(str(key), known)}"


@dataclass(frozen=True)
class _Tagged:
    """A discriminated union met on the way: the next part of a location is a member's tag."""

    members: tuple[Any, ...]
    discriminator: str


def _walk(schema: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, set[int]]:
    """The model ``loc`` ends at within ``schema`` (None if it is no one model), and the indexes of the parts of
    ``loc`` that are a discriminated union's tag rather than a key."""
    candidates: list[Any] = [schema]
    tags: set[int] = set()
    for index, part in enumerate(loc):
        following: list[Any] = []
        for candidate in candidates:
            if isinstance(candidate, _Tagged):
                tags.add(index)
                following += [m for m in candidate.members if _tag_of(m, candidate.discriminator) == part]
            elif _is_model(candidate) and isinstance(part, str) and part in candidate.model_fields:
                field = candidate.model_fields[part]
                following += _options(field.annotation, field.discriminator)
            elif get_origin(candidate) is tuple and isinstance(part, int):
                following += _options(get_args(candidate)[0])
        candidates = following
    models = [c for c in candidates if _is_model(c)]
    return (models[0] if len(models) == 1 else None), tags


def _options(annotation: Any, discriminator: Any = None) -> list[Any]:
    """The types a value of ``annotation`` may have; a discriminated union is one :class:`_Tagged`."""
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        found = [m.discriminator for m in metadata if isinstance(m, FieldInfo) and isinstance(m.discriminator, str)]
        return _options(inner, found[0] if found else discriminator)
    if get_origin(annotation) in (Union, types.UnionType):
        members = [option for member in get_args(annotation) for option in _options(member)]
        if isinstance(discriminator, str):
            tagged = tuple(m for m in members if _is_model(m))
            return [_Tagged(tagged, discriminator), *(m for m in members if not _is_model(m))]
        return members
    return [annotation]


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _tag_of(model: type[BaseModel], discriminator: str) -> Any:
    field = model.model_fields.get(discriminator)
    return field.default if field is not None else None


def _dotted(loc: tuple[Any, ...], tree: Mapping[str, Any]) -> str:
    return ".".join(_part(loc, i, tree) for i in range(len(loc)))


def _part(loc: tuple[Any, ...], i: int, tree: Mapping[str, Any]) -> str:
    """``loc[i]`` as the user wrote it: a label by its name, not its index."""
    labels = tree.get("labels") or []
    if i == 1 and loc[0] == "labels" and isinstance(loc[i], int) and loc[i] < len(labels):
        return str(labels[loc[i]].get("name", loc[i]))
    return str(loc[i])
