"""Numbers as streamers say them and as whisper writes them, read as amounts: 九十九, 九块九, 一百二,
两百八, 幺零九, 1.2万, 9.9, 三位数, 两三百, 一百多, 小一千, 不到一百. The numeral itself is read by
cn2an (its "smart" mode takes 一百二 as 120, 幺零九 as 109, 1万2 as 12000); this module adds what
cn2an leaves to its caller: money units (块/元/米, 毛/角), thousands separators, 万 after a decimal,
and the spoken ranges and bounds, each read as the range of values it can mean."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import cn2an

from pinocchio.core.records import Amount

INF = math.inf
_CN_DIGIT = "零〇幺一二两三四五六七八九"
_CN = f"[{_CN_DIGIT}十百千万亿]"
_DIGITS = r"\d+(?:,\d{3})*(?:\.\d+)?"
# A numeral: digits (with a 万/千/w/k multiplier and a spoken tail, 1万2), or Chinese numerals.
NUMERAL = (rf"(?:{_DIGITS}(?:[万千wk](?:\d|[一二两三四五六七八九])?)?"
           rf"|{_CN}+(?:点[{_CN_DIGIT}]+)?万?)")
_CURRENCY = r"(?:块钱|块|元|圆|米|大洋)"
_SMALL = r"[一二两三四五六七八九\d]"
# 九块九, 五十九块九毛九, 两块五毛: the yuan, then jiao and fen said as single digits.
_MONEY = rf"(?:{NUMERAL}{_CURRENCY}(?:{_SMALL}(?:毛|角)?(?:{_SMALL}分?)?)?|{NUMERAL}(?:毛|角)(?:{_SMALL}分?)?)"
_BEFORE = r"(?:不到|不足|不超过|将近|接近|差不多|大概|大约|约|近|小|上|过|破|超过|突破|超)"
_AFTER = r"(?:左右|上下|出头|以上|以内|以下|多|来|\+)"
_RANGE = (r"(?:[一二两三四五六七八九\d]位数"  # 三位数
          r"|(?:[一二三四五六七八]|两)[二三四五六七八九](?:十|百|千|万)"  # 两三百, 五六十
          r"|好?几(?:十|百|千|万)+|(?:[一二三四五六七八九]?十)几"  # 几百, 十几, 二十几
          r"|成千上万)")
AMOUNT = (rf"(?:{_BEFORE}?[¥￥]?(?:{_RANGE}|{_MONEY}|{NUMERAL}){_AFTER}?(?:{_CURRENCY}(?:钱)?)?)")
_AMOUNT_RE = re.compile(AMOUNT)
_MONEY_SAID = re.compile(rf"{_CURRENCY}|毛|角|[¥￥]")

_DIGIT_VALUE = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "幺": 1, "两": 2}
_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10_000}


@dataclass(frozen=True)
class FoundAmount:
    """An amount in a text: where, what it means, and whether a currency was said with it."""

    span: tuple[int, int]
    said: str
    amount: Amount
    money: bool


def find_amounts(text: str, start: int = 0, end: int | None = None) -> list[FoundAmount]:
    """Every amount said in text[start:end], left to right."""
    found = []
    for m in _AMOUNT_RE.finditer(text, start, len(text) if end is None else end):
        said, span = m.group(), m.span()
        if len(said) > 2 and said.endswith("两") and said[-2] in "十百千万":  # 三百六十两: 两 the weight, not 2
            said, span = said[:-1], (span[0], span[1] - 1)
        amount = read_amount(said)
        if amount is not None:
            found.append(FoundAmount(span, said, amount, bool(_MONEY_SAID.search(said))))
    return found


@functools.lru_cache(maxsize=4096)
def read_amount(said: str) -> Amount | None:
    """What a spoken amount means (a range: exact amounts have low == high), or None when the
    words are not an amount."""
    text = said.strip().replace("，", ",").replace("钱", "")
    text = re.sub(rf"{_CURRENCY}$", "", text) if not re.search(rf"{_CURRENCY}{_SMALL}", text) else text
    bound = re.match(_BEFORE, text)
    prefix = bound.group() if bound and len(text) > bound.end() else ""
    text = text[len(prefix):].lstrip("¥￥")
    if prefix and text in ("百", "千", "万"):  # 破万, 上千, 近千: the unit alone is one of it
        text = "一" + text
    suffix = ""
    for word in ("左右", "上下", "出头", "以上", "以内", "以下", "多", "来", "+"):
        if text.endswith(word) and len(text) > len(word):
            suffix, text = word, text[: -len(word)]
            break
    core = _read_range(text) or _read_money(text) or _read_numeral(text)
    if core is None:
        return None
    return _bounded(core, prefix, suffix)


def _bounded(core: Amount, prefix: str, suffix: str) -> Amount:
    low, high = core.low, core.high
    if suffix == "多":  # 一百多: more than a hundred, less than two; 十多 / 二十多 likewise
        step = _step(high)
        return Amount(low + (1 if step >= 10 else 0.1), low + step - (1 if step >= 10 else 0.1))
    if suffix == "来":  # 十来块: about ten
        return Amount(low * 0.8, high * 1.3)
    if suffix in ("左右", "上下") or prefix in ("差不多", "大概", "大约", "约"):
        return Amount(low * 0.9, high * 1.1)
    if suffix == "出头":
        return Amount(low, high * 1.2)
    if suffix in ("以上", "+") or prefix in ("超过", "突破", "超", "破", "过"):
        return Amount(low, INF)
    if prefix == "上":  # 上千: a thousand or more, short of the next order
        return Amount(low, high * 10 - 1)
    if suffix in ("以内", "以下") or prefix in ("不超过",):
        return Amount(0, high)
    if prefix in ("不到", "不足"):
        return Amount(0, low - (1 if low >= 10 else 0.01))
    if prefix in ("将近", "接近", "近", "小"):  # 小一千: a bit under a thousand
        return Amount(low * 0.8, high)
    return core


def _step(value: float) -> float:
    """The unit of a round number's last non-zero place: 100 for 一百, 10 for 二十 and 十, 1 for 九."""
    if value >= 10 and value == int(value):
        magnitude = 10 ** int(math.log10(value))
        while magnitude > 1 and value % magnitude:
            magnitude //= 10
        return magnitude
    return 1


def _read_range(text: str) -> Amount | None:
    if m := re.fullmatch(r"([一二两三四五六七八九\d])位数", text):
        digits = int(m.group(1)) if m.group(1).isdigit() else _DIGIT_VALUE[m.group(1)]
        return Amount(10 ** (digits - 1), 10 ** digits - 1)
    if m := re.fullmatch(r"([一二三四五六七八两])([二三四五六七八九])([十百千万])", text):
        a, b, unit = _DIGIT_VALUE[m.group(1)], _DIGIT_VALUE[m.group(2)], _UNIT[m.group(3)]
        return Amount(a * unit, b * unit) if b == a + 1 else None
    if m := re.fullmatch(r"好?几([十百千万]+)", text):
        unit = math.prod(_UNIT[c] for c in m.group(1))
        return Amount(2 * unit, 9 * unit)
    if m := re.fullmatch(r"([一二三四五六七八九]?)十几", text):
        tens = _DIGIT_VALUE[m.group(1)] if m.group(1) else 1
        return Amount(tens * 10 + 1, tens * 10 + 9)
    if text == "成千上万":
        return Amount(1000, 99_999)
    return None


def _read_money(text: str) -> Amount | None:
    m = re.fullmatch(rf"({NUMERAL})?(?:{_CURRENCY}({_SMALL})?(?:毛|角)?|({NUMERAL})(?:毛|角))({_SMALL})?分?", text)
    if not m or not (m.group(1) or m.group(3)):
        return None
    yuan = _numeral_value(m.group(1)) if m.group(1) else 0.0
    if yuan is None:
        return None
    if m.group(3):  # 九毛九: jiao then fen
        jiao = _numeral_value(m.group(3))
        fen = _small(m.group(4)) if m.group(4) else 0
        return None if jiao is None or jiao >= 10 else _exact(round(jiao / 10 + fen / 100, 2))
    jiao = _small(m.group(2)) if m.group(2) else 0
    fen = _small(m.group(4)) if m.group(4) else 0
    return _exact(round(yuan + jiao / 10 + fen / 100, 2))


def _small(char: str) -> int:
    return int(char) if char.isdigit() else _DIGIT_VALUE[char]


def _read_numeral(text: str) -> Amount | None:
    value = _numeral_value(text)
    return None if value is None else _exact(value)


def _numeral_value(text: str) -> float | None:
    text = text.replace(",", "").replace("〇", "零")
    if not text:
        return None
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)([wk])", text):
        return float(m.group(1)) * (10_000 if m.group(2) == "w" else 1000)
    if m := re.fullmatch(rf"([{_CN_DIGIT}十百千]+点[{_CN_DIGIT}]+)万", text):  # 一点二万
        inner = _numeral_value(m.group(1))
        return None if inner is None else inner * 10_000
    if text[0] in "百千万" and len(text) > 1:  # 百万 as said for 一百万 (a unit alone is no number)
        text = "一" + text
    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return float(value)


def _exact(value: float) -> Amount:
    return Amount(value, value)
