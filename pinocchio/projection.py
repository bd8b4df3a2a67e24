"""The moderation state as projections of the event log (Ozone's model).

Every change goes through `record`: it appends one `ModerationEvent` (hash-chained by
`store.append_event`) and applies it to the projection tables (`moderation_tables`) in the same
transaction, through the pure transition functions below (frozen states in, frozen states out;
no database, no clock). `rebuild` empties the projections and replays the whole log through the
same functions, so the state can always be recomputed from the log.

Events and their payloads (every payload carries `at`, the logical time of the change, ISO 8601):

| action | subject | payload |
|---|---|---|
| `flag` (pipeline) | segment:ID | action: review opens a case (written by `store.add_verdicts`) |
| `report` kind=intake | stream:ID | reporter_id, at_s, reported_at, scan_id, label, comment, credibility |
| `report` kind=duplicate | stream:ID | report_id it folds into |
| `report` kind=attach | segment:ID | report_id: the report now points at this segment |
| `acknowledge` | segment:ID | claim_expires_at: the actor claims the case |
| `escalate` | segment:ID | comment: to a senior reviewer |
| `decide` | segment:ID | decision confirm/dismiss, labels, streamer_id, strikes [{label, severity, points, expires_at}], ladder_version |
| `penalize` | streamer:ID | segment_id, kind, step, points, starts_at, ends_at, ladder_version |
| `comment` | segment:ID | text |
| `appeal` | penalty:ID | streamer_id, reason |
| `resolve_appeal` | appeal:ID | upheld, comment |
| `reverse` | penalty:ID | appeal_id, segment_id, decide_event_id: penalty, strikes and decision undone |

Cases opened by the pipeline's `flag` events (which `store.add_verdicts` appends without touching
the projections) are caught up by `sync_flagged` before any new event is recorded."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from pinocchio import store
from pinocchio.moderation_tables import (PROJECTIONS, Appeal, Case, Penalty, Report, ReportLink,
                                         Strike)
from pinocchio.store import FindingRow, ModerationEvent, SegmentRow, take_turn  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- records


def aware(moment: datetime | None) -> datetime | None:
    """UTC with its zone: SQLite gives datetimes back naive."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else aware(moment).isoformat()


def parse_iso(text: str | None) -> datetime | None:
    return None if text is None else aware(datetime.fromisoformat(text))


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    created_at: datetime
    actor: str
    action: str
    subject: str
    stream_id: int | None
    payload: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: ModerationEvent) -> "LoggedEvent":  # or a plain row of its columns
        return cls(id=row.id, created_at=aware(row.created_at), actor=row.actor, action=row.action,
                   subject=row.subject, stream_id=row.stream_id, payload=json.loads(row.payload))

    @property
    def at(self) -> datetime:
        """When the change happened: the payload's logical time, else the append time."""
        return parse_iso(self.payload["at"]) if "at" in self.payload else self.created_at

    @property
    def subject_id(self) -> int:
        return int(self.subject.split(":", 1)[1])


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
    status: str
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
    outcome: str


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
    status: str
    resolved_by: str | None
    resolved_at: datetime | None
    comment: str


# ---------------------------------------------------------------- pure transitions


def case_opened(facts: SegmentFacts, at: datetime) -> CaseState:
    return CaseState(segment_id=facts.segment_id, stream_id=facts.stream_id, status="open", severity=facts.severity,
                     score=facts.score, report_count=0, report_weight=0.0, claimed_by=None, claim_expires_at=None,
                     labels=(), decided_by=None, decided_at=None, decide_event_id=None, comments=0, opened_at=at,
                     updated_at=at)


def case_reported(case: CaseState, credibility: float, at: datetime) -> CaseState:
    return replace(case, report_count=case.report_count + 1,
                   report_weight=round(case.report_weight + credibility, 6), updated_at=at)


def case_claimed(case: CaseState, reviewer: str, expires_at: datetime, at: datetime) -> CaseState:
    return replace(case, claimed_by=reviewer, claim_expires_at=expires_at, updated_at=at)


def case_escalated(case: CaseState, at: datetime) -> CaseState:
    return replace(case, status="escalated", claimed_by=None, claim_expires_at=None, updated_at=at)


def case_decided(case: CaseState, *, decision: str, labels: Sequence[str], reviewer: str, event_id: int,
                 at: datetime) -> CaseState:
    status = {"confirm": "confirmed", "dismiss": "dismissed"}[decision]
    return replace(case, status=status, labels=tuple(labels), decided_by=reviewer, decided_at=at,
                   decide_event_id=event_id, claimed_by=None, claim_expires_at=None, updated_at=at)


def case_commented(case: CaseState, at: datetime) -> CaseState:
    return replace(case, comments=case.comments + 1, updated_at=at)


def case_overturned(case: CaseState, at: datetime) -> CaseState:
    return replace(case, status="overturned", updated_at=at)


def report_received(event: LoggedEvent) -> ReportState:
    p = event.payload
    return ReportState(id=event.id, stream_id=event.stream_id, scan_id=p.get("scan_id"), reporter_id=p["reporter_id"],
                       at_s=float(p["at_s"]), reported_at=parse_iso(p.get("reported_at")), label=p.get("label"),
                       comment=p.get("comment", ""), credibility=float(p["credibility"]), received_at=event.at,
                       duplicates=0, outcome="pending")


def report_folded(report: ReportState) -> ReportState:
    return replace(report, duplicates=report.duplicates + 1)


def report_outcome(case_statuses: Sequence[str]) -> str:
    """A report is confirmed when any case it points at was confirmed, dismissed when every one
    was dismissed or overturned on appeal, and pending while any is undecided (or none exists)."""
    if "confirmed" in case_statuses:
        return "confirmed"
    if case_statuses and all(s in ("dismissed", "overturned") for s in case_statuses):
        return "dismissed"
    return "pending"


def credibility(confirmed: int, dismissed: int) -> float:
    """A reporter's credibility: the mean of a Beta(1, 1) prior updated by how reviewers decided
    their earlier reports, (confirmed + 1) / (confirmed + dismissed + 2). A newcomer counts 0.5."""
    return (confirmed + 1) / (confirmed + dismissed + 2)


def strikes_decided(event: LoggedEvent) -> tuple[StrikeState, ...]:
    p = event.payload
    if p["decision"] != "confirm" or not p.get("streamer_id"):
        return ()
    return tuple(StrikeState(event_id=event.id, label=s["label"], streamer_id=p["streamer_id"],
                             segment_id=event.subject_id, severity=s["severity"], points=s["points"],
                             created_at=event.at, expires_at=parse_iso(s["expires_at"]), reversed_at=None)
                 for s in p.get("strikes", ()))


def strike_reversed(strike: StrikeState, at: datetime) -> StrikeState:
    return replace(strike, reversed_at=at)


def penalty_imposed(event: LoggedEvent) -> PenaltyState:
    p = event.payload
    return PenaltyState(id=event.id, streamer_id=p["streamer_id"], segment_id=p["segment_id"], kind=p["kind"],
                        step=p["step"], points=p["points"], starts_at=parse_iso(p["starts_at"]),
                        ends_at=parse_iso(p.get("ends_at")), ladder_version=p["ladder_version"], reversed_at=None,
                        reversed_by=None)


def penalty_reversed(penalty: PenaltyState, by: str, at: datetime) -> PenaltyState:
    return replace(penalty, reversed_at=at, reversed_by=by)


def appeal_filed(event: LoggedEvent) -> AppealState:
    p = event.payload
    return AppealState(id=event.id, penalty_id=event.subject_id, streamer_id=p["streamer_id"], reason=p["reason"],
                       filed_at=event.at, status="pending", resolved_by=None, resolved_at=None, comment="")


def appeal_resolved(appeal: AppealState, *, upheld: bool, by: str, at: datetime, comment: str) -> AppealState:
    return replace(appeal, status="upheld" if upheld else "denied", resolved_by=by, resolved_at=at, comment=comment)


# ---------------------------------------------------------------- states <-> rows

_TABLES = {CaseState: Case, ReportState: Report, StrikeState: Strike, PenaltyState: Penalty, AppealState: Appeal}


def state_of(cls: type, row: Any):
    values = {}
    for f in fields(cls):
        value = getattr(row, f.name)
        if isinstance(value, datetime):
            value = aware(value)
        if f.name == "labels":
            value = tuple(json.loads(value))
        values[f.name] = value
    return cls(**values)


def _save(session: Session, state: Any, key: Any) -> None:
    table = _TABLES[type(state)]
    values = asdict(state)
    if "labels" in values:
        values["labels"] = json.dumps(list(values["labels"]), ensure_ascii=False)
    row = session.get(table, key)
    if row is None:
        session.add(table(**values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


def load_case(session: Session, segment_id: int) -> CaseState | None:
    row = session.get(Case, segment_id)
    return None if row is None else state_of(CaseState, row)


def save_case(session: Session, case: CaseState) -> None:
    _save(session, case, case.segment_id)


def segment_facts(session: Session, segment_id: int) -> SegmentFacts:
    segment = session.get(SegmentRow, segment_id)
    findings = session.exec(select(FindingRow).where(FindingRow.segment_id == segment_id)).all()
    return SegmentFacts(segment_id=segment_id, stream_id=segment.stream_id,
                        severity=max((f.severity for f in findings), default=0),
                        score=round(max((f.score for f in findings), default=0.0), 6))


# ---------------------------------------------------------------- applying events


def apply_event(session: Session, event: LoggedEvent) -> None:
    """Project one event: read the rows it touches, run the transition, write the result."""
    handler = _HANDLERS.get(event.action)
    if handler is not None:
        handler(session, event)
        session.flush()


def _on_flag(session: Session, event: LoggedEvent) -> None:
    if event.payload.get("action") == "review" and load_case(session, event.subject_id) is None:
        save_case(session, case_opened(segment_facts(session, event.subject_id), event.created_at))


def _on_report(session: Session, event: LoggedEvent) -> None:
    kind = event.payload["kind"]
    if kind == "intake":
        _save(session, report_received(event), event.id)
    elif kind == "duplicate":
        report = state_of(ReportState, session.get(Report, event.payload["report_id"]))
        _save(session, report_folded(report), report.id)
    elif kind == "attach":
        segment_id, report_id = event.subject_id, event.payload["report_id"]
        report = session.get(Report, report_id)
        session.add(ReportLink(report_id=report_id, segment_id=segment_id, attached_at=event.at))
        case = load_case(session, segment_id) or case_opened(segment_facts(session, segment_id), event.at)
        save_case(session, case_reported(case, report.credibility, event.at))
        session.flush()
        _recompute_outcomes(session, [report_id])


def _on_acknowledge(session: Session, event: LoggedEvent) -> None:
    case = load_case(session, event.subject_id)
    save_case(session, case_claimed(case, event.actor, parse_iso(event.payload["claim_expires_at"]), event.at))


def _on_escalate(session: Session, event: LoggedEvent) -> None:
    save_case(session, case_escalated(load_case(session, event.subject_id), event.at))


def _on_decide(session: Session, event: LoggedEvent) -> None:
    p = event.payload
    case = case_decided(load_case(session, event.subject_id), decision=p["decision"], labels=p.get("labels", ()),
                        reviewer=event.actor, event_id=event.id, at=event.at)
    save_case(session, case)
    for strike in strikes_decided(event):
        _save(session, strike, (strike.event_id, strike.label))
    session.flush()
    _recompute_outcomes(session, _reports_of(session, event.subject_id))


def _on_penalize(session: Session, event: LoggedEvent) -> None:
    _save(session, penalty_imposed(event), event.id)


def _on_comment(session: Session, event: LoggedEvent) -> None:
    if event.subject.startswith("segment:"):
        save_case(session, case_commented(load_case(session, event.subject_id), event.at))


def _on_appeal(session: Session, event: LoggedEvent) -> None:
    _save(session, appeal_filed(event), event.id)


def _on_resolve_appeal(session: Session, event: LoggedEvent) -> None:
    appeal = state_of(AppealState, session.get(Appeal, event.subject_id))
    _save(session, appeal_resolved(appeal, upheld=bool(event.payload["upheld"]), by=event.actor, at=event.at,
                                   comment=event.payload.get("comment", "")), appeal.id)


def _on_reverse(session: Session, event: LoggedEvent) -> None:
    p = event.payload
    penalty = state_of(PenaltyState, session.get(Penalty, event.subject_id))
    _save(session, penalty_reversed(penalty, event.actor, event.at), penalty.id)
    for row in session.exec(select(Strike).where(Strike.event_id == p["decide_event_id"])).all():
        _save(session, strike_reversed(state_of(StrikeState, row), event.at), (row.event_id, row.label))
    case = load_case(session, p["segment_id"])
    if case is not None and case.status == "confirmed":
        save_case(session, case_overturned(case, event.at))
    session.flush()
    _recompute_outcomes(session, _reports_of(session, p["segment_id"]))


_HANDLERS = {"flag": _on_flag, "report": _on_report, "acknowledge": _on_acknowledge, "escalate": _on_escalate,
             "decide": _on_decide, "penalize": _on_penalize, "comment": _on_comment, "appeal": _on_appeal,
             "resolve_appeal": _on_resolve_appeal, "reverse": _on_reverse}


def _reports_of(session: Session, segment_id: int) -> list[int]:
    return list(session.exec(select(ReportLink.report_id).where(ReportLink.segment_id == segment_id)).all())


def _recompute_outcomes(session: Session, report_ids: Sequence[int]) -> None:
    for report_id in report_ids:
        statuses = session.exec(select(Case.status).join(ReportLink, ReportLink.segment_id == Case.segment_id)
                                .where(ReportLink.report_id == report_id)).all()
        report = state_of(ReportState, session.get(Report, report_id))
        _save(session, replace(report, outcome=report_outcome(list(statuses))), report_id)


# ---------------------------------------------------------------- recording, catching up, rebuilding


def sync_flagged(session: Session) -> int:
    """Open the cases of `review` segments whose `flag` events were appended by the pipeline and not
    yet projected. Opening commutes with every event about other segments, so catching up late
    gives what a replay in log order gives."""
    pending = session.exec(select(SegmentRow.id).outerjoin(Case, Case.segment_id == SegmentRow.id)
                           .where(SegmentRow.action == "review", Case.segment_id.is_(None))
                           .order_by(SegmentRow.id)).all()
    opened = 0
    for segment_id in pending:
        flag = session.exec(select(ModerationEvent).where(ModerationEvent.subject == f"segment:{segment_id}",
                                                          ModerationEvent.action == "flag")
                            .order_by(ModerationEvent.id).limit(1)).first()
        if flag is not None:
            apply_event(session, LoggedEvent.from_row(flag))
            opened += 1
    return opened


def record(session: Session, *, actor: str, action: str, subject: str, payload: dict,
           stream_id: int | None = None) -> LoggedEvent:
    """Append one event to the log and apply it to the projections, in the caller's transaction."""
    take_turn(session)
    sync_flagged(session)
    row = store.append_event(session, actor=actor, action=action, subject=subject, payload=payload,
                             stream_id=stream_id)
    event = LoggedEvent.from_row(row)
    apply_event(session, event)
    log.info("%s %s by %s", action, subject, actor)
    return event


def rebuild(session: Session) -> int:
    """Empty the projections and replay the whole log into them; returns the events replayed.
    The session is flushed and its objects detached first (projection rows are rewritten)."""
    take_turn(session)
    session.flush()
    session.expunge_all()
    for table in PROJECTIONS:
        session.exec(delete(table))
    session.flush()
    columns = (ModerationEvent.id, ModerationEvent.created_at, ModerationEvent.actor, ModerationEvent.action,
               ModerationEvent.subject, ModerationEvent.stream_id, ModerationEvent.payload)
    count = 0
    last_id = 0
    while True:  # plain rows in pages, so a long log never sits in memory whole
        rows = session.exec(select(*columns).where(ModerationEvent.id > last_id)
                            .order_by(ModerationEvent.id).limit(1000)).all()
        if not rows:
            break
        for row in rows:
            apply_event(session, LoggedEvent.from_row(row))
            count += 1
        last_id = rows[-1].id
    return count


def snapshot(session: Session) -> dict[str, list[dict]]:
    """Every projection row as plain values (times in UTC), to compare a rebuild with the live state."""
    result = {}
    for table in PROJECTIONS:
        keys = [c for c in table.__table__.primary_key.columns]
        rows = session.exec(select(table).order_by(*keys)).all()
        result[table.__tablename__] = [{k: aware(v) if isinstance(v, datetime) else v
                                        for k, v in row.model_dump().items()} for row in rows]
    return result


def event_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(ModerationEvent)).one()
