"""The records passed between the listening stages: frozen, typed, units in field names. Each
record owns its JSON form, so the CLI, the live worker and the webhooks print the same thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

MAX_ID = 2**63 - 1  # the largest row id SQLite and PostgreSQL keep: a larger one is refused, not a crash


class VerdictAction(StrEnum):
    """What a verdict asks for: nothing, an automatic reminder, or a human reviewer."""

    PASS = "pass"
    REMIND = "remind"
    REVIEW = "review"


class FindingSource(StrEnum):
    LEXICON = "lexicon"
    CLASSIFIER = "classifier"


class MatchKind(StrEnum):
    LITERAL = "literal"  # the term as written
    VARIANT = "variant"  # a disguised spelling listed with the term (薇信, vx)
    PINYIN = "pinyin"  # the term's sound (将血压 for 降血压)
    PATTERN = "pattern"  # a frame with a number or a price (最后{n}单)
    DISGUISE = "disguise"  # found once a disguised spelling was resolved (小糖人 -> 糖尿病患者)
    MODEL = "model"  # the classifier's label for the whole segment


@dataclass(frozen=True)
class AudioChunk:
    """Decoded 16 kHz mono float32 audio starting `start_s` seconds into the source."""

    start_s: float
    samples: np.ndarray = field(repr=False)
    sample_rate: int = 16000

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Utterance:
    """One stretch of transcribed speech, times in source seconds, text in Simplified Chinese."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class Segment:
    """A claim-sized sentence: normalised text, its own times, jieba tokens, and `before`: the
    sentence said just before it, when one ended moments earlier. A cut between the two (a live
    utterance ends at a short pause) can part a negation from its claim (不能 | 治病), so detection
    reads `before` to take findings back; it never adds one."""

    start_s: float
    end_s: float
    text: str
    tokens: tuple[str, ...]
    before: str = ""


@dataclass(frozen=True)
class Finding:
    """One reason to act on a segment: which source found which label where, and why."""

    source: FindingSource
    label: str
    severity: int
    article: str
    span: tuple[int, int]  # character offsets into Segment.text
    term: str = ""  # the lexicon term (canonical form) that matched
    matched: str = ""  # the text as it appeared in the segment
    match_kind: MatchKind | str = ""
    score: float = 1.0

    def as_json(self) -> dict:
        return {"source": str(self.source), "label": self.label, "term": self.term, "matched": self.matched,
                "match_kind": str(self.match_kind), "severity": self.severity, "article": self.article,
                "span": list(self.span), "score": self.score}


@dataclass(frozen=True)
class Verdict:
    segment: Segment
    findings: tuple[Finding, ...]
    action: VerdictAction

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({f.label for f in self.findings}))

    @property
    def flagged(self) -> bool:
        return self.action != VerdictAction.PASS

    def as_json(self, stream: str | None = None) -> dict:
        """A timed segment (`stream` given: scan and live output) or a checked line of text."""
        seg = self.segment
        found = {"action": str(self.action), "labels": list(self.labels),
                 "findings": [f.as_json() for f in self.findings]}
        if stream is None:
            return {"text": seg.text, **found}
        return {"stream": stream, "start": round(seg.start_s, 2), "end": round(seg.end_s, 2), "text": seg.text,
                **found}


@dataclass(frozen=True)
class StoredVerdict:
    """A verdict once its segment is stored: what the listening side hands the moderation ledger."""

    segment_id: int
    stream_id: int
    scan_id: int
    verdict: Verdict


@dataclass(frozen=True)
class Feed:
    """A live feed to follow: what output, metrics and reports call it, its URL, and whose room it
    is (a streams file, the command line, or the fleet's store names them)."""

    name: str
    url: str
    streamer_id: str | None = None
    room: str | None = None


@dataclass(frozen=True)
class FeedReport:
    """How a followed feed is doing, as a live worker reports it (the fleet's status)."""

    lag_s: float | None  # behind live; None until its first audio
    segments: int  # stored by this worker
    following: bool  # False once it ended or failed
    error: str | None = None
