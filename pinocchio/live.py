"""The live worker: follow feeds, run each through the one pipeline as audio arrives, store and
report what it finds. One whisper model serves every feed of the process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio import store
from pinocchio.audio import FeedGap, ReconnectPolicy, live_chunks
from pinocchio.errors import PinocchioError
from pinocchio.pipeline import PIPELINE_VERSION, Pipeline
from pinocchio.records import Verdict
from pinocchio.reminders import Reminder, Reminders, load_templates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feed:
    name: str
    url: str


def feed_for(url: str) -> Feed:
    """A feed named after the last part of its URL (rtmp://host/live/room42 -> room42)."""
    path = urlparse(url).path.rstrip("/")
    name = path.rsplit("/", 1)[-1] or urlparse(url).netloc
    return Feed(name=name.removesuffix(".flv").removesuffix(".m3u8"), url=url)


class LiveWorker:
    def __init__(self, pipeline: Pipeline, engine: Engine, feeds: Iterable[Feed],
                 on_verdict: Callable[[Feed, Verdict], None] | None = None,
                 on_reminder: Callable[[Reminder], None] | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy()):
        self.pipeline = pipeline
        self.engine = engine
        self.feeds = tuple(feeds)
        self.on_verdict = on_verdict
        self.on_reminder = on_reminder
        settings = pipeline.settings
        self.reminders = Reminders(load_templates(settings.prompts_dir / "reminders"), settings.remind_window_s)
        self.policy = policy
        self.stop = threading.Event()
        self.errors: dict[str, str] = {}
        self._print_lock = threading.Lock()

    def run(self, duration_s: float | None = None) -> None:
        """Follow every feed until `duration_s` passes, stop is set, or every feed has failed."""
        threads = [threading.Thread(target=self._follow, args=(feed,), name=f"feed-{feed.name}", daemon=True)
                   for feed in self.feeds]
        for thread in threads:
            thread.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while any(t.is_alive() for t in threads) and not self.stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        self.stop.set()
        for thread in threads:
            thread.join(timeout=self.policy.read_timeout_s + 30)

    def _follow(self, feed: Feed) -> None:
        def gap(g: FeedGap) -> None:
            log.warning("%s: no audio from %.1f s to %.1f s (%s)", feed.name, g.start_s, g.end_s, g.reason)

        with Session(self.engine) as session:
            stream = store.live_stream_for(session, source=feed.url)
            scan = store.start_scan(session, stream=stream, pipeline_version=PIPELINE_VERSION,
                                    provenance=self.pipeline.provenance())
            session.commit()
            chunks = live_chunks(feed.url, policy=self.policy, on_gap=gap, stop=self.stop)
            try:
                for verdict in self.pipeline.live_verdicts(chunks):
                    row, = store.add_verdicts(session, scan=scan, verdicts=[verdict], actor=PIPELINE_VERSION)
                    reminders = self.reminders.for_verdict(feed.name, verdict)
                    for reminder in reminders:
                        store.append_event(session, actor=PIPELINE_VERSION, action="remind", subject=f"segment:{row.id}",
                                           stream_id=stream.id, payload=reminder.as_json())
                    session.commit()  # live: every committed segment is stored before it is reported
                    with self._print_lock:
                        if self.on_verdict:
                            self.on_verdict(feed, verdict)
                        for reminder in reminders:
                            if self.on_reminder:
                                self.on_reminder(reminder)
                status, error = "done", None
            except PinocchioError as exc:
                status, error = "failed", str(exc)
                self.errors[feed.name] = error
                log.error("%s", exc)
            store.finish_scan(session, scan=scan, status=status, error=error)
            session.commit()
