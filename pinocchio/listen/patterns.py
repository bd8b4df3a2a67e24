"""Lexicon patterns: claims made of a frame and a number or a price rather than of fixed words
(最后{n}单, 还有{n}分钟…下播, 日常价{price}…今天{price}). A pattern is written in a small syntax that
people can read in a YAML file, compiled here into a regular expression over normalised text:

| written | matches |
|---|---|
| `{n}` | a count: digits or Chinese numerals (3, 十, 二十, 两, 几, 一百) |
| `{price}` | an amount as streamers say and whisper writes it: 九十九, 三百六十八米, 五十九块九, 59.9, 199元 |
| `{money}` | an amount with its currency said (块, 元, 米 for 元 …): 三百六十八米, 五十九块九, 199元 |
| `…` | anything but sentence punctuation, up to 15 characters (`……`: up to 30) |
| `(a|b)` | one of the alternatives |
| `?` | the character or group before it is optional |
| anything else | itself |
"""

from __future__ import annotations

import re

COUNT = r"(?:\d+|[零一二两三四五六七八九十百千万几]+)"
_NUMBER = r"(?:\d+(?:\.\d+)?|[零幺一二两三四五六七八九十百千万]+(?:点[零一二三四五六七八九]+)?)"
MONEY = rf"(?:{_NUMBER}(?:块钱|块|元|圆|米|毛)(?:[一二三四五六七八九]|\d)?)"
PRICE = rf"(?:{MONEY}|{_NUMBER})"
GAP = r"[^。！？!?；;]{0,%d}?"
SLOTS = {"n": COUNT, "price": PRICE, "money": MONEY}


def compile_pattern(text: str) -> re.Pattern:
    """The regular expression of a pattern; ValueError with the reason for a broken one."""
    if not text.strip():
        raise ValueError("the pattern is empty")
    text = text.replace("...", "…")  # NFKC writes the ellipsis as three dots
    out, depth, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            end = text.find("}", i)
            name = text[i + 1:end] if end > 0 else ""
            if name not in SLOTS:
                raise ValueError(f"unknown slot '{{{name}}}' (slots: {', '.join('{' + s + '}' for s in SLOTS)})")
            out.append(SLOTS[name])
            i = end + 1
            continue
        if ch == "…":
            run = len(text) - len(text[i:].lstrip("…"))
            out.append(GAP % (15 * (run - i)))
            i = run
            continue
        if ch == "(":
            depth += 1
            out.append("(?:")
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("a ')' without its '('")
            out.append(")")
        elif ch == "|":
            if depth == 0:
                raise ValueError("'|' outside a group: write (a|b)")
            out.append("|")
        elif ch == "?":
            if not out or out[-1] in ("(?:", "|"):
                raise ValueError("a '?' with nothing before it to make optional")
            out.append("?")
        else:
            out.append(re.escape(ch))
        i += 1
    if depth:
        raise ValueError("a '(' without its ')'")
    try:
        return re.compile("".join(out))
    except re.error as exc:  # what is left, e.g. an empty group
        raise ValueError(f"not a valid pattern ({exc})") from None
