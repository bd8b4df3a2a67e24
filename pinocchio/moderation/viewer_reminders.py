"""Viewers who remind (用户的社会化力量主动提醒主播): on a stream that is on air, when the reports of
one label within a short stretch of the stream weigh enough — each report counting its reporter's
credibility — the streamer is reminded with that label's template, framed as coming from viewers.
The reminder is a `remind` event (`source: viewers`) about the segment the reports point at, in
the intake's transaction, and is sent like a pipeline reminder by whoever runs the intake. A
streamer reminded of the label lately, by either path, is not reminded again (`store.reminded`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.labels import label_table
from pinocchio.core.records import VerdictAction
from pinocchio.core.reminder_texts import VIEWERS, mm_ss
from pinocchio.moderation.deadlines import live_streams
from pinocchio.moderation.ledger import Entry, record_all
from pinocchio.store.projections import Report, ReportLink
from pinocchio.store.reminded import labels_reminded
from pinocchio.store.tables import SegmentRow, Stream

log = logging.getLogger(__name__)

ACTOR = "viewers"


@dataclass(frozen=True)
class ViewerRemindOptions:
    weight: float = 1.5  # the credibility the reports must add up to: three newcomers, or two trusted viewers
    window_s: float = 60.0  # stream seconds back from the latest report that still count
    remind_window_s: float = 120.0  # a streamer reminded of the label this recently is not reminded again


def remind_from_reports(session: Session, report_ids: Sequence[int], templates: dict[str, str], *,
                        now: datetime, options: ViewerRemindOptions = ViewerRemindOptions()) -> list[ev.Remind]:
    """The reminders that the reports just taken in (`report_ids`) raise, recorded in the caller's
    transaction (which holds the turns of their streams: the intake's)."""
    new = session.exec(select(Report).where(Report.id.in_(list(report_ids)), Report.label.is_not(None))).all()
    if not new:
        return []
    on_air = live_streams(session, {r.stream_id for r in new})
    latest: dict[tuple[int, str], Report] = {}
    for report in new:
        key = (report.stream_id, report.label)
        if report.stream_id in on_air and (key not in latest or report.at_s > latest[key].at_s):
            latest[key] = report
    reminders, entries = [], []
    for (stream_id, label), last in sorted(latest.items(), key=lambda item: item[1].id):
        if label in labels_reminded(session, stream_id, now - timedelta(seconds=options.remind_window_s)):
            continue
        weighing = session.exec(select(Report).where(Report.stream_id == stream_id, Report.label == label,
                                                     Report.at_s >= last.at_s - options.window_s,
                                                     Report.at_s <= last.at_s)).all()
        weight = round(sum(r.credibility for r in weighing), 3)
        if weight < options.weight:
            continue
        segment = _said(session, last)
        if segment is None:  # nothing of the stream stored near the reports yet: the next report asks again
            continue
        stream = session.get(Stream, stream_id)
        reminder = _reminder(templates, stream, segment, label, len(weighing), weight)
        reminders.append(reminder)
        entries.append(Entry(reminder, ACTOR, segment.id, stream_id, now))
        log.info("%s: %d viewers' reports of %s (weight %.2f) remind the streamer", reminder.stream, len(weighing),
                 label, weight)
    record_all(session, entries)
    return reminders


def _said(session: Session, report: Report) -> SegmentRow | None:
    """The segment the report points at that was said closest to its time."""
    segments = session.exec(select(SegmentRow).join(ReportLink, ReportLink.segment_id == SegmentRow.id)
                            .where(ReportLink.report_id == report.id)).all()
    return min(segments, key=lambda s: abs((s.start_ms + s.end_ms) / 2000 - report.at_s), default=None)


def _reminder(templates: dict[str, str], stream: Stream, segment: SegmentRow, label: str, reports: int,
              weight: float) -> ev.Remind:
    article = label_table()[label].article
    name = stream.name or str(stream.id)
    start_s, end_s = segment.start_ms / 1000, segment.end_ms / 1000
    said = templates[label].format(matched=segment.text, article=article, text=segment.text, stream=name,
                                   time=mm_ss(start_s), fact="")
    message = templates[VIEWERS].format(reminder=said, reports=reports, weight=f"{weight:.2f}")
    return ev.Remind(stream=name, start_s=start_s, end_s=end_s, label=label, article=article,
                     action=VerdictAction.REVIEW, message=message, text=segment.text, source=ACTOR,
                     reports=reports, weight=weight)
