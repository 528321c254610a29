"""What each launched action cost, and how a retrain ended, in the ledger:

- ``outcome``: how a launched retrain ended (deployed, rejected, failed ...); NULL for a prepare, and for an action
  that has not ended (or ended before this revision);
- ``ended_at``: when its end was seen, and its cost read;
- ``cost_seconds``, ``cost_usd``, ``cost_basis``: what it cost (an HF Job's running seconds at its flavor's price,
  a GitHub run's billable minutes, else the wall time from its launch to its outcome) and in one line from what.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (
    ("outcome", sa.String(24)),
    ("ended_at", sa.DateTime(timezone=True)),
    ("cost_seconds", sa.Float),
    ("cost_usd", sa.Float),
    ("cost_basis", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("orchestrator_actions") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_))


def downgrade() -> None:
    with op.batch_alter_table("orchestrator_actions") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
