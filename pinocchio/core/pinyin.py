"""Toneless pinyin with character spans, so that homophones (whisper's errors and deliberate
disguises) can be matched: 将血压 sounds like 降血压, 3天 reads like 三天, zui好 like 最好."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property

from pypinyin import Style, lazy_pinyin

from pinocchio.core.text import normalize_text

_RUN = re.compile(r"([\u3400-\u9fff]+)|([a-z]+)|(\d+(?:\.\d+)?)|(.)", re.S)
_DIGITS = "零一二三四五六七八九"
BREAK = "#"  # stands for punctuation: no match may cross it


def number_reading(number: str) -> str:
    """How a streamer says a digit string, in characters: 99 -> 九十九, 3.5 -> 三点五, 2025 -> 二千零二十五."""
    whole, _, fraction = number.partition(".")
    reading = _integer_reading(whole.lstrip("0") or "0") if len(whole) <= 8 else "".join(_DIGITS[int(d)] for d in whole)
    if fraction:
        reading += "点" + "".join(_DIGITS[int(d)] for d in fraction)
    return reading


def _integer_reading(digits: str) -> str:
    n = int(digits)
    if n < 10:
        return _DIGITS[n]
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        rest = "" if low == 0 else ("零" if low < 1000 else "") + _integer_reading(str(low))
        return _integer_reading(str(high)) + "万" + rest
    out = ""
    zero_pending = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, value)
        if d:
            if zero_pending and out:
                out += "零"
            out += ("" if (unit == "十" and not out and d == 1) else _DIGITS[d]) + unit
            zero_pending = False
        elif out:
            zero_pending = True
    return out


@dataclass(frozen=True)
class Syllables:
    """Syllables of a text and, for each, the character span it came from. `key` joins them with
    spaces (and a space at each end) so that a search for ' jiang xue ya ' only hits whole syllables."""

    syllables: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]

    @cached_property
    def key(self) -> str:
        return " " + " ".join(self.syllables) + " "

    @cached_property
    def _starts(self) -> list[int]:
        starts, pos = [], 1
        for syl in self.syllables:
            starts.append(pos)
            pos += len(syl) + 1
        return starts

    def char_span(self, key_start: int, key_end: int) -> tuple[int, int]:
        """Map a match in `key` (from its leading space to its trailing space) to characters of the text."""
        first = bisect_left(self._starts, key_start + 1)
        last = bisect_left(self._starts, key_end) - 1
        return self.spans[first][0], self.spans[last][1]


def syllables(text: str) -> Syllables:
    sylls: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in _RUN.finditer(text):
        han, latin, number, other = m.groups()
        if han:
            for offset, syl in enumerate(lazy_pinyin(han, style=Style.NORMAL, errors="ignore")):
                sylls.append(syl.replace("ü", "v"))
                spans.append((m.start() + offset, m.start() + offset + 1))
        elif latin:
            sylls.append(latin)  # written pinyin (zui) or a letter (v, vx) stays as one unit
            spans.append(m.span())
        elif number:
            for syl in lazy_pinyin(number_reading(number), style=Style.NORMAL):
                sylls.append(syl)
                spans.append(m.span())
        elif not other.isspace():
            sylls.append(BREAK)
            spans.append(m.span())
    return Syllables(tuple(sylls), tuple(spans))


def sounds(text: str) -> list[str]:
    """The syllables said, punctuation left out: for telling whether two texts are the same speech
    heard twice (whisper hears a replay, or the same audio again, with other characters)."""
    return [s for s in syllables(normalize_text(text)).syllables if s != BREAK]
