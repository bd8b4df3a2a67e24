"""Viewers' reports from a file: CSV with a header (stream, reporter, at, label, comment) or JSONL,
one report per line.

Each line stands alone: a line with bad bytes, broken quoting, a field too long, a NUL or a value
of the wrong type is refused as `FILE:LINE: reason` and the lines around it are still read. Rows
go to `reports.take_reports` in batches, each committed, so a crash loses at most the batch in
hand; every row carries an intake key made of its content (and which copy of that content it is
in the file), so running the same file again stores nothing twice and says how many rows were
stored before."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from pinocchio.core.csv_file import csv_rows, decoded, file_lines
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
    lines = file_lines(path)
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


def _check_header(header: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        what = f"missing column '{missing[0]}'" if missing else f"unknown column '{unknown[0]}'"
        raise InputError(f"{what} (columns: {', '.join(COLUMNS)}; label and comment may be left out)")


def _csv_rows(path: Path, lines: list[bytes]) -> Iterator[tuple[int, ReportRequest | str]]:
    keys = _Keys()
    for number, row in csv_rows(path, lines, _check_header):
        yield number, row if isinstance(row, str) else _request(row, keys)


def _jsonl_rows(lines: list[bytes]) -> Iterator[tuple[int, ReportRequest | str]]:
    keys = _Keys()
    for number, raw in enumerate(lines, start=1):
        try:
            text = decoded(raw, number)
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
