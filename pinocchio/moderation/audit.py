"""Audit: walk the hash chain of the moderation log, and rebuild the projections from it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session, select

from pinocchio.moderation.ledger import hold, rebuild, snapshot
from pinocchio.store.chain import GENESIS_HASH, event_hash
from pinocchio.store.tables import ModerationEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainReport:
    checked: int  # events whose links were checked
    broken_id: int | None  # the first event whose link is broken
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


@dataclass(frozen=True)
class RebuildReport:
    events: int  # events replayed
    changed: tuple[str, ...]  # projection tables whose rows differ from before the rebuild


def verify_chain(session: Session, page: int = 1000) -> ChainReport:
    """Recompute every event's hash from its content and its predecessor's hash, oldest first.
    Stops at the first broken link: an edited row (its hash no longer matches its content), or a
    deleted, inserted or re-hashed row (its prev_hash no longer matches the event before it)."""
    prev_hash, prev_id, checked = GENESIS_HASH, None, 0
    columns = (ModerationEvent.id, ModerationEvent.prev_hash, ModerationEvent.hash, ModerationEvent.created_at,
               ModerationEvent.actor, ModerationEvent.action, ModerationEvent.subject, ModerationEvent.stream_id,
               ModerationEvent.payload)
    while True:  # plain rows in pages: a long log never fills the session
        query = select(*columns).order_by(ModerationEvent.id).limit(page)
        if prev_id is not None:
            query = query.where(ModerationEvent.id > prev_id)
        rows = session.exec(query).all()
        if not rows:
            return ChainReport(checked=checked, broken_id=None, reason=None)
        for row in rows:
            if row.prev_hash != prev_hash:
                before = f"event {prev_id}" if prev_id is not None else "the start of the log"
                return ChainReport(checked=checked, broken_id=row.id,
                                   reason=f"prev_hash does not match the hash of {before} "
                                          "(an event was deleted, inserted or re-hashed)")
            if row.id != (prev_id or 0) + 1:
                return ChainReport(checked=checked, broken_id=row.id,
                                   reason=f"ids jump from {prev_id or 0} to {row.id} (events were renumbered)")
            if row.hash != event_hash(row.prev_hash, row.id, row.created_at, row.actor, row.action, row.subject,
                                      row.stream_id, row.payload):
                return ChainReport(checked=checked, broken_id=row.id,
                                   reason="its hash does not match its content (the row was edited)")
            prev_hash, prev_id = row.hash, row.id
            checked += 1


def rebuild_projections(session: Session) -> RebuildReport:
    """Replay the log into empty projections; says which tables came out different (drift)."""
    hold(session)
    before = snapshot(session)
    events = rebuild(session)
    after = snapshot(session)
    changed = tuple(name for name in after if after[name] != before.get(name))
    if changed:
        log.warning("rebuild changed %s", ", ".join(changed))
    return RebuildReport(events=events, changed=changed)
