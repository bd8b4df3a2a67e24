"""The records passed between pipeline stages: frozen, typed, units in field names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACTIONS = ("pass", "remind", "review")

LABELS = (
    "absolute_claim",
    "medical_claim",
    "efficacy_guarantee",
    "false_endorsement",
    "price_deception",
    "fake_scarcity",
    "off_platform_trade",
    "superstition",
)


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

    source: str  # "lexicon" now; "classifier" and "report" later
    label: str
    severity: int
    article: str
    span: tuple[int, int]  # character offsets into Segment.text
    term: str = ""  # the lexicon term (canonical form) that matched
    matched: str = ""  # the text as it appeared in the segment
    match_kind: str = ""  # "literal", "variant" or "pinyin"
    score: float = 1.0


@dataclass(frozen=True)
class Verdict:
    segment: Segment
    findings: tuple[Finding, ...]
    action: str  # one of ACTIONS

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({f.label for f in self.findings}))
