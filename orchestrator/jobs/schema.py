"""The Sambodhan application schema (the default data contract) and a synthetic feedback generator.

The tables are what the app owns; the orchestrator only reads them. The generator fills them with
reviewed and unreviewed misclassifications for demos, tests and benchmarks, on any SQLAlchemy database.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
)

DEPARTMENTS = (
    "Municipal Governance & Community Services",
    "Education, Health & Social Welfare",
    "Infrastructure, Utilities & Natural Resources",
    "Security & Law Enforcement",
)
URGENCIES = ("NORMAL", "URGENT", "HIGHLY URGENT")
CLASSES = {"department": DEPARTMENTS, "urgency": URGENCIES}

metadata = MetaData()
complaints = Table(
    "complaints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message", Text, nullable=False),
    Column("department", String(100)),
    Column("urgency", String(20)),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
misclassified_complaints = Table(
    "misclassified_complaints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("complaint_id", Integer, ForeignKey("complaints.id", ondelete="CASCADE"), nullable=False),
    Column("model_predicted_department", String(100)),
    Column("model_predicted_urgency", String(20)),
    Column("correct_department", String(100)),
    Column("correct_urgency", String(20)),
    Column("reported_by_admin_id", Integer),
    Column("reviewed", Boolean, server_default="false"),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def existing_tables(engine: Engine) -> list[str]:
    """Which tables of the default schema the database has already."""
    from sqlalchemy import inspect

    names = set(inspect(engine).get_table_names())
    return [table.name for table in metadata.sorted_tables if table.name in names]


def ddl(engine: Engine) -> str:
    """The ``CREATE TABLE`` statements of the default schema, in ``engine``'s SQL dialect."""
    from sqlalchemy.schema import CreateTable

    return "\n".join(f"{str(CreateTable(table).compile(engine)).strip()};\n" for table in metadata.sorted_tables)


def add_feedback(
    engine: Engine,
    corrections: Mapping[str, int],
    *,
    noise: int = 0,
    seed: int = 0,
) -> None:
    """Add reviewed corrections: ``corrections[label]`` rows that count as corrections for that label.

    Each row corrects exactly one label (the other label's prediction is confirmed). ``noise`` adds as
    many rows that must NOT count: unreviewed, confirmed (predicted == correct) and unanswered (NULL).
    """
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    rows: list[dict] = []

    def complaint_row() -> dict:
        return {
            "message": f"synthetic grievance {rng.randrange(10**9)}",
            "department": rng.choice(DEPARTMENTS),
            "urgency": rng.choice(URGENCIES),
        }

    for label, count in corrections.items():
        for _ in range(count):
            rows.append(_correction(rng, label, now))
    for i in range(noise):
        row = _correction(rng, rng.choice(tuple(CLASSES)), now)
        kind = i % 3
        if kind == 0:
            row["reviewed"] = False
            row["reviewed_at"] = None
        elif kind == 1:
            row["correct_department"] = row["model_predicted_department"]
            row["correct_urgency"] = row["model_predicted_urgency"]
        else:
            row["correct_department"] = None
            row["correct_urgency"] = None
        rows.append(row)
    if not rows:
        return
    with engine.begin() as conn:
        ids = []
        for _ in rows:
            ids.append(conn.execute(insert(complaints).values(**complaint_row()).returning(complaints.c.id)).scalar_one())
        for complaint_id, row in zip(ids, rows):
            row["complaint_id"] = complaint_id
        conn.execute(insert(misclassified_complaints), rows)


def _correction(rng: random.Random, label: str, now: datetime) -> dict:
    """A reviewed row that corrects ``label`` and confirms the other labels."""
    row: dict = {"reviewed": True, "reviewed_at": now, "reported_by_admin_id": rng.randrange(1, 20)}
    for name, classes in CLASSES.items():
        predicted = rng.choice(classes)
        if name == label:
            correct = rng.choice([c for c in classes if c != predicted])
        else:
            correct = predicted
        row[f"model_predicted_{name}"] = predicted
        row[f"correct_{name}"] = correct
    return row
