"""Store what the pipeline heard: a stream (by content hash, or a live feed by URL), a scan of it
with its provenance, and each segment with its findings. Moderation events about them go through
the ledger, not here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session, select

from pinocchio.core.clock import utcnow
from pinocchio.core.records import (
    CheckOutcome,
    Finding,
    FindingSource,
    MatchKind,
    Promise,
    PromiseCheck,
    PromiseKind,
    Segment,
    Verdict,
    VerdictAction,
)
from pinocchio.store.tables import FindingRow, PromiseCheckRow, Scan, SegmentRow, Stream


@dataclass(frozen=True)
class ScanOf:
    """A scan as its segments need it: plain values, handed between threads as a session's row
    cannot be."""

    id: int
    stream_id: int


def stream_for(session: Session, *, source: str, content_sha256: str, duration_s: float | None) -> Stream:
    stream = session.exec(select(Stream).where(Stream.content_sha256 == content_sha256)).first()
    if stream is None:
        stream = Stream(source=source, content_sha256=content_sha256, duration_s=duration_s)
        session.add(stream)
        session.flush()
    return stream


def live_stream_for(session: Session, *, source: str) -> Stream:
    """A live feed is identified by its URL (it has no content hash)."""
    stream = session.exec(select(Stream).where(Stream.source == source, Stream.content_sha256.is_(None))).first()
    if stream is None:
        stream = Stream(source=source)
        session.add(stream)
        session.flush()
    return stream


def completed_scan(session: Session, *, stream_id: int) -> Scan | None:
    return session.exec(
        select(Scan).where(Scan.stream_id == stream_id, Scan.status == "done").order_by(Scan.id.desc())
    ).first()


def start_scan(session: Session, *, stream: Stream, pipeline_version: str, provenance: dict) -> Scan:
    # A scan left 'running' by a crash is superseded, not resumed: its segments stay for the record.
    for stale in session.exec(select(Scan).where(Scan.stream_id == stream.id, Scan.status == "running")):
        stale.status = "abandoned"
        session.add(stale)
    scan = Scan(stream_id=stream.id, pipeline_version=pipeline_version,
                provenance=json.dumps(provenance, ensure_ascii=False, sort_keys=True))
    session.add(scan)
    session.flush()
    return scan


def add_segments(session: Session, stored: Sequence[tuple[Scan | ScanOf, Verdict]]) -> list[int]:
    """Store segments (each of its scan) and their findings, two plain INSERTs for all of them (a
    live worker's batch is dozens); their ids, in order. The ledger is told separately."""
    if not stored:
        return []
    session.flush()  # rows the session holds (a stream, a scan) go in first: these statements bypass it
    segments = SegmentRow.__table__
    ids = list(session.connection().execute(
        insert(segments).returning(segments.c.id, sort_by_parameter_order=True),
        [{"scan_id": scan.id, "stream_id": scan.stream_id, "start_ms": round(v.segment.start_s * 1000),
          "end_ms": round(v.segment.end_s * 1000), "text": v.segment.text,
          "tokens": json.dumps(list(v.segment.tokens), ensure_ascii=False), "action": str(v.action),
          "heard_again": v.segment.heard_again}
         for scan, v in stored]).scalars())
    findings = [{"segment_id": segment_id, "source": str(f.source), "label": f.label, "term": f.term,
                 "matched": f.matched, "match_kind": str(f.match_kind), "severity": f.severity,
                 "article": f.article, "span_start": f.span[0], "span_end": f.span[1], "score": f.score,
                 "fact": f.fact or None, "model": f.model or None}
                for segment_id, (_, v) in zip(ids, stored) for f in v.findings]
    if findings:
        session.connection().execute(insert(FindingRow.__table__), findings)
    checks = [{"segment_id": segment_id, "kind": str(c.promise.kind), "said": c.promise.said,
               "span_start": c.promise.span[0], "span_end": c.promise.span[1], "value": c.value or c.promise.value(),
               "outcome": str(c.outcome), "check_name": c.check, "fact": c.fact, "facts": c.facts, "product": c.product}
              for segment_id, (_, v) in zip(ids, stored) for c in v.checks]
    if checks:
        session.connection().execute(insert(PromiseCheckRow.__table__), checks)
    return ids


def finish_scan(session: Session, *, scan: Scan, status: str, error: str | None = None) -> None:
    scan.status = status
    scan.error = error
    scan.finished_at = utcnow()
    session.add(scan)


def scan_verdicts(session: Session, *, scan_id: int) -> list[Verdict]:
    """The verdicts a finished scan stored, rebuilt as records (for re-printing a skipped file)."""
    segments = session.exec(select(SegmentRow).where(SegmentRow.scan_id == scan_id).order_by(SegmentRow.start_ms))
    verdicts = []
    for row in segments:
        findings = session.exec(select(FindingRow).where(FindingRow.segment_id == row.id).order_by(FindingRow.id))
        verdicts.append(Verdict(
            segment=Segment(start_s=row.start_ms / 1000, end_s=row.end_ms / 1000, text=row.text,
                            tokens=tuple(json.loads(row.tokens)), heard_again=row.heard_again),
            findings=tuple(Finding(source=FindingSource(f.source), label=f.label, severity=f.severity,
                                   article=f.article, span=(f.span_start, f.span_end), term=f.term,
                                   matched=f.matched, match_kind=_match_kind(f.match_kind), score=f.score,
                                   fact=f.fact or "", model=f.model or "")
                           for f in findings),
            action=VerdictAction(row.action),
            checks=tuple(stored_check(c) for c in promise_checks(session, row.id)),
        ))
    return verdicts


def promise_checks(session: Session, segment_id: int) -> list[PromiseCheckRow]:
    return list(session.exec(select(PromiseCheckRow).where(PromiseCheckRow.segment_id == segment_id)
                             .order_by(PromiseCheckRow.span_start, PromiseCheckRow.id)).all())


def stored_check(row: PromiseCheckRow) -> PromiseCheck:
    """A stored check as its record (the promise's value as the text it was stored as)."""
    return PromiseCheck(promise=Promise(kind=PromiseKind(row.kind), span=(row.span_start, row.span_end), said=row.said),
                        outcome=CheckOutcome(row.outcome), fact=row.fact, facts=row.facts, product=row.product,
                        check=row.check_name, value=row.value)


def _match_kind(value: str) -> MatchKind | str:
    try:
        return MatchKind(value)
    except ValueError:  # another classifier's kind of match
        return value
