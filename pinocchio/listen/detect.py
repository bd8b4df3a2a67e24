"""Turn what the lexicon (and, once trained, the classifier) found in a segment into one verdict:
pass, remind (a clear rule hit: the streamer is reminded at once) or review (serious: a human looks)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from pinocchio.core.records import Finding, FindingSource, MatchKind, PromiseCheck, Segment, Verdict, VerdictAction
from pinocchio.listen.disguise import Disguises
from pinocchio.listen.lexicon import Matcher

# First hearings a second hearing is compared with: a context reaches 4 s back.
RECENT_VERDICTS = 16


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class ClaimScorer(Protocol):
    """What a claim classifier offers the detector: findings for a batch of segments, in order.
    The detector merges them with lexicon hits; the lexicon alone runs when none is given."""

    name: str

    def findings(self, segments: Sequence[Segment]) -> list[list[Finding]]: ...

    def thresholds(self) -> dict[str, float]:
        """Each label's score threshold, for provenance."""


class PromiseChecker(Protocol):
    """What a stream's facts stage offers the detector (facts.checker.FactChecker): given a
    segment and its findings, the findings with contradictions added and disproved flags taken
    back, and the segment's promises as checked. Called once per segment, in stream order."""

    def check(self, segment: Segment, findings: Sequence[Finding]) -> tuple[tuple[Finding, ...], tuple[PromiseCheck, ...]]: ...

    def provenance(self) -> dict:
        """Which facts (shop and version) and which rules it checks with."""


@dataclass(frozen=True)
class DetectOptions:
    review_severity: int = 3  # findings at or above this severity go to a human reviewer
    # A model finding below this score that no lexicon hit of its label backs is uncertain, and
    # uncertain cases are for a human, not an automatic reminder. The model directory sets it.
    confident_score: float = 0.9
    # A model finding that no lexicon hit of its label backs is dropped below this score: where its
    # precision on real speech is too low to say anything (`pinocchio calibrate`; the model sets it).
    stand_alone_score: float = 0.0
    stand_alone_by_label: tuple[tuple[str, float], ...] = ()  # (label, score): overrides the one above
    batch_size: int = 32  # segments handed to scorers at once; the live worker uses 1


def decide(findings: Sequence[Finding], options: DetectOptions) -> VerdictAction:
    """pass: nothing found; review: serious or uncertain; remind: a clear rule hit."""
    if not findings:
        return VerdictAction.PASS
    if max(f.severity for f in findings) >= options.review_severity:
        return VerdictAction.REVIEW
    backed = {f.label for f in findings if f.source == FindingSource.LEXICON}
    if any(f.source != FindingSource.LEXICON and f.label not in backed and f.score < options.confident_score
           for f in findings):
        return VerdictAction.REVIEW
    return VerdictAction.REMIND


class Detector:
    def __init__(self, matcher: Matcher, scorers: Sequence[ClaimScorer] = (), options: DetectOptions = DetectOptions(),
                 disguises: Disguises | None = None):
        self.matcher = matcher
        self.scorers = tuple(scorers)
        self.options = options
        self.disguises = disguises

    def provenance(self) -> dict:
        """Everything here that changes a verdict: the lexicon's version, each scorer's name and
        thresholds, and when a finding goes to a human."""
        return {
            "lexicon": self.matcher.lexicon.version,
            "disguises": self.disguises.version if self.disguises else None,
            "lexicon_files": list(self.matcher.lexicon.files),
            "scorers": [s.name for s in self.scorers],
            "scorer_thresholds": {s.name: s.thresholds() for s in self.scorers},
            "review_severity": self.options.review_severity,
            "confident_score": self.options.confident_score,
            "stand_alone_score": self.options.stand_alone_score,
            "stand_alone_by_label": dict(self.options.stand_alone_by_label),
        }

    def verdict(self, segment: Segment, checker: PromiseChecker | None = None) -> Verdict:
        return next(self.verdicts([segment], checker))

    def verdicts(self, segments: Iterable[Segment], checker: PromiseChecker | None = None) -> Iterator[Verdict]:
        """Batch only as far as scorers need; with the lexicon alone each segment goes straight
        through, so a live stream is never held back waiting for a batch to fill. `checker`: the
        stream's shop facts, when it has them."""
        return self._judged_once(self._verdicts(segments, checker))

    def _verdicts(self, segments: Iterable[Segment], checker: PromiseChecker | None) -> Iterator[Verdict]:
        if not self.scorers:
            for segment in segments:
                yield self._combine(segment, [], checker)
            return
        batch: list[Segment] = []
        for segment in segments:
            batch.append(segment)
            if len(batch) >= self.options.batch_size:
                yield from self._score_batch(batch, checker)
                batch = []
        if batch:
            yield from self._score_batch(batch, checker)

    def _judged_once(self, verdicts: Iterator[Verdict]) -> Iterator[Verdict]:
        """A second hearing's verdict (Segment.heard_again) stands for the labels that no first
        hearing of the same speech was flagged for, with those findings alone; with none it says
        nothing new and is left out, so a claim heard twice is one finding, not two. What it finds
        goes to a reviewer, who hears the clip: whisper heard the speech two ways, and either may be
        the wrong one (a 不 lost at a cut makes 不能治病 a claim)."""
        recent: deque[Verdict] = deque(maxlen=RECENT_VERDICTS)
        for verdict in verdicts:
            segment = verdict.segment
            if not segment.heard_again:
                recent.append(verdict)
                yield verdict
                continue
            heard = [v for v in recent if v.segment.start_s < segment.end_s and v.segment.end_s > segment.start_s]
            known = {label for v in heard for label in v.labels}
            findings = tuple(f for f in verdict.findings if f.label not in known)
            if not findings:
                continue
            if any(_ms(v.segment.start_s) == _ms(segment.start_s) and _ms(v.segment.end_s) == _ms(segment.end_s)
                   for v in heard):
                # The store keeps one segment per stretch of a scan, to the millisecond.
                segment = replace(segment, end_s=segment.end_s + 0.001)
            yield replace(verdict, segment=segment, findings=findings, action=VerdictAction.REVIEW)

    def _score_batch(self, batch: list[Segment], checker: PromiseChecker | None) -> Iterator[Verdict]:
        per_scorer = [scorer.findings(batch) for scorer in self.scorers]
        for i, segment in enumerate(batch):
            yield self._combine(segment, [f for found in per_scorer for f in found[i]], checker)

    def _combine(self, segment: Segment, extra: list[Finding], checker: PromiseChecker | None = None) -> Verdict:
        lexicon = tuple(self.matcher.match(segment.text, segment.tokens, segment.before)) + self._disguised(segment)
        backed = {f.label for f in lexicon}
        floor = dict(self.options.stand_alone_by_label)
        findings = lexicon + tuple(f for f in extra if f.label in backed
                                   or f.score >= floor.get(f.label, self.options.stand_alone_score))
        checks: tuple[PromiseCheck, ...] = ()
        if checker is not None and not segment.heard_again:  # a promise heard twice was said once
            findings, checks = checker.check(segment, findings)
        return Verdict(segment=segment, findings=findings, action=decide(findings, self.options), checks=checks)

    def _disguised(self, segment: Segment) -> tuple[Finding, ...]:
        """Lexicon hits that only show once the streamer's disguised spellings are resolved, placed on
        the words said (小糖人也能喝 reads as 糖尿病患者也能喝). Labels already found plainly are not repeated."""
        if self.disguises is None:
            return ()
        resolved = self.disguises.resolve(segment.text)
        if resolved.text == segment.text:
            return ()
        plain = {f.label for f in self.matcher.match(segment.text, segment.tokens, segment.before)}
        found = []
        for f in self.matcher.match(resolved.text, before=segment.before):
            if f.label in plain or not resolved.touches_disguise(*f.span):
                continue
            start, end = resolved.said_span(*f.span)
            found.append(replace(f, span=(start, end), matched=segment.text[start:end], match_kind=MatchKind.DISGUISE,
                                 score=min(f.score, 0.9)))
        return tuple(found)
