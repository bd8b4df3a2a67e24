"""Applying events to the projections: read the rows an event touches, run its pure transition
(`projection`), write the result. `apply_all` projects a batch of events (an intake group, a page
of a replay) through one `Rows`, which keeps the rows it read or made between events, so the
batch reads each row once and is flushed once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, bindparam, event, func, insert, inspect, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from pinocchio.core.clock import aware
from pinocchio.core.errors import Conflict, NotFound
from pinocchio.core.events import Action, AppealStatus
from pinocchio.core.records import VerdictAction
from pinocchio.moderation.projection import (
    TABLES,
    AppealState,
    CaseState,
    ClipState,
    IntakeKeyState,
    LoggedEvent,
    PenaltyState,
    QaState,
    ReportState,
    SegmentFacts,
    StrikeState,
    appeal_filed,
    appeal_resolved,
    case_claimed,
    case_commented,
    case_decided,
    case_escalated,
    case_opened,
    case_overturned,
    case_reported,
    penalty_imposed,
    penalty_reversed,
    qa_resolved,
    qa_reviewed,
    report_folded,
    report_outcome,
    report_received,
    row_values,
    state_of,
    strike_reversed,
    strikes_decided,
)
from pinocchio.store.projections import Appeal, Case, EvidenceClip, Penalty, QaReviewRow, Report, ReportLink, Strike
from pinocchio.store.tables import FindingRow, SegmentRow


class Rows:
    """The projection rows a transaction's events read and write, as states: each row is read
    once, changed in memory by every event that touches it, and written by `write` in one bulk
    statement per table (inserts, then updates by primary key). Also the segments' facts and the
    segments each touched report points at. ORM copies of written rows are expired, so a later
    read in the session sees what was written."""

    def __init__(self, session: Session):
        self.session = session
        self._states: dict[tuple[type, Any], Any] = {}  # (table, key) -> state, or None: no such row
        self._new: dict[tuple[type, Any], None] = {}  # keys to insert, in order
        self._changed: dict[tuple[type, Any], None] = {}  # keys to update
        self._new_links: list[dict[str, Any]] = []
        self._facts: dict[int, SegmentFacts] = {}
        self._links: dict[int, set[int]] = {}  # report id -> segment ids, for reports touched

    def state(self, cls: type, table: type, key: Any) -> Any:
        if (table, key) not in self._states:
            row = self.session.get(table, key)
            self._states[table, key] = None if row is None else state_of(cls, row)
        return self._states[table, key]

    def loaded(self, cls: type, table: type, key: Any, what: str) -> Any:
        state = self.state(cls, table, key)
        if state is None:
            raise NotFound(f"no {what} {key}")
        return state

    def case(self, segment_id: int) -> CaseState:
        return self.loaded(CaseState, Case, segment_id, "case for segment")

    def save(self, state: Any, key: Any) -> None:
        table = TABLES[type(state)]
        if self.state(type(state), table, key) is None and (table, key) not in self._new:
            self._new[table, key] = None
        elif (table, key) not in self._new:
            self._changed[table, key] = None
        self._states[table, key] = state

    def create(self, state: Any, key: Any) -> None:
        """A row that cannot exist yet (keyed by the event that makes it): no lookup first."""
        table = TABLES[type(state)]
        self._states[table, key] = state
        self._new[table, key] = None
        if isinstance(state, ReportState):
            self._links[key] = set()

    def write(self) -> None:
        """Write what the events changed (plain INSERTs and UPDATEs by primary key, every column
        given), and expire the session's ORM copies of those rows so a later read sees them."""
        if not (self._new or self._changed or self._new_links):
            return
        connection = self.session.connection()
        for table, keys in _by_table(self._new).items():
            connection.execute(insert(table.__table__), [row_values(self._states[table, key])[1] for key in keys])
        if self._new_links:
            connection.execute(insert(ReportLink.__table__), self._new_links)
        for table, keys in _by_table(self._changed).items():
            primary = [column.name for column in table.__table__.primary_key.columns]
            statement = update(table.__table__).where(
                and_(*(table.__table__.c[name] == bindparam(f"pk_{name}") for name in primary)))
            rows = []
            for key in keys:
                values = row_values(self._states[table, key])[1]
                rows.append({**{f"pk_{name}": values.pop(name) for name in primary}, **values})
            connection.execute(statement, rows)
        written = {(table, key if isinstance(key, tuple) else (key,)) for table, key in (*self._new, *self._changed)}
        for copy in list(self.session.identity_map.values()):
            if (type(copy), inspect(copy).identity) in written:
                self.session.expire(copy)
        self._new, self._changed, self._new_links = {}, {}, []

    def prefetch(self, events: list[LoggedEvent]) -> None:
        """Read at once the cases and segment facts a batch will touch (a batch of reports'
        attachments touches hundreds; one query each would cost more than the batch's writes)."""
        wanted = sorted({e.subject_id for e in events if e.action in (Action.ATTACH_REPORT, Action.FLAG)
                         and (Case, e.subject_id) not in self._states})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found = {case.segment_id: case for case in self.session.execute(  # plain rows: no ORM copies to make
                select(*Case.__table__.c).where(Case.__table__.c.segment_id.in_(chunk))).all()}
            for segment_id in chunk:
                self._states[Case, segment_id] = found.get(segment_id) and state_of(CaseState, found[segment_id])
            self._load_facts([segment_id for segment_id in chunk if segment_id not in found])

    def facts(self, segment_id: int) -> SegmentFacts:
        self._load_facts([segment_id])
        if segment_id not in self._facts:
            raise NotFound(f"no segment {segment_id}")
        return self._facts[segment_id]

    def _load_facts(self, segment_ids: list[int]) -> None:
        """A case's facts for segments (its stream, its worst finding's severity and score), read
        in two queries for all of them."""
        missing = [segment_id for segment_id in segment_ids if segment_id not in self._facts]
        if not missing:
            return
        worst = {r.segment_id: r for r in self.session.exec(
            select(FindingRow.segment_id, func.max(FindingRow.severity).label("severity"),
                   func.max(FindingRow.score).label("score"))
            .where(FindingRow.segment_id.in_(missing)).group_by(FindingRow.segment_id)).all()}
        for segment in self.session.exec(select(SegmentRow.id, SegmentRow.stream_id)
                                         .where(SegmentRow.id.in_(missing))).all():
            w = worst.get(segment.id)
            self._facts[segment.id] = SegmentFacts(segment_id=segment.id, stream_id=segment.stream_id,
                                                   severity=w.severity if w else 0,
                                                   score=round(w.score, 6) if w else 0.0)

    def links_of(self, report_id: int) -> set[int]:
        if report_id not in self._links:
            self._links[report_id] = set(self.session.exec(
                select(ReportLink.segment_id).where(ReportLink.report_id == report_id)).all())
        return self._links[report_id]

    def link(self, report_id: int, segment_id: int, at) -> None:
        linked = self.links_of(report_id)
        if segment_id in linked:
            raise Conflict(f"report {report_id} points at segment {segment_id} already")
        self._new_links.append({"report_id": report_id, "segment_id": segment_id, "attached_at": at})
        linked.add(segment_id)

    def recompute_outcomes(self, report_ids: Iterable[int]) -> None:
        """A report's outcome follows the cases it points at."""
        for report_id in report_ids:
            cases = [self.state(CaseState, Case, segment_id) for segment_id in self.links_of(report_id)]
            statuses = [case.status for case in cases if case is not None]
            report = self.loaded(ReportState, Report, report_id, "report")
            self.save(replace(report, outcome=report_outcome(statuses)), report_id)

    def reports_of(self, segment_id: int) -> list[int]:
        self.write()  # the batch's links are rows to query
        return list(self.session.exec(select(ReportLink.report_id).where(ReportLink.segment_id == segment_id)).all())


def load_case(session: Session, segment_id: int) -> CaseState | None:
    row = session.get(Case, segment_id)
    return None if row is None else state_of(CaseState, row)


def apply_all(session: Session, events: Iterable[LoggedEvent]) -> None:
    """Project events in order, flushing once at the end. The rows read are kept for the rest of
    the transaction (the one writer makes every change to them); a refused transition raises,
    the caller's savepoint takes the batch back, and the kept rows are let go."""
    rows = _rows_of(session)
    events = list(events)
    try:
        if len(events) > 1:
            rows.prefetch(events)
        for event in events:
            _HANDLERS[event.action](rows, event)
        rows.write()
    except BaseException:
        forget_rows(session)  # the caller's savepoint takes the batch back
        raise


def _by_table(keys: dict[tuple[type, Any], None]) -> dict[type, list[Any]]:
    grouped: dict[type, list[Any]] = {}
    for table, key in keys:
        grouped.setdefault(table, []).append(key)
    return grouped


def forget_rows(session: OrmSession) -> None:
    """Let go of the rows kept for this transaction (after the projections were emptied)."""
    session.info.pop("projection_rows", None)


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_rows(session: OrmSession, _previous) -> None:
    """A rollback (a savepoint's too) takes back rows the kept states describe: read them anew."""
    forget_rows(session)


def _rows_of(session: Session) -> Rows:
    root = session.get_transaction()
    kept = session.info.get("projection_rows")
    if kept is None or kept[0] is not root:
        kept = (root, Rows(session))
        session.info["projection_rows"] = kept
    return kept[1]


# ---------------------------------------------------------------- one handler per action


def _on_flag(rows: Rows, event: LoggedEvent) -> None:
    if event.payload.action == VerdictAction.REVIEW and rows.state(CaseState, Case, event.subject_id) is None:
        rows.save(case_opened(rows.facts(event.subject_id), event.at), event.subject_id)


def _on_evidence(rows: Rows, event: LoggedEvent) -> None:
    rows.save(ClipState(segment_id=event.subject_id, clip=event.payload.clip, event_id=event.id, cut_at=event.at),
              event.subject_id)


def _on_purge_evidence(rows: Rows, event: LoggedEvent) -> None:
    clip = rows.state(ClipState, EvidenceClip, event.subject_id)
    if clip is not None:
        rows.save(replace(clip, purged_at=event.at), event.subject_id)


def _on_qa_review(rows: Rows, event: LoggedEvent) -> None:
    case = rows.case(event.subject_id)
    existing = rows.state(QaState, QaReviewRow, event.subject_id)
    rows.save(qa_reviewed(case, existing, event.payload, reviewer=event.actor, at=event.at), event.subject_id)


def _on_qa_resolve(rows: Rows, event: LoggedEvent) -> None:
    qa = rows.loaded(QaState, QaReviewRow, event.subject_id, "second review of case")
    rows.save(qa_resolved(qa, event.payload, by=event.actor, at=event.at), event.subject_id)


def _no_projection(rows: Rows, event: LoggedEvent) -> None:
    """Reminders, feed gaps and lags change no state: the log itself is their record."""


def _on_report(rows: Rows, event: LoggedEvent) -> None:
    rows.create(report_received(event.payload, event_id=event.id, stream_id=event.subject_id, at=event.at), event.id)
    if event.payload.key is not None:
        rows.create(IntakeKeyState(key=event.payload.key, report_id=event.id, event_id=event.id), event.payload.key)


def _on_fold_report(rows: Rows, event: LoggedEvent) -> None:
    report = rows.loaded(ReportState, Report, event.payload.report_id, "report")
    rows.save(report_folded(report), report.id)
    if event.payload.key is not None:
        rows.create(IntakeKeyState(key=event.payload.key, report_id=report.id, event_id=event.id), event.payload.key)


def _on_attach_report(rows: Rows, event: LoggedEvent) -> None:
    segment_id, report_id = event.subject_id, event.payload.report_id
    report = rows.loaded(ReportState, Report, report_id, "report")
    rows.link(report_id, segment_id, event.at)
    case = rows.state(CaseState, Case, segment_id) or case_opened(rows.facts(segment_id), event.at)
    rows.save(case_reported(case, report.credibility, event.at), segment_id)
    rows.recompute_outcomes([report_id])


def _on_claim(rows: Rows, event: LoggedEvent) -> None:
    case = rows.case(event.subject_id)
    rows.save(case_claimed(case, event.actor, aware(event.payload.expires_at), event.at), case.segment_id)


def _on_escalate(rows: Rows, event: LoggedEvent) -> None:
    case = rows.case(event.subject_id)
    rows.save(case_escalated(case, event.actor, event.at, overdue=event.payload.overdue), case.segment_id)


def _on_decide(rows: Rows, event: LoggedEvent) -> None:
    case = rows.case(event.subject_id)
    rows.save(case_decided(case, event.payload, reviewer=event.actor, event_id=event.id, at=event.at),
              case.segment_id)
    for strike in strikes_decided(event.payload, event_id=event.id, segment_id=case.segment_id, at=event.at):
        rows.save(strike, (strike.event_id, strike.label))
    rows.recompute_outcomes(rows.reports_of(case.segment_id))


def _on_penalize(rows: Rows, event: LoggedEvent) -> None:
    rows.save(penalty_imposed(event.payload, event_id=event.id), event.id)


def _on_comment(rows: Rows, event: LoggedEvent) -> None:
    case = rows.case(event.subject_id)
    rows.save(case_commented(case, event.at), case.segment_id)


def _on_appeal(rows: Rows, event: LoggedEvent) -> None:
    penalty = rows.loaded(PenaltyState, Penalty, event.subject_id, "penalty")
    rows.write()
    pending = rows.session.exec(select(Appeal).where(Appeal.penalty_id == penalty.id,
                                                     Appeal.status == str(AppealStatus.PENDING))).first()
    rows.save(appeal_filed(event.payload, penalty, pending and state_of(AppealState, pending),
                           event_id=event.id, at=event.at), event.id)


def _on_resolve_appeal(rows: Rows, event: LoggedEvent) -> None:
    appeal = rows.loaded(AppealState, Appeal, event.subject_id, "appeal")
    rows.save(appeal_resolved(appeal, upheld=event.payload.upheld, by=event.actor, at=event.at,
                              comment=event.payload.comment), appeal.id)


def _on_reverse(rows: Rows, event: LoggedEvent) -> None:
    p = event.payload
    penalty = rows.loaded(PenaltyState, Penalty, event.subject_id, "penalty")
    rows.save(penalty_reversed(penalty, event.actor, event.at), penalty.id)
    rows.write()
    for row in rows.session.exec(select(Strike).where(Strike.event_id == p.decide_event_id)).all():
        rows.save(strike_reversed(state_of(StrikeState, row), event.at), (row.event_id, row.label))
    case = rows.state(CaseState, Case, p.segment_id)
    if case is not None:
        rows.save(case_overturned(case, event.at), case.segment_id)
    rows.recompute_outcomes(rows.reports_of(p.segment_id))


_HANDLERS: Mapping[Action, Callable[[Rows, LoggedEvent], None]] = {
    Action.FLAG: _on_flag, Action.EVIDENCE: _on_evidence, Action.REMIND: _no_projection,
    Action.FEED_GAP: _no_projection, Action.FEED_LAG: _no_projection, Action.REPORT: _on_report, Action.FOLD_REPORT: _on_fold_report,
    Action.ATTACH_REPORT: _on_attach_report, Action.CLAIM: _on_claim, Action.ESCALATE: _on_escalate,
    Action.DECIDE: _on_decide, Action.PENALIZE: _on_penalize, Action.COMMENT: _on_comment,
    Action.APPEAL: _on_appeal, Action.RESOLVE_APPEAL: _on_resolve_appeal, Action.REVERSE: _on_reverse,
    Action.PURGE_EVIDENCE: _on_purge_evidence, Action.QA_REVIEW: _on_qa_review, Action.QA_RESOLVE: _on_qa_resolve,
}
assert set(_HANDLERS) == set(Action), "every action has a projection handler"
