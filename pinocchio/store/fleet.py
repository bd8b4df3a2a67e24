"""The fleet's shared state in the store: the feeds it should follow (written by `pinocchio fleet
add|remove`, the HTTP API and `fleet run --streams`) and what its controller last saw of them and
of its workers (written only by the controller, read by `fleet status`). The store is the one
place every machine, the CLI and the web app reach, so none of them has to talk to Ray."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Field, Session, SQLModel, select

from pinocchio.core.clock import utcnow
from pinocchio.core.errors import Conflict
from pinocchio.core.records import Feed

FEED_STATES = ("waiting", "following", "ended")  # ended: the feed stopped (its error says why); retried
WORKER_STATES = ("starting", "alive", "unanswered", "gone")


class FleetFeed(SQLModel, table=True):
    """A feed the fleet should follow, and where and how it was last seen."""

    __tablename__ = "fleet_feed"

    name: str = Field(primary_key=True)
    url: str
    streamer_id: str | None = None
    room: str | None = None
    added_at: datetime = Field(default_factory=utcnow)
    # Written by the controller:
    worker: str | None = None  # the worker following it
    state: str = "waiting"  # one of FEED_STATES
    lag_s: float | None = None
    segments: int = 0  # stored by its present worker
    error: str | None = None
    moves: int = 0  # times it was moved to another worker (its worker died or left)
    seen_at: datetime | None = None


class FleetMember(SQLModel, table=True):
    """The controller and each worker, as the controller last saw them."""

    __tablename__ = "fleet_member"

    name: str = Field(primary_key=True)  # "controller", or "worker@<node>"
    role: str  # controller | worker
    node: str  # Ray's node id
    address: str  # the node's address
    pid: int | None = None
    capacity: int | None = None  # feeds it should hold, measured at its start
    feeds: int = 0
    metrics_url: str | None = None
    state: str = "starting"  # one of WORKER_STATES
    started_at: datetime | None = None
    seen_at: datetime = Field(default_factory=utcnow)


def wanted(session: Session) -> list[Feed]:
    return [Feed(f.name, f.url, f.streamer_id, f.room)
            for f in session.exec(select(FleetFeed).order_by(FleetFeed.name))]


def add_feeds(session: Session, feeds: Iterable[Feed], replace: bool = False) -> list[str]:
    """Add feeds to follow; the names added. A name already there with another URL is refused
    unless `replace` (a streams file given again at start is the operator's word)."""
    added = []
    for feed in feeds:
        there = session.get(FleetFeed, feed.name)
        if there is not None:
            if (there.url, there.streamer_id, there.room) == (feed.url, feed.streamer_id, feed.room):
                continue
            if not replace:
                raise Conflict(f"feed {feed.name!r} is already followed from {there.url}: remove it first")
            there.url, there.streamer_id, there.room = feed.url, feed.streamer_id, feed.room
            session.add(there)
        else:
            session.add(FleetFeed(name=feed.name, url=feed.url, streamer_id=feed.streamer_id, room=feed.room))
        added.append(feed.name)
    session.flush()
    return added


def remove_feed(session: Session, name: str) -> bool:
    return session.exec(delete(FleetFeed).where(FleetFeed.name == name)).rowcount > 0


@dataclass(frozen=True)
class FeedSeen:
    name: str
    worker: str | None
    state: str
    lag_s: float | None = None
    segments: int = 0
    error: str | None = None
    moved: bool = False


def record_feeds(session: Session, seen: Sequence[FeedSeen]) -> None:
    """The controller's view of the feeds; a feed removed meanwhile stays removed."""
    now = utcnow()
    for feed in seen:
        values = dict(worker=feed.worker, state=feed.state, lag_s=feed.lag_s, segments=feed.segments,
                      error=feed.error, seen_at=now)
        if feed.moved:
            values["moves"] = FleetFeed.moves + 1
        session.exec(update(FleetFeed).where(FleetFeed.name == feed.name).values(**values))


def record_member(session: Session, member: FleetMember) -> None:
    member.seen_at = utcnow()
    session.merge(member)


def members(session: Session) -> list[FleetMember]:
    return list(session.exec(select(FleetMember).order_by(FleetMember.role, FleetMember.name)))


def feeds(session: Session) -> list[FleetFeed]:
    return list(session.exec(select(FleetFeed).order_by(FleetFeed.name)))


def feed_json(feed: FleetFeed) -> dict:
    return {"name": feed.name, "url": feed.url, "streamer": feed.streamer_id, "room": feed.room,
            "state": feed.state, "worker": feed.worker, "lag_s": feed.lag_s, "segments": feed.segments,
            "moves": feed.moves, "error": feed.error, "seen_at": feed.seen_at.isoformat() if feed.seen_at else None}


def member_json(member: FleetMember) -> dict:
    return {"name": member.name, "role": member.role, "state": member.state, "node": member.node,
            "address": member.address, "pid": member.pid, "capacity": member.capacity, "feeds": member.feeds,
            "metrics_url": member.metrics_url, "seen_at": member.seen_at.isoformat(),
            "started_at": member.started_at.isoformat() if member.started_at else None}
