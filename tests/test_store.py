import json

import pytest
from moderation_world import store_verdicts
from sqlmodel import Session, select

from pinocchio.core.records import Finding, Segment, Verdict
from pinocchio.store import chain, open_store, scans, tables


def verdict(start, action, label=None):
    findings = (Finding("lexicon", label, 3, "广告法第十七条", (2, 4), term="能治", matched="能治", match_kind="literal"),) if label else ()
    return Verdict(Segment(start, start + 1.5, "这个能治病", ("这个", "能治", "病")), findings, action)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_wal_mode_and_tables(db_url):
    engine = open_store(db_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_verdicts_round_trip_and_flag_events_chain(db_url):
    engine = open_store(db_url)
    with Session(engine) as session:
        stream = scans.stream_for(session, source="a.wav", content_sha256="ab" * 32, duration_s=10.0)
        scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={"lexicon": "x"})
        originals = [verdict(0.0, "pass"), verdict(2.0, "review", "medical_claim"), verdict(4.0, "review", "medical_claim")]
        store_verdicts(session, scan, originals)
        scans.finish_scan(session, scan=scan, status="done")
        session.commit()
        assert scans.scan_verdicts(session, scan_id=scan.id) == originals
        events = session.exec(select(tables.ModerationEvent).order_by(tables.ModerationEvent.id)).all()
    assert [e.action for e in events] == ["flag", "flag"]
    assert events[0].prev_hash == chain.GENESIS_HASH and events[1].prev_hash == events[0].hash
    for e in events:
        assert e.hash == chain.event_hash(e.prev_hash, e.id, e.created_at, e.actor, e.action, e.subject, e.stream_id,
                                        e.payload)
        assert json.loads(e.payload)["labels"] == ["medical_claim"]


def test_a_crashed_scan_is_superseded(db_url):
    engine = open_store(db_url)
    with Session(engine) as session:
        stream = scans.stream_for(session, source="a.wav", content_sha256="cd" * 32, duration_s=1.0)
        first = scans.start_scan(session, stream=stream, pipeline_version="t", provenance={})
        session.commit()
        assert scans.completed_scan(session, stream_id=stream.id) is None
        second = scans.start_scan(session, stream=stream, pipeline_version="t", provenance={})
        session.commit()
        session.refresh(first)
        assert first.status == "abandoned" and second.status == "running"
