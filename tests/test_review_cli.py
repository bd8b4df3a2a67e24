"""The moderation commands end to end, in process, on a SQLite file built with the store."""

import csv
import json

import pytest
from moderation_world import recording, verdict
from sqlalchemy import update
from sqlmodel import Session, select
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.store import open_store
from pinocchio.store.tables import ModerationEvent

runner = CliRunner()

@pytest.fixture
def db(tmp_path):
    path = tmp_path / "m.db"
    with Session(open_store(str(path))) as session:
        recording(session, verdicts=[verdict(0, 2), verdict(2, 4, "review", "medical_claim")])
        session.commit()
    return str(path)


def invoke(db, *args, input=None):
    return runner.invoke(app, [*args, "--db", db], input=input)


def test_the_whole_round_by_command(db, tmp_path):
    for name, role in (("alice", "reviewer"), ("sam", "senior"), ("tina", "senior")):
        result = invoke(db, "reviewers", "add", name, "--role", role, "--password-stdin", input="long enough\n")
        assert result.exit_code == 0 and f"added {name} ({role})" in result.output
    assert invoke(db, "reviewers", "add", "x", "--role", "boss", "--password-stdin", input="long enough\n").exit_code == 2

    reports = tmp_path / "r.csv"
    reports.write_text("stream,reporter,at,label\n1,v1,3,medical_claim\n1,v2,soon,\n", encoding="utf-8")
    result = invoke(db, "reports", "import", str(reports))
    assert result.exit_code == 1
    assert f"error: {reports}:3: at 'soon' is neither seconds nor an ISO 8601 time" in result.output
    assert "1 accepted, 0 folded into earlier reports, 1 rejected" in result.output

    result = invoke(db, "cases", "queue", "--format", "jsonl")
    cases = [json.loads(line) for line in result.output.splitlines()]
    assert [(c["segment_id"], c["priority"]) for c in cases] == [(2, 36.5)]  # the report points at the claim

    assert invoke(db, "cases", "claim", "2", "--as", "alice").exit_code == 0
    result = invoke(db, "cases", "claim", "2", "--as", "sam")
    assert result.exit_code == 2 and "error: case 2 is claimed by alice until" in result.output
    result = invoke(db, "cases", "confirm", "2", "--as", "alice", "--label", "medical_claim", "-m", "cure claim")
    assert result.exit_code == 0, result.output
    assert "streamer-1: +4 strike points" in result.output and "penalty 6: ban until" in result.output

    result = invoke(db, "penalties", "list", "--active", "--format", "jsonl")
    penalty = json.loads(result.output)
    assert (penalty["id"], penalty["kind"], penalty["active"]) == (6, "ban", True)
    export = tmp_path / "p.csv"
    assert invoke(db, "penalties", "export", str(export)).exit_code == 0
    row, = csv.DictReader(export.open(encoding="utf-8"))
    assert (row["streamer_id"], row["labels"], row["articles"], row["decided_by"]) == \
        ("streamer-1", "medical_claim", "广告法第十七条", "alice")

    result = invoke(db, "appeals", "file", "6", "--streamer", "streamer-1", "--reason", "it was a joke")
    assert result.exit_code == 0 and "appeal 7 filed" in result.output
    result = invoke(db, "appeals", "resolve", "7", "--as", "alice", "--uphold")
    assert result.exit_code == 2
    assert "error: resolving an appeal needs the role senior or above; 'alice' is a reviewer" in result.output
    result = invoke(db, "appeals", "resolve", "7", "--as", "tina", "--uphold", "-m", "misheard")
    assert result.exit_code == 0 and "appeal 7 upheld: penalty 6 reversed" in result.output
    assert invoke(db, "penalties", "list", "--active", "--format", "jsonl").output == ""

    result = invoke(db, "cases", "show", "2")
    assert "status: overturned" in result.output and "\tdecide\talice\t" in result.output

    result = invoke(db, "db", "rebuild")
    assert result.exit_code == 0 and "replayed 9 events" in result.output and "warning" not in result.output
    result = invoke(db, "audit", "verify")
    assert result.exit_code == 0 and "ok: 9 events, chain intact" in result.output


def test_audit_verify_names_the_broken_event(db):
    with Session(open_store(db)) as session:
        session.exec(update(ModerationEvent).where(ModerationEvent.id == 1).values(actor="someone else"))
        session.commit()
        assert session.exec(select(ModerationEvent)).first().actor == "someone else"
    result = invoke(db, "audit", "verify")
    assert result.exit_code == 1
    assert "error: event 1: its hash does not match its content (the row was edited)" in result.output
