"""All SQL against the application's own tables: counting the reviewed corrections per label.

Table and column names come only from validated configuration (safe identifiers) and are quoted by
SQLAlchemy; values are bound parameters. A *correction* for label X is a row where
``reviewed = TRUE AND correct_X IS NOT NULL AND model_predicted_X IS DISTINCT FROM correct_X``.
The same query counts the table's reviewed rows (``reviewed = TRUE``), the ``error_rate`` trigger's denominator:
all labels stored in one table are counted in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Feedback:
    """What the feedback tables hold now, per label: its corrections, and the rows reviewed (``reviewed =
    TRUE``) in its table, which the ``error_rate`` trigger divides them by."""

    corrections: dict[str, int]
    reviewed: dict[str, int]


def count_feedback(engine: Engine, labels: Iterable[LabelConfig]) -> Feedback:
    """Each label's corrections and its table's reviewed rows: one query per distinct feedback table."""
    by_table: dict[str, list[LabelConfig]] = {}
    for label in labels:
        by_table.setdefault(label.table, []).append(label)
    corrections: dict[str, int] = {}
    reviewed: dict[str, int] = {}
    with translate_errors(engine, "counting corrections"), engine.connect() as conn:
        for table_name, members in by_table.items():
            columns = [
                func.coalesce(func.sum(case((correction_condition(label), 1), else_=0)), 0).label(label.name)
                for label in members
            ]
            # one reviewed count per reviewed column of the table, named as no label can be (labels start with a letter)
            flags = {name: f"_reviewed_{i}" for i, name in enumerate(dict.fromkeys(label.reviewed_column for label in members))}
            columns += [
                func.coalesce(func.sum(case((column(name).is_(true()), 1), else_=0)), 0).label(alias)
                for name, alias in flags.items()
            ]
            row = conn.execute(select(*columns).select_from(_table(table_name))).one()._mapping
            corrections.update({label.name: int(row[label.name]) for label in members})
            reviewed.update({label.name: int(row[flags[label.reviewed_column]]) for label in members})
    return Feedback(corrections, reviewed)


def count_corrections(engine: Engine, labels: Iterable[LabelConfig]) -> dict[str, int]:
    """Return ``{label: number of corrections}``, one query per distinct feedback table."""
    return count_feedback(engine, labels).corrections


def confirmation_condition(label: LabelConfig) -> ColumnElement[bool]:
    """A reviewed row where staff confirmed the model's label (``correct_X = model_predicted_X``).

    The counting query ignores these; the reference jobs use them as gold labels."""
    reviewed = column(label.reviewed_column)
    predicted = column(label.predicted_column)
    correct = column(label.correct_column)
    return and_(reviewed.is_(true()), correct.is_not(None), predicted == correct)
