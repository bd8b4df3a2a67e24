"""The moderation ledger: the one writer of the event log.

`record` appends one event: it takes the writers' turn, chains the row's hash onto the log, and
applies the action's transition to the projections (`projector.apply_all`), all in the caller's
transaction and inside a savepoint, so the event and its effects land together or not at all (a
transition that refuses, say a claim on a case someone else holds, leaves nothing behind).
Every event reaches the log here: the pipeline's and the live worker's through
`ModerationLedger` (the `core.ledger.Ledger` they are handed), the reviewers', viewers' and
streamers' through the moderation commands. `rebuild` replays the log into empty projections."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, iso, utcnow
from pinocchio.core.records import StoredVerdict, VerdictAction
from pinocchio.moderation.projection import LoggedEvent
from pinocchio.moderation.projector import apply_all, forget_rows
from pinocchio.store.chain import (
    GLOBAL_CHAIN,
    NewRow,
    append_rows,
    chain_of,
    heads,
    new_ids,
    take_every_turn,
    take_turn,
)
from pinocchio.store.projections import PROJECTIONS
from pinocchio.store.tables import ModerationEvent, SegmentRow

log = logging.getLogger(__name__)


def hold(session: Session, *stream_ids: int) -> None:
    """For commands that check state before recording: the global chain's turn (what people do is
    checked against what no one else is changing), and the turns of the streams whose state the
    check reads that the pipeline writes (segments, for a report), so nothing changes between."""
    take_turn(session, GLOBAL_CHAIN, *(chain_of(s) for s in stream_ids))


@dataclass(frozen=True)
class Entry:
    """One event to append: a `core.events` payload by `actor` about `subject_id` (of the kind its
    payload is about), at the logical time `at` (now if not given)."""

    payload: Any
    actor: str
    subject_id: int | str
    stream_id: int | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Earlier:
    """In a payload given to `record_all`: the id of the event made by entry `index` of the same
    call (a group's attachments name reports that get their ids in that call)."""

    index: int


def record(session: Session, payload: Any, *, actor: str, subject_id: int | str, stream_id: int | None = None,
           at: datetime | None = None) -> LoggedEvent:
    """Append one event and apply it."""
    return record_all(session, [Entry(payload, actor, subject_id, stream_id, at)])[0]


def record_all(session: Session, entries: Sequence[Entry]) -> list[LoggedEvent]:
    """Append events in order, each chained to the one before, and apply them: all land, or (a
    transition refused) none does. A group of reports is one call, one statement, one flush."""
    if not entries:
        return []
    now = utcnow()
    chains = {chain_of(entry.stream_id) for entry in entries}
    take_turn(session, *chains)  # a stream's events queue behind that stream's writers only
    with session.begin_nested():
        tips = heads(session, chains)
        ids = new_ids(session, len(entries))
        decoded = []
        for entry in entries:
            payload = _resolved(entry.payload, ids)
            values = ev.encode(payload)
            decoded.append((entry, aware(entry.at or now), values, ev.decode(payload.ACTION, values)))
        rows = append_rows(session, [NewRow(actor=entry.actor, action=str(payload.ACTION),
                                            subject=ev.subject(payload.SUBJECT, entry.subject_id),
                                            stream_id=entry.stream_id, payload={"at": iso(at), **values})
                                     for entry, at, values, payload in decoded], ids=ids, heads=tips)
        events = [LoggedEvent(id=row.id, created_at=aware(row.created_at), at=at, actor=entry.actor,
                              action=payload.ACTION, subject=row.subject, stream_id=entry.stream_id, payload=payload)
                  for row, (entry, at, _values, payload) in zip(rows, decoded)]
        apply_all(session, events)
    if len(events) == 1:
        log.info("%s %s by %s", events[0].action, events[0].subject, events[0].actor)
    elif events:
        log.info("%d events appended (%d..%d)", len(events), events[0].id, events[-1].id)
    return events


def _resolved(payload: Any, ids: Sequence[int]) -> Any:
    earlier = {f.name: ids[value.index] for f in fields(payload)
               if isinstance(value := getattr(payload, f.name), Earlier)}
    return replace(payload, **earlier) if earlier else payload


class ModerationLedger:
    """The ledger as the listening side sees it (`core.ledger.Ledger`): its events are by `actor`
    (the pipeline's version), and a stored verdict is flagged and met by the reports waiting for it."""

    def __init__(self, actor: str):
        self.actor = actor
        ev.warm_up()

    def record(self, session: Session, payload: Any, *, subject_id: int | str, stream_id: int | None = None,
               at: datetime | None = None) -> LoggedEvent:
        return record(session, payload, actor=self.actor, subject_id=subject_id, stream_id=stream_id, at=at)

    def verdicts_stored(self, session: Session, stored: Sequence[StoredVerdict]) -> None:
        from pinocchio.moderation.reports import (  # reports record through this module
            attach_waiting_reports,
            reported_streams,
        )

        # Most streams have no reports: one query for the batch instead of three per segment.
        reported = reported_streams(session, {s.stream_id for s in stored})
        flagged = [s for s in stored if s.verdict.action != VerdictAction.PASS]
        # Every turn this batch will need, taken at once in chain order (take_turn's rule).
        if chains := {chain_of(s.stream_id) for s in flagged} | {chain_of(r) for r in reported}:
            take_turn(session, *chains)
        record_all(session, [Entry(ev.Flag(action=s.verdict.action, labels=s.verdict.labels,
                                           start_s=s.verdict.segment.start_s, end_s=s.verdict.segment.end_s,
                                           scan_id=s.scan_id), self.actor, s.segment_id, s.stream_id)
                             for s in flagged])
        for s in stored:
            if s.stream_id in reported:
                attach_waiting_reports(session, session.get(SegmentRow, s.segment_id))


def rebuild(session: Session) -> int:
    """Empty the projections and replay the whole log into them; returns the events replayed.
    The session is flushed and its objects detached first (projection rows are rewritten)."""
    take_every_turn(session)
    session.flush()
    session.expunge_all()
    for table in PROJECTIONS:
        session.exec(delete(table))
    session.flush()
    forget_rows(session)
    columns = (ModerationEvent.id, ModerationEvent.created_at, ModerationEvent.actor, ModerationEvent.action,
               ModerationEvent.subject, ModerationEvent.stream_id, ModerationEvent.payload)
    count = 0
    last_id = 0
    while True:  # plain rows in pages, so a long log never sits in memory whole
        rows = session.exec(select(*columns).where(ModerationEvent.id > last_id)
                            .order_by(ModerationEvent.id).limit(1000)).all()
        if not rows:
            break
        apply_all(session, [LoggedEvent.from_row(row) for row in rows])
        count += len(rows)
        last_id = rows[-1].id
    return count


def snapshot(session: Session) -> dict[str, list[dict]]:
    """Every projection row as plain values (times in UTC), to compare a rebuild with the live state."""
    result = {}
    for table in PROJECTIONS:
        keys = [c for c in table.__table__.primary_key.columns]
        rows = session.exec(select(table).order_by(*keys)).all()
        result[table.__tablename__] = [{k: aware(v) if isinstance(v, datetime) else v
                                        for k, v in row.model_dump().items()} for row in rows]
    return result


def event_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(ModerationEvent)).one()


def history(session: Session, subject: str, *, offset: int = 0, limit: int | None = None) -> list[LoggedEvent]:
    """The events about one subject (`segment:12`), oldest first: all, or a page of them."""
    query = select(ModerationEvent).where(ModerationEvent.subject == subject).order_by(ModerationEvent.id)
    rows = session.exec(query.offset(offset).limit(limit)).all()
    return [LoggedEvent.from_row(r) for r in rows]


def history_count(session: Session, subject: str) -> int:
    return session.exec(select(func.count()).select_from(ModerationEvent)
                        .where(ModerationEvent.subject == subject)).one()
