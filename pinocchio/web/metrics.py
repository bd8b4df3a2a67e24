"""Prometheus metrics of the console and API, served at `GET /api/v1/metrics` (an API key, like
every API route): logins refused and failed, the answers the database could not give, and the
report intake (what waits, what was written and in how many transactions)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


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


router = APIRouter(prefix="/api/v1")


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
