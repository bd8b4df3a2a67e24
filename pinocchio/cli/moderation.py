"""The moderation commands (`reports`, `reviewers`, `cases`, `penalties`, `appeals`, `audit`,
`db`): parse, call the moderation library, print. `cli/__init__.py` registers `GROUPS`."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pinocchio.cli.common import (
    AsOption,
    CommentOption,
    DbOption,
    FormatOption,
    OutputFormat,
    ProgressBar,
    cell,
    emit_rows,
    err,
    fail,
    reviewer_named,
    session,
    settings,
    visible,
)
from pinocchio.cli.data import db_app  # `db rebuild` joins the schema commands
from pinocchio.core.records import MAX_ID

# ---------------------------------------------------------------- reports

reports_app = typer.Typer(help="Viewers' reports: import them, see where they point.", no_args_is_help=True)


@reports_app.command("import")
def reports_import(file: Annotated[Path, typer.Argument(help="CSV with a header (stream, reporter, at, label, comment) or .jsonl.")],
                   db: DbOption = None) -> None:
    """Take reports from a file, one per line: good rows are kept (committed every 1,000), bad ones
    listed as FILE:LINE: reason (exit 1). Running a file again stores none of its rows twice."""
    from pinocchio.moderation.report_files import import_reports

    progress = ProgressBar(str(file)) if err.is_terminal else None
    try:
        with session(db) as s:
            result = import_reports(s, file, progress=progress.update if progress else None)
    finally:
        if progress:
            progress.stop()
    for message in result.rejected:
        err.print(f"error: {visible(message)}", soft_wrap=True, highlight=False)
    stored = f", {result.stored} stored by an earlier run" if result.stored else ""
    typer.echo(f"{result.accepted} accepted, {result.folded} folded into earlier reports{stored}, "
               f"{len(result.rejected)} rejected")
    raise typer.Exit(1 if result.rejected else 0)


@reports_app.command("list")
def reports_list(db: DbOption = None, stream: Annotated[Optional[int], typer.Option("--stream", help="Only this stream id.", min=1, max=MAX_ID)] = None,
                 reporter: Annotated[Optional[str], typer.Option("--reporter", help="Only this reporter.")] = None,
                 waiting: Annotated[bool, typer.Option("--waiting", help="Only reports not attached to any segment yet.")] = False,
                 format: FormatOption = OutputFormat.table) -> None:
    """Reports, newest first, with the segments they were attached to."""
    from pinocchio.moderation.reports import list_reports

    with session(db) as s:
        rows = list_reports(s, stream_id=stream, reporter_id=reporter, waiting=waiting)
    emit_rows(rows, ["id", "stream_id", "reporter_id", "at_s", "label", "credibility", "duplicates", "outcome",
                 "segment_ids", "comment"], format, f"{len(rows)} reports")


@reports_app.command("attach")
def reports_attach(db: DbOption = None) -> None:
    """Attach reports to the segments a scan stored after they came in."""
    from pinocchio.moderation.reports import attach_all_waiting

    with session(db) as s:
        made = attach_all_waiting(s)
    typer.echo(f"{made} attachments")


# ---------------------------------------------------------------- reviewers

reviewers_app = typer.Typer(help="Reviewer accounts.", no_args_is_help=True)


@reviewers_app.command("add")
def reviewers_add(name: Annotated[str, typer.Argument(help="Login name.")],
                  role: Annotated[str, typer.Option("--role", help="reviewer, senior or admin.")] = "reviewer",
                  password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
                  db: DbOption = None) -> None:
    """Add a reviewer; the password is asked for (or read from stdin) and stored scrypt-hashed."""
    from pinocchio.moderation.reviewers import add_reviewer

    password = _password(password_stdin)
    with session(db) as s:
        info = add_reviewer(s, name=name, role=role, password=password)
    typer.echo(f"added {info.name} ({info.role})")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@reviewers_app.command("passwd")
def reviewers_passwd(name: Annotated[str, typer.Argument(help="Login name.")],
                     password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the new password from standard input.")] = False,
                     db: DbOption = None) -> None:
    """Set a reviewer's password; every console session of theirs ends."""
    from pinocchio.moderation.reviewers import change_password

    password = _password(password_stdin)
    with session(db) as s:
        change_password(s, name=name, password=password)
    typer.echo(f"password of {name} changed; their sessions ended")


@reviewers_app.command("deactivate")
def reviewers_deactivate(name: Annotated[str, typer.Argument(help="Login name.")], db: DbOption = None) -> None:
    """Lock an account: no login, and every console session of theirs ends."""
    from pinocchio.moderation.reviewers import set_active

    with session(db) as s:
        set_active(s, name=name, active=False)
    typer.echo(f"{name} deactivated; their sessions ended")


@reviewers_app.command("activate")
def reviewers_activate(name: Annotated[str, typer.Argument(help="Login name.")], db: DbOption = None) -> None:
    """Let a deactivated reviewer log in again."""
    from pinocchio.moderation.reviewers import set_active

    with session(db) as s:
        set_active(s, name=name, active=True)
    typer.echo(f"{name} activated")


@reviewers_app.command("list")
def reviewers_list(db: DbOption = None) -> None:
    """Reviewers and their roles."""
    from pinocchio.moderation.reviewers import list_reviewers

    with session(db) as s:
        for r in list_reviewers(s):
            typer.echo(f"{r.name}\t{r.role}\t{'active' if r.active else 'inactive'}")


# ---------------------------------------------------------------- cases

cases_app = typer.Typer(help="The review queue: claim a case, then confirm, dismiss or escalate it.", no_args_is_help=True)
CASE_COLUMNS = ["segment_id", "priority", "status", "due_at", "live", "found_labels", "severity", "score",
                "report_count", "strike_points", "streamer_id", "claimed_by", "start_s", "text"]


@cases_app.command("queue")
def cases_queue(db: DbOption = None,
                reviewer: Annotated[Optional[str], typer.Option("--as", help="Only what this reviewer may claim now [env PINOCCHIO_REVIEWER].")] = None,
                limit: Annotated[int, typer.Option("--limit", help="At most this many cases.")] = 50,
                format: FormatOption = OutputFormat.table) -> None:
    """Open and escalated cases: overdue ones first (the most overdue first), then by priority."""
    from pinocchio.moderation.cases import review_queue

    with session(db) as s:
        rows = review_queue(s, reviewer=settings(reviewer=reviewer).reviewer, limit=limit)
    emit_rows(rows, CASE_COLUMNS, format, f"{len(rows)} cases")


@cases_app.command("sweep")
def cases_sweep(db: DbOption = None) -> None:
    """Escalate to the seniors every open serious case past its deadline (the console's server does
    this each minute; run it from cron where no server runs)."""
    from pinocchio.moderation.deadlines import sweep

    with session(db) as s:
        escalated = sweep(s)
    for case in escalated:
        typer.echo(f"case {case.segment_id} escalated: overdue by {case.overdue_minutes:g} min")
    typer.echo(f"{len(escalated)} overdue case(s) escalated", err=True)


@cases_app.command("show")
def cases_show(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)], db: DbOption = None) -> None:
    """One case and its history from the event log."""
    from pinocchio.moderation.cases import case_history, get_case

    with session(db) as s:
        case = get_case(s, segment)
        history = case_history(s, segment)
    for field in dataclasses.fields(case):
        typer.echo(f"{field.name}: {cell(getattr(case, field.name))}")
    for e in history:
        typer.echo(f"{e.id}\t{e.created_at:%Y-%m-%d %H:%M:%S}\t{e.action}\t{e.actor}\t{json.dumps(e.values, ensure_ascii=False)}")


@cases_app.command("claim")
def cases_claim(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)], reviewer: AsOption = None,
                db: DbOption = None) -> None:
    """Take a case (for 30 minutes); fails if another reviewer holds it."""
    from pinocchio.moderation.cases import claim_case

    with session(db) as s:
        case = claim_case(s, reviewer=reviewer_named(reviewer), segment_id=segment)
    typer.echo(f"case {case.segment_id} claimed by {case.claimed_by} until {case.claim_expires_at:%H:%M:%S} UTC")


@cases_app.command("confirm")
def cases_confirm(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)],
                  label: Annotated[list[str], typer.Option("--label", "-l", help="A label it breaks (repeat for more).")],
                  reviewer: AsOption = None, comment: CommentOption = "", db: DbOption = None) -> None:
    """It breaks the rules: strikes for the streamer, and the ladder's penalty."""
    from pinocchio.moderation.cases import confirm_case

    with session(db) as s:
        decision = confirm_case(s, reviewer=reviewer_named(reviewer), segment_id=segment, labels=label, comment=comment)
    points = sum(strike.points for strike in decision.strikes)
    typer.echo(f"case {segment} confirmed: {', '.join(decision.labels)}")
    if decision.streamer_id is None:
        typer.echo("the stream names no streamer: no strikes, no penalty")
    else:
        typer.echo(f"{decision.streamer_id}: +{points} strike points")
    if decision.penalty:
        end = f"until {decision.penalty.ends_at:%Y-%m-%d %H:%M} UTC" if decision.penalty.ends_at else "permanently"
        typer.echo(f"penalty {decision.penalty_id}: {decision.penalty.kind} {end} ({decision.penalty.points} points)")


@cases_app.command("dismiss")
def cases_dismiss(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)], reviewer: AsOption = None,
                  comment: CommentOption = "", db: DbOption = None) -> None:
    """Nothing wrong: close the case without strikes."""
    from pinocchio.moderation.cases import dismiss_case

    with session(db) as s:
        dismiss_case(s, reviewer=reviewer_named(reviewer), segment_id=segment, comment=comment)
    typer.echo(f"case {segment} dismissed")


@cases_app.command("escalate")
def cases_escalate(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)], reviewer: AsOption = None,
                   comment: CommentOption = "", db: DbOption = None) -> None:
    """Hand the case to a senior reviewer."""
    from pinocchio.moderation.cases import escalate_case

    with session(db) as s:
        escalate_case(s, reviewer=reviewer_named(reviewer), segment_id=segment, comment=comment)
    typer.echo(f"case {segment} escalated")


@cases_app.command("comment")
def cases_comment(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)],
                  text: Annotated[str, typer.Argument(help="The note.")], reviewer: AsOption = None, db: DbOption = None) -> None:
    """Add a note to a case."""
    from pinocchio.moderation.cases import comment_case

    with session(db) as s:
        event = comment_case(s, reviewer=reviewer_named(reviewer), segment_id=segment, text=text)
    typer.echo(f"comment {event.id} on case {segment}")


# ---------------------------------------------------------------- penalties

penalties_app = typer.Typer(help="Penalties the ladder gave for confirmed decisions.", no_args_is_help=True)


@penalties_app.command("list")
def penalties_list(db: DbOption = None,
                   streamer: Annotated[Optional[str], typer.Option("--streamer", help="Only this streamer.")] = None,
                   active: Annotated[bool, typer.Option("--active", help="Only bans in force now.")] = False,
                   format: FormatOption = OutputFormat.table) -> None:
    """Penalties, oldest first (reversed ones too, marked)."""
    from pinocchio.moderation.penalties import list_penalties

    with session(db) as s:
        rows = list_penalties(s, streamer_id=streamer, active=active)
    emit_rows(rows, ["id", "streamer_id", "kind", "starts_at", "ends_at", "active", "points", "reversed_at", "appeal",
                 "segment_id"], format, f"{len(rows)} penalties")


@penalties_app.command("export")
def penalties_export(file: Annotated[Path, typer.Argument(help="CSV to write.")], db: DbOption = None,
                     streamer: Annotated[Optional[str], typer.Option("--streamer", help="Only this streamer.")] = None) -> None:
    """Write every penalty with its labels, articles, decider and stream, for compliance."""
    from pinocchio.moderation.penalties import export_penalties

    with session(db) as s:
        count = export_penalties(s, file, streamer_id=streamer)
    typer.echo(f"{count} penalties written to {file}")


# ---------------------------------------------------------------- appeals

appeals_app = typer.Typer(help="Streamers' appeals against penalties.", no_args_is_help=True)


@appeals_app.command("file")
def appeals_file(penalty: Annotated[int, typer.Argument(help="The penalty id.", min=1, max=MAX_ID)],
                 streamer: Annotated[str, typer.Option("--streamer", help="The streamer appealing (must be the penalised one).")],
                 reason: Annotated[str, typer.Option("--reason", help="Why the penalty is wrong.")],
                 db: DbOption = None) -> None:
    """File a streamer's appeal; it waits for a senior reviewer."""
    from pinocchio.moderation.appeals import file_appeal

    with session(db) as s:
        appeal = file_appeal(s, penalty_id=penalty, streamer_id=streamer, reason=reason)
    typer.echo(f"appeal {appeal.id} filed against penalty {appeal.penalty_id}")


@appeals_app.command("resolve")
def appeals_resolve(appeal: Annotated[int, typer.Argument(help="The appeal id.", min=1, max=MAX_ID)],
                    uphold: Annotated[bool, typer.Option("--uphold/--deny", help="Uphold (reverse the penalty) or deny.")],
                    reviewer: AsOption = None, comment: CommentOption = "", db: DbOption = None) -> None:
    """Resolve an appeal (seniors and admins); upholding reverses the penalty and its strikes."""
    from pinocchio.moderation.appeals import resolve_appeal

    with session(db) as s:
        result = resolve_appeal(s, reviewer=reviewer_named(reviewer), appeal_id=appeal, uphold=uphold, comment=comment)
    typer.echo(f"appeal {result.id} {result.status}" + (f": penalty {result.penalty_id} reversed" if uphold else ""))


@appeals_app.command("list")
def appeals_list(db: DbOption = None,
                 pending: Annotated[bool, typer.Option("--pending", help="Only those waiting for a senior.")] = False,
                 format: FormatOption = OutputFormat.table) -> None:
    """Appeals, oldest first."""
    from pinocchio.moderation.appeals import list_appeals

    with session(db) as s:
        rows = list_appeals(s, status="pending" if pending else None)
    emit_rows(rows, ["id", "penalty_id", "streamer_id", "status", "filed_at", "resolved_by", "reason"], format,
          f"{len(rows)} appeals")


# ---------------------------------------------------------------- audit and db

audit_app = typer.Typer(help="Check the moderation log.", no_args_is_help=True)


KeyFileOption = Annotated[Optional[Path], typer.Option(
    "--key-file", help="File holding the anchor key [default: env PINOCCHIO_ANCHOR_KEY]; keep it away from the database.")]


def _anchor_key(key_file: Path | None) -> str:
    if key_file is None:
        key = settings().anchor_key or ""
    else:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{key_file}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}")
            raise typer.Exit(2)
    if not key:
        fail("no anchor key: set PINOCCHIO_ANCHOR_KEY or give --key-file (keep it outside the database)")
        raise typer.Exit(2)
    return key


@audit_app.command("verify")
def audit_verify(db: DbOption = None,
                 anchor: Annotated[Optional[Path], typer.Option("--anchor", help="Also hold the log to the anchors in this file (from `audit anchor --out`).")] = None,
                 key_file: KeyFileOption = None) -> None:
    """Walk the hash chain; name the first broken link and exit 1 if there is one. With --anchor,
    also find a cut-off tail, a re-hashed chain and events added behind an anchor."""
    from pinocchio.moderation.audit import check_anchors, read_anchors, verify_chain

    key = _anchor_key(key_file) if anchor is not None else ""
    with session(db) as s:
        report = verify_chain(s)
        anchored = check_anchors(s, read_anchors(anchor), key) if anchor is not None else None
    broken = not report.ok or (anchored is not None and not anchored.ok)
    if not report.ok:
        fail(f"event {report.broken_id}: {report.reason}")
    for problem in anchored.problems if anchored else ():
        fail(problem)
    if broken:
        typer.echo(f"{report.checked} events intact before the first broken link" if not report.ok else
                   f"{report.checked} events, chain intact, but it is not the log that was anchored")
        raise typer.Exit(1)
    typer.echo(f"ok: {report.checked} events, chain intact")
    if anchored is not None:
        typer.echo(f"ok: {anchored.anchors} anchors hold; the latest vouches for events up to {anchored.covered_id}"
                   f" ({anchored.after} since, not yet anchored)")


@audit_app.command("anchor")
def audit_anchor(db: DbOption = None,
                 out: Annotated[Optional[Path], typer.Option("--out", help="Append the signed head to this file (a line of JSON).")] = None,
                 webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST the signed head here as JSON (signed header too).")] = None,
                 key_file: KeyFileOption = None) -> None:
    """Sign the log's head (last id, hash, count, time) with a key kept outside the database, and
    keep it elsewhere: a file, a webhook, or standard output. Run it on a schedule; `audit verify
    --anchor FILE` then holds the log to every anchor."""
    from pinocchio.core.signed_post import post_signed
    from pinocchio.moderation.audit import anchor_head

    key = _anchor_key(key_file)
    with session(db) as s:
        anchor = anchor_head(s, key)
    line = anchor.line()
    if out is not None:
        try:
            with out.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
        except OSError as exc:
            fail(f"{out}: {exc.strerror}")
            raise typer.Exit(2)
    if webhook is not None:
        try:
            post_signed(webhook, key, line.encode("utf-8"), timeout_s=10)
        except OSError as exc:  # URLError and HTTPError are OSErrors
            fail(f"{webhook}: the anchor was not delivered ({getattr(exc, 'reason', exc)})")
            raise typer.Exit(1)
    if out is None and webhook is None:
        typer.echo(line)
    else:
        typer.echo(f"anchored event {anchor.last_id} ({anchor.count} events) at {anchor.anchored_at}")


@db_app.command("rebuild")
def db_rebuild(db: DbOption = None) -> None:
    """Recompute cases, reports, strikes, penalties and appeals by replaying the log."""
    from pinocchio.moderation.audit import rebuild_projections

    with session(db) as s:
        report = rebuild_projections(s)
    typer.echo(f"replayed {report.events} events")
    if report.changed:
        typer.echo(f"warning: the replay differs from the stored state in: {', '.join(report.changed)}", err=True)


GROUPS = (("reports", reports_app), ("reviewers", reviewers_app), ("cases", cases_app),
          ("penalties", penalties_app), ("appeals", appeals_app), ("audit", audit_app))
