"""The fleet's controller: every second it reads the feeds wanted (the store), asks each worker
what it follows, and puts right what differs. A feed with no worker goes to the one with the most
room (placement.py); a worker that stops answering for `dead_after_s`, restarts (a new
incarnation follows nothing) or whose node leaves loses its feeds to the others, which join them
on the stream's own clock behind the replay guard (live/worker.py), so nothing committed is lost
and nothing is stored twice. A restarted controller adopts the feeds where they run. What it saw
goes to the store for `fleet status`.

`Controller` knows workers only through `Links` (Ray actor handles in `RayLinks`), so its rules
are tested without a cluster."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio.core.clock import utcnow
from pinocchio.core.records import Feed
from pinocchio.fleet.placement import over_capacity, place
from pinocchio.fleet.records import WorkerStatus
from pinocchio.store import fleet as fleet_store
from pinocchio.store.fleet import FeedSeen, FleetMember

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerOptions:
    poll_s: float = 1.0  # how often the controller looks
    # How long one look waits for the workers' answers; a later answer is taken at the next look,
    # so one silent worker does not slow the looks down.
    answer_s: float = 0.5
    # A worker that has not answered for this long is taken for dead and its feeds move: well
    # under the 10 s a feed may be unfollowed, well over a busy worker's answer (milliseconds).
    dead_after_s: float = 3.0
    retry_after_s: float = 10.0  # a feed that ended (the room went offline) is joined again after this
    # A feed never placed waits this long at most for workers still starting (loading whisper,
    # measuring their capacity), so that the first worker up does not take every feed; a feed
    # that lost its worker moves at once.
    start_grace_s: float = 90.0
    # A worker over its capacity while another has room (it came back, or its node joined) gives
    # one feed away per this many seconds, to a worker that has answered for `settled_s` (one
    # that crash-loops gets nothing). The feed is dropped first and followed again, from as far
    # back as its source keeps, once its old worker has stored what it heard.
    relieve_every_s: float = 10.0
    settled_s: float = 10.0


class Links(Protocol):
    """How the controller reaches its workers."""

    def workers(self) -> dict[str, tuple[str, str]]:  # name -> (node id, address)
        ...

    def statuses(self, wait_s: float) -> dict[str, WorkerStatus | None]:
        """Those that answered in time; None for one whose process is known to have died."""
        ...

    def follow(self, worker: str, feed: Feed, resume: bool = False, behind_s: float = 0.0) -> None:
        """`resume`: the feed lost its worker, which was `behind_s` behind live on it."""
        ...

    def drop(self, worker: str, feed: str) -> None:
        ...

    def drain(self, wait_s: float) -> None:
        ...


class Controller:
    def __init__(self, engine: Engine, links: Links, options: ControllerOptions = ControllerOptions(),
                 node: str = "", address: str = "", clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.links = links
        self.options = options
        self.clock = clock
        self.placed: dict[str, str] = {}  # feed -> the worker told to follow it
        self._incarnation: dict[str, str] = {}
        self._answered_at: dict[str, float] = {}
        self._first_seen: dict[str, float] = {}
        self._ended_at: dict[str, float] = {}
        self._moved: set[str] = set()  # feeds moved since the last record
        self._last: dict[str, WorkerStatus] = {}
        self._gone: set[str] = set()
        self._just_lost: set[str] = set()  # workers that lost their feeds in this look
        self._over: dict[str, int] = {}  # workers over their capacity, as last said
        self._ever_placed: set[str] = set()
        self._orphans: set[str] = set()  # lost their worker, not placed again yet
        self._behind: dict[str, float] = {}  # a moving feed -> how far behind live its old worker was
        self._leaving: dict[str, str] = {}  # feed -> the worker over capacity it is moving away from
        self._alive_since: dict[str, float] = {}  # answering without a break since
        self._relieved_at = float("-inf")
        self._where = (node, address)
        self._started_at = utcnow()

    def step(self) -> None:
        now = self.clock()
        with Session(self.engine) as session:
            wanted = {feed.name: feed for feed in fleet_store.wanted(session)}
        self._just_lost.clear()
        known = self.links.workers()
        answers = self.links.statuses(self.options.answer_s)
        for worker in known:
            self._first_seen.setdefault(worker, now)
        alive = self._take_answers(answers, now)
        self._lose_the_silent(known, alive, now)
        self._settle_who_follows_what(alive, wanted)
        self._follow_up(alive, wanted, now)
        self._let_go(alive)
        self._relieve(alive, now)
        self._place_waiting(alive, wanted, starting=any(
            w not in self._last and now - self._first_seen[w] < self.options.start_grace_s for w in known))
        with Session(self.engine) as session:
            self._record(session, known, alive, wanted)
            session.commit()

    def _take_answers(self, answers: dict[str, WorkerStatus | None], now: float) -> dict[str, WorkerStatus]:
        alive = {}
        for worker, status in answers.items():
            if status is None:  # its process died: no need to wait for it to stay silent
                self._lose(worker, "its process died")
                continue
            before = self._incarnation.get(worker)
            if before is not None and before != status.incarnation:
                self._lose(worker, "restarted")
            self._incarnation[worker] = status.incarnation
            self._answered_at[worker] = now
            self._alive_since.setdefault(worker, now)
            self._last[worker] = status
            alive[worker] = status
        return alive

    def _lose_the_silent(self, known: dict, alive: dict[str, WorkerStatus], now: float) -> None:
        for worker in set(self.placed.values()) | set(self._answered_at):
            if worker not in known:
                if worker not in self._gone:
                    self._lose(worker, "its node left the cluster")
                    self._gone.add(worker)
            elif worker not in alive and now - self._answered_at.get(worker, now) >= self.options.dead_after_s:
                self._lose(worker, f"no answer for {now - self._answered_at[worker]:.1f} s")

    def _lose(self, worker: str, why: str) -> None:
        lost = sorted(name for name, w in self.placed.items() if w == worker)
        if lost:
            log.warning("worker %s: %s; moving its feeds: %s", worker, why, ", ".join(lost))
        self._just_lost.add(worker)
        self._alive_since.pop(worker, None)
        reports = self._last[worker].feeds if worker in self._last else {}
        for name in lost:
            del self.placed[name]
            self._ended_at.pop(name, None)
            # What it read and had not decoded is lost with it too.
            self._behind[name] = (reports[name].lag_s or 0.0) + reports[name].unsettled_s if name in reports else 0.0
            self._moved.add(name)
            self._orphans.add(name)
            self.links.drop(worker, name)  # should it come back, it must not follow them too

    def _settle_who_follows_what(self, alive: dict[str, WorkerStatus], wanted: dict[str, Feed]) -> None:
        """A feed a worker follows but should not (removed, or placed elsewhere) is dropped there;
        one the controller had not placed (it restarted) is adopted where it runs."""
        for worker, status in sorted(alive.items()):
            # A feed a worker reports, even one that ended there, was placed by a controller before
            # this one: it need not wait for workers still starting.
            self._ever_placed.update(name for name in status.feeds if name in wanted)
            for name in sorted(status.following):
                owner = self.placed.get(name)
                if name in self._leaving:
                    continue  # dropped there, still storing what it heard
                if name not in wanted or (owner is not None and owner != worker):
                    self.links.drop(worker, name)
                elif owner is None:
                    self.placed[name] = worker
                    self._ever_placed.add(name)

    def _follow_up(self, alive: dict[str, WorkerStatus], wanted: dict[str, Feed], now: float) -> None:
        for name, worker in sorted(self.placed.items()):
            if name not in wanted:
                log.info("feed %s removed; %s stops following it", name, worker)
                self.links.drop(worker, name)
                del self.placed[name]
                self._ended_at.pop(name, None)
                continue
            status = alive.get(worker)
            if status is None:
                continue
            report = status.feeds.get(name)
            if report is None:  # told, not started yet (or the call was lost): tell again, it is idempotent
                self.links.follow(worker, wanted[name])
            elif not report.following:  # the room went offline: join again after a while, anywhere
                ended = self._ended_at.setdefault(name, now)
                if now - ended >= self.options.retry_after_s:
                    del self.placed[name]
                    del self._ended_at[name]
            else:
                self._ended_at.pop(name, None)

    def _relieve(self, alive: dict[str, WorkerStatus], now: float) -> None:
        """One feed of the worker most over its capacity starts moving to a settled worker with
        room: the one least behind live, which the rewind covers best."""
        if now - self._relieved_at < self.options.relieve_every_s:
            return
        capacity = {w: s.capacity for w, s in alive.items() if s.capacity is not None}
        load = Counter(self.placed.values())
        over = over_capacity(capacity, load)
        room = [w for w in capacity if load[w] < capacity[w]
                and now - self._alive_since.get(w, now) >= self.options.settled_s]
        if not over or not room:
            return
        source = max(over, key=lambda w: (load[w] / max(capacity[w], 1), w))
        reports = alive[source].feeds
        held = [((reports[n].lag_s or 0.0), n) for n, w in self.placed.items()
                if w == source and n in reports and reports[n].following]
        if not held:
            return
        lag_s, name = min(held)
        self._behind[name] = lag_s
        log.info("worker %s holds %d feed(s), its capacity %d, while others have room: %s moves", source,
                 load[source], capacity[source], name)
        self.links.drop(source, name)
        del self.placed[name]
        self._leaving[name] = source
        self._moved.add(name)
        self._relieved_at = now

    def _let_go(self, alive: dict[str, WorkerStatus]) -> None:
        """A moving feed is placed again once its old worker has stored what it heard (or is gone)."""
        for name, source in list(self._leaving.items()):
            status = alive.get(source)
            if status is None and source not in self._just_lost:
                continue  # no answer this time: ask again at the next look
            report = status.feeds.get(name) if status else None
            if report is None or not report.following:
                del self._leaving[name]
                self._orphans.add(name)  # taken up from as far back as its source keeps

    def _place_waiting(self, alive: dict[str, WorkerStatus], wanted: dict[str, Feed], starting: bool) -> None:
        capacity = {w: s.capacity for w, s in alive.items() if s.capacity is not None}
        # A worker that just restarted may be crash-looping: its feeds go elsewhere if they can.
        capacity = {w: c for w, c in capacity.items() if w not in self._just_lost} or capacity
        load = Counter(w for w in self.placed.values())
        waiting = [name for name in sorted(wanted) if name not in self.placed and name not in self._leaving
                   and (name in self._ever_placed or not starting)]
        for name, worker in place(waiting, capacity, load).items():
            log.info("feed %s -> %s", name, worker)
            # A feed that lost its worker is taken up from as far back as its source keeps.
            self.links.follow(worker, wanted[name], resume=name in self._orphans, behind_s=self._behind.pop(name, 0.0))
            self._orphans.discard(name)
            self.placed[name] = worker
            self._ever_placed.add(name)
        over = over_capacity(capacity, Counter(self.placed.values()))
        for worker, more in over.items():
            if self._over.get(worker) != more:  # said when it changes, not every second
                log.warning("worker %s holds %d feed(s) more than its measured capacity (%d)", worker, more,
                            capacity[worker])
        self._over = over

    def _record(self, session: Session, known: dict, alive: dict[str, WorkerStatus],
                wanted: dict[str, Feed]) -> None:
        seen = []
        for name in wanted:
            worker = self.placed.get(name)
            report = alive[worker].feeds.get(name) if worker in alive else None
            state = "waiting" if report is None else "following" if report.following else "ended"
            seen.append(FeedSeen(name=name, worker=worker, state=state,
                                 lag_s=None if report is None else report.lag_s,
                                 segments=0 if report is None else report.segments,
                                 error=None if report is None else report.error, moved=name in self._moved))
        self._moved.clear()
        fleet_store.record_feeds(session, seen)
        fleet_store.record_member(session, self._me("alive"))
        held = Counter(self.placed.values())
        for worker in sorted(set(known) | set(self._last)):
            last = self._last.get(worker)
            node, address = known.get(worker, (last.node if last else "", last.address if last else ""))
            state = ("gone" if worker not in known else "alive" if worker in alive
                     else "unanswered" if last else "starting")
            fleet_store.record_member(session, FleetMember(
                name=worker, role="worker", node=node, address=address, pid=last.pid if last else None,
                capacity=last.capacity if last else None, feeds=held.get(worker, 0),
                metrics_url=last.metrics_url if last else None, state=state,
                started_at=last.started_at if last else None))

    def _me(self, state: str) -> FleetMember:
        return FleetMember(name="controller", role="controller", node=self._where[0], address=self._where[1],
                           pid=os.getpid(), feeds=len(self.placed), state=state, started_at=self._started_at)

    def drain(self, wait_s: float) -> None:
        """Every worker stops its feeds, each committing what it had heard; the store then says
        nobody follows them."""
        self.links.drain(wait_s)
        self.placed.clear()
        with Session(self.engine) as session:
            fleet_store.record_feeds(session, [FeedSeen(name=feed.name, worker=None, state="waiting")
                                               for feed in fleet_store.wanted(session)])
            fleet_store.record_member(session, self._me("gone"))
            session.commit()


class RayLinks:
    """Links over Ray actor handles (the driver hands them over as nodes come and go). A worker
    still working on the last question is not asked again, so a slow one does not pile up calls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._handles: dict[str, tuple[Any, str, str]] = {}
        self._pending: dict[str, Any] = {}

    def set(self, handles: dict[str, tuple[Any, str, str]]) -> None:
        with self._lock:
            self._handles = dict(handles)
            self._pending = {w: ref for w, ref in self._pending.items() if w in handles}

    def workers(self) -> dict[str, tuple[str, str]]:
        with self._lock:
            return {w: (node, address) for w, (_, node, address) in self._handles.items()}

    def _handle(self, worker: str):
        with self._lock:
            entry = self._handles.get(worker)
        return entry[0] if entry else None

    def statuses(self, wait_s: float) -> dict[str, WorkerStatus | None]:
        import ray

        with self._lock:
            for worker, (handle, _, _) in self._handles.items():
                if worker not in self._pending:
                    self._pending[worker] = handle.status.remote()
            pending = dict(self._pending)
        if not pending:
            return {}
        ready, _ = ray.wait(list(pending.values()), num_returns=len(pending), timeout=wait_s)
        ready_ids = {ref.hex() for ref in ready}
        answers = {}
        for worker, ref in pending.items():
            if ref.hex() not in ready_ids:
                continue
            with self._lock:
                self._pending.pop(worker, None)
            try:
                answers[worker] = ray.get(ref)
            except ray.exceptions.ActorDiedError:  # the process that was asked died (Ray may restart it)
                answers[worker] = None
            except ray.exceptions.RayError:  # unreachable for now: no answer this time
                pass
        return answers

    def follow(self, worker: str, feed: Feed, resume: bool = False, behind_s: float = 0.0) -> None:
        handle = self._handle(worker)
        if handle is not None:
            handle.follow.remote(feed, resume, behind_s)

    def drop(self, worker: str, feed: str) -> None:
        handle = self._handle(worker)
        if handle is not None:
            handle.drop.remote(feed)

    def drain(self, wait_s: float) -> None:
        import ray

        with self._lock:
            refs = [handle.drain.remote() for handle, _, _ in self._handles.values()]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=wait_s)


class ControllerActor:
    """The controller as a Ray actor: its loop in a thread, the driver's calls beside it."""

    def __init__(self, db_url: str, options: ControllerOptions = ControllerOptions()):
        import ray

        from pinocchio.fleet.worker import log_as_the_command_does
        from pinocchio.store import open_store

        log_as_the_command_does()
        self.links = RayLinks()
        node = ray.get_runtime_context().get_node_id()
        self.controller = Controller(open_store(db_url), self.links, options, node=node,
                                     address=ray.util.get_node_ip_address())
        self.options = options
        self._stop = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._loop, name="fleet-controller", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.controller.step()
            except Exception:  # a store that did not answer this second: the next look will tell
                log.exception("the controller's look failed")
            self._stop.wait(max(0.0, self.options.poll_s - (time.monotonic() - started)))
        self._stopped.set()

    def set_workers(self, handles: dict[str, tuple[Any, str, str]]) -> None:
        self.links.set(handles)

    def pid(self) -> int:
        return os.getpid()

    def drain(self, wait_s: float = 120.0) -> None:
        self._stop.set()
        self._stopped.wait(timeout=wait_s)
        self.controller.drain(wait_s)
