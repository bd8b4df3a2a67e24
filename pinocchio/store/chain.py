"""The mechanics of the hash chain under the moderation log: each row's hash covers its content
and its predecessor's hash, and writers take turns (`take_turn`) so that two events are never
chained to the same parent. `moderation.ledger.record` is the only caller of `append_row`;
`moderation.audit` recomputes the chain with `event_hash`."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import update
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


def event_hash(prev_hash: str, created_at: datetime, actor: str, action: str, subject: str, payload: str) -> str:
    body = json.dumps([prev_hash, _canonical_time(created_at), actor, action, subject, payload], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def take_turn(session: Session) -> None:
    """Queue behind other writers of the moderation log (see `LedgerLock`) until this transaction
    ends. Whoever reads state to check a rule before appending takes the turn first, so that the
    check and the append see the same state."""
    done = session.exec(update(LedgerLock).where(LedgerLock.id == 1)
                        .values(appended=LedgerLock.appended + 1)).rowcount
    if not done:
        try:
            with session.begin_nested():
                session.add(LedgerLock(id=1, appended=1))
        except IntegrityError:  # another writer created it first: queue behind it
            session.exec(update(LedgerLock).where(LedgerLock.id == 1).values(appended=LedgerLock.appended + 1))


def append_row(session: Session, *, actor: str, action: str, subject: str, payload: dict,
               stream_id: int | None = None) -> ModerationEvent:
    """Chain one row onto the log; the caller holds the turn."""
    last = session.exec(select(ModerationEvent.hash).order_by(ModerationEvent.id.desc()).limit(1)).first()
    prev_hash = last or GENESIS_HASH
    created_at = utcnow()
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    row = ModerationEvent(created_at=created_at, actor=actor, action=action, subject=subject,
                          stream_id=stream_id, payload=body, prev_hash=prev_hash,
                          hash=event_hash(prev_hash, created_at, actor, action, subject, body))
    session.add(row)
    session.flush()
    return row
