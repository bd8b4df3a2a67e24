"""What counts as a live feed's URL, for every place one comes in: a streams file, the command
line, the fleet's HTTP API."""

from __future__ import annotations

from urllib.parse import urlparse

LIVE_SCHEMES = ("rtmp", "rtmps", "http", "https")


def live_url_problem(url: str) -> str | None:
    """Why `url` is not a live feed's URL, or None."""
    parsed = urlparse(url)
    if parsed.scheme not in LIVE_SCHEMES or not parsed.netloc:
        return f"'{url}' is not a live URL ({', '.join(s + '://' for s in LIVE_SCHEMES)})"
    return None
