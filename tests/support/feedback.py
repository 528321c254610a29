"""A feedback table for many labels at once, as the many-labels test and benchmark use it."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, insert

from orchestrator.remote.database import make_engine


def many_labels_feedback(url: str, labels: Sequence[str], firing: Collection[str], *, rows: int = 40, others: int = 5) -> None:
    """One ``misclassified_complaints`` table with each label's predicted and correct columns: ``rows`` reviewed
    corrections for a firing label (dataset_len 60 with the default counts, over a threshold of 30), ``others`` for
    the rest (dataset_len 7)."""
    metadata = MetaData()
    columns = [Column("id", Integer, primary_key=True), Column("reviewed", Boolean)]
    for label in labels:
        columns += [Column(f"model_predicted_{label}", String(20)), Column(f"correct_{label}", String(20))]
    table = Table("misclassified_complaints", metadata, *columns)
    engine = make_engine(url)
    try:
        metadata.create_all(engine)
        values = [{"reviewed": True, **{f"model_predicted_{label}": "a" for label in labels},
                   **{f"correct_{label}": "b" if label in firing or i < others else "a" for label in labels}}
                  for i in range(rows)]
        with engine.begin() as conn:
            conn.execute(insert(table), values)
    finally:
        engine.dispose()
