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
