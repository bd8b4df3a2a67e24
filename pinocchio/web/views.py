"""What the console's pages show beyond the library's records: the transcript around a case with
its flagged spans, the findings, reports and clip of a segment, and the formats of times. Reads
only, through sqlmodel; nothing here writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.store import scans
from pinocchio.store.projections import EvidenceClip, Report, ReportLink
from pinocchio.store.tables import FindingRow, PromiseCheckRow, SegmentRow, Stream

TRANSCRIPT_WINDOW_S = 30.0
CLIP_NAME = re.compile(r"^[0-9a-f]{64}\.opus$")


@dataclass(frozen=True)
class Piece:
    """A stretch of a segment's text, marked when a finding covers it. Templates escape `text`."""

    text: str
    marked: bool


@dataclass(frozen=True)
class TranscriptLine:
    segment_id: int
    start_s: float
    end_s: float
    action: str
    pieces: tuple[Piece, ...]
    current: bool  # the case's own segment
    heard_again: bool = False  # whisper's second hearing of speech on the lines around it


@dataclass(frozen=True)
class CaseReport:
    id: int
    reporter_id: str
    credibility: float
    label: str | None
    comment: str
    at_s: float
    duplicates: int
    outcome: str


def pieces(text: str, spans: list[tuple[int, int]]) -> tuple[Piece, ...]:
    """Split `text` into plain and marked pieces; overlapping spans merge, spans past the text are cut."""
    covered = [False] * len(text)
    for start, end in spans:
        for i in range(max(0, start), min(len(text), end)):
            covered[i] = True
    result: list[Piece] = []
    for i, char in enumerate(text):
        if result and result[-1].marked == covered[i]:
            result[-1] = Piece(result[-1].text + char, covered[i])
        else:
            result.append(Piece(char, covered[i]))
    return tuple(result)


def findings(session: Session, segment_id: int) -> list[FindingRow]:
    return list(session.exec(select(FindingRow).where(FindingRow.segment_id == segment_id)
                             .order_by(FindingRow.severity.desc(), FindingRow.score.desc(), FindingRow.id)).all())


def marked_spans(found: list[FindingRow]) -> list[tuple[int, int]]:
    """The words to mark: the lexicon's and the facts' matches where there are any (a
    classifier's span is usually the whole sentence, which says nothing more)."""
    precise = [(f.span_start, f.span_end) for f in found if f.source in ("lexicon", "facts")]
    return precise or [(f.span_start, f.span_end) for f in found]


def promise_checks(session: Session, segment_id: int) -> list[PromiseCheckRow]:
    """The segment's promises as checked against its shop's facts (none when it has no shop)."""
    return scans.promise_checks(session, segment_id)


def transcript(session: Session, segment_id: int, window_s: float = TRANSCRIPT_WINDOW_S) -> list[TranscriptLine]:
    """The segments of the same scan within `window_s` of the case's segment, with every flagged
    segment's findings marked."""
    segment = session.get(SegmentRow, segment_id)
    window_ms = round(window_s * 1000)
    rows = session.exec(select(SegmentRow).where(
        SegmentRow.scan_id == segment.scan_id, SegmentRow.end_ms >= segment.start_ms - window_ms,
        SegmentRow.start_ms <= segment.end_ms + window_ms).order_by(SegmentRow.start_ms, SegmentRow.id)).all()
    lines = []
    for row in rows:
        spans = marked_spans(findings(session, row.id)) if row.action != "pass" else []
        lines.append(TranscriptLine(segment_id=row.id, start_s=row.start_ms / 1000, end_s=row.end_ms / 1000,
                                    action=row.action, pieces=pieces(row.text, spans), current=row.id == segment_id,
                                    heard_again=row.heard_again))
    return lines


@dataclass(frozen=True)
class ReportTally:
    """A case's reports in a few lines: how many, and how much they weigh, by label and by how
    credible the reporters were."""

    total: int
    by_label: list[tuple[str, int, float]]  # (label or "no label", reports, weight)
    by_credibility: list[tuple[str, int]]  # (band, reports)


CREDIBILITY_BANDS = (("below 0.4", 0.0, 0.4), ("0.4 to 0.7", 0.4, 0.7), ("0.7 and above", 0.7, 1.01))


def report_tally(session: Session, segment_id: int) -> ReportTally:
    linked = select(ReportLink.report_id).where(ReportLink.segment_id == segment_id)
    labels = session.exec(select(Report.label, func.count(), func.sum(Report.credibility))
                          .where(Report.id.in_(linked)).group_by(Report.label)).all()
    bands = [(name, session.exec(select(func.count()).select_from(Report).where(
        Report.id.in_(linked), Report.credibility >= low, Report.credibility < high)).one())
        for name, low, high in CREDIBILITY_BANDS]
    by_label = sorted(((label or "no label", count, round(weight or 0.0, 2)) for label, count, weight in labels),
                      key=lambda row: (-row[1], row[0]))
    return ReportTally(total=sum(row[1] for row in by_label), by_label=by_label, by_credibility=bands)


def case_reports(session: Session, segment_id: int, *, newest_first: bool = False, offset: int = 0,
                 limit: int | None = None) -> list[CaseReport]:
    order = Report.id.desc() if newest_first else Report.id
    rows = session.exec(select(Report).join(ReportLink, ReportLink.report_id == Report.id)
                        .where(ReportLink.segment_id == segment_id).order_by(order).offset(offset).limit(limit)).all()
    return [CaseReport(id=r.id, reporter_id=r.reporter_id, credibility=r.credibility, label=r.label,
                       comment=r.comment, at_s=r.at_s, duplicates=r.duplicates, outcome=r.outcome) for r in rows]


def clip_name(session: Session, segment_id: int) -> str | None:
    """The segment's evidence clip, if one was cut and is still kept."""
    row = session.get(EvidenceClip, segment_id)
    return row.clip if row and row.purged_at is None and CLIP_NAME.match(row.clip) else None


def clip_purged_at(session: Session, segment_id: int) -> datetime | None:
    row = session.get(EvidenceClip, segment_id)
    return None if row is None else row.purged_at


def stream_of(session: Session, stream_id: int) -> Stream:
    return session.get(Stream, stream_id)


def event_summary(payload) -> str:
    """One line for the case's history: what was said or decided, else the payload's gist."""
    if isinstance(payload, ev.Decide):
        text = f"{payload.decision} {', '.join(payload.labels)}".strip()
        return f"{text}: {payload.comment}" if payload.comment else text
    if isinstance(payload, (ev.Comment,)):
        return payload.text
    if isinstance(payload, ev.Escalate):
        return payload.comment
    if isinstance(payload, ev.AttachReport):
        return f"report #{payload.report_id} points here"
    if isinstance(payload, ev.Flag):
        return f"{payload.action}: {', '.join(payload.labels)}"
    if isinstance(payload, ev.Claim):
        return f"claimed until {when(payload.expires_at)}"
    if isinstance(payload, ev.Remind):
        return f"reminded: {payload.message}"
    if isinstance(payload, ev.Evidence):
        return "evidence clip cut"
    return ""


def clock(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes:02d}:{secs:04.1f}"


def age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def time_left(due: datetime | None, now: datetime) -> str:
    """'12 min left' or 'overdue 3 h' (empty for a decided case)."""
    if due is None:
        return ""
    return f"overdue {age(due, now)}" if due <= now else f"{age(now, due)} left"


def when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"
