"""The synthetic grievance generator: deterministic, every class, realistic lengths, Devanagari."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from orchestrator.jobs import synthetic
from orchestrator.jobs.schema import DEPARTMENTS, URGENCIES
from orchestrator.jobs.synthetic import Grievance, drift, generate

DEVANAGARI = re.compile(r"[\u0900-\u097f]")
LATIN = re.compile(r"[A-Za-z]")


def test_same_seed_same_rows_other_seed_other_rows():
    assert generate(300, seed=3) == generate(300, seed=3)
    other = generate(300, seed=4)
    assert sum(a.text != b.text for a, b in zip(generate(300, seed=3), other)) > 250


def test_a_row_depends_only_on_seed_and_id():
    rows = generate(300, seed=3)
    assert generate(50, seed=3) == rows[:50]
    assert generate(10, seed=3, start_id=51) == rows[50:60]
    assert [g.id for g in rows] == list(range(1, 301))


def test_every_class_present_and_labels_valid():
    rows = generate(2000, seed=0)
    assert set(Counter(g.department for g in rows)) == set(DEPARTMENTS)
    assert set(Counter(g.urgency for g in rows)) == set(URGENCIES)
    assert all(isinstance(g, Grievance) for g in rows)


def test_lengths_devanagari_and_some_english():
    rows = generate(3000, seed=1)
    lengths = [len(g.text) for g in rows]
    assert min(lengths) >= synthetic.MIN_CHARS == 80
    assert max(lengths) <= synthetic.MAX_CHARS == 180
    assert 110 <= sum(lengths) / len(lengths) <= 150  # real grievances average about 130 characters
    assert all(DEVANAGARI.search(g.text) for g in rows)
    assert 0.1 < sum(bool(LATIN.search(g.text)) for g in rows) / len(rows) < 0.9


def test_texts_carry_the_class_vocabulary_but_overlap():
    rows = generate(3000, seed=2)
    own = other = 0
    for g in rows:
        mentions = {d for d, topics in synthetic.TOPICS.items() if any(t in g.text for t in topics)}
        own += g.department in mentions
        other += bool(mentions - {g.department})
    assert own / len(rows) > 0.85  # label noise keeps it below 1
    assert 0.2 < other / len(rows) < 0.45  # another department's problem in the same text


def test_drift_changes_the_class_mix():
    base = Counter(g.department for g in generate(3000, seed=5))
    later = Counter(g.department for g in drift(3000, seed=5))
    security = "Security & Law Enforcement"
    assert later[security] / 3000 > base[security] / 3000 + 0.1
    assert Counter(g.urgency for g in drift(3000, seed=5))["HIGHLY URGENT"] > 700


def test_custom_weights_and_their_validation():
    only_two = generate(500, seed=0, department_weights={DEPARTMENTS[0]: 1, DEPARTMENTS[1]: 1})
    clean = [g for g in only_two if g.department in DEPARTMENTS[:2]]
    assert len(clean) > 440  # the rest is label noise (~6%)
    with pytest.raises(ValueError, match="unknown classes"):
        generate(1, seed=0, department_weights={"Roads": 1})
    with pytest.raises(ValueError, match="positive sum"):
        generate(1, seed=0, urgency_weights={"NORMAL": 0})
