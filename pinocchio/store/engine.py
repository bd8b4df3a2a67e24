"""Open the store: an engine with every table created. SQLite (WAL) by default, PostgreSQL by URL.
Engines are made by callers (the CLI, the web app, a worker), never at import."""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import SQLModel, create_engine

from pinocchio.core.errors import ConfigError, Unavailable
from pinocchio.store import projections, tables  # noqa: F401  (their tables join SQLModel.metadata)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# A database that is locked, unreachable or out of connections: try again later (503, one line).
UNAVAILABLE = (OperationalError, PoolTimeout, Unavailable)
DRIVERS = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pymysql": "pymysql"}


def shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def unavailable(exc: Exception) -> str:
    """One line on a database that could not answer."""
    if isinstance(exc, Unavailable):
        return str(exc)
    first = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    return f"the database is busy or unavailable ({first}); try again in a moment"


def _add_missing_indexes(engine: Engine) -> None:
    """Indexes added to a table after it was made (`create_all` makes only missing tables)."""
    existing = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        have = {index["name"] for index in existing.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in have:
                index.create(engine)


def open_store(url: str) -> Engine:
    """An engine with the tables created. A bare path is taken as a SQLite file."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        engine = create_engine(url)
    except ModuleNotFoundError as exc:
        package = DRIVERS.get(exc.name or "", exc.name)
        raise ConfigError(f"database URL {shown(url)!r}: its driver is not installed (pip install '{package}')") from None
    except Exception as exc:  # sqlalchemy raises several kinds for a bad URL
        raise ConfigError(f"database URL {shown(url)!r}: {str(exc).splitlines()[0]}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        SQLModel.metadata.create_all(engine)
        _add_missing_indexes(engine)
    except Exception as exc:
        raise ConfigError(f"database {shown(url)!r}: {str(exc).splitlines()[0]}") from None
    return engine
