"""The deploy gate: pure decisions on macro-F1 scores of champion and challenger on the same rows."""

from __future__ import annotations

import pytest

from orchestrator.jobs.gate import NO_GOLDEN_WARNING, Scores, decide


def test_rejects_a_worse_challenger():
    decision = decide(Scores(0.80, 0.90), Scores(0.85, 0.90))
    assert not decision.accept
    assert decision.reason.startswith("rejected")
    assert "0.8000" in decision.reason and "0.8500" in decision.reason


def test_rejects_a_challenger_that_wins_overall_but_regresses_on_golden():
    decision = decide(Scores(0.95, 0.70), Scores(0.85, 0.90))
    assert not decision.accept
    assert "golden 0.7000 vs champion 0.9000" in decision.reason


def test_accepts_a_golden_dip_within_tolerance():
    decision = decide(Scores(0.90, 0.895), Scores(0.85, 0.90), golden_tolerance=0.01)
    assert decision.accept
    assert NO_GOLDEN_WARNING not in decision.reason


def test_accepts_a_better_challenger():
    decision = decide(Scores(0.90, 0.92), Scores(0.85, 0.90))
    assert decision.accept
    assert decision.reason == (
        "accepted: overall 0.9000 vs champion 0.8500, golden 0.9200 vs champion 0.9000 (within the tolerance of 0.01)"
    )


@pytest.mark.parametrize(
    ("challenger", "accept"),
    [(0.801, True), (0.8009, False), (0.8, False)],
)
def test_a_gain_of_exactly_min_delta_is_enough(challenger, accept):
    assert decide(Scores(challenger), Scores(0.8), min_delta=0.001).accept is accept


def test_golden_boundary_is_inclusive():
    assert decide(Scores(0.9, 0.89), Scores(0.8, 0.9), golden_tolerance=0.01).accept
    assert not decide(Scores(0.9, 0.8899), Scores(0.8, 0.9), golden_tolerance=0.01).accept


def test_without_golden_the_gate_compares_overall_and_warns():
    decision = decide(Scores(0.9), Scores(0.8, 0.95))
    assert decision.accept
    assert NO_GOLDEN_WARNING in decision.reason
    assert "no golden slice" in decide(Scores(0.7), Scores(0.8)).reason


@pytest.mark.parametrize(
    ("challenger", "accept", "fragment"),
    [
        (Scores(0.6, 0.55), True, "golden 0.5500 >= minimum 0.5"),
        (Scores(0.9, 0.45), False, "golden 0.4500 < minimum 0.5"),  # golden decides when present
        (Scores(0.5), True, "overall 0.5000 >= minimum 0.5"),
        (Scores(0.49), False, "overall 0.4900 < minimum 0.5"),
    ],
)
def test_first_model_must_reach_min_f1(challenger, accept, fragment):
    decision = decide(challenger, None, min_f1=0.5)
    assert decision.accept is accept
    assert "no champion" in decision.reason and fragment in decision.reason
    assert (NO_GOLDEN_WARNING in decision.reason) is (challenger.golden is None)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_scores_outside_the_unit_interval_are_refused(bad):
    with pytest.raises(ValueError, match="within"):
        Scores(bad)
    with pytest.raises(ValueError, match="golden"):
        Scores(0.5, bad)
