"""Alembic migrations of the orchestrator's own tables (see orchestrator/state/store.py)."""
