"""Disguised spellings resolved: streamers say 心灵之窗 for 眼睛, 小糖人 for 糖尿病患者, 去什么斑 for 祛斑
to dodge word filters. The table (`pinocchio/data/disguises.yaml`) maps each known spelling to the
word it stands for; `resolve` rewrites a sentence with them (longest first, left to right) and keeps,
for every character of the result, where it came from, so a finding on the resolved sentence can
be placed back on the words the streamer really said."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from pinocchio.core.errors import LexiconError
from pinocchio.core.text import normalize_text
from pinocchio.core.yaml_file import line_of, read_yaml


@dataclass(frozen=True)
class Resolved:
    text: str  # the sentence with every known disguise replaced by its word
    origin: tuple[tuple[int, int], ...]  # for each character of `text`, the span of the said text it stands for
    replaced: tuple[bool, ...]  # for each character of `text`, whether it comes from a resolved disguise

    def touches_disguise(self, start: int, end: int) -> bool:
        return any(self.replaced[start:end])

    def said_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the said sentence behind text[start:end]."""
        return self.origin[start][0], self.origin[end - 1][1]


class Disguises:
    def __init__(self, pairs: dict[str, str], version: str = "", masked: frozenset[str] = frozenset()):
        self.pairs = pairs
        self.version = version
        self.masked = masked  # spellings made by masking a lexicon word (see MASK), not the table's
        self._automaton = ahocorasick.Automaton()
        for said, means in pairs.items():
            self._automaton.add_word(said, (said, means))
        if pairs:
            self._automaton.make_automaton()

    def resolve(self, text: str) -> Resolved:
        if not self.pairs:
            return Resolved(text, tuple((i, i + 1) for i in range(len(text))), (False,) * len(text))
        hits = sorted(((end - len(said) + 1, end + 1, said, means) for end, (said, means) in self._automaton.iter(text)),
                      key=lambda h: (h[0], -(h[1] - h[0])))
        out, origin, replaced, at = [], [], [], 0
        for start, end, said, means in hits:
            if start < at:
                continue  # overlaps a longer disguise already taken
            if said in self.masked and MASK in text[max(0, start - 1):start] + text[end:end + 1]:
                continue  # 某 beside it: another word is masked there (没有某一某来 is 没有依赖, not 没有之一)
            out.append(text[at:start])
            origin.extend((i, i + 1) for i in range(at, start))
            replaced.extend([False] * (start - at))
            out.append(means)
            origin.extend((start, end) for _ in means)
            replaced.extend([True] * len(means))
            at = end
        out.append(text[at:])
        origin.extend((i, i + 1) for i in range(at, len(text)))
        replaced.extend([False] * (len(text) - at))
        return Resolved("".join(out), tuple(origin), tuple(replaced))

    def with_masked(self, words: Iterable[str]) -> "Disguises":
        """This table plus the lexicon's spellings said with one character masked (see MASK); the
        table's own entries win where both know a spelling."""
        masked = {k: v for k, v in masked_spellings(words).items() if k not in self.pairs}
        return Disguises({**masked, **self.pairs}, version=f"{self.version}+masked", masked=frozenset(masked))


# Streamers say one character of a filtered word as 某 (黄某斑 for 黄褐斑, 白某障 for 白内障, 免某力 for 免疫力):
# the commonest structural disguise in HealthAMR_train.tsv's explanations. Any lexicon spelling of three
# or more Han characters is therefore also known with one of its inner characters masked (a masked first
# or last character leaves too little: 某东西 is not 脏东西), unless the masked form could stand for two
# different spellings.
MASK = "某"


def masked_spellings(words: Iterable[str]) -> dict[str, str]:
    """Each spelling of 3+ Han characters with one character said as 某, mapped back to the spelling;
    masked forms shared by two spellings are left out (they say nothing for sure)."""
    meanings: dict[str, set[str]] = {}
    for word in words:
        if len(word) < 3 or not all("\u4e00" <= ch <= "\u9fff" for ch in word) or MASK in word:
            continue
        for i in range(1, len(word) - 1):
            meanings.setdefault(word[:i] + MASK + word[i + 1:], set()).add(word)
    return {masked: next(iter(means)) for masked, means in meanings.items() if len(means) == 1}


def load_disguises(path: Path) -> Disguises:
    """The table, checked: every entry a {said, means} pair of non-empty strings; errors name file:line."""
    document = read_yaml(path, LexiconError)
    items = (document.data or {}).get("disguises") if isinstance(document.data, dict) else None
    nodes = document.root.value if document.root is not None else []
    entries_node = next((v for k, v in nodes if getattr(k, "value", None) == "disguises"), None)
    if not isinstance(items, list) or entries_node is None:
        raise LexiconError(f"{path}:1: expected 'disguises:' with a list of {{said, means}}")
    pairs: dict[str, str] = {}
    for raw, node in zip(items, entries_node.value):
        said, means = (raw.get("said"), raw.get("means")) if isinstance(raw, dict) else (None, None)
        if not isinstance(said, str) or not isinstance(means, str) or not said.strip() or not means.strip():
            raise LexiconError(f"{path}:{line_of(node)}: an entry needs said and means, both non-empty")
        pairs[normalize_text(said)] = normalize_text(means)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Disguises(pairs, version=f"disguises@{digest}")
