"""The labelled seed corpus (`seeds/corpus.jsonl`): validate every line, load it by split, count it.

Errors read `corpus.jsonl:LINE: reason`; `pinocchio seeds check` prints them with the counts."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pinocchio.core.errors import CorpusError
from pinocchio.core.labels import LABELS
from pinocchio.core.settings import checkout_path
from pinocchio.core.text import comparable

DEFAULT_CORPUS = checkout_path("seeds", "corpus.jsonl")  # training data: in the checkout, not the wheel
# Real streamer sentences held out for measuring (../shared/data/liveamr beside the checkout): their
# licence is unclear, so no corpus line may copy one. A run of this many characters (punctuation
# and spaces aside) shared with one of them is a copy.
HELD_OUT = checkout_path("..", "shared", "data", "liveamr")
COPY_RUN_CHARS = 12

FIELDS = ("id", "text", "labels", "product", "split", "origin")
SPLITS = ("train", "dev", "test")
ORIGINS = ("written", "varied", "whispered")
# <kind>-NNNN; <kind>-NNNN-vK for a variation (seeds/vary.py), <kind>-NNNN-wK for what whisper wrote
# when the line was spoken (seeds/round_trip.py)
ID_PATTERN = re.compile(r"^[a-z]+-\d{4}(-[vw]\d+)?$")
MARKS = {"varied": "-v", "whispered": "-w"}

# Written lines must be distinct sentences, not rewordings of one another (that is what the varied
# lines are for): two are near-copies at this character-bigram Jaccard, or when one contains the other.
NEAR_COPY_JACCARD = 0.7
NEAR_COPY_CONTAINED_CHARS = 5  # shorter texts (好的, 谢谢) may sit inside longer ones
SEPARATORS = re.compile(r"[\s，,]")

TARGET_TOTAL = 15000
TARGET_PER_LABEL = 250
TARGET_COMPLIANT_SHARE = 0.55  # a real stream is 85-90 % compliant talk: the corpus leans that way
TARGET_WRITTEN = 10000


@dataclass(frozen=True)
class SeedRow:
    id: str
    text: str
    labels: tuple[str, ...]  # sorted; () means compliant
    product: str
    split: str
    origin: str  # "written", "varied" or "whispered"
    line: int  # 1-based line in the corpus file

    @property
    def base_id(self) -> str:
        return base_id(self.id)


@dataclass(frozen=True)
class Target:
    what: str
    actual: str
    met: bool


@dataclass(frozen=True)
class CorpusStats:
    total: int
    compliant: int
    per_label: dict[str, int]  # every label in LABELS order, zeros included
    per_split: dict[str, int]
    per_origin: dict[str, int]
    per_product: dict[str, int]  # most lines first

    @property
    def compliant_share(self) -> float:
        return self.compliant / self.total if self.total else 0.0

    def targets(self) -> list[Target]:
        """The sizes the classifier needs; the corpus README promises all of them."""
        fewest = min(self.per_label.get(label, 0) for label in LABELS)
        written = self.per_origin.get("written", 0)
        return [
            Target(f"total >= {TARGET_TOTAL}", str(self.total), self.total >= TARGET_TOTAL),
            Target(f"per label >= {TARGET_PER_LABEL}", f"min {fewest}", fewest >= TARGET_PER_LABEL),
            Target(f"compliant >= {TARGET_COMPLIANT_SHARE:.0%}", _percent(self.compliant, self.total),
                   self.total > 0 and self.compliant_share >= TARGET_COMPLIANT_SHARE),
            Target(f"written >= {TARGET_WRITTEN}", str(written), written >= TARGET_WRITTEN),
        ]

    def lines(self) -> list[str]:
        """The summary `pinocchio seeds check` prints, targets last."""
        return [
            f"{'total lines':<24}{self.total}",
            f"{'compliant (labels=[])':<24}{self.compliant} ({_percent(self.compliant, self.total)})",
            f"{'origin':<24}" + ", ".join(f"{k} {v}" for k, v in self.per_origin.items()),
            f"{'split':<24}" + ", ".join(f"{k} {v} ({_percent(v, self.total)})" for k, v in self.per_split.items()),
            "",
            f"{'label':<24}{'lines':>6}",
            *(f"{k:<24}{v:>6}" for k, v in self.per_label.items()),
            "",
            f"{'product':<24}{'lines':>6}",
            *(f"{k:<24}{v:>6}" for k, v in self.per_product.items()),
            "",
            "targets",
            *(f"  {t.what:<20}{t.actual:>10}  {'ok' if t.met else 'NOT MET'}" for t in self.targets()),
        ]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def split_for(base_id: str) -> str:
    """train/dev/test from the base id alone (same rule as seeds/vary.py), so that a written line and
    its variations always share a split: sha256, first 8 hex digits, mod 100; < 80 train, < 90 dev."""
    bucket = int(hashlib.sha256(base_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else ("dev" if bucket < 90 else "test")


def base_id(row_id: str) -> str:
    """The written line a variation or a transcript comes from: `cos-0001-v2`, `cos-0001-w1` -> `cos-0001`."""
    return re.sub(r"-[vw]\d+$", "", row_id)


# ---------------------------------------------------------------- checking


def _parse_line(line: str, where: str, number: int, errors: list[str]) -> SeedRow | None:
    """The row if its shape is right (a JSON object with exactly FIELDS, typed); else None and errors."""
    if not line.strip():
        errors.append(f"{where}: empty line")
        return None
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        errors.append(f"{where}: invalid JSON ({exc.msg})")
        return None
    if not isinstance(raw, dict):
        errors.append(f"{where}: not a JSON object")
        return None
    missing = [k for k in FIELDS if k not in raw]
    unknown = sorted(set(raw) - set(FIELDS))
    if missing or unknown:
        problems = ([f"missing field(s) {', '.join(missing)}"] if missing else []) + \
                   ([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
        errors.append(f"{where}: {'; '.join(problems)} (fields: {', '.join(FIELDS)})")
        return None
    shape_ok = True
    for key in ("id", "text", "product", "split", "origin"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            errors.append(f"{where}: {key} must be a non-empty string")
            shape_ok = False
    if not isinstance(raw["labels"], list) or not all(isinstance(x, str) for x in raw["labels"]):
        errors.append(f"{where}: labels must be a list of strings")
        shape_ok = False
    if not shape_ok:
        return None
    return SeedRow(id=raw["id"], text=raw["text"], labels=tuple(raw["labels"]), product=raw["product"],
                   split=raw["split"], origin=raw["origin"], line=number)


def _check_values(row: SeedRow, where: str, errors: list[str]) -> None:
    """Checks on one well-shaped row by itself."""
    unknown = [x for x in row.labels if x not in LABELS]
    if unknown:
        errors.append(f"{where}: unknown labels {unknown} (known: {', '.join(LABELS)})")
    if list(row.labels) != sorted(set(row.labels)):
        errors.append(f"{where}: labels not sorted or repeated")
    if not ID_PATTERN.match(row.id):
        errors.append(f"{where}: id {row.id!r} is not <kind>-NNNN, <kind>-NNNN-vK or <kind>-NNNN-wK")
    if row.split not in SPLITS:
        errors.append(f"{where}: split {row.split!r} not one of {', '.join(SPLITS)}")
    elif row.split != split_for(row.base_id):
        errors.append(f"{where}: split {row.split} but base {row.base_id} hashes to {split_for(row.base_id)}")
    if row.origin not in ORIGINS:
        errors.append(f"{where}: origin {row.origin!r} not one of {', '.join(ORIGINS)}")
    if re.sub(r"\d+$", "", row.id[len(row.base_id):]) != MARKS.get(row.origin, ""):
        errors.append(f"{where}: origin {row.origin} does not match id {row.id}")


def _squash(text: str) -> str:
    return SEPARATORS.sub("", text)


def _bigrams(squashed: str) -> frozenset[str]:
    return frozenset(squashed[i:i + 2] for i in range(len(squashed) - 1)) or frozenset([squashed])


class NearCopies:
    """An index of written lines that says, for each new one, which earlier line it nearly copies.
    An inverted bigram index means each text is only compared with the texts it shares a bigram
    with, not with all of them."""

    def __init__(self) -> None:
        self._seen: list[tuple[SeedRow, str, frozenset[str]]] = []
        self._holders: dict[str, list[int]] = defaultdict(list)  # bigram -> indexes into _seen

    def copied(self, row: SeedRow) -> SeedRow | None:
        """The earlier line `row` is a near-copy of, if any (row is not added)."""
        squashed = _squash(row.text)
        grams = _bigrams(squashed)
        shared = Counter(j for gram in grams for j in self._holders[gram])
        for j, common in shared.items():
            other, other_squashed, other_grams = self._seen[j]
            jaccard = common / (len(grams) + len(other_grams) - common)
            contained = ((len(squashed) >= NEAR_COPY_CONTAINED_CHARS and squashed in other_squashed)
                         or (len(other_squashed) >= NEAR_COPY_CONTAINED_CHARS and other_squashed in squashed))
            if jaccard >= NEAR_COPY_JACCARD or contained:
                return other
        return None

    def add(self, row: SeedRow) -> None:
        squashed = _squash(row.text)
        grams = _bigrams(squashed)
        for gram in grams:
            self._holders[gram].append(len(self._seen))
        self._seen.append((row, squashed, grams))


def near_copies(written: Iterable[SeedRow]) -> list[tuple[SeedRow, SeedRow]]:
    """(later, earlier) pairs of near-copy texts, one per later line."""
    index, found = NearCopies(), []
    for row in written:
        earlier = index.copied(row)
        if earlier is not None:
            found.append((row, earlier))
        index.add(row)
    return found


def held_out_runs(directory: Path = HELD_OUT, run: int = COPY_RUN_CHARS) -> dict[str, str]:
    """Every `run`-character stretch of the held-out real sentences (said and resolved forms), with
    the file:line it comes from; {} when the set is not beside the checkout."""
    runs: dict[str, str] = {}

    def add(text: str, where: str) -> None:
        key = comparable(text)
        for i in range(len(key) - run + 1):
            runs.setdefault(key[i:i + run], where)

    dev = directory / "dev.jsonl"
    if dev.is_file():
        for number, line in enumerate(dev.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                item = json.loads(line)
                add(item.get("text", ""), f"{dev.name}:{number}")
                add(item.get("original", ""), f"{dev.name}:{number}")
    for tsv in sorted(directory.glob("HealthAMR_*.tsv")):
        for number, line in enumerate(tsv.read_text(encoding="utf-8").splitlines(), 1):
            for column in line.split("\t")[:2]:
                add(column, f"{tsv.name}:{number}")
    return runs


def copied_from_held_out(rows: Iterable[SeedRow], runs: dict[str, str],
                         run: int = COPY_RUN_CHARS) -> list[tuple[SeedRow, str]]:
    """(row, where) for every corpus row sharing a `run`-character stretch with a held-out sentence."""
    found = []
    for row in rows:
        key = comparable(row.text)
        where = next((runs[key[i:i + run]] for i in range(len(key) - run + 1) if key[i:i + run] in runs), None)
        if where is not None:
            found.append((row, where))
    return found


def check_corpus(path: Path = DEFAULT_CORPUS, held_out: Path | None = HELD_OUT) -> tuple[list[SeedRow], list[str]]:
    """Every row whose shape is right (even if a check failed on it) and every error, in line order.
    With `held_out` (the real sentences beside the checkout), a row that copies one is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], [f"{path}: no such file"]
    except UnicodeDecodeError:
        return [], [f"{path}: not UTF-8 text"]
    except OSError as exc:
        return [], [f"{path}: cannot read ({exc.strerror or exc})"]
    name = path.name
    found: list[tuple[int, str]] = []  # (line, message), sorted at the end

    def report(line: int, reason: str) -> None:
        found.append((line, f"{name}:{line}: {reason}"))

    rows: list[SeedRow] = []
    first_line_of_id: dict[str, int] = {}
    first_line_of_text: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        messages: list[str] = []
        row = _parse_line(line, f"{name}:{number}", number, messages)
        if row is not None:
            _check_values(row, f"{name}:{number}", messages)
        found.extend((number, m) for m in messages)
        if row is None:
            continue
        if row.id in first_line_of_id:
            report(number, f"duplicate id {row.id} (first at line {first_line_of_id[row.id]})")
        first_line_of_id.setdefault(row.id, number)
        if row.text in first_line_of_text:
            report(number, f"duplicate text (first at line {first_line_of_text[row.text]})")
        first_line_of_text.setdefault(row.text, number)
        rows.append(row)

    # A variation or a transcript must keep its base's meaning: same labels, same product.
    by_id = {row.id: row for row in rows}
    for row in rows:
        if row.origin == "written":
            continue
        base = by_id.get(row.base_id)
        if base is None or base.origin != "written":
            report(row.line, f"{row.origin} line has no written base {row.base_id}")
        elif (base.labels, base.product) != (row.labels, row.product):
            report(row.line, f"labels/product differ from its base (line {base.line})")

    for later, earlier in near_copies(row for row in rows if row.origin == "written"):
        report(later.line, f"written line is a near-copy of written line {earlier.line}")
    runs = held_out_runs(held_out) if held_out is not None else {}
    for row, where in copied_from_held_out(rows, runs):
        report(row.line, f"copies a held-out real sentence ({COPY_RUN_CHARS}+ characters in a row as in {where}); "
                         "write corpus lines in your own words")

    found.sort(key=lambda item: item[0])  # stable: a line's errors keep the order they were found in
    return rows, [message for _, message in found]


def load_corpus(path: Path = DEFAULT_CORPUS, split: str | None = None) -> list[SeedRow]:
    """The valid corpus, or only one split of it; any error stops here, before training starts."""
    if split is not None and split not in SPLITS:
        raise CorpusError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    try:
        version = path.stat()
    except OSError:  # check_corpus says what is wrong with it
        rows = _valid_rows(path, 0, -1)
    else:
        rows = _valid_rows(path.resolve(), version.st_mtime_ns, version.st_size)
    return [row for row in rows if split is None or row.split == split]


@functools.lru_cache(maxsize=4)
def _valid_rows(path: Path, _mtime_ns: int, _size: int) -> tuple[SeedRow, ...]:
    """The corpus checked once per version of the file: training and evaluation load it split by
    split, and the check (the held-out sentences included) takes seconds."""
    rows, errors = check_corpus(path)
    if errors:
        more = f" (and {len(errors) - 1} more; run 'pinocchio seeds check')" if len(errors) > 1 else ""
        raise CorpusError(errors[0] + more)
    return tuple(rows)


# ---------------------------------------------------------------- counting


def _count(values: Iterable[str], known: tuple[str, ...] = ()) -> dict[str, int]:
    """Counts with the known keys first, in their order and zeros included; other keys by count."""
    counts = Counter(values)
    rest = sorted((k for k in counts if k not in known), key=lambda k: (-counts[k], k))
    return {k: counts[k] for k in (*known, *rest)}


def corpus_stats(rows: list[SeedRow]) -> CorpusStats:
    return CorpusStats(
        total=len(rows),
        compliant=sum(1 for row in rows if not row.labels),
        per_label=_count((label for row in rows for label in set(row.labels)), LABELS),
        per_split=_count((row.split for row in rows), SPLITS),
        per_origin=_count((row.origin for row in rows), ORIGINS),
        per_product=_count(row.product for row in rows),
    )
