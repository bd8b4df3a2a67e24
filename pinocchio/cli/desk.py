"""`pinocchio stats`: what the trust-and-safety desk reports upward, in the terminal, as JSON lines
or CSV. The figures are `moderation.stats`; the console's dashboard draws the same ones."""

from __future__ import annotations

import csv
import sys
from datetime import date
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.table import Table

from pinocchio.cli.common import (
    AsOption,
    CommentOption,
    DbOption,
    emit_json,
    fail,
    out,
    reviewer_named,
    session,
    settings,
)
from pinocchio.core.records import MAX_ID


class StatsFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def stats(db: DbOption = None,
          since: Annotated[Optional[str], typer.Option("--since", help="From this day on (YYYY-MM-DD, UTC); default: everything.")] = None,
          format: Annotated[StatsFormat, typer.Option("--format", "-f", help="table for people, jsonl or csv for programs.")] = StatsFormat.table) -> None:
    """Streams and hours listened, segments, findings by label, reminders, viewers and reports,
    cases, time to decision, penalties and appeals: in total and per day."""
    from pinocchio.moderation.qa import qa_report
    from pinocchio.moderation.stats import desk_stats

    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since {since!r}: not a day (YYYY-MM-DD)")
        raise typer.Exit(2)
    with session(db) as s:
        figures = desk_stats(s, since=start)
        qa = qa_report(s)
    rows = [d.flat() for d in figures.days] + [figures.total.flat()]
    times = figures.decision_times
    if format is StatsFormat.jsonl:
        for row in rows:
            emit_json(row)
        emit_json({"day": "total", "decided": times.decided, "decision_median_minutes": times.median_minutes,
                   "decision_p90_minutes": times.p90_minutes})
        for a in [qa.decision, *qa.labels]:
            emit_json({"qa": a.name, "cases": a.n, "agreed": a.agreed, "kappa": a.kappa})
        for a in qa.reviewers:
            emit_json({"qa_reviewer": a.name, "cases": a.n, "agreed": a.agreed, "kappa": a.kappa})
        return
    if format is StatsFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return
    summary = Table(title=f"the desk {'since ' + since if since else 'since the start'}", title_justify="left")
    for column in ("streams", "hours", "segments", "findings", "reminders (viewers)", "reporters", "reports",
                   "cases opened / decided / overturned", "decision median / p90", "penalties", "appeals"):
        summary.add_column(column)
    t = figures.total
    minutes = f"{times.median_minutes:g} / {times.p90_minutes:g} min" if times.decided else "—"
    summary.add_row(str(t.streams), f"{t.hours:.1f}", str(t.segments), str(sum(t.findings.values())),
                    f"{t.reminders} ({t.viewer_reminders})", str(t.reporters), str(t.reports),
                    f"{t.cases_opened} / {t.cases_decided} / {t.cases_overturned}", minutes,
                    _counts(t.penalties), _counts(t.appeals))
    out.print(summary)
    daily = Table(title="per day (UTC)", title_justify="left")
    for column in ("day", "streams", "hours", "segments", "findings", "reminders", "reports", "cases", "penalties"):
        daily.add_column(column)
    for d in figures.days:
        daily.add_row(d.day, str(d.streams), f"{d.hours:.1f}", str(d.segments), _counts(d.findings),
                      f"{d.reminders} + {d.viewer_reminders}", f"{d.reports} from {d.reporters}",
                      f"{d.cases_opened} / {d.cases_decided} / {d.cases_overturned}", _counts(d.penalties))
    out.print(daily)
    print_agreement(qa)


def _counts(counter) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "—"


def print_agreement(report) -> None:
    """The QA figures: agreement on the decision, per label and per reviewer, with Cohen's kappa."""
    def k(value) -> str:
        return "—" if value is None else f"{value:.2f}"

    table = Table(title=f"second reviews: {report.reviews}, disagreements open {report.open_disagreements}, "
                        f"resolved {report.resolved}", title_justify="left")
    for column in ("agreement on", "cases", "agreed", "Cohen's kappa", "found right by a senior"):
        table.add_column(column)
    rows = [report.decision, *report.labels]
    for a in rows:
        table.add_row(a.name, str(a.n), k(a.agreed), k(a.kappa), "")
    for a in report.reviewers:
        right = report.upheld.get(a.name)
        table.add_row(f"reviewer {a.name}", str(a.n), k(a.agreed), k(a.kappa), f"{right[0]} of {right[1]}" if right else "")
    out.print(table)


qa_app = typer.Typer(help="Second reviews of decided cases, blind, and what they agree on.", no_args_is_help=True)


@qa_app.command("queue")
def qa_queue_command(reviewer: AsOption = None, db: DbOption = None) -> None:
    """The decided cases sampled for a second review that you may do (not your own decisions)."""
    from pinocchio.moderation.qa import qa_queue

    share = settings().qa_share
    with session(db) as s:
        ids = qa_queue(s, reviewer=reviewer_named(reviewer), share=share)
    for segment_id in ids:
        typer.echo(str(segment_id))
    typer.echo(f"{len(ids)} case(s) to review again (share {share:g})", err=True)


@qa_app.command("review")
def qa_review_command(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)],
                      confirm: Annotated[bool, typer.Option("--confirm/--dismiss", help="Your decision, made without seeing the first.")],
                      label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="A label it breaks (with --confirm).")] = None,
                      reviewer: AsOption = None, comment: CommentOption = "", db: DbOption = None) -> None:
    """Decide a sampled case again, blind; says whether you agree with the first decision."""
    from pinocchio.moderation.qa import review_again

    with session(db) as s:
        row = review_again(s, reviewer=reviewer_named(reviewer), segment_id=segment, confirm=confirm,
                           labels=label or [], comment=comment, share=settings().qa_share)
        agreed, first = row.agreed, row.first_reviewer
    typer.echo(f"case {segment}: " + ("you agree with the first review" if agreed else
                                     f"you disagree with {first}: a senior will resolve it"))


@qa_app.command("resolve")
def qa_resolve_command(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)],
                       side: Annotated[str, typer.Option("--side", help="first (the decision stands) or second.")],
                       reviewer: AsOption = None, comment: CommentOption = "", db: DbOption = None) -> None:
    """Seniors: say which of two disagreeing reviews was right."""
    from pinocchio.moderation.qa import resolve_disagreement

    with session(db) as s:
        resolve_disagreement(s, reviewer=reviewer_named(reviewer), segment_id=segment, side=side, comment=comment)
    typer.echo(f"case {segment}: the {side} review was right")


@qa_app.command("agreement")
def qa_agreement_command(db: DbOption = None) -> None:
    """Agreement between first and second reviews per label and per reviewer, with Cohen's kappa."""
    from pinocchio.moderation.qa import qa_report

    with session(db) as s:
        report = qa_report(s)
    print_agreement(report)
