"""Audit: walk the hash chains of the moderation log (one per stream and the global one), anchor
their heads outside the database, and rebuild the projections from the log.

The chains alone show an edit, a deletion or an insertion in the middle; they cannot show that a
chain's last events were cut off, or that everything after an edit was hashed again, since the
result is a valid chain. An anchor closes that: `anchor_head` signs the heads (the last id, the
count, and one hash over the last event of every chain, when) with a key kept outside the
database, to a file or a webhook elsewhere; `check_anchors` then finds a log shorter than an
anchor, fewer events than it counted, chains that no longer end in the anchored hashes, and events
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
from pinocchio.moderation.ledger import rebuild, snapshot
from pinocchio.store.chain import GENESIS_HASH, GLOBAL_CHAIN, event_hash, newest_id, take_every_turn
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
    """Recompute every event's hash from its content and the hash of the event before it in its
    chain, oldest first. Stops at the first broken link: an edited row (its hash no longer matches
    its content), or a deleted, inserted, moved or re-hashed row (its prev_hash no longer matches
    the event before it in its chain)."""
    heads: dict[int, tuple[int, str]] = {}  # chain -> (id, hash) of its last event checked
    last_id, checked = None, 0
    columns = (ModerationEvent.id, ModerationEvent.chain, ModerationEvent.prev_hash, ModerationEvent.hash,
               ModerationEvent.created_at, ModerationEvent.actor, ModerationEvent.action, ModerationEvent.subject,
               ModerationEvent.stream_id, ModerationEvent.payload)
    while True:  # plain rows in pages: a long log never fills the session
        query = select(*columns).order_by(ModerationEvent.id).limit(page)
        if last_id is not None:
            query = query.where(ModerationEvent.id > last_id)
        rows = session.exec(query).all()
        if not rows:
            return ChainReport(checked=checked, broken_id=None, reason=None)
        for row in rows:
            before_id, before_hash = heads.get(row.chain, (None, GENESIS_HASH))
            if row.prev_hash != before_hash:
                before = f"event {before_id}" if before_id is not None else "the start of its chain"
                return ChainReport(checked=checked, broken_id=row.id,
                                   reason=f"prev_hash does not match the hash of {before}, the one before it in "
                                          f"{_chain_name(row.chain)} (an event was deleted, inserted or re-hashed)")
            if row.hash != event_hash(row.prev_hash, row.id, row.created_at, row.actor, row.action, row.subject,
                                      row.stream_id, row.payload):
                return ChainReport(checked=checked, broken_id=row.id,
                                   reason="its hash does not match its content (the row was edited)")
            heads[row.chain] = (row.id, row.hash)
            last_id = row.id
            checked += 1


def _chain_name(chain: int) -> str:
    return "the global chain" if chain == GLOBAL_CHAIN else f"stream {chain}'s chain"


def chain_heads(session: Session, up_to_id: int | None = None) -> list[tuple[int, int, str]]:
    """(chain, id, hash) of every chain's last event (as of event `up_to_id`), by chain."""
    last = select(ModerationEvent.chain, func.max(ModerationEvent.id).label("id")).group_by(ModerationEvent.chain)
    if up_to_id is not None:
        last = last.where(ModerationEvent.id <= up_to_id)
    last = last.subquery()
    rows = session.exec(select(ModerationEvent.chain, ModerationEvent.id, ModerationEvent.hash)
                        .join(last, ModerationEvent.id == last.c.id).order_by(ModerationEvent.chain)).all()
    return [(row.chain, row.id, row.hash) for row in rows]


def heads_digest(heads: list[tuple[int, int, str]]) -> str:
    """One hash for the heads of every chain: what an anchor signs."""
    return hashlib.sha256("\n".join(f"{c}:{i}:{h}" for c, i, h in heads).encode("ascii")).hexdigest()


def rebuild_projections(session: Session) -> RebuildReport:
    """Replay the log into empty projections; says which tables came out different (drift)."""
    take_every_turn(session)
    before = snapshot(session)
    events = rebuild(session)
    after = snapshot(session)
    changed = tuple(name for name in after if after[name] != before.get(name))
    if changed:
        log.warning("rebuild changed %s", ", ".join(changed))
    return RebuildReport(events=events, changed=changed)


# ---------------------------------------------------------------- anchors

ANCHOR_FORMAT = 2  # 1: the one chain's last event before there were chains


@dataclass(frozen=True)
class Anchor:
    """The log's heads as they were at `anchored_at`, signed (HMAC-SHA256) with the anchor key:
    `hash` is `heads_digest` of every chain's last event (format 1, before chains: the hash of
    event `last_id`)."""

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
    """The log's heads, signed: the last event, how many there are, and one hash over the last
    event of every chain. Taken with every writer held off, so no event lands halfway through."""
    if not key:
        raise InputError("no anchor key: set PINOCCHIO_ANCHOR_KEY or give --key-file (keep it outside the database)")
    take_every_turn(session)
    count = session.exec(select(func.count()).select_from(ModerationEvent)).one()
    return Anchor(last_id=newest_id(session), hash=heads_digest(chain_heads(session)), count=count,
                  anchored_at=iso(utcnow())).signed(key)


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
            if anchor.format not in (1, ANCHOR_FORMAT) or not isinstance(anchor.last_id, int) or not isinstance(anchor.hash, str):
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
    last_id = newest_id(session)
    good = []
    for anchor in anchors:
        if not anchor.valid(key):
            problems.append(f"the anchor of {anchor.anchored_at} (event {anchor.last_id}) is not signed with this key")
            continue
        good.append(anchor)
        if anchor.last_id > last_id:
            problems.append(f"the log ends at event {last_id}, but it reached event {anchor.last_id} at "
                            f"{anchor.anchored_at}: events were cut off the end")
            continue
        count = session.exec(select(func.count()).select_from(ModerationEvent)
                             .where(ModerationEvent.id <= anchor.last_id)).one()
        if anchor.format == 1:  # before chains: the one chain's last event and its hash
            row = session.exec(select(ModerationEvent.hash).where(ModerationEvent.id == anchor.last_id)).first()
            if anchor.last_id and row is None:
                problems.append(f"event {anchor.last_id}, anchored at {anchor.anchored_at}, is missing")
                continue
            rehashed = bool(anchor.last_id) and row != anchor.hash
        else:
            rehashed = heads_digest(chain_heads(session, anchor.last_id)) != anchor.hash
        if count != anchor.count:
            problems.append(f"{count} events up to event {anchor.last_id}, but {anchor.count} were anchored at "
                            f"{anchor.anchored_at}: events were deleted or cut off the end of a chain")
        elif rehashed:
            problems.append(f"the chains as of event {anchor.last_id} do not end in the hashes anchored at "
                            f"{anchor.anchored_at}: a chain was re-hashed or an event edited")
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
    after = session.exec(select(func.count()).select_from(ModerationEvent).where(ModerationEvent.id > covered)).one()
    return AnchorReport(anchors=len(anchors), covered_id=covered, after=after, problems=tuple(problems))
