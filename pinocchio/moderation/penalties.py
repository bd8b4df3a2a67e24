"""Strikes and penalties as they stand: what a streamer has against them now, and the compliance
export. The rows are projections (see `projection.py`); this module only reads them."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_
from sqlmodel import Session, select

from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import InputError
from pinocchio.core.events import PenaltyKind
from pinocchio.core.labels import label_table
from pinocchio.moderation.projection import PenaltyState, state_of
from pinocchio.store.projections import Appeal, Case, Penalty, Strike
from pinocchio.store.tables import Stream

EXPORT_COLUMNS = ("penalty_id", "streamer_id", "kind", "starts_at", "ends_at", "active", "reversed_at", "reversed_by",
                  "appeal", "ladder_version", "ladder_step", "points", "labels", "articles", "decided_by",
                  "decided_at", "stream_id", "stream_source", "segment_id")


@dataclass(frozen=True)
class PenaltyInfo(PenaltyState):
    """A penalty as the console and the export show it: the projection, and what follows from it now."""

    active: bool
    appeal: str | None  # the latest appeal's status, if any


def active_strike_points(session: Session, streamer_id: str, now: datetime | None = None) -> int:
    """The points of the streamer's strikes that have neither expired nor been reversed at `now`."""
    now = aware(now or utcnow())
    total = session.exec(select(func.coalesce(func.sum(Strike.points), 0)).where(
        Strike.streamer_id == streamer_id, Strike.reversed_at.is_(None), Strike.expires_at > now)).one()
    return int(total)


def penalty_active(kind: str, starts_at: datetime, ends_at: datetime | None, reversed_at: datetime | None,
                   now: datetime) -> bool:
    """A ban in force: started, not ended, not reversed. A warning is never 'in force'."""
    if reversed_at is not None or kind == PenaltyKind.WARNING or aware(starts_at) > now:
        return False
    return ends_at is None or aware(ends_at) > now


def list_penalties(session: Session, *, streamer_id: str | None = None, active: bool = False,
                   now: datetime | None = None) -> list[PenaltyInfo]:
    now = aware(now or utcnow())
    query = select(Penalty).order_by(Penalty.starts_at, Penalty.id)
    if streamer_id is not None:
        query = query.where(Penalty.streamer_id == streamer_id)
    if active:
        query = query.where(Penalty.reversed_at.is_(None), Penalty.kind != PenaltyKind.WARNING, Penalty.starts_at <= now,
                            or_(Penalty.ends_at.is_(None), Penalty.ends_at > now))
    result = []
    for p in session.exec(query).all():
        appeal = session.exec(select(Appeal.status).where(Appeal.penalty_id == p.id).order_by(Appeal.id.desc())).first()
        result.append(PenaltyInfo(**asdict(state_of(PenaltyState, p)), appeal=appeal,
                                  active=penalty_active(p.kind, p.starts_at, p.ends_at, p.reversed_at, now)))
    return result


def export_penalties(session: Session, path: Path | str, *, streamer_id: str | None = None,
                     now: datetime | None = None) -> int:
    """Write every penalty (reversed ones too, marked) as CSV for compliance; returns the rows written."""
    penalties = list_penalties(session, streamer_id=streamer_id, now=now)
    rules = label_table()
    try:
        handle = open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    with handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for p in penalties:
            case = session.get(Case, p.segment_id)
            stream = session.get(Stream, case.stream_id) if case else None
            labels = json.loads(case.labels) if case else []
            writer.writerow([p.id, p.streamer_id, p.kind, _t(p.starts_at), _t(p.ends_at), int(p.active),
                             _t(p.reversed_at), p.reversed_by or "", p.appeal or "", p.ladder_version, p.step,
                             p.points, ";".join(labels), ";".join(rules[label].article for label in labels),
                             case.decided_by if case else "", _t(aware(case.decided_at)) if case else "",
                             stream.id if stream else "", stream.source if stream else "", p.segment_id])
    return len(penalties)


def _t(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()
