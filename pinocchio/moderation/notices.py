"""Penalty notices to streamers: when the ladder imposes a penalty (and again when an appeal
reverses it) the platform's webhook is sent a notice, signed with HMAC-SHA256 like the reminders:
the penalty, the labels confirmed with the articles they break, the transcript line, a link to the
evidence clip, and how to appeal. Notices leave from an outbox (`penalty_notice`): every penalty
without a delivered notice is pending, so a server that stops before sending sends it at its next
start, and one that fails is tried again later, waiting longer each time."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_
from sqlmodel import Session, select

from pinocchio.core.clock import aware, iso, utcnow
from pinocchio.core.labels import label_table
from pinocchio.core.signed_post import post_signed
from pinocchio.store.projections import Case, EvidenceClip, Penalty
from pinocchio.store.tables import FindingRow, PenaltyNotice, SegmentRow, Stream

log = logging.getLogger(__name__)

PENALTY, REVERSAL = "penalty", "reversal"
MAX_WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class NoticeOptions:
    url: str
    secret: str
    console_url: str = "http://127.0.0.1:8000"  # where the clip link points
    timeout_s: float = 10.0


def notice_body(session: Session, penalty: Penalty, kind: str, console_url: str) -> dict:
    """What the streamer is told of a penalty (or of its reversal)."""
    case = session.get(Case, penalty.segment_id)
    segment = session.get(SegmentRow, penalty.segment_id)
    stream = session.get(Stream, segment.stream_id)
    labels = json.loads(case.labels) if case else []
    articles = {label: label_table()[label].article for label in labels}
    for f in session.exec(select(FindingRow).where(FindingRow.segment_id == penalty.segment_id)).all():
        if f.label in articles and f.article not in articles[f.label]:
            articles[f.label] += f"；{f.article}"
    clip = session.get(EvidenceClip, penalty.segment_id)
    body = {
        "type": "penalty_notice" if kind == PENALTY else "penalty_reversed",
        "penalty_id": penalty.id, "streamer_id": penalty.streamer_id, "penalty": penalty.kind,
        "starts_at": iso(penalty.starts_at), "ends_at": iso(penalty.ends_at), "points": penalty.points,
        "labels": [{"label": label, "article": article} for label, article in articles.items()],
        "transcript": {"stream": stream.name or str(stream.id), "start": segment.start_ms / 1000,
                       "end": segment.end_ms / 1000, "text": segment.text},
        "clip": f"{console_url.rstrip('/')}/evidence/{clip.clip}" if clip else None,
        "decided_by": case.decided_by if case else None, "decided_at": iso(aware(case.decided_at)) if case else None,
        "appeal": {"how": "POST /api/v1/appeals with penalty_id, streamer_id and reason",
                   "url": f"{console_url.rstrip('/')}/api/v1/appeals", "penalty_id": penalty.id},
    }
    if kind == REVERSAL:
        body.update(reversed_at=iso(aware(penalty.reversed_at)), reversed_by=penalty.reversed_by)
    return body


def pending(session: Session, now: datetime) -> list[tuple[Penalty, str]]:
    """Penalties (and reversals) whose notice has not been delivered and is due to be tried."""
    found = []
    for kind, condition in ((PENALTY, Penalty.id.is_not(None)), (REVERSAL, Penalty.reversed_at.is_not(None))):
        rows = session.exec(select(Penalty, PenaltyNotice).outerjoin(
            PenaltyNotice, and_(PenaltyNotice.penalty_id == Penalty.id, PenaltyNotice.kind == kind))
            .where(condition).order_by(Penalty.id)).all()
        found += [(penalty, kind) for penalty, notice in rows if notice is None or (
            notice.delivered_at is None and (notice.next_try_at is None or aware(notice.next_try_at) <= now))]
    return found


@dataclass(frozen=True)
class Delivery:
    penalty_id: int
    kind: str
    delivered: bool
    error: str | None = None


def deliver_notices(session: Session, options: NoticeOptions, now: datetime | None = None,
                    post: Callable[[str, str, bytes, float], None] = post_signed) -> list[Delivery]:
    """Send every pending notice, oldest penalty first, marking each in the outbox (the caller
    commits): delivered, or its error and when to try again (1, 2, 4 … minutes, at most an hour)."""
    now = aware(now or utcnow())
    done = []
    for penalty, kind in pending(session, now):
        notice = session.get(PenaltyNotice, (penalty.id, kind)) or PenaltyNotice(penalty_id=penalty.id, kind=kind)
        body = json.dumps(notice_body(session, penalty, kind, options.console_url), ensure_ascii=False,
                          sort_keys=True).encode("utf-8")
        notice.attempts += 1
        try:
            post(options.url, options.secret, body, options.timeout_s)
        except Exception as exc:  # HTTP errors, refused connections, timeouts: all tried again later
            notice.last_error = f"{type(exc).__name__}: {exc}"[:500]
            notice.next_try_at = now + min(MAX_WAIT, timedelta(minutes=2 ** (notice.attempts - 1)))
            log.warning("penalty %d %s notice not delivered (attempt %d): %s", penalty.id, kind, notice.attempts,
                        notice.last_error)
            done.append(Delivery(penalty.id, kind, False, notice.last_error))
        else:
            notice.delivered_at, notice.body, notice.last_error, notice.next_try_at = now, body.decode("utf-8"), None, None
            done.append(Delivery(penalty.id, kind, True))
        session.add(notice)
    session.flush()
    return done


def deliver_now(engine, options: NoticeOptions) -> list[Delivery]:
    """One round in its own transaction, committed (what the console's server runs every few seconds)."""
    with Session(engine) as session:
        done = deliver_notices(session, options)
        session.commit()
    return done
