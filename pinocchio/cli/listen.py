"""The listening commands: `scan` recordings, `check` lines of text, follow feeds `live`, and the
webhooks' dead letters. Each parses, builds the pipeline from the settings, calls it and prints."""

from __future__ import annotations

import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from pinocchio.cli.common import (
    ClassifierOption,
    ComputeTypeOption,
    DbOption,
    DeviceOption,
    EvidenceOption,
    FactsOption,
    FormatOption,
    LexiconsOption,
    ModelOption,
    OutputFormat,
    ProgressBar,
    clock,
    emit_json,
    err,
    fail,
    or_exit,
    out,
    settings,
    visible,
)
from pinocchio.cli.shops import import_facts_files
from pinocchio.core.errors import ConfigError, PinocchioError
from pinocchio.core.records import CheckOutcome, FindingSource, PromiseKind, Verdict, VerdictAction

webhooks_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
COLOURS = {VerdictAction.REVIEW: "bold red", VerdictAction.REMIND: "yellow", VerdictAction.PASS: "dim"}


class CommitPolicy(str, Enum):
    pause = "pause"
    agreement = "agreement"


OUTCOME_MARKS = {CheckOutcome.HONEST: "[green]✓[/]", CheckOutcome.CONTRADICTED: "[bold red]✗[/]",
                 CheckOutcome.UNCHECKED: "[dim]?[/]"}


def verdict_table(title: str, verdicts: list[Verdict], with_times: bool, show_all: bool) -> Table:
    """Flagged verdicts (all with `show_all`), and those whose promises the shop's facts checked,
    with a column of what each promise was held against."""
    table = Table(title=escape(title), title_justify="left", show_lines=False, expand=False)
    checked = any(c.promise.kind != PromiseKind.LINK for v in verdicts for c in v.checks)
    if with_times:
        table.add_column("time", no_wrap=True)
    for column in ("action", "labels", "found by", "articles", "text", *(["shop facts"] if checked else [])):
        table.add_column(column, no_wrap=column == "action")
    for v in verdicts:
        promises = [c for c in v.checks if c.promise.kind != PromiseKind.LINK]
        if not v.flagged and not show_all and not promises:
            continue
        row = [] if not with_times else [f"{clock(v.segment.start_s)}-{clock(v.segment.end_s)}"]
        found_by = dict.fromkeys(f.matched if f.source in (FindingSource.LEXICON, FindingSource.FACTS)
                                 else f"{f.source} {f.score:.2f}" for f in v.findings)
        row += [f"[{COLOURS[v.action]}]{v.action}[/]", "\n".join(v.labels), visible("\n".join(found_by)),
                visible("\n".join(dict.fromkeys(f.article for f in v.findings))), visible(v.segment.text)]
        if checked:
            row.append("\n".join(f"{OUTCOME_MARKS[c.outcome]} {visible(c.promise.said)}: {visible(c.fact)}" for c in promises))
        table.add_row(*row)
    return table


def _ledger():
    """The moderation ledger the listening side writes its events to (it never imports it itself)."""
    from pinocchio.listen.pipeline import PIPELINE_VERSION
    from pinocchio.moderation.ledger import ModerationLedger

    return ModerationLedger(PIPELINE_VERSION)


def recordings(paths: list[Path]) -> list[Path]:
    """The files named, and every file under a folder named (hidden ones left out), in order."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            found.append(path)
    return found


def scan(
    paths: Annotated[list[Path], typer.Argument(help="Recordings (anything ffmpeg reads: wav, mp3, m4a, mp4, flv...), or folders of them.")],
    db: DbOption = None,
    format: FormatOption = OutputFormat.table,
    model: ModelOption = None,
    device: DeviceOption = None,
    compute_type: ComputeTypeOption = None,
    classifier: ClassifierOption = None,
    lexicons: LexiconsOption = None,
    force: Annotated[bool, typer.Option("--force", help="Scan again even if this content was scanned before.")] = False,
    evidence: EvidenceOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Table: list compliant segments too.")] = False,
    asr_prompt: Annotated[Optional[bool], typer.Option("--asr-prompt/--no-asr-prompt", help="Give whisper the initial prompt in prompts/ [env PINOCCHIO_ASR_PROMPT; default off].")] = None,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Spread the files over this Ray cluster (host:port), one task each, into a shared --db (PostgreSQL); the paths must be readable on every node.")] = None,
    facts: FactsOption = None,
) -> None:
    """Transcribe recordings, find the claims that break advertising rules, store and print verdicts.
    A recording whose stream sells for a shop (`shops import`, or --facts) has its promises and
    prices checked against the shop's facts."""
    s = settings(db_url=db, model=model, device=device, compute_type=compute_type, classifier=classifier,
                 lexicon_dir=lexicons, asr_prompt=asr_prompt, evidence_dir=evidence)
    files = recordings(paths)
    failed = 0

    def show(outcome) -> None:
        nonlocal failed
        if outcome.status == "failed":
            failed += 1
            fail(outcome.error or f"{outcome.source}: failed")
            return
        flagged = sum(v.flagged for v in outcome.verdicts)
        note = " (already scanned; --force to scan again)" if outcome.status == "skipped" else ""
        if format is OutputFormat.table:
            out.print(verdict_table(f"{outcome.source}: {len(outcome.verdicts)} segments, {flagged} flagged{note}",
                                    list(outcome.verdicts), with_times=True, show_all=show_all))
        elif note:
            err.print(escape(f"{outcome.source}: already scanned, printed from the store"))

    if ray:
        _scan_on_ray(files, s, ray, force, format, show, facts or [])
    else:
        _scan_here(files, s, force, format, show, facts or [])
    raise typer.Exit(1 if failed else 0)


def _scan_here(files: list[Path], s, force: bool, format: OutputFormat, show, facts_files: list[Path]) -> None:
    from pinocchio.facts.catalog import recording_checker
    from pinocchio.listen.evidence import EvidenceStore
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.store import open_store

    with or_exit():
        pipeline = Pipeline(s)
        engine = open_store(s.db_url)
    import_facts_files(engine, facts_files)
    ledger, clips = _ledger(), EvidenceStore(s.evidence_path())
    for path in files:
        emit = (lambda v, p=str(path): emit_json(v.as_json(p))) if format is OutputFormat.jsonl else None
        progress = ProgressBar(str(path)) if err.is_terminal else None
        try:
            with or_exit():  # a model that cannot be loaded fails every file alike
                outcome = pipeline.scan_file(path, engine, ledger, force=force, evidence=clips, on_verdict=emit,
                                             on_progress=progress.update if progress else None,
                                             facts=lambda stream, started: recording_checker(engine, stream, started))
        finally:
            if progress:
                progress.stop()
        show(outcome)


def _scan_on_ray(files: list[Path], s, address: str, force: bool, format: OutputFormat, show,
                 facts_files: list[Path]) -> None:
    """One task per file on the cluster; one bar for them all; each file printed as it is done."""
    from pinocchio.fleet.batch import scan_on_ray
    from pinocchio.store import open_store

    with or_exit():
        engine = open_store(s.db_url)  # the schema made (or refused) once, here, not by every task
        import_facts_files(engine, facts_files)
        engine.dispose()
        progress = ProgressBar(f"{len(files)} file(s) on {address}") if err.is_terminal else None
        try:
            for done, outcome in enumerate(scan_on_ray([p.resolve() for p in files], s, address, force), 1):
                if format is OutputFormat.jsonl:
                    for verdict in outcome.verdicts:
                        emit_json(verdict.as_json(outcome.source))
                show(outcome)
                if progress:
                    progress.update(done, len(files))
        finally:
            if progress:
                progress.stop()


def live(
    urls: Annotated[Optional[list[str]], typer.Argument(help="Live feeds: rtmp://, http(s)://….flv, http(s)://….m3u8")] = None,
    streams: Annotated[Optional[Path], typer.Option("--streams", help="YAML file naming each feed with its streamer and room.")] = None,
    db: DbOption = None,
    format: FormatOption = OutputFormat.table,
    model: ModelOption = None,
    device: DeviceOption = None,
    compute_type: ComputeTypeOption = None,
    classifier: ClassifierOption = None,
    evidence: EvidenceOption = None,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Stop after this many seconds (default: run until stopped).")] = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST every reminder here as JSON signed with HMAC-SHA256.")] = None,
    webhook_secret: Annotated[Optional[str], typer.Option("--webhook-secret", help="The HMAC key [env PINOCCHIO_WEBHOOK_SECRET].")] = None,
    metrics_port: Annotated[Optional[int], typer.Option("--metrics-port", help="Serve Prometheus metrics on this port.")] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address for --metrics-port.")] = "127.0.0.1",
    pause: Annotated[Optional[float], typer.Option("--pause", min=0.1, help="A pause this long (seconds) ends an utterance; longer: fewer decodes, later flags [env PINOCCHIO_LIVE_PAUSE_S; default 0.3].")] = None,
    max_utterance: Annotated[Optional[float], typer.Option("--max-utterance", min=2.0, max=30.0, help="Talk without such a pause is committed at this length (seconds) [env PINOCCHIO_LIVE_MAX_UTTERANCE_S; default 6].")] = None,
    commit: Annotated[Optional[CommitPolicy], typer.Option("--commit", help="pause: decode each utterance once it ends; agreement: also commit what two decodes of the talk in progress agree on (about 3x the CPU, see README) [env PINOCCHIO_LIVE_COMMIT].")] = None,
    pack: Annotated[Optional[bool], typer.Option("--pack/--no-pack", help="Decode several feeds' utterances in one whisper call (default), or each on its own [env PINOCCHIO_LIVE_PACK].")] = None,
    batch: Annotated[Optional[bool], typer.Option("--batch/--no-batch", help="Decode the utterances taken together as a batch (default: holds the most feeds), or laid out in one 30 s pack (fewer feeds; heard the demo's hardest sentences more often) [env PINOCCHIO_LIVE_BATCH].")] = None,
    hear_again: Annotated[Optional[bool], typer.Option("--hear-again/--no-hear-again", help="Judge whisper's second hearing of each utterance's context (free: it is decoded anyway) for claims the first hearing missed (default) [env PINOCCHIO_LIVE_HEAR_AGAIN].")] = None,
    facts: FactsOption = None,
) -> None:
    """Follow live feeds, flag claims as they are said, store every committed segment.
    SIGTERM or Ctrl-C stops it cleanly: what was heard is committed and stored first."""
    from pinocchio.listen.detect import DetectOptions
    from pinocchio.listen.evidence import EvidenceStore
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.listen.streaming import StreamOptions
    from pinocchio.live.feeds import feeds_for
    from pinocchio.live.metrics import WorkerMetrics
    from pinocchio.live.webhooks import WebhookSender
    from pinocchio.live.worker import LiveWorker
    from pinocchio.store import open_store

    s = settings(db_url=db, model=model, device=device, compute_type=compute_type, classifier=classifier,
                 evidence_dir=evidence, webhook_secret=webhook_secret, live_pause_s=pause,
                 live_max_utterance_s=max_utterance, live_commit=commit.value if commit else None,
                 live_pack=pack, live_batch=batch, live_hear_again=hear_again)
    if webhook and not s.webhook_secret:
        fail("--webhook needs a secret: --webhook-secret or PINOCCHIO_WEBHOOK_SECRET")
        raise typer.Exit(2)
    with or_exit():
        stream_options = StreamOptions.from_settings(s)
        feeds = feeds_for(urls or [], streams)
        # Batches of one: a live segment is judged the moment it is committed.
        pipeline = Pipeline(s, detect_options=DetectOptions(batch_size=1))
        engine = open_store(s.db_url)
        pipeline.transcriber  # load the model before joining the feeds
    import_facts_files(engine, facts or [])
    metrics = WorkerMetrics()
    if metrics_port is not None:
        with or_exit():
            try:
                metrics.serve(metrics_port, metrics_host)
            except OSError as exc:
                raise ConfigError(f"--metrics-port {metrics_port}: {exc.strerror}") from None
    sender = WebhookSender(webhook, s.webhook_secret, engine) if webhook else None

    def report(feed, verdict: Verdict) -> None:
        if format is OutputFormat.jsonl:
            emit_json(verdict.as_json(feed.name))
        elif verdict.flagged:
            out.print(verdict_table(feed.name, [verdict], with_times=True, show_all=False))

    def remind(reminder) -> None:
        if sender:
            sender.send(reminder.as_json())
        if format is OutputFormat.jsonl:
            emit_json(reminder.as_json())
        else:
            typer.echo(f"reminder {reminder.stream} {clock(reminder.start_s)}: {reminder.message}", err=True)

    with or_exit():
        worker = LiveWorker(pipeline, engine, feeds, _ledger(), on_verdict=report, on_reminder=remind,
                            evidence=EvidenceStore(s.evidence_path()), metrics=metrics, stream_options=stream_options)
    # Stop on a signal by letting every feed flush, rather than dying mid-segment.
    previous = {sig: signal.signal(sig, lambda *_: worker.stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run(duration_s=duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sender:
        sender.close()
    for error in worker.errors.values():
        fail(error)
    raise typer.Exit(1 if worker.errors else 0)


def check(
    file: Annotated[str, typer.Argument(help="Text file, one claim a line; '-' for standard input.")] = "-",
    format: FormatOption = OutputFormat.table,
    classifier: ClassifierOption = None,
    lexicons: LexiconsOption = None,
) -> None:
    """Run detection on lines of text (no audio): one verdict per line."""
    from pinocchio.listen.pipeline import Pipeline

    s = settings(lexicon_dir=lexicons, classifier=classifier)
    try:
        pipeline = Pipeline(s)
        lines = sys.stdin.read().splitlines() if file == "-" else Path(file).read_text(encoding="utf-8").splitlines()
    except PinocchioError as exc:
        fail(str(exc))
        raise typer.Exit(2)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}")
        raise typer.Exit(2)
    verdicts = []
    with or_exit():
        for verdict in pipeline.check_lines(line for line in lines if line.strip()):
            if format is OutputFormat.jsonl:
                emit_json(verdict.as_json())
            verdicts.append(verdict)
    if format is OutputFormat.table:
        out.print(verdict_table(f"{len(verdicts)} lines, {sum(v.flagged for v in verdicts)} flagged",
                                verdicts, with_times=False, show_all=True))


@webhooks_app.command("failed")
def webhooks_failed(db: DbOption = None) -> None:
    """Reminders that could not be delivered after every retry (the dead-letter table)."""
    from pinocchio.live.webhooks import failed_deliveries
    from pinocchio.store import open_store

    with or_exit():
        failures = failed_deliveries(open_store(settings(db_url=db).db_url))
    for f in failures:
        typer.echo(f"{f.id}\t{f.created_at:%Y-%m-%d %H:%M:%S}\t{f.url}\t{f.attempts} attempts\t{f.last_error}\t{f.payload}")
    typer.echo(f"{len(failures)} failed deliveries", err=True)
