"""What the trust-and-safety desk reports upward (65万场直播, 800万用户参与, 4.5万次处罚): streams and
hours listened, segments, findings by label, reminders sent (by the pipeline and by viewers),
viewers who reported and their reports, cases opened, decided and overturned, how long a decision
took, penalties by kind and appeals by outcome — in total and per day (UTC). Read only; counted in
the database by day, so a busy store sends back one row per day and kind, not its rows."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, true
from sqlmodel import Session, select

from pinocchio.core.clock import aware, utcnow
from pinocchio.core.labels import LABELS
from pinocchio.store.projections import Appeal, Case, Penalty, Report
from pinocchio.store.tables import FindingRow, ModerationEvent, Scan, SegmentRow, Stream


@dataclass
class DayStats:
    """One day's figures (or the whole period's, for the totals)."""

    day: str  # YYYY-MM-DD, or "total"
    streams: int = 0
    hours: float = 0.0
    segments: int = 0
    findings: Counter = field(default_factory=Counter)  # label -> findings
    reminders: int = 0  # by the pipeline
    viewer_reminders: int = 0  # raised by viewers' reports
    reporters: int = 0  # viewers who reported
    reports: int = 0
    cases_opened: int = 0
    cases_decided: int = 0
    cases_overturned: int = 0
    penalties: Counter = field(default_factory=Counter)  # kind -> penalties
    appeals: Counter = field(default_factory=Counter)  # status -> appeals filed that day

    def flat(self) -> dict:
        """One flat record (CSV columns, JSON lines): the counters spread into columns."""
        row = {k: v for k, v in self.__dict__.items() if not isinstance(v, Counter)}
        row["hours"] = round(self.hours, 2)
        row.update({f"findings_{label}": self.findings[label] for label in LABELS})
        row.update({f"penalties_{kind}": self.penalties[kind] for kind in PENALTY_KINDS})
        row.update({f"appeals_{status}": self.appeals[status] for status in APPEAL_STATUSES})
        return row


PENALTY_KINDS = ("warning", "ban", "permanent_ban")
APPEAL_STATUSES = ("pending", "upheld", "denied")


@dataclass(frozen=True)
class DecisionTimes:
    decided: int
    median_minutes: float | None
    p90_minutes: float | None


@dataclass(frozen=True)
class DeskStats:
    since: date | None
    until: datetime
    days: list[DayStats]
    total: DayStats
    decision_times: DecisionTimes


def desk_stats(session: Session, since: date | None = None, now: datetime | None = None) -> DeskStats:
    now = aware(now or utcnow())
    start = datetime(since.year, since.month, since.day, tzinfo=now.tzinfo) if since else None
    days: dict[str, DayStats] = defaultdict(lambda: DayStats(day=""))
    total = DayStats(day="total")

    def after(column):
        return column >= start if start is not None else true()

    def day_of(column):
        return func.date(column)

    # Listening: streams and hours by the day their scan began; segments and findings likewise.
    scans = session.exec(select(Scan.stream_id, Scan.started_at, Scan.finished_at, Stream.duration_s,
                                Stream.content_sha256).join(Stream, Stream.id == Scan.stream_id)
                         .where(after(Scan.started_at), Scan.status != "abandoned")).all()
    streams_by_day: dict[str, set[int]] = defaultdict(set)
    for stream_id, started, finished, duration_s, content in scans:
        day = _day(started)
        streams_by_day[day].add(stream_id)
        seconds = duration_s if content is not None else ((aware(finished) or now) - aware(started)).total_seconds()
        days[day].hours += max(0.0, seconds or 0.0) / 3600
    for day, ids in streams_by_day.items():
        days[day].streams = len(ids)
    total.streams = len({s for ids in streams_by_day.values() for s in ids})
    for day, n in session.exec(select(day_of(Scan.started_at), func.count()).select_from(SegmentRow)
                               .join(Scan, Scan.id == SegmentRow.scan_id).where(after(Scan.started_at))
                               .group_by(day_of(Scan.started_at))).all():
        days[str(day)].segments = n
    for day, label, n in session.exec(select(day_of(Scan.started_at), FindingRow.label, func.count())
                                      .select_from(FindingRow).join(SegmentRow, SegmentRow.id == FindingRow.segment_id)
                                      .join(Scan, Scan.id == SegmentRow.scan_id).where(after(Scan.started_at))
                                      .group_by(day_of(Scan.started_at), FindingRow.label)).all():
        days[str(day)].findings[label] = n
    # Reminders, by who raised them.
    for day, actor, n in session.exec(select(day_of(ModerationEvent.created_at), ModerationEvent.actor, func.count())
                                      .where(ModerationEvent.action == "remind", after(ModerationEvent.created_at))
                                      .group_by(day_of(ModerationEvent.created_at), ModerationEvent.actor)).all():
        if actor == "viewers":
            days[str(day)].viewer_reminders += n
        else:
            days[str(day)].reminders += n
    # Viewers.
    for day, reporters, n in session.exec(select(day_of(Report.received_at), func.count(Report.reporter_id.distinct()),
                                                 func.count()).where(after(Report.received_at))
                                          .group_by(day_of(Report.received_at))).all():
        days[str(day)].reporters, days[str(day)].reports = reporters, n
    total.reporters = session.exec(select(func.count(Report.reporter_id.distinct())).where(after(Report.received_at))).one()
    # Cases and how long their decision took.
    for day, n in session.exec(select(day_of(Case.opened_at), func.count()).where(after(Case.opened_at))
                               .group_by(day_of(Case.opened_at))).all():
        days[str(day)].cases_opened = n
    for day, n in session.exec(select(day_of(Case.decided_at), func.count()).where(Case.decided_at.is_not(None),
                                                                                   after(Case.decided_at))
                               .group_by(day_of(Case.decided_at))).all():
        days[str(day)].cases_decided = n
    for day, n in session.exec(select(day_of(ModerationEvent.created_at), func.count())
                               .where(ModerationEvent.action == "reverse", after(ModerationEvent.created_at))
                               .group_by(day_of(ModerationEvent.created_at))).all():
        days[str(day)].cases_overturned = n
    minutes = [(aware(decided) - aware(opened)).total_seconds() / 60 for opened, decided in session.exec(
        select(Case.opened_at, Case.decided_at).where(Case.decided_at.is_not(None), after(Case.decided_at))).all()]
    # Penalties and appeals.
    for day, kind, n in session.exec(select(day_of(Penalty.starts_at), Penalty.kind, func.count())
                                     .where(after(Penalty.starts_at)).group_by(day_of(Penalty.starts_at), Penalty.kind)).all():
        days[str(day)].penalties[kind] = n
    for day, status, n in session.exec(select(day_of(Appeal.filed_at), Appeal.status, func.count())
                                       .where(after(Appeal.filed_at)).group_by(day_of(Appeal.filed_at), Appeal.status)).all():
        days[str(day)].appeals[status] = n
    ordered = []
    for day in sorted(d for d in days if d and d != "None"):
        stats = days[day]
        stats.day = day
        ordered.append(stats)
    for stats in ordered:  # the period's totals: sums of the days, but for the distinct counts above
        total.hours += stats.hours
        for name in ("segments", "reminders", "viewer_reminders", "reports", "cases_opened", "cases_decided",
                     "cases_overturned"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.findings.update(stats.findings)
        total.penalties.update(stats.penalties)
        total.appeals.update(stats.appeals)
    return DeskStats(since=since, until=now, days=ordered, total=total, decision_times=_times(minutes))


def _day(moment: datetime) -> str:
    return aware(moment).date().isoformat()


def _times(minutes: list[float]) -> DecisionTimes:
    if not minutes:
        return DecisionTimes(0, None, None)
    ordered = sorted(minutes)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return DecisionTimes(len(ordered), round(statistics.median(ordered), 1), round(p90, 1))


def days_back(days: int, now: datetime | None = None) -> date:
    return (aware(now or utcnow()) - timedelta(days=days - 1)).date()
