"""Audit: walk the hash chain of the moderation log, anchor its head outside the database, and
rebuild the projections from it.

The chain alone shows an edit, a deletion or an insertion in the middle; it cannot show that its
last events were cut off, or that everything after an edit was hashed again, since the result is
a valid chain. An anchor closes that: `anchor_head` signs the head (last id, its hash, the count,
when) with a key kept outside the database, to a file or a webhook elsewhere; `check_anchors`
then finds a log shorter than an anchor, a head whose hash is not the anchored one, and events
after an anchor that claim to be older than it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from pinocchio.core.clock import aware, iso, utcnow
from pinocchio.core.errors import InputError
from pinocchio.moderation.ledger import hold, rebuild, snapshot
from pinocchio.store.chain import GENESIS_HASH, event_hash, head
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


# ---------------------------------------------------------------- anchors

ANCHOR_FORMAT = 1


@dataclass(frozen=True)
class Anchor:
    """The log's head as it was at `anchored_at`, signed (HMAC-SHA256) with the anchor key."""

    last_id: int
    hash: str
    count: int
    anchored_at: str  # ISO 8601, UTC
    format: int = ANCHOR_FORMAT
    signature: str = ""

    def body(self) -> bytes:
        values = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps(values, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def signed(self, key: str) -> "Anchor":
        return replace(self, signature=_mac(key, self.body()))

    def valid(self, key: str) -> bool:
        return hmac.compare_digest(self.signature, _mac(key, self.body()))

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class AnchorReport:
    anchors: int  # anchors read and checked
    covered_id: int  # the last event an anchor vouches for (0: none)
    after: int  # events after the latest anchor, not yet vouched for
    problems: tuple[str, ...]  # one line each

    @property
    def ok(self) -> bool:
        return not self.problems


def _mac(key: str, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def anchor_head(session: Session, key: str) -> Anchor:
    """The log's head, signed. Taken in a writer's turn, so no event lands halfway through."""
    if not key:
        raise InputError("no anchor key: set PINOCCHIO_ANCHOR_KEY or give --key-file (keep it outside the database)")
    hold(session)
    last_id, last_hash = head(session)
    count = session.exec(select(func.count()).select_from(ModerationEvent)).one()
    return Anchor(last_id=last_id, hash=last_hash, count=count, anchored_at=iso(utcnow())).signed(key)


def read_anchors(path: Path | str) -> list[Anchor]:
    """The anchors of a file (one JSON object a line, as `audit anchor --out` appends them)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    anchors = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            values = json.loads(text)
            anchor = Anchor(**values)
            if anchor.format != ANCHOR_FORMAT or not isinstance(anchor.last_id, int) or not isinstance(anchor.hash, str):
                raise TypeError
            datetime.fromisoformat(anchor.anchored_at)
        except (ValueError, TypeError):
            raise InputError(f"{path}:{number}: not an anchor written by `pinocchio audit anchor`") from None
        anchors.append(anchor)
    if not anchors:
        raise InputError(f"{path}: no anchors in it")
    return anchors


def check_anchors(session: Session, anchors: list[Anchor], key: str) -> AnchorReport:
    """Hold the log to what its anchors vouch for (see the module docstring)."""
    problems = []
    last_id, _ = head(session)
    good = []
    for anchor in anchors:
        if not anchor.valid(key):
            problems.append(f"the anchor of {anchor.anchored_at} (event {anchor.last_id}) is not signed with this key")
            continue
        good.append(anchor)
        row = session.exec(select(ModerationEvent.hash).where(ModerationEvent.id == anchor.last_id)).first()
        if anchor.last_id > last_id:
            problems.append(f"the log ends at event {last_id}, but it reached event {anchor.last_id} at "
                            f"{anchor.anchored_at}: events were cut off the end")
        elif anchor.last_id and row is None:
            problems.append(f"event {anchor.last_id}, anchored at {anchor.anchored_at}, is missing")
        elif anchor.last_id and row != anchor.hash:
            problems.append(f"event {anchor.last_id} does not have the hash anchored at {anchor.anchored_at}: "
                            "the chain was re-hashed or the event edited")
        else:
            count = session.exec(select(func.count()).select_from(ModerationEvent)
                                 .where(ModerationEvent.id <= anchor.last_id)).one()
            if count != anchor.count:
                problems.append(f"{count} events up to event {anchor.last_id}, but {anchor.count} were anchored at "
                                f"{anchor.anchored_at}")
    latest = max(good, key=lambda a: a.last_id, default=None)
    covered = latest.last_id if latest else 0
    if latest is not None:
        anchored_at = aware(datetime.fromisoformat(latest.anchored_at))
        for row in session.exec(select(ModerationEvent.id, ModerationEvent.created_at)
                                .where(ModerationEvent.id > covered).order_by(ModerationEvent.id)).all():
            if aware(row.created_at) <= anchored_at:
                problems.append(f"event {row.id} says it was appended at {iso(aware(row.created_at))}, before the "
                                f"anchor of {latest.anchored_at} that ends at event {covered}: it was added later")
                break
    return AnchorReport(anchors=len(anchors), covered_id=covered, after=max(0, last_id - covered),
                        problems=tuple(problems))
