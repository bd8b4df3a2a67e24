"""CSV files that people and other systems write (viewers' reports, shop facts), read one record
at a time so that each bad line is its own `line: reason` and the lines around it are still read:
bad bytes, a NUL, broken quoting, a field too long or the wrong number of fields."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from pinocchio.core.errors import InputError

MAX_RECORD_LINES = 20  # a quoted field may hold line breaks, up to this many lines in all


def file_lines(path: Path) -> list[bytes]:
    """The file's lines as bytes (each is decoded on its own); InputError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def decoded(raw: bytes, number: int) -> str:
    """A line as text; its own one-line refusal when it is not UTF-8 or holds a NUL."""
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    raw = raw.rstrip(b"\r")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    if "\x00" in text:
        raise InputError(f"a NUL byte at column {text.index(chr(0)) + 1}")
    return text


def csv_rows(path: Path, lines: list[bytes], check_header: Callable[[list[str]], None]) -> Iterator[tuple[int, dict | str]]:
    """(line, row as {column: stripped value}) for each record after the header, or (line, reason)
    for one that cannot be read. The header's names are lower-cased; `check_header` refuses a bad
    one with InputError(reason), which stops the file as `FILE:LINE: reason`."""
    header: list[str] | None = None
    index = 0
    while index < len(lines):
        number = index + 1
        try:
            text = decoded(lines[index], number)
            if not text.strip():
                index += 1
                continue
            fields, index = _record(lines, index, text, None if header is None else len(header))
        except InputError as exc:
            if header is None:
                raise InputError(f"{path}:{number}: {exc}") from None
            yield number, str(exc)
            index += 1
            continue
        if header is None:
            header = [h.strip().lower() for h in fields]
            try:
                check_header(header)
            except InputError as exc:
                raise InputError(f"{path}:{number}: {exc}") from None
            continue
        if len(fields) != len(header):
            yield number, f"{len(fields)} fields, the header has {len(header)}"
            continue
        yield number, {k: v.strip() for k, v in zip(header, fields)}


def _record(lines: list[bytes], index: int, text: str, width: int | None) -> tuple[list[str], int]:
    """The CSV record starting on line `index` and the index of the line after it. A quoted field
    may run over the next lines when that closes it into a record of the header's width; a quote
    that never closes is this line's error, and the next line is read on its own."""
    try:
        return next(csv.reader([text], strict=True)), index + 1
    except csv.Error as exc:
        if "end of data" not in str(exc):
            raise InputError(f"not CSV: {exc}") from None
    joined = text
    for end in range(index + 1, min(len(lines), index + MAX_RECORD_LINES)):
        try:
            joined += "\n" + decoded(lines[end], end + 1)
            fields = next(csv.reader([joined], strict=True))
        except csv.Error as exc:
            if "end of data" in str(exc):
                continue
            break
        except InputError:
            break
        if width is None or len(fields) == width:
            return fields, end + 1
        break
    raise InputError("not CSV: a quote is left open (a field in quotes must close on this line or the next ones)")
