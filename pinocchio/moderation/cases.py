"""Cases and the review queue: a case per `review` segment and per reported segment; reviewers
claim one at a time and confirm (with labels), dismiss, escalate to a senior or comment.
Confirming adds strikes to the streamer and the ladder decides the penalty.

Priority (higher first; computed when the queue is read, because strikes expire):

    priority = 10 * severity + 5 * score + 3 * min(report_weight, 5) + 2 * min(strike_points, 5)

- severity: the highest finding severity of the segment (0-3; 0 for a segment only viewers flagged);
- score: the highest finding score (the classifier's probability; a lexicon hit scores 1.0);
- report_weight: the sum of the attached reports' credibility, each (c + 1) / (c + d + 2) for a
  reporter with c confirmed and d dismissed earlier reports (a newcomer weighs 0.5);
- strike_points: the streamer's active strike points now (0 when the stream has no streamer).
Caps keep a flood of reports or a long record from outranking a severe claim. Example: severity 3,
score 0.8, reports weighing 0.5 + 0.75, a streamer with 3 points: 30 + 4 + 3.75 + 6 = 43.75.

Every undecided case is due by a deadline (`moderation/deadlines.py`: by severity, and sooner while
its stream is live); overdue cases come first, the most overdue first, then the rest by priority.

A claim lasts `claim_minutes`. One claim wins: the `claim` transition refuses a case someone else
holds, and writers of the log take turns, so two reviewers never hold the same case. Escalated
cases are for seniors. Reading the queue writes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import Forbidden, InputError, NotFound
from pinocchio.core.events import CaseStatus
from pinocchio.core.labels import check_label, label_table
from pinocchio.core.records import MAX_ID
from pinocchio.moderation.deadlines import live_streams, load_deadlines
from pinocchio.moderation.ladder import Ladder, PenaltyPlan, load_ladder
from pinocchio.moderation.ledger import history, history_count, hold, record
from pinocchio.moderation.penalties import active_strike_points
from pinocchio.moderation.projection import CaseState, LoggedEvent
from pinocchio.moderation.projector import load_case
from pinocchio.moderation.reviewers import at_least, require_role
from pinocchio.store.projections import Case
from pinocchio.store.tables import FindingRow, SegmentRow, Stream

OPEN = ev.UNDECIDED
MAX_COMMENT_CHARS = 4000


@dataclass(frozen=True)
class CaseOptions:
    claim_minutes: float = 30.0


@dataclass(frozen=True)
class CaseInfo:
    segment_id: int
    stream_id: int
    streamer_id: str | None
    status: str
    priority: float
    severity: int
    score: float
    report_count: int
    report_weight: float
    strike_points: int
    claimed_by: str | None
    claim_expires_at: datetime | None
    labels: tuple[str, ...]  # confirmed labels, once decided
    found_labels: tuple[str, ...]  # what the pipeline found
    decided_by: str | None
    start_s: float
    end_s: float
    text: str
    opened_at: datetime
    due_at: datetime | None = None  # when an undecided case should be decided (None once decided)
    live: bool = False  # its stream is on air now

    def overdue_at(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at <= now


@dataclass(frozen=True)
class StrikePlan:
    label: str
    severity: int
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class Decision:
    """What a decision did: the labels confirmed, the strikes given and the penalty imposed."""

    segment_id: int
    decision: ev.Decision
    labels: tuple[str, ...]
    streamer_id: str | None  # None: the stream names no streamer, so no strikes
    strikes: tuple[StrikePlan, ...]
    penalty_id: int | None
    penalty: PenaltyPlan | None


def priority(severity: int, score: float, report_weight: float, strike_points: int) -> float:
    """The queue's order; see the module docstring."""
    return round(10 * severity + 5 * score + 3 * min(report_weight, 5.0) + 2 * min(strike_points, 5), 4)


@dataclass(frozen=True)
class QueueFilter:
    label: str | None = None  # found by the pipeline, or confirmed
    stream: str | None = None  # the stream's id or name
    streamer_id: str | None = None
    older_than: timedelta | None = None


@dataclass(frozen=True)
class QueuePage:
    cases: list[CaseInfo]
    total: int  # cases in the whole queue (after the filter)
    page: int  # from 1
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def review_queue(session: Session, *, reviewer: str | None = None, now: datetime | None = None,
                 limit: int = 50) -> list[CaseInfo]:
    """Open and escalated cases, highest priority first (then oldest). With `reviewer`, only the
    cases they may claim now: unclaimed, expired or theirs, and escalated ones only for seniors."""
    return queue_page(session, reviewer=reviewer, now=now, per_page=limit).cases


def queue_page(session: Session, *, reviewer: str | None = None, now: datetime | None = None,
               where: QueueFilter = QueueFilter(), page: int = 1, per_page: int = 50) -> QueuePage:
    """One page of the queue (see `review_queue`), filtered in the query. Every case's priority
    is worked out from its row and its streamer's strike points (read once per streamer); only
    the page's cases are read in full."""
    now = aware(now or utcnow())
    query = select(Case, Stream.streamer_id).join(Stream, Stream.id == Case.stream_id).where(Case.status.in_(OPEN))
    if reviewer is not None:
        info = require_role(session, reviewer, "reviewer", "reading the queue")
        query = query.where(or_(Case.claimed_by.is_(None), Case.claim_expires_at <= now, Case.claimed_by == reviewer))
        if not at_least(info, "senior"):
            query = query.where(Case.status == "open")
    if where.label:
        found = select(FindingRow.segment_id).where(FindingRow.label == where.label)
        query = query.where(or_(Case.segment_id.in_(found), Case.labels.contains(json.dumps(where.label))))
    if where.stream:
        name = where.stream.strip()
        query = query.where(or_(Stream.name == name, Case.stream_id == int(name)) if name.isdigit()
                            and int(name) <= MAX_ID else Stream.name == name)
    if where.streamer_id:
        query = query.where(Stream.streamer_id == where.streamer_id)
    if where.older_than is not None:
        query = query.where(Case.opened_at <= now - where.older_than)
    points: dict[str | None, int] = {None: 0}
    rows = session.exec(query).all()
    deadlines = load_deadlines()
    live = live_streams(session, {row.stream_id for row, _ in rows})
    ranked = []
    for row, streamer_id in rows:
        if streamer_id not in points:
            points[streamer_id] = active_strike_points(session, streamer_id, now)
        due = deadlines.due_at(row.opened_at, row.severity, row.stream_id in live)
        # Overdue first, the most overdue first; then by priority, then oldest.
        order = (0, due.timestamp()) if due <= now else (1, -priority(row.severity, row.score, row.report_weight,
                                                                       points[streamer_id]))
        ranked.append((order, aware(row.opened_at), row.segment_id, row))
    ranked.sort(key=lambda r: r[:3])
    page = max(1, page)
    chosen = ranked[(page - 1) * per_page: page * per_page]
    return QueuePage(cases=[_info(session, row, now, deadlines, live) for *_, row in chosen], total=len(ranked),
                     page=page, per_page=per_page)


def get_case(session: Session, segment_id: int, now: datetime | None = None) -> CaseInfo:
    row = session.get(Case, segment_id)
    if row is None:
        raise NotFound(f"no case for segment {segment_id}")
    return _info(session, row, aware(now or utcnow()))


def case_history(session: Session, segment_id: int, *, offset: int = 0, limit: int | None = None) -> list[LoggedEvent]:
    """The events about the segment, oldest first (all, or a page): flag, reports, claims,
    comments, decision..."""
    return history(session, ev.subject(ev.SubjectKind.SEGMENT, segment_id), offset=offset, limit=limit)


def case_history_count(session: Session, segment_id: int) -> int:
    return history_count(session, ev.subject(ev.SubjectKind.SEGMENT, segment_id))


def claim_case(session: Session, *, reviewer: str, segment_id: int, now: datetime | None = None,
               options: CaseOptions = CaseOptions()) -> CaseInfo:
    """Take the case for `options.claim_minutes`; `Conflict` if someone else holds it."""
    now = aware(now or utcnow())
    info = require_role(session, reviewer, "reviewer", "claiming a case")
    hold(session)
    case = _case(session, segment_id)
    if case.status == CaseStatus.ESCALATED and not at_least(info, "senior"):
        raise Forbidden(f"case {segment_id} is escalated: it needs a senior; '{reviewer}' is a {info.role}")
    record(session, ev.Claim(expires_at=now + timedelta(minutes=options.claim_minutes)), actor=reviewer,
           subject_id=segment_id, stream_id=case.stream_id, at=now)
    return _info(session, session.get(Case, segment_id), now)


def confirm_case(session: Session, *, reviewer: str, segment_id: int, labels: list[str] | tuple[str, ...],
                 comment: str = "", now: datetime | None = None, ladder: Ladder | None = None) -> Decision:
    """The segment breaks the rules under `labels`: strikes for the streamer, and the ladder's
    penalty for their active points (none when the stream names no streamer)."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "reviewer", "confirming a case")
    labels = tuple(sorted(set(labels)))
    if not labels:
        raise InputError("confirming needs at least one label")
    for label in labels:
        check_label(label)
    comment = _comment(comment)
    hold(session)
    case = _case(session, segment_id)
    ladder = ladder or load_ladder()
    streamer_id = session.get(Stream, case.stream_id).streamer_id
    strikes: tuple[StrikePlan, ...] = ()
    if streamer_id:
        found: dict[str, int] = {}
        for f in session.exec(select(FindingRow).where(FindingRow.segment_id == segment_id)).all():
            found[f.label] = max(found.get(f.label, 0), f.severity)
        table = label_table()
        strikes = tuple(StrikePlan(label=label, severity=found.get(label) or table[label].severity,
                                   points=ladder.points_for(label, found.get(label) or table[label].severity),
                                   expires_at=ladder.strike_expires_at(now)) for label in labels)
    record(session, ev.Decide(decision=ev.Decision.CONFIRM, labels=labels, comment=comment, streamer_id=streamer_id,
                              ladder_version=ladder.version,
                              strikes=tuple(ev.StrikeGiven(label=s.label, severity=s.severity, points=s.points,
                                                           expires_at=s.expires_at) for s in strikes)),
           actor=reviewer, subject_id=segment_id, stream_id=case.stream_id, at=now)
    plan = penalty_id = None
    if strikes and sum(s.points for s in strikes) > 0:
        plan = ladder.penalty_for(active_strike_points(session, streamer_id, now), now)
        if plan is not None:
            penalty_id = record(session, ev.Penalize(streamer_id=streamer_id, segment_id=segment_id, kind=plan.kind,
                                                     step=plan.step, points=plan.points, starts_at=plan.starts_at,
                                                     ends_at=plan.ends_at, ladder_version=ladder.version,
                                                     decided_by=reviewer),
                                actor=f"ladder@{ladder.version}", subject_id=streamer_id, stream_id=case.stream_id,
                                at=now).id
    return Decision(segment_id=segment_id, decision=ev.Decision.CONFIRM, labels=labels, streamer_id=streamer_id,
                    strikes=strikes, penalty_id=penalty_id, penalty=plan)


def dismiss_case(session: Session, *, reviewer: str, segment_id: int, comment: str = "",
                 now: datetime | None = None) -> Decision:
    """Nothing wrong here: the case closes without strikes."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "reviewer", "dismissing a case")
    comment = _comment(comment)
    hold(session)
    case = _case(session, segment_id)
    record(session, ev.Decide(decision=ev.Decision.DISMISS, labels=(), comment=comment), actor=reviewer,
           subject_id=segment_id, stream_id=case.stream_id, at=now)
    return Decision(segment_id=segment_id, decision=ev.Decision.DISMISS, labels=(), streamer_id=None, strikes=(),
                    penalty_id=None, penalty=None)


def escalate_case(session: Session, *, reviewer: str, segment_id: int, comment: str = "",
                  now: datetime | None = None) -> CaseInfo:
    """Hand the case to the seniors; the claim is released."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "reviewer", "escalating a case")
    comment = _comment(comment)
    hold(session)
    case = _case(session, segment_id)
    record(session, ev.Escalate(comment=comment), actor=reviewer, subject_id=segment_id, stream_id=case.stream_id,
           at=now)
    return _info(session, session.get(Case, segment_id), now)


def comment_case(session: Session, *, reviewer: str, segment_id: int, text: str,
                 now: datetime | None = None) -> LoggedEvent:
    """A note on the case, for the record; any reviewer, any state, no claim needed."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "reviewer", "commenting")
    text = _comment(text)
    if not text:
        raise InputError("a comment needs some text")
    case = _case(session, segment_id)
    return record(session, ev.Comment(text=text), actor=reviewer, subject_id=segment_id, stream_id=case.stream_id,
                  at=now)


# ---------------------------------------------------------------- helpers


def _comment(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise InputError(f"comment is {len(text)} characters, more than {MAX_COMMENT_CHARS}")
    return text


def _case(session: Session, segment_id: int) -> CaseState:
    case = load_case(session, segment_id)
    if case is None:
        raise NotFound(f"no case for segment {segment_id}")
    return case


def _info(session: Session, row: Case, now: datetime, deadlines=None, live: set[int] | None = None) -> CaseInfo:
    stream = session.get(Stream, row.stream_id)
    if live is None:
        live = live_streams(session, {row.stream_id})
    on_air = row.stream_id in live
    due = (deadlines or load_deadlines()).due_at(row.opened_at, row.severity, on_air) if row.status in OPEN else None
    segment = session.get(SegmentRow, row.segment_id)
    found = session.exec(select(FindingRow.label).where(FindingRow.segment_id == row.segment_id).distinct()).all()
    points = active_strike_points(session, stream.streamer_id, now) if stream.streamer_id else 0
    return CaseInfo(segment_id=row.segment_id, stream_id=row.stream_id, streamer_id=stream.streamer_id,
                    status=row.status, priority=priority(row.severity, row.score, row.report_weight, points),
                    severity=row.severity, score=row.score, report_count=row.report_count,
                    report_weight=row.report_weight, strike_points=points, claimed_by=row.claimed_by,
                    claim_expires_at=aware(row.claim_expires_at), labels=tuple(json.loads(row.labels)),
                    found_labels=tuple(sorted(found)), decided_by=row.decided_by, start_s=segment.start_ms / 1000,
                    end_s=segment.end_ms / 1000, text=segment.text, opened_at=aware(row.opened_at), due_at=due,
                    live=on_air)
