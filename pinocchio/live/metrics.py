"""Prometheus metrics of a live worker: per feed how far behind live it is and what it has done,
per process how hard the shared whisper model works."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.lag = Gauge("pinocchio_feed_lag_seconds",
                         "Wall time since the newest audio the worker has taken in was live", ["feed"], registry=r)
        self.unsettled = Gauge("pinocchio_feed_unsettled_seconds",
                               "Audio taken in and not yet out as text: waiting for the decoder, or speech in progress",
                               ["feed"], registry=r)
        self.segments = Counter("pinocchio_feed_segments", "Segments committed and stored", ["feed"], registry=r)
        self.findings = Counter("pinocchio_feed_findings", "Segments stored with a finding of this label", ["feed", "label"], registry=r)
        self.reminders = Counter("pinocchio_feed_reminders", "Reminders sent to the streamer", ["feed"], registry=r)
        self.reconnects = Counter("pinocchio_feed_reconnects", "Times the feed came back after a gap", ["feed"], registry=r)
        self.decode_errors = Counter("pinocchio_feed_decode_errors",
                                     "Connections that ended in an error (not a clean end of stream)", ["feed"], registry=r)
        self.duplicates = Counter("pinocchio_feed_replayed_segments",
                                  "Segments heard again after a rejoin and not stored twice", ["feed"], registry=r)
        self.falling_behind = Gauge("pinocchio_feed_falling_behind",
                                    "1 while the feed's lag behind live keeps growing (see live/lag.py)", ["feed"],
                                    registry=r)
        self.fell_behind = Counter("pinocchio_feed_fell_behind", "Times the feed started falling behind live",
                                   ["feed"], registry=r)
        self.asr_rtf = Gauge("pinocchio_asr_real_time_factor",
                             "Seconds the shared whisper model spent per second of audio, all feeds", registry=r)
        self.expected_feeds = Gauge("pinocchio_expected_feeds",
                                    "Feeds this process should hold in real time, measured at start (live/capacity.py)",
                                    registry=r)
        self.asr_audio = Gauge("pinocchio_asr_audio_seconds", "Audio decoded by the shared model", registry=r)

    def watch_transcriber(self, transcriber) -> None:
        self.asr_rtf.set_function(lambda: transcriber.real_time_factor)
        self.asr_audio.set_function(lambda: transcriber.audio_s)

    def serve(self, port: int, host: str = "127.0.0.1"):
        """Serve /metrics in a background thread; returns the server so tests can stop it."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
