"""Per-label state machine and the action ledger (intent, then result, per idempotency key).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orchestrator_label_state",
        sa.Column("label", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(24), nullable=False, server_default="idle"),
        sa.Column("cursor", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pending_corrections", sa.Integer),
        sa.Column("required", sa.Integer),
        sa.Column("baseline_version", sa.String(255)),
        sa.Column("etag", sa.String(255)),
        sa.Column("dataset_version", sa.String(255)),
        sa.Column("requested_at", sa.DateTime(timezone=True)),
        sa.Column("last_retrained_version", sa.String(255)),
        sa.Column("last_run_id", sa.String(32)),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "orchestrator_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("labels", sa.String(512), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("version", sa.String(255)),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("intent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(16)),
        sa.Column("result_at", sa.DateTime(timezone=True)),
        sa.Column("detail", sa.Text),
    )
    with op.batch_alter_table("orchestrator_runs") as batch:
        batch.add_column(sa.Column("mode", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("orchestrator_runs") as batch:
        batch.drop_column("mode")
    op.drop_table("orchestrator_actions")
    op.drop_table("orchestrator_label_state")
