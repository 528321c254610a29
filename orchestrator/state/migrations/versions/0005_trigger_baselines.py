"""The triggers beyond a count: what a label's new feedback is counted from, besides its correction cursor.

- ``pending_reviewed``: the rows reviewed in the label's table when its pending prepare was requested;
- ``reviewed_cursor``: the rows reviewed when its last dataset was prepared (``error_rate`` divides the
  corrections since then by the rows reviewed since then); NULL for a label prepared before this revision,
  whose error rate is then measured over all its feedback until its next prepare;
- ``prepared_at``: when the prepare of its last dataset was requested (``max_age`` counts from it);
- ``first_seen_at``: when a run first saw the label (``max_age`` counts from it until the first prepare).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    ("pending_reviewed", sa.Integer),
    ("reviewed_cursor", sa.Integer),
    ("prepared_at", sa.DateTime(timezone=True)),
    ("first_seen_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("orchestrator_label_state") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_))


def downgrade() -> None:
    with op.batch_alter_table("orchestrator_label_state") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
