"""What every answer of the console and API carries, whatever the route: a cap on request bodies,
security headers (a Content-Security-Policy without inline script, no framing, no sniffing, HSTS
behind HTTPS), and errors that are answers — a database that is locked or down is a 503 with
`Retry-After`, anything unexpected a one-line 500, never a traceback."""

from __future__ import annotations

import logging

from pinocchio.store.engine import UNAVAILABLE  # noqa: F401  (the app answers these 503)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # a report or a form is a few hundred bytes
# A shop's facts are its whole catalogue with price histories: PUT there may carry more.
LARGE_BODIES = {"/api/v1/shops/": 8 * 1024 * 1024}
RETRY_AFTER_S = 5
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class BodyTooLarge(Exception):
    """A request body past MAX_BODY_BYTES: answered 413 before the rest is read."""


def security_headers(https: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class Guards:
    """ASGI middleware: refuses a body over the cap (by its Content-Length, or once that many bytes
    have come) and adds the security headers to every response."""

    def __init__(self, app, https: bool = False, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.headers = security_headers(https)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cap = next((size for prefix, size in LARGE_BODIES.items() if scope.get("path", "").startswith(prefix)),
                   self.max_body_bytes)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > cap:
            return await self._too_large(send, cap)
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise BodyTooLarge()
            return message

        async def with_headers(message):
            if message["type"] == "http.response.start":
                # A response that sets a header of its own keeps it (a chart's narrower policy).
                own = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((n, v) for n, v in self.headers if n not in own)]}
            await send(message)

        try:
            await self.app(scope, counted_receive, with_headers)
        except BodyTooLarge:
            await self._too_large(send, cap)

    async def _too_large(self, send, cap: int):
        body = b'{"detail":"request body too large (at most %d bytes)"}' % cap
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *self.headers]})
        await send({"type": "http.response.body", "body": body})
