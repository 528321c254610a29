"""Alembic environment: runs on the connection (and inside the transaction) that state/store.py hands over."""

from alembic import context

from orchestrator.state.store import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
