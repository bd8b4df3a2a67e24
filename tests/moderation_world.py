"""Streams, segments and reviewers built with the store's own functions, for the moderation tests
(no whisper: segments are stored as the pipeline would store them)."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from pinocchio import store
from pinocchio.records import Finding, Segment, Verdict
from pinocchio.reviewers import add_reviewer

PASSWORD = "correct horse"
ARTICLES = {"medical_claim": "广告法第十七条", "absolute_claim": "广告法第九条第（三）项",
            "off_platform_trade": "平台规则", "fake_scarcity": "反不正当竞争法第八条第一款"}


def verdict(start_s: float, end_s: float, action: str = "pass", label: str | None = None, severity: int = 3,
            score: float = 1.0, source: str = "lexicon") -> Verdict:
    findings = ()
    if label:
        findings = (Finding(source, label, severity, ARTICLES.get(label, "广告法"), (0, 2), term="能治", matched="能治",
                            match_kind="literal", score=score),)
    return Verdict(Segment(start_s, end_s, f"第{start_s:g}秒说的话", ("第", "秒")), findings, action)


def recording(session: Session, *, name: str = "room1", streamer_id: str | None = "streamer-1",
              duration_s: float = 600.0, verdicts=()) -> tuple[store.Stream, list[store.SegmentRow]]:
    """A scanned recording with its stored segments (and the pipeline's flag events)."""
    stream = store.stream_for(session, source=f"{name}.m4a", content_sha256=hashlib.sha256(name.encode()).hexdigest(),
                              duration_s=duration_s)
    stream.name, stream.streamer_id = name, streamer_id
    session.add(stream)
    scan = store.start_scan(session, stream=stream, pipeline_version="test", provenance={})
    rows = store.add_verdicts(session, scan=scan, verdicts=list(verdicts), actor="pipeline@test")
    store.finish_scan(session, scan=scan, status="done")
    session.flush()
    return stream, rows


def reviewers(session: Session) -> None:
    for name, role in (("alice", "reviewer"), ("bob", "reviewer"), ("sam", "senior"), ("tina", "senior"),
                       ("root", "admin")):
        add_reviewer(session, name=name, role=role, password=PASSWORD)
