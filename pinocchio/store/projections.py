"""The tables of human moderation, beside the event log of `tables.py`.

`Reviewer` is an account table. Every other table here is a projection of `ModerationEvent`:
written only by `moderation.projection`, in the transaction that appends the event (through
`moderation.ledger.record`), and rebuilt from the log by `moderation.ledger.rebuild`. Their keys come from the log (a report's id is the
id of its `report` event, a case is keyed by its segment), so a rebuild gives the same rows.
Times are UTC and timezone-aware (`DateTime(timezone=True)`, so PostgreSQL keeps the zone)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from pinocchio.core.clock import utcnow

ROLES = ("reviewer", "senior", "admin")  # each role may do what the ones before it may


def _when(nullable: bool = False, index: bool = False):
    if nullable:
        return Field(default=None, sa_type=DateTime(timezone=True), nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=index)


class Reviewer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str  # one of ROLES
    password_hash: str  # scrypt$n$r$p$salt$hash, see reviewers.hash_password
    active: bool = True
    # Every console session carries the epoch it began in; logging out, a new password or a
    # deactivation moves it on, and every older session ends at its next request.
    session_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class LoginFailure(SQLModel, table=True):
    """A wrong password, kept for a while so that logins slow down and then lock (per account and per
    client, across every console process of the database)."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)  # the account tried (what was typed, cut to 200 characters)
    client: str = Field(index=True)  # the client's address
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)


class Report(SQLModel, table=True):
    """A viewer's report: what they heard, when, and how far their word counts (`credibility`)."""

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # its `report` event
    stream_id: int = Field(foreign_key="stream.id", index=True)
    scan_id: int | None = Field(default=None, foreign_key="scan.id")  # set for wall-time reports
    reporter_id: str = Field(index=True)
    at_s: float  # seconds into the stream (into the scan, for live)
    reported_at: datetime | None = _when(nullable=True)  # the wall time the viewer gave, if any
    label: str | None = None
    comment: str = ""
    credibility: float  # the reporter's credibility when the report came in
    received_at: datetime = _when(index=True)
    duplicates: int = 0  # later reports folded into this one
    outcome: str = "pending"  # a core.events.ReportOutcome, from the decisions on its cases


class IntakeKey(SQLModel, table=True):
    """A report's intake key (a file row's content and place, or the client's idempotency key):
    the same key again is answered with the report it made, not stored twice."""

    __tablename__ = "intake_key"

    key: str = Field(primary_key=True)
    report_id: int  # the report the key's request made, or folded into
    event_id: int  # the event that stored it


class ReportLink(SQLModel, table=True):
    """A report attached to a segment it points at."""

    __tablename__ = "report_link"

    report_id: int = Field(foreign_key="report.id", primary_key=True)
    segment_id: int = Field(foreign_key="segment.id", primary_key=True, index=True)
    attached_at: datetime = _when()


class Case(SQLModel, table=True):
    """The review state of one segment. Priority is not stored: it depends on the streamer's
    strikes at the time of reading (see `cases.priority`)."""

    __tablename__ = "review_case"

    segment_id: int = Field(foreign_key="segment.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    stream_id: int = Field(foreign_key="stream.id", index=True)
    status: str = Field(index=True)  # a core.events.CaseStatus
    severity: int  # the highest severity among the segment's findings (0: none)
    score: float  # the highest finding score (a classifier's probability; lexicon hits score 1)
    report_count: int = 0
    report_weight: float = 0.0  # the sum of the attached reports' credibility
    claimed_by: str | None = None
    claim_expires_at: datetime | None = _when(nullable=True)
    labels: str = "[]"  # JSON list: the labels a reviewer confirmed
    decided_by: str | None = None
    decided_at: datetime | None = _when(nullable=True)
    decide_event_id: int | None = None
    comments: int = 0
    opened_at: datetime = _when()
    updated_at: datetime = _when()


class Strike(SQLModel, table=True):
    """Points a confirmed label costs a streamer, until they expire or an appeal reverses them."""

    event_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # the `decide` event
    label: str = Field(primary_key=True)
    streamer_id: str = Field(index=True)
    segment_id: int = Field(foreign_key="segment.id")
    severity: int
    points: int
    created_at: datetime = _when()
    expires_at: datetime = _when()
    reversed_at: datetime | None = _when(nullable=True)


class Penalty(SQLModel, table=True):
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # its `penalize` event
    streamer_id: str = Field(index=True)
    segment_id: int = Field(foreign_key="segment.id")
    kind: str  # a core.events.PenaltyKind
    step: int  # the ladder step's threshold in points
    points: int  # the streamer's active points that reached it
    starts_at: datetime = _when()
    ends_at: datetime | None = _when(nullable=True)  # None: permanent; a warning ends as it starts
    ladder_version: str
    reversed_at: datetime | None = _when(nullable=True)
    reversed_by: str | None = None


class Appeal(SQLModel, table=True):
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # its `appeal` event
    penalty_id: int = Field(foreign_key="penalty.id", index=True)
    streamer_id: str = Field(index=True)
    reason: str
    filed_at: datetime = _when()
    status: str = "pending"  # a core.events.AppealStatus
    resolved_by: str | None = None
    resolved_at: datetime | None = _when(nullable=True)
    comment: str = ""


class EvidenceClip(SQLModel, table=True):
    """The audio clip cut for a flagged segment (its `evidence` event)."""

    __tablename__ = "evidence_clip"

    segment_id: int = Field(foreign_key="segment.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    clip: str  # <sha256>.opus in the evidence folder
    event_id: int
    cut_at: datetime = _when()
    purged_at: datetime | None = _when(nullable=True)  # deleted after its retention (`evidence purge`)


class QaReviewRow(SQLModel, table=True):
    """A decided case reviewed again, blind, by a second reviewer, and, when the two disagree, which
    one a senior found right."""

    __tablename__ = "qa_review"

    segment_id: int = Field(foreign_key="segment.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    first_reviewer: str = Field(index=True)
    first_decision: str  # confirm | dismiss
    first_labels: str = "[]"  # JSON list
    second_reviewer: str = Field(index=True)
    second_decision: str
    second_labels: str = "[]"
    agreed: bool = Field(index=True)  # the same decision and the same labels
    reviewed_at: datetime = _when()
    resolved_by: str | None = None
    side: str | None = None  # who the senior found right: first | second
    resolved_at: datetime | None = _when(nullable=True)


PROJECTIONS = (QaReviewRow, ReportLink, IntakeKey, Strike, Appeal, Penalty, Case, Report, EvidenceClip)  # children first, for deletes
