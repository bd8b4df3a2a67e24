"""Everything persistent, with sqlmodel: streams, scans, segments, findings and the append-only,
hash-chained moderation event log. SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import UniqueConstraint, event, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from pinocchio import moderation_tables  # noqa: F401  (so that open_store creates the moderation tables)
from pinocchio.errors import ConfigError
from pinocchio.records import Verdict

GENESIS_HASH = "0" * 64


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Stream(SQLModel, table=True):
    """A recording (identified by its content hash) or a live feed (by its URL), with the streamer
    and room it belongs to when they are known (a streams file names them)."""

    id: int | None = Field(default=None, primary_key=True)
    source: str
    content_sha256: str | None = Field(default=None, index=True, unique=True)
    duration_s: float | None = None
    name: str | None = None  # what reports and output call it, e.g. "room42"
    streamer_id: str | None = Field(default=None, index=True)
    room: str | None = None
    # Live feeds: the UTC moment that is 0 s of stream time, kept so that a restarted worker
    # carries on the same clock and its segments line up with the ones stored before.
    live_epoch: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Scan(SQLModel, table=True):
    """One run of the pipeline over a stream; `--force` adds a new one and never rewrites the old."""

    id: int | None = Field(default=None, primary_key=True)
    stream_id: int = Field(foreign_key="stream.id", index=True)
    status: str = "running"  # running, done, failed, abandoned
    pipeline_version: str
    provenance: str  # JSON: model, ASR options, lexicon version, thresholds
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    error: str | None = None


class SegmentRow(SQLModel, table=True):
    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("scan_id", "start_ms", "end_ms"),)

    id: int | None = Field(default=None, primary_key=True)
    scan_id: int = Field(foreign_key="scan.id", index=True)
    stream_id: int = Field(foreign_key="stream.id", index=True)
    start_ms: int
    end_ms: int
    text: str
    tokens: str  # JSON list
    action: str = Field(index=True)


class FindingRow(SQLModel, table=True):
    __tablename__ = "finding"

    id: int | None = Field(default=None, primary_key=True)
    segment_id: int = Field(foreign_key="segment.id", index=True)
    source: str
    label: str = Field(index=True)
    term: str
    matched: str
    match_kind: str
    severity: int
    article: str
    span_start: int
    span_end: int
    score: float
    evidence: str | None = None  # the clip's file name (<sha256>.opus) in the evidence folder


class ModerationEvent(SQLModel, table=True):
    """Append-only. Each row's hash covers its content and the previous row's hash."""

    __tablename__ = "moderation_event"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    actor: str
    action: str = Field(index=True)
    subject: str = Field(index=True)  # e.g. "segment:12"
    stream_id: int | None = Field(default=None, foreign_key="stream.id", index=True)
    payload: str  # JSON
    prev_hash: str
    hash: str = Field(unique=True)


class WebhookFailure(SQLModel, table=True):
    """A dead letter: a delivery that failed every attempt, kept whole so it can be sent again."""

    __tablename__ = "webhook_failure"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    url: str
    payload: str  # the exact body that was signed
    attempts: int
    last_error: str


class LedgerLock(SQLModel, table=True):
    """One row, updated before every append so that writers of the moderation log take turns
    (SQLite's write lock, PostgreSQL's row lock) and never chain two events to the same parent."""

    __tablename__ = "ledger_lock"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    appended: int = 0


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_store(url: str) -> Engine:
    """An engine with the tables created. A bare path is taken as a SQLite file."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        engine = create_engine(url)
    except Exception as exc:  # sqlalchemy raises several kinds for a bad URL
        raise ConfigError(f"database URL {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        SQLModel.metadata.create_all(engine)
    except Exception as exc:
        raise ConfigError(f"database {url!r}: {str(exc).splitlines()[0]}") from None
    return engine


def _canonical_time(moment: datetime) -> str:
    """UTC, microseconds, no offset: SQLite gives datetimes back without their zone, PostgreSQL with it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def event_hash(prev_hash: str, created_at: datetime, actor: str, action: str, subject: str, payload: str) -> str:
    body = json.dumps([prev_hash, _canonical_time(created_at), actor, action, subject, payload], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def take_turn(session: Session) -> None:
    """Queue behind other writers of the moderation log (see `LedgerLock`) until this transaction ends."""
    done = session.exec(update(LedgerLock).where(LedgerLock.id == 1)
                        .values(appended=LedgerLock.appended + 1)).rowcount
    if not done:
        try:
            with session.begin_nested():
                session.add(LedgerLock(id=1, appended=1))
        except IntegrityError:  # another writer created it first: queue behind it
            session.exec(update(LedgerLock).where(LedgerLock.id == 1).values(appended=LedgerLock.appended + 1))


def append_event(session: Session, *, actor: str, action: str, subject: str, payload: dict,
                 stream_id: int | None = None) -> ModerationEvent:
    take_turn(session)  # the pipeline, live feeds and reviewers append to one chain
    last = session.exec(select(ModerationEvent).order_by(ModerationEvent.id.desc()).limit(1)).first()
    prev_hash = last.hash if last else GENESIS_HASH
    created_at = utcnow()
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    row = ModerationEvent(created_at=created_at, actor=actor, action=action, subject=subject,
                          stream_id=stream_id, payload=body, prev_hash=prev_hash,
                          hash=event_hash(prev_hash, created_at, actor, action, subject, body))
    session.add(row)
    session.flush()
    return row


def stream_for(session: Session, *, source: str, content_sha256: str, duration_s: float | None) -> Stream:
    stream = session.exec(select(Stream).where(Stream.content_sha256 == content_sha256)).first()
    if stream is None:
        stream = Stream(source=source, content_sha256=content_sha256, duration_s=duration_s)
        session.add(stream)
        session.flush()
    return stream


def live_stream_for(session: Session, *, source: str) -> Stream:
    """A live feed is identified by its URL (it has no content hash)."""
    stream = session.exec(select(Stream).where(Stream.source == source, Stream.content_sha256 == None)).first()  # noqa: E711
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


def add_verdicts(session: Session, *, scan: Scan, verdicts: Iterable[Verdict], actor: str) -> list[SegmentRow]:
    """Store segments and findings; every segment that is not a pass gets a `flag` event."""
    rows = []
    for verdict in verdicts:
        seg = verdict.segment
        row = SegmentRow(scan_id=scan.id, stream_id=scan.stream_id, start_ms=round(seg.start_s * 1000),
                         end_ms=round(seg.end_s * 1000), text=seg.text,
                         tokens=json.dumps(list(seg.tokens), ensure_ascii=False), action=verdict.action)
        session.add(row)
        session.flush()
        for f in verdict.findings:
            session.add(FindingRow(segment_id=row.id, source=f.source, label=f.label, term=f.term,
                                   matched=f.matched, match_kind=f.match_kind, severity=f.severity,
                                   article=f.article, span_start=f.span[0], span_end=f.span[1], score=f.score))
        if verdict.action != "pass":
            append_event(session, actor=actor, action="flag", subject=f"segment:{row.id}",
                         stream_id=scan.stream_id,
                         payload={"action": verdict.action, "labels": list(verdict.labels),
                                  "start_s": seg.start_s, "end_s": seg.end_s, "scan_id": scan.id})
        rows.append(row)
    return rows


def link_evidence(session: Session, *, segment_id: int, clip: str) -> None:
    for finding in session.exec(select(FindingRow).where(FindingRow.segment_id == segment_id)):
        finding.evidence = clip
        session.add(finding)


def finish_scan(session: Session, *, scan: Scan, status: str, error: str | None = None) -> None:
    scan.status = status
    scan.error = error
    scan.finished_at = utcnow()
    session.add(scan)


def scan_verdicts(session: Session, *, scan_id: int) -> list[Verdict]:
    """The verdicts a finished scan stored, rebuilt as records (for re-printing a skipped file)."""
    from pinocchio.records import Finding, Segment

    segments = session.exec(select(SegmentRow).where(SegmentRow.scan_id == scan_id).order_by(SegmentRow.start_ms))
    verdicts = []
    for row in segments:
        findings = session.exec(select(FindingRow).where(FindingRow.segment_id == row.id).order_by(FindingRow.id))
        verdicts.append(Verdict(
            segment=Segment(start_s=row.start_ms / 1000, end_s=row.end_ms / 1000, text=row.text,
                            tokens=tuple(json.loads(row.tokens))),
            findings=tuple(Finding(source=f.source, label=f.label, severity=f.severity, article=f.article,
                                   span=(f.span_start, f.span_end), term=f.term, matched=f.matched,
                                   match_kind=f.match_kind, score=f.score) for f in findings),
            action=row.action,
        ))
    return verdicts
