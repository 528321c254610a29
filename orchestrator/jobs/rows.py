"""Where a dataset version's rows come from: the app database and a base labelled set, streamed.

Four sources of rows, each a stream of :class:`Row`:

- ``feedback``: every reviewed correction for the label, with the reviewer's (gold) label and the label
  the model had served;
- ``confirmed``: every reviewed prediction that staff confirmed (``correct_X = model_predicted_X``), gold;
- ``sampled``: complaints nobody flagged, with the deployed model's label, chosen in SQL by a seeded
  pseudo-random order that PostgreSQL and SQLite compute alike. The ``traffic`` recipe (the default)
  takes all of them, up to ``max_sampled``: the traffic as it is, so that training and evaluation see
  its class mix and not only its mistakes. The ``seed`` recipe takes ``floor(corrections × ratio)``, as
  the seed's prepare Space did;
- ``base``: a labelled CSV or parquet file, replayed so that training does not forget the distribution
  (the corrections alone are mostly the champion's errors).

Memory holds one batch of rows at a time, never whole tables. :mod:`.dataset` writes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import ColumnClause, Engine, Select, TableClause, column, func, literal, select, table
from sqlalchemy.sql.elements import ColumnElement

from orchestrator.config.settings import LabelConfig
from orchestrator.plan.rules import dataset_len
from orchestrator.remote.database import translate_errors
from orchestrator.remote.feedback import confirmation_condition, correction_condition

BATCH_ROWS = 10_000
# The sampled rows' order: a multiplicative hash of the id modulo a prime (see _sample).
_HASH_MULTIPLIER = 2654435761
_HASH_MODULUS = 4294967291
RECIPES = ("traffic", "seed")


@dataclass(frozen=True, slots=True)
class Row:
    row_id: str
    text: str
    label: str
    source: str  # "feedback", "confirmed", "sampled" or "base"
    served: str | None = None  # the label the deployed model gave (None for base rows)


# ---------------------------------------------------------------------------------------------- database
@dataclass(frozen=True)
class FeedbackTables:
    """Where a label's feedback lives in the app database (the jobs' settings plus the label's own)."""

    label: LabelConfig
    complaints_table: str = "complaints"
    id_column: str = "id"
    text_column: str = "message"
    feedback_key: str = "complaint_id"
    predicted_in_complaints: str | None = None

    def complaints(self) -> TableClause:
        predicted = self.predicted_in_complaints or self.label.name
        return _table(self.complaints_table, self.id_column, self.text_column, predicted)

    def reviewed(self, condition: ColumnElement[bool]) -> Select:
        """(complaint id, gold label, served label) of the feedback rows matching ``condition``."""
        label = self.label
        # The condition names its columns unqualified: keep it alone in a subquery, so that no column
        # of the complaints table can make a name ambiguous.
        return (
            select(
                column(self.feedback_key).label("complaint_id"),
                column(label.correct_column).label("gold"),
                column(label.predicted_column).label("served"),
            )
            .select_from(_table(label.table))
            .where(condition)
        )

    def unflagged(self, seed: int) -> Select:
        complaints = self.complaints()
        predicted = self.predicted_in_complaints or self.label.name
        flagged_key = _table(self.label.table, self.feedback_key).c[self.feedback_key]
        return _unflagged(
            complaints.c[self.id_column], complaints.c[self.text_column], complaints.c[predicted], flagged_key, seed
        )


def feedback_population(engine: Engine, label: LabelConfig, **tables: Any) -> dict[str, int]:
    """How many corrections, confirmations and unflagged complaints (with a text and a model label) there
    are; ``tables`` as for :func:`iter_feedback_rows`."""
    tables = FeedbackTables(label, **tables)
    complaints = tables.complaints()
    complaint_id = complaints.c[tables.id_column]
    counts = {}
    with translate_errors(engine, f"counting the feedback for {tables.label.name}"), engine.connect() as conn:
        for name, condition in (("feedback", correction_condition), ("confirmed", confirmation_condition)):
            reviewed = tables.reviewed(condition(tables.label)).subquery(name)
            joined = reviewed.join(complaints, complaint_id == reviewed.c.complaint_id)
            counts[name] = int(conn.execute(select(func.count()).select_from(joined)).scalar_one())
        unflagged = tables.unflagged(0).order_by(None).subquery("unflagged")
        counts["unflagged"] = int(conn.execute(select(func.count()).select_from(unflagged)).scalar_one())
    return counts


def iter_feedback_rows(
    engine: Engine,
    label: LabelConfig,
    *,
    complaints_table: str = "complaints",
    id_column: str = "id",
    text_column: str = "message",
    feedback_key: str = "complaint_id",
    predicted_in_complaints: str | None = None,
    recipe: str = "traffic",
    max_sampled: int = 50_000,
    ratio: float | None = None,
    seed: int = 0,
    batch_size: int = 5000,
) -> Iterator[Row]:
    """Every correction for the label (gold label), every confirmation, then unflagged complaints.

    Corrections and confirmations are rows of ``label.table`` matching
    :func:`~orchestrator.remote.feedback.correction_condition` / ``confirmation_condition``, joined on
    ``feedback_key`` to the complaint that holds the text. Unflagged complaints have no row at all in
    ``label.table``; they carry the deployed model's label, ``complaints.<predicted_in_complaints>``
    (default: the label's name), and those without one are skipped. How many: all of them up to
    ``max_sampled`` (recipe ``traffic``), or ``floor(corrections × ratio)`` (recipe ``seed``; ``ratio``
    defaults to ``label.sample_ratio``, so the rows match the orchestrator's ``dataset_len``). Fewer are
    sampled if fewer complaints qualify. Results are streamed in batches of ``batch_size``.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
    tables = FeedbackTables(label, complaints_table, id_column, text_column, feedback_key, predicted_in_complaints)
    ratio = label.sample_ratio if ratio is None else ratio
    complaints = tables.complaints()
    complaint_id = complaints.c[tables.id_column]
    text = complaints.c[tables.text_column]
    with translate_errors(engine, f"reading the feedback for {label.name}"), engine.connect() as conn:
        conn = conn.execution_options(stream_results=True, yield_per=batch_size)
        corrections = 0
        for source, condition in (("feedback", correction_condition), ("confirmed", confirmation_condition)):
            reviewed = tables.reviewed(condition(label)).subquery(source)
            rows = (
                select(complaint_id, text, reviewed.c.gold, reviewed.c.served)
                .select_from(reviewed.join(complaints, complaint_id == reviewed.c.complaint_id))
                .order_by(complaint_id, reviewed.c.gold)
            )
            for key, message, gold, served in conn.execute(rows):
                corrections += source == "feedback"
                # write_dataset drops (and counts) empty texts
                yield Row(f"c{key}", message or "", gold, source, served)
        wanted = max_sampled if recipe == "traffic" else dataset_len(corrections, ratio) - corrections
        if wanted > 0:
            for key, message, model_label in conn.execute(tables.unflagged(seed).limit(wanted)):
                yield Row(f"c{key}", message, model_label, "sampled", model_label)


def _unflagged(
    key: ColumnClause, text: ColumnClause, model_label: ColumnClause, flagged_key: ColumnClause, seed: int
) -> Select:
    """Complaints with a text, a model label and no row in the feedback table, in a seeded order.

    The order is ``(id × 2654435761 + offset) mod 4294967291``, then the id: the same on every database
    (no ``RANDOM()``), and another order for every seed.
    """
    flagged = select(literal(1)).where(flagged_key == key).exists()
    offset = (seed * _HASH_MULTIPLIER) % _HASH_MODULUS
    order = (key * literal(_HASH_MULTIPLIER) + literal(offset)) % literal(_HASH_MODULUS)
    return (
        select(key, text, model_label)
        .where(~flagged, model_label.is_not(None), text.is_not(None))
        .order_by(order, key)
    )


def _table(name: str, *columns: str) -> TableClause:
    schema, _, bare = name.rpartition(".")
    return table(bare, *(column(c) for c in dict.fromkeys(columns)), schema=schema or None)


# ---------------------------------------------------------------------------------------------- base set
def iter_base_rows(
    path: Path, *, label: str, id_column: str = "id", text_column: str = "text", batch_size: int = BATCH_ROWS
) -> Iterator[Row]:
    """Rows of a labelled ``.csv`` or ``.parquet`` file; the label column is named like the label.

    Rows with an empty or missing id, text or label are skipped.
    """
    columns = [id_column, text_column, label]
    for batch in _batches(Path(path), columns, batch_size):
        ids, texts, labels = (batch.column(name).to_pylist() for name in columns)
        for row_id, text, gold in zip(ids, texts, labels):
            if all(value is not None and value != "" for value in (row_id, text, gold)):
                yield Row(f"b{row_id}", str(text), str(gold), "base")


def _batches(path: Path, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    suffixes = path.suffixes
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        parquet = pq.ParquetFile(path)
        _require(columns, parquet.schema_arrow.names, path)
        yield from parquet.iter_batches(columns=columns, batch_size=batch_size)
    elif ".csv" in suffixes[-2:]:  # .csv, or compressed: .csv.gz, .csv.bz2, ...
        with pa_csv.open_csv(path) as probe:
            _require(columns, probe.schema.names, path)
        # Ids stay strings: "007" must not become 7.
        options = pa_csv.ConvertOptions(include_columns=columns, column_types={c: pa.string() for c in columns})
        with pa_csv.open_csv(path, convert_options=options) as reader:
            yield from reader
    else:
        raise ValueError(f"{path}: expected a .csv or .parquet base dataset")


def _require(columns: Sequence[str], present: Sequence[str], path: Path) -> None:
    for name in columns:
        if name not in present:
            raise ValueError(f"{path} has no column {name!r} (its columns: {', '.join(present)})")
