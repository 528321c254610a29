"""All SQL against the application's own tables: counting the reviewed corrections per label.

Table and column names come only from validated configuration (safe identifiers) and are quoted by
SQLAlchemy; values are bound parameters. A *correction* for label X is a row where
``reviewed = TRUE AND correct_X IS NOT NULL AND model_predicted_X IS DISTINCT FROM correct_X``.
All labels stored in one table are counted in one query.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, and_, case, column, func, select, table, true
from sqlalchemy.sql.elements import ColumnElement

from ..config.settings import LabelConfig
from .database import translate_errors


def correction_condition(label: LabelConfig) -> ColumnElement[bool]:
    """The SQL condition that makes a row of ``label.table`` a correction for ``label``."""
    reviewed = column(label.reviewed_column)
    predicted = column(label.predicted_column)
    correct = column(label.correct_column)
    return and_(reviewed.is_(true()), correct.is_not(None), predicted.is_distinct_from(correct))


def _table(name: str):
    schema, _, bare = name.rpartition(".")
    return table(bare, schema=schema or None)


def count_corrections(engine: Engine, labels: Iterable[LabelConfig]) -> dict[str, int]:
    """Return ``{label: number of corrections}``, one query per distinct feedback table."""
    by_table: dict[str, list[LabelConfig]] = {}
    for label in labels:
        by_table.setdefault(label.table, []).append(label)
    counts: dict[str, int] = {}
    with translate_errors(engine, "counting corrections"), engine.connect() as conn:
        for table_name, members in by_table.items():
            columns = [
                func.coalesce(func.sum(case((correction_condition(label), 1), else_=0)), 0).label(label.name)
                for label in members
            ]
            row = conn.execute(select(*columns).select_from(_table(table_name))).one()
            counts.update({label.name: int(row._mapping[label.name]) for label in members})
    return counts


def confirmation_condition(label: LabelConfig) -> ColumnElement[bool]:
    """A reviewed row where staff confirmed the model's label (``correct_X = model_predicted_X``).

    The counting query ignores these; the reference jobs use them as gold labels."""
    reviewed = column(label.reviewed_column)
    predicted = column(label.predicted_column)
    correct = column(label.correct_column)
    return and_(reviewed.is_(true()), correct.is_not(None), predicted == correct)
