"""Stable train/eval/test assignment: a row's split depends only on its id, never on the other rows.

The id's SHA-256 digest is read as a uniform number in [0, 1); the lowest ``test_fraction`` of that
range is test, the next ``eval_fraction`` is eval, the rest is train. Adding rows, reordering them or
running in another process never moves an existing row, so a row that was in test is never trained on
in a later version. Python's ``hash()`` is salted per process and is not used.

A source can hold out less than the default 20%: :func:`held_out_share` caps the base set's held-out rows
(the golden slice) at a number of rows. The share then only shrinks as the base set grows, so a row can
leave the held-out splits for training but never come back (unless the base set shrinks or the cap is
raised, which the retrain job guards against: it leaves out held-out rows the champion trained on).
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "eval", "test")
HELD_OUT_SHARE = 0.2  # eval + test, of every source unless capped


def held_out_share(rows: int, cap: int | None) -> float:
    """The share of a source's ``rows`` to hold out: :data:`HELD_OUT_SHARE`, or less when that would be more
    than ``cap`` rows (None: no cap)."""
    if cap is None or rows * HELD_OUT_SHARE <= cap:
        return HELD_OUT_SHARE
    return cap / rows


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


def split_within(row_id: str, held_out: float) -> str:
    """:func:`split_of` with ``held_out`` (at most :data:`HELD_OUT_SHARE`) of the rows held out, half test and half
    eval: the lowest ``held_out / 2`` of each default split's range. With less held out, a test row stays test or
    becomes train, an eval row stays eval or becomes train; none moves from train, or between test and eval."""
    if not 0 <= held_out <= HELD_OUT_SHARE:
        raise ValueError(f"held_out ({held_out}) must be within [0, {HELD_OUT_SHARE}]")
    point, half, width = unit_interval(row_id), held_out / 2, HELD_OUT_SHARE / 2
    if point < half:
        return "test"
    if width <= point < width + half:
        return "eval"
    return "train"
