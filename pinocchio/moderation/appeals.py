"""Appeals: a streamer contests a penalty; a senior reviewer (not the one who decided the case)
resolves it. Upholding it appends a `reverse` event: the penalty ends, the decision's strikes stop
counting, the case is marked overturned and its reports count as dismissed for credibility."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import Forbidden, InputError, NotFound
from pinocchio.moderation.ledger import hold, record
from pinocchio.moderation.reviewers import require_role
from pinocchio.store.projections import Appeal, Case, Penalty

MAX_REASON_CHARS = 4000


@dataclass(frozen=True)
class AppealInfo:
    id: int
    penalty_id: int
    streamer_id: str
    reason: str
    filed_at: datetime
    status: str  # pending, upheld, denied
    resolved_by: str | None
    resolved_at: datetime | None
    comment: str


def file_appeal(session: Session, *, penalty_id: int, streamer_id: str, reason: str,
                now: datetime | None = None) -> AppealInfo:
    """The streamer contests one of their penalties; it waits for a senior."""
    now = aware(now or utcnow())
    reason = (reason or "").strip()
    if not reason:
        raise InputError("an appeal needs a reason")
    if len(reason) > MAX_REASON_CHARS:
        raise InputError(f"reason is {len(reason)} characters, more than {MAX_REASON_CHARS}")
    # Whose penalty it is, whether it stands and whether an appeal is pending: the transition's rules.
    event = record(session, ev.Appeal(streamer_id=streamer_id, reason=reason), actor=f"streamer:{streamer_id}",
                   subject_id=penalty_id, at=now)
    return _info(session.get(Appeal, event.id))


def resolve_appeal(session: Session, *, reviewer: str, appeal_id: int, uphold: bool, comment: str = "",
                   now: datetime | None = None) -> AppealInfo:
    """Uphold (reverse the penalty and its strikes) or deny an appeal. Seniors and admins only,
    and not the reviewer who decided the case."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "senior", "resolving an appeal")
    hold(session)
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound(f"no appeal {appeal_id}")
    penalty = session.get(Penalty, appeal.penalty_id)
    case = session.get(Case, penalty.segment_id)
    if case is not None and case.decided_by == reviewer:
        raise Forbidden(f"'{reviewer}' decided case {case.segment_id}: another senior resolves its appeal")
    comment = (comment or "").strip()
    record(session, ev.ResolveAppeal(upheld=bool(uphold), comment=comment, penalty_id=penalty.id), actor=reviewer,
           subject_id=appeal_id, at=now)
    if uphold:
        record(session, ev.Reverse(appeal_id=appeal_id, segment_id=penalty.segment_id,
                                   decide_event_id=case.decide_event_id if case else None),
               actor=reviewer, subject_id=penalty.id, stream_id=case.stream_id if case else None, at=now)
    session.refresh(appeal)
    return _info(appeal)


def list_appeals(session: Session, *, status: str | None = None, streamer_id: str | None = None) -> list[AppealInfo]:
    query = select(Appeal).order_by(Appeal.id)
    if status is not None:
        query = query.where(Appeal.status == status)
    if streamer_id is not None:
        query = query.where(Appeal.streamer_id == streamer_id)
    return [_info(a) for a in session.exec(query).all()]


def _info(row: Appeal) -> AppealInfo:
    return AppealInfo(id=row.id, penalty_id=row.penalty_id, streamer_id=row.streamer_id, reason=row.reason,
                      filed_at=aware(row.filed_at), status=row.status, resolved_by=row.resolved_by,
                      resolved_at=aware(row.resolved_at), comment=row.comment)
