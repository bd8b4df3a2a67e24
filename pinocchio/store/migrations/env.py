"""Alembic's entry point for Pinocchio's schema: run by `store.migrate` on a connection it hands
over (never from an alembic.ini), against every table SQLModel knows."""

from alembic import context
from sqlmodel import SQLModel

from pinocchio.store import fleet, projections, tables  # noqa: F401  (their tables join SQLModel.metadata)

connection = context.config.attributes["connection"]
# Batch mode: SQLite can alter a table only by copying it, which alembic does for it.
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
