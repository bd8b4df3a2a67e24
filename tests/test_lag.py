"""A feed that falls behind live is reported, never silently: the lag watch's rule on readings, and
the live worker (with a scripted transcriber and a feed that arrives slower than real time, then
catches up) logging it at WARNING, counting it, and recording `feed_lag` events."""

from __future__ import annotations

import json
import logging
import time

from scripted import ScriptedTranscriber, silence
from sqlmodel import Session, select

from pinocchio.core.events import Action
from pinocchio.core.settings import Settings
from pinocchio.listen.detect import DetectOptions
from pinocchio.listen.pipeline import Pipeline
from pinocchio.listen.streaming import StreamOptions
from pinocchio.live.feeds import Feed
from pinocchio.live.lag import LagChange, LagOptions, LagWatch
from pinocchio.live.metrics import WorkerMetrics
from pinocchio.live.worker import LiveWorker
from pinocchio.moderation.ledger import ModerationLedger
from pinocchio.store import open_store
from pinocchio.store.tables import ModerationEvent

OPTIONS = LagOptions(behind_s=10.0, window_s=60.0, growth_s=5.0, caught_up_s=3.0)


def test_a_lag_that_keeps_growing_is_falling_behind_and_a_steady_one_is_not():
    steady, growing = LagWatch(OPTIONS), LagWatch(OPTIONS)
    for second in range(0, 300, 5):
        assert steady.observe(second, 12.0) is None  # far behind but not growing: a slow relay, not us
    readings = [growing.observe(second, second * 0.2) for second in range(0, 120, 5)]
    changes = [r for r in readings if r is not None]
    assert len(changes) == 1 and changes[0].change is LagChange.BEHIND
    assert changes[0].lag_s >= 10.0 and changes[0].growth_s >= 5.0
    assert growing.observe(125, 8.0) is None  # shrinking, not yet caught up
    caught = growing.observe(130, 2.0)
    assert caught is not None and caught.change is LagChange.CAUGHT_UP and not growing.behind


def test_a_short_spike_under_the_threshold_is_not_reported():
    watch = LagWatch(OPTIONS)
    assert all(watch.observe(s, lag) is None for s, lag in [(0, 0.5), (5, 8.0), (10, 9.5), (15, 0.4)])


FEED = Feed("room3", "rtmp://127.0.0.1/live/room3", "s-3", "3")


def slow_then_fast(url, policy, on_gap, stop):
    """The first 2 s of audio arrive at 0.4 of real time (the worker cannot keep up), the rest at once."""
    for chunk in silence(0.0, 2.0, chunk_s=0.1):
        time.sleep(0.25)
        yield chunk
    yield from silence(2.0, 20.0, chunk_s=0.5)


def test_the_worker_reports_a_feed_falling_behind_and_catching_up(tmp_path, caplog):
    engine = open_store(f"sqlite:///{tmp_path / 'lag.db'}")
    pipeline = Pipeline(Settings(), detect_options=DetectOptions(batch_size=1),
                        transcriber=ScriptedTranscriber([(0.5, 2.5, "家人们晚上好")]))
    metrics = WorkerMetrics()
    worker = LiveWorker(pipeline, engine, [FEED], ModerationLedger("pinocchio@test"), metrics=metrics,
                        chunk_source=slow_then_fast, stream_options=StreamOptions(),
                        lag_options=LagOptions(behind_s=1.5, window_s=2.0, growth_s=1.0, caught_up_s=0.5))
    with caplog.at_level(logging.WARNING, logger="pinocchio.live.worker"):
        worker.run()
    assert worker.errors == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("room3: falling behind live") for m in warnings), warnings
    with Session(engine) as session:
        rows = session.exec(select(ModerationEvent).where(ModerationEvent.action == Action.FEED_LAG)
                            .order_by(ModerationEvent.id)).all()
    payloads = [json.loads(r.payload) for r in rows]
    assert [p["behind"] for p in payloads] == [True, False]  # fell behind, then caught up
    assert payloads[0]["lag_s"] >= 1.5 and payloads[0]["growth_s"] >= 1.0
    assert metrics.fell_behind.labels("room3")._value.get() == 1
    assert metrics.falling_behind.labels("room3")._value.get() == 0
