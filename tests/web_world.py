"""A small moderation world for the web tests: a scanned stream of real-looking talk with two
flagged segments (one to review, with an evidence clip cut from real speech), a streamer, and the
reviewers of `moderation_world` (alice and bob reviewers, sam and tina seniors, root admin)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import SPEECH
from moderation_world import PASSWORD, PIPELINE, reviewers, store_verdicts
from sqlmodel import Session

from pinocchio.core.events import Evidence
from pinocchio.core.records import Finding, FindingSource, MatchKind, Segment, Verdict, VerdictAction
from pinocchio.listen.audio import decode_chunks
from pinocchio.listen.evidence import EvidenceStore
from pinocchio.store import open_store, scans

STREAMER = "meimei"
STREAM_NAME = "美美好物直播间"
TALK = [  # (start_s, end_s, text, action, findings as (label, severity, span, source, score))
    (50.0, 53.0, "第二款是桑叶茶，一盒三十包", "pass", []),
    (53.0, 56.0, "泡水喝就行", "pass", []),
    (56.0, 60.0, "喝了这个茶能治糖尿病，还能降血压", "review",
     [("medical_claim", 3, (5, 10), "lexicon", 1.0), ("medical_claim", 3, (0, 16), "classifier", 0.95)]),
    (60.0, 63.0, "注意，这个不是药品", "pass", []),
    (63.0, 67.0, "我们家是全网最低价", "remind", [("absolute_claim", 2, (4, 9), "lexicon", 1.0)]),
    (67.0, 70.0, "一盒六十九块", "pass", []),
]
ARTICLES = {"medical_claim": "广告法第十七条", "absolute_claim": "广告法第九条第（三）项"}


@dataclass(frozen=True)
class World:
    db_url: str
    evidence_dir: Path
    stream_id: int
    case_id: int  # the review segment
    remind_id: int  # the remind segment (no case until someone reports it)
    clip: str
    password: str = PASSWORD


def real_clip(evidence: EvidenceStore, seconds: float = 3.0) -> str:
    """An Opus clip of real speech, cut as the pipeline cuts them."""
    samples = np.concatenate([c.samples for c in decode_chunks(SPEECH / "funasr_paraformer_example_0.wav")])
    return evidence.save(samples[: int(seconds * 16000)])


def build_world(directory: Path, db_url: str | None = None) -> World:
    db_url = db_url or f"sqlite:///{directory / 'console.db'}"
    evidence_dir = directory / "evidence"
    clip = real_clip(EvidenceStore(evidence_dir))
    engine = open_store(db_url)
    with Session(engine) as session:
        stream = scans.stream_for(session, source="room.m4a", content_sha256=hashlib.sha256(b"room").hexdigest(),
                                  duration_s=600.0)
        stream.name, stream.streamer_id = STREAM_NAME, STREAMER
        session.add(stream)
        scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={})
        verdicts = [Verdict(Segment(s, e, text, tuple(text)),
                            tuple(Finding(FindingSource(source), label, sev, ARTICLES[label], span,
                                          term=text[span[0]:span[1]], matched=text[span[0]:span[1]],
                                          match_kind=MatchKind.LITERAL, score=score)
                                  for label, sev, span, source, score in found), VerdictAction(action))
                    for s, e, text, action, found in TALK]
        rows = store_verdicts(session, scan, verdicts)
        PIPELINE.record(session, Evidence(clip=clip), subject_id=rows[2].id, stream_id=stream.id)
        scans.finish_scan(session, scan=scan, status="done")
        reviewers(session)
        session.commit()
        world = World(db_url=db_url, evidence_dir=evidence_dir, stream_id=stream.id, case_id=rows[2].id,
                      remind_id=rows[4].id, clip=clip)
    engine.dispose()
    return world
