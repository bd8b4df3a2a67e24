"""Viewers who remind: reports of one label on a live stream, once their credibility weighs enough,
remind the streamer with the label's template, as viewers; stored and sent like a pipeline reminder;
and never twice for one claim by both paths."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import WEBHOOK_SECRET
from moderation_world import recording, store_verdicts, verdict
from scripted import ScriptedTranscriber, silence
from sqlmodel import Session, select
from web_client import API_KEY, api

from pinocchio.core.reminder_texts import load_templates
from pinocchio.core.settings import Settings, package_data
from pinocchio.listen.detect import DetectOptions
from pinocchio.listen.pipeline import Pipeline
from pinocchio.listen.streaming import StreamOptions
from pinocchio.live.feeds import Feed
from pinocchio.live.metrics import WorkerMetrics
from pinocchio.live.worker import LiveWorker
from pinocchio.moderation.intake import GroupWriter, ViewerReminding
from pinocchio.moderation.ledger import ModerationLedger
from pinocchio.moderation.reports import ReportRequest
from pinocchio.moderation.viewer_reminders import ViewerRemindOptions
from pinocchio.store import open_store, scans
from pinocchio.store.tables import ModerationEvent, SegmentRow

TEMPLATES = load_templates(package_data("prompts", "reminders"))


def reminders_in_log(engine, stream_id=None) -> list[dict]:
    with Session(engine) as session:
        rows = session.exec(select(ModerationEvent).where(ModerationEvent.action == "remind")
                            .order_by(ModerationEvent.id)).all()
        return [dict(json.loads(r.payload), actor=r.actor, subject=r.subject) for r in rows
                if stream_id is None or r.stream_id == stream_id]


def live_room(session, name="room5"):
    stream = scans.live_stream_for(session, source=f"rtmp://127.0.0.1/live/{name}")
    stream.name = name
    session.add(stream)
    scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={})
    rows = store_verdicts(session, scan, [verdict(4, 7), verdict(30, 33)])  # compliant talk: nothing flagged
    return stream, scan, rows


def reports(stream, at_s, label, *reporters):
    return [ReportRequest(stream=stream, reporter=r, at=at_s, label=label, comment="主播在夸大效果") for r in reporters]


@pytest.fixture
def writer(db_url):
    writer = GroupWriter(db_url, reminding=ViewerReminding(TEMPLATES, ViewerRemindOptions(weight=1.5, window_s=60)))
    yield writer
    writer.close()


def test_enough_reports_of_a_label_remind_the_streamer_once_as_viewers(db_url, writer):
    engine = open_store(db_url)
    with Session(engine) as session:
        stream, _, rows = live_room(session)
        session.commit()
        stream, rows = stream.id, [(r.id, r.text) for r in rows]
    two = writer.write(reports(stream, 6.0, "efficacy_guarantee", "v1", "v2"))
    assert two.reminders == []  # two newcomers weigh 1.0: not yet
    third = writer.write(reports(stream, 6.5, "efficacy_guarantee", "v3"))
    reminder, = third.reminders
    assert (reminder.source, reminder.label, reminder.reports, reminder.weight) == ("viewers", "efficacy_guarantee", 3, 1.5)
    assert reminder.message.startswith("直播间有3位观众提醒（可信度合计1.50）：主播请注意") and reminder.text == rows[0][1]
    logged, = reminders_in_log(engine)
    assert logged["actor"] == "viewers" and logged["subject"] == f"segment:{rows[0][0]}" and logged["source"] == "viewers"
    # More reports of the label: the streamer was just reminded of it, not again; another label counts alone.
    assert writer.write(reports(stream, 7.0, "efficacy_guarantee", "v4", "v5")).reminders == []
    assert writer.write(reports(stream, 31.0, "medical_claim", "v6", "v7")).reminders == []
    assert len(reminders_in_log(engine)) == 1


def test_reports_on_a_recording_or_without_a_label_remind_nobody(db_url, writer):
    engine = open_store(db_url)
    with Session(engine) as session:
        recorded, _ = recording(session, verdicts=[verdict(4, 7)])
        stream, _, _ = live_room(session)
        session.commit()
        recorded, stream = recorded.id, stream.id
    assert writer.write(reports(recorded, 5.0, "medical_claim", "v1", "v2", "v3", "v4")).reminders == []
    assert writer.write(reports(stream, 5.0, None, "v1", "v2", "v3", "v4")).reminders == []
    # Spread over more than the window, three reports do not add up either.
    assert writer.write(reports(stream, 5.0, "medical_claim", "v5") + reports(stream, 70.0, "medical_claim", "v6")
                        + reports(stream, 140.0, "medical_claim", "v7")).reminders == []
    assert reminders_in_log(engine) == []


def test_a_viewers_reminder_fires_on_a_live_feed_from_reports_alone(tmp_path, receiver):
    """A live worker follows a feed (a scripted transcriber: what it hears is set) while viewers
    report through the HTTP API what the pipeline passed. The console's server reminds the
    streamer and POSTs it to the platform's webhook, signed; when the streamer then says a flagged
    claim of the same label, the worker does not remind them of it again."""
    from fastapi.testclient import TestClient

    from pinocchio.web import create_app

    db_url = f"sqlite:///{tmp_path / 'live.db'}"
    feed = Feed("room9", "rtmp://127.0.0.1/live/room9", "streamer-9")
    script = [(0.5, 3.0, "家人们晚上好"), (4.0, 7.0, "这款面霜我自己一直在用"),
              (20.0, 23.0, "用了三天皱纹全没了，百分之百有效")]  # the pipeline flags this one
    reported = threading.Event()

    def source(url, policy, on_gap, stop):
        yield from silence(0.0, 10.0)
        reported.wait(60)  # the feed goes on once the viewers have reported
        yield from silence(10.0, 20.0)

    engine = open_store(db_url)
    pipeline = Pipeline(Settings(), detect_options=DetectOptions(batch_size=1), transcriber=ScriptedTranscriber(script))
    told = []
    worker = LiveWorker(pipeline, engine, [feed], ModerationLedger("pinocchio@test"), on_reminder=told.append,
                        metrics=WorkerMetrics(), chunk_source=source, stream_options=StreamOptions(),
                        measure_capacity=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    app = create_app(Settings(db_url=db_url, evidence_dir=tmp_path / "clips", secret_key="test", api_keys=(API_KEY,),
                              remind_webhook=receiver["url"], webhook_secret=WEBHOOK_SECRET))
    with TestClient(app) as client:
        with Session(engine) as session:  # wait until the worker has stored what was said at 4-7 s
            deadline = time.monotonic() + 60
            while len(session.exec(select(SegmentRow.id)).all()) < 2:
                assert time.monotonic() < deadline, "the worker did not store the first sentences"
                time.sleep(0.1)
        for reporter in ("viewer-1", "viewer-2", "viewer-3"):
            answer = api(client, "/api/v1/reports", {"stream": feed.name, "reporter": reporter, "at": 6.0,
                                                     "label": "efficacy_guarantee", "comment": "夸大效果"})
            assert answer.status_code == 201, answer.text
        reported.set()
        thread.join(60)
        metrics = client.get("/api/v1/metrics", headers={"X-API-Key": API_KEY}).text
    assert not thread.is_alive() and not worker.errors
    deadline = time.monotonic() + 30
    while not receiver["good"] and time.monotonic() < deadline:
        time.sleep(0.1)
    sent, = receiver["good"]
    assert (sent["source"], sent["label"], sent["stream"], sent["reports"]) == ("viewers", "efficacy_guarantee", "room9", 3)
    assert receiver["bad_signatures"] == 0 and "pinocchio_viewer_reminders 1.0" in metrics
    logged = reminders_in_log(engine)
    assert [(r["source"], r["label"]) for r in logged] == [("viewers", "efficacy_guarantee")]
    assert [r.label for r in told] == []  # the flagged claim at 20 s: reminded already, by the viewers
    assert logged[0]["message"] == sent["message"]  # the log's reminder and the webhook's are the same one
