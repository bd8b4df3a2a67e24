"""The one writer of a live process's segments: every feed hands its committed verdict over and
waits for it to be stored (it is stored before it is reported); whatever the feeds handed over
meanwhile goes in the same transaction. A process following many feeds then pays one commit, one
turn per chain and a few statements for a batch instead of each per segment (benchmarks/ledger.py
measures it), and a feed alone still stores each verdict at once."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio.core.ledger import Ledger
from pinocchio.core.records import Verdict
from pinocchio.listen.pipeline import store_verdicts
from pinocchio.store.scans import ScanOf

log = logging.getLogger(__name__)


@dataclass
class _Store:
    scan: ScanOf
    verdict: Verdict
    reminders: Sequence[Any]  # `core.events.Remind`s about it
    done: Future = field(default_factory=Future)  # its segment's id


@dataclass
class _Record:
    payload: Any  # a `core.events` payload about a stored segment (its evidence clip)
    subject_id: int
    stream_id: int
    done: Future = field(default_factory=Future)


ACTIVE_S = 1.0  # a feed that handed a verdict over this recently is expected back in the next batch


class VerdictWriter:
    """Stores what the feeds hand over, in batches of up to `max_batch`, in a thread of its own.
    A batch that fails (a constraint, a database gone) is written again item by item, so one bad
    verdict fails only its own feed's future."""

    def __init__(self, engine: Engine, ledger: Ledger, max_batch: int = 64, gather_s: float = 0.02,
                 max_gather_s: float = 0.25):
        self.engine = engine
        self.ledger = ledger
        self.max_batch = max_batch
        # Once a verdict comes, how long the writer waits for others: a live segment has waited
        # seconds for whisper, and 20 ms lets the feeds storing at about the same moment share
        # one commit (PostgreSQL's commit_delay, for the same reason).
        self.gather_s = gather_s
        # Under load the feeds that stored a moment ago come back with their next verdicts at
        # about once, but on a busy machine not all within gather_s (32 writer processes on 2
        # cores: batches fell from 30 to 7 and the store to 800 segments/s). So the writer also
        # waits, up to twice as long as its last write took (never over max_gather_s), until it holds
        # one item from each feed that handed one over in the last ACTIVE_S: group commit sized
        # by the load itself. A live feed stores a segment every few seconds and a write takes
        # milliseconds, so there the wait stays about gather_s.
        self.max_gather_s = max_gather_s
        self._active: dict[int, float] = {}  # stream id -> when it last handed something over
        self._last_write_s = 0.0
        self._queue: deque[_Store | _Record] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0  # transactions written, and the verdicts they held: verdicts / batches is the gain
        self.verdicts = 0

    def store(self, scan: ScanOf, verdict: Verdict, reminders: Sequence[Any] = ()) -> Future:
        """Queue a verdict and the reminders about it; the future holds its segment's id once committed."""
        return self._put(_Store(scan, verdict, tuple(reminders)))

    def record(self, payload: Any, *, subject_id: int, stream_id: int) -> Future:
        """Queue an event about a stored segment (recorded after the verdicts of its batch)."""
        return self._put(_Record(payload, subject_id, stream_id))

    def _put(self, item: _Store | _Record) -> Future:
        with self._changed:
            if self._closed:
                raise RuntimeError("the verdict writer is closed")
            self._queue.append(item)
            self._active[item.scan.stream_id if isinstance(item, _Store) else item.stream_id] = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="verdict-writer", daemon=True)
                self._thread.start()
            self._changed.notify()
        return item.done

    def close(self, timeout_s: float = 60.0) -> None:
        """Write what is queued, then stop."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return
                self._changed.wait_for(lambda: len(self._queue) >= self.max_batch or self._closed,
                                       timeout=self.gather_s)
                expected = min(self.max_batch, self._active_feeds())
                longer = min(self.max_gather_s, 2 * self._last_write_s) - self.gather_s
                if len(self._queue) < expected and longer > 0:
                    self._changed.wait_for(lambda: len(self._queue) >= expected or self._closed, timeout=longer)
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            started = time.perf_counter()
            try:
                results = self._write(batch)
            except Exception as exc:  # which one: each alone, so the others are stored
                log.warning("a batch of %d verdicts could not be stored together (%s); storing each alone",
                            len(batch), str(exc).splitlines()[0][:200])
                for item in batch:
                    try:
                        item.done.set_result(self._write([item])[0])
                    except Exception as exc:
                        item.done.set_exception(exc)
                continue
            self._last_write_s = time.perf_counter() - started
            for item, result in zip(batch, results):
                item.done.set_result(result)

    def _active_feeds(self) -> int:
        """Feeds that handed something over in the last ACTIVE_S (called under the lock)."""
        since = time.monotonic() - ACTIVE_S
        for stream_id in [k for k, at in self._active.items() if at < since]:
            del self._active[stream_id]
        return len(self._active)

    def _write(self, batch: Sequence[_Store | _Record]) -> list[int | None]:
        stores = [item for item in batch if isinstance(item, _Store)]
        with Session(self.engine) as session:
            ids = store_verdicts(session, [(item.scan, item.verdict) for item in stores], self.ledger)
            for item, segment_id in zip(stores, ids):
                for reminder in item.reminders:
                    self.ledger.record(session, reminder, subject_id=segment_id, stream_id=item.scan.stream_id)
            for item in batch:
                if isinstance(item, _Record):
                    self.ledger.record(session, item.payload, subject_id=item.subject_id, stream_id=item.stream_id)
            session.commit()
        self.batches += 1
        self.verdicts += len(stores)
        segment_ids = iter(ids)
        return [next(segment_ids) if isinstance(item, _Store) else None for item in batch]
