"""The mechanics of the hash chain under the moderation log: each row's hash covers every column
of the row (its id, time, actor, action, subject, stream and payload) and its predecessor's hash,
and writers take turns (`take_turn`) so that two events are never chained to the same parent.
Ids are given here, one more than the last, so the log has no gaps. `moderation.ledger` is the
only caller of `append_rows`; `moderation.audit` recomputes the chain with `event_hash`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from pinocchio.core.clock import utcnow
from pinocchio.store.tables import LedgerLock, ModerationEvent

GENESIS_HASH = "0" * 64


def _canonical_time(moment: datetime) -> str:
    """UTC, microseconds, no offset: SQLite gives datetimes back without their zone, PostgreSQL with it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def event_hash(prev_hash: str, id: int, created_at: datetime, actor: str, action: str, subject: str,
               stream_id: int | None, payload: str) -> str:
    body = json.dumps([prev_hash, id, _canonical_time(created_at), actor, action, subject, stream_id, payload],
                      ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def take_turn(session: Session) -> None:
    """Queue behind other writers of the moderation log (see `LedgerLock`) until this transaction
    ends. Whoever reads state to check a rule before appending takes the turn first, so that the
    check and the append see the same state. Taken once per transaction (outside savepoints: a
    savepoint rolled back on PostgreSQL gives back the row lock it took)."""
    root = session.get_transaction()
    if root is not None and session.info.get("ledger_turn") is root:
        return
    done = session.exec(update(LedgerLock).where(LedgerLock.id == 1)
                        .values(appended=LedgerLock.appended + 1)).rowcount
    if not done:
        try:
            with session.begin_nested():
                session.add(LedgerLock(id=1, appended=1))
        except IntegrityError:  # another writer created it first: queue behind it
            session.exec(update(LedgerLock).where(LedgerLock.id == 1).values(appended=LedgerLock.appended + 1))
    if not session.in_nested_transaction():
        session.info["ledger_turn"] = session.get_transaction()


@dataclass(frozen=True)
class NewRow:
    """What a writer appends: the chain adds the id, the time and the hashes."""

    actor: str
    action: str
    subject: str
    payload: dict
    stream_id: int | None = None


@dataclass(frozen=True)
class ChainedRow:
    id: int
    created_at: datetime
    actor: str
    action: str
    subject: str
    stream_id: int | None
    payload: str  # the JSON as stored and hashed
    prev_hash: str
    hash: str


def head(session: Session) -> tuple[int, str]:
    """The last event's id and hash (0 and the genesis hash for an empty log)."""
    last = session.exec(select(ModerationEvent.id, ModerationEvent.hash)
                        .order_by(ModerationEvent.id.desc()).limit(1)).first()
    return (last.id, last.hash) if last is not None else (0, GENESIS_HASH)


def append_rows(session: Session, rows: Sequence[NewRow], *, after: tuple[int, str]) -> list[ChainedRow]:
    """Chain rows onto the log in order, in one statement; the caller holds the turn and read the
    head (`after`, from `head`) in it. Their ids follow the head's, one by one."""
    last_id, prev_hash = after
    created_at = utcnow()
    chained = []
    for offset, new in enumerate(rows, start=1):
        body = json.dumps(new.payload, ensure_ascii=False, sort_keys=True)
        row_id = last_id + offset
        digest = event_hash(prev_hash, row_id, created_at, new.actor, new.action, new.subject, new.stream_id, body)
        chained.append(ChainedRow(id=row_id, created_at=created_at, actor=new.actor, action=new.action,
                                  subject=new.subject, stream_id=new.stream_id, payload=body, prev_hash=prev_hash,
                                  hash=digest))
        prev_hash = digest
    if chained:  # a plain INSERT: every column is given, and no ORM copy is wanted
        session.connection().execute(insert(ModerationEvent.__table__), [vars(row) for row in chained])
    return chained
