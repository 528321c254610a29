"""The evaluation rows: the traffic reconstructed from corrections, per-source scores and the paired bootstrap."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import f1_score

from orchestrator.jobs.evaluate import class_indices, compare, encode, per_source, weighted_macro_f1
from orchestrator.jobs.evaluation_rows import Rows
from orchestrator.jobs.hidden import ErrorRate, Hidden, carried_share, hidden_mistakes

CLASSES = ["a", "b", "c"]


def traffic_world(seed: int = 0):
    """Traffic where every mistake comes in identical pairs, one reviewed and corrected, one not."""
    rng = random.Random(seed)
    truth, served, sources, model = [], [], [], []
    for _ in range(300):  # right rows: unflagged
        y = rng.choice(CLASSES)
        truth.append(y), served.append(y), sources.append("sampled"), model.append(rng.choice([y, y, y, "c"]))
    for _ in range(40):  # mistakes: a corrected one and its unreviewed twin
        y = rng.choice(CLASSES)
        s = rng.choice([c for c in CLASSES if c != y])
        p = rng.choice([y, s])
        truth += [y, y]
        served += [s, s]
        sources += ["feedback", "sampled"]
        model += [p, p]
    return truth, served, sources, model


def rows_of(truth, served, sources) -> Rows:
    # what the dataset holds: gold labels for corrections, the served label for everything unflagged
    labels = [y if src == "feedback" else s for y, s, src in zip(truth, served, sources)]
    return Rows(tuple("" for _ in truth), tuple(labels), tuple(served), tuple(sources), tuple(1.0 for _ in truth))


def test_the_reconstructed_traffic_scores_a_model_as_the_truth_would():
    truth, served, sources, model = traffic_world()
    rows = rows_of(truth, served, sources)  # the unreviewed mistakes are in it, labelled as served
    seen = range(len(truth))
    hidden = hidden_mistakes(rows, review_rate=0.5, champion_errors=None)
    assert hidden.per_correction == pytest.approx(1.0) and "review rate 0.5" in hidden.how
    encoded = encode(rows, hidden, CLASSES)
    reconstructed = weighted_macro_f1(encoded, class_indices(CLASSES, [model[i] for i in seen]))
    assert reconstructed == pytest.approx(f1_score(truth, model, average="macro"), abs=1e-9)
    # counting every unflagged row as right instead flatters the served labels
    naive = weighted_macro_f1(encode(rows, hidden_mistakes(rows, review_rate=1.0, champion_errors=None), CLASSES),
                              class_indices(CLASSES, [served[i] for i in seen]))
    truthful = weighted_macro_f1(encoded, class_indices(CLASSES, [served[i] for i in seen]))
    assert naive > truthful + 0.05
    assert truthful == pytest.approx(f1_score(truth, served, average="macro"), abs=1e-9)


def test_hidden_mistakes_come_from_the_review_rate_then_the_base_rows_then_confirmations():
    rows = Rows(("",) * 10, ("a",) * 10, ("b",) * 2 + ("a",) * 8, ("feedback",) * 2 + ("confirmed",) * 6 + ("sampled",) * 2,
                (1.0,) * 10)
    assert hidden_mistakes(rows, review_rate=0.25, champion_errors=ErrorRate(5, 10, "")).per_correction == pytest.approx(3.0)
    golden = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(4, 10, "10 golden"))
    assert golden.per_correction == pytest.approx((0.4 * 10 - 2) / 2) and "on base rows it never trained on (10 golden" in golden.how
    confirmed = hidden_mistakes(rows, review_rate=None, champion_errors=None)
    assert confirmed.per_correction == pytest.approx(0.25 * 2 / 2)  # error 2/8 of the reviewed, times 2 unflagged
    assert "8 reviewed rows" in confirmed.how
    plain = Rows(rows.texts, rows.labels, rows.served, ("feedback",) * 2 + ("sampled",) * 8, rows.weights)
    assert hidden_mistakes(plain, review_rate=None, champion_errors=None).per_correction == 0


def test_per_source_scores_and_the_representative_part():
    rows = Rows(("",) * 6, ("a", "b", "a", "b", "a", "a"), (None, None, "b", "a", "a", "a"),
                ("base", "base", "feedback", "feedback", "confirmed", "sampled"), (1.0,) * 6)
    predicted = ["a", "b", "b", "b", "a", "a"]
    assert per_source(rows, predicted) == {"golden": 1.0, "feedback": pytest.approx(1 / 3, abs=1e-4), "confirmed": 1.0}
    encoded = encode(rows, hidden_mistakes(rows, review_rate=None, champion_errors=None), ["a", "b"])
    assert encoded.golden.tolist() == [True, True, False, False, False, False]  # the representative part


def test_the_sign_test_needs_more_than_two_lost_rows_to_call_a_challenger_worse():
    from orchestrator.jobs.evaluate import sign_test

    assert sign_test(2, 0) == 0.25
    assert sign_test(4, 0) == 0.0625
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 1) == pytest.approx(7 / 64)
    assert sign_test(0, 3) == 1.0


def test_compare_is_paired_and_sees_a_clear_gain():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=600)
    champion = np.where(rng.random(600) < 0.7, truth, (truth + 1) % 3)
    challenger = np.where(rng.random(600) < 0.5, truth, champion)  # fixes about half of the mistakes
    rows = Rows(("",) * 600, tuple(CLASSES[i] for i in truth), (None,) * 600, ("base",) * 600, (1.0,) * 600)
    encoded = encode(rows, hidden_mistakes(rows, review_rate=None, champion_errors=None), CLASSES)
    result = compare(encoded, champion, challenger, resamples=300)
    expected = f1_score(truth, challenger, average="macro") - f1_score(truth, champion, average="macro")
    assert result.delta == pytest.approx(expected)
    assert result.representative_delta == pytest.approx(expected)
    assert result.wins == 1.0 and result.risk == 0.0
    assert result.representative_lost == 0 and result.representative_won > 50 and result.representative_p == 1.0
    same = compare(encoded, champion, champion, resamples=100)
    assert same.delta == 0 and same.wins == 0.5  # ties count half
    with pytest.raises(ValueError, match="differ in length"):
        Rows(("",), ("a", "b"), (None,), ("base",), (1.0,))


def test_the_estimated_gain_is_unbiased_without_review_rate_where_the_truth_is_known():
    """Simulated traffic with a known truth (orchestrator.jobs.power): half of the champion's mistakes corrected,
    nothing set. With the champion's error rate from 500 base rows it never trained on, the gate's estimated gain
    is the true gain on average; with no estimate of the hidden mistakes, it is biased for the champion."""
    from dataclasses import replace

    from orchestrator.jobs.power import World, bias

    world = World(accuracy=0.95, golden=100, traffic=1500, base_rows=500)
    for gain in (0.0, 0.01):
        mean, error = bias(gain, world, trials=150, seed=3)
        assert abs(mean) < max(0.002, 3 * error), (gain, mean, error)
    naive, error = bias(0.01, replace(world, told=1.0, base_rows=None), trials=60, seed=3)
    assert naive < -0.004 and naive < -3 * error  # every unflagged row counted as right: the champion is favoured


def test_the_reviewed_share_is_learned_on_the_traffic_the_champion_served():
    """Older rows were served by earlier, weaker models: their corrections say nothing of the champion's error rate.
    The share reviewed is learned where the champion served (1 of its 2 mistakes in 10 rows corrected: one hidden
    mistake per correction), not from all the traffic (4 corrections in 20 rows would mean none hidden)."""
    sources = ("feedback",) + ("sampled",) * 9 + ("feedback",) * 3 + ("sampled",) * 7
    rows = Rows(("",) * 20, ("a",) * 20, ("b",) * 20, sources, (1.0,) * 20)
    rate = ErrorRate(20, 100, "100 golden")
    mine = hidden_mistakes(rows, review_rate=None, champion_errors=rate, served_by_champion=[True] * 10 + [False] * 10)
    assert mine.per_correction == pytest.approx(1.0) and "1 corrections on the traffic it served" in mine.how
    everyone = hidden_mistakes(rows, review_rate=None, champion_errors=rate)
    assert everyone.per_correction == 0.0 and "on all the evaluation traffic (which rows it served is not known)" in everyone.how
    none_of_its_own = hidden_mistakes(rows, review_rate=None, champion_errors=rate, served_by_champion=[False] * 20)
    assert "(none on the traffic it served)" in none_of_its_own.how
    with pytest.raises(ValueError, match="19 entries for 20 rows"):
        hidden_mistakes(rows, review_rate=None, champion_errors=rate, served_by_champion=[True] * 19)
    assert mine.share("m1") is not None and none_of_its_own.share("m1") is None and everyone.share("m1") is None


def test_a_share_reviewed_learned_once_is_carried_and_wins_over_a_later_champions_error_rate():
    """What a champion no comparison chose learned of the share reviewed comes back from a model's metadata (JSON)
    with the same hidden mistakes per correction and the same draws; it wins over a later champion's own error
    rate, review_rate wins over it, and a document that does not read as one is ignored."""
    import json

    sources = ("feedback",) * 2 + ("sampled",) * 18
    rows = Rows(("",) * 20, ("a",) * 20, ("b",) * 20, sources, (1.0,) * 20)
    learned = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(8, 80, "80 golden"), served_by_champion=[True] * 20)
    assert learned.per_correction == pytest.approx(0.0)  # 0.1 × 20 = 2 mistakes, both corrected: a share of 1
    first = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(16, 80, "80 golden"), served_by_champion=[True] * 20)
    assert first.per_correction == pytest.approx(1.0)  # 4 mistakes, 2 corrected: a share of 0.5
    document = json.loads(json.dumps(first.share("m1")))
    carried = carried_share(document)
    assert carried is not None and carried.per_correction == pytest.approx(1.0)
    assert "a share 0.50 of mistakes reviewed, learned on the traffic of model version m1" in carried.how
    # its uncertainty travels with it, and grows: its corrections were one draw of other traffic's mistakes
    here, there = first.draws(4000, np.random.default_rng(3)), carried.draws(4000, np.random.default_rng(3))
    assert 0 < here.std() < there.std()
    assert np.median(here) == pytest.approx(1.0, abs=0.1) and np.median(there) == pytest.approx(1.0, abs=0.1)
    later = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(8, 80, "80 golden"), served_by_champion=[True] * 20,
                            carried=carried)
    assert later is carried and later.per_correction == pytest.approx(1.0)  # not the flattered 0.1's none hidden
    assert hidden_mistakes(rows, review_rate=0.25, champion_errors=None, carried=carried).per_correction == pytest.approx(3.0)
    assert later.share("m2") == document  # carried, not learned again: passed on as it is, still learned on m1
    extra = carried_share({**document, "where": "x" * 1000, "note": "not ours"})
    assert extra is not None and extra.share(None) == {**document, "where": "x" * 300}  # passed on as it was checked
    for broken in (None, "0.5", {}, {**document, "rows": 0}, {**document, "corrections": 0}, {**document, "errors": "x"},
                   {**document, "errors": float("nan")}, {**document, "traffic": 1.0}, {**document, "errors": True},
                   {**document, "rows": 10.9, "errors": 10.5}, {**document, "traffic": 10**400}, {**document, "traffic": 1e300}):
        assert carried_share(broken) is None, broken
    odd = carried_share({**document, "where": ["not", "text"], "learned_on": 7})
    assert odd is not None and "model version ? (" in odd.how and "unknown rows" in odd.how


def test_a_share_carried_from_few_corrections_is_never_drawn_beyond_every_traffic_row_a_mistake():
    """One correction on 100 traffic rows says little of the share reviewed: the draws spread widely, but never past
    99 hidden mistakes per correction (every traffic row a mistake), and stay centred near the point estimate."""
    carried = carried_share({"errors": 10, "rows": 80, "traffic": 100, "corrections": 1})
    assert carried is not None and carried.per_correction == pytest.approx(11.5)
    draws = carried.draws(20_000, np.random.default_rng(0))
    assert draws.max() <= 99 + 1e-9 and draws.min() >= 0
    assert 5 < np.median(draws) < 25 and np.mean(draws >= 99 - 1e-9) < 0.05


def test_a_share_is_learned_only_on_a_champion_no_comparison_chose_that_was_never_replaced():
    """Which share a kept model carries: the champion's; else what the decision learned, when the champion was chosen
    by no comparison and has served without a break since its dataset; else none. A rolled-back model finds the share
    it gave before it was replaced in the registry."""
    from orchestrator.contracts.model_registry import Promotion, Registry, Version
    from orchestrator.jobs.hidden import share_learned_on, share_to_carry

    rows = Rows(("",) * 20, ("a",) * 20, ("b",) * 20, ("feedback",) * 2 + ("sampled",) * 18, (1.0,) * 20)
    learned = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(16, 80, "80 golden"), served_by_champion=[True] * 20)
    first, second = Version("v1", "d1", "t1", "deployed", "first"), Version("v2", "d2", "t2", "deployed", "better", parent="v1",
                                                                        details={"review_share": learned.share("v1")})
    served_alone = Registry((first,), "v1", (Promotion("v1", None, "retrain", "t1", "first", "deploy"),))
    assert share_to_carry(served_alone, "v1", {"version": "v1", "champion": None}, None, learned) == learned.share("v1")
    assert share_to_carry(served_alone, "v1", {"version": "v1", "champion": {"pooled": 0.8}}, None, learned) is None  # chosen
    back = Registry((first, second), "v1", (*served_alone.promotions, Promotion("v2", "v1", "retrain", "t2", "better", "deploy"),
                                           Promotion("v1", "v2", "someone", "t3", "regression", "rollback")))
    assert share_to_carry(back, "v1", {"version": "v1", "champion": None}, None, learned) is None  # replaced once
    carried = share_learned_on(back, "v1")
    assert carried is not None and carried.share(None) == learned.share("v1")
    assert share_learned_on(back, "v2") is None and share_learned_on(back, None) is None
    assert share_to_carry(back, "v1", {"version": "v1", "champion": None}, carried, learned) == learned.share("v1")


def test_a_share_given_before_is_used_as_it_is_only_after_a_rollback_else_learned_anew():
    """While a first model serves, each decision learns the share reviewed anew on its traffic, which grows every
    round: a challenger refused last round, which carries what that round learned, must not freeze it. Only after a
    rollback to it is the share it gave before it was replaced used as it is."""
    from orchestrator.contracts.model_registry import Promotion, Registry, Version
    from orchestrator.jobs.hidden import champion_share

    rows = Rows(("",) * 20, ("a",) * 20, ("b",) * 20, ("feedback",) * 2 + ("sampled",) * 18, (1.0,) * 20)
    learned = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(16, 80, "80 golden"), served_by_champion=[True] * 20)
    first = Version("v1", "d1", "t1", "deployed", "first")
    refused = Version("v2", "d2", "t2", "rejected", "not better", parent="v1", details={"review_share": learned.share("v1")})
    deployed_once = Promotion("v1", None, "retrain", "t1", "first", "deploy")
    serving = Registry((first, refused), "v1", (deployed_once,))
    assert champion_share(serving, "v1", {"version": "v1", "champion": None}) is None  # learned anew
    # a decision that cannot tell which rows the champion served learns none: it uses the fullest one learned before
    unknown = champion_share(serving, "v1", {"version": "v1", "champion": None}, learns=False)
    assert unknown is not None and unknown.share(None) == learned.share("v1")
    back = Registry((first, refused), "v1", (deployed_once, Promotion("v2", "v1", "someone", "t3", "try", "promote"),
                                             Promotion("v1", "v2", "someone", "t4", "regression", "rollback")))
    found = champion_share(back, "v1", {"version": "v1", "champion": None})
    assert found is not None and found.carried and found.share(None) == learned.share("v1")
    own = {"review_share": {**learned.share("v1"), "learned_on": "v0", "corrections": 1}}  # its own metadata's comes first
    mine = champion_share(back, "v1", {"version": "v1", "champion": None, "details": own})
    assert mine is not None and mine.corrections == 1


def test_a_round_that_learns_less_than_an_earlier_one_passes_the_earlier_one_on():
    """While the first model serves, a kept model carries the fullest share learned on its traffic: this round's, or an
    earlier round's when this one learned none (the champion's own corrections could not be told) or a thinner one."""
    from orchestrator.contracts.model_registry import Promotion, Registry, Version
    from orchestrator.jobs.hidden import share_to_carry

    full = {"errors": 16, "rows": 80, "where": "80 golden", "traffic": 300, "corrections": 30, "learned_on": "v1"}
    registry = Registry((Version("v1", "d1", "t1", "deployed", "first"),
                         Version("v2", "d2", "t2", "rejected", "no", parent="v1", details={"review_share": full})),
                        "v1", (Promotion("v1", None, "retrain", "t1", "first", "deploy"),))
    meta = {"version": "v1", "champion": None}
    nothing = Hidden(0.5, "error rate of the champion on all the evaluation traffic", error_rate=ErrorRate(16, 80, "80 golden"),
                     traffic=400, corrections=40)  # not learned: which rows it served was not known
    assert share_to_carry(registry, "v1", meta, None, nothing) == full
    thinner = Hidden(0.5, "learned", error_rate=ErrorRate(16, 80, "80 golden"), traffic=200, corrections=20, learned=True)
    assert share_to_carry(registry, "v1", meta, None, thinner) == full
    fuller = Hidden(0.5, "learned", error_rate=ErrorRate(16, 80, "80 golden"), traffic=500, corrections=50, learned=True)
    assert share_to_carry(registry, "v1", meta, None, fuller) == fuller.share("v1")
    assert share_to_carry(registry, "v1", {"version": "v1", "champion": {"pooled": 0.7}}, None, fuller) is None  # chosen


def test_the_fullest_share_learned_on_a_model_is_the_one_used():
    """v2 was refused early (its share rests on 100 rows of v1's traffic) and v3 later (300 rows). Promoted by hand,
    v2 uses the fuller share; versions kept while it serves copy it; after a rollback to v1, the share v1 gave
    before it was replaced is the fullest, not the newest copy."""
    from orchestrator.contracts.model_registry import Promotion, Registry, Version
    from orchestrator.jobs.hidden import champion_share, share_learned_on

    thin = {"errors": 16, "rows": 80, "where": "80 golden", "traffic": 100, "corrections": 8, "learned_on": "v1"}
    full = {**thin, "traffic": 300, "corrections": 30}
    versions = [Version("v1", "d1", "t1", "deployed", "first"),
                Version("v2", "d2", "t2", "rejected", "no", parent="v1", details={"review_share": thin}),
                Version("v3", "d3", "t3", "rejected", "no", parent="v1", details={"review_share": full})]
    promotions = [Promotion("v1", None, "retrain", "t1", "first", "deploy"), Promotion("v2", "v1", "someone", "t4", "try", "promote")]
    registry = Registry(tuple(versions), "v2", tuple(promotions))
    used = champion_share(registry, "v2", {"version": "v2", "champion": {"pooled": 0.7}, "details": {"review_share": thin}})
    assert used is not None and used.traffic == 300 and used.corrections == 30 and used.learned_on == "v1"
    # a copy of v2's own, as a release before the fuller share was looked up kept it while v2 served
    versions.append(Version("v4", "d4", "t5", "rejected", "no", parent="v2", details={"review_share": thin}))
    promotions.append(Promotion("v1", "v2", "someone", "t6", "back", "rollback"))
    back = Registry(tuple(versions), "v1", tuple(promotions))
    fullest = share_learned_on(back, "v1")
    assert fullest is not None and fullest.share(None) == full
    rolled = champion_share(back, "v1", {"version": "v1", "champion": None})
    assert rolled is not None and rolled.traffic == 300
