"""Viewers' reports: intake (one at a time from the HTTP API, or a CSV/JSONL file), folding of
duplicates, a per-reporter rate limit, and attaching each report to the segments it points at.

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
from one reporter within `rate_window_s` are refused with `RateLimited`.

Each report carries its reporter's credibility at intake (`projection.credibility`):
(confirmed + 1) / (confirmed + dismissed + 2) over their earlier decided reports."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import InputError, NotFound, RateLimited
from pinocchio.core.labels import check_label
from pinocchio.core.records import VerdictAction
from pinocchio.core.text import checked_name, checked_text
from pinocchio.moderation.ledger import record
from pinocchio.moderation.projection import ReportState, credibility, state_of
from pinocchio.store.projections import Report, ReportLink
from pinocchio.store.tables import ModerationEvent, Scan, SegmentRow, Stream

log = logging.getLogger(__name__)

COLUMNS = ("stream", "reporter", "at", "label", "comment")
REQUIRED = ("stream", "reporter", "at")
MAX_COMMENT_CHARS = 2000
MAX_REPORTER_CHARS = 200
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
class ReportReceipt:
    report_id: int  # the report; for a folded duplicate, the earlier report it was folded into
    status: str  # "accepted" or "folded"
    segment_ids: tuple[int, ...]  # segments it was attached to now (none yet: it waits)
    credibility: float


@dataclass(frozen=True)
class ImportResult:
    accepted: int
    folded: int
    rejected: tuple[str, ...]  # "FILE:LINE: reason", one per bad row


@dataclass(frozen=True)
class ReportInfo(ReportState):
    """A report as `reports list` and the console show it: the projection, and where it points."""

    segment_ids: tuple[int, ...]


def reporter_credibility(session: Session, reporter_id: str) -> float:
    counts = dict(session.exec(select(Report.outcome, func.count()).where(Report.reporter_id == reporter_id)
                               .group_by(Report.outcome)).all())
    return credibility(counts.get("confirmed", 0), counts.get("dismissed", 0))


def submit_report(session: Session, *, stream: int | str, reporter_id: str, at: float | str | datetime,
                  label: str | None = None, comment: str = "", options: ReportOptions = ReportOptions()) -> ReportReceipt:
    """Take one viewer's report (what `POST /api/v1/reports` calls). Invalid input raises
    `InputError` (or `NotFound` for the stream, `RateLimited` for a flood) before anything is written."""
    stream_row = _stream(session, stream)
    if isinstance(reporter_id, int) and not isinstance(reporter_id, bool):
        reporter_id = str(reporter_id)  # a platform's numeric user id
    if not isinstance(reporter_id, str) or not reporter_id.strip() or len(reporter_id.strip()) > MAX_REPORTER_CHARS:
        raise InputError(f"reporter must be a non-empty id of at most {MAX_REPORTER_CHARS} characters")
    reporter_id = checked_name(reporter_id, "reporter", MAX_REPORTER_CHARS)
    if label is not None and not isinstance(label, str):
        raise InputError(f"label must be text, one of the taxonomy's, not {label!r}")
    label = (label or "").strip() or None
    if label is not None:
        check_label(label)
    if comment is not None and not isinstance(comment, str):
        raise InputError("comment must be text")
    comment = checked_text(comment or "", "comment", MAX_COMMENT_CHARS)
    now = utcnow()
    at_s, reported_at, scan_id = _position(session, stream_row, at, now)
    since = now - timedelta(seconds=options.rate_window_s)
    sent = session.exec(select(func.count()).select_from(ModerationEvent).where(
        ModerationEvent.action.in_((ev.Action.REPORT, ev.Action.FOLD_REPORT)),
        ModerationEvent.actor == _actor(reporter_id),
        ModerationEvent.created_at >= since)).one()
    if sent >= options.rate_limit:
        raise RateLimited(f"reporter {reporter_id} sent {sent} reports in the last {options.rate_window_s:g} s "
                          f"(limit {options.rate_limit}): refused")
    earlier = session.exec(select(Report).where(
        Report.reporter_id == reporter_id, Report.stream_id == stream_row.id,
        Report.scan_id == scan_id if scan_id is not None else Report.scan_id.is_(None),
        Report.at_s.between(at_s - options.fold_window_s, at_s + options.fold_window_s))).all()
    if earlier:
        original = min(earlier, key=lambda r: (abs(r.at_s - at_s), r.id))
        record(session, ev.FoldReport(report_id=original.id, at_s=at_s, label=label, comment=comment),
               actor=_actor(reporter_id), subject_id=stream_row.id, stream_id=stream_row.id, at=now)
        return ReportReceipt(report_id=original.id, status="folded", segment_ids=(), credibility=original.credibility)
    weight = reporter_credibility(session, reporter_id)
    event = record(session, ev.Report(reporter_id=reporter_id, at_s=at_s, reported_at=reported_at, scan_id=scan_id,
                                      label=label, comment=comment, credibility=weight),
                   actor=_actor(reporter_id), subject_id=stream_row.id, stream_id=stream_row.id, at=now)
    report = session.get(Report, event.id)
    attached = tuple(_attach(session, report, segment) for segment in _segments_for(session, report, options))
    return ReportReceipt(report_id=event.id, status="accepted", segment_ids=attached, credibility=weight)


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
            _attach(session, report, segment)
            attached.append(report.id)
    # The moments this segment settles: from where the segment before it began (a moment before
    # that was settled when it was stored) to this one's end.
    previous_ms = session.exec(select(func.max(SegmentRow.start_ms)).where(
        SegmentRow.scan_id == segment.scan_id, SegmentRow.start_ms < segment.start_ms)).one()
    since_s = (previous_ms / 1000 if previous_ms is not None else start_s - SETTLE_LOOKBACK_S) - options.after_s
    passed = select(ReportLink.report_id).join(SegmentRow, SegmentRow.id == ReportLink.segment_id).where(
        SegmentRow.action == VerdictAction.PASS)
    for report in session.exec(select(Report).where(
            same_clock, Report.at_s >= since_s, Report.at_s <= end_s, Report.id.not_in(passed))
            .order_by(Report.id)).all():
        if report.at_s >= start_s:
            said = segment  # the moment falls in this segment: it is what was being said
        elif report.at_s < start_s - options.after_s:
            said = _said_at(session, report, _clock_of(session, report), options)
        else:
            continue  # said just before this segment began: a later segment may still be closer
        if said is not None and said.action == VerdictAction.PASS:
            if session.get(ReportLink, (report.id, said.id)) is None:
                _attach(session, report, said)
                attached.append(report.id)
    return attached


def attach_all_waiting(session: Session, options: ReportOptions = ReportOptions()) -> int:
    """Attach every report to the stored segments it points at and is not yet attached to (after a
    batch scan of a stream that was reported before it was scanned). Returns the links made."""
    made = 0
    for report in session.exec(select(Report).order_by(Report.id)).all():
        for segment in _segments_for(session, report, options):
            _attach(session, report, segment)
            made += 1
    return made


def import_reports(session: Session, path: Path | str, options: ReportOptions = ReportOptions()) -> ImportResult:
    """Submit every row of a CSV (with a header: stream, reporter, at, label, comment) or JSONL
    file. Bad rows are rejected with their line and reason; the good ones are kept."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}:1: not UTF-8 text") from None
    rows = _jsonl_rows(path, text) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv_rows(path, text)
    accepted = folded = 0
    rejected: list[str] = []
    for line, row in rows:
        if isinstance(row, str):
            rejected.append(f"{path}:{line}: {row}")
            continue
        try:
            receipt = submit_report(session, stream=row.get("stream"), reporter_id=row.get("reporter"),
                                    at=row.get("at"), label=row.get("label"), comment=row.get("comment") or "",
                                    options=options)
        except (InputError, NotFound) as exc:
            rejected.append(f"{path}:{line}: {exc}")
            continue
        accepted += receipt.status == "accepted"
        folded += receipt.status == "folded"
    log.info("%s: %d reports accepted, %d folded, %d rejected", path, accepted, folded, len(rejected))
    return ImportResult(accepted=accepted, folded=folded, rejected=tuple(rejected))


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


# ---------------------------------------------------------------- helpers


def _actor(reporter_id: str) -> str:
    return f"viewer:{reporter_id}"


MAX_ID = 2**63 - 1  # the largest row id a database keeps


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


def _clock_of(session: Session, report: Report):
    """The segments that share the report's clock; None when there are none yet."""
    if report.scan_id is not None:
        return SegmentRow.scan_id == report.scan_id
    if session.get(Stream, report.stream_id).content_sha256 is None:  # a live feed: one clock, every scan
        return SegmentRow.stream_id == report.stream_id
    # seconds into a recording: the segments of its latest scan that stored any
    scan_id = session.exec(select(SegmentRow.scan_id).where(SegmentRow.stream_id == report.stream_id)
                           .order_by(SegmentRow.scan_id.desc()).limit(1)).first()
    return None if scan_id is None else SegmentRow.scan_id == scan_id


def _said_at(session: Session, report: Report, same_clock, options: ReportOptions) -> SegmentRow | None:
    """The stored segment being said at the report's moment, or the one that had just ended."""
    if same_clock is None:
        return None
    at = round(report.at_s * 1000)
    around = session.exec(select(SegmentRow).where(
        same_clock, SegmentRow.start_ms <= round((report.at_s + options.after_s) * 1000),
        SegmentRow.end_ms >= round((report.at_s - options.near_s) * 1000))).all()
    return min(around, key=lambda seg: (0 if seg.start_ms <= at <= seg.end_ms else 1, abs(seg.end_ms - at),
                                        seg.start_ms), default=None)


def _segments_for(session: Session, report: Report, options: ReportOptions) -> list[SegmentRow]:
    """The stored segments a report points at (see the module docstring) and is not attached to."""
    same_clock = _clock_of(session, report)
    if same_clock is None:
        return []
    start, end = round((report.at_s - options.before_s) * 1000), round((report.at_s + options.after_s) * 1000)
    linked = set(session.exec(select(ReportLink.segment_id).where(ReportLink.report_id == report.id)).all())
    chosen = list(session.exec(select(SegmentRow).where(
        same_clock, SegmentRow.action != VerdictAction.PASS, SegmentRow.start_ms <= end, SegmentRow.end_ms >= start)
        .order_by(SegmentRow.start_ms)).all())
    # Of the sentences around the moment they reported, only the one being said (or just ended)
    # then: one report opens at most one case on a sentence the pipeline passed.
    said = _said_at(session, report, same_clock, options)
    passed_linked = any(session.get(SegmentRow, sid).action == VerdictAction.PASS for sid in linked)
    if said is not None and said.action == VerdictAction.PASS and not passed_linked:
        chosen.append(said)
    return sorted((seg for seg in chosen if seg.id not in linked), key=lambda seg: seg.start_ms)


def _attach(session: Session, report: Report, segment: SegmentRow) -> int:
    record(session, ev.AttachReport(report_id=report.id), actor="pinocchio", subject_id=segment.id,
           stream_id=segment.stream_id)
    return segment.id


def _csv_rows(path: Path, text: str):
    lines = _Lines(text)
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        what = f"missing column '{missing[0]}'" if missing else f"unknown column '{unknown[0]}'"
        raise InputError(f"{path}:1: {what} (columns: {', '.join(COLUMNS)}; label and comment may be left out)")
    while True:
        line = lines.read + 1  # a record starts on the next physical line (a quoted field may span several)
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, f"not CSV: {exc}"
            return
        if not any(v.strip() for v in raw):
            continue
        if len(raw) != len(header):
            yield line, f"{len(raw)} fields, the header has {len(header)}"
            continue
        yield line, {k: v.strip() for k, v in zip(header, raw)}


class _Lines:
    """The lines of a text, counting how many the CSV reader has taken."""

    def __init__(self, text: str):
        self._lines = text.splitlines(keepends=True)
        self.read = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.read >= len(self._lines):
            raise StopIteration
        self.read += 1
        return self._lines[self.read - 1]


def _jsonl_rows(path: Path, text: str):
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, f"not JSON: {exc.msg}"
            continue
        if not isinstance(row, dict):
            yield number, "expected an object like {\"stream\": 1, \"reporter\": \"u1\", \"at\": 12.5}"
            continue
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            yield number, f"unknown key '{unknown[0]}' (keys: {', '.join(COLUMNS)})"
            continue
        yield number, row
