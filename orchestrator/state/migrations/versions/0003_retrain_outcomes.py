"""Retrain outcomes: a launched retrain is followed to its end (``retraining``), and the label keeps how
its last retrain ended (deployed, rejected, failed or completed), why, and the deployed model's metric.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (
    ("retrain_ref", sa.String(255)),  # what identifies the launched retrain: an HF Job id, a GitHub run id
    ("retrain_started_at", sa.DateTime(timezone=True)),
    ("result_etag", sa.String(255)),  # of retrain_result.json, for conditional GETs across runs
    ("last_outcome", sa.String(16)),
    ("last_outcome_reason", sa.Text),
    ("last_outcome_at", sa.DateTime(timezone=True)),
    ("last_metric", sa.Float),
    ("last_metric_name", sa.String(64)),
)


def upgrade() -> None:
    with op.batch_alter_table("orchestrator_label_state") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_))


def downgrade() -> None:
    with op.batch_alter_table("orchestrator_label_state") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
