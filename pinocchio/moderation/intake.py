"""The report intake's writer for requests that arrive one at a time from many clients (the HTTP
API). Each request waits in a bounded queue; a thread takes every request waiting (up to
`max_group`) and has them written with `reports.take_reports` in one transaction, committed, and
only then answers each: an accepted report is a committed one. The group forms by itself while the
previous one is being written, so a quiet intake answers at once and a busy one writes more per
commit; many clients never meet in the database as writers contending for its lock.

The writing happens in a child process (`WriterProcess`), so that the server's HTTP work and the
writer's run on two cores instead of sharing one interpreter lock; only requests and receipts
cross between them. A writer that dies is started again for the next group (the group it held
hears an error: nothing it was writing had been committed, since a group commits as a whole). An
in-memory SQLite database cannot be shared with another process: it is written in the thread."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from sqlmodel import Session

from pinocchio.core.clock import utcnow
from pinocchio.core.errors import Unavailable
from pinocchio.moderation.report_targets import SegmentCache
from pinocchio.moderation.reports import ReportOptions, ReportReceipt, ReportRequest, take_reports
from pinocchio.moderation.viewer_reminders import ViewerRemindOptions, remind_from_reports
from pinocchio.store import open_store
from pinocchio.store.engine import UNAVAILABLE, unavailable

log = logging.getLogger(__name__)

Results = list  # of ReportReceipt | PinocchioError, one per request, in order


@dataclass(frozen=True)
class Written:
    """What a group came to: each request's answer, and the reminders viewers' reports raised."""

    results: Results
    reminders: list = field(default_factory=list)  # core.events.Remind, already in the log
BUSY = "the database is busy or unavailable: try again in a moment"  # what a client hears (the log has why)


class IntakeFull(Unavailable):
    """More requests wait than the intake holds: the client should try again shortly (503)."""


@dataclass(frozen=True)
class IntakeStats:
    groups: int  # transactions written
    requests: int  # requests answered
    largest_group: int


class Writer(Protocol):
    def write(self, requests: list[ReportRequest]) -> Written: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ViewerReminding:
    """Whether and how reports on a live stream remind its streamer (moderation/viewer_reminders.py)."""

    templates: dict
    options: ViewerRemindOptions = ViewerRemindOptions()


class GroupWriter:
    """Writes groups of requests to the store, committing each (what the writer process runs);
    with `reminding`, the reports of each group may remind a live stream's streamer, in the same
    transaction."""

    def __init__(self, db_url: str, options: ReportOptions = ReportOptions(), reminding: ViewerReminding | None = None):
        self._engine = open_store(db_url)
        self._options = options
        self._reminding = reminding
        self._segments = SegmentCache()

    def write(self, requests: list[ReportRequest]) -> Written:
        reminders = []
        try:
            with Session(self._engine) as session:
                results = take_reports(session, requests, self._options, self._segments)
                if self._reminding is not None:
                    taken = [r.report_id for r in results if isinstance(r, ReportReceipt) and r.status == "accepted"]
                    reminders = remind_from_reports(session, taken, self._reminding.templates, now=utcnow(),
                                                    options=self._reminding.options)
                session.commit()
        except UNAVAILABLE as exc:
            log.warning("a group of %d reports waits: %s", len(requests), unavailable(exc))
            raise Unavailable(BUSY) from None
        return Written(results, reminders)

    def close(self) -> None:
        self._engine.dispose()


class WriterProcess:
    """A `GroupWriter` in a child process, spoken to over a pipe; started when first needed, and
    again after it died."""

    def __init__(self, db_url: str, options: ReportOptions = ReportOptions(), reminding: ViewerReminding | None = None):
        self._db_url, self._options, self._reminding = db_url, options, reminding
        self._process = None
        self._pipe = None

    def write(self, requests: list[ReportRequest]) -> Written:
        if self._process is None or not self._process.is_alive():
            self._start()
        try:
            self._pipe.send(requests)
            kind, value = self._pipe.recv()
        except (EOFError, OSError):
            self._stop()
            raise Unavailable("the report writer stopped while writing; it starts again: try again") from None
        if kind == "unavailable":
            raise Unavailable(value)
        if kind == "failed":
            raise RuntimeError(f"the report writer failed: {value}")
        return value

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                self._pipe.send(None)
            except OSError:
                pass
            self._process.join(10)
        self._stop()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # the server has threads: never fork it
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._db_url, self._options, self._reminding),
                                        name="pinocchio-report-writer", daemon=True)
        self._process.start()
        child.close()

    def _stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        if self._pipe is not None:
            self._pipe.close()
        self._process = self._pipe = None


def _serve(pipe, db_url: str, options: ReportOptions, reminding: ViewerReminding | None) -> None:
    """The writer process: groups in, results out, until told to stop."""
    writer = GroupWriter(db_url, options, reminding)
    while True:
        try:
            requests = pipe.recv()
        except EOFError:
            break
        if requests is None:
            break
        try:
            pipe.send(("ok", writer.write(requests)))
        except Unavailable as exc:
            pipe.send(("unavailable", str(exc)))
        except Exception as exc:  # a bug: the parent logs it and answers 500
            log.exception("writing a group of %d reports failed", len(requests))
            pipe.send(("failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
    writer.close()


def writer_for(db_url: str, options: ReportOptions = ReportOptions(), reminding: ViewerReminding | None = None) -> Writer:
    """A writer process, unless the database lives in this process's memory."""
    in_memory = db_url.startswith("sqlite") and (db_url == "sqlite://" or ":memory:" in db_url or "mode=memory" in db_url)
    return GroupWriter(db_url, options, reminding) if in_memory else WriterProcess(db_url, options, reminding)


class ReportIntake:
    def __init__(self, db_url: str, options: ReportOptions = ReportOptions(), *, max_group: int = 500,
                 max_waiting: int = 20_000, writer: Writer | None = None, reminding: ViewerReminding | None = None,
                 on_reminders: Callable[[list], None] | None = None):
        """`on_reminders` hears the reminders each group raised, once committed (the server sends them)."""
        self._writer = writer or writer_for(db_url, options, reminding)
        self._on_reminders = on_reminders
        self.reminded = 0  # reminders viewers' reports raised
        self._max_group = max_group
        self._queue: queue.Queue[tuple[ReportRequest, Future] | None] = queue.Queue(maxsize=max_waiting)
        self._groups = self._requests = self._largest = 0
        self._thread = threading.Thread(target=self._run, name="report-intake", daemon=True)
        self._thread.start()

    def submit(self, request: ReportRequest) -> Future[ReportReceipt]:
        """Queue one request; the future holds its receipt, or the error that refused it."""
        answer: Future[ReportReceipt] = Future()
        try:
            self._queue.put_nowait((request, answer))
        except queue.Full:
            raise IntakeFull(f"the report intake has {self._queue.maxsize} requests waiting: try again shortly") from None
        return answer

    def stats(self) -> IntakeStats:
        return IntakeStats(groups=self._groups, requests=self._requests, largest_group=self._largest)

    def waiting(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        """Answer what is queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout)
        self._writer.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._write(group)
            if stop:
                return

    def _write(self, group: list[tuple[ReportRequest, Future]]) -> None:
        try:
            written = self._writer.write([request for request, _ in group])
            results = written.results
        except Exception as exc:  # a locked or lost database, or a bug: every request in the group hears it
            log.warning("a group of %d reports was not written: %s", len(group), str(exc).splitlines()[0])
            for _, answer in group:
                answer.set_exception(exc)
            return
        self._groups += 1
        self._requests += len(group)
        self._largest = max(self._largest, len(group))
        for (_, answer), result in zip(group, results):
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)
        self.reminded += len(written.reminders)
        if written.reminders and self._on_reminders:
            try:
                self._on_reminders(written.reminders)
            except Exception:  # a sender's fault must not stop the intake: the reminders are in the log
                log.exception("sending %d viewers' reminders failed", len(written.reminders))
