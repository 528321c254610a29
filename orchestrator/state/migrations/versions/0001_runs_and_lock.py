"""The run audit (the seed's `orchestrator_runs`) and the lease that serialises runs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orchestrator_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("summary", sa.Text),
    )
    op.create_index("ix_orchestrator_runs_started_at", "orchestrator_runs", ["started_at"])
    lock = op.create_table(
        "orchestrator_lock",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64)),
        sa.Column("fence", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(lock, [{"name": "cycle", "owner": None, "fence": 0, "expires_at": None}])


def downgrade() -> None:
    op.drop_table("orchestrator_lock")
    op.drop_index("ix_orchestrator_runs_started_at", "orchestrator_runs")
    op.drop_table("orchestrator_runs")
