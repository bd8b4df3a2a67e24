"""Find what a segment promises that a shop's facts can check, as typed `Promise` records with the
value normalised: reference prices (原价 999), stated prices (今天只要 99, 两盒一百二), guarantees
(假一赔十, 七天无理由...), shipping (包邮, 顺丰), stock (最后五单), sales (卖了十万单) and link numbers
(三号链接). The words come from `data/promises.yaml`; amounts are read by `facts.numerals`."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from pinocchio.core.errors import ConfigError
from pinocchio.core.pinyin import Syllables, syllables
from pinocchio.core.records import Amount, Promise, PromiseKind
from pinocchio.core.settings import package_data
from pinocchio.core.text import han_count
from pinocchio.core.yaml_file import read_yaml
from pinocchio.facts.numerals import AMOUNT, find_amounts, read_amount

SOUND_MIN_CHARS = 3  # shorter cues sound like everyday words (保佑 / 包邮): as written or as heard only
CUE_REACH = 5  # characters between a price cue and its amount (原价都要 九百九十九)
NEGATION_REACH = 3  # characters before a cue where 不/没有 undoes it
_BREAK = "。！？!?；;，,、 "
_NUMBER_SOUNDS = {"ling": "零", "yi": "一", "yao": "一", "er": "二", "liang": "两", "san": "三", "si": "四",
                  "wu": "五", "liu": "六", "qi": "七", "ba": "八", "jiu": "九", "shi": "十", "bai": "百",
                  "qian": "千", "wan": "万"}
_COUNT = r"(?:\d+|[零一二两三四五六七八九十百千万几]+)"
_TOP_KEYS = {"version", "negations", "prices", "guarantees", "shipping", "stock", "sales", "links"}


@dataclass(frozen=True)
class Cues:
    """Spellings of some cues, each mapped to its canonical cue, and the cues that match by sound."""

    spellings: dict[str, str]
    sounds: tuple[tuple[str, str], ...]  # (cue, its syllable key)

    @classmethod
    def of(cls, cues: list[str], heard: dict[str, list[str]] | None = None) -> "Cues":
        spellings = {c: c for c in cues}
        for cue, variants in (heard or {}).items():
            spellings.update({v: cue for v in variants})
        sounds = tuple((c, syllables(c).key) for c in cues if han_count(c) >= SOUND_MIN_CHARS)
        return cls(spellings, sounds)

    def spots(self, text: str, sounds: Syllables) -> list[tuple[int, int, str]]:
        """Where the cues are said, as (start, end, cue); of overlapping spots the longest."""
        found = []
        for spelling, cue in self.spellings.items():
            pos = text.find(spelling)
            while pos >= 0:
                found.append((pos, pos + len(spelling), cue))
                pos = text.find(spelling, pos + 1)
        for cue, key in self.sounds:
            pos = sounds.key.find(key)
            while pos >= 0:
                start, end = sounds.char_span(pos, pos + len(key))
                found.append((start, end, cue))
                pos = sounds.key.find(key, pos + 1)
        found.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        kept: list[tuple[int, int, str]] = []
        for spot in found:
            if kept and spot[0] < kept[-1][1]:
                continue
            kept.append(spot)
        return kept


@dataclass(frozen=True)
class PromiseWords:
    version: str
    negations: tuple[str, ...]
    reference: Cues
    stated: Cues
    price_not_after: tuple[str, ...]
    price_not_before: tuple[str, ...]
    weak_price_cues: frozenset[str]
    per_unit: tuple[str, ...]
    per_unit_after: tuple[str, ...]
    quantity_units: str
    guarantees: dict[str, Cues]
    shipping: dict[str, Cues]
    national: tuple[str, ...]
    shipping_exceptions: tuple[str, ...]
    stock: re.Pattern
    stock_units: str
    sales: re.Pattern
    links: re.Pattern


@functools.cache
def load_promise_words(path: Path | None = None) -> PromiseWords:
    """The cue file (the packaged one by default); a broken one fails naming the file."""
    path = path or package_data("promises.yaml")
    data = read_yaml(path, ConfigError).data
    if not isinstance(data, dict) or set(data) - _TOP_KEYS or not _TOP_KEYS <= set(data):
        raise ConfigError(f"{path}: expected the keys {', '.join(sorted(_TOP_KEYS))}")
    try:
        prices, stock, sales = data["prices"], data["stock"], data["sales"]
        return PromiseWords(
            version=str(data["version"]),
            negations=tuple(sorted(data["negations"], key=len, reverse=True)),
            reference=Cues.of(prices["reference"], prices.get("heard")),
            stated=Cues.of(prices["stated"], prices.get("heard")),
            price_not_after=tuple(prices["not_after"]),
            price_not_before=tuple(sorted(map(str, prices["not_before"]), key=len, reverse=True)),
            weak_price_cues=frozenset(prices["weak"]),
            per_unit=tuple(prices["per_unit"]),
            per_unit_after=tuple(prices["per_unit_after"]),
            quantity_units="".join(prices["quantity_units"]),
            guarantees={term: Cues.of(g["cues"], {g["cues"][0]: g.get("heard", [])})
                        for term, g in data["guarantees"].items()},
            shipping={term: Cues.of(s["cues"], {s["cues"][0]: s.get("heard", [])})
                      for term, s in data["shipping"].items() if term not in ("national", "exceptions")},
            national=tuple(data["shipping"]["national"]),
            shipping_exceptions=tuple(data["shipping"]["exceptions"]),
            stock=re.compile(rf"(?:{_alternatives(stock['cues'])})的?(?P<count>{_COUNT})"
                             rf"(?P<unit>[{''.join(stock['units'] + stock.get('heard_units', []))}])"
                             rf"(?!{_alternatives(stock['not_before'])})"),
            stock_units="".join(stock["units"]),
            sales=re.compile(rf"(?:{_alternatives(sales['cues'])})(?:了|出|到|有|已经|达到)*"
                             rf"(?P<count>{AMOUNT})(?P<unit>[{''.join(sales['units'])}])?"),
            links=re.compile(rf"(?P<count>{_COUNT})(?:{_alternatives(data['links']['cues'])})"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: a section is missing or of the wrong shape ({exc})") from None


def _alternatives(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(map(str, words), key=len, reverse=True))


class PromiseFinder:
    """Finds the promises of one segment's text (no state: the checker keeps what was said before)."""

    def __init__(self, words: PromiseWords | None = None):
        self.words = words or load_promise_words()

    def find(self, text: str) -> tuple[Promise, ...]:
        sounds = syllables(text)
        found = [*self._prices(text, sounds), *self._guarantees(text, sounds), *self._shipping(text, sounds),
                 *self._stock(text), *self._sales(text), *self._links(text)]
        return tuple(sorted(found, key=lambda p: (p.span, p.kind)))

    # -- prices

    def _prices(self, text: str, sounds: Syllables) -> list[Promise]:
        w = self.words
        cues = [(s, e, c, PromiseKind.REFERENCE_PRICE) for s, e, c in w.reference.spots(text, sounds)]
        cues += [(s, e, c, PromiseKind.STATED_PRICE) for s, e, c in w.stated.spots(text, sounds)]
        found = []
        previous_end = 0  # where the last price ended: a cue or a quantity before it is that price's
        for amount in find_amounts(text):
            start, end = amount.span
            if self._counts_something(text, end) or amount.amount.low <= 0:
                continue
            if not amount.money and len(amount.said) == 1 and not amount.said.isdigit():
                continue  # 今天买一送一, 拍三: one numeral alone is a count, not a price
            if any(word in text[max(previous_end, start - 12):start] for word in self.words.per_unit) \
                    or any(word in text[end:end + 8] for word in self.words.per_unit_after):
                continue
            quantity = self._quantity(text, start, previous_end) or self._quantity_after(text, end)
            before = quantity.start if quantity and quantity.start < start else 0  # 一盒 before 六十九: the cue is before it
            cue = self._nearest_cue(text, cues, start, max(previous_end, before))
            if cue is not None and cue[2] in self.words.weak_price_cues and not amount.money and quantity is None:
                cue = None
            if cue is None and quantity is None:
                continue
            if cue is not None and cue[3] is PromiseKind.REFERENCE_PRICE:
                kind, span_start, term, quantity = PromiseKind.REFERENCE_PRICE, cue[0], cue[2], None
            else:
                kind = PromiseKind.STATED_PRICE
                span_start = min(x for x in (start, cue[0] if cue else start, quantity.start if quantity else start))
                term = cue[2] if cue else ""
            span_end = max(end, quantity.end if quantity else end)
            found.append(Promise(kind=kind, span=(span_start, span_end), said=text[span_start:span_end],
                                 amount=amount.amount, quantity=quantity.count if quantity else None, term=term))
            previous_end = span_end
        return found

    def _counts_something(self, text: str, end: int) -> bool:
        """An amount followed by 单, 克, 天... counts or measures; one right after 券, 减, 省... is not
        the product's price."""
        return text.startswith(self.words.price_not_before, end)

    def _nearest_cue(self, text: str, cues: list, amount_start: int, floor: int):
        """The price cue said closest before an amount, within reach and in the same clause, with no
        discount word between them and no other amount."""
        best = None
        for cue in cues:
            start, end = cue[0], cue[1]
            if end > amount_start or start < floor or amount_start - end > CUE_REACH:
                continue
            between = text[end:amount_start]
            if any(ch in _BREAK for ch in between) or any(word in between for word in self.words.price_not_after):
                continue
            if self._negated(text, start):
                continue
            # A reference cue in reach names the price even with a verb after it (专柜要卖 八百).
            rank = (cue[3] is PromiseKind.REFERENCE_PRICE, end)
            if best is None or rank > best[0]:
                best = (rank, cue)
        return best[1] if best else None

    @dataclass(frozen=True)
    class _Quantity:
        start: int
        end: int
        count: int

    def _quantity(self, text: str, amount_start: int, floor: int) -> "PromiseFinder._Quantity | None":
        """一盒 / 两盒 / 3瓶 right before a price (一盒六十九块), with at most 只要/才/就 between."""
        m = re.search(rf"({_COUNT})([{self.words.quantity_units}])(?:装)?(?:只要|只需|才|就|是|卖|要)?$",
                      text[max(floor, amount_start - 8):amount_start])
        if not m:
            return None
        count = read_amount(m.group(1))
        if count is None or not count.exact or count.low != int(count.low) or not 1 <= count.low <= 100:
            return None
        start = max(floor, amount_start - 8) + m.start()
        return self._Quantity(start, start + len(m.group(1)) + 1, int(count.low))

    def _quantity_after(self, text: str, amount_end: int) -> "PromiseFinder._Quantity | None":
        """八十八米到手六盒: the price buys the quantity said right after it."""
        m = re.match(rf"(?:的一个价格|的价格)?[,，]?(?:到手|给您发|拍一发)(?:是)?({_COUNT})[{self.words.quantity_units}]",
                     text[amount_end:amount_end + 12])
        count = read_amount(m.group(1)) if m else None
        if count is None or not count.exact or count.low != int(count.low) or not 1 <= count.low <= 100:
            return None
        return self._Quantity(amount_end, amount_end + m.end(), int(count.low))

    # -- guarantees and shipping

    def _guarantees(self, text: str, sounds: Syllables) -> list[Promise]:
        found = []
        for term, cues in self.words.guarantees.items():
            for start, end, _ in cues.spots(text, sounds):
                if self._negated(text, start):
                    continue
                amount = None
                if term == "counterfeit_compensation":
                    amount, end = self._compensation(text, sounds, end)
                    if amount is None:
                        continue
                found.append(Promise(kind=PromiseKind.GUARANTEE, span=(start, end), said=text[start:end],
                                     amount=amount, term=term))
        return found

    def _compensation(self, text: str, sounds: Syllables, cue_end: int) -> tuple[Amount | None, int]:
        """The N of 假一赔N, as written (十, 10) or as heard (时 for 十): the numeral syllables after the cue."""
        numerals = ""
        end = cue_end
        for syllable, (start, stop) in zip(sounds.syllables, sounds.spans):
            if start < cue_end:
                continue
            if start != end or syllable not in _NUMBER_SOUNDS:
                break
            numerals += text[start:stop] if text[start:stop].isdigit() else _NUMBER_SOUNDS[syllable]
            end = stop
        amount = read_amount(numerals) if numerals else None
        return amount, end

    def _shipping(self, text: str, sounds: Syllables) -> list[Promise]:
        w = self.words
        found = []
        for term, cues in w.shipping.items():
            for start, end, _ in cues.spots(text, sounds):
                if self._negated(text, start):
                    continue
                national = any(text.endswith(word, max(0, start - 4), start) or text.startswith(word, start - len(word))
                               for word in w.national)
                named_exceptions = any(word in text for word in w.shipping_exceptions)
                scope = "全国" if national and not named_exceptions else ""
                span_start = start - 2 if scope and text[start - 2:start] == "全国" else start
                found.append(Promise(kind=PromiseKind.SHIPPING, span=(span_start, end), said=text[span_start:end],
                                     term=term, scope=scope))
        return found

    def _negated(self, text: str, cue_start: int) -> bool:
        before = text[max(0, cue_start - NEGATION_REACH):cue_start]
        return any(word in before for word in self.words.negations)

    # -- counts

    def _stock(self, text: str) -> list[Promise]:
        found = []
        for m in self.words.stock.finditer(text):
            amount = read_amount(m.group("count"))
            if amount is not None and amount.low > 0:
                unit = m.group("unit") if m.group("unit") in self.words.stock_units else "单"  # 五顶 was 五单
                found.append(Promise(kind=PromiseKind.STOCK, span=m.span(), said=m.group(), amount=amount, term=unit))
        return found

    def _sales(self, text: str) -> list[Promise]:
        found = []
        for m in self.words.sales.finditer(text):
            amount = read_amount(m.group("count"))
            if amount is None or amount.low <= 0:
                continue
            if not m.group("unit") and amount.high < 1000:  # 卖了三 (what?): a sales figure says its unit or is big
                continue
            found.append(Promise(kind=PromiseKind.SALES, span=m.span(), said=m.group(), amount=amount,
                                 term=m.group("unit") or ""))
        return found

    def _links(self, text: str) -> list[Promise]:
        found = []
        for m in self.words.links.finditer(text):
            amount = read_amount(m.group("count"))
            if amount is not None and amount.exact and 1 <= amount.low <= 999:
                found.append(Promise(kind=PromiseKind.LINK, span=m.span(), said=m.group(), amount=amount))
        return found
