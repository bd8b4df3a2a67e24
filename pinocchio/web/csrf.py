"""CSRF protection for the console's forms: one random token per browser session, sent back in a
hidden `csrf_token` field by every form and compared on every unsafe request. The API is not
covered: it authenticates with a header a browser never adds by itself."""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_token(request: Request) -> str:
    """The session's token, made on first use (the login page makes it for a new visitor)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def rotate_csrf(request: Request) -> None:
    """A new token at login and logout, so a token seen before logging in is worth nothing after."""
    request.session["csrf"] = secrets.token_urlsafe(32)


async def check_csrf(request: Request) -> None:
    """A router-wide dependency: every POST of the console must carry the session's token."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()  # Starlette keeps the parsed form, so the route reads it again for free
    sent = form.get(FIELD)
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="the form's CSRF token is missing or wrong: reload the page")
