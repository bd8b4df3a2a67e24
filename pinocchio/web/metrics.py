"""Prometheus metrics of the console and API, served at `GET /api/v1/metrics` (an API key, like
every API route): logins refused and failed, and the answers the database could not give."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


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


router = APIRouter(prefix="/api/v1")


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
