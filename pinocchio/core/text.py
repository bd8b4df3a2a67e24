"""Text as every stage compares it: one script (Simplified), half-width forms, tidy spaces."""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"\s+")
CJK_RANGE = r"\u3400-\u9fff\uf900-\ufaff"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{CJK_RANGE}])\s+|\s+(?=[{CJK_RANGE}])")
_NOT_TEXT = re.compile(r"[\W_]+", re.UNICODE)


@functools.cache
def _converter():
    import opencc  # loads its dictionaries: only when text is first converted

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to Simplified with OpenCC (whisper writes much of its Chinese in Traditional)."""
    return _converter().convert(text)


def normalize_text(text: str) -> str:
    """Full-width to half-width (NFKC), Traditional to Simplified, latin lower-cased, spaces between
    Chinese characters removed (whisper puts them at random), other runs of space made single."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower()
    text = _SPACE_NEAR_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip()


def comparable(text: str) -> str:
    """What a character error rate compares: Simplified, no punctuation or spaces, lower-case."""
    return _NOT_TEXT.sub("", to_simplified(text)).lower()


def han_count(text: str) -> int:
    return sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")


_CONTROL = ("Cc", "Cf", "Zl", "Zp")


def checked_name(value: str, what: str, limit: int = 200) -> str:
    """A name or an id from outside: trimmed; refused (InputError naming `what`) if empty, too long
    or holding control characters (NUL, escape sequences, line breaks)."""
    from pinocchio.core.errors import InputError

    value = value.strip()
    if not value or len(value) > limit:
        raise InputError(f"{what} must be 1 to {limit} characters")
    if any(unicodedata.category(ch) in _CONTROL for ch in value):
        raise InputError(f"{what} may not hold control characters")
    return value


def checked_text(value: str, what: str, limit: int) -> str:
    """Free text from outside (a comment, a reason): trimmed; line breaks and tabs allowed, other
    control characters (NUL, escape sequences) refused; at most `limit` characters."""
    from pinocchio.core.errors import InputError

    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{what} is {len(value)} characters, more than {limit}")
    if any(unicodedata.category(ch) in _CONTROL and ch not in "\n\t" for ch in value):
        raise InputError(f"{what} may not hold control characters")
    return value
