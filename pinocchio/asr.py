"""Speech to text with faster-whisper: Simplified Chinese, word timestamps, VAD, and guards
that keep whisper's invented text (boilerplate on music, repetition loops, prompt echo) out of
detection."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pinocchio.records import AudioChunk, Utterance, Word
from pinocchio.segment import to_simplified

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MAX_TOKENS_PER_S = 12  # whisper's tokens for a second of fast Mandarin, with room to spare
SAMPLING_SEED = 20261125
KEEP_MARGIN_S = 0.1  # a context word's end may run this far past the boundary and still be context
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class AsrOptions:
    """Everything that decides what whisper writes; it travels with the results as provenance."""

    model: str = "base"
    language: str = "zh"
    beam_size: int = 5
    vad_filter: bool = True
    vad_min_silence_ms: int = 2000  # faster-whisper's default; 500 and 1000 measured worse on the demo
    # Off by default: measured on the real clips, every prompt tried made whisper base invent text
    # after the speech (CER 0.20 -> 0.34..0.47) and cost 3-4x the time; OpenCC gives the script.
    initial_prompt: str = ""
    # Conditioning on earlier text is how whisper falls into repetition loops on long streams.
    condition_on_previous_text: bool = False
    # Whisper's retries at higher temperatures when a decode fails its checks (faster-whisper's default).
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    # Long recordings are transcribed in windows cut at the quietest moment near each boundary.
    window_s: float = 300.0
    cut_search_s: float = 10.0
    # Guards, after whisper's own rule (no speech and low confidence together).
    no_speech_prob_max: float = 0.6
    avg_logprob_min: float = -1.0
    compression_ratio_max: float = 2.4
    min_word_probability: float = 0.25
    # Invented text gets squeezed into the last few hundredths of a second; people say < 10 chars/s.
    max_chars_per_s: float = 15.0

    def whisper_kwargs(self) -> dict:
        return dict(
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=self.vad_filter,
            vad_parameters={"min_silence_duration_ms": self.vad_min_silence_ms},
            initial_prompt=self.initial_prompt or None,
            condition_on_previous_text=self.condition_on_previous_text,
            temperature=list(self.temperatures),
            word_timestamps=True,
        )


def load_prompt(prompts_dir: Path) -> str:
    path = prompts_dir / "asr_initial_prompt.txt"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def load_hallucinations(prompts_dir: Path) -> tuple[str, ...]:
    path = prompts_dir / "asr_hallucinations.txt"
    if not path.is_file():
        return ()
    lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return tuple(_bare(ln) for ln in lines if ln and not ln.startswith("#"))


def load_whisper(model_dir: Path, cpu_threads: int):
    import ctranslate2
    from faster_whisper import WhisperModel  # imported here: loading ctranslate2 costs start-up time

    # When a decode fails whisper's checks, faster-whisper retries it sampling at a higher
    # temperature; with an unseeded generator the same recording gave different words from one
    # run to the next (measured on the demo's live path). Seeded, a scan can be reproduced.
    ctranslate2.set_random_seed(SAMPLING_SEED)
    return WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads)


def _bare(text: str) -> str:
    """Text without punctuation or spaces, lower-cased: what the guards compare."""
    return _PUNCT.sub("", text).lower()


_LOOP = re.compile(r"(.{2,12}?)\1{3,}")


def collapse_loops(text: str) -> tuple[str, int]:
    """Replace a unit repeated four or more times in a row by one copy; return the text and
    how many characters were removed. Whisper loops like this on music and long silence."""
    removed = 0

    def one(match: re.Match) -> str:
        nonlocal removed
        removed += len(match.group(0)) - len(match.group(1))
        return match.group(1)

    return _LOOP.sub(one, text), removed


@dataclass
class HallucinationGuard:
    options: AsrOptions
    boilerplate: tuple[str, ...] = ()
    prompt_bare: str = field(init=False)
    rejected: int = 0

    def __post_init__(self) -> None:
        self.prompt_bare = _bare(self.options.initial_prompt)

    def reason_to_drop(self, text: str, start_s: float, end_s: float, avg_logprob: float, no_speech_prob: float,
                       compression_ratio: float, mean_word_probability: float, prompt_bare: str | None = None) -> str | None:
        o = self.options
        prompt_bare = self.prompt_bare if prompt_bare is None else prompt_bare
        bare = _bare(text)
        if not bare:
            return "no words"
        if no_speech_prob > o.no_speech_prob_max and avg_logprob < o.avg_logprob_min:
            return "no speech"
        if compression_ratio > o.compression_ratio_max:
            return "repetitive"
        if any(phrase and phrase in bare for phrase in self.boilerplate):
            return "boilerplate"
        if len(bare) >= 6 and prompt_bare and bare in prompt_bare:
            return "prompt echo"
        duration_s = max(end_s - start_s, 0.05)
        if len(bare) >= 4 and len(bare) / duration_s > o.max_chars_per_s:
            return "implausibly fast"
        if mean_word_probability < o.min_word_probability:
            return "low confidence"
        collapsed, removed = collapse_loops(bare)
        if removed > len(collapsed):
            return "repetition loop"
        return None


def _window_cut(samples: np.ndarray, search_s: float) -> int:
    """Index of the quietest 100 ms frame in the last `search_s` seconds: a cut there rarely splits a word."""
    frame = SAMPLE_RATE // 10
    start = max(0, len(samples) - int(search_s * SAMPLE_RATE))
    tail = samples[start: len(samples) - (len(samples) - start) % frame]
    if len(tail) < frame:
        return len(samples)
    energy = np.square(tail.reshape(-1, frame)).mean(axis=1)
    return start + int(np.argmin(energy)) * frame + frame // 2


def windows(chunks: Iterable[AudioChunk], window_s: float, cut_search_s: float) -> Iterator[AudioChunk]:
    """Regroup decoded chunks into transcription windows of about `window_s` seconds."""
    buffer: list[np.ndarray] = []
    buffered = 0
    start_s = 0.0
    limit = int(window_s * SAMPLE_RATE)
    for chunk in chunks:
        if not buffer:
            start_s = chunk.start_s
        buffer.append(chunk.samples)
        buffered += len(chunk.samples)
        if buffered >= limit:
            samples = np.concatenate(buffer)
            cut = _window_cut(samples, cut_search_s)
            yield AudioChunk(start_s=start_s, samples=samples[:cut])
            rest = samples[cut:]
            start_s += cut / SAMPLE_RATE
            buffer, buffered = ([rest], len(rest)) if len(rest) else ([], 0)
    if buffered:
        yield AudioChunk(start_s=start_s, samples=np.concatenate(buffer))


class FairTurns:
    """First come, first served use of the one whisper model that every feed of a process shares.
    A plain lock lets one busy feed take it again and again while another waits; here each caller
    queues, so a feed waits for at most one decode of each other feed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()

    @contextmanager
    def turn(self):
        mine = threading.Event()
        with self._lock:
            self._waiting.append(mine)
            if len(self._waiting) == 1:
                mine.set()
        mine.wait()
        try:
            yield
        finally:
            with self._lock:
                self._waiting.popleft()
                if self._waiting:
                    self._waiting[0].set()


class Transcriber:
    """Turns audio chunks into guarded, Simplified-Chinese utterances with word timestamps.
    Safe to share between threads: decodes take turns (FairTurns)."""

    def __init__(self, whisper_model, options: AsrOptions, boilerplate: tuple[str, ...] = ()):
        self.model = whisper_model
        self.options = options
        self.guard = HallucinationGuard(options, boilerplate)
        self.turns = FairTurns()
        self.audio_s = 0.0  # audio decoded so far, and the wall time it took: the real-time factor
        self.decode_s = 0.0

    @property
    def real_time_factor(self) -> float:
        return self.decode_s / self.audio_s if self.audio_s else 0.0

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]:
        o = self.options
        for window in windows(chunks, o.window_s, o.cut_search_s):
            yield from self.transcribe_window(window)

    def transcribe_window(self, window: AudioChunk, keep_from_s: float | None = None,
                          prompt: str | None = None, temperatures: tuple[float, ...] | None = None) -> list[Utterance]:
        """Utterances of one window; with `keep_from_s`, the audio before it is context only and
        words said (mostly) before it are left out. `prompt` and `temperatures` replace the
        configured ones for this window."""
        with self.turns.turn():
            started = time.perf_counter()
            kwargs = self.options.whisper_kwargs()
            if prompt is not None:
                kwargs["initial_prompt"] = prompt or None
            if temperatures is not None:
                kwargs["temperature"] = list(temperatures)
            if window.end_s - window.start_s < 30:
                # A short window can only hold so much speech (Mandarin: ~5 characters a second);
                # without a bound, whisper looping on a breath decodes 448 tokens at every
                # fallback temperature, seconds of work for nothing.
                kwargs["max_new_tokens"] = int(MAX_TOKENS_PER_S * (window.end_s - window.start_s)) + 12
            segments, _info = self.model.transcribe(window.samples, **kwargs)
            prompt_bare = None if prompt is None else _bare(prompt)
            utterances = [u for u in (self._to_utterance(seg, window.start_s, prompt_bare) for seg in segments)
                          if u is not None]
            self.decode_s += time.perf_counter() - started
            self.audio_s += len(window.samples) / SAMPLE_RATE if keep_from_s is None else window.end_s - keep_from_s
        if keep_from_s is None:
            return utterances
        kept = []
        for u in utterances:
            # A word is the new stretch's when it ends past the boundary. Not by its midpoint:
            # whisper stretches the first word after a pause back into the silence (不能 timed
            # 19.33-19.91 for a boundary at 19.54), while word ends stay close to the speech.
            # Its start is held at the boundary, where the stretch before it ended.
            words = tuple(replace(w, start_s=max(w.start_s, round(keep_from_s, 3)))
                          for w in u.words if w.end_s > keep_from_s + KEEP_MARGIN_S)
            if words:
                kept.append(replace(u, start_s=words[0].start_s, words=words, text="".join(w.text for w in words)))
        return kept

    def _to_utterance(self, seg, offset_s: float, prompt_bare: str | None = None) -> Utterance | None:
        raw_words = seg.words or []
        words = tuple(
            Word(start_s=round(offset_s + w.start, 3), end_s=round(offset_s + w.end, 3),
                 text=to_simplified(w.word.strip()), probability=float(w.probability))
            for w in raw_words
            if w.word.strip()
        )
        text = "".join(w.text for w in words) if words else to_simplified(seg.text.strip())
        mean_p = float(np.mean([w.probability for w in words])) if words else 1.0
        start_s = words[0].start_s if words else offset_s + seg.start
        end_s = words[-1].end_s if words else offset_s + seg.end
        reason = self.guard.reason_to_drop(text, start_s, end_s, seg.avg_logprob, seg.no_speech_prob,
                                           seg.compression_ratio, mean_p, prompt_bare)
        if reason is not None:
            self.guard.rejected += 1
            log.info("dropped whisper text at %.1f s (%s): %s", offset_s + seg.start, reason, text)
            return None
        words = _collapse_word_loops(words)
        return Utterance(
            start_s=round(start_s, 3),
            end_s=round(end_s, 3),
            text="".join(w.text for w in words) if words else text,
            words=words,
            avg_logprob=float(seg.avg_logprob),
            no_speech_prob=float(seg.no_speech_prob),
        )


def _collapse_word_loops(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Drop words that only repeat the run before them four or more times (a shorter loop than the
    whole-utterance guard catches), keeping the first copy and its timestamps."""
    texts = [w.text for w in words]
    keep = [True] * len(words)
    for size in range(1, 7):
        i = 0
        while i + size * 4 <= len(texts):
            unit = texts[i: i + size]
            repeats = 1
            while texts[i + repeats * size: i + (repeats + 1) * size] == unit:
                repeats += 1
            if repeats >= 4 and len("".join(unit)) >= 2:
                for j in range(i + size, i + repeats * size):
                    keep[j] = False
                i += repeats * size
            else:
                i += 1
    return tuple(w for w, k in zip(words, keep) if k)


@dataclass(frozen=True)
class StreamOptions:
    """When live audio becomes committed text. Measured on this CPU (MODELS.md): decoding each
    utterance once at a pause costs ~0.15 s per second of audio, re-decoding a rolling buffer
    every second (LocalAgreement) 0.7-0.9 s, so utterances are cut at pauses, with a cap. Short
    pauses and a short cap keep a claim's latency low (streamers rarely pause for long: at 0.6 s /
    10 s the demo's p95 was 6-8 s); the seconds before each utterance are decoded with it as
    context, which is what keeps whisper accurate on such short stretches. A cut this short can
    part a negation from its claim (不能 | 治病): the segmenter hands detection the sentence
    before (Segment.before), which is read for that."""

    endpoint_silence_s: float = 0.3  # this much non-speech after speech ends the utterance
    max_utterance_s: float = 6.0  # talk without such a pause is committed at this length anyway
    process_every_s: float = 0.5  # how often the voice detector looks at new audio
    keep_silence_s: float = 1.0  # audio kept before speech starts, so its first word is whole
    context_s: float = 4.0  # audio before an utterance decoded with it (its words are not kept)
    # "pause": commit each utterance when it ends. "agreement": also re-decode the speech in
    # progress every agreement_every_s and commit the words two decodes in a row agree on
    # (LocalAgreement-2, as whisper_streaming); earlier text inside long talk, several decodes each.
    commit: str = "pause"
    agreement_every_s: float = 1.0
    # The last this many committed characters as whisper's text prompt (0: none; see README).
    prompt_chars: int = 0
    # No retries at higher temperatures: on a few seconds of audio they turned 不能治病 into 找你
    # 找你 找你. Live path, 8 real clips and the demo: CER 0.222 against 0.244, RTF 0.27 against 0.30.
    temperatures: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        if self.commit not in ("pause", "agreement"):
            raise ValueError(f"commit must be 'pause' or 'agreement', not {self.commit!r}")


class StreamingTranscriber:
    """Push API for live audio, in the style of whisper_streaming: the caller owns the clock.
    insert_audio() adds samples, process() returns utterances committed so far, finish() flushes.
    The buffer holds at most one utterance in progress (bounded by max_utterance_s), so hours of
    audio never grow it; each committed utterance is decoded once."""

    def __init__(self, transcriber: Transcriber, options: StreamOptions = StreamOptions()):
        self.transcriber = transcriber
        self.options = options
        self._buffer = np.zeros(0, dtype=np.float32)
        self._start_s = 0.0  # stream time of the buffer's first sample
        self._done_s = 0.0  # stream time up to which audio has been committed
        self._hypothesis: list[tuple[Word, Utterance]] = []  # agreement: the last decode's uncommitted words
        self._hypothesis_at_s = 0.0  # stream time of the end of the audio it was decoded from
        self._recent = ""  # committed text, for the prompt

    @property
    def buffered_s(self) -> float:
        return len(self._buffer) / SAMPLE_RATE

    def insert_audio(self, chunk: AudioChunk) -> list[Utterance]:
        """Add a chunk. A gap in the stream (a reconnect) first flushes what was buffered, since
        speech cannot run across it; those utterances are returned."""
        if not len(chunk.samples):  # the feed broke off: nothing said before can go on after
            return self.finish()
        flushed: list[Utterance] = []
        end_s = self._start_s + self.buffered_s
        if len(self._buffer) and chunk.start_s > end_s + 0.5:
            flushed = self.finish()
        if not len(self._buffer):
            self._start_s = chunk.start_s
        self._buffer = np.concatenate([self._buffer, chunk.samples])
        return flushed

    def _speech(self) -> list[dict]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        vad = VadOptions(min_silence_duration_ms=int(self.options.endpoint_silence_s * 1000),
                         max_speech_duration_s=self.options.max_utterance_s, speech_pad_ms=200)
        return get_speech_timestamps(self._buffer, vad)

    def process(self, final: bool = False) -> list[Utterance]:
        o = self.options
        committed: list[Utterance] = []
        buffer_s = self.buffered_s
        done_s = max(0.0, self._done_s - self._start_s)  # buffer seconds already committed
        regions = [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in self._speech()]
        for start_s, end_s in regions:
            if end_s <= done_s + 0.05:
                continue  # context audio, committed before
            start_s = max(start_s, done_s)
            ended = buffer_s - end_s >= o.endpoint_silence_s
            if not (final or ended or end_s - start_s >= o.max_utterance_s - 0.5):
                if o.commit == "agreement":
                    agreed = self._agree(start_s, buffer_s)
                    if agreed:
                        committed.extend(agreed)
                        done_s = agreed[-1].end_s - self._start_s
                break
            committed.extend(self._decode(start_s, end_s))
            self._hypothesis = []
            done_s = end_s
        if final:
            done_s = buffer_s
        if o.prompt_chars and committed:
            self._recent = (self._recent + "".join(u.text for u in committed))[-o.prompt_chars:]
        self._done_s = self._start_s + done_s
        # Keep the context before the speech in progress (or before now), nothing older.
        pending = [start for start, end in regions if end > done_s + 0.05]
        keep_from = max(done_s - o.context_s,
                        (pending[0] if pending else buffer_s) - max(o.keep_silence_s, o.context_s))
        cut = max(0, int(keep_from * SAMPLE_RATE)) if not final else len(self._buffer)
        self._buffer = self._buffer[cut:]
        self._start_s += cut / SAMPLE_RATE
        return committed

    def _decode(self, start_s: float, end_s: float) -> list[Utterance]:
        """The utterances said between two buffer times. Whisper hears a short utterance much
        better with the seconds before it; their words were committed already and are dropped."""
        o = self.options
        context_from = max(0.0, start_s - o.context_s)
        window = AudioChunk(start_s=self._start_s + context_from,
                            samples=self._buffer[int(context_from * SAMPLE_RATE):int(end_s * SAMPLE_RATE)])
        prompt = self._recent if o.prompt_chars else None
        return self.transcriber.transcribe_window(window, keep_from_s=self._start_s + start_s, prompt=prompt,
                                                  temperatures=o.temperatures)

    def _agree(self, start_s: float, now_s: float) -> list[Utterance]:
        """LocalAgreement-2 on the speech in progress: decode it again once agreement_every_s of new
        audio has come, and commit the words this decode and the last one agree on, from the start.
        The newest word is never committed: it may be cut off mid-syllable."""
        if self._start_s + now_s - self._hypothesis_at_s < self.options.agreement_every_s:
            return []
        self._hypothesis_at_s = self._start_s + now_s
        words = [(w, u) for u in self._decode(start_s, now_s) for w in u.words]
        previous = self._hypothesis
        agreed = 0
        while (agreed < min(len(previous), len(words) - 1)
               and _bare(previous[agreed][0].text) == _bare(words[agreed][0].text)):
            agreed += 1
        self._hypothesis = words[agreed:]
        committed: list[tuple[Utterance, list[Word]]] = []
        for word, source in words[:agreed]:
            if committed and committed[-1][0] is source:
                committed[-1][1].append(word)
            else:
                committed.append((source, [word]))
        return [replace(source, start_s=kept[0].start_s, end_s=kept[-1].end_s,
                        text="".join(w.text for w in kept), words=tuple(kept)) for source, kept in committed]

    def finish(self) -> list[Utterance]:
        return self.process(final=True) if len(self._buffer) else []

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]:
        """The same push API driven by an iterator of chunks (a live feed, or a file replayed)."""
        since_check = 0.0
        for chunk in chunks:
            yield from self.insert_audio(chunk)
            since_check += len(chunk.samples) / SAMPLE_RATE
            if since_check >= self.options.process_every_s:
                since_check = 0.0
                yield from self.process()
        yield from self.finish()
