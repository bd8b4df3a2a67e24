"""Viewers' reports from a file: CSV with a header (stream, reporter, at, label, comment) or JSONL,
one report per line.

Each line stands alone: a line with bad bytes, broken quoting, a field too long, a NUL or a value
of the wrong type is refused as `FILE:LINE: reason` and the lines around it are still read. Rows
go to `reports.take_reports` in batches, each committed, so a crash loses at most the batch in
hand; every row carries an intake key made of its content (and which copy of that content it is
in the file), so running the same file again stores nothing twice and says how many rows were
stored before."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from pinocchio.core.errors import InputError, PinocchioError
from pinocchio.moderation.report_targets import SegmentCache
from pinocchio.moderation.reports import ReportOptions, ReportRequest, take_reports

log = logging.getLogger(__name__)

COLUMNS = ("stream", "reporter", "at", "label", "comment")
REQUIRED = ("stream", "reporter", "at")
BATCH = 1000  # rows per transaction: what a crash can lose, and what one group write carries


@dataclass(frozen=True)
class ImportResult:
    accepted: int
    folded: int
    stored: int  # rows stored by an earlier run of this file (or one with the same rows)
    rejected: tuple[str, ...]  # "FILE:LINE: reason", one per bad row


Progress = Callable[[int, int], None]  # (lines read, lines in the file)


def import_reports(session: Session, path: Path | str, options: ReportOptions = ReportOptions(), *,
                   batch: int = BATCH, progress: Progress | None = None) -> ImportResult:
    """Submit every row of a CSV or JSONL file of reports, committing every `batch` rows. Bad rows
    are rejected with their line and reason; the good ones are kept."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    counts: Counter[str] = Counter()
    rejected: list[tuple[int, str]] = []  # (line, reason): a batch's refusals come after later lines' parse errors
    waiting: list[tuple[int, ReportRequest]] = []
    segments = SegmentCache()

    def submit() -> None:
        results = take_reports(session, [request for _, request in waiting], options, segments)
        session.commit()
        for (line, _), result in zip(waiting, results):
            if isinstance(result, PinocchioError):
                rejected.append((line, str(result)))
            else:
                counts[result.status] += 1
        waiting.clear()

    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    for line, row in (_jsonl_rows(lines) if jsonl else _csv_rows(path, lines)):
        if isinstance(row, str):
            rejected.append((line, row))
            continue
        waiting.append((line, row))
        if len(waiting) >= batch:
            submit()
            if progress:
                progress(line, len(lines))
    if waiting:
        submit()
    if progress:
        progress(len(lines), len(lines))
    rejected.sort(key=lambda item: item[0])
    log.info("%s: %d reports accepted, %d folded, %d stored before, %d rejected", path, counts["accepted"],
             counts["folded"], counts["stored"], len(rejected))
    return ImportResult(accepted=counts["accepted"], folded=counts["folded"], stored=counts["stored"],
                        rejected=tuple(f"{path}:{line}: {reason}" for line, reason in rejected))


# ---------------------------------------------------------------- lines to requests


def _decoded(raw: bytes, number: int) -> str:
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


class _Keys:
    """Intake keys from rows' content: the n-th copy of a row in a file is always the same key."""

    def __init__(self):
        self._copies: Counter[str] = Counter()

    def __call__(self, row: dict) -> str:
        content = json.dumps([row.get(c) for c in COLUMNS], ensure_ascii=False, sort_keys=True, default=str)
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
        self._copies[digest] += 1
        return f"file:{digest}:{self._copies[digest]}"


def _request(row: dict, keys: _Keys) -> ReportRequest:
    return ReportRequest(stream=row.get("stream"), reporter=row.get("reporter"), at=row.get("at"),
                         label=row.get("label"), comment=row.get("comment") or "", key=keys(row))


def _csv_rows(path: Path, lines: list[bytes]) -> Iterator[tuple[int, ReportRequest | str]]:
    header: list[str] | None = None
    keys = _Keys()
    index = 0
    while index < len(lines):
        number = index + 1
        try:
            text = _decoded(lines[index], number)
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
            missing = [c for c in REQUIRED if c not in header]
            unknown = [c for c in header if c not in COLUMNS]
            if missing or unknown:
                what = f"missing column '{missing[0]}'" if missing else f"unknown column '{unknown[0]}'"
                raise InputError(f"{path}:{number}: {what} (columns: {', '.join(COLUMNS)}; "
                                 "label and comment may be left out)")
            continue
        if len(fields) != len(header):
            yield number, f"{len(fields)} fields, the header has {len(header)}"
            continue
        yield number, _request({k: v.strip() for k, v in zip(header, fields)}, keys)


MAX_RECORD_LINES = 20  # a quoted field may hold line breaks, up to this many lines in all


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
            joined += "\n" + _decoded(lines[end], end + 1)
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


def _jsonl_rows(lines: list[bytes]) -> Iterator[tuple[int, ReportRequest | str]]:
    keys = _Keys()
    for number, raw in enumerate(lines, start=1):
        try:
            text = _decoded(raw, number)
        except InputError as exc:
            yield number, str(exc)
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, f"not JSON: {exc.msg}"
            continue
        except RecursionError:
            yield number, "not JSON: nested too deeply"
            continue
        if not isinstance(row, dict):
            yield number, "expected an object like {\"stream\": 1, \"reporter\": \"u1\", \"at\": 12.5}"
            continue
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            yield number, f"unknown key '{unknown[0]}' (keys: {', '.join(COLUMNS)})"
            continue
        yield number, _request(row, keys)
