"""The moderation state as projections of the event log (Ozone's model).

Each action has a pure transition below: frozen states and the event's typed payload in, frozen
states out (or a domain error: the rules of the state machine live here, such as "one claim
wins"); no database, no clock. `projector.apply_all` reads the rows events touch, runs their
transitions and writes the result; `moderation.ledger` calls it in the transaction that appends the
events, and `ledger.rebuild` replays the whole log through it, so the state can always be
recomputed from the log.

| action | subject | projection |
|---|---|---|
| `flag` | segment | a `review` flag opens the segment's case |
| `evidence` | segment | the segment's clip (`evidence_clip`) |
| `remind`, `feed_gap`, `feed_lag` | segment, stream | none: the log is their record |
| `report` | stream | a report, with the reporter's credibility then |
| `fold_report` | stream | the earlier report counts one more duplicate |
| `attach_report` | segment | the report points at the segment; its case opens and weighs more |
| `claim` | segment | the actor holds the case until `expires_at` |
| `escalate` | segment | the case waits for a senior, unclaimed |
| `decide` | segment | confirmed (with strikes) or dismissed; the reports' outcomes follow |
| `penalize` | streamer | a penalty |
| `comment` | segment | the case counts one more comment |
| `appeal` | penalty | a pending appeal |
| `resolve_appeal` | appeal | upheld or denied |
| `reverse` | penalty | penalty and strikes undone, the case overturned |"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from pinocchio.core import events as ev
from pinocchio.core.clock import aware
from pinocchio.core.errors import Conflict, Forbidden
from pinocchio.core.events import (
    Action,
    AppealStatus,
    CaseStatus,
    Decision,
    ReportOutcome,
)
from pinocchio.store.projections import (
    Appeal,
    Case,
    EvidenceClip,
    IntakeKey,
    Penalty,
    QaReviewRow,
    Report,
    Strike,
)
from pinocchio.store.tables import ModerationEvent

# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class LoggedEvent:
    """An event as the log holds it, its payload read back into its record."""

    id: int
    created_at: datetime  # when it was appended
    at: datetime  # when the change happened (the writer's logical time)
    actor: str
    action: Action
    subject: str
    stream_id: int | None
    payload: Any  # the action's record from core.events

    @classmethod
    def from_row(cls, row: ModerationEvent | Any) -> "LoggedEvent":  # or a plain row of its columns
        values = json.loads(row.payload)
        created_at = aware(row.created_at)
        at = aware(datetime.fromisoformat(values["at"])) if "at" in values else created_at
        return cls(id=row.id, created_at=created_at, at=at, actor=row.actor, action=Action(row.action),
                   subject=row.subject, stream_id=row.stream_id, payload=ev.decode(row.action, values))

    @property
    def subject_id(self) -> int:
        return int(self.subject.split(":", 1)[1])

    @property
    def values(self) -> dict:
        """The payload as plain JSON values (for printing a history)."""
        return ev.encode(self.payload)


@dataclass(frozen=True)
class SegmentFacts:
    """What a case takes from its stored segment (which never changes, so a replay sees the same)."""

    segment_id: int
    stream_id: int
    severity: int
    score: float


@dataclass(frozen=True)
class CaseState:
    segment_id: int
    stream_id: int
    status: CaseStatus
    severity: int
    score: float
    report_count: int
    report_weight: float
    claimed_by: str | None
    claim_expires_at: datetime | None
    labels: tuple[str, ...]
    decided_by: str | None
    decided_at: datetime | None
    decide_event_id: int | None
    comments: int
    opened_at: datetime
    updated_at: datetime

    def held_by(self, reviewer: str, at: datetime) -> bool:
        return self.claimed_by == reviewer and self.claim_expires_at is not None and self.claim_expires_at > at

    def holder_at(self, at: datetime) -> str | None:
        """Who holds an unexpired claim on the case at `at`."""
        if self.claimed_by and self.claim_expires_at is not None and self.claim_expires_at > at:
            return self.claimed_by
        return None


@dataclass(frozen=True)
class ReportState:
    id: int
    stream_id: int
    scan_id: int | None
    reporter_id: str
    at_s: float
    reported_at: datetime | None
    label: str | None
    comment: str
    credibility: float
    received_at: datetime
    duplicates: int
    outcome: ReportOutcome


@dataclass(frozen=True)
class IntakeKeyState:
    key: str
    report_id: int
    event_id: int


@dataclass(frozen=True)
class StrikeState:
    event_id: int
    label: str
    streamer_id: str
    segment_id: int
    severity: int
    points: int
    created_at: datetime
    expires_at: datetime
    reversed_at: datetime | None


@dataclass(frozen=True)
class PenaltyState:
    id: int
    streamer_id: str
    segment_id: int
    kind: str
    step: int
    points: int
    starts_at: datetime
    ends_at: datetime | None
    ladder_version: str
    reversed_at: datetime | None
    reversed_by: str | None


@dataclass(frozen=True)
class AppealState:
    id: int
    penalty_id: int
    streamer_id: str
    reason: str
    filed_at: datetime
    status: AppealStatus
    resolved_by: str | None
    resolved_at: datetime | None
    comment: str


@dataclass(frozen=True)
class ClipState:
    segment_id: int
    clip: str
    event_id: int
    cut_at: datetime
    purged_at: datetime | None = None  # the file was deleted after its retention


@dataclass(frozen=True)
class QaState:
    segment_id: int
    first_reviewer: str
    first_decision: str
    first_labels: tuple[str, ...]
    second_reviewer: str
    second_decision: str
    second_labels: tuple[str, ...]
    agreed: bool
    reviewed_at: datetime
    resolved_by: str | None
    side: str | None
    resolved_at: datetime | None


# ---------------------------------------------------------------- pure transitions


def case_opened(facts: SegmentFacts, at: datetime) -> CaseState:
    return CaseState(segment_id=facts.segment_id, stream_id=facts.stream_id, status=CaseStatus.OPEN,
                     severity=facts.severity, score=facts.score, report_count=0, report_weight=0.0, claimed_by=None,
                     claim_expires_at=None, labels=(), decided_by=None, decided_at=None, decide_event_id=None,
                     comments=0, opened_at=at, updated_at=at)


def case_reported(case: CaseState, credibility: float, at: datetime) -> CaseState:
    return replace(case, report_count=case.report_count + 1,
                   report_weight=round(case.report_weight + credibility, 6), updated_at=at)


def case_claimed(case: CaseState, reviewer: str, expires_at: datetime, at: datetime) -> CaseState:
    """One claim wins: an undecided case can be taken when nobody else holds an unexpired claim."""
    if case.status not in ev.UNDECIDED:
        raise Conflict(f"case {case.segment_id} is {case.status}: nothing to claim")
    holder = case.holder_at(at)
    if holder is not None and holder != reviewer:
        raise Conflict(f"case {case.segment_id} is claimed by {holder} until "
                       f"{case.claim_expires_at:%Y-%m-%d %H:%M:%S} UTC")
    return replace(case, claimed_by=reviewer, claim_expires_at=expires_at, updated_at=at)


def _held(case: CaseState, reviewer: str, at: datetime) -> None:
    """Deciding or escalating needs an undecided case that `reviewer` holds an unexpired claim on."""
    if case.status not in ev.UNDECIDED:
        raise Conflict(f"case {case.segment_id} is {case.status} already")
    if not case.held_by(reviewer, at):
        holder = case.holder_at(at)
        raise Conflict(f"claim case {case.segment_id} first" + (f"; {holder} holds it" if holder else ""))


def case_escalated(case: CaseState, reviewer: str, at: datetime, overdue: bool = False) -> CaseState:
    """A reviewer holding the case hands it to the seniors; an overdue one goes by itself (its
    deadline), whoever holds it."""
    if overdue:
        if case.status != CaseStatus.OPEN:
            raise Conflict(f"case {case.segment_id} is {case.status}: only an open case is escalated by its deadline")
    else:
        _held(case, reviewer, at)
    if case.status == CaseStatus.ESCALATED:
        raise Conflict(f"case {case.segment_id} is escalated already: a senior decides it")
    return replace(case, status=CaseStatus.ESCALATED, claimed_by=None, claim_expires_at=None, updated_at=at)


def case_decided(case: CaseState, decision: ev.Decide, *, reviewer: str, event_id: int, at: datetime) -> CaseState:
    _held(case, reviewer, at)
    status = CaseStatus.CONFIRMED if decision.decision == Decision.CONFIRM else CaseStatus.DISMISSED
    return replace(case, status=status, labels=tuple(decision.labels), decided_by=reviewer, decided_at=at,
                   decide_event_id=event_id, claimed_by=None, claim_expires_at=None, updated_at=at)


def case_commented(case: CaseState, at: datetime) -> CaseState:
    return replace(case, comments=case.comments + 1, updated_at=at)


def case_overturned(case: CaseState, at: datetime) -> CaseState:
    return replace(case, status=CaseStatus.OVERTURNED, updated_at=at) if case.status == CaseStatus.CONFIRMED else case


def report_received(report: ev.Report, *, event_id: int, stream_id: int, at: datetime) -> ReportState:
    return ReportState(id=event_id, stream_id=stream_id, scan_id=report.scan_id, reporter_id=report.reporter_id,
                       at_s=report.at_s, reported_at=report.reported_at, label=report.label, comment=report.comment,
                       credibility=report.credibility, received_at=at, duplicates=0, outcome=ReportOutcome.PENDING)


def report_folded(report: ReportState) -> ReportState:
    return replace(report, duplicates=report.duplicates + 1)


def report_outcome(case_statuses: Sequence[str]) -> ReportOutcome:
    """A report is confirmed when any case it points at was confirmed, dismissed when every one
    was dismissed or overturned on appeal, and pending while any is undecided (or none exists)."""
    if CaseStatus.CONFIRMED in case_statuses:
        return ReportOutcome.CONFIRMED
    if case_statuses and all(s in (CaseStatus.DISMISSED, CaseStatus.OVERTURNED) for s in case_statuses):
        return ReportOutcome.DISMISSED
    return ReportOutcome.PENDING


def credibility(confirmed: int, dismissed: int) -> float:
    """A reporter's credibility: the mean of a Beta(1, 1) prior updated by how reviewers decided
    their earlier reports, (confirmed + 1) / (confirmed + dismissed + 2). A newcomer counts 0.5."""
    return (confirmed + 1) / (confirmed + dismissed + 2)


def strikes_decided(decision: ev.Decide, *, event_id: int, segment_id: int, at: datetime) -> tuple[StrikeState, ...]:
    if decision.decision != Decision.CONFIRM or not decision.streamer_id:
        return ()
    return tuple(StrikeState(event_id=event_id, label=s.label, streamer_id=decision.streamer_id,
                             segment_id=segment_id, severity=s.severity, points=s.points, created_at=at,
                             expires_at=aware(s.expires_at), reversed_at=None) for s in decision.strikes)


def strike_reversed(strike: StrikeState, at: datetime) -> StrikeState:
    return replace(strike, reversed_at=at)


def penalty_imposed(penalty: ev.Penalize, *, event_id: int) -> PenaltyState:
    return PenaltyState(id=event_id, streamer_id=penalty.streamer_id, segment_id=penalty.segment_id,
                        kind=str(penalty.kind), step=penalty.step, points=penalty.points,
                        starts_at=aware(penalty.starts_at), ends_at=aware(penalty.ends_at),
                        ladder_version=penalty.ladder_version, reversed_at=None, reversed_by=None)


def penalty_reversed(penalty: PenaltyState, by: str, at: datetime) -> PenaltyState:
    if penalty.reversed_at is not None:
        raise Conflict(f"penalty {penalty.id} was reversed already")
    return replace(penalty, reversed_at=at, reversed_by=by)


def appeal_filed(appeal: ev.Appeal, penalty: PenaltyState, pending: AppealState | None, *, event_id: int,
                 at: datetime) -> AppealState:
    """A streamer appeals one of their own penalties, once at a time, while it stands."""
    if penalty.streamer_id != appeal.streamer_id:
        raise Forbidden(f"penalty {penalty.id} is not streamer {appeal.streamer_id}'s")
    if penalty.reversed_at is not None:
        raise Conflict(f"penalty {penalty.id} was reversed already")
    if pending is not None:
        raise Conflict(f"penalty {penalty.id} has a pending appeal already ({pending.id})")
    return AppealState(id=event_id, penalty_id=penalty.id, streamer_id=appeal.streamer_id, reason=appeal.reason,
                       filed_at=at, status=AppealStatus.PENDING, resolved_by=None, resolved_at=None, comment="")


def appeal_resolved(appeal: AppealState, *, upheld: bool, by: str, at: datetime, comment: str) -> AppealState:
    if appeal.status != AppealStatus.PENDING:
        raise Conflict(f"appeal {appeal.id} is {appeal.status} already")
    return replace(appeal, status=AppealStatus.UPHELD if upheld else AppealStatus.DENIED, resolved_by=by,
                   resolved_at=at, comment=comment)


def qa_reviewed(case: CaseState, existing: QaState | None, review: ev.QaReview, *, reviewer: str,
                at: datetime) -> QaState:
    """A second, blind review of a decided case: by someone else, once."""
    if case.status not in (CaseStatus.CONFIRMED, CaseStatus.DISMISSED):
        raise Conflict(f"case {case.segment_id} is {case.status}: only a decided case is reviewed again")
    if reviewer == case.decided_by:
        raise Conflict(f"case {case.segment_id} was decided by {reviewer}: its second review is someone else's")
    if existing is not None:
        raise Conflict(f"case {case.segment_id} was reviewed again already, by {existing.second_reviewer}")
    first = "confirm" if case.status == CaseStatus.CONFIRMED else "dismiss"
    second = str(review.decision)
    labels = tuple(sorted(review.labels))
    return QaState(segment_id=case.segment_id, first_reviewer=case.decided_by or "", first_decision=first,
                   first_labels=tuple(sorted(case.labels)), second_reviewer=reviewer, second_decision=second,
                   second_labels=labels, agreed=first == second and tuple(sorted(case.labels)) == labels,
                   reviewed_at=at, resolved_by=None, side=None, resolved_at=None)


def qa_resolved(qa: QaState, resolve: ev.QaResolve, *, by: str, at: datetime) -> QaState:
    """A senior's word on two reviews that disagree: neither of the two, once."""
    if qa.agreed:
        raise Conflict(f"the two reviews of case {qa.segment_id} agree: nothing to resolve")
    if qa.resolved_by is not None:
        raise Conflict(f"the reviews of case {qa.segment_id} were resolved already, by {qa.resolved_by}")
    if by in (qa.first_reviewer, qa.second_reviewer):
        raise Conflict(f"{by} reviewed case {qa.segment_id}: a third person resolves it")
    if resolve.side not in ("first", "second"):
        raise Conflict("side must be first or second")
    return replace(qa, resolved_by=by, side=resolve.side, resolved_at=at)


# ---------------------------------------------------------------- states <-> rows

TABLES = {CaseState: Case, ReportState: Report, StrikeState: Strike, PenaltyState: Penalty, AppealState: Appeal,
           ClipState: EvidenceClip, IntakeKeyState: IntakeKey, QaState: QaReviewRow}
_ENUMS = {"status": {CaseState: CaseStatus, AppealState: AppealStatus}, "outcome": {ReportState: ReportOutcome}}


def state_of(cls: type, row: Any):
    values = {}
    for f in fields(cls):
        value = getattr(row, f.name)
        if isinstance(value, datetime):
            value = aware(value)
        if f.name.endswith("labels"):
            value = tuple(json.loads(value))
        enum = _ENUMS.get(f.name, {}).get(cls)
        if enum is not None:
            value = enum(value)
        values[f.name] = value
    return cls(**values)


def row_values(state: Any) -> tuple[type, dict[str, Any]]:
    """A state as its table and column values (the inverse of `state_of`)."""
    values = {f.name: getattr(state, f.name) for f in fields(state)}  # shallow: asdict copies deeply
    for name in [n for n in values if n.endswith("labels")]:
        values[name] = json.dumps(list(values[name]), ensure_ascii=False)
    values = {k: str(v) if isinstance(v, (CaseStatus, AppealStatus, ReportOutcome)) else v for k, v in values.items()}
    return TABLES[type(state)], values
