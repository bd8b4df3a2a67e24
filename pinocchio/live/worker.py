"""The live worker: follow feeds, run each through the one pipeline as audio arrives, store and
report what it finds. One whisper model serves every feed of the process; the feeds' utterances
are decoded together in packs (listen/packing.py), first come first served, so a busy room cannot
starve a quiet one. At start it measures how many feeds it should hold (live/capacity.py). Feeds
can be added and dropped while it runs (a fleet worker's are). Its events (reminders, gaps, clips,
and each stored verdict) go to the ledger it is handed.

Restarts: a feed keeps one clock across worker restarts (Stream.live_epoch), and for a while after
every (re)join a segment that repeats one already stored near the same time is not stored again
(`ReplayGuard`): an HLS playlist or a relay's buffer replays what the last worker had heard."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import PinocchioError
from pinocchio.core.events import Evidence, FeedGap, FeedLag, Remind
from pinocchio.core.ledger import Ledger
from pinocchio.core.records import AudioChunk, FeedReport, Verdict
from pinocchio.core.reminder_texts import load_templates
from pinocchio.facts.catalog import live_checker
from pinocchio.listen.audio import REWIND_S, Outage, ReconnectPolicy, live_chunks
from pinocchio.listen.evidence import EvidenceStore
from pinocchio.listen.pipeline import PIPELINE_VERSION, Pipeline
from pinocchio.listen.streaming import StreamOptions
from pinocchio.live.capacity import CapacityEstimate, estimate_capacity
from pinocchio.live.feeds import Feed
from pinocchio.live.lag import LagChange, LagOptions, LagWatch
from pinocchio.live.metrics import WorkerMetrics
from pinocchio.live.reminders import Reminders
from pinocchio.live.replay import ReplayGuard
from pinocchio.live.writer import VerdictWriter
from pinocchio.store import scans
from pinocchio.store.reminded import labels_reminded
from pinocchio.store.tables import Scan, Stream

log = logging.getLogger(__name__)

# The furthest back a feed taken over from a dead worker is joined, however far behind it was (its
# playlist may hold less: nginx-rtmp's default is 30 s).
MAX_REWIND_S = 60.0

ChunkSource = Callable[..., Iterator[AudioChunk]]


@dataclass
class _Followed:
    """A feed's thread and what it has done so far (its thread writes them, `progress()` reads)."""

    feed: Feed
    stop: threading.Event
    thread: threading.Thread | None = None
    lag_s: float | None = None
    read_to_s: float | None = None  # stream time of the end of the audio read
    live: object | None = None  # its streaming transcriber, once it runs
    segments: int = 0
    error: str | None = None

    def unsettled_s(self) -> float:
        """Seconds of what the feed read that have not come out as utterances yet."""
        since = getattr(self.live, "unsettled_from_s", None)
        return 0.0 if since is None or self.read_to_s is None else round(max(0.0, self.read_to_s - since), 2)


class LiveWorker:
    def __init__(self, pipeline: Pipeline, engine: Engine, feeds: Iterable[Feed], ledger: Ledger,
                 on_verdict: Callable[[Feed, Verdict], None] | None = None,
                 on_reminder: Callable[[Remind], None] | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy(),
                 evidence: EvidenceStore | None = None,
                 metrics: WorkerMetrics | None = None,
                 chunk_source: ChunkSource = live_chunks,
                 stream_options: StreamOptions = StreamOptions(),
                 lag_options: LagOptions = LagOptions(),
                 measure_capacity: bool = True):
        self.pipeline = pipeline
        self.engine = engine
        self.feeds = tuple(feeds)
        self.ledger = ledger
        self.on_verdict = on_verdict
        self.on_reminder = on_reminder
        settings = pipeline.settings
        self.reminders = Reminders(load_templates(settings.prompts_dir / "reminders"), settings.remind_window_s)
        self.policy = policy
        self.evidence = evidence
        self.metrics = metrics or WorkerMetrics()
        self.chunk_source = chunk_source
        self.stream_options = stream_options
        self.lag_options = lag_options
        self.measure_capacity = measure_capacity
        self.capacity: CapacityEstimate | None = None
        self.stop = threading.Event()
        self.errors: dict[str, str] = {}
        self._print_lock = threading.Lock()
        self._followed: dict[str, _Followed] = {}
        self._followed_lock = threading.Lock()
        self.writer = VerdictWriter(engine, ledger)

    def run(self, duration_s: float | None = None) -> None:
        """Follow every feed until `duration_s` passes, stop is set, or every feed has ended.
        On stop each feed flushes: the utterance in progress is committed, clips are cut."""
        self.prepare()
        for feed in self.feeds:
            self.follow(feed)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while any(f.thread.is_alive() for f in self._followed.values()) and not self.stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.stop.wait(0.2)
        self.drain()

    def prepare(self) -> None:
        """Before the first feed: the model's metrics, and how many feeds this process should hold."""
        self.metrics.watch_transcriber(self.pipeline.transcriber)
        if self.measure_capacity:
            self._expect_capacity()

    def follow(self, feed: Feed, resume: bool = False, behind_s: float = 0.0) -> None:
        """Start following a feed (the fleet adds feeds while the worker runs); one already
        followed is left as it is. `resume`: the feed was followed by a worker that died; an HLS
        feed is then joined about REWIND_S back in its playlist (listen/audio.py), and `behind_s`
        more (how far behind live the dead worker was, with what it had read and not decoded), on
        the stream's clock, and the replay guard drops what had been stored."""
        with self._followed_lock:
            if feed.name in self._followed and self._followed[feed.name].thread.is_alive():
                return
            self.errors.pop(feed.name, None)
            followed = _Followed(feed, threading.Event())
            followed.thread = threading.Thread(target=self._follow, args=(followed, resume, behind_s), name=f"feed-{feed.name}",
                                               daemon=True)
            self._followed[feed.name] = followed
        followed.thread.start()

    def unfollow(self, name: str, wait: bool = True) -> None:
        """Stop following a feed; its utterance in progress is committed and stored first. Without
        `wait` this returns at once and the feed is let go when it is done (a fleet worker's
        controller asks again each second until its report says so); asking again is harmless."""
        followed = self._followed.get(name)
        if not followed or followed.stop.is_set():
            return
        followed.stop.set()

        def let_go() -> None:
            followed.thread.join(timeout=self.policy.read_timeout_s + 60)
            with self._followed_lock:
                if self._followed.get(name) is followed and not followed.thread.is_alive():
                    del self._followed[name]

        if wait:
            let_go()
        else:
            threading.Thread(target=let_go, name=f"unfollow-{name}", daemon=True).start()

    def drain(self) -> None:
        """Stop every feed, each flushing what it had heard."""
        self.stop.set()
        for followed in list(self._followed.values()):
            followed.stop.set()
        for followed in list(self._followed.values()):
            followed.thread.join(timeout=self.policy.read_timeout_s + 60)
        self.writer.close()

    def progress(self) -> dict[str, FeedReport]:
        """Each feed followed (or that ended) and how it is doing."""
        with self._followed_lock:
            return {name: FeedReport(lag_s=None if f.lag_s is None else round(f.lag_s, 2), segments=f.segments,
                                     unsettled_s=f.unsettled_s(),
                                     following=f.thread.is_alive(), error=f.error)
                    for name, f in self._followed.items()}

    def _expect_capacity(self) -> None:
        """Say, before joining the feeds, how many this process should hold (live/capacity.py)."""
        self.capacity = estimate_capacity(self.pipeline.transcriber, self.stream_options)
        if self.capacity is None:
            return
        self.metrics.expected_feeds.set(self.capacity.feeds)
        if not self.feeds:  # the fleet: feeds come later, placed by this figure
            log.info("%s", self.capacity.describe())
        elif len(self.feeds) > self.capacity.feeds:
            log.warning("following %d feeds, %s; feeds will fall behind live", len(self.feeds),
                        self.capacity.describe())
        else:
            log.info("following %d feed(s), %s", len(self.feeds), self.capacity.describe())

    def _follow(self, followed: _Followed, resume: bool, behind_s: float) -> None:
        feed = followed.feed
        try:
            with Session(self.engine) as session:
                self._follow_in(session, followed, resume, behind_s)
        except Exception as exc:  # one feed's failure must not take the others down
            self.errors[feed.name] = f"{feed.name}: {exc}"
            log.exception("%s: worker failed", feed.name)
        followed.error = self.errors.get(feed.name)

    def _follow_in(self, session: Session, followed: _Followed, resume: bool, behind_s: float) -> None:
        feed, m = followed.feed, self.metrics
        stream = scans.live_stream_for(session, source=feed.url)
        stream.name, stream.streamer_id, stream.room = feed.name, feed.streamer_id, feed.room
        session.add(stream)
        scan = scans.start_scan(session, stream=stream, pipeline_version=PIPELINE_VERSION,
                                provenance=self.pipeline.provenance(self.stream_options))
        session.commit()
        scan_of = scans.ScanOf(id=scan.id, stream_id=stream.id)
        guard = ReplayGuard()
        clock = {"offset_s": None, "wall_base": 0.0, "behind_s": 0.0}  # behind_s: a resumed feed's rewind
        lag_watch = LagWatch(self.lag_options)
        m.unsettled.labels(feed.name).set_function(followed.unsettled_s)  # read when scraped, not per chunk

        def on_gap(gap: Outage) -> None:
            offset = clock["offset_s"] or 0.0
            log.warning("%s: no audio from %.1f s to %.1f s (%s)", feed.name, gap.start_s + offset,
                        gap.end_s + offset, gap.reason)
            m.reconnects.labels(feed.name).inc()
            if gap.reason != "ended":
                m.decode_errors.labels(feed.name).inc()
            self.ledger.record(session, FeedGap(start_s=round(gap.start_s + offset, 3),
                                                end_s=round(gap.end_s + offset, 3), reason=gap.reason, scan_id=scan.id),
                               subject_id=stream.id, stream_id=stream.id)
            session.commit()
            guard.joined(gap.end_s + offset)

        def on_stream_clock(chunks: Iterator[AudioChunk]) -> Iterator[AudioChunk]:
            """Put the feed's chunks on the stream's own clock, and keep the lag gauge."""
            for chunk in chunks:
                if clock["offset_s"] is None:
                    clock["offset_s"] = self._clock_offset(session, stream, chunk, clock["behind_s"])
                    clock["wall_base"] = time.monotonic() - chunk.end_s - clock["behind_s"]
                    guard.joined(chunk.start_s + clock["offset_s"] + clock["behind_s"])
                now = time.monotonic()
                lag = max(0.0, now - clock["wall_base"] - chunk.end_s)
                m.lag.labels(feed.name).set(lag)
                followed.lag_s = lag
                followed.read_to_s = chunk.end_s + clock["offset_s"]
                reading = lag_watch.observe(now, lag)
                if reading is not None:
                    self._lag_changed(session, feed, stream, scan, chunk.end_s + clock["offset_s"], reading)
                yield AudioChunk(start_s=chunk.start_s + clock["offset_s"], samples=chunk.samples)

        rewind = {}
        if resume:
            wanted_s = self._resume_back_s(behind_s)

            def rewound(back_s: float) -> None:
                log.info("%s: taken over from a worker that left: joined %.1f s back (%.1f s wanted)", feed.name,
                         back_s, wanted_s)
                clock.update(behind_s=back_s)

            rewind = {"rewind": rewound, "rewind_s": wanted_s}
        chunks = on_stream_clock(self.chunk_source(feed.url, policy=self.policy, on_gap=on_gap, stop=followed.stop, **rewind))
        recorder = self.pipeline.evidence_recorder(self.evidence, live=True) if self.evidence else None
        if recorder:
            chunks = recorder.tap(chunks)
        facts = live_checker(self.engine, stream.id, feed.name)  # the feed's shop facts, when it has a shop
        try:
            followed.live = self.pipeline.transcriber.streaming(self.stream_options)
            for verdict in self.pipeline.live_verdicts(chunks, self.stream_options, facts, live=followed.live):
                if guard.is_replay(session, stream.id, verdict):
                    m.duplicates.labels(feed.name).inc()
                    log.info("%s: %.1f s was stored before the rejoin; not again: %s", feed.name,
                             verdict.segment.start_s, verdict.segment.text)
                    continue
                self._store(feed, scan_of, verdict, recorder)
                followed.segments += 1
            status, error = "done", None
        except PinocchioError as exc:
            status, error = "failed", str(exc)
            self.errors[feed.name] = error
            log.error("%s", exc)
        if recorder:
            recorder.finish()
        scans.finish_scan(session, scan=scan, status=status, error=error)
        session.commit()

    def _lag_changed(self, session: Session, feed: Feed, stream: Stream, scan: Scan, at_s: float, reading) -> None:
        """A feed fell behind live or caught up: a WARNING (or INFO), the metric, and an event."""
        behind = reading.change is LagChange.BEHIND
        if behind:
            log.warning("%s: falling behind live: %.1f s behind at %.1f s, %.1f s more than %g s ago; this "
                        "process may be following more feeds than it can decode", feed.name, reading.lag_s, at_s,
                        reading.growth_s, self.lag_options.window_s)
            self.metrics.fell_behind.labels(feed.name).inc()
        else:
            log.info("%s: caught up with live (%.1f s behind at %.1f s)", feed.name, reading.lag_s, at_s)
        self.metrics.falling_behind.labels(feed.name).set(1 if behind else 0)
        self.ledger.record(session, FeedLag(at_s=round(at_s, 3), lag_s=round(reading.lag_s, 3),
                                            growth_s=round(reading.growth_s, 3), behind=behind, scan_id=scan.id),
                           subject_id=stream.id, stream_id=stream.id)
        session.commit()

    def _resume_back_s(self, behind_s: float) -> float:
        """How far back in its playlist a feed taken over from a dead worker is joined: REWIND_S
        (the seconds from the dead worker's last report to this join) and `behind_s`, how far
        behind live the dead worker was, what it had read and not yet decoded included."""
        return min(REWIND_S + behind_s, MAX_REWIND_S)

    def _clock_offset(self, session: Session, stream: Stream, first: AudioChunk, behind_s: float = 0.0) -> float:
        """Seconds to add to this connection's times to put them on the stream's clock; its first
        chunk was live `behind_s` ago (a resumed feed replaying its playlist)."""
        now = utcnow()
        if stream.live_epoch is None:
            stream.live_epoch = now - timedelta(seconds=first.start_s + behind_s)
            session.add(stream)
            session.commit()
            return 0.0
        return max(0.0, (now - aware(stream.live_epoch)).total_seconds() - first.start_s - behind_s)

    def _store(self, feed: Feed, scan: scans.ScanOf, verdict: Verdict, recorder) -> None:
        """Hand the verdict and its reminders to the process's writer (live/writer.py) and wait for
        them to be committed: every segment is stored before it is reported."""
        m = self.metrics
        reminded: set[str] = set()
        if verdict.flagged:  # what viewers' reports reminded the streamer of lately is not said again
            with Session(self.engine) as session:
                reminded = labels_reminded(session, scan.stream_id, utcnow() - timedelta(seconds=self.reminders.window_s))
        reminders = self.reminders.for_verdict(feed.name, verdict, reminded)
        segment_id = self.writer.store(scan, verdict, reminders).result()
        if recorder and verdict.flagged:
            # The clip is cut a moment later, in this feed's thread: its event goes the same way.
            recorder.request(verdict.segment.start_s, verdict.segment.end_s, lambda clip: self.writer.record(
                Evidence(clip=clip), subject_id=segment_id, stream_id=scan.stream_id).result())
        m.segments.labels(feed.name).inc()
        for label in verdict.labels:
            m.findings.labels(feed.name, label).inc()
        m.reminders.labels(feed.name).inc(len(reminders))
        with self._print_lock:
            if self.on_verdict:
                self.on_verdict(feed, verdict)
            for reminder in reminders:
                if self.on_reminder:
                    self.on_reminder(reminder)
