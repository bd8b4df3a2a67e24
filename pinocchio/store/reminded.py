"""Which labels a stream's streamer was reminded of lately, from the log's `remind` events, by
whichever path reminded them (the live worker for what the pipeline flagged, the report intake for
what viewers reported), so that neither tells a streamer twice about one claim."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, select

from pinocchio.store.tables import ModerationEvent


def labels_reminded(session: Session, stream_id: int, since: datetime) -> set[str]:
    rows = session.exec(select(ModerationEvent.payload).where(ModerationEvent.stream_id == stream_id,
                                                             ModerationEvent.action == "remind",
                                                             ModerationEvent.created_at >= since)).all()
    return {json.loads(payload)["label"] for payload in rows}
