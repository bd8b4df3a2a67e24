"""Where a viewer's report points: the rule (see `reports`) over the stored segments of the
report's clock, and a cache of those segments that a long-lived intake keeps between groups."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from pinocchio.core.records import VerdictAction
from pinocchio.store.projections import ReportLink
from pinocchio.store.tables import SegmentRow, Stream

if TYPE_CHECKING:
    from pinocchio.moderation.reports import ReportOptions
    from pinocchio.store.projections import Report


@dataclass(frozen=True)
class Candidate:
    """A stored segment as the attaching rule sees it."""

    id: int
    start_ms: int
    end_ms: int
    passed: bool


def said_at(candidates: list[Candidate], at_s: float, options: ReportOptions) -> Candidate | None:
    """The segment being said at `at_s`, or the one that had just ended."""
    at = round(at_s * 1000)
    lo, hi = round((at_s - options.near_s) * 1000), round((at_s + options.after_s) * 1000)
    around = [c for c in candidates if c.start_ms <= hi and c.end_ms >= lo]
    return min(around, key=lambda c: (0 if c.start_ms <= at <= c.end_ms else 1, abs(c.end_ms - at), c.start_ms),
               default=None)


def pointed_at(candidates: list[Candidate], at_s: float, options: ReportOptions, *,
               linked: frozenset[int] = frozenset(), passed_linked: bool = False) -> list[int]:
    """The segments a report at `at_s` points at (see the `reports` docstring), in order, leaving
    out those it is attached to; `passed_linked`: it is attached to a passed sentence already."""
    lo, hi = round((at_s - options.before_s) * 1000), round((at_s + options.after_s) * 1000)
    chosen = {c.id: c for c in candidates if not c.passed and c.start_ms <= hi and c.end_ms >= lo}
    # Of the sentences around the moment, only the one being said (or just ended) then: one
    # report opens at most one case on a sentence the pipeline passed.
    said = said_at(candidates, at_s, options)
    if said is not None and said.passed and not passed_linked:
        chosen[said.id] = said
    return [c.id for c in sorted(chosen.values(), key=lambda c: c.start_ms) if c.id not in linked]


class SegmentCache:
    """The stored segments of the clocks reported on lately, kept between groups: segments are
    only ever added (ids grow) and never change, so each group reads only those stored since."""

    def __init__(self, clocks: int = 256):
        self._timelines: OrderedDict[tuple[str, int], Timeline] = OrderedDict()
        self._limit = clocks

    def on(self, session: Session, clock: tuple[str, int]) -> Timeline:
        timeline = self._timelines.pop(clock, None) or Timeline()
        timeline.catch_up(session, clock)
        self._timelines[clock] = timeline
        while len(self._timelines) > self._limit:
            self._timelines.popitem(last=False)
        return timeline


class Timeline:
    """One clock's segments, by start."""

    def __init__(self):
        self._segments: list[Candidate] = []
        self._starts: list[int] = []
        self._last_id = 0
        self._longest = 0

    def catch_up(self, session: Session, clock: tuple[str, int]) -> None:
        rows = session.exec(select(SegmentRow.id, SegmentRow.start_ms, SegmentRow.end_ms, SegmentRow.action)
                            .where(on_clock(clock), SegmentRow.id > self._last_id)).all()
        if not rows:
            return
        self._segments.extend(Candidate(r.id, r.start_ms, r.end_ms, r.action == VerdictAction.PASS) for r in rows)
        self._segments.sort(key=lambda c: (c.start_ms, c.id))
        self._starts = [c.start_ms for c in self._segments]
        self._last_id = max(self._last_id, *(r.id for r in rows))
        self._longest = max(self._longest, *(r.end_ms - r.start_ms for r in rows))

    def around(self, lo_ms: int, hi_ms: int) -> list[Candidate]:
        """The segments overlapping [lo_ms, hi_ms]."""
        first = bisect_left(self._starts, lo_ms - self._longest)
        last = bisect_right(self._starts, hi_ms)
        return [c for c in self._segments[first:last] if c.end_ms >= lo_ms]


def on_clock(clock: tuple[str, int]):
    column, value = clock
    return (SegmentRow.scan_id if column == "scan_id" else SegmentRow.stream_id) == value


def window(at_lo: float, at_hi: float, options: ReportOptions) -> tuple[int, int]:
    return (round((at_lo - max(options.before_s, options.near_s)) * 1000), round((at_hi + options.after_s) * 1000))


def candidates_near(session: Session, clock: tuple[str, int], at_lo: float, options: ReportOptions,
                at_hi: float | None = None) -> list[Candidate]:
    """The segments on a clock that a report between `at_lo` and `at_hi` could point at."""
    lo, hi = window(at_lo, at_lo if at_hi is None else at_hi, options)
    rows = session.exec(select(SegmentRow.id, SegmentRow.start_ms, SegmentRow.end_ms, SegmentRow.action).where(
        on_clock(clock), SegmentRow.start_ms <= hi, SegmentRow.end_ms >= lo)).all()
    return [Candidate(r.id, r.start_ms, r.end_ms, r.action == VerdictAction.PASS) for r in rows]


def clock_of(session: Session, report: Report | Any) -> tuple[str, int] | None:
    """Which segments share the report's clock, as ("scan_id" or "stream_id", its value); None
    when there are none yet."""
    if report.scan_id is not None:
        return ("scan_id", report.scan_id)
    if session.get(Stream, report.stream_id).content_sha256 is None:  # a live feed: one clock, every scan
        return ("stream_id", report.stream_id)
    # seconds into a recording: the segments of its latest scan that stored any
    scan_id = session.exec(select(SegmentRow.scan_id).where(SegmentRow.stream_id == report.stream_id)
                           .order_by(SegmentRow.scan_id.desc()).limit(1)).first()
    return None if scan_id is None else ("scan_id", scan_id)


def segments_for(session: Session, report: Report, options: ReportOptions) -> list[int]:
    """The stored segments a stored report points at and is not attached to."""
    clock = clock_of(session, report)
    if clock is None:
        return []
    linked = session.exec(select(ReportLink.segment_id, SegmentRow.action)
                          .join(SegmentRow, SegmentRow.id == ReportLink.segment_id)
                          .where(ReportLink.report_id == report.id)).all()
    return pointed_at(candidates_near(session, clock, report.at_s, options), report.at_s, options,
                      linked=frozenset(r.segment_id for r in linked),
                      passed_linked=any(r.action == VerdictAction.PASS for r in linked))
