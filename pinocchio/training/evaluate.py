"""Measures of quality shared by tests, benchmarks and (later) `pinocchio eval`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pinocchio.core.labels import LABELS
from pinocchio.core.text import to_simplified

_NOT_TEXT = re.compile(r"[\W_]+", re.UNICODE)


def comparable(text: str) -> str:
    """What character error rate compares: Simplified, no punctuation or spaces, lower-case."""
    return _NOT_TEXT.sub("", to_simplified(text)).lower()


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


def character_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Corpus-level CER over (reference, hypothesis) pairs: total edits / total reference characters."""
    edits = sum(edit_distance(comparable(ref), comparable(hyp)) for ref, hyp in pairs)
    chars = sum(len(comparable(ref)) for ref, _ in pairs)
    return edits / chars if chars else 0.0


@dataclass(frozen=True)
class LabelReport:
    """Per-label precision, recall and F1 of asserted labels against gold labels, and how many
    compliant lines (no gold label) got any label at all."""

    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    total: int
    compliant: int
    false_flags: int

    @property
    def macro_f1(self) -> float:
        return sum(self.f1.values()) / len(self.f1)

    @property
    def false_flag_rate(self) -> float:
        return self.false_flags / self.compliant if self.compliant else 0.0


def label_report(gold: Sequence[set[str]], predicted: Sequence[set[str]], labels: Sequence[str] = LABELS) -> LabelReport:
    precision, recall, f1, support = {}, {}, {}, {}
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, predicted))
        fp = sum(label not in g and label in p for g, p in zip(gold, predicted))
        fn = sum(label in g and label not in p for g, p in zip(gold, predicted))
        precision[label] = tp / (tp + fp) if tp + fp else 0.0
        recall[label] = tp / (tp + fn) if tp + fn else 0.0
        f1[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        support[label] = tp + fn
    compliant = [p for g, p in zip(gold, predicted) if not g]
    return LabelReport(precision, recall, f1, support, total=len(gold), compliant=len(compliant),
                       false_flags=sum(bool(p) for p in compliant))


def corpus_report(pipeline, rows) -> LabelReport:
    """How `check` (the pipeline's lexicon + classifier verdict) does on labelled corpus rows."""
    verdicts = pipeline.check_lines(row.text for row in rows)
    return label_report([set(row.labels) for row in rows], [set(v.labels) for v in verdicts])
