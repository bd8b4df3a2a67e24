"""Queues with deadlines: each case is due by its severity and by whether its stream is on air;
overdue cases are marked and come first; an overdue serious case escalates by itself, as an event
in the log that a rebuild replays."""

from datetime import timedelta

import pytest
from moderation_world import recording, reviewers, store_verdicts, verdict
from sqlmodel import Session, select
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import ConfigError, Conflict
from pinocchio.moderation.cases import claim_case, confirm_case, get_case, queue_page
from pinocchio.moderation.deadlines import load_deadlines, sweep
from pinocchio.moderation.ledger import rebuild, snapshot
from pinocchio.store import open_store, scans
from pinocchio.store.projections import Case

runner = CliRunner()


@pytest.fixture
def engine(db_url):
    return open_store(db_url)


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        reviewers(session)
        session.commit()
        yield session


def live_stream(session, name="room-live"):
    """A live feed (no content hash) whose worker is still following it: its scan is running."""
    stream = scans.live_stream_for(session, source=f"rtmp://127.0.0.1/live/{name}")
    stream.name, stream.streamer_id = name, "streamer-9"
    session.add(stream)
    scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={})
    return stream, scan


def opened(session, rows):
    return {row.id: aware(session.get(Case, row.id).opened_at) for row in rows}


def test_due_times_by_severity_and_whether_the_stream_is_on_air(session):
    d = load_deadlines()
    _, recorded = recording(session, verdicts=[verdict(10, 12, "review", "medical_claim", severity=3),
                                               verdict(20, 22, "review", "absolute_claim", severity=2)])
    stream, scan = live_stream(session)
    live = store_verdicts(session, scan, [verdict(5, 7, "review", "medical_claim", severity=3)])
    session.commit()
    opened_at = opened(session, recorded + live)
    now = utcnow()
    cases = {c.segment_id: c for c in queue_page(session, now=now).cases}
    assert cases[live[0].id].live and not cases[recorded[0].id].live
    assert cases[live[0].id].due_at == opened_at[live[0].id] + timedelta(minutes=d.live_minutes[3])
    assert cases[recorded[0].id].due_at == opened_at[recorded[0].id] + timedelta(minutes=d.ended_minutes[3])
    assert cases[recorded[1].id].due_at == opened_at[recorded[1].id] + timedelta(minutes=d.ended_minutes[2])
    assert d.live_minutes[3] < d.ended_minutes[3]  # a claim corrected on air is worth most
    # The stream ends: its case's deadline moves out to the ended one.
    scans.finish_scan(session, scan=scan, status="done")
    session.commit()
    assert get_case(session, live[0].id).due_at == opened_at[live[0].id] + timedelta(minutes=d.ended_minutes[3])


def test_overdue_cases_come_first_the_most_overdue_first_then_by_priority(session):
    d = load_deadlines()
    _, rows = recording(session, verdicts=[verdict(10, 12, "review", "medical_claim", severity=3),
                                           verdict(20, 22, "review", "absolute_claim", severity=2)])
    stream, scan = live_stream(session)
    live, = store_verdicts(session, scan, [verdict(5, 7, "review", "absolute_claim", severity=2)])
    session.commit()
    now = utcnow()
    order = [c.segment_id for c in queue_page(session, now=now).cases]
    assert order == [rows[0].id, rows[1].id, live.id]  # nothing overdue: by priority (severity 3 first)
    later = now + timedelta(minutes=d.live_minutes[2] + 1)  # only the live case is late
    page = queue_page(session, now=later)
    assert [c.segment_id for c in page.cases] == [live.id, rows[0].id, rows[1].id]
    assert [c.overdue_at(later) for c in page.cases] == [True, False, False]
    much_later = now + timedelta(minutes=d.ended_minutes[2] + 1)  # all late; the live one the longest
    assert [c.segment_id for c in queue_page(session, now=much_later).cases] == [live.id, rows[0].id, rows[1].id]


def test_an_overdue_serious_case_escalates_by_itself_and_a_rebuild_agrees(engine, session):
    d = load_deadlines()
    stream, scan = live_stream(session)
    serious, mild = store_verdicts(session, scan, [verdict(5, 7, "review", "medical_claim", severity=3),
                                                   verdict(9, 11, "review", "absolute_claim", severity=2)])
    session.commit()
    claim_case(session, reviewer="alice", segment_id=serious.id)  # held, and late all the same
    session.commit()
    assert sweep(session, now=utcnow()) == []  # not due yet
    late = utcnow() + timedelta(minutes=d.live_minutes[3] + 5)
    escalated = sweep(session, now=late)
    session.commit()
    assert [e.segment_id for e in escalated] == [serious.id] and escalated[0].overdue_minutes >= 4.9
    case = get_case(session, serious.id, now=late)
    assert case.status == "escalated" and case.claimed_by is None
    assert session.get(Case, mild.id).status == "open"  # severity 2 waits, overdue or not
    history = case_events(session, serious.id)
    assert history[-1][:2] == ("escalate", "deadlines") and "overdue by" in history[-1][2]
    assert sweep(session, now=late + timedelta(minutes=1)) == []  # escalated once
    with pytest.raises(Conflict, match="claim case"):
        confirm_case(session, reviewer="alice", segment_id=serious.id, labels=["medical_claim"])
    session.rollback()
    before = snapshot(session)
    rebuild(session)
    session.commit()
    assert snapshot(session) == before


def case_events(session, segment_id):
    from pinocchio.moderation.cases import case_history

    return [(e.action, e.actor, e.values.get("comment", "")) for e in case_history(session, segment_id)]


def test_a_decided_case_has_no_deadline_and_is_never_swept(session):
    d = load_deadlines()
    _, (row,) = recording(session, verdicts=[verdict(10, 12, "review", "medical_claim", severity=3)])
    session.commit()
    claim_case(session, reviewer="alice", segment_id=row.id)
    confirm_case(session, reviewer="alice", segment_id=row.id, labels=["medical_claim"])
    session.commit()
    assert get_case(session, row.id).due_at is None
    assert sweep(session, now=utcnow() + timedelta(minutes=d.ended_minutes[3] * 2)) == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_cases_sweep_and_the_queue_from_the_command_line(db_url, session, monkeypatch, tmp_path):
    fast = tmp_path / "deadlines.yaml"
    fast.write_text('version: "fast"\nlive: {3: 0.001, 2: 1, 1: 1, 0: 1}\nended: {3: 0.001, 2: 60, 1: 60, 0: 60}\n'
                    "escalate_severity: 3\n", encoding="utf-8")
    monkeypatch.setenv("PINOCCHIO_DEADLINES", str(fast))
    _, rows = recording(session, verdicts=[verdict(10, 12, "review", "medical_claim", severity=3)])
    session.commit()
    queue = runner.invoke(app, ["cases", "queue", "--db", db_url, "--format", "jsonl"])
    assert queue.exit_code == 0 and '"due_at"' in queue.stdout and '"live": false' in queue.stdout
    swept = runner.invoke(app, ["cases", "sweep", "--db", db_url])
    assert swept.exit_code == 0, swept.output
    assert swept.stdout.startswith(f"case {rows[0].id} escalated: overdue by") and "1 overdue case(s)" in swept.stderr
    assert session.exec(select(Case.status)).all() == ["escalated"]


def test_a_broken_deadlines_file_names_itself(tmp_path):
    bad = tmp_path / "deadlines.yaml"
    bad.write_text('version: "x"\nlive: {3: 10}\nended: {3: 60, 2: 60, 1: 60, 0: 60}\nescalate_severity: 3\n',
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="deadlines.yaml: live and ended give positive minutes"):
        load_deadlines(bad)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_console_queue_shows_age_time_left_and_marks_the_overdue(client, world, monkeypatch, tmp_path):
    from web_client import login

    login(client, "alice", world.password)
    page = client.get("/queue").text
    assert "<th>due</th>" in page and " left</td>" in page and "overdue" not in page
    fast = tmp_path / "deadlines.yaml"
    fast.write_text('version: "fast"\nlive: {3: 0.001, 2: 0.001, 1: 0.001, 0: 0.001}\n'
                    'ended: {3: 0.001, 2: 0.001, 1: 0.001, 0: 0.001}\nescalate_severity: 3\n', encoding="utf-8")
    monkeypatch.setenv("PINOCCHIO_DEADLINES", str(fast))
    page = client.get("/queue").text
    assert 'class="sev3 overdue"' in page and "overdue 0 min" in page
    assert "overdue 0 min" in client.get(f"/cases/{world.case_id}").text
