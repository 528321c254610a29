"""Building a dataset version: rows from the app database and a base labelled set, streamed to parquet.

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

:func:`write_dataset` turns the rows into a folder that ``datasets.load_dataset`` reads: one parquet file
per split, a README.md whose front matter names them, and ``dataset_metadata.json`` (written last,
atomically: its appearance means the version is complete). A row's split is a hash of its id, so it
never moves between versions: the ``eval`` and ``test`` rows of every source are held out of training
for good, and are what the deploy gate scores champion and challenger on; the base rows among them
are the ``golden`` slice. Memory holds one batch of rows and the set of row ids, never whole tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import ColumnClause, Engine, Select, TableClause, column, func, literal, select, table
from sqlalchemy.sql.elements import ColumnElement

from orchestrator.metadata import METADATA_FILENAME
from orchestrator.settings import LabelConfig
from orchestrator.db import translate_errors
from orchestrator.feedback import confirmation_condition, correction_condition
from orchestrator.metadata import DatasetMetadata
from orchestrator.policy import dataset_len

from .splits import SPLITS, split_of
from .text import clean_text

BATCH_ROWS = 10_000
# The sampled rows' order: a multiplicative hash of the id modulo a prime (see _sample).
_HASH_MULTIPLIER = 2654435761
_HASH_MODULUS = 4294967291
_SPILL_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.string()), ("label", pa.string()), ("source", pa.string()), ("served", pa.string())]
)
RECIPES = ("traffic", "seed")
GOLD_SOURCES = ("feedback", "confirmed")  # reviewed rows: their ids win over a sampled duplicate
HELD_OUT = ("eval", "test")  # never trained on, by any version
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("label", pa.int64()),
        ("label_name", pa.string()),
        ("source", pa.string()),
        ("golden", pa.bool_()),
        ("served", pa.string()),
    ]
)
CARD_FRONT_MATTER = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: "data/train-*"
  - split: eval
    path: "data/eval-*"
  - split: test
    path: "data/test-*"
---
"""


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
    :func:`~orchestrator.feedback.correction_condition` / ``confirmation_condition``, joined on
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


# ---------------------------------------------------------------------------------------------- writing
@dataclass
class _Staged:
    """What the first pass learns: the labels and which ids were reviewed (a review wins a duplicate id)."""

    labels: set[str] = field(default_factory=set)
    reviewed_ids: set[str] = field(default_factory=set)
    empty: int = 0


@dataclass
class _Tally:
    splits: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    golden: int = 0
    duplicates: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


class _BatchWriter:
    """A parquet file written ``BATCH_ROWS`` rows at a time."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._schema = schema
        self._writer = pq.ParquetWriter(path, schema)
        self._rows: list[tuple[Any, ...]] = []

    def add(self, *values: Any) -> None:
        self._rows.append(values)
        if len(self._rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            arrays = [pa.array(values, type=f.type) for values, f in zip(zip(*self._rows), self._schema)]
            self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


def write_dataset(
    folder: Path,
    rows: Iterable[Row],
    *,
    dataset_name: str,
    label: str,
    label_map: Sequence[str] | None = None,
    high_water: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> DatasetMetadata:
    """Write a dataset version of ``rows`` into ``folder``; return its metadata.

    Texts are cleaned and empty ones dropped; of rows sharing an id the first feedback row is kept, else
    the first row. ``label_map`` is the previous version's (class id = index): it is kept and the labels of
    the given rows it lacks are appended in sorted order, so class ids never change between versions (a
    class may thus have no rows in this version).
    """
    folder = Path(folder)
    created = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    previous = list(label_map or ())
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / METADATA_FILENAME).unlink(missing_ok=True)  # an older version's must not vouch for new files
    with tempfile.TemporaryDirectory(dir=folder, prefix=".spill-") as tmp:
        spill = Path(tmp) / "rows.parquet"
        staged = _stage(rows, spill)
        classes = [*previous, *sorted(staged.labels - set(previous))]
        tally = _write_splits(spill, folder, staged.reviewed_ids, {name: i for i, name in enumerate(classes)})
    version_tag = f"v{created:%Y%m%d_%H%M%S}_{tally.digest.hexdigest()[:6]}"
    document = {
        "dataset_name": dataset_name,
        "version_tag": version_tag,
        "num_samples": sum(tally.splits.values()),
        "splits": {split: tally.splits[split] for split in SPLITS},
        "created_at": created.isoformat(),
        "label": label,
        "label_map": classes,
        "sources": dict(sorted(tally.sources.items())),
        "golden_rows": tally.golden,
        "feedback_high_water": dict(high_water or {}),
        "dropped": {"empty_text": staged.empty, "duplicate_id": tally.duplicates},
        **dict(extra or {}),
    }
    (folder / "README.md").write_text(_card(document), encoding="utf-8")
    _write_atomically(folder / METADATA_FILENAME, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return DatasetMetadata.model_validate(document)


def _stage(rows: Iterable[Row], spill: Path) -> _Staged:
    """First pass: clean the texts and spill the rows to disk, noting labels and feedback ids."""
    staged = _Staged()
    writer = _BatchWriter(spill, _SPILL_SCHEMA)
    try:
        for row in rows:
            text = clean_text(row.text)
            if not text:
                staged.empty += 1
                continue
            writer.add(row.row_id, text, row.label, row.source, row.served)
            staged.labels.add(row.label)
            if row.source in GOLD_SOURCES:
                staged.reviewed_ids.add(row.row_id)
    finally:
        writer.close()
    return staged


def _write_splits(spill: Path, folder: Path, reviewed_ids: set[str], class_ids: Mapping[str, int]) -> _Tally:
    """Second pass: drop duplicate ids, assign splits and write one parquet file per split."""
    tally = _Tally()
    kept: set[str] = set()
    writers = {split: _BatchWriter(folder / split_path(split), SCHEMA) for split in SPLITS}
    try:
        for batch in pq.ParquetFile(spill).iter_batches(batch_size=BATCH_ROWS):
            for row_id, text, name, source, served in zip(*(batch.column(i).to_pylist() for i in range(5))):
                if row_id in kept or (row_id in reviewed_ids and source not in GOLD_SOURCES):
                    tally.duplicates += 1
                    continue
                kept.add(row_id)
                split = split_of(row_id)
                golden = source == "base" and split in HELD_OUT
                writers[split].add(row_id, text, class_ids[name], name, source, golden, served)
                tally.splits[split] += 1
                tally.sources[source] += 1
                tally.golden += golden
                tally.digest.update(f"{split}\t{row_id}\t{name}\t{source}\t{served}\t{text}\n".encode())
    finally:
        for writer in writers.values():
            writer.close()
    return tally


def split_path(split: str) -> str:
    """Where ``split`` is stored, relative to the dataset folder."""
    return f"data/{split}-00000-of-00001.parquet"


def _card(document: Mapping[str, Any]) -> str:
    splits = "\n".join(f"| {split} | {count} |" for split, count in document["splits"].items())
    sources = ", ".join(f"{source}: {count}" for source, count in document["sources"].items()) or "none"
    return f"""{CARD_FRONT_MATTER}
# {document["dataset_name"]}

Training data for the `{document["label"]}` classifier, version `{document["version_tag"]}`
(created {document["created_at"]}).

| split | rows |
|-------|------|
{splits}

Rows by source: {sources}; golden rows: {document["golden_rows"]}.

Columns:
- `id`: a stable row id, `c<complaint id>` for rows from the app database, `b<id>` for the base set;
- `text`: the cleaned grievance text;
- `label`: the class id, an index into `label_map` in `dataset_metadata.json`; `label_name`: the class;
- `source`: `feedback` (a reviewed correction, gold label), `confirmed` (a reviewed prediction staff
  confirmed, gold label), `sampled` (an unflagged complaint, labelled by the deployed model) or `base`
  (the base labelled set);
- `golden`: a held-out base row, part of the representative set the deploy gate compares models on;
- `served`: the label the deployed model gave (empty for base rows).

Splits are assigned by a hash of `id`, so a row never changes split from one version to the next. The
`eval` and `test` rows are never trained on: they are what models are compared on.
"""


def _write_atomically(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Split:
    """The columns of one split, as lists."""

    ids: list[str]
    texts: list[str]
    labels: list[str]
    sources: list[str]
    served: list[str | None]
    golden: list[bool]

    def __len__(self) -> int:
        return len(self.ids)


def read_split(folder: Path, split: str) -> Split:
    """One split of a dataset written by :func:`write_dataset` (also by earlier versions, which had no
    ``served`` column: a sampled row's served label is its label, a correction's is unknown)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    data = pq.read_table(Path(folder) / split_path(split))
    column_of = lambda name: data.column(name).to_pylist()  # noqa: E731
    labels, sources = column_of("label_name"), column_of("source")
    if "served" in data.column_names:
        served = column_of("served")
    else:
        served = [label if source == "sampled" else None for label, source in zip(labels, sources)]
    return Split(column_of("id"), column_of("text"), labels, sources, served, column_of("golden"))
