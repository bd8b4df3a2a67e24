"""The facts stage of one stream: find each segment's promises, decide which product the talk is
about (a link number said lately, else the link the platform put up last), check every promise
against the stream's shop facts, and hand the detector back its findings with the contradictions
added and the flags that honest promises disprove taken back. Segments come in stream order; a live
stream's facts are read again now and then, so link changes and new versions posted while it runs
are used."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pinocchio.core.records import CheckOutcome, Finding, FindingSource, MatchKind, PromiseCheck, PromiseKind, Segment
from pinocchio.facts.checks import CheckRules, check_promise, load_check_rules
from pinocchio.facts.promises import PromiseFinder
from pinocchio.facts.shop import Product, StreamFacts


@dataclass(frozen=True)
class _SpokenLink:
    link: int
    at_s: float


class FactChecker:
    """Checks one stream's promises (the detector calls `check` once per segment, in order)."""

    def __init__(self, load_facts: Callable[[], StreamFacts | None], *, refresh_s: float | None = None,
                 finder: PromiseFinder | None = None, rules: CheckRules | None = None,
                 clock: Callable[[], float] = time.monotonic):
        """`refresh_s`: read the facts again when this many seconds have passed (a live stream);
        None reads them once (a recording)."""
        self._load = load_facts
        self.refresh_s = refresh_s
        self.finder = finder or PromiseFinder()
        self.rules = rules or load_check_rules()
        self._clock = clock
        self._facts: StreamFacts | None = None
        self._loaded_at: float | None = None
        self._spoken: _SpokenLink | None = None

    def facts(self) -> StreamFacts | None:
        now = self._clock()
        if self._loaded_at is None or (self.refresh_s is not None and now - self._loaded_at >= self.refresh_s):
            self._facts, self._loaded_at = self._load(), now
        return self._facts

    def provenance(self) -> dict:
        facts = self.facts()
        return {"facts": facts.name if facts else None, "promise_words": self.finder.words.version,
                "fact_checks": self.rules.version}

    def check(self, segment: Segment, findings: Sequence[Finding]) -> tuple[tuple[Finding, ...], tuple[PromiseCheck, ...]]:
        """The segment's findings with the facts applied, and its promises as checked."""
        facts = self.facts()
        findings = tuple(findings)
        if facts is None:
            return findings, ()
        promises = self.finder.find(segment.text)
        if not promises:
            return findings, ()
        checks: list[PromiseCheck] = []
        added: list[Finding] = []
        for link in (p for p in promises if p.kind is PromiseKind.LINK):
            self._spoken = _SpokenLink(int(link.amount.low), segment.start_s)
        for promise in promises:
            product = self._product(facts, segment.start_s)
            outcome = check_promise(promise, facts, product, segment.start_s, self.rules)
            checks.append(PromiseCheck(promise=promise, outcome=outcome.outcome, fact=outcome.fact, facts=facts.name,
                                       product=product.id if product else "", check=outcome.check,
                                       value=promise.value()))
            if outcome.outcome is CheckOutcome.CONTRADICTED:
                rule = self.rules.rules[outcome.check]
                added.append(Finding(source=FindingSource.FACTS, label=rule.label, severity=rule.severity,
                                     article=rule.article, span=promise.span, term=outcome.check, matched=promise.said,
                                     match_kind=MatchKind.FACT, score=1.0, fact=f"{outcome.fact} [{facts.name}]",
                                     model=f"facts@{self.rules.version}"))
        kept = tuple(f for f in findings if not self._disproved(f, checks))
        return kept + tuple(added), tuple(checks)

    def _product(self, facts: StreamFacts, at_s: float) -> Product | None:
        """The product the talk is about: a link said within the last few minutes, unless the
        platform put up another link since; else the link put up last."""
        latest = facts.latest_link(at_s)
        spoken = self._spoken
        if spoken and at_s - spoken.at_s <= self.rules.link_memory_s \
                and (latest is None or (latest.at_s or 0.0) <= spoken.at_s):
            product_id = facts.link_product(spoken.link, at_s)
            if product_id:
                return facts.shop.product(product_id)
        return facts.shop.product(latest.product) if latest else None

    def _disproved(self, finding: Finding, checks: list[PromiseCheck]) -> bool:
        """A lexicon or model finding on the words of promises the facts bear out, of a label those
        promises' checks raise, and of none the facts contradict: the flag was false."""
        if finding.source == FindingSource.FACTS:
            return False
        on_it = [c for c in checks if c.promise.span[0] < finding.span[1] and finding.span[0] < c.promise.span[1]
                 and finding.label in self.rules.labels_of(c.promise.kind)]
        return bool(on_it) and all(c.outcome is CheckOutcome.HONEST for c in on_it)
