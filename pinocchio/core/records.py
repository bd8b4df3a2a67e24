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
    FACTS = "facts"  # a spoken promise or price that the shop's facts contradict (facts/)


class MatchKind(StrEnum):
    LITERAL = "literal"  # the term as written
    VARIANT = "variant"  # a disguised spelling listed with the term (薇信, vx)
    PINYIN = "pinyin"  # the term's sound (将血压 for 降血压)
    PATTERN = "pattern"  # a frame with a number or a price (最后{n}单)
    DISGUISE = "disguise"  # found once a disguised spelling was resolved (小糖人 -> 糖尿病患者)
    MODEL = "model"  # the classifier's label for the whole segment
    FACT = "fact"  # a promise checked against the shop's facts; `term` names the check


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
    # Live only: the words whisper heard this time in the seconds before it, which it was given as
    # context and which were committed before (a second hearing of them; StreamingTranscriber).
    context_words: tuple[Word, ...] = ()
    # A second hearing of speech committed before, that whisper heard otherwise as the context of
    # the next utterance: it is judged for what the first hearing missed (Detector), nothing else.
    heard_again: bool = False


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
    heard_again: bool = False  # from a second hearing of speech already judged (Utterance.heard_again)


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
    fact: str = ""  # a facts finding: the fact it contradicts, naming the facts' version
    model: str = ""  # what raised it, at its version: classifier:claims-…, lexicon@<digest>, facts@…

    def as_json(self) -> dict:
        found = {"source": str(self.source), "label": self.label, "term": self.term, "matched": self.matched,
                 "match_kind": str(self.match_kind), "severity": self.severity, "article": self.article,
                 "span": list(self.span), "score": self.score}
        if self.model:
            found["model"] = self.model
        if self.fact:
            found["fact"] = self.fact
        return found


@dataclass(frozen=True)
class Amount:
    """A number as it was said, read as the range it can mean: 九十九 is 99 to 99, 三位数 100 to 999,
    一百多 101 to 199. A check only calls a promise honest or false when the whole range says so."""

    low: float
    high: float

    @property
    def exact(self) -> bool:
        return self.low == self.high

    def __str__(self) -> str:
        def shown(x: float) -> str:
            return "∞" if x == float("inf") else f"{x:g}" if x != int(x) else f"{int(x)}"
        return shown(self.low) if self.exact else f"{shown(self.low)}–{shown(self.high)}"


class PromiseKind(StrEnum):
    """What a streamer can promise that the shop's facts can check."""

    REFERENCE_PRICE = "reference_price"  # 原价/日常价/专柜价/划线价/线下 X
    STATED_PRICE = "stated_price"  # 今天只要/到手/直播间 Y, 一盒六十九
    GUARANTEE = "guarantee"  # 假一赔N, 七天无理由, 退货包运费, 运费险, 破损包退, 退款不退货, 极速退款
    SHIPPING = "shipping"  # 包邮, 全国包邮, 顺丰
    STOCK = "stock"  # 最后N单, 仅剩N件
    SALES = "sales"  # 卖了N万单
    LINK = "link"  # N号链接: which product the talk is about


@dataclass(frozen=True)
class Promise:
    """One promise found in a segment, its value normalised: an amount (a price, a count, the N of
    假一赔N), the quantity a price is for (两盒一百二: 2), or the guarantee or shipping term."""

    kind: PromiseKind
    span: tuple[int, int]  # character offsets into Segment.text
    said: str
    amount: Amount | None = None
    quantity: int | None = None
    term: str = ""  # guarantee or shipping term (seven_day_return, free_shipping...), or the price cue
    scope: str = ""  # 全国 for 全国包邮

    def value(self) -> str:
        """The normalised value as one short line: '¥99', '2 × ¥120', 'counterfeit_compensation 10'."""
        if self.kind in (PromiseKind.REFERENCE_PRICE, PromiseKind.STATED_PRICE):
            return (f"{self.quantity} × " if self.quantity and self.quantity > 1 else "") + f"¥{self.amount}"
        parts = [p for p in (self.scope, self.term, str(self.amount) if self.amount else "") if p]
        return " ".join(parts)


class CheckOutcome(StrEnum):
    HONEST = "honest"  # the facts bear it out: nothing is raised, a lexicon flag on it is taken back
    CONTRADICTED = "contradicted"  # the facts break it: a finding cites the fact
    UNCHECKED = "unchecked"  # the facts do not say (no price history, stock unknown...)


@dataclass(frozen=True)
class PromiseCheck:
    """A promise checked against a shop's facts: the outcome, the fact it was held against (one
    line, in the reviewers' language), and which facts, by shop and version."""

    promise: Promise
    outcome: CheckOutcome
    fact: str
    facts: str  # "shop-id@version"
    product: str = ""  # the product it was taken to be about
    check: str = ""  # the check's name (reference_price_above_7_day_lowest...)
    value: str = ""  # the promise's normalised value as checked (Promise.value())

    def as_json(self) -> dict:
        p = self.promise
        return {"kind": str(p.kind), "said": p.said, "span": list(p.span), "value": self.value or p.value(),
                "outcome": str(self.outcome), "check": self.check, "fact": self.fact, "facts": self.facts,
                "product": self.product}


@dataclass(frozen=True)
class Verdict:
    segment: Segment
    findings: tuple[Finding, ...]
    action: VerdictAction
    checks: tuple[PromiseCheck, ...] = ()  # the segment's promises checked against its shop's facts

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
        if self.checks:
            found["promises"] = [c.as_json() for c in self.checks]
        if stream is None:
            return {"text": seg.text, **found}
        timed = {"stream": stream, "start": round(seg.start_s, 2), "end": round(seg.end_s, 2), "text": seg.text}
        if seg.heard_again:
            timed["heard_again"] = True
        return {**timed, **found}


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
    # Seconds of what it read that have not come out as utterances yet (waiting for the decoder, or
    # speech in progress): a worker taking the feed over rejoins this much further back.
    unsettled_s: float = 0.0
