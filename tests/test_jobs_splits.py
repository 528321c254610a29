"""Stable splits: a row's split is a function of its id alone, identical in every process."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from orchestrator.jobs.splits import held_out_share, split_of, split_within


def independent_split(row_id: str, eval_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """The documented rule, written out again: sha256 → first 8 bytes → [0, 1) → test | eval | train."""
    point = int(hashlib.sha256(row_id.encode()).hexdigest()[:16], 16) / 2**64
    return "test" if point < test_fraction else "eval" if point < test_fraction + eval_fraction else "train"


def test_matches_sha256_computed_independently():
    ids = [f"c{i}" for i in range(2000)] + [f"b{i}" for i in range(2000)] + ["b००७", "c-1", ""]
    assert [split_of(i) for i in ids] == [independent_split(i) for i in ids]
    assert [split_of(i, eval_fraction=0.3, test_fraction=0.2) for i in ids] == [
        independent_split(i, 0.3, 0.2) for i in ids
    ]


def test_same_answer_in_other_processes_whatever_their_hash_seed():
    ids = [f"c{i}" for i in range(300)]
    script = (
        "import json, sys; from orchestrator.jobs.splits import split_of;"
        "print(json.dumps([split_of(i) for i in json.loads(sys.argv[1])]))"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        command = [sys.executable, "-c", script, json.dumps(ids)]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == [split_of(i) for i in ids]


@pytest.mark.parametrize(("eval_fraction", "test_fraction"), [(0.1, 0.1), (0.05, 0.2)])
def test_fractions_are_approximately_right(eval_fraction, test_fraction):
    counts = Counter(split_of(f"c{i}", eval_fraction=eval_fraction, test_fraction=test_fraction) for i in range(20_000))
    assert counts["eval"] / 20_000 == pytest.approx(eval_fraction, abs=0.01)
    assert counts["test"] / 20_000 == pytest.approx(test_fraction, abs=0.01)
    assert counts["train"] + counts["eval"] + counts["test"] == 20_000


def test_adding_rows_never_moves_an_existing_id():
    before = {f"c{i}": split_of(f"c{i}") for i in range(1000)}
    grown = [f"c{i}" for i in range(5000)] + [f"b{i}" for i in range(1000)]
    random.Random(0).shuffle(grown)
    after = {row_id: split_of(row_id) for row_id in grown}
    assert {row_id: after[row_id] for row_id in before} == before


@pytest.mark.parametrize(("eval_fraction", "test_fraction"), [(-0.1, 0.1), (0.5, 0.5), (0.1, 1.0)])
def test_rejects_impossible_fractions(eval_fraction, test_fraction):
    with pytest.raises(ValueError, match="must be >= 0 and sum to < 1"):
        split_of("c1", eval_fraction=eval_fraction, test_fraction=test_fraction)


def test_the_held_out_share_is_20_percent_until_it_reaches_the_cap():
    assert held_out_share(2_000, 500) == 0.2 and held_out_share(2_500, 500) == 0.2 and held_out_share(10**6, None) == 0.2
    assert held_out_share(5_000, 500) == pytest.approx(0.1) and held_out_share(50_000, 500) == pytest.approx(0.01)
    ids = [f"b{i}" for i in range(20_000)]
    counts = Counter(split_within(i, held_out_share(len(ids), 500)) for i in ids)
    assert counts["test"] == pytest.approx(250, abs=50) and counts["eval"] == pytest.approx(250, abs=50)


def test_a_smaller_held_out_share_only_ever_moves_rows_to_training():
    ids = [f"b{i}" for i in range(5000)]
    assert [split_within(i, 0.2) for i in ids] == [split_of(i) for i in ids]  # the default share is the default split
    previous = {i: split_of(i) for i in ids}
    for share in (0.15, 0.1, 0.04, 0.01, 0.0):
        now = {i: split_within(i, share) for i in ids}
        moved = {(previous[i], now[i]) for i in ids if previous[i] != now[i]}
        assert moved <= {("test", "train"), ("eval", "train")} and moved, share
        previous = now
    assert set(previous.values()) == {"train"}


def test_rejects_a_held_out_share_above_the_default():
    with pytest.raises(ValueError, match="held_out"):
        split_within("b1", 0.3)
