"""The training commands: check the corpus, train the claim classifier, evaluate detection."""

from __future__ import annotations

import dataclasses
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
from pinocchio.core.errors import ConfigError

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
    decisions: Annotated[Optional[str], typer.Option("--decisions", help="A database (URL or SQLite path) whose decided cases join the training lines: confirmed with their labels, dismissed as compliant.")] = None,
) -> None:
    """Train the claim classifier from the corpus (and reviewers' decisions) and choose its
    thresholds on the dev split."""
    from pinocchio.training.train import TrainOptions
    from pinocchio.training.train import train as run_training

    defaults = TrainOptions()
    options = TrainOptions(corpus=corpus or defaults.corpus, out=out or defaults.out, epochs=epochs or defaults.epochs,
                           seed=defaults.seed if seed is None else seed, threads=settings().cpu_threads,
                           decisions=settings(db_url=decisions).db_url if decisions else None)
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
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="Said<TAB>original pairs: how many claims flagged in the original keep their labels when disguised.")] = None,
    errors: Annotated[int, typer.Option("--errors", help="With --set: list this many of the sure items detection got wrong (with --pairs: the pairs that lost labels).")] = 0,
    classifier: ClassifierOption = None,
    corpus: CorpusOption = None,
    lexicons: LexiconsOption = None,
    facts: Annotated[Optional[Path], typer.Option("--facts", help="With --set: also check each line's promises against this facts file's stream (its first, or --stream), and say what the facts changed.")] = None,
    stream: Annotated[Optional[str], typer.Option("--stream", help="With --facts: the stream of the file to read the lines in.")] = None,
) -> None:
    """Per-label precision, recall and F1 (with counts), micro- and macro-F1 and the compliant
    false-flag rate of `check`: on a corpus split, or on a labelled set of real sentences (sure
    items and all, per split, with a confusion table); with --facts, what checking promises
    against a shop's facts adds and takes away."""
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.training import evaluate as ev
    from pinocchio.training.corpus import DEFAULT_CORPUS, load_corpus

    s = settings(lexicon_dir=lexicons, classifier=classifier)
    with or_exit():
        pipeline = Pipeline(s)
        scorer = pipeline.classifier.name if pipeline.classifier else "lexicon only"
        if pairs is not None:
            found = ev.pairs_report(pipeline, ev.read_pairs(pairs))
            typer.echo(f"{pairs.name} ({scorer}): {found.pairs} pairs with a disguised word; {found.flagged} flagged "
                       f"in their original form, {found.kept} of them ({found.kept_share:.1%}) with the same labels "
                       "as said")
            for pair, was, now in found.lost[:errors]:
                typer.echo(f"{pairs}:{pair.line}\toriginal {', '.join(sorted(was))}\tsaid {', '.join(sorted(now)) or 'nothing'}"
                           f"\t{pair.said}")
            return
        if labelled is None:
            rows = load_corpus(corpus or DEFAULT_CORPUS, split=split or "test")
            _print_report(f"{split or 'test'} ({scorer})", ev.corpus_report(pipeline, rows))
            return
        items = [i for i in ev.read_labelled_set(labelled) if split is None or i.split == split]
        judged = ev.judge_set(pipeline, items)
        checked = None
        if facts is not None:
            from pinocchio.facts.catalog import file_stream_facts
            from pinocchio.facts.checker import FactChecker
            from pinocchio.facts.files import read_facts_file

            read = read_facts_file(facts)
            if read.errors:
                raise ConfigError("; ".join(read.errors))
            stream_facts = file_stream_facts(read, stream)
            checked = ev.judge_set(pipeline, items, lambda: FactChecker(lambda: stream_facts))
    if checked is not None:
        _print_facts_effect(facts.name, ev.facts_effect(judged, checked), errors)
        judged = checked
    for part in ev.set_slices(judged):
        _print_report(f"{labelled.name}, {part.name} ({scorer})", part.report)
        _print_confusion(part.confusion)
        typer.echo("")
    for j in ev.errors(judged)[:errors]:
        gold = ", ".join(sorted(j.item.labels)) or "compliant"
        typer.echo(f"{labelled}:{j.item.line}\t{j.item.split}\tgold {gold}\tgot {', '.join(sorted(j.predicted)) or 'nothing'}"
                   f"\t{j.item.text}")


def _print_facts_effect(name: str, effects, errors: int) -> None:
    for effect in effects:
        typer.echo(f"facts of {name}, {effect.name}: compliant lines flagged {effect.flagged_without}/{effect.compliant} "
                   f"without the facts, {effect.flagged_with}/{effect.compliant} with them "
                   f"({len(effect.added)} added, {len(effect.cleared)} taken back)")
        kinds = sorted({kind for kind, _ in effect.outcomes})
        for kind in kinds:
            counts = ", ".join(f"{outcome} {effect.outcomes[(kind, outcome)]}"
                               for outcome in ("honest", "contradicted", "unchecked") if effect.outcomes[(kind, outcome)])
            typer.echo(f"  {kind:<16}{counts}")
        for j in effect.added[:errors]:
            typer.echo(f"  added\t{j.item.line}\t{', '.join(sorted(j.predicted))}\t{j.item.text}")
    typer.echo("")


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


def calibrate(
    labelled: Annotated[Path, typer.Option("--set", help="A labelled JSONL set of real sentences (text, labels, unsure, split).")],
    split: Annotated[str, typer.Option("--split", help="The split to calibrate on; report figures on another.")] = "tune",
    classifier: ClassifierOption = None,
    lexicons: LexiconsOption = None,
    target: Annotated[float, typer.Option("--target", min=0.1, max=1.0, help="Precision a classifier-only finding must reach to stand alone.")] = 0.7,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the reliability only; write nothing.")] = False,
) -> None:
    """Measure what the classifier's scores mean on real speech and write, into its card, the score
    from which a finding no lexicon hit backs may stand alone; draw reliability.png beside it."""
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.training import calibrate as cal
    from pinocchio.training.evaluate import read_labelled_set

    s = settings(lexicon_dir=lexicons, classifier=classifier)
    with or_exit():
        pipeline = Pipeline(s)
        if pipeline.classifier is None:
            fail("calibrate needs a classifier (not --classifier none)")
            raise typer.Exit(2)
        pipeline.detector.options = dataclasses.replace(pipeline.detector.options, stand_alone_score=0.0,
                                                          stand_alone_by_label=())
        items = [i for i in read_labelled_set(labelled) if i.split == split]
        if not items:
            fail(f"{labelled}: no lines in split {split!r}")
            raise typer.Exit(2)
        found = cal.scored_findings(pipeline, items)
        result = cal.calibrate(found, f"{labelled.name} {split}", sum(not i.unsure for i in items), target)
        picture = None if dry_run else cal.save(result, pipeline.classifier.card.path)
    typer.echo(f"{result.set_name}: {result.sentences} sure sentences, {len(found)} classifier findings "
               f"({result.backed} backed by a lexicon hit, {result.backed_correct} of them right)")
    typer.echo(f"{'score':<14}{'findings':>9}{'right':>7}{'precision':>11}   (classifier-only)")
    for b in result.bins:
        shown = "-" if b.precision is None else f"{b.precision:.2f}"
        typer.echo(f"{b.low:.2f}-{min(b.high, 1.0):.2f}   {b.findings:>9}{b.correct:>7}{shown:>11}")
    stands = cal.stands_from(result.stand_alone, digits=4)
    typer.echo(f"classifier-only findings, all labels together, reach the target precision {target:.2f} {stands}")
    for label, cut in result.stand_alone_by_label.items():
        n, right = result.by_label_findings[label]
        typer.echo(f"  {label:<20} stands alone {cal.stands_from(cut)}"
                   f" ({n} found alone there, {right} right)")
    if picture:
        typer.echo(f"written: {pipeline.classifier.card.path / 'pinocchio.json'} (calibration), {picture}")
