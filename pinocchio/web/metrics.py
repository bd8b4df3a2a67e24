"""Prometheus metrics of the console and API, served at `GET /api/v1/metrics` (an API key, like
every API route): logins refused and failed, the answers the database could not give, the report
intake (what waits, what was written and in how many transactions), and the desk's figures
(`moderation.stats`, since the start; counted at most once every 30 s)."""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlmodel import Session

from pinocchio.moderation.stats import DeskStats, desk_stats


class ConsoleMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.failed_logins = Counter("pinocchio_console_failed_logins", "Logins with a wrong name or password",
                                     registry=r)
        self.refused_logins = Counter("pinocchio_console_refused_logins",
                                      "Logins refused before the password was read (throttled or locked)", registry=r)
        self.unavailable = Counter("pinocchio_console_database_unavailable",
                                   "Requests answered 503 because the database was locked or down", registry=r)

    def watch_intake(self, intake) -> None:
        """Gauges read from the report intake when scraped."""
        r = self.registry
        Gauge("pinocchio_intake_waiting", "Reports queued for the writer", registry=r).set_function(intake.waiting)
        Gauge("pinocchio_intake_reports_written", "Reports the intake wrote (accepted, folded or refused)",
              registry=r).set_function(lambda: intake.stats().requests)
        Gauge("pinocchio_intake_groups_written", "Transactions the intake's writer committed",
              registry=r).set_function(lambda: intake.stats().groups)
        Gauge("pinocchio_intake_largest_group", "The most reports written in one transaction",
              registry=r).set_function(lambda: intake.stats().largest_group)
        Gauge("pinocchio_viewer_reminders", "Streamers reminded because viewers' reports weighed enough",
              registry=r).set_function(lambda: intake.reminded)


    def watch_desk(self, engine) -> None:
        self.registry.register(DeskCollector(engine))


class DeskCollector:
    """The desk's totals as gauges, from the store when scraped (cached for `ttl_s`)."""

    def __init__(self, engine, ttl_s: float = 30.0):
        self.engine = engine
        self.ttl_s = ttl_s
        self._cached: tuple[float, DeskStats] | None = None
        self._lock = threading.Lock()

    def _stats(self) -> DeskStats:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.ttl_s:
                with Session(self.engine) as session:
                    self._cached = (time.monotonic(), desk_stats(session))
            return self._cached[1]

    def collect(self):
        t = self._stats().total
        for name, value, help in (("streams", t.streams, "Streams listened to"), ("hours", t.hours, "Hours listened to"),
                                  ("segments", t.segments, "Segments stored"), ("reports", t.reports, "Viewers' reports"),
                                  ("reporters", t.reporters, "Viewers who reported"),
                                  ("cases_opened", t.cases_opened, "Cases opened"),
                                  ("cases_decided", t.cases_decided, "Cases decided"),
                                  ("cases_overturned", t.cases_overturned, "Decisions overturned on appeal")):
            yield GaugeMetricFamily(f"pinocchio_desk_{name}", help, value=value)
        for name, help, label, counts in (("findings", "Findings by label", "label", t.findings),
                                          ("penalties", "Penalties by kind", "kind", t.penalties),
                                          ("appeals", "Appeals by outcome", "status", t.appeals)):
            family = GaugeMetricFamily(f"pinocchio_desk_{name}", help, labels=[label])
            for key, n in sorted(counts.items()):
                family.add_metric([key], n)
            yield family
        reminders = GaugeMetricFamily("pinocchio_desk_reminders", "Streamers reminded, by who raised it", labels=["source"])
        reminders.add_metric(["pipeline"], t.reminders)
        reminders.add_metric(["viewers"], t.viewer_reminders)
        yield reminders


router = APIRouter(prefix="/api/v1")


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
