"""Errors that are answers (issue 13): a locked database is a 503 with Retry-After for the API and
one line for the CLI, numbers past a row id's range and oversized bodies are refused, control
characters never get in, security headers ride on every answer, and a database URL's password is
never printed."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_client import API_KEY, api, login
from web_world import STREAM_NAME

from pinocchio.cli import app
from pinocchio.cli.common import visible
from pinocchio.core.errors import ConfigError
from pinocchio.core.settings import Settings
from pinocchio.store import open_store
from pinocchio.web import create_app
from pinocchio.web.guards import CSP

runner = CliRunner()
REPORT = {"stream": STREAM_NAME, "reporter": "viewer-9", "at": 57.0, "label": "medical_claim"}


@contextmanager
def locked(world):
    """Another writer holding the database's write lock (as a long import would): SQLite's one
    lock, or on PostgreSQL the ledger's turn-taking row, which every write that records an event
    takes; either way writers give up after the store's lock timeout."""
    if world.db_url.startswith("sqlite"):
        holder = sqlite3.connect(world.db_url.removeprefix("sqlite:///"), timeout=1)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        holder = psycopg.connect(world.db_url.replace("+psycopg", ""))
        holder.execute("LOCK TABLE ledger_lock IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_locked_database_is_a_503_with_retry_after_and_reading_still_works(client, world):
    login(client, "alice", world.password)
    with locked(world):
        answer = api(client, "/api/v1/reports", REPORT)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json() == {"detail": "the database is busy or unavailable: try again in a moment"}
        assert client.get("/queue").status_code == 200  # reads never write, so a writer's lock does not stop them
    assert api(client, "/api/v1/reports", REPORT).status_code == 201  # and once it is free, the report goes in
    metrics = client.get("/api/v1/metrics", headers={"Authorization": f"Bearer {API_KEY}"}).text
    assert "pinocchio_console_database_unavailable_total 1.0" in metrics
    assert "pinocchio_intake_reports_written 1.0" in metrics and "pinocchio_intake_waiting 0.0" in metrics


def test_a_locked_database_is_one_line_on_the_command_line(world, tmp_path):
    rows = tmp_path / "reports.csv"
    rows.write_text(f"stream,reporter,at\n{STREAM_NAME},v1,57\n", encoding="utf-8")
    with locked(world):
        result = runner.invoke(app, ["reports", "import", str(rows), "--db", world.db_url])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the database is busy or unavailable (" in errors[0]
    assert "database is locked" in errors[0] or "lock timeout" in errors[0]  # SQLite's words, PostgreSQL's


@pytest.mark.parametrize("path", ["/cases/9223372036854775808", "/cases/0", "/cases/-1",
                                  "/cases/next?after=99999999999999999999"])
def test_numbers_past_a_row_id_are_refused_not_crashed_on(client, world, path):
    login(client, "alice", world.password)
    assert client.get(path).status_code == 422


def test_the_api_refuses_huge_ids_wrong_types_and_control_characters(client):
    for body, where in [({"penalty_id": 2**63, "streamer_id": "s", "reason": "r"}, "penalty_id"),
                        ({"penalty_id": 1, "streamer_id": "s", "reason": "x" * 5000}, "reason")]:
        answer = api(client, "/api/v1/appeals", body)
        assert answer.status_code == 422 and where in answer.json()["detail"]
    for body in [dict(REPORT, stream=2**63), dict(REPORT, stream=[1]), dict(REPORT, label=7),
                 dict(REPORT, reporter="v\x00iewer"), dict(REPORT, comment="hi\x1b[2J")]:
        answer = api(client, "/api/v1/reports", body)
        assert answer.status_code == 422, (body, answer.text)
    assert api(client, "/api/v1/reports", dict(REPORT, comment="第一行\n第二行")).status_code == 201


def test_a_body_past_the_cap_is_413(client):
    big = dict(REPORT, comment="长" * 200_000)
    answer = client.post("/api/v1/reports", content=json.dumps(big, ensure_ascii=False).encode(),
                         headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    assert answer.status_code == 413 and "too large" in answer.json()["detail"]


def test_every_answer_carries_the_security_headers(client, world):
    for answer in (client.get("/login"), client.get("/queue", follow_redirects=False), client.get("/nowhere"),
                   client.post("/api/v1/reports", json=REPORT), client.get("/static/console.css")):
        assert answer.headers["content-security-policy"] == CSP, answer.request.url
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in answer.headers
    assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP


def test_hsts_behind_https(world):
    application = create_app(Settings(db_url=world.db_url, secret_key="k", https=True))
    with TestClient(application, base_url="https://testserver") as secure:
        assert secure.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_an_unexpected_error_is_a_one_line_500(world, monkeypatch):
    import pinocchio.moderation.intake as intake

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(intake.ReportIntake, "submit", broken)
    application = create_app(Settings(db_url=world.db_url, secret_key="k", api_keys=(API_KEY,)))
    with TestClient(application, raise_server_exceptions=False) as quiet:
        answer = quiet.post("/api/v1/reports", json=REPORT, headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 500 and answer.json() == {"detail": "internal error: the server logged it"}


def test_viewer_text_never_drives_the_terminal():
    assert visible("[/bold]\x1b[31mred\x00") == "\\[/bold]\\x1b[31mred\\x00"
    assert visible("两行\n文字") == "两行\n文字"


def test_a_database_url_error_hides_the_password_and_names_the_driver():
    with pytest.raises(ConfigError) as error:
        open_store("mysql+pymysql://pino:hunter2@127.0.0.1:1/db")  # a driver Pinocchio does not install
    message = str(error.value)
    assert "hunter2" not in message and "***" in message and "pip install 'pymysql'" in message
    with pytest.raises(ConfigError) as error:  # PostgreSQL's driver comes with Pinocchio; no one listens there
        open_store("postgresql+psycopg://pino:hunter2@127.0.0.1:1/db")
    message = str(error.value)
    assert "hunter2" not in message and "***" in message and "unavailable" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("args", [["cases", "show", "9223372036854775808"],
                                  ["reports", "list", "--stream", "9223372036854775808"],
                                  ["appeals", "file", "99999999999999999999", "--streamer", "s", "--reason", "r"]])
def test_numbers_past_a_row_id_are_one_line_on_the_command_line(world, args):
    result = runner.invoke(app, [*args, "--db", world.db_url])
    assert result.exit_code == 2 and "Traceback" not in result.output and "OverflowError" not in result.output
    assert "9223372036854775807" in result.output  # the range it names


def test_rich_markup_in_a_viewer_comment_is_shown_not_obeyed(world):
    from sqlmodel import Session

    from pinocchio.moderation.reports import submit_report
    from pinocchio.store import open_store

    with Session(open_store(world.db_url)) as session:
        submit_report(session, stream=world.stream_id, reporter_id="[red]v9[/red]", at=57.0, comment="[/bold] 假的[link=x]")
        session.commit()
    listed = runner.invoke(app, ["reports", "list", "--db", world.db_url])
    assert listed.exit_code == 0, listed.output
    assert "[/bold] 假的[link=x]" in listed.output and "[red]v9[/red]" in listed.output
