"""The training commands: check the corpus, train the claim classifier, evaluate detection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from pinocchio.cli.common import (
    ClassifierOption,
    LexiconsOption,
    err,
    fail,
    or_exit,
    settings,
)

seeds_app = typer.Typer(help="The labelled corpus the classifier learns from.", no_args_is_help=True)
CorpusOption = Annotated[Optional[Path], typer.Option("--corpus", help="Corpus JSONL [default: seeds/corpus.jsonl].")]


@seeds_app.command("check")
def seeds_check(path: Annotated[Optional[Path], typer.Argument(help="Corpus JSONL [default: seeds/corpus.jsonl].")] = None) -> None:
    """Validate the corpus (schema, labels, splits, duplicates); name file:line for every error."""
    from pinocchio.training.corpus import DEFAULT_CORPUS, check_corpus, corpus_stats

    rows, errors = check_corpus(path or DEFAULT_CORPUS)
    for message in errors:
        fail(message)
    for line in corpus_stats(rows).lines():
        typer.echo(line)
    if errors:
        typer.echo(f"{len(errors)} errors", err=True)
        raise typer.Exit(1)


def train(
    corpus: CorpusOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model directory to write [default: the shipped model's].")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Training epochs.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (fixed by default, so runs repeat).")] = None,
) -> None:
    """Train the claim classifier from the corpus and choose its thresholds on the dev split."""
    from pinocchio.training.train import TrainOptions
    from pinocchio.training.train import train as run_training

    defaults = TrainOptions()
    options = TrainOptions(corpus=corpus or defaults.corpus, out=out or defaults.out, epochs=epochs or defaults.epochs,
                           seed=defaults.seed if seed is None else seed, threads=settings().cpu_threads)
    with Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(), console=err,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("train", total=None, epoch=0, loss=0.0)

        def on_step(epoch: int, step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, epoch=epoch, loss=loss)

        with or_exit():
            result = run_training(options, on_step=on_step)
    typer.echo(f"saved {result.out} (weights: {result.weights_from})")
    _print_report("dev", result.dev)
    _print_report("test", result.test)


def evaluate(
    split: Annotated[Optional[str], typer.Option("--split", help="Corpus: train, dev or test [default test]. With --set: only this split of the set.")] = None,
    labelled: Annotated[Optional[Path], typer.Option("--set", help="A labelled JSONL set of real sentences (text, labels, optional unsure and split) instead of the corpus.")] = None,
    errors: Annotated[int, typer.Option("--errors", help="With --set: list this many of the sure items detection got wrong.")] = 0,
    classifier: ClassifierOption = None,
    corpus: CorpusOption = None,
    lexicons: LexiconsOption = None,
) -> None:
    """Per-label precision, recall and F1 (with counts), micro- and macro-F1 and the compliant
    false-flag rate of `check`: on a corpus split, or on a labelled set of real sentences (sure
    items and all, per split, with a confusion table)."""
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.training import evaluate as ev
    from pinocchio.training.corpus import DEFAULT_CORPUS, load_corpus

    s = settings(lexicon_dir=lexicons, classifier=classifier)
    with or_exit():
        pipeline = Pipeline(s)
        scorer = pipeline.classifier.name if pipeline.classifier else "lexicon only"
        if labelled is None:
            rows = load_corpus(corpus or DEFAULT_CORPUS, split=split or "test")
            _print_report(f"{split or 'test'} ({scorer})", ev.corpus_report(pipeline, rows))
            return
        items = [i for i in ev.read_labelled_set(labelled) if split is None or i.split == split]
        judged = ev.judge_set(pipeline, items)
    for part in ev.set_slices(judged):
        _print_report(f"{labelled.name}, {part.name} ({scorer})", part.report)
        _print_confusion(part.confusion)
        typer.echo("")
    for j in ev.errors(judged)[:errors]:
        gold = ", ".join(sorted(j.item.labels)) or "compliant"
        typer.echo(f"{labelled}:{j.item.line}\t{j.item.split}\tgold {gold}\tgot {', '.join(sorted(j.predicted)) or 'nothing'}"
                   f"\t{j.item.text}")


def _print_report(title: str, report) -> None:
    typer.echo(f"{title}: {report.total} lines, {report.compliant} compliant")
    typer.echo(f"{'label':<20}{'precision':>10}{'recall':>8}{'F1':>8}{'TP':>6}{'flagged':>9}{'gold':>6}")
    for label in report.f1:
        typer.echo(f"{label:<20}{report.precision[label]:>10.3f}{report.recall[label]:>8.3f}{report.f1[label]:>8.3f}"
                   f"{report.true_positives.get(label, 0):>6}{report.predicted.get(label, 0):>9}{report.support[label]:>6}")
    typer.echo(f"{'micro-F1':<20}{report.micro_f1:>26.3f}   over {sum(report.support.values())} gold labels")
    present = sum(1 for label in report.f1 if report.support[label])
    typer.echo(f"{'macro-F1':<20}{report.macro_f1:>26.3f}   over the {present} labels present")
    typer.echo(f"compliant lines falsely flagged: {report.false_flags}/{report.compliant} ({report.false_flag_rate:.1%})")


def _print_confusion(table) -> None:
    """Each gold label (or compliant) and what detection gave the lines that carry it."""
    typer.echo("confusion (gold: what was flagged, lines):")
    for gold, counts in sorted(table.items()):
        typer.echo(f"  {gold:<20}" + ", ".join(f"{label} {n}" for label, n in counts.most_common()))
