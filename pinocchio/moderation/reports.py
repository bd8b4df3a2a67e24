"""Viewers' reports: intake (from the HTTP API, or a CSV/JSONL file, both through `take_reports`),
folding of duplicates, a per-reporter rate limit, and attaching each report to the segments it
points at.

A report says *when*: seconds into the stream, or a wall time (ISO 8601 with its UTC offset),
which is turned into seconds of the feed's clock (since `Stream.live_epoch` where the live worker
keeps one, else since the start of the scan that was running then). It points at
- every flagged (remind/review) segment overlapping [at - before_s, at + after_s], and
- of the segments overlapping [at - near_s, at + after_s], the one being said (or just ended) at
  `at`, so that one report opens at most one case on a sentence the pipeline passed.
The rule looks at one segment and one report at a time, so a live report that arrives before its
segment attaches the same way when the segment is stored (`attach_waiting_reports`).

A report from the same reporter on the same stream within `fold_window_s` of an earlier one is
folded into it (counted, adds no weight). More than `rate_limit` reports (duplicates included)
from one reporter within `rate_window_s` are refused with `RateLimited`. A request with an intake
key that is stored already is answered with the report it made (`status="stored"`).

Each report carries its reporter's credibility at intake (`projection.credibility`):
(confirmed + 1) / (confirmed + dismissed + 2) over their earlier decided reports.

Intake works in groups: `take_reports` checks every request of a group against what is stored
(one query per kind of fact for the whole group, not per report), then appends the group's
events in one batch (each report followed by its attachments, or a fold), so a thousand reports cost
a few statements and one flush, and the chain still has one event per report and attachment."""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import InputError, NotFound, PinocchioError, RateLimited
from pinocchio.core.labels import check_label
from pinocchio.core.records import MAX_ID, VerdictAction
from pinocchio.core.text import checked_name, checked_text
from pinocchio.moderation.ledger import Earlier, Entry, hold, record_all
from pinocchio.moderation.projection import ReportState, credibility, state_of
from pinocchio.moderation.report_targets import (
    Candidate,
    SegmentCache,
    Timeline,
    candidates_near,
    clock_of,
    pointed_at,
    said_at,
    segments_for,
    window,
)
from pinocchio.store.projections import IntakeKey, Report, ReportLink
from pinocchio.store.tables import ModerationEvent, Scan, SegmentRow, Stream

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000
MAX_REPORTER_CHARS = 200
MAX_KEY_CHARS = 200
CLOCK_SKEW_S = 60.0  # a wall time this far ahead of ours is still taken
# Before a scan's first segment, how far back (stream seconds) a report's moment may lie and still
# be settled by it.
SETTLE_LOOKBACK_S = 600.0


@dataclass(frozen=True)
class ReportOptions:
    before_s: float = 30.0
    near_s: float = 5.0
    after_s: float = 2.0
    fold_window_s: float = 60.0
    rate_limit: int = 10
    rate_window_s: float = 3600.0


@dataclass(frozen=True)
class ReportRequest:
    """One viewer's report as it came in (values unchecked: `take_reports` checks them)."""

    stream: Any  # the stream's id or name
    reporter: Any
    at: Any  # seconds into the stream, or an ISO 8601 wall time (or a datetime)
    label: Any = None
    comment: Any = ""
    key: Any = None  # an intake key: a file row's, or the client's idempotency key


@dataclass(frozen=True)
class ReportReceipt:
    report_id: int  # the report; for a folded duplicate, the earlier report it was folded into
    status: str  # "accepted", "folded", or "stored" (its intake key was stored before)
    segment_ids: tuple[int, ...]  # segments it was attached to now (none yet: it waits)
    credibility: float


@dataclass(frozen=True)
class ReportInfo(ReportState):
    """A report as `reports list` and the console show it: the projection, and where it points."""

    segment_ids: tuple[int, ...]


def reporter_credibility(session: Session, reporter_id: str) -> float:
    return _credibilities(session, [reporter_id])[reporter_id]


def submit_report(session: Session, *, stream: int | str, reporter_id: str, at: float | str | datetime,
                  label: str | None = None, comment: str = "", key: str | None = None,
                  options: ReportOptions = ReportOptions(), now: datetime | None = None) -> ReportReceipt:
    """Take one viewer's report. Invalid input raises `InputError` (or `NotFound` for the stream,
    `RateLimited` for a flood) before anything is written."""
    result = take_reports(session, [ReportRequest(stream, reporter_id, at, label, comment, key)], options,
                          now=now)[0]
    if isinstance(result, PinocchioError):
        raise result
    return result


def take_reports(session: Session, requests: list[ReportRequest], options: ReportOptions = ReportOptions(),
                 segments: SegmentCache | None = None, now: datetime | None = None) -> list[ReportReceipt | PinocchioError]:
    """The one intake path (the API's writer and the importer call it with a group of requests):
    each request gets its receipt, or the error that refused it, in order; the accepted ones are
    appended to the log together. The caller commits. `segments`: a cache of the stored segments
    kept between groups by a long-lived caller."""
    if not requests:
        return []
    hold(session)  # the rate limit, folds and keys are checked against what no one else is changing
    group = _Group(session, options, aware(now or utcnow()), segments or SegmentCache())
    checked: list[_Checked | PinocchioError] = []
    for request in requests:
        try:
            checked.append(group.check(request))
        except (InputError, NotFound) as exc:
            checked.append(exc)
    valid = [c for c in checked if isinstance(c, _Checked)]
    # The segments a report is placed on are the pipeline's, written under their stream's turn:
    # take those turns before reading them, so a segment stored meanwhile cannot be missed.
    hold(session, *{c.stream.id for c in valid})
    group.load(valid)
    plans = []
    for item in checked:
        if isinstance(item, _Checked):
            try:
                item = group.plan(item)
            except InputError as exc:
                item = exc
        plans.append(item)
    try:
        with session.begin_nested():
            return _write(session, group, plans)
    except (PinocchioError, IntegrityError) as exc:
        if len(requests) == 1:
            raise
        # Something in the group was refused while writing: take its requests one by one, so the
        # rest still land and the one at fault gets its own answer.
        log.warning("a group of %d reports was refused whole (%s); taking them one by one", len(requests),
                    str(exc).splitlines()[0])
        results = []
        for request in requests:
            try:
                results.append(take_reports(session, [request], options, segments, now)[0])
            except (PinocchioError, IntegrityError) as single:
                results.append(single if isinstance(single, PinocchioError) else InputError(str(single.orig)))
        return results


def reported_streams(session: Session, stream_ids: set[int]) -> set[int]:
    """Which of these streams viewers have reported at all: only their segments can meet a report."""
    if not stream_ids:
        return set()
    return set(session.exec(select(Report.stream_id).where(Report.stream_id.in_(sorted(stream_ids))).distinct()).all())


def attach_waiting_reports(session: Session, segment: SegmentRow,
                           options: ReportOptions = ReportOptions()) -> list[int]:
    """Attach to a just-stored segment the reports that point at it (the ledger does this for every
    segment the pipeline stores, in the same transaction). Returns the report ids attached.

    A flagged segment takes every report whose window it overlaps. A passed sentence takes a report
    only as the one being said (or just ended) at its moment, decided once that is settled: at once
    when the segment covers the moment, else when a segment starting after the moment is stored
    (segments are stored in order, so then nothing said later can be closer)."""
    start_s, end_s = segment.start_ms / 1000, segment.end_ms / 1000
    same_clock = and_(Report.stream_id == segment.stream_id,
                      or_(Report.scan_id.is_(None), Report.scan_id == segment.scan_id))
    attached = []
    if segment.action != VerdictAction.PASS:
        linked = select(ReportLink.report_id).where(ReportLink.segment_id == segment.id)
        for report in session.exec(select(Report).where(
                same_clock, Report.at_s >= start_s - options.after_s, Report.at_s <= end_s + options.before_s,
                Report.id.not_in(linked)).order_by(Report.id)).all():
            attached.append(report.id)
    # The moments this segment settles: from where the segment before it began (a moment before
    # that was settled when it was stored) to this one's end.
    previous_ms = session.exec(select(func.max(SegmentRow.start_ms)).where(
        SegmentRow.scan_id == segment.scan_id, SegmentRow.start_ms < segment.start_ms)).one()
    since_s = (previous_ms / 1000 if previous_ms is not None else start_s - SETTLE_LOOKBACK_S) - options.after_s
    passed = select(ReportLink.report_id).join(SegmentRow, SegmentRow.id == ReportLink.segment_id).where(
        SegmentRow.action == VerdictAction.PASS)
    pairs = [(report_id, segment.id) for report_id in attached]
    for report in session.exec(select(Report).where(
            same_clock, Report.at_s >= since_s, Report.at_s <= end_s, Report.id.not_in(passed))
            .order_by(Report.id)).all():
        if report.at_s >= start_s:
            said = Candidate(segment.id, segment.start_ms, segment.end_ms, segment.action == VerdictAction.PASS)
        elif report.at_s < start_s - options.after_s:
            clock = clock_of(session, report)
            said = None if clock is None else said_at(candidates_near(session, clock, report.at_s, options),
                                                      report.at_s, options)
        else:
            continue  # said just before this segment began: a later segment may still be closer
        if said is not None and said.passed and session.get(ReportLink, (report.id, said.id)) is None:
            pairs.append((report.id, said.id))
            attached.append(report.id)
    _attach(session, pairs, stream_id=segment.stream_id)
    return attached


def attach_all_waiting(session: Session, options: ReportOptions = ReportOptions()) -> int:
    """Attach every report to the stored segments it points at and is not yet attached to (after a
    batch scan of a stream that was reported before it was scanned). Returns the links made."""
    made = 0
    last_id = 0
    while True:  # reports in pages: a long history never sits in memory whole
        page = session.exec(select(Report).where(Report.id > last_id).order_by(Report.id).limit(500)).all()
        if not page:
            return made
        for report in page:
            pairs = [(report.id, segment_id) for segment_id in segments_for(session, report, options)]
            _attach(session, pairs, stream_id=report.stream_id)
            made += len(pairs)
        last_id = page[-1].id


def list_reports(session: Session, *, stream_id: int | None = None, reporter_id: str | None = None,
                 waiting: bool = False, limit: int = 100) -> list[ReportInfo]:
    query = select(Report).order_by(Report.id.desc()).limit(limit)
    if stream_id is not None:
        query = query.where(Report.stream_id == stream_id)
    if reporter_id is not None:
        query = query.where(Report.reporter_id == reporter_id)
    if waiting:
        query = query.where(Report.id.not_in(select(ReportLink.report_id)))
    result = []
    for r in session.exec(query).all():
        segments = session.exec(select(ReportLink.segment_id).where(ReportLink.report_id == r.id)
                                .order_by(ReportLink.segment_id)).all()
        result.append(ReportInfo(**asdict(state_of(ReportState, r)), segment_ids=tuple(segments)))
    return result


def _attach(session: Session, pairs: list[tuple[int, int]], *, stream_id: int) -> None:
    record_all(session, [Entry(ev.AttachReport(report_id=report_id), "pinocchio", segment_id, stream_id)
                         for report_id, segment_id in pairs])


# ---------------------------------------------------------------- a group of requests


@dataclass
class _Checked:
    """A request whose fields are valid, before it is weighed against what is stored."""

    stream: Stream
    reporter_id: str
    at_s: float
    reported_at: datetime | None
    scan_id: int | None
    label: str | None
    comment: str
    key: str | None

    @property
    def stream_id(self) -> int:
        return self.stream.id


@dataclass
class _Plan:
    """What a request will write: a new report (with the segments it points at) or a fold into an
    earlier one (stored, or new in this group), or nothing (its key was stored)."""

    checked: _Checked
    fold_into: int | _Plan | None = None
    segment_ids: list[int] = field(default_factory=list)
    credibility: float = 0.5
    stored: ReportReceipt | None = None


class _Group:
    """What one group of requests is checked against: streams by name, and for its reporters and
    streams the reports, rate counts, credibilities, keys and segments, each fetched once."""

    def __init__(self, session: Session, options: ReportOptions, now: datetime, segments: SegmentCache):
        self.session, self.options, self.now = session, options, now
        self.streams: dict[Any, Stream] = {}
        self.sent: Counter[str] = Counter()
        self.credibility: dict[str, float] = {}
        self.earlier: dict[tuple[str, int], list[Any]] = defaultdict(list)  # (reporter, stream): reports, plans
        self.keys: dict[str, tuple[int, float]] = {}
        self.segments = segments
        self.timelines: dict[tuple[str, int], Timeline] = {}
        self.seen_keys: dict[str, _Plan] = {}
        self.clocks: dict[tuple[int, int | None], tuple[str, int] | None] = {}

    def check(self, request: ReportRequest) -> _Checked:
        """The request's own fields, one-line refusals (nothing read but the stream)."""
        key = request.key
        if key is not None:
            if not isinstance(key, str):
                raise InputError(f"key must be text of at most {MAX_KEY_CHARS} characters")
            key = checked_name(key, "key", MAX_KEY_CHARS)
        stream = self._stream(request.stream)
        reporter_id = request.reporter
        if isinstance(reporter_id, int) and not isinstance(reporter_id, bool):
            reporter_id = str(reporter_id)  # a platform's numeric user id
        if not isinstance(reporter_id, str) or not reporter_id.strip() or len(reporter_id.strip()) > MAX_REPORTER_CHARS:
            raise InputError(f"reporter must be a non-empty id of at most {MAX_REPORTER_CHARS} characters")
        reporter_id = checked_name(reporter_id, "reporter", MAX_REPORTER_CHARS)
        label = request.label
        if label is not None and not isinstance(label, str):
            raise InputError(f"label must be text, one of the taxonomy's, not {label!r}")
        label = (label or "").strip() or None
        if label is not None:
            check_label(label)
        comment = request.comment
        if comment is not None and not isinstance(comment, str):
            raise InputError("comment must be text")
        comment = checked_text(comment or "", "comment", MAX_COMMENT_CHARS)
        at_s, reported_at, scan_id = _position(self.session, stream, request.at, self.now)
        return _Checked(stream, reporter_id, at_s, reported_at, scan_id, label, comment, key)

    def load(self, checked: list[_Checked]) -> None:
        """Fetch, for the whole group at once, what its requests are weighed against."""
        if not checked:
            return
        reporters = sorted({c.reporter_id for c in checked})
        stream_ids = sorted({c.stream.id for c in checked})
        keys = sorted({c.key for c in checked if c.key is not None})
        since = self.now - timedelta(seconds=self.options.rate_window_s)
        for chunk in _chunks(reporters):
            reporter_of = {_actor(r): r for r in chunk}
            for actor, count in self.session.exec(
                    select(ModerationEvent.actor, func.count()).where(
                        ModerationEvent.action.in_((ev.Action.REPORT, ev.Action.FOLD_REPORT)),
                        ModerationEvent.actor.in_(list(reporter_of)), ModerationEvent.created_at >= since)
                    .group_by(ModerationEvent.actor)).all():
                self.sent[reporter_of[actor]] = count
            self.credibility.update(_credibilities(self.session, chunk))
            for report in self.session.exec(select(Report.id, Report.reporter_id, Report.stream_id, Report.scan_id,
                                                   Report.at_s, Report.credibility).where(
                    Report.reporter_id.in_(chunk), Report.stream_id.in_(stream_ids))).all():
                self.earlier[report.reporter_id, report.stream_id].append(report)
        for chunk in _chunks(keys):
            for row in self.session.exec(select(IntakeKey.key, IntakeKey.report_id, Report.credibility)
                                         .join(Report, Report.id == IntakeKey.report_id)
                                         .where(IntakeKey.key.in_(chunk))).all():
                self.keys[row.key] = (row.report_id, row.credibility)
        for clock in {self._clock_key(c) for c in checked} - {None}:
            self.timelines[clock] = self.segments.on(self.session, clock)

    def plan(self, c: _Checked) -> _Plan:
        """Weigh a checked request against what is stored and what the group took before it."""
        if c.key is not None and c.key in self.keys:
            report_id, weight = self.keys[c.key]
            return _Plan(c, stored=ReportReceipt(report_id=report_id, status="stored", segment_ids=(),
                                                 credibility=weight))
        if c.key is not None and c.key in self.seen_keys:
            raise InputError(f"key {c.key!r} was given twice in one batch")
        options = self.options
        if self.sent[c.reporter_id] >= options.rate_limit:
            raise RateLimited(f"reporter {c.reporter_id} sent {self.sent[c.reporter_id]} reports in the last "
                              f"{options.rate_window_s:g} s (limit {options.rate_limit}): refused")
        self.sent[c.reporter_id] += 1
        earlier = [e for e in self.earlier[c.reporter_id, c.stream.id]
                   if e.scan_id == c.scan_id and abs(e.at_s - c.at_s) <= options.fold_window_s]
        if earlier:
            original = min(earlier, key=lambda e: (abs(e.at_s - c.at_s), e.id if isinstance(e.id, int) else MAX_ID))
            plan = _Plan(c, fold_into=original.id if not isinstance(original, _PendingReport) else original.plan,
                         credibility=original.credibility)
        else:
            weight = self.credibility.get(c.reporter_id, 0.5)
            clock = self._clock_key(c)
            plan = _Plan(c, credibility=weight,
                         segment_ids=[] if clock is None else pointed_at(
                             self.timelines[clock].around(*window(c.at_s, c.at_s, options)), c.at_s, options))
            self.earlier[c.reporter_id, c.stream.id].append(_PendingReport(plan))
        if c.key is not None:
            self.seen_keys[c.key] = plan
        return plan

    def _stream(self, stream: Any) -> Stream:
        cache_key = (type(stream).__name__, stream if isinstance(stream, (int, str)) else repr(stream))
        if cache_key not in self.streams:
            self.streams[cache_key] = _stream(self.session, stream)
        return self.streams[cache_key]

    def _clock_key(self, c: _Checked) -> tuple[str, int] | None:
        if (c.stream.id, c.scan_id) not in self.clocks:
            self.clocks[c.stream.id, c.scan_id] = clock_of(self.session, c)
        return self.clocks[c.stream.id, c.scan_id]


class _PendingReport:
    """A report new in this group, as later requests of the group see it (to fold into it)."""

    def __init__(self, plan: _Plan):
        self.plan = plan
        self.scan_id, self.at_s, self.credibility = plan.checked.scan_id, plan.checked.at_s, plan.credibility
        self.id = None


def _write(session: Session, group: _Group, plans: list[_Plan | PinocchioError]) -> list[ReportReceipt | PinocchioError]:
    """Append the group in one call, in request order: each new report, then its attachments
    (naming it by its place in the call), or a fold into an earlier report."""
    entries: list[Entry] = []
    index_of: dict[int, int] = {}  # id(plan) of a new report -> the index of its entry
    for p in plans:
        if not isinstance(p, _Plan) or p.stored is not None:
            continue
        c = p.checked
        if p.fold_into is None:
            index_of[id(p)] = len(entries)
            entries.append(Entry(ev.Report(reporter_id=c.reporter_id, at_s=c.at_s, reported_at=c.reported_at,
                                           scan_id=c.scan_id, label=c.label, comment=c.comment,
                                           credibility=p.credibility, key=c.key),
                                 _actor(c.reporter_id), c.stream.id, c.stream.id, group.now))
            entries.extend(Entry(ev.AttachReport(report_id=Earlier(index_of[id(p)])), "pinocchio", segment_id,
                                 c.stream.id) for segment_id in p.segment_ids)
        else:
            into = p.fold_into if isinstance(p.fold_into, int) else Earlier(index_of[id(p.fold_into)])
            entries.append(Entry(ev.FoldReport(report_id=into, at_s=c.at_s, label=c.label, comment=c.comment,
                                               key=c.key), _actor(c.reporter_id), c.stream.id, c.stream.id, group.now))
    events = record_all(session, entries)
    results: list[ReportReceipt | PinocchioError] = []
    for p in plans:
        if isinstance(p, PinocchioError):
            results.append(p)
        elif p.stored is not None:
            results.append(p.stored)
        elif p.fold_into is not None:
            into = p.fold_into if isinstance(p.fold_into, int) else events[index_of[id(p.fold_into)]].id
            results.append(ReportReceipt(into, "folded", (), p.credibility))
        else:
            results.append(ReportReceipt(events[index_of[id(p)]].id, "accepted", tuple(p.segment_ids), p.credibility))
    return results


def _chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _credibilities(session: Session, reporters: list[str]) -> dict[str, float]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for reporter, outcome, count in session.exec(
            select(Report.reporter_id, Report.outcome, func.count()).where(Report.reporter_id.in_(reporters))
            .group_by(Report.reporter_id, Report.outcome)).all():
        counts[reporter][outcome] = count
    return {r: credibility(counts[r]["confirmed"], counts[r]["dismissed"]) for r in reporters}


def _actor(reporter_id: str) -> str:
    return f"viewer:{reporter_id}"


def _stream(session: Session, stream: int | str | None) -> Stream:
    """The stream a report names by id or by name; bad types, huge ids and control characters are
    one-line refusals, not database errors."""
    if stream is None or (isinstance(stream, str) and not stream.strip()):
        raise InputError("stream is missing")
    if isinstance(stream, bool) or not isinstance(stream, (int, str)):
        raise InputError(f"stream must be an id or a name, not {type(stream).__name__}")
    if isinstance(stream, int) or stream.strip().isdigit():
        number = int(stream)
        if not 1 <= number <= MAX_ID:
            raise InputError(f"stream id {number} is out of range")
        row = session.get(Stream, number)
    else:
        name = checked_name(stream, "stream")
        row = session.exec(select(Stream).where(Stream.name == name).order_by(Stream.id.desc())).first()
    if row is None:
        raise NotFound(f"stream {stream} not found")
    return row


def _position(session: Session, stream: Stream, at: float | str | datetime | None,
              now: datetime) -> tuple[float, datetime | None, int | None]:
    """(seconds into the stream, the wall time given or None, the scan it falls in or None)."""
    if at is None or (isinstance(at, str) and not at.strip()):
        raise InputError("at is missing: seconds into the stream or an ISO 8601 time")
    if isinstance(at, bool):
        raise InputError(f"at {at!r} is neither seconds nor an ISO 8601 time")
    seconds: float | None = None
    if isinstance(at, (int, float)):
        seconds = float(at)
    elif isinstance(at, str):
        try:
            seconds = float(at.strip())
        except ValueError:
            try:
                at = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
            except ValueError:
                raise InputError(f"at '{at}' is neither seconds nor an ISO 8601 time") from None
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0:
            raise InputError(f"at {seconds:g} s: seconds into the stream must be 0 or more")
        if stream.duration_s is not None and seconds > stream.duration_s:
            raise InputError(f"at {seconds:g} s is past the end of stream {stream.id} ({stream.duration_s:g} s)")
        return seconds, None, None
    if not isinstance(at, datetime):
        raise InputError(f"at {at!r} is neither seconds nor an ISO 8601 time")
    if at.tzinfo is None:
        raise InputError(f"at '{at.isoformat()}' has no UTC offset (write it like 2025-06-01T20:15:00+08:00)")
    at = aware(at)
    if at > now + timedelta(seconds=CLOCK_SKEW_S):
        raise InputError(f"at {at.isoformat()} is in the future")
    epoch = getattr(stream, "live_epoch", None)  # a live feed's one clock across worker restarts
    if epoch is not None:
        if at < aware(epoch):
            raise InputError(f"at {at.isoformat()} is before stream {stream.id} was first followed")
        return (at - aware(epoch)).total_seconds(), at, None
    scan = session.exec(select(Scan).where(Scan.stream_id == stream.id, Scan.started_at <= at)
                        .order_by(Scan.started_at.desc(), Scan.id.desc())).first()
    if scan is None:
        raise InputError(f"at {at.isoformat()} is before stream {stream.id} was first followed")
    return (at - aware(scan.started_at)).total_seconds(), at, scan.id
