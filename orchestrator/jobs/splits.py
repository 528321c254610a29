"""Stable train/eval/test assignment: a row's split depends only on its id, never on the other rows.

The id's SHA-256 digest is read as a uniform number in [0, 1); the lowest ``test_fraction`` of that
range is test, the next ``eval_fraction`` is eval, the rest is train. Adding rows, reordering them or
running in another process never moves an existing row, so a row that was in test is never trained on
in a later version. Python's ``hash()`` is salted per process and is not used.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "eval", "test")


def unit_interval(row_id: str) -> float:
    """The first 8 bytes of ``sha256(row_id)`` as a float in [0, 1)."""
    digest = hashlib.sha256(row_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(row_id: str, *, eval_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """Return ``"train"``, ``"eval"`` or ``"test"`` for ``row_id``."""
    if eval_fraction < 0 or test_fraction < 0 or eval_fraction + test_fraction >= 1:
        raise ValueError(
            f"eval_fraction ({eval_fraction}) and test_fraction ({test_fraction}) must be >= 0 and sum to < 1"
        )
    point = unit_interval(row_id)
    if point < test_fraction:
        return "test"
    if point < test_fraction + eval_fraction:
        return "eval"
    return "train"
