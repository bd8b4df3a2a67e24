"""What every command shares: the options defined once, settings from flag > environment > default,
turning the library's errors into one `error: ...` line, a database session, and printing."""

from __future__ import annotations

import dataclasses
import json
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pinocchio.core.errors import PinocchioError
from pinocchio.core.settings import Settings

# Tables for people; off a terminal (a pipe, a log) lines may be long rather than cut.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line: never broken at 80 columns


class OutputFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"


DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL or SQLite path [env PINOCCHIO_DB; default ./pinocchio.db].")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, jsonl for programs.")]
ModelOption = Annotated[Optional[str], typer.Option("--model", help="Whisper model name or directory [env PINOCCHIO_MODEL; default base].")]
DeviceOption = Annotated[Optional[str], typer.Option("--device", help="Where whisper runs: cpu, cuda or auto [env PINOCCHIO_DEVICE; default cpu].")]
ComputeTypeOption = Annotated[Optional[str], typer.Option("--compute-type", help="Whisper's CTranslate2 compute type [env PINOCCHIO_COMPUTE_TYPE; default int8 on a CPU, float16 on CUDA].")]
ClassifierOption = Annotated[Optional[str], typer.Option("--classifier", help="Claim-classifier directory, or 'none' for the lexicons alone [env PINOCCHIO_CLASSIFIER; default: the shipped model].")]
EvidenceOption = Annotated[Optional[Path], typer.Option("--evidence", help="Folder for evidence clips [env PINOCCHIO_EVIDENCE; default: 'evidence' beside the database].")]
LexiconsOption = Annotated[Optional[Path], typer.Option("--lexicons", help="Lexicon directory [env PINOCCHIO_LEXICONS].")]
FactsOption = Annotated[Optional[list[Path]], typer.Option("--facts", help="Import this shop-facts file first (YAML or CSV, as `shops import`); repeatable.")]
AsOption = Annotated[Optional[str], typer.Option("--as", help="The reviewer acting [env PINOCCHIO_REVIEWER].")]
CommentOption = Annotated[str, typer.Option("--comment", "-m", help="Why, for the record.")]


def settings(**flags: object) -> Settings:
    """The settings for a command: its flags (None: not given) over the environment over defaults."""
    with or_exit():
        return Settings.from_env().with_overrides(**flags)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@contextmanager
def or_exit(code: int = 2) -> Iterator[None]:
    """Turn the library's errors, and a database that cannot answer, into one `error: ...` line
    and an exit code, never a traceback."""
    from pinocchio.store.engine import UNAVAILABLE, unavailable

    try:
        yield
    except PinocchioError as exc:
        fail(str(exc))
        raise typer.Exit(code) from None
    except UNAVAILABLE as exc:
        fail(unavailable(exc))
        raise typer.Exit(code) from None


def reviewer_named(flag: str | None) -> str:
    """The reviewer acting: --as, else PINOCCHIO_REVIEWER; one of them is needed."""
    name = settings(reviewer=flag).reviewer
    if not name:
        fail("who is acting? give --as NAME or set PINOCCHIO_REVIEWER")
        raise typer.Exit(2)
    return name


@contextmanager
def session(db: str | None, code: int = 2):
    """A session on the store, committed when the block ends well; library errors become one
    `error: ...` line and exit code `code`, and nothing is written."""
    from sqlmodel import Session

    from pinocchio.store import open_store

    with or_exit(code):
        engine = open_store(settings(db_url=db).db_url)
        with Session(engine) as s:
            yield s
            s.commit()


def clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:04.1f}"


def emit_json(value: dict) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False))


def plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def visible(text: str) -> str:
    """Text from outside (viewers, streamers) made safe for a terminal: rich markup escaped and
    control characters (escape sequences, NUL, carriage returns) shown as \\xNN, never obeyed."""
    return escape("".join(ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf") else f"\\x{ord(ch):02x}"
                          for ch in text))


def cell(value) -> str:
    """A value as a table cell: shown as text, never read as rich markup or obeyed as a control code."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, tuple):
        return visible(", ".join(str(v) for v in value))
    if isinstance(value, float):
        return f"{value:g}"
    return visible(str(value))


def emit_rows(rows: list, columns: list[str], format: OutputFormat, title: str) -> None:
    """Records as a table (the named columns) or as one JSON object a line (every field)."""
    if format is OutputFormat.jsonl:
        for row in rows:
            emit_json({k: plain(v) for k, v in dataclasses.asdict(row).items()})
        return
    table = Table(title=escape(title), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[cell(getattr(row, c)) for c in columns])
    out.print(table)


class ProgressBar:
    """A progress bar on the terminal's stderr (stream seconds of a file, lines of an import)."""

    def __init__(self, name: str):
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                             TimeRemainingColumn(), console=err, transient=True)
        self._task = self._bar.add_task(escape(name), total=None)
        self._bar.start()

    def update(self, done: float, total: float | None) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def stop(self) -> None:
        self._bar.stop()
