"""Measures of quality shared by tests, benchmarks and (later) `pinocchio eval`."""

from __future__ import annotations

import re

from pinocchio.segment import to_simplified

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
