"""Who is asking: reviewers log in to the console (a signed session cookie), the platform's
backend calls the API with a key. The session cookie is signed with a secret from
PINOCCHIO_SECRET_KEY, else a random one kept in a file beside the SQLite database (so logins survive
a restart), else a random one for this process only."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select

from pinocchio.moderation.reviewers import ReviewerInfo, verify_reviewer
from pinocchio.store.projections import Reviewer
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
    """The logged-in reviewer, read from the table on every request so that a changed role or a
    deactivated account counts at once."""
    name = request.session.get("reviewer")
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first() if isinstance(name, str) else None
    if row is None or not row.active:
        request.session.pop("reviewer", None)
        raise LoginRequired()
    info = ReviewerInfo(name=row.name, role=row.role, active=row.active)
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


def api_client(request: Request) -> None:
    """The API routers' gate (the app also checks before the body is read, see `create_app`)."""
    if not api_key_ok(request):
        raise HTTPException(**API_KEY_REFUSED)


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


@router.post("/login")
def login(request: Request, session: SessionDep, name: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/queue"):
    info = verify_reviewer(session, name=name.strip(), password=password)
    if info is None:
        log.info("failed login for %r", name[:100])
        return request.app.state.templates.TemplateResponse(
            request, "login.html", {"next": safe_next(next), "error": "Wrong name or password."}, status_code=401)
    request.session.clear()
    request.session["reviewer"] = info.name
    rotate_csrf(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request):
    request.session.clear()
    rotate_csrf(request)
    return RedirectResponse("/login", status_code=303)
