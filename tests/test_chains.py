"""One hash chain per stream: a stream's events link onto its own chain and events of no stream onto
the global one; on PostgreSQL a writer of one stream never waits for a writer of another, while two
writers of one stream still take turns; the chains verify, and a log written as one chain before
(schema revision 0001) is upgraded in place and still verifies, old rows and new."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa
from moderation_world import PIPELINE, recording, verdict
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import utcnow
from pinocchio.moderation.audit import verify_chain
from pinocchio.store import migrate, open_store
from pinocchio.store.chain import GENESIS_HASH, event_hash, take_turn
from pinocchio.store.engine import connect
from pinocchio.store.tables import ModerationEvent


def gap(at: float) -> ev.FeedGap:
    return ev.FeedGap(start_s=at, end_s=at + 1, reason="test", scan_id=1)


def unstreamed(session: Session, subject: int, at: float) -> None:
    """An event recorded with no stream: it goes on the global chain."""
    PIPELINE.record(session, gap(at), subject_id=subject, stream_id=None)


def test_each_stream_has_its_own_chain_and_the_rest_the_global_one(db_url):
    with Session(open_store(db_url)) as session:
        one, _ = recording(session, name="room1", verdicts=[verdict(0, 2, "review", "medical_claim")])
        two, _ = recording(session, name="room2", verdicts=[verdict(0, 2, "review", "medical_claim")])
        PIPELINE.record(session, gap(5), subject_id=one.id, stream_id=one.id)
        unstreamed(session, one.id, 6)
        session.commit()
        rows = session.exec(select(ModerationEvent).order_by(ModerationEvent.id)).all()
        by_chain: dict[int, list[ModerationEvent]] = {}
        for row in rows:
            assert row.chain == (row.stream_id or 0)
            by_chain.setdefault(row.chain, []).append(row)
        assert set(by_chain) == {0, one.id, two.id}
        for chain_rows in by_chain.values():
            assert chain_rows[0].prev_hash == GENESIS_HASH  # each chain starts from the genesis hash
            assert all(b.prev_hash == a.hash for a, b in zip(chain_rows, chain_rows[1:]))
        assert verify_chain(session).ok


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_writer_of_one_stream_never_waits_for_another_streams(db_url):
    engine = open_store(db_url)
    with Session(engine) as session:
        one, _ = recording(session, name="room1")
        two, _ = recording(session, name="room2")
        session.commit()
        one_id, two_id = one.id, two.id
    holder = Session(engine)
    take_turn(holder, one_id)  # a writer of room1 is mid-transaction and keeps its turn
    try:
        with Session(engine) as other:  # room2's writer appends and commits meanwhile
            started = time.monotonic()
            PIPELINE.record(other, gap(1), subject_id=two_id, stream_id=two_id)
            other.commit()
            assert time.monotonic() - started < 4  # well inside the 5 s a waiting writer would give up after
        with Session(engine) as same:  # a second writer of room1 waits for the first
            same.exec(sa.text("SET lock_timeout = '300ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                PIPELINE.record(same, gap(1), subject_id=one_id, stream_id=one_id)
    finally:
        holder.rollback()
        holder.close()
    with Session(engine) as session:
        assert verify_chain(session).ok


@pytest.mark.parametrize("backend", ["postgresql"])
def test_writers_of_many_streams_at_once_leave_every_chain_whole(db_url):
    engine = open_store(db_url)
    with Session(engine) as session:
        streams = [recording(session, name=f"room{k}")[0].id for k in range(6)]
        session.commit()
    errors = []

    def write(stream_id: int) -> None:
        with Session(engine) as session:
            for k in range(15):
                try:
                    PIPELINE.record(session, gap(k), subject_id=stream_id, stream_id=stream_id)
                    if k % 5 == 0:  # and now and then an event of no stream, on the global chain
                        unstreamed(session, stream_id, 100 + k)
                    session.commit()
                except Exception as exc:  # collected: the test fails below with it
                    errors.append(repr(exc))
                    session.rollback()

    threads = [threading.Thread(target=write, args=(s,)) for s in streams for _ in range(2)]  # two writers each
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    with Session(engine) as session:
        report = verify_chain(session)
        assert report.ok, report.reason
        counts = dict(session.exec(select(ModerationEvent.chain, sa.func.count()).group_by(ModerationEvent.chain)).all())
        assert all(counts[s] == 30 for s in streams) and counts[0] == 6 * 2 * 3


def legacy_log(session: Session, streams: list[int], events: int = 12) -> None:
    """Events as Pinocchio wrote them before chains: one chain over every stream, ids one by one."""
    prev = GENESIS_HASH
    for k in range(1, events + 1):
        stream_id = streams[k % len(streams)]
        payload = json.dumps({"at": None, "end_s": k + 1.0, "reason": "old", "scan_id": None, "start_s": float(k)})
        row = ModerationEvent(id=k, created_at=utcnow(), actor="pinocchio@old", action="feed_gap",
                              subject=f"stream:{stream_id}", stream_id=stream_id, payload=payload, prev_hash=prev,
                              hash="")
        row.hash = event_hash(prev, k, row.created_at, row.actor, row.action, row.subject, row.stream_id, row.payload)
        values = {c: getattr(row, c) for c in ("id", "created_at", "actor", "action", "subject", "stream_id",
                                                 "payload", "prev_hash", "hash")}
        old_table = sa.table("moderation_event", *(sa.column(c) for c in values))  # no chain column yet
        session.exec(sa.insert(old_table).values(**values))
        prev = row.hash


def test_a_log_of_one_chain_from_before_is_upgraded_and_still_verifies(db_url, backend):
    engine = connect(db_url)
    migrate.upgrade(engine, "0001")
    with Session(engine) as session:
        session.exec(sa.text("INSERT INTO stream (source, created_at) VALUES ('a.m4a', CURRENT_TIMESTAMP), "
                             "('b.m4a', CURRENT_TIMESTAMP)"))
        streams = list(session.exec(sa.text("SELECT id FROM stream ORDER BY id")).scalars())
        legacy_log(session, streams)
        session.commit()
    migrate.upgrade(engine)  # as `pinocchio db upgrade` does (SQLite would do it when opened)
    with Session(open_store(db_url)) as session:
        assert {r.chain for r in session.exec(select(ModerationEvent))} == {0}  # the old rows stay on one chain
        PIPELINE.record(session, gap(50), subject_id=streams[0], stream_id=streams[0])
        unstreamed(session, streams[0], 60)
        session.commit()
        new = session.exec(select(ModerationEvent).where(ModerationEvent.id > 12).order_by(ModerationEvent.id)).all()
        assert [r.chain for r in new] == [streams[0], 0] and min(r.id for r in new) == 13
        old_head = session.get(ModerationEvent, 12)
        assert new[0].prev_hash == GENESIS_HASH and new[1].prev_hash == old_head.hash  # the global chain goes on
        assert verify_chain(session).ok
        session.exec(sa.update(ModerationEvent).where(ModerationEvent.id == 5).values(actor="someone else"))
        report = verify_chain(session)
        assert (report.ok, report.broken_id) == (False, 5)
