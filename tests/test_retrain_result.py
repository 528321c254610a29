"""The retrain_result.json contract at the parse level: what settles a retrain, and what is malformed."""

from __future__ import annotations

import json

import pytest

from orchestrator.contracts.retrain_result import parse_result
from orchestrator.errors import MetadataError


def document(**fields: object) -> str:
    return json.dumps({"dataset_version": "v3", "decision": "deployed", **fields})


def test_metrics_are_numbers_integers_included():
    result = parse_result(document(metrics={"macro_f1": 0.8123, "epochs": 3}), source="result")
    assert (result.metric_name, result.metric) == ("macro_f1", 0.8123)
    assert parse_result(document(metrics={"macro_f1": 1}, metric="macro_f1"), source="result").metric == 1.0


@pytest.mark.parametrize(("metrics", "shown"), [
    ({"macro_f1": True}, "macro_f1 must be a number, not true"),  # was read as a perfect 1.0
    ({"macro_f1": False}, "macro_f1 must be a number, not false"),
    ({"macro_f1": "0.91"}, 'macro_f1 must be a number, not "0.91"'),
    ({"macro_f1": None}, "macro_f1 must be a number, not null"),
    ({"macro_f1": [0.9]}, "macro_f1 must be a number, not an array"),
    ({"macro_f1": 0.9, "golden": True}, "golden must be a number, not true"),
])
def test_a_metric_that_is_not_a_number_makes_the_document_malformed(metrics, shown):
    with pytest.raises(MetadataError) as caught:
        parse_result(document(metrics=metrics), source="retrain result hub:o/m")
    assert caught.value.message == f"retrain result hub:o/m is malformed: metrics.{shown}"
    assert "retrain_result.json" in caught.value.hint
