"""The decision rule, as pure functions."""

from __future__ import annotations

import pytest

from orchestrator.config.settings import LabelConfig
from orchestrator.plan.rules import dataset_len, decide, has_arrived


def label(threshold=30, ratio=0.5):
    return LabelConfig(name="department", threshold=threshold, sample_ratio=ratio, metadata="m.json", retrain="o/r")


@pytest.mark.parametrize(
    ("corrections", "ratio", "expected"),
    [(0, 0.5, 0), (1, 0.5, 1), (3, 0.5, 4), (25, 0.5, 37), (40, 0.5, 60), (10, 0.1, 11), (3, 0.1, 3), (7, 0, 7), (5, 2, 15)],
)
def test_dataset_len_is_corrections_plus_floor_of_sampled(corrections, ratio, expected):
    assert dataset_len(corrections, ratio) == expected


def test_float_ratios_do_not_round_wrong():
    # 0.1 * 30 is 3.0000000000000004 in floats; exact arithmetic gives 3
    assert dataset_len(30, 0.1) == 33
    assert dataset_len(10, 0.3) == 13  # 0.3 * 10 = 2.9999999999999996 in floats


def test_fires_exactly_at_the_threshold():
    assert decide(label(threshold=37), 25).fire is True
    assert decide(label(threshold=38), 25).fire is False
    decision = decide(label(threshold=37), 25)
    assert (decision.corrections, decision.dataset_len, decision.required) == (25, 37, 37)
    assert "37 >= threshold 37" in decision.reason


def test_since_counts_only_new_corrections_but_requires_the_whole_dataset():
    decision = decide(label(threshold=30), 60, since=45)
    assert (decision.counted, decision.dataset_len, decision.fire) == (15, 22, False)
    assert decision.required == 90
    assert decide(label(threshold=30), 65, since=45).fire is True


def test_arrival_needs_a_new_version_and_enough_samples():
    assert has_arrived(baseline="v1", version_tag="v2", num_samples=60, required=60)
    assert not has_arrived(baseline="v1", version_tag="v1", num_samples=600, required=60)
    assert not has_arrived(baseline="v1", version_tag="v2", num_samples=59, required=60)
    assert has_arrived(baseline=None, version_tag="v1", num_samples=60, required=60)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        dataset_len(-1, 0.5)


def _plan_of(states: dict, counts: dict, **kwargs):
    from orchestrator.config.loader import load_settings
    from orchestrator.plan.planner import make_plan

    settings = load_settings(
        {
            "DATABASE_URL": "sqlite:///unused.db", "PREPARE_DATASET_REPO": "o/prepare", "RETRAIN_DEPT_REPO": "o/rd",
            "RETRAIN_URGENCY_REPO": "o/ru", "THRESHOLD_DEPARTMENT": "30", "THRESHOLD_URGENCY": "30",
            "HF_HUB_METADATA_DEPT": "https://huggingface.co/datasets/o/d/resolve/main/dataset_metadata.json",
            "HF_HUB_METADATA_URGENCY": "https://huggingface.co/datasets/o/u/resolve/main/dataset_metadata.json",
        },
        env_file=None,
    )
    return {entry.name: entry.step for entry in make_plan(settings, states, counts, **kwargs).labels}


def test_a_retraining_label_is_followed_and_does_not_fire():
    from orchestrator.state.records import LabelState

    states = {
        "department": LabelState("department", state="retraining", last_retrained_version="v2", retrain_ref="o/j1"),
        "urgency": LabelState("urgency"),
    }
    # a retraining label is followed, even past its threshold: one retrain per label at a time
    assert _plan_of(states, {"department": 100, "urgency": 0}) == {"department": "follow", "urgency": "skip"}
    assert _plan_of(states, {"department": 100, "urgency": 100}) == {"department": "follow", "urgency": "fire"}


# ---------------------------------------------------------------------------------------------- triggers beyond a count
def exact_tail(k: int, n: int, p: str) -> float:
    """``P[X >= k]`` for ``X ~ Binomial(n, p)`` in exact rational arithmetic: the reference."""
    from fractions import Fraction
    from math import comb

    q = Fraction(p)
    return float(sum(comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize(
    ("k", "n", "p", "known"),
    [
        (8, 10, "0.5", 56 / 1024),  # (45 + 10 + 1) / 2^10
        (9, 10, "0.5", 11 / 1024),
        (10, 10, "0.5", 1 / 1024),
        (5, 5, "0.3", 0.3**5),
        (1, 1000, "0.001", 1 - 0.999**1000),  # at least one: one minus none
        (0, 7, "0.2", 1.0),
        (8, 7, "0.2", 0.0),
    ],
)
def test_binomial_tail_matches_closed_forms(k, n, p, known):
    from orchestrator.plan.triggers import binomial_tail

    assert binomial_tail(k, n, float(p)) == pytest.approx(known, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(28, 250, "0.08"), (30, 250, "0.08"), (20, 250, "0.1"), (3, 1000, "0.001"), (100, 1000, "0.08"), (60, 1000, "0.08"),
     (80, 1000, "0.08"), (81, 1000, "0.08"), (290, 3000, "0.08"), (1, 200, "0.5"), (200, 200, "0.5"), (150, 400, "0.35")],
)
def test_binomial_tail_matches_exact_rational_sums(k, n, p):
    """Both tails (above and below the mean), against the sum of every term in exact arithmetic."""
    from orchestrator.plan.triggers import binomial_tail

    assert binomial_tail(k, n, float(p)) == pytest.approx(exact_tail(k, n, p), rel=1e-10)


def test_binomial_tail_is_quick_and_finite_for_a_million_rows():
    import time

    from orchestrator.plan.triggers import binomial_tail

    started = time.monotonic()
    upper, lower = binomial_tail(81_000, 1_000_000, 0.08), binomial_tail(79_000, 1_000_000, 0.08)
    assert time.monotonic() - started < 0.5
    # the normal approximation: sd = sqrt(1e6 x 0.08 x 0.92) = 271.3, so 81,000 is 3.69 sd above the mean
    assert 1.0e-4 < upper < 1.4e-4 and 0.9998 < lower < 0.99995
    assert binomial_tail(200_000, 1_000_000, 0.08) == 0.0  # far out: underflows to 0, never an error


def triggered(**fields):
    return LabelConfig(name="department", threshold=1000, metadata="m.json", retrain="o/r", **fields)


def test_an_error_rate_below_the_observed_one_fires_and_one_above_does_not():
    # 30 corrections in 250 reviewed rows: 0.12, P[X >= 30 | 250, 0.08] = 0.0174
    fires = decide(triggered(error_rate=0.08), 30, reviewed=250)
    assert (fires.fire, fires.trigger) == (True, ("error_rate",))
    assert fires.reason == "error rate 0.120 (30 corrections in 250 reviewed) > 0.08, p=0.017"
    quiet = decide(triggered(error_rate=0.1), 30, reviewed=250)  # P[X >= 30 | 250, 0.1] = 0.170
    assert (quiet.fire, quiet.trigger) == (False, ())
    assert "error rate 0.120 (30 corrections in 250 reviewed) not significantly > 0.1, p=0.170" in quiet.reason
    assert "dataset_len 45 < threshold 1000" in quiet.reason  # not firing: every trigger says why
    # at the edge: 28 of 250 gives p = 0.0453 (fires), 27 of 250 p = 0.0694 (above 0.08, but not significantly)
    assert decide(triggered(error_rate=0.08), 28, reviewed=250).fire is True
    assert decide(triggered(error_rate=0.08), 27, reviewed=250).fire is False


def test_the_error_rate_waits_for_min_reviewed_rows():
    label = triggered(error_rate=0.08)
    assert label.min_reviewed == 200  # the default
    few = decide(label, 100, reviewed=199)  # 50%: it would be significant, but too few rows were reviewed
    assert few.fire is False and "199 rows reviewed < min_reviewed 200 for error_rate 0.08" in few.reason
    assert decide(triggered(error_rate=0.08, min_reviewed=100), 100, reviewed=199).fire is True


def test_the_error_rate_counts_from_the_last_prepare():
    from orchestrator.plan.rules import Baseline

    label = triggered(error_rate=0.08)
    since = Baseline(corrections=30, rate=(30, 250), cursor=30)
    again = decide(label, 30, reviewed=250, baseline=since)  # nothing new: it does not fire twice
    assert again.fire is False and "0 rows reviewed since the last prepare < min_reviewed 200" in again.reason
    newer = decide(label, 60, reviewed=500, baseline=since)  # 30 new corrections in 250 newly reviewed rows
    assert newer.fire is True
    assert "error rate 0.120 (30 corrections in 250 reviewed since the last prepare) > 0.08" in newer.reason
    calmer = decide(label, 45, reviewed=500, baseline=since)  # 15 in 250: 0.06
    assert calmer.fire is False


def test_max_age_fires_only_with_new_corrections_once_the_last_prepare_is_old_enough():
    from datetime import datetime, timedelta, timezone

    from orchestrator.plan.rules import Baseline

    label = triggered(max_age="30d")
    now = datetime(2025, 3, 1, tzinfo=timezone.utc)
    old = Baseline(corrections=40, cursor=40, at=now - timedelta(days=31), prepared=True)
    fires = decide(label, 41, baseline=old, now=now)
    assert (fires.fire, fires.trigger) == (True, ("max_age",))
    assert fires.reason == "last prepare 31d ago > max_age 30d, 1 new correction"
    stale = decide(label, 40, baseline=old, now=now)
    assert stale.fire is False and "last prepare 31d ago > max_age 30d, but no new corrections" in stale.reason
    recent = decide(label, 41, baseline=Baseline(corrections=40, cursor=40, at=now - timedelta(days=29), prepared=True), now=now)
    assert recent.fire is False and "last prepare 29d ago <= max_age 30d" in recent.reason
    first = decide(label, 3, baseline=Baseline(at=now - timedelta(days=30, hours=6)), now=now)  # never prepared
    assert first.fire is True and first.reason == "no prepare yet, first seen 30.2d ago > max_age 30d, 3 new corrections"
    unseen = decide(label, 3, now=now)  # no run has seen the label yet (a dry run's or status's view)
    assert unseen.fire is False and "max_age 30d counts from the first run that sees the label" in unseen.reason


def test_a_label_fires_when_any_trigger_fires_and_says_which():
    from datetime import datetime, timedelta, timezone

    from orchestrator.plan.rules import Baseline

    now = datetime(2025, 3, 1, tzinfo=timezone.utc)
    label = LabelConfig(name="department", threshold=30, metadata="m.json", retrain="o/r", error_rate=0.08, max_age="30d")
    old = Baseline(at=now - timedelta(days=40), prepared=True)
    decision = decide(label, 40, reviewed=250, baseline=old, now=now)
    assert decision.trigger == ("count", "error_rate", "max_age")
    assert [check.trigger for check in decision.checks] == ["count", "error_rate", "max_age"]
    assert decision.reason.startswith("dataset_len 60 >= threshold 30 (40 corrections); error rate 0.160")
    only_age = decide(label, 5, reviewed=250, baseline=old, now=now)
    assert (only_age.fire, only_age.trigger) == (True, ("max_age",))
    assert only_age.reason == "last prepare 40d ago > max_age 30d, 5 new corrections"  # the firing trigger's reason
    assert decide(label, 5, reviewed=250, now=now).fire is False  # no run saw it yet: only the counts are asked


def test_a_count_only_label_decides_as_before():
    decision = decide(label(threshold=37), 25, reviewed=10_000)
    assert decision.trigger == ("count",) and decision.reason == "dataset_len 37 >= threshold 37 (25 corrections)"
    assert [check.trigger for check in decision.checks] == ["count"]


def test_the_planner_counts_each_trigger_from_the_label_state():
    """After a prepare, no trigger fires again for the same feedback; in cumulative mode, or for a label whose
    reviewed rows at its last prepare were not recorded, the error rate is over all the feedback."""
    from datetime import datetime, timedelta, timezone

    from orchestrator.config.settings import Settings
    from orchestrator.plan.planner import make_plan
    from orchestrator.state.records import LabelState

    now = datetime(2025, 3, 1, tzinfo=timezone.utc)
    topic = LabelConfig(name="topic", threshold=1000, metadata="m.json", retrain="o/r", error_rate=0.08, max_age="30d")

    def plan(state: LabelState, corrections: int, reviewed: int, mode: str = "new_feedback"):
        settings = Settings(database_url="sqlite://", prepare="o/p", labels=(topic,), trigger_mode=mode)
        (entry,) = make_plan(settings, {"topic": state}, {"topic": corrections}, reviewed={"topic": reviewed}, now=now).labels
        return entry

    first = plan(LabelState("topic", first_seen_at=now - timedelta(days=1)), 30, 250)
    assert (first.step, first.decision.trigger) == ("fire", ("error_rate",))
    prepared = LabelState("topic", cursor=30, reviewed_cursor=250, prepared_at=now - timedelta(days=40),
                          first_seen_at=now - timedelta(days=50))
    again = plan(prepared, 30, 250)
    assert again.step == "skip"
    assert "0 rows reviewed since the last prepare" in again.reason and "but no new corrections" in again.reason
    assert plan(prepared, 31, 260).decision.trigger == ("max_age",)  # one new correction, 40 days on
    assert plan(prepared.with_(prepared_at=now - timedelta(days=2)), 31, 260).step == "skip"
    assert plan(prepared, 30, 250, mode="cumulative").decision.trigger == ("error_rate",)  # the running totals
    unknown = prepared.with_(reviewed_cursor=None, prepared_at=now)  # prepared before the reviewed rows were kept
    assert plan(unknown, 60, 500).decision.trigger == ()  # it would count feedback already prepared: it waits
    assert "error_rate waits for the next prepare" in plan(unknown, 60, 500).reason
    failed = prepared.with_(prepare_outcome="failed", prepare_failed_at=31)  # a failed prepare: not for the same feedback
    assert plan(failed, 31, 260).step == "skip" and plan(failed, 31, 260).decision.trigger == ()
