"""Open the store: an engine on a database at the schema this Pinocchio needs (store/migrate.py).
SQLite (WAL) by default, PostgreSQL by URL. Engines are made by callers (the CLI, the web app, a
worker), never at import."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import create_engine

from pinocchio.core.errors import ConfigError, Unavailable
from pinocchio.store import migrate

LOCK_TIMEOUT_MS = 5000  # how long a writer waits for another's lock before it is told to come back


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_MS}")
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


def _options(backend: str) -> dict:
    if backend != "postgresql":
        return {}
    # A writer stuck behind another's lock gives up after 5 s, as SQLite's busy_timeout does, and is
    # told the database is busy (a 503) instead of hanging; connections a restarted server dropped
    # are noticed before use.
    return {"pool_pre_ping": True, "connect_args": {"options": f"-c lock_timeout={LOCK_TIMEOUT_MS}"}}


def connect(url: str, **pool) -> Engine:
    """An engine on the database, its schema as it is. A bare path is taken as a SQLite file;
    `pool`: SQLAlchemy's pool settings (pool_size, max_overflow) for a process of many writers."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        engine = create_engine(url, **_options(make_url(url).get_backend_name()), **pool)
    except ModuleNotFoundError as exc:
        package = DRIVERS.get(exc.name or "", exc.name)
        raise ConfigError(f"database URL {shown(url)!r}: its driver is not installed (pip install '{package}')") from None
    except Exception as exc:  # sqlalchemy raises several kinds for a bad URL
        raise ConfigError(f"database URL {shown(url)!r}: {str(exc).splitlines()[0]}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def open_store(url: str) -> Engine:
    """An engine on a database whose schema is the one this Pinocchio needs (store/migrate.py)."""
    engine = connect(url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        migrate.ensure_current(engine, where)
    except ConfigError:
        raise
    except UNAVAILABLE as exc:
        raise ConfigError(f"database {where!r}: {unavailable(exc)}") from None
    except Exception as exc:
        raise ConfigError(f"database {where!r}: {str(exc).splitlines()[0]}") from None
    return engine
