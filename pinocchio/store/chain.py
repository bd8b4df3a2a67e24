"""The mechanics of the hash chains under the moderation log. Each stream's events form their own
chain, and events of no stream the global chain (`chain_of`): each row's hash covers every column
of the row (its id, time, actor, action, subject, stream and payload) and the hash of the row
before it in its chain. Writers of a chain take turns (`take_turn`) so that two events are never
linked to the same parent, while writers of other streams' chains go on (on PostgreSQL; SQLite has
one writer at a time anyway). Ids are unique and increase along every chain: on PostgreSQL they
come from the table's sequence (a rolled-back append leaves a gap), on SQLite one more than the
last. `moderation.ledger` is the only caller of `append_rows`; `moderation.audit` recomputes the
chains with `event_hash`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, insert, text, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from pinocchio.core.clock import utcnow
from pinocchio.store.tables import LedgerLock, ModerationEvent

GLOBAL_CHAIN = 0
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


def chain_of(stream_id: int | None) -> int:
    """The chain an event about this stream (or no stream) is linked in."""
    return stream_id or GLOBAL_CHAIN


def take_turn(session: Session, *chains: int) -> None:
    """Queue behind the other writers of these chains (the global chain when none is named) until
    this transaction ends (see `LedgerLock`). Whoever reads state to check a rule before appending
    takes the turn first, so that the check and the append see the same state. Turns are taken in
    chain order, the global chain first, so two writers never wait for each other in a circle;
    each once per transaction (outside savepoints: a savepoint rolled back on PostgreSQL gives back
    the row lock it took)."""
    session.connection()  # begins the transaction if none has begun: the turns are this one's
    root = session.get_transaction()
    held = session.info.get("ledger_turns")
    if held is None or held[0] is not root:
        held = session.info["ledger_turns"] = (root, set())
    if "all" in held[1]:
        return
    wanted = [chain for chain in sorted(set(chains or (GLOBAL_CHAIN,))) if chain not in held[1]]
    if not wanted:
        return
    dialect = session.get_bind().dialect.name
    if dialect in _UPSERTS:
        # One statement for all of them (a live writer's batch holds dozens of streams): the rows
        # are inserted or bumped, and so locked, in the order given; a chain's first writer makes its row.
        table = LedgerLock.__table__
        session.execute(_UPSERTS[dialect](table).values([{"id": chain, "appended": 1} for chain in wanted])
                        .on_conflict_do_update(index_elements=[table.c.id], set_={"appended": table.c.appended + 1}))
    else:
        for chain in wanted:
            _bump(session, chain)
    if not session.in_nested_transaction():
        held[1].update(wanted)


_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _bump(session: Session, chain: int) -> None:
    done = session.exec(update(LedgerLock).where(LedgerLock.id == chain).values(appended=LedgerLock.appended + 1)).rowcount
    if not done:
        try:
            with session.begin_nested():
                session.add(LedgerLock(id=chain, appended=1))
        except IntegrityError:  # another writer created it first: queue behind it
            session.exec(update(LedgerLock).where(LedgerLock.id == chain).values(appended=LedgerLock.appended + 1))


def take_every_turn(session: Session) -> None:
    """Wait until no one is appending to any chain and keep everyone out until this transaction
    ends: for what must see the whole log still (an anchor, a rebuild)."""
    if session.get_bind().dialect.name == "postgresql":
        # Conflicts with the row updates and inserts that take a chain's turn, not with reads.
        session.exec(text("LOCK TABLE ledger_lock IN SHARE ROW EXCLUSIVE MODE"))
        if not session.in_nested_transaction():
            session.info["ledger_turns"] = (session.get_transaction(), {"all"})
    else:  # one writer at a time: any turn holds the database's write lock
        take_turn(session)


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
    chain: int
    created_at: datetime
    actor: str
    action: str
    subject: str
    stream_id: int | None
    payload: str  # the JSON as stored and hashed
    prev_hash: str
    hash: str


def head(session: Session, chain: int = GLOBAL_CHAIN) -> tuple[int, str]:
    """A chain's last event's id and hash (0 and the genesis hash for an empty chain)."""
    return heads(session, [chain])[chain]


def heads(session: Session, chains: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Several chains' heads in one statement: each chain's last row, read backwards on its index."""
    chains = sorted(set(chains))
    if not chains:
        return {}
    lasts = [select(ModerationEvent.chain, ModerationEvent.id, ModerationEvent.hash).where(ModerationEvent.chain == chain)
             .order_by(ModerationEvent.id.desc()).limit(1).subquery() for chain in chains]
    parts = [select(last.c.chain, last.c.id, last.c.hash) for last in lasts]
    found = {row.chain: (row.id, row.hash) for row in session.exec(parts[0] if len(parts) == 1 else union_all(*parts))}
    return {chain: found.get(chain, (0, GENESIS_HASH)) for chain in chains}


def newest_id(session: Session) -> int:
    """The highest event id in the log, over every chain (0 for an empty log)."""
    return session.exec(select(func.max(ModerationEvent.id))).one() or 0


def new_ids(session: Session, count: int) -> list[int]:
    """Ids for `count` events, increasing. The caller holds the turns of the chains they go on."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.exec(text("SELECT nextval(pg_get_serial_sequence('moderation_event', 'id')) "
                                      "FROM generate_series(1, :n)").bindparams(n=count)).scalars())
    last = newest_id(session)
    return list(range(last + 1, last + 1 + count))


def append_rows(session: Session, rows: Sequence[NewRow], *, ids: Sequence[int],
                heads: dict[int, tuple[int, str]]) -> list[ChainedRow]:
    """Link rows onto their chains in order, in one statement; the caller holds the turns of their
    chains and read their `heads` in it (which are moved on), and got their `ids` from `new_ids`."""
    created_at = utcnow()
    chained = []
    for row_id, new in zip(ids, rows, strict=True):
        chain = chain_of(new.stream_id)
        prev_hash = heads[chain][1]
        body = json.dumps(new.payload, ensure_ascii=False, sort_keys=True)
        digest = event_hash(prev_hash, row_id, created_at, new.actor, new.action, new.subject, new.stream_id, body)
        chained.append(ChainedRow(id=row_id, chain=chain, created_at=created_at, actor=new.actor, action=new.action,
                                  subject=new.subject, stream_id=new.stream_id, payload=body, prev_hash=prev_hash,
                                  hash=digest))
        heads[chain] = (row_id, digest)
    if chained:  # a plain INSERT: every column is given, and no ORM copy is wanted
        session.connection().execute(insert(ModerationEvent.__table__), [vars(row) for row in chained])
    return chained
