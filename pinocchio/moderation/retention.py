"""How long evidence is kept. Records — the moderation log, segments, findings, decisions — are
never deleted: the 2026 live-commerce rules ask for at least three years and the hash chain holds
every event for good. Evidence clips are large, so after `clip_retention_days` (three years at the
least) `purge_clips` deletes them: each deletion is a `purge_evidence` event by `retention` that
names the file and when it was cut, so the record says what was there and why it is gone. Clips of
cases still undecided, or of penalties under a pending appeal, are kept whatever their age."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import ConfigError
from pinocchio.moderation.ledger import Entry, hold, record_all
from pinocchio.store.projections import Appeal, Case, EvidenceClip, Penalty
from pinocchio.store.tables import SegmentRow

log = logging.getLogger(__name__)

ACTOR = "retention"
RECORDS_MIN_DAYS = 3 * 365  # 直播营销记录保存不少于三年


@dataclass(frozen=True)
class Purged:
    segment_id: int
    clip: str
    cut_at: datetime


def check_retention(days: int) -> int:
    if days < RECORDS_MIN_DAYS:
        raise ConfigError(f"clips must be kept at least {RECORDS_MIN_DAYS} days (three years of records); "
                          f"PINOCCHIO_CLIP_RETENTION_DAYS is {days}")
    return days


def purge_clips(session: Session, *, retention_days: int, now: datetime | None = None,
                dry_run: bool = False) -> list[Purged]:
    """Mark every clip older than the retention (and no longer needed) as purged, one event each,
    in the caller's transaction; the files go once it commits (`remove_files`)."""
    check_retention(retention_days)
    now = aware(now or utcnow())
    held = _still_needed(session)
    old = session.exec(select(EvidenceClip, SegmentRow.stream_id).join(SegmentRow, SegmentRow.id == EvidenceClip.segment_id)
                       .where(EvidenceClip.purged_at.is_(None),
                              EvidenceClip.cut_at <= now - timedelta(days=retention_days))
                       .order_by(EvidenceClip.cut_at)).all()
    due = [(clip, stream_id) for clip, stream_id in old if clip.segment_id not in held]
    if not due or dry_run:
        return [Purged(c.segment_id, c.clip, aware(c.cut_at)) for c, _ in due]
    hold(session, *{stream_id for _, stream_id in due})
    record_all(session, [Entry(ev.PurgeEvidence(clip=c.clip, cut_at=aware(c.cut_at), retention_days=retention_days),
                               ACTOR, c.segment_id, stream_id, now) for c, stream_id in due])
    log.info("%d evidence clip(s) past %d days marked purged", len(due), retention_days)
    return [Purged(c.segment_id, c.clip, aware(c.cut_at)) for c, _ in due]


def remove_files(session: Session, evidence_dir: Path) -> int:
    """Delete the files of every clip marked purged that is still there (after a purge commits, or
    what a crash between the two left); how many were deleted."""
    removed = 0
    for clip in session.exec(select(EvidenceClip.clip).where(EvidenceClip.purged_at.is_not(None))).all():
        path = evidence_dir / clip
        if path.is_file():
            path.unlink()
            removed += 1
    return removed


def _still_needed(session: Session) -> set[int]:
    """Segments whose clip a reviewer or an appeal may still want: an undecided case, or a penalty
    with an appeal pending."""
    undecided = set(session.exec(select(Case.segment_id).where(Case.status.in_(ev.UNDECIDED))).all())
    appealed = set(session.exec(select(Penalty.segment_id).join(Appeal, Appeal.penalty_id == Penalty.id)
                                .where(Appeal.status == ev.AppealStatus.PENDING)).all())
    return undecided | appealed
