"""Who is asking: reviewers log in to the console (a signed session cookie), the platform's
backend calls the API with a key. The session cookie is signed with a secret from
PINOCCHIO_SECRET_KEY, else a random one kept in a file beside the SQLite database (so logins survive
a restart), else a random one for this process only."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from pinocchio.moderation.reviewers import (
    ReviewerInfo,
    end_sessions,
    login_failed,
    login_succeeded,
    login_wait,
    session_reviewer,
    verify_reviewer,
)
from pinocchio.web.csrf import check_csrf, rotate_csrf
from pinocchio.web.deps import SessionDep

log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """No reviewer is logged in (or the account was deactivated since): the app's handler sends
    page requests to the login form and answers anything else 401."""


def secret_key_for(db_url: str, configured: str | None) -> str:
    if configured:
        return configured
    if "://" not in db_url:
        db_url = f"sqlite:///{db_url}"
    if not db_url.startswith("sqlite:///") or ":memory:" in db_url:
        log.warning("no PINOCCHIO_SECRET_KEY: console logins last until this process stops")
        return secrets.token_urlsafe(32)
    path = Path(db_url.removeprefix("sqlite:///")).expanduser().resolve()
    key_file = path.with_name(path.name + ".secret")
    if not key_file.exists():
        # Written whole under a private name, then linked into place: of two servers starting
        # together one key wins, and neither ever reads a half-written file.
        partial = key_file.with_name(f"{key_file.name}.{os.getpid()}.part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(32))
        try:
            os.link(partial, key_file)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return key_file.read_text(encoding="ascii").strip()


def current_reviewer(request: Request, session: SessionDep) -> ReviewerInfo:
    """The logged-in reviewer, read from the table on every request so that a changed role, a
    deactivated account or an ended session (logout, new password) counts at once."""
    info = session_reviewer(session, request.session.get("reviewer_id"), request.session.get("epoch"))
    if info is None:
        request.session.clear()
        raise LoginRequired()
    request.state.reviewer = info  # for the templates' header
    return info


ReviewerDep = Annotated[ReviewerInfo, Depends(current_reviewer)]


def api_key_hashes(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hashlib.sha256(k.encode("utf-8")).digest() for k in keys if k)


def api_key_ok(request: Request) -> bool:
    """`Authorization: Bearer KEY` or `X-API-Key: KEY` names one of the configured keys. Keys are
    compared as sha256 digests in constant time, so neither their content nor length shows."""
    sent = request.headers.get("x-api-key", "")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not sent and scheme.lower() == "bearer":
        sent = value.strip()
    digest = hashlib.sha256(sent.encode("utf-8")).digest()
    return bool(sent) and any(hmac.compare_digest(digest, k) for k in request.app.state.api_key_hashes)


API_KEY_REFUSED = {"status_code": 401, "detail": "missing or unknown API key", "headers": {"WWW-Authenticate": "Bearer"}}
# Every route under /api/ (reports, appeals, metrics) is behind `ApiGate`, the one key check.


class ApiGate:
    """ASGI middleware in front of /api/: a caller without a key is refused before FastAPI reads
    the body, so it learns nothing, not even a 422. (Plain ASGI: a `BaseHTTPMiddleware` costs
    more than the report it lets through.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            request = Request(scope)
            if not api_key_ok(request):
                refused = API_KEY_REFUSED
                answer = JSONResponse({"detail": refused["detail"]}, status_code=refused["status_code"],
                                      headers=refused["headers"])
                return await answer(scope, receive, send)
        return await self.app(scope, receive, send)


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) may follow the login: no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)


router = APIRouter(dependencies=[Depends(check_csrf)])


@router.get("/login")
def login_form(request: Request, next: str = "/queue"):
    return request.app.state.templates.TemplateResponse(request, "login.html", {"next": safe_next(next), "error": None})


def _login_page(request: Request, next: str, error: str, status: int, headers: dict | None = None):
    return request.app.state.templates.TemplateResponse(request, "login.html", {"next": safe_next(next), "error": error},
                                                        status_code=status, headers=headers)


@router.post("/login")
def login(request: Request, session: SessionDep, name: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/queue"):
    name, client = name.strip(), request.client.host if request.client else "unknown"
    wait = login_wait(session, name=name, client=client)
    if wait > 0:  # before the password is even read: a locked account cannot be probed
        request.app.state.metrics.refused_logins.inc()
        log.warning("login for %r from %s refused for %.0f s more (too many wrong passwords)", name[:100], client, wait)
        seconds = math.ceil(wait)
        return _login_page(request, next, f"Too many wrong passwords: try again in {seconds} s.", 429,
                           {"Retry-After": str(seconds)})
    info = verify_reviewer(session, name=name, password=password)
    if info is None:
        login_failed(session, name=name, client=client)
        session.commit()
        request.app.state.metrics.failed_logins.inc()
        return _login_page(request, next, "Wrong name or password.", 401)
    login_succeeded(session, name=name, client=client)
    session.commit()
    request.session.clear()
    request.session.update({"reviewer_id": info.id, "epoch": info.session_epoch})
    rotate_csrf(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, session: SessionDep):
    """Logging out ends every session of the account, not only this browser's cookie."""
    info = session_reviewer(session, request.session.get("reviewer_id"), request.session.get("epoch"))
    if info is not None:
        end_sessions(session, name=info.name)
        session.commit()
    request.session.clear()
    rotate_csrf(request)
    return RedirectResponse("/login", status_code=303)
