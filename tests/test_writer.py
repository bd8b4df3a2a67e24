"""The live process's one verdict writer (live/writer.py), on SQLite and PostgreSQL: what waits is
stored in one transaction, in order, with its reminders and later its clip's event; one bad
verdict fails only its own feed; the log's chains hold."""

import threading

import pytest
from moderation_world import PIPELINE, verdict
from sqlmodel import Session, select

from pinocchio.core.events import Evidence, Remind
from pinocchio.live.writer import VerdictWriter
from pinocchio.moderation.audit import verify_chain
from pinocchio.store import chain, open_store, scans
from pinocchio.store.projections import Case, EvidenceClip
from pinocchio.store.tables import ModerationEvent, SegmentRow


def rooms(engine, count: int) -> list[scans.ScanOf]:
    with Session(engine) as session:
        made = []
        for k in range(count):
            stream = scans.live_stream_for(session, source=f"rtmp://127.0.0.1/live/room{k}")
            made.append(scans.start_scan(session, stream=stream, pipeline_version="test", provenance={}))
        session.commit()
        return [scans.ScanOf(id=scan.id, stream_id=scan.stream_id) for scan in made]


class Blocked:
    """Another writer holding these streams' turns: the verdict writer's next transaction waits
    for it, so whatever is handed over meanwhile queues up behind."""

    def __init__(self, engine, stream_ids):
        self.session = Session(engine)
        chain.take_turn(self.session, *stream_ids)

    def release(self):
        self.session.commit()
        self.session.close()


def test_what_waits_is_stored_together_in_order_with_the_log_chained(db_url):
    engine = open_store(db_url)
    scan_ofs = rooms(engine, 3)
    writer = VerdictWriter(engine, PIPELINE)
    blocker = Blocked(engine, [s.stream_id for s in scan_ofs])
    futures = [writer.store(scan_ofs[n % 3], verdict(2.0 * n, 2.0 * n + 1.5, "review" if n % 2 else "pass",
                                                     "medical_claim" if n % 2 else None)) for n in range(12)]
    blocker.release()
    ids = [f.result(timeout=30) for f in futures]
    writer.close()
    # The first transaction waited for the other writer while the rest queued: at most two held all twelve.
    assert writer.verdicts == 12 and writer.batches <= 2
    assert ids == sorted(ids)
    with Session(engine) as session:
        stored = session.exec(select(SegmentRow).order_by(SegmentRow.id)).all()
        assert [(s.scan_id, s.start_ms) for s in stored] == [(scan_ofs[n % 3].id, 2000 * n) for n in range(12)]
        flags = session.exec(select(ModerationEvent).where(ModerationEvent.action == "flag")).all()
        assert sorted(int(e.subject.split(":")[1]) for e in flags) == ids[1::2]
        assert {e.chain for e in flags} == {s.stream_id for s in scan_ofs}
        assert len(session.exec(select(Case)).all()) == 6  # each review flag opened its case
        assert verify_chain(session).ok


def test_one_bad_verdict_fails_only_its_own_feed(db_url):
    engine = open_store(db_url)
    a, b = rooms(engine, 2)
    writer = VerdictWriter(engine, PIPELINE)
    writer.store(a, verdict(0.0, 1.5, "review", "medical_claim")).result(timeout=30)
    blocker = Blocked(engine, [a.stream_id, b.stream_id])
    again = writer.store(a, verdict(0.0, 1.5, "review", "medical_claim"))  # the same segment of the same scan
    others = [writer.store(b, verdict(2.0 * n, 2.0 * n + 1.5, "review", "medical_claim")) for n in range(3)]
    blocker.release()
    with pytest.raises(Exception, match="(?i)unique"):
        again.result(timeout=30)
    assert all(f.result(timeout=30) for f in others)
    writer.close()
    with Session(engine) as session:
        assert len(session.exec(select(SegmentRow)).all()) == 4
        assert len(session.exec(select(ModerationEvent).where(ModerationEvent.action == "flag")).all()) == 4
        assert verify_chain(session).ok


def test_reminders_and_a_clip_cut_later_are_logged_about_the_segment(db_url):
    engine = open_store(db_url)
    room, = rooms(engine, 1)
    writer = VerdictWriter(engine, PIPELINE)
    said = verdict(4.0, 6.0, "remind", "medical_claim")
    reminder = Remind(stream="room0", start_s=4.0, end_s=6.0, label="medical_claim", article="广告法",
                      action=said.action, message="请勿宣称疗效", text=said.segment.text)
    segment_id = writer.store(room, said, [reminder]).result(timeout=30)
    writer.record(Evidence(clip="ab" * 32 + ".opus"), subject_id=segment_id, stream_id=room.stream_id).result(timeout=30)
    writer.close()
    with Session(engine) as session:
        actions = [(e.action, e.subject) for e in session.exec(select(ModerationEvent).order_by(ModerationEvent.id))]
        assert actions == [(a, f"segment:{segment_id}") for a in ("flag", "remind", "evidence")]
        assert session.get(EvidenceClip, segment_id).clip == "ab" * 32 + ".opus"
        assert verify_chain(session).ok


def test_close_stores_what_was_handed_over_and_refuses_more(db_url):
    engine = open_store(db_url)
    room, = rooms(engine, 1)
    writer = VerdictWriter(engine, PIPELINE)
    done = threading.Event()
    futures = [writer.store(room, verdict(2.0 * n, 2.0 * n + 1.5)) for n in range(5)]
    futures[-1].add_done_callback(lambda _: done.set())
    writer.close()
    assert done.is_set() and all(f.result() for f in futures)
    with pytest.raises(RuntimeError, match="closed"):
        writer.store(room, verdict(20.0, 21.5))


def test_feeds_coming_back_after_a_slow_write_share_the_next_commit(db_url):
    """Group commit sized by the load: the six feeds whose verdicts one slow transaction stored
    (another writer held their turns) hand their next ones over a few milliseconds apart, more
    than the 20 ms gather; the writer waits for as many as the last batch held (up to as long as
    that write took), so the six share one commit instead of one each."""
    import time

    engine = open_store(db_url)
    scan_ofs = rooms(engine, 6)
    writer = VerdictWriter(engine, PIPELINE)
    blocker = Blocked(engine, [s.stream_id for s in scan_ofs])
    first = [writer.store(s, verdict(0.0, 1.5, "review", "medical_claim")) for s in scan_ofs]
    threading.Timer(0.5, blocker.release).start()
    assert all(f.result(timeout=30) for f in first) and writer.batches == 1
    then = []
    for s in scan_ofs:
        then.append(writer.store(s, verdict(2.0, 3.5, "review", "medical_claim")))
        time.sleep(0.02)
    assert all(f.result(timeout=30) for f in then)
    writer.close()
    assert writer.verdicts == 12 and writer.batches == 2
    with Session(engine) as session:
        assert verify_chain(session).ok
