"""Prepares are followed like retrains, a seed retrain Space's model repo tells its outcome, and the ledger
holds any number of labels.

- ``orchestrator_label_state``: ``prepare_ref`` (what identifies the launched prepare: a Space, an HF Job, a
  GitHub run), ``prepare_failed_at`` (the corrections a failed or expired prepare was launched for: it is not
  launched again for the same feedback on its own), ``prepare_outcome`` (how it ended: failed or expired) and
  ``model_marker`` (the model repo's metadata as it was when a retrain was launched).
- ``orchestrator_actions``: ``labels`` and ``target`` become TEXT (any number of labels, any command).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("prepare_ref", sa.String(255)),
    ("prepare_failed_at", sa.Integer),
    ("prepare_outcome", sa.String(16)),
    ("model_marker", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("orchestrator_label_state") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_))
    with op.batch_alter_table("orchestrator_actions") as batch:
        batch.alter_column("labels", type_=sa.Text, existing_type=sa.String(512), existing_nullable=False)
        batch.alter_column("target", type_=sa.Text, existing_type=sa.String(512), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("orchestrator_actions") as batch:
        batch.alter_column("target", type_=sa.String(512), existing_type=sa.Text, existing_nullable=False)
        batch.alter_column("labels", type_=sa.String(512), existing_type=sa.Text, existing_nullable=False)
    with op.batch_alter_table("orchestrator_label_state") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
