"""`create_app(settings)`: the console and the API on one engine, made here and not at import.

Library errors become HTTP answers by class (InputError 422, NotFound 404, Conflict 409,
Forbidden 403, RateLimited 429): JSON `{"detail": ...}` under /api, an error page elsewhere."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from pinocchio.core.background import Every
from pinocchio.core.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InputError,
    NotFound,
    PinocchioError,
    RateLimited,
    Unavailable,
)
from pinocchio.core.reminder_texts import load_templates
from pinocchio.core.settings import Settings
from pinocchio.live.webhooks import WebhookSender
from pinocchio.moderation.deadlines import sweep_now
from pinocchio.moderation.intake import ReportIntake, ViewerReminding
from pinocchio.moderation.notices import NoticeOptions, deliver_now
from pinocchio.moderation.viewer_reminders import ViewerRemindOptions
from pinocchio.store import open_store
from pinocchio.web import auth, guards, routes_api, routes_console, routes_desk, views
from pinocchio.web import metrics as console_metrics
from pinocchio.web.csrf import csrf_token

HERE = Path(__file__).resolve().parent
NOTICE_EVERY_S = 5.0  # how soon a new penalty's notice leaves
log = logging.getLogger(__name__)
STATUS_BY_ERROR = ((RateLimited, 429), (InputError, 422), (NotFound, 404), (Conflict, 409), (Forbidden, 403))


def status_for(exc: PinocchioError) -> int:
    return next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 500)


def _page_context(request: Request) -> dict:
    """What every page's frame needs: the reviewer, the CSRF token, and messages left by a redirect."""
    return {"me": getattr(request.state, "reviewer", None), "csrf_token": csrf_token(request),
            "flashes": request.session.pop("flash", []), "clock": views.clock, "when": views.when}


def _reminding(settings: Settings) -> ViewerReminding:
    return ViewerReminding(load_templates(settings.prompts_dir / "reminders"),
                           ViewerRemindOptions(weight=settings.viewer_remind_weight,
                                               window_s=settings.viewer_remind_window_s,
                                               remind_window_s=settings.remind_window_s))


def _sender(sender: WebhookSender | None):
    """What the intake does with viewers' reminders once committed: send them like the live worker's."""
    def send(reminders: list) -> None:
        for reminder in reminders:
            log.info("viewers' reminder %s %s: %s", reminder.stream, reminder.label, reminder.message)
            if sender:
                sender.send(reminder.as_json())
    return send


def create_app(settings: Settings) -> FastAPI:
    for name, url in (("PINOCCHIO_REMIND_WEBHOOK", settings.remind_webhook), ("PINOCCHIO_NOTICE_WEBHOOK", settings.notice_webhook)):
        if url and not settings.webhook_secret:
            raise ConfigError(f"{name} needs PINOCCHIO_WEBHOOK_SECRET to sign what it sends")
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        housekeeping = []
        if settings.deadline_sweep_s > 0:
            housekeeping.append(Every(settings.deadline_sweep_s, lambda: sweep_now(app.state.engine), "deadline-sweep"))
        if settings.notice_webhook:
            notices = NoticeOptions(settings.notice_webhook, settings.webhook_secret, settings.console_url)
            housekeeping.append(Every(NOTICE_EVERY_S, lambda: deliver_now(app.state.engine, notices), "penalty-notices"))
        for job in housekeeping:
            job.start()
        yield
        for job in housekeeping:
            job.stop()
        app.state.intake.close()  # what is queued is written and answered first
        if app.state.reminder_sender:
            app.state.reminder_sender.close()

    app = FastAPI(title="Pinocchio", docs_url=None, redoc_url=None, openapi_url=None,  # nothing unauthenticated
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = open_store(settings.db_url)
    app.state.reminder_sender = (WebhookSender(settings.remind_webhook, settings.webhook_secret, app.state.engine)
                                 if settings.remind_webhook else None)
    # API reports, written in groups; on a live stream, enough of them remind the streamer.
    app.state.intake = ReportIntake(settings.db_url, max_group=settings.intake_group, reminding=_reminding(settings),
                                    on_reminders=_sender(app.state.reminder_sender))
    app.state.evidence_dir = settings.evidence_path().resolve()
    app.state.api_key_hashes = auth.api_key_hashes(settings.api_keys)
    app.state.metrics = console_metrics.ConsoleMetrics()
    app.state.metrics.watch_intake(app.state.intake)
    app.state.metrics.watch_desk(app.state.engine)
    app.state.templates = Jinja2Templates(directory=HERE / "templates", context_processors=[_page_context])
    app.add_middleware(SessionMiddleware, secret_key=auth.secret_key_for(settings.db_url, settings.secret_key),
                       session_cookie="pinocchio_session",
                       max_age=int(timedelta(hours=settings.session_hours).total_seconds()),
                       same_site="lax", https_only=settings.https)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(routes_api.router)  # first: routes are matched in order, and the API takes the load
    app.include_router(auth.router)
    app.include_router(routes_console.router)
    app.include_router(routes_desk.router)
    app.include_router(console_metrics.router)

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    app.add_middleware(auth.ApiGate)

    def error_page(request: Request, status: int, message: str):
        if is_api(request):
            return JSONResponse({"detail": message}, status_code=status)
        return app.state.templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                                    status_code=status)

    @app.exception_handler(auth.LoginRequired)
    async def login_required(request: Request, exc: auth.LoginRequired):
        if request.method == "GET" and not is_api(request):
            return auth.login_redirect(request)
        return error_page(request, 401, "log in first")

    @app.exception_handler(PinocchioError)
    async def library_error(request: Request, exc: PinocchioError):
        return error_page(request, status_for(exc), str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        response = error_page(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        return error_page(request, 422, routes_api.validation_reason(exc))

    for kind in guards.UNAVAILABLE:
        @app.exception_handler(kind)
        async def database_unavailable(request: Request, exc: Exception):
            app.state.metrics.unavailable.inc()
            log.warning("%s %s: the database is unavailable (%s)", request.method, request.url.path,
                        str(exc).splitlines()[0][:200])
            message = str(exc) if isinstance(exc, Unavailable) else "the database is busy or unavailable: try again in a moment"
            response = error_page(request, 503, message)
            response.headers["Retry-After"] = str(guards.RETRY_AFTER_S)
            return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return error_page(request, 500, "internal error: the server logged it")

    app.add_middleware(guards.Guards, https=settings.https)  # added last, so outermost: every answer gets it
    return app
