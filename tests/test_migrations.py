"""The schema's migrations, on SQLite and a real PostgreSQL: the migrations make exactly the tables
the code declares; an empty database is made at the newest revision; a SQLite file that is behind
is upgraded when opened, a PostgreSQL database that is behind is refused with the command that
upgrades it (`pinocchio db upgrade`), a database newer than the code is refused; a database made
before migrations is completed and recorded; processes that open a new database at once all get
it. A second revision is written for the test (into a copy of the migrations) to have something
to be behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOT
from sqlmodel import SQLModel
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.errors import ConfigError
from pinocchio.store import migrate, open_store
from pinocchio.store.engine import connect

runner = CliRunner()
HEAD = migrate.scripts().get_current_head()  # the shipped migrations' newest revision
NEXT = f"{int(HEAD) + 1:04d}"

SECOND = '''\
"""A table for the test."""

import sqlalchemy as sa
from alembic import op

revision = "{next}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("probe")
'''


def with_second_revision(tmp_path: Path, monkeypatch) -> Path:
    """The migrations with a revision after the shipped ones (which end at HEAD)."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / f"{NEXT}_probe.py").write_text(SECOND.format(next=NEXT, head=HEAD), encoding="utf-8")
    monkeypatch.setattr(migrate, "MIGRATIONS", folder)
    return folder


@pytest.fixture
def second_revision(tmp_path, monkeypatch) -> Path:
    return with_second_revision(tmp_path, monkeypatch)


def tables(url: str) -> set[str]:
    return set(sa.inspect(connect(url)).get_table_names())


def test_the_migrations_make_exactly_the_tables_the_code_declares(db_url):
    engine = open_store(db_url)
    assert migrate.state(engine).current == migrate.scripts().get_current_head()
    assert migrate.differences(engine) == []
    assert set(SQLModel.metadata.tables) <= tables(db_url)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_embedded_database_that_is_behind_is_upgraded_when_opened(db_url, second_revision):
    migrate.upgrade(connect(db_url), HEAD)
    assert "probe" not in tables(db_url)
    assert migrate.state(open_store(db_url)).current == NEXT
    assert "probe" in tables(db_url)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_shared_database_that_is_behind_is_refused_until_upgraded(db_url, second_revision):
    migrate.upgrade(connect(db_url), HEAD)
    with pytest.raises(ConfigError, match=rf"at schema revision {HEAD}, this Pinocchio needs {NEXT}.*pinocchio db upgrade"):
        open_store(db_url)
    status = runner.invoke(app, ["db", "status", "--db", db_url])
    assert status.exit_code == 0 and f"at {HEAD}" in status.output and f"needs {NEXT}: behind" in status.output
    done = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert done.exit_code == 0 and f"{HEAD} -> {NEXT}" in done.output, done.output
    assert migrate.state(open_store(db_url)).current == NEXT and "probe" in tables(db_url)
    again = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert f"already at {NEXT}" in again.output


def test_a_database_newer_than_this_pinocchio_is_refused(db_url, second_revision, monkeypatch):
    migrate.upgrade(connect(db_url))
    monkeypatch.setattr(migrate, "MIGRATIONS", ROOT / "pinocchio" / "store" / "migrations")  # the shipped ones
    with pytest.raises(ConfigError, match=f"revision {NEXT}, newer than this Pinocchio knows.*upgrade Pinocchio"):
        open_store(db_url)
    bad = runner.invoke(app, ["scan", "--db", db_url, str(ROOT / "fixtures" / "demo" / "demo_stream.m4a")])
    assert bad.exit_code != 0 and bad.output.count("error:") == 1 and "newer than this Pinocchio" in bad.output


def test_a_database_made_before_migrations_is_completed_and_recorded(db_url, backend):
    engine = connect(db_url)
    migrate.upgrade(engine, "0001")  # the tables as Pinocchio's create_all made them before migrations,
    with engine.begin() as connection:  # which recorded no revision
        connection.execute(sa.text("DROP TABLE alembic_version"))
        connection.execute(sa.text("DROP TABLE login_failure"))  # a table added late
        connection.execute(sa.text("DROP INDEX ix_segment_action"))  # and an index
    assert migrate.state(engine).current is None
    if backend == "sqlite":  # embedded: completed when opened
        open_store(db_url)
    else:  # shared: refused, then upgraded on purpose
        with pytest.raises(ConfigError, match=r"none \(made before migrations\)"):
            open_store(db_url)
        migrate.upgrade(engine)
    assert migrate.state(engine).current == migrate.scripts().get_current_head()
    assert migrate.differences(engine) == []


def test_processes_opening_a_new_database_at_once_all_get_it(db_url):
    probe = textwrap.dedent(f"""
        from pinocchio.store import migrate, open_store
        print(migrate.state(open_store({db_url!r})).current)
    """)
    started = [subprocess.Popen([sys.executable, "-c", probe], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(6)]
    answers = [p.communicate(timeout=120) for p in started]
    assert [p.returncode for p in started] == [0] * 6, [err for _, err in answers]
    assert {out.strip() for out, _ in answers} == {migrate.scripts().get_current_head()}
    assert migrate.differences(connect(db_url)) == []


def test_a_developer_gets_the_next_revision_written_from_the_models(tmp_path, monkeypatch):
    nothing = runner.invoke(app, ["db", "revision", "no change"])  # the shipped migrations match the code
    assert nothing.exit_code == 0 and "nothing to write" in nothing.output, nothing.output
    second_revision = with_second_revision(tmp_path, monkeypatch)
    table = sa.Table("probe", SQLModel.metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("note", sa.String, nullable=True))
    try:
        done = runner.invoke(app, ["db", "revision", "probe gets a note"])
    finally:
        SQLModel.metadata.remove(table)
    assert done.exit_code == 0, done.output
    written = Path(done.output.strip())
    after = f"{int(NEXT) + 1:04d}"
    assert written.parent == second_revision / "versions" and written.name.startswith(f"{after}_")
    text = written.read_text(encoding="utf-8")
    assert f"revision = '{after}'" in text and f"down_revision = '{NEXT}'" in text and "add_column" in text
