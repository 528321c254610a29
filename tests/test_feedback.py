"""Counting corrections on real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from conftest import seed_feedback
from sqlalchemy import event, text

from orchestrator.config.settings import LabelConfig
from orchestrator.errors import ConfigError, DatabaseUnavailable
from orchestrator.remote.database import make_engine, normalise_url
from orchestrator.remote.feedback import count_corrections, count_feedback


def labels(**overrides):
    return [
        LabelConfig(name=name, threshold=1, metadata="m.json", retrain="o/r", **overrides)
        for name in ("department", "urgency")
    ]


def test_counts_only_reviewed_real_corrections_in_one_query(db_url):
    seed_feedback(db_url, {"department": 7, "urgency": 4}, noise=30)
    engine = make_engine(db_url)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert count_corrections(engine, labels()) == {"department": 7, "urgency": 4}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_the_same_query_counts_the_reviewed_rows(db_url):
    """The error_rate trigger's denominator: every reviewed row (corrections, confirmations, rows with no answer
    for the label), counted by the one query per table that counts the corrections."""
    seed_feedback(db_url, {"department": 7, "urgency": 4}, noise=30)  # noise: 10 unreviewed, 20 reviewed
    engine = make_engine(db_url)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    feedback = count_feedback(engine, labels())
    assert feedback.corrections == {"department": 7, "urgency": 4}
    assert feedback.reviewed == {"department": 31, "urgency": 31}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_two_tables_are_two_queries_each_with_its_reviewed_column(db_url):
    seed_feedback(db_url, {"department": 3}, noise=3)  # 3 corrections, 1 unreviewed row, 2 reviewed
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE feedback (id integer primary key, pred_topic varchar(20), gold_topic varchar(20), "
                          "checked boolean, reviewed boolean)"))
        conn.execute(text("INSERT INTO feedback VALUES (1,'a','b',:t,:f),(2,'a','a',:t,:f),(3,'a','b',:f,:t)"),
                     {"t": True, "f": False})
    topic = LabelConfig(name="topic", threshold=1, metadata="m.json", retrain="o/r", table="feedback",
                        reviewed_column="checked", predicted_column="pred_topic", correct_column="gold_topic")
    mood = LabelConfig(name="mood", threshold=1, metadata="m.json", retrain="o/r", table="feedback",
                       predicted_column="pred_topic", correct_column="gold_topic")  # the table's other flag
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    feedback = count_feedback(engine, [*labels(), topic, mood])
    assert feedback.corrections == {"department": 3, "urgency": 0, "topic": 1, "mood": 1}
    assert feedback.reviewed == {"department": 5, "urgency": 5, "topic": 2, "mood": 1}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2


def test_a_row_correcting_both_labels_counts_for_both(db_url):
    seed_feedback(db_url, {})
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO complaints (id, message) VALUES (1, 'सडक बिग्रियो')"))
        conn.execute(
            text(
                "INSERT INTO misclassified_complaints (complaint_id, model_predicted_department, correct_department,"
                " model_predicted_urgency, correct_urgency, reviewed) VALUES (1, 'A', 'B', NULL, 'URGENT', :t)"
            ),
            {"t": True},
        )
    # NULL prediction vs a gold label IS a correction (IS DISTINCT FROM, not <>)
    assert count_corrections(engine, labels()) == {"department": 1, "urgency": 1}


def test_configured_table_and_column_names(db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE feedback (id integer primary key, pred_topic varchar(20), gold_topic varchar(20), checked boolean)"))
        conn.execute(
            text("INSERT INTO feedback VALUES (1,'a','b',:t),(2,'a','a',:t),(3,'a','b',:f),(4,'a',NULL,:t),(5,NULL,'c',:t)"),
            {"t": True, "f": False},
        )
    topic = LabelConfig(
        name="topic", threshold=1, metadata="m.json", retrain="o/r",
        table="feedback", reviewed_column="checked", predicted_column="pred_topic", correct_column="gold_topic",
    )
    assert count_corrections(engine, [topic]) == {"topic": 2}


def test_missing_table_is_a_config_error_naming_what_to_check(sqlite_url):
    engine = make_engine(sqlite_url)
    with pytest.raises(ConfigError) as caught:
        count_corrections(engine, labels())
    assert "misclassified_complaints" in str(caught.value) and "table and column names" in caught.value.hint


def test_unreachable_postgres_is_reported_in_seconds_without_the_password():
    engine = make_engine("postgresql+psycopg2://u:" + "TopSecret99" + "@127.0.0.1:1/db")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        count_corrections(engine, labels())
    assert time.monotonic() - started < 8
    assert "TopSecret99" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql+psycopg2://u:p@h/db", "postgresql+psycopg"),
        ("postgres://u:p@h/db", "postgresql+psycopg"),
        ("postgresql://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_seed_url_forms_are_accepted(raw, driver):
    assert normalise_url(raw).drivername == driver


def test_garbage_url_is_a_config_error():
    with pytest.raises(ConfigError, match="DATABASE_URL is not a valid SQLAlchemy URL"):
        normalise_url("not a url")
