"""The desk's figures: streams and hours listened, segments, findings by label, reminders (by the
pipeline and by viewers), viewers and reports, cases and the time to decide them, penalties and
appeals — totals and per day, in `pinocchio stats`, on the dashboard (with its charts) and as
Prometheus gauges."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from moderation_world import recording, reviewers, store_verdicts, verdict
from sqlmodel import Session
from typer.testing import CliRunner
from web_client import API_KEY, client_for, login

from pinocchio.cli import app
from pinocchio.core import events as ev
from pinocchio.moderation.appeals import file_appeal
from pinocchio.moderation.cases import claim_case, confirm_case, dismiss_case
from pinocchio.moderation.ledger import record
from pinocchio.moderation.reports import submit_report
from pinocchio.moderation.stats import desk_stats
from pinocchio.store import open_store, scans
from pinocchio.web import charts

runner = CliRunner()
# The pipeline flags at the real time (the cases open today); the rest is set on the two days after.
_TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
DAY1 = _TODAY + timedelta(days=1, hours=12)
DAY2 = DAY1 + timedelta(days=1)


def desk(db_url):
    """Two days of work: a recording (600 s) scanned on day 1 with two flags, a live stream on day 2
    with a reminder by the pipeline and one by viewers, reports, decisions, a penalty and an appeal."""
    engine = open_store(db_url)
    with Session(engine) as session:
        reviewers(session)
        stream, rows = recording(session, verdicts=[verdict(1, 3), verdict(10, 12, "review", "medical_claim"),
                                                    verdict(20, 22, "remind", "absolute_claim", 2)])
        scan = session.get(scans.Scan, rows[0].scan_id)
        scan.started_at = DAY1
        live = scans.live_stream_for(session, source="rtmp://127.0.0.1/live/room3")
        live.name, live.streamer_id = "room3", "streamer-3"
        live_scan = scans.start_scan(session, stream=live, pipeline_version="test", provenance={})
        live_scan.started_at = DAY2
        live_scan.finished_at = DAY2 + timedelta(hours=2)
        live_scan.status = "done"
        live_rows = store_verdicts(session, live_scan, [verdict(5, 7, "remind", "fake_scarcity", 1)])
        session.flush()
        for actor, source in (("pipeline@test", "pipeline"), ("viewers", "viewers")):
            record(session, ev.Remind(stream="room3", start_s=5, end_s=7, label="fake_scarcity", article="a",
                                      action="remind", message="m", text="t", source=source), actor=actor,
                   subject_id=live_rows[0].id, stream_id=live.id, at=DAY2)
        submit_report(session, stream=stream.id, reporter_id="v1", at=11, label="medical_claim", now=DAY1)
        submit_report(session, stream=stream.id, reporter_id="v2", at=21, now=DAY1)
        submit_report(session, stream=live.id, reporter_id="v1", at=6, now=DAY2)
        session.commit()
        claim_case(session, reviewer="alice", segment_id=rows[1].id, now=DAY1 + timedelta(minutes=5))
        decision = confirm_case(session, reviewer="alice", segment_id=rows[1].id, labels=["medical_claim"],
                                now=DAY1 + timedelta(minutes=30))
        claim_case(session, reviewer="bob", segment_id=rows[2].id, now=DAY2 + timedelta(minutes=70))
        dismiss_case(session, reviewer="bob", segment_id=rows[2].id, now=DAY2 + timedelta(minutes=90))
        file_appeal(session, penalty_id=decision.penalty_id, streamer_id="streamer-1", reason="不服", now=DAY2)
        session.commit()
    return engine


def test_the_figures_in_total_and_per_day(db_url):
    from statistics import median

    from sqlmodel import select

    from pinocchio.core.clock import aware
    from pinocchio.store.projections import Case

    engine = desk(db_url)
    with Session(engine) as session:
        stats = desk_stats(session, now=DAY2 + timedelta(hours=3))
        took = [(aware(c.decided_at) - aware(c.opened_at)).total_seconds() / 60
                for c in session.exec(select(Case).where(Case.decided_at.is_not(None))).all()]
    t = stats.total
    assert (t.streams, round(t.hours, 3), t.segments) == (2, round(600 / 3600 + 2, 3), 4)
    assert dict(t.findings) == {"medical_claim": 1, "absolute_claim": 1, "fake_scarcity": 1}
    assert (t.reminders, t.viewer_reminders, t.reporters, t.reports) == (1, 1, 2, 3)
    assert (t.cases_opened, t.cases_decided, t.cases_overturned) == (3, 2, 0)  # two flags, one reported sentence
    assert dict(t.penalties) == {"ban": 1} and dict(t.appeals) == {"pending": 1}
    assert (stats.decision_times.decided, stats.decision_times.median_minutes) == (2, round(median(took), 1))
    today, one, two = stats.days
    # Reminders count on the day they were logged (the log's own time), today here.
    assert (today.day, today.cases_opened, today.segments, today.reminders, today.viewer_reminders) == \
        (_TODAY.date().isoformat(), 3, 0, 1, 1)
    assert (one.day, one.streams, one.segments, one.reports, one.cases_decided) == (DAY1.date().isoformat(), 1, 3, 2, 1)
    assert (two.day, two.streams, two.reports, two.cases_decided, dict(two.appeals)) == \
        (DAY2.date().isoformat(), 1, 1, 1, {"pending": 1})
    with Session(engine) as session:
        later = desk_stats(session, since=DAY2.date(), now=DAY2 + timedelta(hours=3))
    assert [d.day for d in later.days] == [DAY2.date().isoformat()] and later.total.streams == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_stats_in_the_terminal_as_a_table_jsonl_and_csv(db_url):
    desk(db_url)
    table = runner.invoke(app, ["stats", "--db", db_url])
    assert table.exit_code == 0 and DAY1.date().isoformat() in table.stdout and "3 / 2 / 0" in table.stdout
    lines = [json.loads(x) for x in runner.invoke(app, ["stats", "--db", db_url, "-f", "jsonl"]).stdout.splitlines()]
    days = [x["day"] for x in lines if "streams" in x]
    assert days == [_TODAY.date().isoformat(), DAY1.date().isoformat(), DAY2.date().isoformat(), "total"]
    total = next(x for x in lines if x["day"] == "total" and "streams" in x)
    assert total["findings_medical_claim"] == 1
    assert next(x for x in lines if "decided" in x)["decided"] == 2
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["stats", "--db", db_url, "-f", "csv"]).stdout)))
    assert rows[-1]["day"] == "total" and rows[-1]["penalties_ban"] == "1"
    since = runner.invoke(app, ["stats", "--db", db_url, "--since", DAY2.date().isoformat(), "-f", "jsonl"])
    assert json.loads(since.stdout.splitlines()[0])["day"] == DAY2.date().isoformat()
    assert runner.invoke(app, ["stats", "--db", db_url, "--since", "yesterday"]).exit_code == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_dashboard_its_charts_and_the_gauges(db_url, tmp_path):
    desk(db_url)
    world = type("World", (), {"db_url": db_url, "evidence_dir": tmp_path})
    with client_for(world) as client:
        assert client.get("/dashboard", follow_redirects=False).status_code == 303  # login first
        login(client, "alice", "correct horse")
        page = client.get("/dashboard?days=365").text
        assert "<b>2</b> streams listened" in page and "<b>1</b> reminders, <b>1</b> by viewers" in page
        for name in charts.CHARTS:
            assert f'/dashboard/charts/{name}.svg?days=365' in page
            svg = client.get(f"/dashboard/charts/{name}.svg?days=365")
            assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
            assert svg.headers["content-security-policy"] == charts.SVG_POLICY and svg.text.startswith("<svg")
        assert "medical_claim" in client.get("/dashboard/charts/findings.svg?days=365").text
        assert client.get("/dashboard/charts/nothing.svg").status_code == 404
        assert client.get("/dashboard?days=3").status_code == 422
        metrics = client.get("/api/v1/metrics", headers={"X-API-Key": API_KEY}).text
    assert "pinocchio_desk_streams 2.0" in metrics and 'pinocchio_desk_findings{label="medical_claim"} 1.0' in metrics
    assert 'pinocchio_desk_reminders{source="viewers"} 1.0' in metrics
