"""The live worker: follow feeds, run each through the one pipeline as audio arrives, store and
report what it finds. One whisper model serves every feed of the process; feeds take turns on it
(FairTurns), so a busy room cannot starve a quiet one.

Restarts: a feed keeps one clock across worker restarts (Stream.live_epoch), and for a while after
every (re)join a segment that repeats one already stored near the same time is not stored again:
an HLS playlist or a relay's buffer replays what the last worker had already heard."""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pinocchio import store
from pinocchio.asr import StreamOptions
from pinocchio.audio import FeedGap, ReconnectPolicy, live_chunks
from pinocchio.errors import PinocchioError
from pinocchio.evidence import EvidenceStore
from pinocchio.feeds import Feed
from pinocchio.metrics import WorkerMetrics
from pinocchio.pipeline import PIPELINE_VERSION, Pipeline, store_verdict
from pinocchio.records import AudioChunk, Verdict
from pinocchio.reminders import Reminder, Reminders, load_templates
from pinocchio.pinyin import BREAK, syllables
from pinocchio.segment import normalize_text

log = logging.getLogger(__name__)

REPLAY_WINDOW_S = 60.0  # after a (re)join, how long (stream seconds) replayed speech is looked for
# Whisper hears replayed audio differently once its context is cut (泼了这个茶能治糖尿病 ->
# 割了这个参能至糖尿便), but mostly as the same sounds: 7 of 10 syllables here.
SAME_SOUND_RATIO = 0.6  # share of a segment's syllables found, in runs of 2+, in what was heard before

ChunkSource = Callable[..., Iterator[AudioChunk]]


class ReplayGuard:
    """Recognises segments a feed has already stored: same stream, about the same time, about the
    same words. Only consulted shortly after a (re)join, so a streamer repeating a line later is
    stored each time."""

    def __init__(self, window_s: float = REPLAY_WINDOW_S):
        self.window_s = window_s
        self.joined_at_s: float | None = None

    def joined(self, at_s: float) -> None:
        self.joined_at_s = at_s

    def is_replay(self, session: Session, stream_id: int, verdict: Verdict) -> bool:
        seg = verdict.segment
        if self.joined_at_s is None or seg.start_s > self.joined_at_s + self.window_s:
            return False
        # Audio heard before the join is stamped before it; a replay of it is stamped after.
        sounds = _sounds(seg.text)
        earlier = session.exec(select(store.SegmentRow.text).where(
            store.SegmentRow.stream_id == stream_id,
            store.SegmentRow.start_ms >= round((seg.start_s - self.window_s) * 1000),
            store.SegmentRow.start_ms < round(self.joined_at_s * 1000)).order_by(store.SegmentRow.start_ms)).all()
        heard = [s for text in earlier for s in _sounds(text)]
        if not sounds or not heard:
            return False
        # The replay may be cut into sentences differently, so look for this segment's sounds
        # anywhere in what was heard before, in runs of two syllables or more.
        blocks = difflib.SequenceMatcher(None, sounds, heard, autojunk=False).get_matching_blocks()
        return sum(b.size for b in blocks if b.size >= 2) / len(sounds) >= SAME_SOUND_RATIO


def _sounds(text: str) -> list[str]:
    return [s for s in syllables(normalize_text(text)).syllables if s != BREAK]


class LiveWorker:
    def __init__(self, pipeline: Pipeline, engine: Engine, feeds: Iterable[Feed],
                 on_verdict: Callable[[Feed, Verdict], None] | None = None,
                 on_reminder: Callable[[Reminder], None] | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy(),
                 evidence: EvidenceStore | None = None,
                 metrics: WorkerMetrics | None = None,
                 chunk_source: ChunkSource = live_chunks,
                 stream_options: StreamOptions = StreamOptions()):
        self.pipeline = pipeline
        self.engine = engine
        self.feeds = tuple(feeds)
        self.on_verdict = on_verdict
        self.on_reminder = on_reminder
        settings = pipeline.settings
        self.reminders = Reminders(load_templates(settings.prompts_dir / "reminders"), settings.remind_window_s)
        self.policy = policy
        self.evidence = evidence
        self.metrics = metrics or WorkerMetrics()
        self.chunk_source = chunk_source
        self.stream_options = stream_options
        self.stop = threading.Event()
        self.errors: dict[str, str] = {}
        self._print_lock = threading.Lock()

    def run(self, duration_s: float | None = None) -> None:
        """Follow every feed until `duration_s` passes, stop is set, or every feed has ended.
        On stop each feed flushes: the utterance in progress is committed, clips are cut."""
        self.metrics.watch_transcriber(self.pipeline.transcriber)
        threads = [threading.Thread(target=self._follow, args=(feed,), name=f"feed-{feed.name}", daemon=True)
                   for feed in self.feeds]
        for thread in threads:
            thread.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while any(t.is_alive() for t in threads) and not self.stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.stop.wait(0.2)
        self.stop.set()
        for thread in threads:
            thread.join(timeout=self.policy.read_timeout_s + 60)

    def _follow(self, feed: Feed) -> None:
        try:
            with Session(self.engine) as session:
                self._follow_in(session, feed)
        except Exception as exc:  # one feed's failure must not take the others down
            self.errors[feed.name] = f"{feed.name}: {exc}"
            log.exception("%s: worker failed", feed.name)

    def _follow_in(self, session: Session, feed: Feed) -> None:
        m = self.metrics
        stream = store.live_stream_for(session, source=feed.url)
        stream.name, stream.streamer_id, stream.room = feed.name, feed.streamer_id, feed.room
        session.add(stream)
        scan = store.start_scan(session, stream=stream, pipeline_version=PIPELINE_VERSION,
                                provenance=self.pipeline.provenance())
        session.commit()
        guard = ReplayGuard()
        clock = {"offset_s": None, "wall_base": 0.0}

        def on_gap(gap: FeedGap) -> None:
            offset = clock["offset_s"] or 0.0
            log.warning("%s: no audio from %.1f s to %.1f s (%s)", feed.name, gap.start_s + offset,
                        gap.end_s + offset, gap.reason)
            m.reconnects.labels(feed.name).inc()
            if gap.reason != "ended":
                m.decode_errors.labels(feed.name).inc()
            store.append_event(session, actor=PIPELINE_VERSION, action="feed_gap", subject=f"stream:{stream.id}",
                               stream_id=stream.id, payload={"start_s": round(gap.start_s + offset, 3),
                                                             "end_s": round(gap.end_s + offset, 3),
                                                             "reason": gap.reason, "scan_id": scan.id})
            session.commit()
            guard.joined(gap.end_s + offset)

        def on_stream_clock(chunks: Iterator[AudioChunk]) -> Iterator[AudioChunk]:
            """Put the feed's chunks on the stream's own clock, and keep the lag gauge."""
            for chunk in chunks:
                if clock["offset_s"] is None:
                    clock["offset_s"] = self._clock_offset(session, stream, chunk)
                    clock["wall_base"] = time.monotonic() - chunk.end_s
                    guard.joined(chunk.start_s + clock["offset_s"])
                m.lag.labels(feed.name).set(max(0.0, time.monotonic() - clock["wall_base"] - chunk.end_s))
                yield AudioChunk(start_s=chunk.start_s + clock["offset_s"], samples=chunk.samples)

        chunks = on_stream_clock(self.chunk_source(feed.url, policy=self.policy, on_gap=on_gap, stop=self.stop))
        recorder = self.pipeline.evidence_recorder(self.evidence, live=True) if self.evidence else None
        if recorder:
            chunks = recorder.tap(chunks)
        try:
            for verdict in self.pipeline.live_verdicts(chunks, self.stream_options):
                if guard.is_replay(session, stream.id, verdict):
                    m.duplicates.labels(feed.name).inc()
                    log.info("%s: %.1f s was stored before the rejoin; not again: %s", feed.name,
                             verdict.segment.start_s, verdict.segment.text)
                    continue
                self._store(session, feed, stream, scan, verdict, recorder)
            status, error = "done", None
        except PinocchioError as exc:
            status, error = "failed", str(exc)
            self.errors[feed.name] = error
            log.error("%s", exc)
        if recorder:
            recorder.finish()
        store.finish_scan(session, scan=scan, status=status, error=error)
        session.commit()

    def _clock_offset(self, session: Session, stream: store.Stream, first: AudioChunk) -> float:
        """Seconds to add to this connection's times to put them on the stream's clock."""
        now = store.utcnow()
        if stream.live_epoch is None:
            stream.live_epoch = now - timedelta(seconds=first.start_s)
            session.add(stream)
            session.commit()
            return 0.0
        epoch = stream.live_epoch if stream.live_epoch.tzinfo else stream.live_epoch.replace(tzinfo=now.tzinfo)
        return max(0.0, (now - epoch).total_seconds() - first.start_s)

    def _store(self, session: Session, feed: Feed, stream: store.Stream, scan: store.Scan, verdict: Verdict,
               recorder) -> None:
        m = self.metrics
        # Live clips are cut a moment after their segment is stored: commit them on their own.
        row = store_verdict(session, scan, verdict, recorder, commit_clips=True)
        reminders = self.reminders.for_verdict(feed.name, verdict)
        for reminder in reminders:
            store.append_event(session, actor=PIPELINE_VERSION, action="remind", subject=f"segment:{row.id}",
                               stream_id=stream.id, payload=reminder.as_json())
        session.commit()  # live: every committed segment is stored before it is reported
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
