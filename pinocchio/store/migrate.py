"""The schema's versions: Alembic migrations in store/migrations, applied to SQLite and PostgreSQL
alike. `open_store` calls `ensure_current`: an empty database is made at the newest revision; an
embedded SQLite file that is behind is upgraded on the spot (one user, one machine); a PostgreSQL
database that is behind is refused with the command that upgrades it, because a fleet's other
workers may still be writing the old schema; a database newer than this Pinocchio is refused."""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from pinocchio.core.errors import ConfigError
from pinocchio.store import fleet, projections, shops, tables  # noqa: F401  (their tables join SQLModel.metadata)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema as it stood when migrations began (tables made by create_all)
_PG_LOCK = 0x70696E6F  # the advisory lock that lets one process at a time migrate a PostgreSQL database
RACE_WAIT_S = 15.0  # how long a process that lost a race to create the schema waits for the winner


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: no revision recorded
    head: str
    has_tables: bool

    @property
    def behind(self) -> bool:
        return self.current != self.head


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def _config(connection: Connection | None = None) -> Config:
    config = Config(stdout=io.StringIO())  # Alembic's own chatter stays out of the CLI's output
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _has_our_tables(connection: Connection) -> bool:
    return bool(set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables))


def state(engine: Engine, script: ScriptDirectory | None = None) -> SchemaState:
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        has_tables = _has_our_tables(connection)
    return SchemaState(current=current, head=(script or scripts()).get_current_head(), has_tables=has_tables)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own kinds for a revision it does not have
        return False


def upgrade(engine: Engine, revision: str = "head") -> SchemaState:
    """Bring the schema to `revision`. A database made before migrations (tables, no revision) is
    first completed with any table or index it lacks and recorded as the baseline."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        elif connection.dialect.name == "sqlite":
            # The driver would run each CREATE in its own implicit commit, so a second process
            # could see half a schema and build on it; one write lock held for the whole
            # migration makes the others wait (busy_timeout) and then find it done.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config = _config(connection)
        context = MigrationContext.configure(connection)
        if context.get_current_revision() is None and _has_our_tables(connection):
            _complete_unversioned(connection)
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)
    return state(engine)


def _complete_unversioned(connection: Connection) -> None:
    """What `create_all` made before migrations: the same tables, perhaps missing the newest ones
    or an index added since. Missing tables are made as the code declares them (the migrations
    after the baseline see what is there already); an index whose columns a later migration adds
    is left to it."""
    SQLModel.metadata.create_all(connection)
    existing = inspect(connection)
    for table in SQLModel.metadata.sorted_tables:
        have = {index["name"] for index in existing.get_indexes(table.name)}
        columns = {column["name"] for column in existing.get_columns(table.name)}
        for index in table.indexes:
            if index.name not in have and all(c.name in columns for c in index.columns):
                index.create(connection)


def ensure_current(engine: Engine, shown_url: str) -> None:
    """Make the schema this Pinocchio needs, or say in one line why not and what to run."""
    script = scripts()  # read once: the newest revision and whether the database's is one of them
    now = state(engine, script)
    if now.current is not None and not _known(script, now.current):
        raise ConfigError(f"database {shown_url!r} is at schema revision {now.current}, newer than this Pinocchio "
                          f"knows (its newest is {now.head}): upgrade Pinocchio")
    if not now.behind:
        return
    if engine.dialect.name != "sqlite" and now.has_tables:
        raise ConfigError(f"database {shown_url!r} is at schema revision {now.current or 'none (made before migrations)'}"
                          f", this Pinocchio needs {now.head}: stop the workers that use it, then run "
                          f"`pinocchio db upgrade --db URL`")
    try:
        upgrade(engine)
    except Exception:
        # Two processes opened a new database at once and the other one held the lock past the
        # busy timeout: wait for it to finish rather than fail.
        deadline = time.monotonic() + RACE_WAIT_S
        while time.monotonic() < deadline:
            if not state(engine, script).behind:
                return
            time.sleep(0.2)
        raise


def differences(engine: Engine) -> list:
    """How the database's tables differ from those the code declares (Alembic's autogenerate
    comparison); empty when the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                SQLModel.metadata)


def new_revision(message: str) -> Path | None:
    """Write the next migration: from the newest revision to the tables as the code declares them,
    compared on a scratch SQLite database. None when there is nothing to write."""
    import tempfile

    from sqlmodel import create_engine

    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        head = upgrade(engine).head
        if not differences(engine):
            return None
        with engine.begin() as connection, contextlib.redirect_stdout(io.StringIO()):  # Alembic's "Generating…"
            script = command.revision(_config(connection), message, autogenerate=True,
                                      rev_id=f"{int(head) + 1:04d}")
        engine.dispose()
    return Path(script.path)
