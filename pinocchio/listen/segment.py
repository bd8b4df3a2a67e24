"""Cut utterances into claim-sized sentences with their own times, normalise their text and
tokenise it with jieba (lexicon terms loaded as user words so they stay whole)."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pinocchio.core.background import BackgroundLoad
from pinocchio.core.records import Segment, Utterance, Word
from pinocchio.core.settings import default_cache_dir
from pinocchio.core.text import normalize_text

log = logging.getLogger(__name__)

SENTENCE_END = set("。！？!?；;…")
SOFT_BREAK = set("，,、：:")
# First hearings kept for a second hearing to find the sentence before it: a context is 4 s long.
RECENT_SENTENCES = 16
_EDGE_PUNCT = "，,、：:；;。！？!?… "


# The most frequent words of jieba's 349k-word dictionary: on the corpus the lexicon decides 6 of
# 4,664 lines differently, at a third of the load time (0.15 s against 0.39 s here), which
# every scan pays once.
JIEBA_WORDS = 120_000


def trimmed_dictionary(cache_dir: Path, size: int = JIEBA_WORDS) -> Path:
    """jieba's own dictionary cut to its `size` most frequent words, written once into the cache."""
    import jieba

    target = cache_dir / "jieba" / f"dict-{size}.txt"
    if not target.is_file():
        rows = (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8").splitlines()
        rows.sort(key=lambda row: (-int(row.split(" ")[1]), row))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text("\n".join(rows[:size]) + "\n", encoding="utf-8")
        os.replace(staging, target)  # atomic: two processes building it at once both end well
    return target


class Tokenizer:
    """jieba with the lexicon's terms as user words; built once, shared by every segment.

    jieba's dictionary takes about half a second to load. warm_up() loads it in a background
    thread, which costs nothing while whisper decodes (CTranslate2 releases the GIL) but does
    while the model loads (measured): the pipeline calls it once the model is in memory."""

    def __init__(self, user_words: Iterable[str] = (), cache_dir: Path | None = None):
        self._words = tuple(user_words)
        self._cache_dir = cache_dir or default_cache_dir()
        self._jieba = BackgroundLoad(self._build, "jieba-init")

    def warm_up(self) -> None:
        self._jieba.start()

    def _build(self):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer(dictionary=str(trimmed_dictionary(self._cache_dir)))
        tokenizer.tmp_dir = str(self._cache_dir / "jieba")  # its prefix-dictionary cache, beside ours
        tokenizer.initialize()
        for word in self._words:
            # A high frequency makes jieba prefer the whole term over a split.
            tokenizer.add_word(word, freq=200_000)
        return tokenizer

    def tokenize(self, text: str) -> tuple[str, ...]:
        # HMM off: on ASR text with errors it glues unrelated characters into invented words.
        return tuple(t for t in self._jieba.get().cut(text, HMM=False) if t.strip())


@dataclass(frozen=True)
class SegmentOptions:
    pause_s: float = 0.6  # a silence this long between words ends a sentence
    soft_min_chars: int = 12  # a comma ends a sentence once it is at least this long
    max_chars: int = 48  # longer sentences are cut at their longest pause
    # A sentence that starts within this long after the previous one ended is read with it for
    # negations (Segment.before): talk runs on across cuts that short.
    context_gap_s: float = 1.0


def _clean(text: str) -> str:
    return normalize_text(text).strip(_EDGE_PUNCT)


class Segmenter:
    def __init__(self, tokenizer: Tokenizer, options: SegmentOptions = SegmentOptions()):
        self.tokenizer = tokenizer
        self.options = options

    def segment_text(self, text: str, start_s: float = 0.0, end_s: float = 0.0) -> Segment:
        clean = _clean(text)
        return Segment(start_s=start_s, end_s=end_s, text=clean, tokens=self.tokenizer.tokenize(clean))

    def segments(self, utterances: Iterable[Utterance]) -> Iterator[Segment]:
        """A second hearing (Utterance.heard_again) reads, as `before`, the first hearing's sentence
        that ended before it began, and is no one's `before`: the talk after it was heard once."""
        recent: deque[Segment] = deque(maxlen=RECENT_SENTENCES)  # first hearings, newest last
        for utterance in utterances:
            previous = recent[-1] if recent else None
            if utterance.heard_again:
                previous = next((s for s in reversed(recent) if s.end_s <= utterance.start_s + 0.1), None)
            for segment in self.split(utterance):
                if previous is not None and segment.start_s - previous.end_s <= self.options.context_gap_s:
                    segment = replace(segment, before=previous.text)
                yield segment
                previous = segment
                if not utterance.heard_again:
                    recent.append(segment)

    def split(self, utterance: Utterance) -> Iterator[Segment]:
        words = utterance.words or (Word(utterance.start_s, utterance.end_s, utterance.text, 1.0),)
        for group in self._groups(list(words)):
            segment = self.segment_text("".join(w.text for w in group), group[0].start_s, group[-1].end_s)
            if utterance.heard_again:
                segment = replace(segment, heard_again=True)
            if segment.text:
                yield segment

    def _groups(self, words: list[Word]) -> Iterator[list[Word]]:
        o = self.options
        current: list[Word] = []
        for i, word in enumerate(words):
            current.append(word)
            length = sum(len(w.text) for w in current)
            last_char = word.text[-1:] if word.text else ""
            gap = words[i + 1].start_s - word.end_s if i + 1 < len(words) else 0.0
            if (
                last_char in SENTENCE_END
                or (last_char in SOFT_BREAK and length >= o.soft_min_chars)
                or (gap >= o.pause_s and length >= 2)
            ):
                yield from self._cap(current)
                current = []
        if current:
            yield from self._cap(current)

    def _cap(self, words: list[Word]) -> Iterator[list[Word]]:
        """Cut an over-long sentence at its longest pause, recursively."""
        if sum(len(w.text) for w in words) <= self.options.max_chars or len(words) < 2:
            yield words
            return
        gaps = [words[i + 1].start_s - words[i].end_s for i in range(len(words) - 1)]
        # Prefer pauses near the middle so both halves stay claim-sized.
        middle = (len(words) - 1) / 2
        cut = max(range(len(gaps)), key=lambda i: (gaps[i], -abs(i - middle))) + 1
        yield from self._cap(words[:cut])
        yield from self._cap(words[cut:])
