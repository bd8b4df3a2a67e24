"""What the listening side may ask of the moderation ledger, and nothing more: the pipeline hands
it each stored verdict (one call), the live worker its reminders, gaps and evidence clips as
typed payloads. The moderation side implements it (`moderation.ledger.ModerationLedger`); the
listening side is handed one and never imports the moderation package."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from pinocchio.core.records import StoredVerdict


class Ledger(Protocol):
    actor: str  # who the listening side's events are by, e.g. pinocchio@0.1.0

    def verdict_stored(self, session: Session, stored: StoredVerdict) -> None:
        """A segment and its findings were just stored: flag it if it is not a pass, and attach the
        viewers' reports that were waiting for it. In the caller's transaction."""

    def record(self, session: Session, payload: Any, *, subject_id: int | str, stream_id: int | None = None,
               at: datetime | None = None) -> Any:
        """Append one event (a `core.events` payload) by `actor`, in the caller's transaction."""
