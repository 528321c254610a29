"""The deploy gate: pure decisions on a paired comparison, and its power on simulated evaluation sets."""

from __future__ import annotations

import pytest

from orchestrator.jobs.evaluate import Comparison
from orchestrator.jobs.gate import NO_GOLDEN_WARNING, decide
from orchestrator.jobs.power import World, acceptance_rate


def comparison(delta=0.03, wins=0.95, risk=0.02, golden=0.01, p=0.5, lost=3, won=4, golden_rows=100, rows=700,
               flips=6, flip_rows=300):
    return Comparison(
        flips=flips,
        flip_rows=flip_rows,
        delta=delta,
        wins=wins,
        risk=risk,
        representative_delta=golden,
        representative_p=p,
        representative_lost=lost,
        representative_won=won,
        representative_rows=golden_rows if golden is not None else 0,
        rows=rows,
    )


def test_accepts_a_clear_gain_and_says_why_with_the_numbers():
    decision = decide(comparison())
    assert decision.accept
    assert decision.reason == (
        "accepted: pooled macro-F1 +0.0300 on 700 rows, wins 95% of resamples, loses more than 0.005 in 2%; "
        "golden +0.0100 on 100 rows, 3 lost and 4 won (sign test p=0.50); "
        "negative flips 6 of 300 gold rows the champion got right (2.0%, p=1.00 against 0.1)"
    )


def test_refuses_a_challenger_that_wins_overall_but_regresses_on_the_representative_rows():
    significant = decide(comparison(delta=0.04, wins=0.99, risk=0.0, golden=-0.03, p=0.06, lost=4, won=0))
    assert not significant.accept
    assert significant.reason.startswith("rejected: significantly worse on the representative rows (p <= 0.1)")
    assert "golden -0.0300 on 100 rows, 4 lost and 0 won (sign test p=0.06)" in significant.reason
    two_rows = decide(comparison(delta=0.04, wins=0.99, risk=0.0, golden=-0.01, p=0.25, lost=2, won=0))
    assert two_rows.accept  # two rows are not evidence
    large = decide(comparison(delta=0.04, wins=0.99, risk=0.0, golden=-0.06, p=0.2))
    assert not large.accept
    assert large.reason.startswith("rejected: the representative rows drop by more than 0.05")


@pytest.mark.parametrize(
    ("delta", "risk", "accept", "fragment"),
    [
        (0.0019, 0.0, False, "gain below the required 0.002"),
        (0.002, 0.10, True, "accepted"),  # both boundaries are inclusive
        (0.02, 0.11, False, "the evidence is too thin, a loss beyond 0.005 in more than 10% of resamples"),
    ],
)
def test_a_gain_must_reach_min_delta_without_a_real_risk_of_a_regression(delta, risk, accept, fragment):
    decision = decide(comparison(delta=delta, risk=risk))
    assert decision.accept is accept
    assert fragment in decision.reason


def test_without_a_golden_slice_the_gate_decides_on_the_pooled_rows_and_warns():
    decision = decide(comparison(golden=None, p=None, lost=0, won=0))
    assert decision.accept
    assert NO_GOLDEN_WARNING in decision.reason


@pytest.mark.parametrize(
    ("score", "on", "accept", "fragment"),
    [
        (0.55, "golden", True, "golden macro-F1 0.5500 >= minimum 0.5"),
        (0.45, "golden", False, "golden macro-F1 0.4500 < minimum 0.5"),
        (0.5, "pooled", True, "pooled macro-F1 0.5000 >= minimum 0.5"),
    ],
)
def test_first_model_must_reach_min_f1(score, on, accept, fragment):
    decision = decide(None, first_score=score, first_on=on, min_f1=0.5)
    assert decision.accept is accept
    assert "no champion" in decision.reason and fragment in decision.reason
    assert (NO_GOLDEN_WARNING in decision.reason) is (on != "golden")
    with pytest.raises(ValueError, match="first_score"):
        decide(None)


# The power docs/learning-loop.md states, on the real gate and evaluation code: 100 golden rows and 4,000 traffic
# rows of which half are reviewed (a champion with 85% accuracy, four classes).
WORLD = World(golden=100, traffic=4000)


def test_accepts_a_truly_better_challenger_at_the_stated_power():
    rate, true_gain = acceptance_rate(0.02, WORLD, trials=40, seed=1)
    assert true_gain == pytest.approx(0.02, abs=0.003)
    assert rate >= 0.9


def test_rarely_accepts_a_truly_worse_challenger():
    rate, true_gain = acceptance_rate(-0.01, WORLD, trials=40, seed=2)
    assert true_gain == pytest.approx(-0.01, abs=0.003)
    assert rate <= 0.05


def test_refuses_a_challenger_whose_negative_flips_are_significantly_above_the_bound():
    many = decide(comparison(flips=45, flip_rows=300))  # 15%: p = 0.004 against 10%
    assert not many.accept
    assert many.reason.startswith("rejected: it breaks significantly more than 10% of the answers the champion got right")
    assert "negative flips 45 of 300 gold rows the champion got right (15.0%, p=0.00 against 0.1)" in many.reason
    assert decide(comparison(flips=6, flip_rows=40)).accept  # 15% of 40 rows: not significant (p = 0.21)
    assert decide(comparison(flips=45, flip_rows=300), max_negative_flips=0.2).accept


def test_binomial_tail_is_exact():
    from math import comb

    from orchestrator.jobs.gate import binomial_tail

    assert binomial_tail(0, 10, 0.3) == 1.0
    assert binomial_tail(11, 10, 0.3) == 0.0
    assert binomial_tail(3, 10, 0.3) == pytest.approx(sum(comb(10, k) * 0.3**k * 0.7 ** (10 - k) for k in range(3, 11)))
    assert binomial_tail(27, 300, 0.05) == pytest.approx(sum(comb(300, k) * 0.05**k * 0.95 ** (300 - k) for k in range(27, 301)))


def test_a_challenger_is_refused_for_negative_flips_while_its_macro_f1_rises():
    """Compared for real (orchestrator.jobs.evaluate.compare): the challenger fixes 250 of the champion's 300
    mistakes but breaks 150 of its 700 right answers. Macro-F1 rises by about 0.1; the gate still refuses it."""
    import numpy as np

    from orchestrator.jobs.evaluate import compare, encode
    from orchestrator.jobs.evaluation_rows import Rows
    from orchestrator.jobs.hidden import hidden_mistakes

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=1000)
    champion = truth.copy()
    wrong = rng.choice(1000, size=300, replace=False)
    champion[wrong] = (truth[wrong] + 1) % 3
    challenger = champion.copy()
    challenger[wrong[:250]] = truth[wrong[:250]]
    right = np.setdiff1d(np.arange(1000), wrong)
    challenger[right[:150]] = (truth[right[:150]] + 2) % 3
    names = ["a", "b", "c"]
    rows = Rows(("",) * 1000, tuple(names[i] for i in truth), (None,) * 1000, ("base",) * 1000, (1.0,) * 1000)
    result = compare(encode(rows, hidden_mistakes(rows, review_rate=None, champion_errors=None), names), champion, challenger,
                     resamples=200)
    assert result.delta > 0.09 and result.representative_delta > 0.09
    assert (result.flips, result.flip_rows) == (150, 700)
    decision = decide(result)
    assert not decision.accept
    assert decision.reason.startswith("rejected: it breaks significantly more than 10% of the answers the champion got right")
    assert decide(result, max_negative_flips=0.25).accept  # the same challenger, under a looser bound
