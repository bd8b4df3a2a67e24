"""What the listening side may ask of the moderation ledger, and nothing more: the pipeline hands
it the verdicts it stored (one call for a batch), the live worker its reminders, gaps and evidence clips as
typed payloads. The moderation side implements it (`moderation.ledger.ModerationLedger`); the
listening side is handed one and never imports the moderation package."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from pinocchio.core.records import StoredVerdict


class Ledger(Protocol):
    actor: str  # who the listening side's events are by, e.g. pinocchio@0.1.0

    def verdicts_stored(self, session: Session, stored: Sequence[StoredVerdict]) -> None:
        """Segments and their findings were just stored, in order: flag those that are not a pass,
        and attach the viewers' reports that were waiting for them. In the caller's transaction."""

    def record(self, session: Session, payload: Any, *, subject_id: int | str, stream_id: int | None = None,
               at: datetime | None = None) -> Any:
        """Append one event (a `core.events` payload) by `actor`, in the caller's transaction."""
