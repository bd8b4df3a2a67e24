"""The records a trust-and-safety desk hands on: penalty notices to streamers (`penalties notify`),
a case's bundle for a regulator or a court (`cases export`, `cases verify-bundle`), and the
evidence clips past their retention (`evidence purge`). The work is `moderation.notices`,
`moderation.bundle` and `moderation.retention`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinocchio.cli.common import DbOption, EvidenceOption, fail, or_exit, session, settings
from pinocchio.cli.moderation import cases_app, penalties_app
from pinocchio.core.records import MAX_ID

evidence_app = typer.Typer(help="Evidence clips: delete those kept past their retention.", no_args_is_help=True)


@penalties_app.command("notify")
def penalties_notify(db: DbOption = None) -> None:
    """Send the notices of new and reversed penalties not yet delivered to PINOCCHIO_NOTICE_WEBHOOK,
    signed (the console's server does this every few seconds); exit 1 if one failed."""
    from pinocchio.moderation.notices import NoticeOptions, deliver_notices

    s = settings(db_url=db)
    if not (s.notice_webhook and s.webhook_secret):
        fail("set PINOCCHIO_NOTICE_WEBHOOK and PINOCCHIO_WEBHOOK_SECRET: where notices go, and the key that signs them")
        raise typer.Exit(2)
    with session(db) as store:
        done = deliver_notices(store, NoticeOptions(s.notice_webhook, s.webhook_secret, s.console_url))
    for d in done:
        typer.echo(f"penalty {d.penalty_id} {d.kind} notice: " + ("delivered" if d.delivered else f"not delivered ({d.error})"))
    typer.echo(f"{sum(d.delivered for d in done)} of {len(done)} notice(s) delivered", err=True)
    raise typer.Exit(0 if all(d.delivered for d in done) else 1)


@cases_app.command("export")
def cases_export(segment: Annotated[int, typer.Argument(help="The case's segment id.", min=1, max=MAX_ID)],
                 out: Annotated[Path, typer.Option("--out", "-o", help="The bundle to write (.zip).")],
                 db: DbOption = None, evidence: EvidenceOption = None) -> None:
    """One file for a regulator or a court: transcript, clip, findings, facts checked, decision,
    articles, reports, penalties, the case's events and the hash-chain proof that they are the log's."""
    from pinocchio.moderation.bundle import write_bundle

    s = settings(db_url=db, evidence_dir=evidence)
    with session(db) as store:
        manifest = write_bundle(store, segment, out, s.evidence_path())
    typer.echo(f"{out}: case {segment}, {len(manifest['files'])} files, {manifest['events']} events, "
               f"chain proof of {manifest['chain_events']} events")


@cases_app.command("verify-bundle")
def cases_verify_bundle(bundle: Annotated[Path, typer.Argument(help="A bundle written by `cases export`.")]) -> None:
    """Check a bundle on its own (no database): every file against the manifest, every event's hash,
    and the chain from the case's first event to the head it names."""
    from pinocchio.moderation.bundle import verify_bundle

    with or_exit(1):
        report = verify_bundle(bundle)
    typer.echo(f"{bundle}: intact: {report}")


@evidence_app.command("purge")
def evidence_purge(db: DbOption = None, evidence: EvidenceOption = None,
                   dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False) -> None:
    """Delete the clips older than PINOCCHIO_CLIP_RETENTION_DAYS (at least three years), each with a
    purge_evidence event; clips of undecided cases or of appealed penalties are kept."""
    from pinocchio.moderation.retention import purge_clips, remove_files

    s = settings(db_url=db, evidence_dir=evidence)
    with session(db) as store:
        purged = purge_clips(store, retention_days=s.clip_retention_days, dry_run=dry_run)
    for p in purged:
        typer.echo(f"segment {p.segment_id}: {p.clip} cut {p.cut_at:%Y-%m-%d}" + (" (would be deleted)" if dry_run else ""))
    if not dry_run:
        with session(db) as store:
            removed = remove_files(store, s.evidence_path())
        typer.echo(f"{len(purged)} clip(s) past {s.clip_retention_days} days purged, {removed} file(s) deleted", err=True)
