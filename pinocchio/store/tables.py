"""The tables of what was heard: streams, scans, segments, findings, promises checked, and the append-only,
hash-chained moderation event log (written only by `moderation.ledger.record`), the ledger's
turn-taking row and the webhooks' dead letters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from pinocchio.core.clock import utcnow

SCAN_STATUSES = ("running", "done", "failed", "abandoned")


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
    status: str = "running"  # one of SCAN_STATUSES
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
    # Live: whisper's second hearing of speech stored before (as the next utterance's context),
    # kept for what it found that the first hearing did not (Segment.heard_again).
    heard_again: bool = False


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
    fact: str | None = None  # a facts finding: the fact it contradicts, with the facts' version
    model: str | None = None  # what raised it, at its version (the classifier's, the lexicon's, the checks')


class PromiseCheckRow(SQLModel, table=True):
    """A promise said in a segment, checked against its stream's shop facts (facts/checker.py)."""

    __tablename__ = "promise_check"

    id: int | None = Field(default=None, primary_key=True)
    segment_id: int = Field(foreign_key="segment.id", index=True)
    kind: str
    said: str
    span_start: int
    span_end: int
    value: str  # normalised: ¥999, 2 × ¥120, counterfeit_compensation 10
    outcome: str  # honest | contradicted | unchecked
    check_name: str
    fact: str
    facts: str  # shop-id@version
    product: str


class ModerationEvent(SQLModel, table=True):
    """Append-only. Each row's hash covers its content and the hash of the row before it in its
    chain: one chain per stream (`chain` is the stream's id) and the global chain (0) for events of
    no stream, so that writers of different streams never wait for each other. Rows made before
    chains (schema revision 0002) are all on the global chain."""

    __tablename__ = "moderation_event"
    # A viewer's reports in the rate window are counted by actor and time at every intake; a
    # chain's head is its last row.
    __table_args__ = (Index("ix_moderation_event_actor_created_at", "actor", "created_at"),
                      Index("ix_moderation_event_chain_id", "chain", "id"))

    id: int | None = Field(default=None, primary_key=True)
    chain: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)
    actor: str
    action: str = Field(index=True)
    subject: str = Field(index=True)  # e.g. "segment:12"
    stream_id: int | None = Field(default=None, foreign_key="stream.id", index=True)
    payload: str  # JSON
    prev_hash: str
    hash: str = Field(unique=True)


class PenaltyNotice(SQLModel, table=True):
    """The outbox of notices to streamers: one row per penalty and kind (the penalty, or its
    reversal), made when the notice is first tried and marked once the platform took it, so a
    notice is sent once and a server that stopped before sending sends it at its next start."""

    __tablename__ = "penalty_notice"

    penalty_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(primary_key=True)  # "penalty" or "reversal"
    attempts: int = 0
    last_error: str | None = None
    next_try_at: datetime | None = None
    delivered_at: datetime | None = None
    body: str | None = None  # the JSON delivered, as signed


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
    """One row per chain (its id is the chain's), updated before every append to that chain so
    that its writers take turns (SQLite's write lock, PostgreSQL's row lock) and never link two
    events to the same parent; writers of other chains go on meanwhile (on PostgreSQL)."""

    __tablename__ = "ledger_lock"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    appended: int = 0
