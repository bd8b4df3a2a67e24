"""A JSON body POSTed with its HMAC-SHA256 signature in `X-Pinocchio-Signature`, so the receiver
knows it came from us: reminders, penalty notices and audit anchors all leave this way."""

from __future__ import annotations

import hashlib
import hmac
import urllib.request

SIGNATURE_HEADER = "X-Pinocchio-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_signed(url: str, secret: str, body: bytes, timeout_s: float) -> None:
    """POST the body signed; raises what urllib raises (an HTTP error status, a refused connection)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(secret, body)})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read()
