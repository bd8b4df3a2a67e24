"""Times are UTC and timezone-aware everywhere; SQLite gives them back naive, so readers make them
aware again with `aware`."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(moment: datetime | None) -> datetime | None:
    """UTC with its zone: a naive time (as SQLite returns them) is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else aware(moment).isoformat()


def parse_iso(text: str | None) -> datetime | None:
    return None if text is None else aware(datetime.fromisoformat(text))
