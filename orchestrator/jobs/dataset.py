"""Writing a dataset version, and reading its splits back: parquet files that ``datasets.load_dataset`` reads.

:func:`write_dataset` turns the rows of :mod:`.rows` into one parquet file per split, a README.md whose
front matter names them, and ``dataset_metadata.json`` (written last, atomically: its appearance means
the version is complete). A row's split is a hash of its id, so it keeps it from version to version: the
``eval`` and ``test`` rows of every source are held out of training, and are what the deploy gate scores
champion and challenger on; the base rows among them are the ``golden`` slice. Every source
holds out 20% of its rows, except that the golden slice stops growing at ``max_golden_rows`` (see
:func:`~.splits.held_out_share`): a larger base set trains the models instead. Memory holds one batch of rows
and the set of row ids, never whole tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.contracts.metadata import METADATA_FILENAME, DatasetMetadata

from .rows import BATCH_ROWS, Row
from .splits import HELD_OUT_SHARE, SPLITS, held_out_share, split_within
from .text import clean_text

_SPILL_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.string()), ("label", pa.string()), ("source", pa.string()), ("served", pa.string())]
)
FEEDBACK_IDS = "feedback_ids.json"  # the ids of the reviewed rows a version holds, with their split: its lineage
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


@dataclass
class _Staged:
    """What the first pass learns: the labels and which ids were reviewed (a review wins a duplicate id)."""

    labels: set[str] = field(default_factory=set)
    reviewed_ids: set[str] = field(default_factory=set)
    sources: Counter[str] = field(default_factory=Counter)
    empty: int = 0


@dataclass
class _Tally:
    splits: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    golden: int = 0
    duplicates: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    reviewed: dict[str, list[list[str]]] = field(default_factory=lambda: {s: [] for s in GOLD_SOURCES})  # [id, split]


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
    max_golden_rows: int | None = None,
) -> DatasetMetadata:
    """Write a dataset version of ``rows`` into ``folder``; return its metadata.

    Texts are cleaned and empty ones dropped; of rows sharing an id the first feedback row is kept, else
    the first row. ``label_map`` is the previous version's (class id = index): it is kept and the labels of
    the given rows it lacks are appended in sorted order, so class ids never change between versions (a
    class may thus have no rows in this version). ``max_golden_rows`` caps the base rows held out (None: 20%).
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
        shares = {"base": held_out_share(staged.sources["base"], max_golden_rows)}
        tally = _write_splits(spill, folder, staged.reviewed_ids, {name: i for i, name in enumerate(classes)}, shares)
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
        "held_out_share": {"base": round(shares["base"], 6), "other": HELD_OUT_SHARE},
        "feedback_high_water": dict(high_water or {}),
        "dropped": {"empty_text": staged.empty, "duplicate_id": tally.duplicates},
        **dict(extra or {}),
    }
    document["lineage"] = {**dict(document.get("lineage") or {}), "snapshot_at": created.isoformat(),
                           "feedback_ids": FEEDBACK_IDS, "feedback_rows": sum(map(len, tally.reviewed.values()))}
    reviewed = {"corrections": sorted(tally.reviewed["feedback"]), "confirmations": sorted(tally.reviewed["confirmed"])}
    (folder / FEEDBACK_IDS).write_text(json.dumps(reviewed) + "\n", encoding="utf-8")
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
            staged.sources[row.source] += 1
            if row.source in GOLD_SOURCES:
                staged.reviewed_ids.add(row.row_id)
    finally:
        writer.close()
    return staged


def _write_splits(
    spill: Path, folder: Path, reviewed_ids: set[str], class_ids: Mapping[str, int], shares: Mapping[str, float]
) -> _Tally:
    """Second pass: drop duplicate ids, assign splits (``shares``: a source's held-out share, if not the default)
    and write one parquet file per split."""
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
                split = split_within(row_id, shares.get(source, HELD_OUT_SHARE))
                golden = source == "base" and split in HELD_OUT
                writers[split].add(row_id, text, class_ids[name], name, source, golden, served)
                tally.splits[split] += 1
                tally.sources[source] += 1
                tally.golden += golden
                if source in GOLD_SOURCES:
                    tally.reviewed[source].append([row_id, split])
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

Splits are assigned by a hash of `id`: a row keeps its split from one version to the next, except that a base
row can leave `eval` or `test` for `train` when the base set grows past what the golden slice holds. The `eval` and
`test` rows are not trained on: they are what models are compared on.
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

    def without(self, indices: Iterable[int]) -> Split:
        """These columns without the rows at ``indices``."""
        drop = set(indices)
        keep = [i for i in range(len(self)) if i not in drop]
        return Split(*([getattr(self, column.name)[i] for i in keep] for column in fields(self)))


def _split_file(folder: Path, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return Path(folder) / split_path(split)


def read_ids(folder: Path, split: str) -> list[str]:
    """The row ids of one split of a dataset written by :func:`write_dataset`."""
    return pq.read_table(_split_file(folder, split), columns=["id"]).column("id").to_pylist()


def read_split(folder: Path, split: str) -> Split:
    """One split of a dataset written by :func:`write_dataset` (also by earlier versions, which had no
    ``served`` column: a sampled row's served label is its label, a correction's is unknown)."""
    data = pq.read_table(_split_file(folder, split))
    column_of = lambda name: data.column(name).to_pylist()  # noqa: E731
    labels, sources = column_of("label_name"), column_of("source")
    if "served" in data.column_names:
        served = column_of("served")
    else:
        served = [label if source == "sampled" else None for label, source in zip(labels, sources)]
    return Split(column_of("id"), column_of("text"), labels, sources, served, column_of("golden"))
