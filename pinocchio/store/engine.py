"""Open the store: an engine with every table created. SQLite (WAL) by default, PostgreSQL by URL.
Engines are made by callers (the CLI, the web app, a worker), never at import."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from pinocchio.core.errors import ConfigError
from pinocchio.store import projections, tables  # noqa: F401  (their tables join SQLModel.metadata)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_store(url: str) -> Engine:
    """An engine with the tables created. A bare path is taken as a SQLite file."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        engine = create_engine(url)
    except Exception as exc:  # sqlalchemy raises several kinds for a bad URL
        raise ConfigError(f"database URL {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        SQLModel.metadata.create_all(engine)
    except Exception as exc:
        raise ConfigError(f"database {url!r}: {str(exc).splitlines()[0]}") from None
    return engine
