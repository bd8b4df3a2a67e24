"""Advertising-law lexicons: load and validate `lexicons/*.yaml`, compile them once into
Aho-Corasick automata, and match segment text literally, by variant spelling and by sound."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import yaml

from pinocchio.core.errors import LexiconError
from pinocchio.core.labels import LABELS
from pinocchio.core.pinyin import BREAK, Syllables, syllables
from pinocchio.core.records import Finding, FindingSource, MatchKind
from pinocchio.core.text import normalize_text
from pinocchio.core.yaml_file import YamlFileError, key_nodes, line_of, read_yaml
from pinocchio.listen.patterns import compile_pattern

log = logging.getLogger(__name__)

ENTRY_KEYS = {"term", "severity", "article", "exceptions", "variants", "pinyin", "note"}
PATTERN_KEYS = {"pattern", "severity", "article", "exceptions", "note", "matches", "passes"}
FILE_KEYS = {"label", "version", "default_article", "exceptions", "terms", "patterns"}
SEVERITIES = (1, 2, 3)
# Two-character terms sound like too many innocent words (第一 / 低一): only by letters unless asked.
PINYIN_MIN_CHARS = 3


@dataclass(frozen=True)
class Entry:
    term: str
    label: str
    severity: int
    article: str
    exceptions: tuple[str, ...]
    variants: tuple[str, ...]
    pinyin: bool
    where: str  # file:line, for messages and provenance
    # A pattern entry (`term` is then the pattern as written): its expression, and the sentences
    # it must flag and must pass, checked by `lexicon check`.
    regex: re.Pattern | None = None
    matches: tuple[str, ...] = ()
    passes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[Entry, ...]
    version: str
    files: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """Every spelling the matcher knows, for the tokenizer's user dictionary."""
        return tuple({w for e in self.entries if e.regex is None for w in (e.term, *e.variants)})


# ---------------------------------------------------------------- loading and validation


def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _parse_file(path: Path, errors: list[str]) -> list[Entry]:
    try:
        document = read_yaml(path)
    except YamlFileError as exc:
        errors.append(str(exc))
        return []
    data, root = document.data, document.root
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        errors.append(f"{path}:1: expected a mapping with label, version, default_article, terms")
        return []
    nodes = key_nodes(root)
    key_lines = {key: line for key, (line, _) in nodes.items()}
    for key in data:
        if key not in FILE_KEYS:
            errors.append(f"{path}:{key_lines.get(key, 1)}: unknown key '{key}' (valid: {', '.join(sorted(FILE_KEYS))})")
    label = data.get("label")
    if label not in LABELS:
        errors.append(f"{path}:{key_lines.get('label', 1)}: label '{label}' is not one of: {', '.join(LABELS)}")
    elif label != path.stem:
        errors.append(f"{path}:{key_lines['label']}: label '{label}' does not match the file name '{path.stem}'")
    default_article = data.get("default_article")
    if not isinstance(default_article, str) or not default_article.strip():
        errors.append(f"{path}:{key_lines.get('default_article', 1)}: default_article must be a non-empty string")
    if not isinstance(data.get("version"), (str, int, float)):
        errors.append(f"{path}:{key_lines.get('version', 1)}: version is missing")
    file_exceptions = data.get("exceptions", [])
    if not _str_list(file_exceptions):
        errors.append(f"{path}:{key_lines.get('exceptions', 1)}: exceptions must be a list of strings")
        file_exceptions = []
    terms_node = nodes.get("terms", (1, None))[1]
    terms = data.get("terms")
    if not isinstance(terms, list) or not isinstance(terms_node, yaml.SequenceNode):
        errors.append(f"{path}:{key_lines.get('terms', 1)}: terms must be a list of entries")
        return []
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for raw, node in zip(terms, terms_node.value):
        line = line_of(node)
        entry = _parse_entry(raw, f"{path}:{line}", label, default_article, file_exceptions, errors)
        if entry is None:
            continue
        for spelling in (entry.term, *entry.variants):
            if spelling in seen:
                errors.append(f"{path}:{line}: '{spelling}' is already listed at line {seen[spelling]}")
            seen[spelling] = line
        entries.append(entry)
    patterns_node = nodes.get("patterns", (1, None))[1]
    patterns = data.get("patterns", [])
    if patterns and (not isinstance(patterns, list) or not isinstance(patterns_node, yaml.SequenceNode)):
        errors.append(f"{path}:{key_lines.get('patterns', 1)}: patterns must be a list of entries")
        return entries
    for raw, node in zip(patterns or [], patterns_node.value if patterns else []):
        entry = _parse_pattern(raw, f"{path}:{line_of(node)}", label, default_article, file_exceptions, errors)
        if entry is not None:
            entries.append(entry)
    return entries


def _mapping(raw: object, where: str, keys: set[str], example: str, errors: list[str]) -> bool:
    """True if `raw` is a mapping of known keys; else the error, naming the place."""
    if not isinstance(raw, dict):
        errors.append(f"{where}: {example}")
        return False
    bad = sorted(set(raw) - keys)
    if bad:
        errors.append(f"{where}: unknown key '{bad[0]}' (valid: {', '.join(sorted(keys))})")
        return False
    return True


def _severity_and_article(raw: dict, where: str, default_article: str, errors: list[str]) -> tuple[int, str] | None:
    severity, article = raw.get("severity"), raw.get("article", default_article)
    if severity not in SEVERITIES or isinstance(severity, bool):
        errors.append(f"{where}: severity must be 1, 2 or 3, not {severity!r}")
        return None
    if not isinstance(article, str) or not article.strip():
        errors.append(f"{where}: article must be a non-empty string")
        return None
    return severity, article.strip()


def _parse_pattern(raw: object, where: str, label: str, default_article: str,
                   file_exceptions: list[str], errors: list[str]) -> Entry | None:
    if not _mapping(raw, where, PATTERN_KEYS, "a pattern must be a mapping like {pattern: '最后{n}单', severity: 2}",
                    errors):
        return None
    text = raw.get("pattern")
    if not isinstance(text, str):
        errors.append(f"{where}: pattern is missing")
        return None
    try:
        regex = compile_pattern(normalize_text(text))
    except ValueError as exc:
        errors.append(f"{where}: pattern '{text}': {exc}")
        return None
    rule = _severity_and_article(raw, where, default_article, errors)
    if rule is None:
        return None
    for key in ("exceptions", "matches", "passes"):
        if key in raw and not _str_list(raw[key]):
            errors.append(f"{where}: {key} must be a list of non-empty strings")
            return None
    if not raw.get("matches"):
        errors.append(f"{where}: a pattern needs at least one sentence it matches (matches: [...])")
        return None
    return Entry(term=normalize_text(text), label=label, severity=rule[0], article=rule[1],
                 exceptions=tuple(normalize_text(e) for e in (*raw.get("exceptions", []), *file_exceptions)),
                 variants=(), pinyin=False, where=where, regex=regex,
                 matches=tuple(raw.get("matches", ())), passes=tuple(raw.get("passes", ())))


def _parse_entry(raw: object, where: str, label: str, default_article: str,
                 file_exceptions: list[str], errors: list[str]) -> Entry | None:
    if not _mapping(raw, where, ENTRY_KEYS, "an entry must be a mapping like {term: ..., severity: 2}", errors):
        return None
    term = raw.get("term")
    if not isinstance(term, (str, int)) or not str(term).strip():
        errors.append(f"{where}: term is missing or empty")
        return None
    term = normalize_text(str(term))
    rule = _severity_and_article(raw, where, default_article, errors)
    if rule is None:
        return None
    for key in ("exceptions", "variants"):
        if key in raw and not _str_list(raw[key]):
            errors.append(f"{where}: {key} must be a list of non-empty strings")
            return None
    exceptions = tuple(normalize_text(e) for e in (*raw.get("exceptions", []), *file_exceptions))
    variants = tuple(v for v in (normalize_text(str(v)) for v in raw.get("variants", [])) if v != term)
    pinyin = raw.get("pinyin", _han_count(term) >= PINYIN_MIN_CHARS)
    if not isinstance(pinyin, bool):
        errors.append(f"{where}: pinyin must be true or false")
        return None
    return Entry(term=term, label=label, severity=rule[0], article=rule[1],
                 exceptions=exceptions, variants=variants, pinyin=pinyin, where=where)


def _han_count(text: str) -> int:
    return sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")


def check_lexicons(directory: Path) -> tuple[list[Entry], list[str]]:
    """All entries and every error (file:line: reason) in a lexicon directory."""
    errors: list[str] = []
    files = sorted(directory.glob("*.yaml"))
    if not directory.is_dir():
        errors.append(f"{directory}: lexicon directory not found")
    elif not files:
        errors.append(f"{directory}: no *.yaml lexicon files")
    entries: list[Entry] = []
    for path in files:
        entries.extend(_parse_file(path, errors))
    if not errors:
        errors.extend(_check_examples(entries))
    return entries, errors


def _check_examples(entries: list[Entry]) -> list[str]:
    """Each pattern, with its exceptions, flags the sentences it says it matches and none of those
    it says it passes (read on its own: another entry may flag the same words)."""
    problems = []
    for entry in (e for e in entries if e.regex is not None):
        matcher = Matcher(Lexicon(entries=(entry,), version="check", files=()))
        for sentence, wanted in [(s, True) for s in entry.matches] + [(s, False) for s in entry.passes]:
            hit = bool(matcher.match(normalize_text(sentence)))
            if hit != wanted:
                problems.append(f"{entry.where}: pattern '{entry.term}' {'does not flag' if wanted else 'flags'} "
                                f"'{sentence}' (listed under {'matches' if wanted else 'passes'})")
    return problems


def load_lexicon(directory: Path) -> Lexicon:
    """Load and validate; any error stops here, before work starts."""
    entries, errors = check_lexicons(directory)
    if errors:
        more = f" (and {len(errors) - 1} more; run 'pinocchio lexicon check')" if len(errors) > 1 else ""
        raise LexiconError(errors[0] + more)
    digest = hashlib.sha256()
    files = sorted(directory.glob("*.yaml"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return Lexicon(entries=tuple(entries), version=f"lexicon@{digest.hexdigest()[:12]}",
                   files=tuple(p.name for p in files))


# ---------------------------------------------------------------- matching


def _boundaries(text: str, tokens: Sequence[str]) -> set[int]:
    edges = {0, len(text)}
    pos = 0
    for token in tokens:
        found = text.find(token, pos)
        if found < 0:
            continue
        edges.update((found, found + len(token)))
        pos = found + len(token)
    return edges


class Matcher:
    """The compiled lexicon. Build once; `match` is called for every segment."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self._version = lexicon.version  # "lexicon@<digest>": what each finding names
        self._literal = ahocorasick.Automaton()
        self._sound = ahocorasick.Automaton()
        literal: dict[str, list[tuple[Entry, MatchKind]]] = {}
        sound: dict[str, list[Entry]] = {}
        self._patterns = tuple(e for e in lexicon.entries if e.regex is not None)
        for entry in lexicon.entries:
            if entry.regex is not None:
                continue
            literal.setdefault(entry.term, []).append((entry, MatchKind.LITERAL))
            for variant in entry.variants:
                literal.setdefault(variant, []).append((entry, MatchKind.VARIANT))
            if entry.pinyin:
                key = syllables(entry.term).key
                if BREAK not in key:
                    sound.setdefault(key, []).append(entry)
        for word, found in literal.items():
            self._literal.add_word(word, (word, found))
        for key, found in sound.items():
            self._sound.add_word(key, (key, found))
        for automaton in (self._literal, self._sound):
            if len(automaton):
                automaton.make_automaton()
        self._exception_keys: dict[str, str] = {}

    def match(self, text: str, tokens: Sequence[str] = (), before: str = "") -> list[Finding]:
        """Findings in normalised `text`; `tokens` (jieba's, for this text) enforce word boundaries
        on short terms so that 第一 does not fire inside 第一次. `before`, what was said just before,
        counts only for exceptions that run across into `text` (不能 | 治病)."""
        edges = _boundaries(text, tokens) if tokens else None
        text_sounds = syllables(text) if len(self._sound) else None
        exceptions = _Context(before + text, len(before), text_sounds if not before else None)
        candidates: dict[tuple[str, int, int], Finding] = {}

        def on_boundaries(start: int, end: int) -> bool:
            return edges is None or end - start > 2 or (start in edges and end in edges)

        def add(entry: Entry, start: int, end: int, kind: MatchKind) -> None:
            key = (entry.label, start, end)
            if key in candidates or self._excepted(entry, exceptions, start, end):
                return
            candidates[key] = Finding(source=FindingSource.LEXICON, label=entry.label, severity=entry.severity,
                                      article=entry.article, span=(start, end), term=entry.term,
                                      matched=text[start:end], match_kind=kind,
                                      score=1.0 if kind == MatchKind.LITERAL else 0.9,
                                      model=self._version)

        if len(self._literal):
            for end_index, (word, found) in self._literal.iter(text):
                start, end = end_index - len(word) + 1, end_index + 1
                if not on_boundaries(start, end):
                    continue
                for entry, kind in found:
                    add(entry, start, end, kind)
        for entry in self._patterns:
            for found in entry.regex.finditer(text):
                if found.end() > found.start():
                    add(entry, found.start(), found.end(), MatchKind.PATTERN)
        if text_sounds is not None:
            key = text_sounds.key
            for end_index, (word, found) in self._sound.iter(key):
                start, end = text_sounds.char_span(end_index - len(word) + 1, end_index + 1)
                if not on_boundaries(start, end):
                    continue
                for entry in found:
                    add(entry, start, end, MatchKind.PINYIN)
        return _drop_contained(list(candidates.values()))

    def _excepted(self, entry: Entry, context: _Context, start: int, end: int) -> bool:
        text = context.text
        start, end = start + context.offset, end + context.offset
        for exception in entry.exceptions:
            pos = text.find(exception)
            while pos >= 0:
                if pos < end and start < pos + len(exception):
                    return True
                pos = text.find(exception, pos + 1)
            if len(self._sound) and _han_count(exception) >= PINYIN_MIN_CHARS:
                # Disclaimers get misheard too: 不能治病 may come out as 不能制病.
                exc_key = self._exception_keys.get(exception)
                if exc_key is None:  # computed once per exception, not once per candidate
                    exc_key = self._exception_keys[exception] = syllables(exception).key
                sounds = context.sounds()
                pos = sounds.key.find(exc_key)
                while pos >= 0:
                    a, b = sounds.char_span(pos, pos + len(exc_key))
                    if a < end and start < b:
                        return True
                    pos = sounds.key.find(exc_key, pos + 1)
        return False


class _Context:
    """The text that exceptions are looked for in: the segment, after what was said before it."""

    def __init__(self, text: str, offset: int, sounds: Syllables | None = None):
        self.text = text
        self.offset = offset  # where the segment starts in `text`
        self._sounds = sounds

    def sounds(self) -> Syllables:
        if self._sounds is None:
            self._sounds = syllables(self.text)
        return self._sounds


def _drop_contained(findings: list[Finding]) -> list[Finding]:
    """Of two findings with the same label where one's span lies inside the other's, keep the longer:
    '全网最低价' and '最低价' are one claim, not two."""
    findings.sort(key=lambda f: (f.span[0], -(f.span[1] - f.span[0])))
    kept: list[Finding] = []
    for f in findings:
        if any(k.label == f.label and k.span[0] <= f.span[0] and f.span[1] <= k.span[1] for k in kept):
            continue
        kept.append(f)
    return kept
