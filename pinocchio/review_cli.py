"""The moderation commands (`reports`, `reviewers`, `cases`, `penalties`, `appeals`, `audit`,
`db`): parse, call the library, print. `cli.py` registers `SUBCOMMANDS`; nothing here imports it."""

from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pinocchio.config import Settings
from pinocchio.errors import PinocchioError

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL or SQLite path [env PINOCCHIO_DB; default ./pinocchio.db].")]
AsOption = Annotated[str, typer.Option("--as", envvar="PINOCCHIO_REVIEWER", help="The reviewer acting [env PINOCCHIO_REVIEWER].")]
CommentOption = Annotated[str, typer.Option("--comment", "-m", help="Why, for the record.")]


class Format(str, Enum):
    table = "table"
    jsonl = "jsonl"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table for people, jsonl for programs.")]


@contextmanager
def _session(db: str | None, code: int = 2):
    """A session on the store, committed when the block ends well; library errors become one
    `error: ...` line and exit code `code`, and nothing is written."""
    from sqlmodel import Session

    from pinocchio.store import open_store

    try:
        engine = open_store(Settings().with_overrides(db_url=db).db_url)
        with Session(engine) as session:
            yield session
            session.commit()
    except PinocchioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code) from None


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _emit(rows: list, columns: list[str], format: Format, title: str) -> None:
    if format is Format.jsonl:
        for row in rows:
            typer.echo(json.dumps({k: _plain(v) for k, v in dataclasses.asdict(row).items()}, ensure_ascii=False))
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_cell(getattr(row, c)) for c in columns])
    out.print(table)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---------------------------------------------------------------- reports

reports_app = typer.Typer(help="Viewers' reports: import them, see where they point.", no_args_is_help=True)


@reports_app.command("import")
def reports_import(file: Annotated[Path, typer.Argument(help="CSV with a header (stream, reporter, at, label, comment) or .jsonl.")],
                   db: DbOption = None) -> None:
    """Take reports from a file: good rows are kept, bad ones listed as FILE:LINE: reason (exit 1)."""
    from pinocchio.reports import import_reports

    with _session(db) as session:
        result = import_reports(session, file)
    for message in result.rejected:
        typer.echo(f"error: {message}", err=True)
    typer.echo(f"{result.accepted} accepted, {result.folded} folded into earlier reports, {len(result.rejected)} rejected")
    raise typer.Exit(1 if result.rejected else 0)


@reports_app.command("list")
def reports_list(db: DbOption = None, stream: Annotated[Optional[int], typer.Option("--stream", help="Only this stream id.")] = None,
                 reporter: Annotated[Optional[str], typer.Option("--reporter", help="Only this reporter.")] = None,
                 waiting: Annotated[bool, typer.Option("--waiting", help="Only reports not attached to any segment yet.")] = False,
                 format: FormatOption = Format.table) -> None:
    """Reports, newest first, with the segments they were attached to."""
    from pinocchio.reports import list_reports

    with _session(db) as session:
        rows = list_reports(session, stream_id=stream, reporter_id=reporter, waiting=waiting)
    _emit(rows, ["id", "stream_id", "reporter_id", "at_s", "label", "credibility", "duplicates", "outcome",
                 "segment_ids", "comment"], format, f"{len(rows)} reports")


@reports_app.command("attach")
def reports_attach(db: DbOption = None) -> None:
    """Attach reports to the segments a scan stored after they came in."""
    from pinocchio.reports import attach_all_waiting

    with _session(db) as session:
        made = attach_all_waiting(session)
    typer.echo(f"{made} attachments")


# ---------------------------------------------------------------- reviewers

reviewers_app = typer.Typer(help="Reviewer accounts.", no_args_is_help=True)


@reviewers_app.command("add")
def reviewers_add(name: Annotated[str, typer.Argument(help="Login name.")],
                  role: Annotated[str, typer.Option("--role", help="reviewer, senior or admin.")] = "reviewer",
                  password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
                  db: DbOption = None) -> None:
    """Add a reviewer; the password is asked for (or read from stdin) and stored scrypt-hashed."""
    from pinocchio.reviewers import add_reviewer

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _session(db) as session:
        info = add_reviewer(session, name=name, role=role, password=password)
    typer.echo(f"added {info.name} ({info.role})")


@reviewers_app.command("list")
def reviewers_list(db: DbOption = None) -> None:
    """Reviewers and their roles."""
    from pinocchio.reviewers import list_reviewers

    with _session(db) as session:
        for r in list_reviewers(session):
            typer.echo(f"{r.name}\t{r.role}\t{'active' if r.active else 'inactive'}")


# ---------------------------------------------------------------- cases

cases_app = typer.Typer(help="The review queue: claim a case, then confirm, dismiss or escalate it.", no_args_is_help=True)
CASE_COLUMNS = ["segment_id", "priority", "status", "found_labels", "severity", "score", "report_count",
                "strike_points", "streamer_id", "claimed_by", "start_s", "text"]


@cases_app.command("queue")
def cases_queue(db: DbOption = None,
                reviewer: Annotated[Optional[str], typer.Option("--as", envvar="PINOCCHIO_REVIEWER", help="Only what this reviewer may claim now.")] = None,
                limit: Annotated[int, typer.Option("--limit", help="At most this many cases.")] = 50,
                format: FormatOption = Format.table) -> None:
    """Open and escalated cases, highest priority first."""
    from pinocchio.cases import review_queue

    with _session(db) as session:
        rows = review_queue(session, reviewer=reviewer, limit=limit)
    _emit(rows, CASE_COLUMNS, format, f"{len(rows)} cases")


@cases_app.command("show")
def cases_show(segment: Annotated[int, typer.Argument(help="The case's segment id.")], db: DbOption = None) -> None:
    """One case and its history from the event log."""
    from pinocchio.cases import case_history, get_case

    with _session(db) as session:
        case = get_case(session, segment)
        history = case_history(session, segment)
    for field in dataclasses.fields(case):
        typer.echo(f"{field.name}: {_cell(getattr(case, field.name))}")
    for e in history:
        typer.echo(f"{e.id}\t{e.created_at:%Y-%m-%d %H:%M:%S}\t{e.action}\t{e.actor}\t{json.dumps(dict(e.payload), ensure_ascii=False)}")


@cases_app.command("claim")
def cases_claim(segment: Annotated[int, typer.Argument(help="The case's segment id.")], reviewer: AsOption,
                db: DbOption = None) -> None:
    """Take a case (for 30 minutes); fails if another reviewer holds it."""
    from pinocchio.cases import claim_case

    with _session(db) as session:
        case = claim_case(session, reviewer=reviewer, segment_id=segment)
    typer.echo(f"case {case.segment_id} claimed by {case.claimed_by} until {case.claim_expires_at:%H:%M:%S} UTC")


@cases_app.command("confirm")
def cases_confirm(segment: Annotated[int, typer.Argument(help="The case's segment id.")], reviewer: AsOption,
                  label: Annotated[list[str], typer.Option("--label", "-l", help="A label it breaks (repeat for more).")],
                  comment: CommentOption = "", db: DbOption = None) -> None:
    """It breaks the rules: strikes for the streamer, and the ladder's penalty."""
    from pinocchio.cases import confirm_case

    with _session(db) as session:
        decision = confirm_case(session, reviewer=reviewer, segment_id=segment, labels=label, comment=comment)
    points = sum(s.points for s in decision.strikes)
    typer.echo(f"case {segment} confirmed: {', '.join(decision.labels)}")
    if decision.streamer_id is None:
        typer.echo("the stream names no streamer: no strikes, no penalty")
    else:
        typer.echo(f"{decision.streamer_id}: +{points} strike points")
    if decision.penalty:
        end = f"until {decision.penalty.ends_at:%Y-%m-%d %H:%M} UTC" if decision.penalty.ends_at else "permanently"
        typer.echo(f"penalty {decision.penalty_id}: {decision.penalty.kind} {end} ({decision.penalty.points} points)")


@cases_app.command("dismiss")
def cases_dismiss(segment: Annotated[int, typer.Argument(help="The case's segment id.")], reviewer: AsOption,
                  comment: CommentOption = "", db: DbOption = None) -> None:
    """Nothing wrong: close the case without strikes."""
    from pinocchio.cases import dismiss_case

    with _session(db) as session:
        dismiss_case(session, reviewer=reviewer, segment_id=segment, comment=comment)
    typer.echo(f"case {segment} dismissed")


@cases_app.command("escalate")
def cases_escalate(segment: Annotated[int, typer.Argument(help="The case's segment id.")], reviewer: AsOption,
                   comment: CommentOption = "", db: DbOption = None) -> None:
    """Hand the case to a senior reviewer."""
    from pinocchio.cases import escalate_case

    with _session(db) as session:
        escalate_case(session, reviewer=reviewer, segment_id=segment, comment=comment)
    typer.echo(f"case {segment} escalated")


@cases_app.command("comment")
def cases_comment(segment: Annotated[int, typer.Argument(help="The case's segment id.")],
                  text: Annotated[str, typer.Argument(help="The note.")], reviewer: AsOption, db: DbOption = None) -> None:
    """Add a note to a case."""
    from pinocchio.cases import comment_case

    with _session(db) as session:
        event = comment_case(session, reviewer=reviewer, segment_id=segment, text=text)
    typer.echo(f"comment {event.id} on case {segment}")


# ---------------------------------------------------------------- penalties

penalties_app = typer.Typer(help="Penalties the ladder gave for confirmed decisions.", no_args_is_help=True)


@penalties_app.command("list")
def penalties_list(db: DbOption = None,
                   streamer: Annotated[Optional[str], typer.Option("--streamer", help="Only this streamer.")] = None,
                   active: Annotated[bool, typer.Option("--active", help="Only bans in force now.")] = False,
                   format: FormatOption = Format.table) -> None:
    """Penalties, oldest first (reversed ones too, marked)."""
    from pinocchio.penalties import list_penalties

    with _session(db) as session:
        rows = list_penalties(session, streamer_id=streamer, active=active)
    _emit(rows, ["id", "streamer_id", "kind", "starts_at", "ends_at", "active", "points", "reversed_at", "appeal",
                 "segment_id"], format, f"{len(rows)} penalties")


@penalties_app.command("export")
def penalties_export(file: Annotated[Path, typer.Argument(help="CSV to write.")], db: DbOption = None,
                     streamer: Annotated[Optional[str], typer.Option("--streamer", help="Only this streamer.")] = None) -> None:
    """Write every penalty with its labels, articles, decider and stream, for compliance."""
    from pinocchio.penalties import export_penalties

    with _session(db) as session:
        count = export_penalties(session, file, streamer_id=streamer)
    typer.echo(f"{count} penalties written to {file}")


# ---------------------------------------------------------------- appeals

appeals_app = typer.Typer(help="Streamers' appeals against penalties.", no_args_is_help=True)


@appeals_app.command("file")
def appeals_file(penalty: Annotated[int, typer.Argument(help="The penalty id.")],
                 streamer: Annotated[str, typer.Option("--streamer", help="The streamer appealing (must be the penalised one).")],
                 reason: Annotated[str, typer.Option("--reason", help="Why the penalty is wrong.")],
                 db: DbOption = None) -> None:
    """File a streamer's appeal; it waits for a senior reviewer."""
    from pinocchio.appeals import file_appeal

    with _session(db) as session:
        appeal = file_appeal(session, penalty_id=penalty, streamer_id=streamer, reason=reason)
    typer.echo(f"appeal {appeal.id} filed against penalty {appeal.penalty_id}")


@appeals_app.command("resolve")
def appeals_resolve(appeal: Annotated[int, typer.Argument(help="The appeal id.")], reviewer: AsOption,
                    uphold: Annotated[bool, typer.Option("--uphold/--deny", help="Uphold (reverse the penalty) or deny.")],
                    comment: CommentOption = "", db: DbOption = None) -> None:
    """Resolve an appeal (seniors and admins); upholding reverses the penalty and its strikes."""
    from pinocchio.appeals import resolve_appeal

    with _session(db) as session:
        result = resolve_appeal(session, reviewer=reviewer, appeal_id=appeal, uphold=uphold, comment=comment)
    typer.echo(f"appeal {result.id} {result.status}" + (f": penalty {result.penalty_id} reversed" if uphold else ""))


@appeals_app.command("list")
def appeals_list(db: DbOption = None,
                 pending: Annotated[bool, typer.Option("--pending", help="Only those waiting for a senior.")] = False,
                 format: FormatOption = Format.table) -> None:
    """Appeals, oldest first."""
    from pinocchio.appeals import list_appeals

    with _session(db) as session:
        rows = list_appeals(session, status="pending" if pending else None)
    _emit(rows, ["id", "penalty_id", "streamer_id", "status", "filed_at", "resolved_by", "reason"], format,
          f"{len(rows)} appeals")


# ---------------------------------------------------------------- audit and db

audit_app = typer.Typer(help="Check the moderation log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the hash chain; name the first broken link and exit 1 if there is one."""
    from pinocchio.audit import verify_chain

    with _session(db) as session:
        report = verify_chain(session)
    if not report.ok:
        typer.echo(f"error: event {report.broken_id}: {report.reason}", err=True)
        typer.echo(f"{report.checked} events intact before it")
        raise typer.Exit(1)
    typer.echo(f"ok: {report.checked} events, chain intact")


db_app = typer.Typer(help="The moderation projections.", no_args_is_help=True)


@db_app.command("rebuild")
def db_rebuild(db: DbOption = None) -> None:
    """Recompute cases, reports, strikes, penalties and appeals by replaying the log."""
    from pinocchio.audit import rebuild_projections

    with _session(db) as session:
        report = rebuild_projections(session)
    typer.echo(f"replayed {report.events} events")
    if report.changed:
        typer.echo(f"warning: the replay differs from the stored state in: {', '.join(report.changed)}", err=True)


SUBCOMMANDS = (("reports", reports_app), ("reviewers", reviewers_app), ("cases", cases_app),
               ("penalties", penalties_app), ("appeals", appeals_app), ("audit", audit_app), ("db", db_app))
