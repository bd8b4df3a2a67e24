"""Streams, segments and reviewers for the moderation tests, stored as the pipeline stores them
(segments and findings, each verdict handed to the ledger), without whisper; and `race`, which runs
commands at the same moment, as two reviewers or two streamers would."""

from __future__ import annotations

import hashlib
import threading

from sqlmodel import Session

from pinocchio.core.errors import Conflict
from pinocchio.core.records import Finding, FindingSource, MatchKind, Segment, Verdict, VerdictAction
from pinocchio.listen.pipeline import store_verdict
from pinocchio.moderation.ledger import ModerationLedger
from pinocchio.moderation.reviewers import add_reviewer
from pinocchio.store import scans
from pinocchio.store.tables import Scan, SegmentRow, Stream

PASSWORD = "correct horse"
ARTICLES = {"medical_claim": "广告法第十七条", "absolute_claim": "广告法第九条第（三）项",
            "off_platform_trade": "平台规则", "fake_scarcity": "反不正当竞争法第八条第一款"}
PIPELINE = ModerationLedger("pipeline@test")


def verdict(start_s: float, end_s: float, action: str = "pass", label: str | None = None, severity: int = 3,
            score: float = 1.0, source: str = "lexicon") -> Verdict:
    findings = ()
    if label:
        findings = (Finding(FindingSource(source), label, severity, ARTICLES.get(label, "广告法"), (0, 2), term="能治",
                            matched="能治", match_kind=MatchKind.LITERAL, score=score),)
    return Verdict(Segment(start_s, end_s, f"第{start_s:g}秒说的话", ("第", "秒")), findings, VerdictAction(action))


def store_verdicts(session: Session, scan: Scan, verdicts) -> list[SegmentRow]:
    """As the pipeline does: each verdict stored and handed to the ledger."""
    return [session.get(SegmentRow, store_verdict(session, scan, v, PIPELINE)) for v in verdicts]


def recording(session: Session, *, name: str = "room1", streamer_id: str | None = "streamer-1",
              duration_s: float = 600.0, verdicts=()) -> tuple[Stream, list[SegmentRow]]:
    """A scanned recording with its stored segments (and the pipeline's flag events)."""
    stream = scans.stream_for(session, source=f"{name}.m4a", content_sha256=hashlib.sha256(name.encode()).hexdigest(),
                              duration_s=duration_s)
    stream.name, stream.streamer_id = name, streamer_id
    session.add(stream)
    scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={})
    rows = store_verdicts(session, scan, verdicts)
    scans.finish_scan(session, scan=scan, status="done")
    session.flush()
    return stream, rows


def reviewers(session: Session) -> None:
    for name, role in (("alice", "reviewer"), ("bob", "reviewer"), ("sam", "senior"), ("tina", "senior"),
                       ("root", "admin")):
        add_reviewer(session, name=name, role=role, password=PASSWORD)


def race(engine, *attempts) -> list[str]:
    """Run the attempts at the same moment, each in its own session and thread: "won" or "lost"
    (refused with a Conflict) for each; anything else fails the test."""
    start = threading.Barrier(len(attempts))
    outcomes: list[str | BaseException] = [None] * len(attempts)

    def attempt(k: int) -> None:
        with Session(engine) as mine:
            start.wait()
            try:
                attempts[k](mine)
                mine.commit()
                outcomes[k] = "won"
            except Conflict:
                outcomes[k] = "lost"
            except BaseException as exc:  # reported below, with its type
                outcomes[k] = exc

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(o in ("won", "lost") for o in outcomes), outcomes
    return outcomes
