"""The vocabulary of the moderation log: a closed set of actions, and one frozen payload record per
action. Both sides of Pinocchio speak it: the listening side records `flag`, `evidence`, `remind`
and `feed_gap` through the ledger it is handed (`core.ledger.Ledger`); the moderation side records
the rest. Only `moderation.ledger.record` writes events.

A payload is stored as JSON (`encode`) and read back into its record (`decode`); the logical time
of the change travels beside it as `at`. Every payload type names its action and the kind of
subject it is about, so a writer cannot file a claim against a stream."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pinocchio.core.records import VerdictAction


class Action(StrEnum):
    FLAG = "flag"  # pipeline: a stored segment needs a reminder or a reviewer
    EVIDENCE = "evidence"  # pipeline: the audio clip of a flagged segment was cut
    REMIND = "remind"  # live worker: the streamer was reminded of a rule
    FEED_GAP = "feed_gap"  # live worker: a stretch of the feed with no audio
    FEED_LAG = "feed_lag"  # live worker: a feed fell behind live (its lag kept growing), or caught up
    REPORT = "report"  # a viewer's report came in
    FOLD_REPORT = "fold_report"  # a viewer reported the same moment again: counted, no extra weight
    ATTACH_REPORT = "attach_report"  # a report points at a segment (and opens its case)
    CLAIM = "claim"  # a reviewer takes a case for a while
    ESCALATE = "escalate"  # to the seniors
    DECIDE = "decide"  # confirm (with labels and strikes) or dismiss
    PENALIZE = "penalize"  # the ladder's penalty for a confirmed decision
    COMMENT = "comment"  # a note on a case
    APPEAL = "appeal"  # a streamer contests a penalty
    RESOLVE_APPEAL = "resolve_appeal"  # a senior upholds or denies it
    REVERSE = "reverse"  # an upheld appeal undoes the penalty, its strikes and the decision
    PURGE_EVIDENCE = "purge_evidence"  # a clip kept past its retention was deleted (the record of it stays)
    QA_REVIEW = "qa_review"  # a second reviewer decided a decided case again, blind (quality of decisions)
    QA_RESOLVE = "qa_resolve"  # a senior said which of two disagreeing reviewers was right


class SubjectKind(StrEnum):
    SEGMENT = "segment"
    STREAM = "stream"
    STREAMER = "streamer"
    PENALTY = "penalty"
    APPEAL = "appeal"


class Decision(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"


class CaseStatus(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    OVERTURNED = "overturned"


UNDECIDED = (CaseStatus.OPEN, CaseStatus.ESCALATED)


class ReportOutcome(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class PenaltyKind(StrEnum):
    WARNING = "warning"
    BAN = "ban"
    PERMANENT_BAN = "permanent_ban"


class AppealStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    DENIED = "denied"


def subject(kind: SubjectKind, subject_id: int | str) -> str:
    """How an event names what it is about: `segment:12`, `streamer:meimei`."""
    return f"{kind}:{subject_id}"


# ---------------------------------------------------------------- payloads


@dataclass(frozen=True)
class Flag:
    ACTION: ClassVar[Action] = Action.FLAG
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    action: VerdictAction  # remind or review; review opens a case
    labels: tuple[str, ...]
    start_s: float
    end_s: float
    scan_id: int


@dataclass(frozen=True)
class Evidence:
    ACTION: ClassVar[Action] = Action.EVIDENCE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    clip: str  # <sha256>.opus in the evidence folder


@dataclass(frozen=True)
class Remind:
    ACTION: ClassVar[Action] = Action.REMIND
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    stream: str  # the feed's name
    start_s: float
    end_s: float
    label: str
    article: str
    action: VerdictAction  # the verdict's: remind or review
    message: str  # what the streamer is told
    text: str  # what they said
    source: str = "pipeline"  # or "viewers": raised by viewers' reports, not by detection
    reports: int = 0  # viewers: how many reports of the label raised it
    weight: float = 0.0  # viewers: their credibility, summed

    def as_json(self) -> dict:
        """The reminder as `live` prints it and the webhook sends it."""
        found = {"type": "reminder", "stream": self.stream, "start": round(self.start_s, 2),
                 "end": round(self.end_s, 2), "label": self.label, "article": self.article,
                 "action": str(self.action), "message": self.message, "text": self.text, "source": self.source}
        if self.source == "viewers":
            found.update(reports=self.reports, weight=self.weight)
        return found


@dataclass(frozen=True)
class FeedGap:
    ACTION: ClassVar[Action] = Action.FEED_GAP
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.STREAM
    start_s: float  # stream seconds
    end_s: float
    reason: str
    scan_id: int


@dataclass(frozen=True)
class FeedLag:
    ACTION: ClassVar[Action] = Action.FEED_LAG
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.STREAM
    at_s: float  # stream seconds when it was noticed
    lag_s: float  # how far behind live the feed was then
    growth_s: float  # how much the lag had grown over the window
    behind: bool  # True: it fell behind; False: it caught up
    scan_id: int


@dataclass(frozen=True)
class Report:
    ACTION: ClassVar[Action] = Action.REPORT
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.STREAM
    reporter_id: str
    at_s: float  # seconds into the stream (into the scan, for a wall time on a recording)
    reported_at: datetime | None  # the wall time the viewer gave, if any
    scan_id: int | None
    label: str | None
    comment: str
    credibility: float  # the reporter's, when the report came in
    key: str | None = None  # its intake key, if the request had one



@dataclass(frozen=True)
class FoldReport:
    ACTION: ClassVar[Action] = Action.FOLD_REPORT
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.STREAM
    report_id: int  # the earlier report it folds into
    at_s: float
    label: str | None
    comment: str
    key: str | None = None


@dataclass(frozen=True)
class AttachReport:
    ACTION: ClassVar[Action] = Action.ATTACH_REPORT
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    report_id: int


@dataclass(frozen=True)
class Claim:
    ACTION: ClassVar[Action] = Action.CLAIM
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    expires_at: datetime


@dataclass(frozen=True)
class Escalate:
    ACTION: ClassVar[Action] = Action.ESCALATE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    comment: str
    overdue: bool = False  # escalated by its deadline (moderation/deadlines.py), not by a reviewer holding it


@dataclass(frozen=True)
class StrikeGiven:
    label: str
    severity: int
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class Decide:
    ACTION: ClassVar[Action] = Action.DECIDE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    decision: Decision
    labels: tuple[str, ...]  # confirmed labels (none for a dismissal)
    comment: str
    streamer_id: str | None = None  # None: the stream names no streamer, so no strikes
    ladder_version: str | None = None
    strikes: tuple[StrikeGiven, ...] = ()


@dataclass(frozen=True)
class Penalize:
    ACTION: ClassVar[Action] = Action.PENALIZE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.STREAMER
    streamer_id: str
    segment_id: int
    kind: PenaltyKind
    step: int  # the ladder step's threshold in points
    points: int  # the streamer's active points that reached it
    starts_at: datetime
    ends_at: datetime | None  # None: permanent
    ladder_version: str
    decided_by: str


@dataclass(frozen=True)
class Comment:
    ACTION: ClassVar[Action] = Action.COMMENT
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    text: str


@dataclass(frozen=True)
class Appeal:
    ACTION: ClassVar[Action] = Action.APPEAL
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.PENALTY
    streamer_id: str
    reason: str


@dataclass(frozen=True)
class ResolveAppeal:
    ACTION: ClassVar[Action] = Action.RESOLVE_APPEAL
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.APPEAL
    upheld: bool
    comment: str
    penalty_id: int


@dataclass(frozen=True)
class Reverse:
    ACTION: ClassVar[Action] = Action.REVERSE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.PENALTY
    appeal_id: int
    segment_id: int
    decide_event_id: int | None


@dataclass(frozen=True)
class PurgeEvidence:
    ACTION: ClassVar[Action] = Action.PURGE_EVIDENCE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    clip: str  # the file deleted: <sha256>.opus, so a copy elsewhere can still be matched
    cut_at: datetime
    retention_days: int  # how long clips were kept under the settings of the time


@dataclass(frozen=True)
class QaReview:
    ACTION: ClassVar[Action] = Action.QA_REVIEW
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    decision: Decision
    labels: tuple[str, ...]  # what the second reviewer would confirm (none for a dismissal)
    comment: str


@dataclass(frozen=True)
class QaResolve:
    ACTION: ClassVar[Action] = Action.QA_RESOLVE
    SUBJECT: ClassVar[SubjectKind] = SubjectKind.SEGMENT
    side: str  # "first" (the decision stands) or "second" (the second review was right)
    comment: str


Payload = (Flag | Evidence | Remind | FeedGap | FeedLag | Report | FoldReport | AttachReport | Claim | Escalate | Decide
           | Penalize | Comment | Appeal | ResolveAppeal | Reverse | PurgeEvidence | QaReview | QaResolve)
PAYLOADS: dict[Action, type] = {cls.ACTION: cls for cls in Payload.__args__}  # type: ignore[attr-defined]
assert set(PAYLOADS) == set(Action), "every action has exactly one payload record"


@functools.cache
def _adapter(cls: type):
    from pydantic import TypeAdapter  # pydantic comes with sqlmodel and fastapi

    return TypeAdapter(cls)


def warm_up() -> None:
    """Build the codecs now (the first costs ~0.1 s), not when a live feed's first claim is logged."""
    for cls in PAYLOADS.values():
        _adapter(cls)


def encode(payload: Any) -> dict:
    """A payload as plain JSON values (times in ISO 8601, enums as their strings). It is checked
    against its record's types first: a list where a tuple belongs is made one, a wrong type fails."""
    adapter = _adapter(type(payload))
    return adapter.dump_python(adapter.validate_python(asdict(payload)), mode="json")


def decode(action: Action | str, values: dict) -> Any:
    """The payload record of `action` from its JSON values; the logical time `at` is not part of it."""
    cls = PAYLOADS[Action(action)]
    return _adapter(cls).validate_python({k: v for k, v in values.items() if k != "at"})
