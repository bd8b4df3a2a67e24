"""Measures of quality shared by tests, benchmarks and `pinocchio eval`: character error rate,
per-label precision/recall/F1 with their counts, and the evaluation of any labelled set of real
sentences (`pinocchio eval --set FILE.jsonl`), on sure items and on all, split by split."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pinocchio.core.errors import InputError
from pinocchio.core.labels import LABELS
from pinocchio.core.text import comparable


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


def character_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Corpus-level CER over (reference, hypothesis) pairs: total edits / total reference characters."""
    edits = sum(edit_distance(comparable(ref), comparable(hyp)) for ref, hyp in pairs)
    chars = sum(len(comparable(ref)) for ref, _ in pairs)
    return edits / chars if chars else 0.0


@dataclass(frozen=True)
class LabelReport:
    """Per-label precision, recall and F1 of asserted labels against gold labels (with the counts
    behind them), micro- and macro-F1, and how many compliant lines (no gold label) got any label."""

    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]  # gold positives
    total: int
    compliant: int
    false_flags: int
    true_positives: dict[str, int] = field(default_factory=dict)
    predicted: dict[str, int] = field(default_factory=dict)  # lines given the label

    @property
    def macro_f1(self) -> float:
        """The mean F1 of the labels with any gold positive (a label never present says nothing)."""
        present = [self.f1[label] for label in self.f1 if self.support[label]]
        return sum(present) / len(present) if present else 0.0

    @property
    def micro_f1(self) -> float:
        tp = sum(self.true_positives.values())
        fp_fn = sum(self.predicted.values()) - tp + sum(self.support.values()) - tp
        return 2 * tp / (2 * tp + fp_fn) if tp else 0.0

    @property
    def false_flag_rate(self) -> float:
        return self.false_flags / self.compliant if self.compliant else 0.0


def label_report(gold: Sequence[set[str]], predicted: Sequence[set[str]], labels: Sequence[str] = LABELS) -> LabelReport:
    precision, recall, f1, support, tps, given = {}, {}, {}, {}, {}, {}
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, predicted))
        fp = sum(label not in g and label in p for g, p in zip(gold, predicted))
        fn = sum(label in g and label not in p for g, p in zip(gold, predicted))
        precision[label] = tp / (tp + fp) if tp + fp else 0.0
        recall[label] = tp / (tp + fn) if tp + fn else 0.0
        f1[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        support[label], tps[label], given[label] = tp + fn, tp, tp + fp
    compliant = [p for g, p in zip(gold, predicted) if not g]
    return LabelReport(precision, recall, f1, support, total=len(gold), compliant=len(compliant),
                       false_flags=sum(bool(p) for p in compliant), true_positives=tps, predicted=given)


def corpus_report(pipeline, rows) -> LabelReport:
    """How `check` (the pipeline's lexicon + classifier verdict) does on labelled corpus rows."""
    verdicts = pipeline.check_lines(row.text for row in rows)
    return label_report([set(row.labels) for row in rows], [set(v.labels) for v in verdicts])


# ---------------------------------------------------------------- labelled sets of real sentences


@dataclass(frozen=True)
class LabelledLine:
    line: int  # in its file
    text: str
    labels: frozenset[str]
    unsure: bool
    split: str  # "" when the set has no splits


def read_labelled_set(path: Path | str) -> list[LabelledLine]:
    """A labelled JSONL set: `text`, `labels` (a list; empty = compliant), optional `unsure` and
    `split`; other fields are ignored. A bad line fails naming file:line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}:1: not UTF-8 text") from None
    rows = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON: {exc.msg}") from None
        text, labels = item.get("text") if isinstance(item, dict) else None, item.get("labels") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{number}: text must be a non-empty string")
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise InputError(f"{path}:{number}: labels must be a list of label names")
        unsure, split = item.get("unsure", False), item.get("split", "")
        if not isinstance(unsure, bool) or not isinstance(split, str):
            raise InputError(f"{path}:{number}: unsure must be true or false and split a string")
        rows.append(LabelledLine(line=number, text=text, labels=frozenset(labels), unsure=unsure, split=split))
    if not rows:
        raise InputError(f"{path}: no labelled lines")
    return rows


@dataclass(frozen=True)
class Judged:
    item: LabelledLine
    predicted: frozenset[str]
    checks: tuple = ()  # the line's promises as checked, when it was judged with a shop's facts


@dataclass(frozen=True)
class SetSlice:
    """One slice of a labelled set (a split, sure items or all) and how detection did on it."""

    name: str
    report: LabelReport
    confusion: dict[str, Counter]  # gold label (or "compliant") -> predicted labels (or "nothing")


def judge_set(pipeline, items: Sequence[LabelledLine], checker_for=None) -> list[Judged]:
    """Each item's verdict; with `checker_for` (a new facts stage for each line, which is read as
    said on its own in the facts' stream) its promises are checked too."""
    if checker_for is None:
        verdicts = pipeline.check_lines(item.text for item in items)
    else:
        verdicts = (pipeline.check_text(item.text, checker_for()) for item in items)
    return [Judged(item, frozenset(v.labels), v.checks) for item, v in zip(items, verdicts)]


@dataclass(frozen=True)
class FactsEffect:
    """What checking against a shop's facts changed on one slice of a labelled set: compliant lines
    flagged without and with the facts, the lines the facts alone flagged or cleared, and the
    promises checked by kind and outcome."""

    name: str
    compliant: int
    flagged_without: int
    flagged_with: int
    added: tuple[Judged, ...]  # compliant lines flagged only with the facts
    cleared: tuple[Judged, ...]  # compliant lines flagged only without them
    outcomes: Counter  # (kind, outcome) -> promises


def facts_effect(plain: Sequence[Judged], checked: Sequence[Judged], sure_only: bool = True) -> list[FactsEffect]:
    """Per split and for the whole set, on sure compliant lines: what the facts changed."""
    splits = sorted({j.item.split for j in plain if j.item.split})
    effects = []
    for split in [*splits, ""]:
        pairs = [(a, b) for a, b in zip(plain, checked) if (not split or a.item.split == split)
                 and not (sure_only and a.item.unsure)]
        compliant = [(a, b) for a, b in pairs if not a.item.labels]
        outcomes = Counter((str(c.promise.kind), str(c.outcome)) for _, b in pairs for c in b.checks)
        effects.append(FactsEffect(
            name=f"{split or 'all splits'}, {'sure items' if sure_only else 'all items'}", compliant=len(compliant),
            flagged_without=sum(bool(a.predicted) for a, _ in compliant),
            flagged_with=sum(bool(b.predicted) for _, b in compliant),
            added=tuple(b for a, b in compliant if b.predicted and not a.predicted),
            cleared=tuple(b for a, b in compliant if a.predicted and not b.predicted), outcomes=outcomes))
    return effects


def set_slices(judged: Sequence[Judged]) -> list[SetSlice]:
    """Sure items and all items, for every split and for the whole set."""
    labels = list(LABELS) + sorted({x for j in judged for x in j.item.labels} - set(LABELS))
    splits = sorted({j.item.split for j in judged if j.item.split})
    slices = []
    for split in [*splits, ""]:
        in_split = [j for j in judged if not split or j.item.split == split]
        for sure_only in (True, False):
            chosen = [j for j in in_split if not (sure_only and j.item.unsure)]
            if not chosen:
                continue
            name = f"{split or 'all splits'}, {'sure items' if sure_only else 'all items'}"
            slices.append(SetSlice(name, label_report([set(j.item.labels) for j in chosen],
                                                      [set(j.predicted) for j in chosen], labels),
                                   confusion(chosen)))
    return slices


def confusion(judged: Iterable[Judged]) -> dict[str, Counter]:
    table: dict[str, Counter] = {}
    for j in judged:
        for gold in sorted(j.item.labels) or ["compliant"]:
            table.setdefault(gold, Counter()).update(sorted(j.predicted) or ["nothing"])
    return table


def errors(judged: Iterable[Judged], sure_only: bool = True) -> list[Judged]:
    """The items whose predicted labels differ from their gold ones, in file order."""
    return [j for j in judged if j.predicted != j.item.labels and not (sure_only and j.item.unsure)]


# ---------------------------------------------------------------- disguised spellings


@dataclass(frozen=True)
class DisguisedPair:
    line: int
    said: str  # as the streamer said it, disguised words and all
    original: str  # with the disguised words resolved


@dataclass(frozen=True)
class PairsReport:
    pairs: int  # pairs whose two forms differ
    flagged: int  # originals that detection flags
    kept: int  # of those, said forms flagged with the same labels
    lost: tuple[tuple[DisguisedPair, frozenset[str], frozenset[str]], ...]  # (pair, original's labels, said's)

    @property
    def kept_share(self) -> float:
        return self.kept / self.flagged if self.flagged else 0.0


def read_pairs(path: Path | str) -> list[DisguisedPair]:
    """Tab-separated said/original pairs (the first two columns; other columns are ignored),
    keeping only the pairs whose two forms differ."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    pairs = []
    for number, raw in enumerate(lines, start=1):
        columns = raw.split("\t")
        if len(columns) < 2:
            raise InputError(f"{path}:{number}: expected said<TAB>original")
        if columns[0].strip() and columns[0].strip() != columns[1].strip():
            pairs.append(DisguisedPair(number, columns[0].strip(), columns[1].strip()))
    return pairs


def pairs_report(pipeline, pairs: Sequence[DisguisedPair]) -> PairsReport:
    """How many claims flagged in their plain form keep their labels when the streamer disguises a word."""
    said = list(pipeline.check_lines(p.said for p in pairs))
    original = list(pipeline.check_lines(p.original for p in pairs))
    flagged = [(p, frozenset(o.labels), frozenset(s.labels)) for p, s, o in zip(pairs, said, original) if o.labels]
    lost = tuple((p, o, s) for p, o, s in flagged if not o <= s)
    return PairsReport(pairs=len(pairs), flagged=len(flagged), kept=len(flagged) - len(lost), lost=lost)
