"""The live worker's own logic with a scripted transcriber instead of whisper (milliseconds, not
minutes): a feed that drops and replays, the replay guard, reminders once per window, evidence
clips as events, a report that came first, a broken feed beside a good one. (Restarts need the
feed's real clock: tests/test_live_restart.py runs them with real processes.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scripted import ScriptedTranscriber, silence
from sqlmodel import Session, select

from pinocchio.core.errors import AudioError
from pinocchio.core.events import Action
from pinocchio.core.records import AudioChunk
from pinocchio.core.settings import Settings
from pinocchio.listen.audio import Outage
from pinocchio.listen.detect import DetectOptions
from pinocchio.listen.evidence import EvidenceStore
from pinocchio.listen.pipeline import Pipeline
from pinocchio.listen.streaming import StreamOptions
from pinocchio.live.feeds import Feed
from pinocchio.live.metrics import WorkerMetrics
from pinocchio.live.worker import LiveWorker
from pinocchio.moderation.ledger import ModerationLedger
from pinocchio.moderation.reports import submit_report
from pinocchio.store import open_store, scans
from pinocchio.store.projections import Case, EvidenceClip, ReportLink
from pinocchio.store.tables import ModerationEvent, Scan, SegmentRow, Stream

ROOM = Feed("room7", "rtmp://127.0.0.1/live/room7", "s-7", "7")
BROKEN = Feed("room8", "rtmp://127.0.0.1/live/room8")
SCRIPT = [  # stream seconds, as a worker hears them
    (0.5, 3.0, "家人们晚上好，欢迎来到直播间"),
    (4.0, 7.0, "这个茶能治糖尿病"),
    (9.5, 12.5, "这个茶能治糖尿病"),  # the relay replays it after the drop at 9 s
    (14.0, 17.0, "我们家是全网最低价"),
    (80.0, 83.0, "这个茶能治糖尿病"),  # said again, long after: stored, not reminded twice
]


def dropping_source(url, policy, on_gap, stop):
    """Nine seconds, a drop (the empty chunk live_chunks yields), then the rest after the gap."""
    if url == BROKEN.url:
        raise AudioError(f"{url}: no audio after 3 attempts (Connection refused)")
    yield from silence(0.0, 9.0)
    yield AudioChunk(start_s=9.0, samples=np.zeros(0, dtype=np.float32))
    on_gap(Outage(url, 9.0, 9.0, "Connection reset by peer"))
    yield from silence(9.0, 76.0)


def run_worker(engine, tmp_path, feeds=(ROOM,)):
    pipeline = Pipeline(Settings(), detect_options=DetectOptions(batch_size=1),
                        transcriber=ScriptedTranscriber(SCRIPT))
    printed, reminded = [], []
    worker = LiveWorker(pipeline, engine, feeds, ModerationLedger("pinocchio@test"),
                        on_verdict=lambda feed, v: printed.append(v), on_reminder=reminded.append,
                        evidence=EvidenceStore(tmp_path / "clips"), metrics=WorkerMetrics(),
                        chunk_source=dropping_source, stream_options=StreamOptions())
    worker.run()
    return worker, printed, reminded


@pytest.fixture
def engine(tmp_path):
    return open_store(f"sqlite:///{tmp_path / 'live.db'}")


@pytest.fixture
def followed(engine, tmp_path):
    with Session(engine) as session:  # a viewer reports the tea claim before the worker has heard it
        stream = scans.live_stream_for(session, source=ROOM.url)
        report = submit_report(session, stream=stream.id, reporter_id="viewer-1", at=5.0, label="medical_claim")
        session.commit()
    worker, printed, reminded = run_worker(engine, tmp_path, feeds=(ROOM, BROKEN))
    return worker, printed, reminded, report


def stored(engine) -> list[SegmentRow]:
    with Session(engine) as session:
        return list(session.exec(select(SegmentRow).order_by(SegmentRow.start_ms)).all())


def events(engine, action: Action) -> list[ModerationEvent]:
    with Session(engine) as session:
        return list(session.exec(select(ModerationEvent).where(ModerationEvent.action == action)
                                 .order_by(ModerationEvent.id)).all())


def test_a_replay_after_the_drop_is_stored_once_and_a_later_repeat_again(followed, engine):
    worker, printed, *_ = followed
    assert [(s.start_ms, s.text) for s in stored(engine)] == [
        (500, "家人们晚上好,欢迎来到直播间"), (4000, "这个茶能治糖尿病"), (14000, "我们家是全网最低价"),
        (80000, "这个茶能治糖尿病")]
    assert len(printed) == 4  # what was not stored was not reported either
    assert worker.metrics.duplicates.labels("room7")._value.get() == 1


def test_the_gap_is_an_event_and_the_feed_names_its_streamer(followed, engine):
    gap, = events(engine, Action.FEED_GAP)
    with Session(engine) as session:
        stream = session.exec(select(Stream).where(Stream.source == ROOM.url)).one()
        scan = session.exec(select(Scan).where(Scan.stream_id == stream.id)).one()
    assert (stream.name, stream.streamer_id, stream.room) == ("room7", "s-7", "7")
    assert gap.subject == f"stream:{stream.id}" and gap.actor == "pinocchio@test"
    assert json.loads(gap.payload) | {"at": None} == {"at": None, "start_s": 9.0, "end_s": 9.0,
                                                      "reason": "Connection reset by peer", "scan_id": scan.id}
    assert scan.status == "done"
    assert json.loads(scan.provenance)["stream"]["endpoint_silence_s"] == StreamOptions().endpoint_silence_s


def test_each_label_is_reminded_once_in_its_window_and_the_reminder_is_logged(followed, engine):
    _, _, reminded, _ = followed
    assert sorted((r.label, r.start_s) for r in reminded) == [
        ("absolute_claim", 14.0), ("medical_claim", 4.0), ("price_deception", 14.0)]  # not medical_claim at 80 s
    logged = events(engine, Action.REMIND)
    segment_of = {s.start_ms: s.id for s in stored(engine)}
    assert [e.subject for e in logged] == [f"segment:{segment_of[4000]}"] + [f"segment:{segment_of[14000]}"] * 2
    assert [json.loads(e.payload)["message"] for e in logged] == [r.message for r in reminded]


def test_every_flagged_segment_gets_its_clip_as_an_event(followed, engine, tmp_path):
    flagged = [s.id for s in stored(engine) if s.action != "pass"]
    with Session(engine) as session:
        clips = {c.segment_id: c.clip for c in session.exec(select(EvidenceClip)).all()}
    assert sorted(clips) == sorted(flagged)
    assert all((tmp_path / "clips" / name).is_file() for name in clips.values())
    assert len(events(engine, Action.EVIDENCE)) == len(flagged)


def test_a_report_that_came_first_opens_the_case_of_its_segment(followed, engine):
    *_, report = followed
    claim = next(s for s in stored(engine) if s.start_ms == 4000)
    with Session(engine) as session:
        assert [link.segment_id for link in session.exec(select(ReportLink)).all()] == [claim.id]
        assert session.get(Case, claim.id).report_count == 1
    assert report.segment_ids == ()  # it came before the worker had heard anything


def test_a_broken_feed_is_reported_and_the_other_goes_on(followed):
    worker, printed, *_ = followed
    assert worker.errors == {"room8": "rtmp://127.0.0.1/live/room8: no audio after 3 attempts (Connection refused)"}
    assert printed
