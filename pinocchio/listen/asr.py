"""Speech to text with faster-whisper: Simplified Chinese, word timestamps, VAD, and guards
that keep whisper's invented text (boilerplate on music, repetition loops, prompt echo) out of
detection."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pinocchio.core.errors import ModelError
from pinocchio.core.records import AudioChunk, Utterance, Word
from pinocchio.core.text import to_simplified
from pinocchio.listen.context import kept_after
from pinocchio.listen.packing import PackedDecoder, PackOptions, lay_out, owner, pack_audio

if TYPE_CHECKING:
    from pinocchio.listen.streaming import StreamingTranscriber, StreamOptions

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MAX_TOKENS_PER_S = 12  # whisper's tokens for a second of fast Mandarin, with room to spare
SAMPLING_SEED = 20261125
# A packed window whose audio runs this far past the end of its last word was not heard (whisper
# moved on to the next window, or ended the transcript, before its speech was over).
UNHEARD_TAIL_S = 1.0
# Batched windows are encoded up to the longest one's audio and this much more. Whisper was trained
# on 30 s windows and hears a short input worse: five of the demo's live windows in one batch, a 2 s
# margin heard 最后五单 as 最轰轰单 and 治糖尿病 as 汁糖腰片, 8 s heard both (in other company it
# took 10 s, at the cost of a pack). Six demo feeds (benchmarks/live.py): with 6 s 48/48 claims in
# three runs of four at whisper busy 51-73 %, with 2 s 45-47/48 at 45-53 %, with 10 s 47/48 and
# 48/48 at 80-81 %.
BATCH_MARGIN_S = 6.0
BATCH_ROUNDS = 3  # a batched window decoded again from where whisper stopped, at most twice
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
    return tuple(bare_text(ln) for ln in lines if ln and not ln.startswith("#"))


DEVICES = ("cpu", "cuda", "auto")


def compute_type_for(device: str, compute_type: str = "") -> str:
    """The CTranslate2 compute type: as asked, else int8 on a CPU and float16 on CUDA."""
    if compute_type:
        return compute_type
    return "int8" if device == "cpu" else "float16" if device == "cuda" else "default"


def fitted_frames(features: np.ndarray, margin_s: float) -> int:
    """How many of a padded window's feature frames the encoder needs: the audio's own (faster-
    whisper pads a window to 30 s with all-zero frames after the log-mel, which speech never is)
    rounded up to a second, and `margin_s` of the padding after it."""
    spoken = np.flatnonzero(np.any(features != 0, axis=0))
    content = int(spoken[-1]) + 1 if spoken.size else 0
    per_second = 100  # whisper's frames a second
    return min(features.shape[-1], -(-content // per_second) * per_second + round(margin_s * per_second))


def load_whisper(model_dir: Path, cpu_threads: int, device: str = "cpu", compute_type: str = "",
                 encoder_margin_s: float | None = None):
    import ctranslate2
    from faster_whisper import (
        WhisperModel,  # imported here: loading ctranslate2 costs start-up time
    )

    class FittedEncoderWhisper(WhisperModel):
        """Whisper's encoder always runs on a 30 s window, most of it padding for a live
        utterance or a pack of a few: encoded instead up to the audio's end and `encoder_margin_s`
        more, it costs a fraction (benchmarks/live.py; README, live worker). CTranslate2 takes the
        shorter input; whisper was trained on the full window, hence the margin, and the option."""

        def encode(self, features):
            if encoder_margin_s is not None and getattr(features, "ndim", 0) == 2:
                features = features[:, :fitted_frames(features, encoder_margin_s)]
            return super().encode(features)

    if device not in DEVICES:
        raise ModelError(f"device '{device}' is not one of: {', '.join(DEVICES)}")
    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise ModelError("device 'cuda': no CUDA device is visible here (use --device cpu)")
    try:
        return FittedEncoderWhisper(str(model_dir), device=device, compute_type=compute_type_for(device, compute_type),
                                    cpu_threads=cpu_threads)
    except (RuntimeError, ValueError) as exc:  # an unsupported compute type, a device that fails to start
        raise ModelError(f"{model_dir}: whisper cannot run on {device} ({str(exc).splitlines()[0]})") from None


def _seed_sampler() -> None:
    """When a decode fails whisper's checks, faster-whisper retries it sampling at a higher
    temperature; with an unseeded generator the same recording gave different words from one run
    to the next (measured on the demo's live path). Seeded, a scan can be reproduced."""
    import ctranslate2

    ctranslate2.set_random_seed(SAMPLING_SEED)


def bare_text(text: str) -> str:
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
        self.prompt_bare = bare_text(self.options.initial_prompt)

    def reason_to_drop(self, text: str, start_s: float, end_s: float, avg_logprob: float, no_speech_prob: float,
                       compression_ratio: float, mean_word_probability: float, prompt_bare: str | None = None) -> str | None:
        o = self.options
        prompt_bare = self.prompt_bare if prompt_bare is None else prompt_bare
        bare = bare_text(text)
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
        self._changed = threading.Condition()  # its lock guards the queue; waiters hear every change
        self._waiting: deque[threading.Event] = deque()

    @property
    def queued(self) -> int:
        """Callers in the queue, the one whose turn it is included (the metrics show it)."""
        with self._changed:
            return len(self._waiting)

    def wait_until_queued(self, count: int, timeout_s: float) -> bool:
        """Block until `count` callers are in the queue; False if that took longer than `timeout_s`."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._waiting) == count, timeout=timeout_s)

    @contextmanager
    def turn(self):
        mine = threading.Event()
        with self._changed:
            self._waiting.append(mine)
            if len(self._waiting) == 1:
                mine.set()
            self._changed.notify_all()
        mine.wait()
        try:
            yield
        finally:
            with self._changed:
                self._waiting.popleft()
                if self._waiting:
                    self._waiting[0].set()
                self._changed.notify_all()


class SpeechToText(Protocol):
    """What the pipeline needs of a transcriber: batch utterances from chunks, and a streaming
    transcriber for live audio. `Transcriber` is whisper; tests script one (tests/scripted.py)."""

    options: AsrOptions
    real_time_factor: float
    audio_s: float

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]: ...

    def streaming(self, options: "StreamOptions") -> "LiveTranscriber": ...


class LiveTranscriber(Protocol):
    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]: ...


class Transcriber:
    """Turns audio chunks into guarded, Simplified-Chinese utterances with word timestamps.
    Safe to share between threads: decodes take turns (FairTurns)."""

    def __init__(self, whisper_model, options: AsrOptions, boilerplate: tuple[str, ...] = (),
                 pack_options: PackOptions = PackOptions()):
        self.model = whisper_model
        self.options = options
        self.guard = HallucinationGuard(options, boilerplate)
        self.turns = FairTurns()
        self.audio_s = 0.0  # audio decoded so far, and the wall time it took: the real-time factor
        self.decode_s = 0.0
        self.pack_options = pack_options
        self.repacked = 0  # packed windows whisper skipped and that were decoded again
        self._packer: PackedDecoder | None = None
        self._packer_lock = threading.Lock()

    @property
    def real_time_factor(self) -> float:
        return self.decode_s / self.audio_s if self.audio_s else 0.0

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]:
        o = self.options
        for window in windows(chunks, o.window_s, o.cut_search_s):
            yield from self.transcribe_window(window)

    def streaming(self, options: "StreamOptions") -> "StreamingTranscriber":
        """The live path over this model: utterances committed as the audio arrives; with
        `options.pack`, every feed's windows go through the process's one `PackedDecoder`."""
        from pinocchio.listen.streaming import StreamingTranscriber

        return StreamingTranscriber(self.packer if options.pack else self, options)

    @property
    def packer(self) -> "PackedDecoder":
        with self._packer_lock:
            if self._packer is None:
                self._packer = PackedDecoder(self, self.pack_options)
            return self._packer

    def transcribe_window(self, window: AudioChunk, keep_from_s: float | None = None, prompt: str | None = None,
                          temperatures: tuple[float, ...] | None = None, beam_size: int | None = None) -> list[Utterance]:
        """Utterances of one window; with `keep_from_s`, the audio before it is context only and
        words said (mostly) before it are left out. `prompt`, `temperatures` and `beam_size`
        replace the configured ones for this window."""
        utterances = self._decode_alone(window, prompt, temperatures, beam_size)
        self.audio_s += _new_audio_s(window, keep_from_s)
        return kept_after(utterances, keep_from_s)

    def _decode_alone(self, window: AudioChunk, prompt: str | None, temperatures: tuple[float, ...] | None,
                      beam_size: int | None) -> list[Utterance]:
        """One whisper call over one window (padded to 30 s, as whisper was trained), every word kept."""
        with self.turns.turn():
            started = time.perf_counter()
            kwargs = self._kwargs(window.end_s - window.start_s, prompt, temperatures, beam_size)
            prompt_bare = None if prompt is None else bare_text(prompt)
            utterances = [u for u in (self._to_utterance(seg, seg.words or [], window.start_s, prompt_bare)
                                      for seg in self._decode(window.samples, kwargs)) if u is not None]
            self.decode_s += time.perf_counter() - started
        return utterances

    def transcribe_pack(self, windows: Sequence[AudioChunk], keep_from: Sequence[float | None],
                        temperatures: tuple[float, ...] | None = None, gap_s: float = 1.0,
                        beam_size: int | None = None) -> list[list[Utterance]]:
        """Several windows (of different feeds) decoded in one call: laid out with `gap_s` of
        silence between them, each gets the words that start in its own place (`packing.owner`),
        on its own clock, each word held inside its own audio.

        Whisper often ends its transcript after one window's speech, as if the audio were over,
        and skips the rest of the pack, or moves on to the next window before one's speech is over.
        A window it did not hear (no word of it, or its last word ended a second or more before its
        audio did) is decoded again with the others not heard,
        so a pack never costs a window its words; a window left alone is decoded as
        `transcribe_window`."""
        results: list[list[Utterance] | None] = [None] * len(windows)
        todo = list(range(len(windows)))
        while todo:
            if len(todo) == 1:
                results[todo[0]] = self.transcribe_window(windows[todo[0]], keep_from[todo[0]], None, temperatures,
                                                          beam_size)
                break
            decoded = self._decode_pack([windows[i] for i in todo], temperatures, gap_s, beam_size)
            if not any(heard for _, heard in decoded):  # none heard: the first alone, as heard, so the loop ends
                decoded[0] = (self._decode_pack([windows[todo[0]]], temperatures, gap_s, beam_size)[0][0], True)
            for i, (utterances, heard) in zip(todo, decoded):
                if heard:
                    results[i] = kept_after(utterances, keep_from[i])
                    self.audio_s += _new_audio_s(windows[i], keep_from[i])
            todo = [i for i, (_, heard) in zip(todo, decoded) if not heard]
            self.repacked += len(todo)
        return [r or [] for r in results]

    def transcribe_batch(self, windows: Sequence[AudioChunk], keep_from: Sequence[float | None],
                         temperatures: tuple[float, ...] | None = None, beam_size: int | None = None,
                         margin_s: float = BATCH_MARGIN_S) -> list[list[Utterance]]:
        """Several windows (of different feeds) decoded side by side in one call: each an item of
        one batch, encoded only up to the longest one's audio and `margin_s` more (whisper's
        encoder costs what it is given; CTranslate2 takes the shorter input) and decoded in
        parallel. Whisper often ends its transcript at a pause as if the audio were over: a window
        whose last word ends a second or more before its audio does is decoded again from that
        word on, with the others left so, in the next call; a window that came alone, or one
        whisper looped on, is decoded alone in whisper's 30 s window."""
        if len(windows) == 1:
            # Whisper's own 30 s window (a short input alone heard 最后五单 as 最后有单). What is left
            # of a batched window stays short: on the demo's windows, four at a time, decoding
            # those alone cost 17 % more time for the same text.
            return [self.transcribe_window(windows[0], keep_from[0], None, temperatures, beam_size)]
        from pinocchio.listen.batching import heard_again

        heard: list[list[Utterance]] = [[] for _ in windows]
        rest = list(windows)
        todo = list(range(len(windows)))
        for _ in range(BATCH_ROUNDS):
            decoded = self._decode_batch([rest[i] for i in todo], temperatures, beam_size, margin_s)
            unheard = []
            for i, utterances in zip(todo, decoded):
                if utterances is None:  # looped: whisper's own path, the window padded to 30 s
                    heard[i] += self._decode_alone(rest[i], None, temperatures, beam_size)
                    continue
                if heard[i] and utterances and heard_again(utterances[0].text, heard[i][-1].text):
                    # The last words heard again from their tail (their end, as whisper timed it, fell
                    # short of the speech), word for word or by sound: the fleet test stored 第一款美观的爽
                    # twice, end to end, and 直吃,几天无理由退货 again as 直撤,其天无理由佩服.
                    log.info("dropped words a batched window heard twice at %.1f s: %s", rest[i].start_s,
                             utterances[0].text)
                    utterances = utterances[1:]
                heard[i] += utterances
                last_end_s = max((w.end_s for u in utterances for w in u.words), default=None)
                if last_end_s is not None and rest[i].end_s - last_end_s >= UNHEARD_TAIL_S:
                    skip = int(round((last_end_s - rest[i].start_s) * SAMPLE_RATE))
                    rest[i] = AudioChunk(start_s=last_end_s, samples=rest[i].samples[skip:])
                    unheard.append(i)
            if not unheard:
                break
            self.repacked += len(unheard)
            todo = unheard
        for window, keep in zip(windows, keep_from):
            self.audio_s += _new_audio_s(window, keep)
        return [kept_after(utterances, keep) for utterances, keep in zip(heard, keep_from)]

    def _decode_batch(self, windows: Sequence[AudioChunk], temperatures: tuple[float, ...] | None,
                      beam_size: int | None, margin_s: float) -> list[list[Utterance] | None]:
        """One batched whisper call: each window's utterances on the stream's clock (None for one
        whisper looped on)."""
        from pinocchio.listen.batching import decode_batch

        return decode_batch(self, windows, temperatures, beam_size, margin_s)

    def _decode_pack(self, windows: Sequence[AudioChunk], temperatures: tuple[float, ...] | None,
                     gap_s: float, beam_size: int | None) -> list[tuple[list[Utterance], bool]]:
        """One whisper call over the windows laid out in a pack: each window's utterances on its
        own clock, and whether whisper heard it through."""
        from faster_whisper.transcribe import get_compression_ratio

        slots = lay_out([w.end_s - w.start_s for w in windows], gap_s)
        found: list[list[Utterance]] = [[] for _ in windows]
        owned = [0] * len(windows)
        last_end_s = [0.0] * len(windows)  # pack time at which each window's last word ends
        with self.turns.turn():
            started = time.perf_counter()
            kwargs = self._kwargs(slots[-1].end_s, None, temperatures, beam_size)
            # The layout is ours: whisper's voice detector would cut the gaps out and let two
            # feeds' speech touch. Each window was cut from speech by the live path's own detector.
            kwargs["vad_filter"] = False
            for seg in self._decode(pack_audio(windows, slots), kwargs):
                by_slot: dict[int, list] = {}
                for word in seg.words or []:
                    i = owner(slots, word.start)
                    by_slot.setdefault(i, []).append(word)
                    last_end_s[i] = max(last_end_s[i], word.end)
                for i, words in sorted(by_slot.items()):
                    slot = slots[i]
                    owned[i] += len(words)
                    held = [_within(w, slot.offset_s, slot.end_s) for w in words]
                    # Whisper's compression ratio is the whole pack's text: one feed's loop, or
                    # two feeds' repeated talk, would have every feed's words dropped as repetitive.
                    utterance = self._to_utterance(seg, held, windows[i].start_s - slot.offset_s,
                                                   compression_ratio=get_compression_ratio("".join(w.word for w in held)))
                    if utterance is not None:
                        found[i].append(utterance)
            self.decode_s += time.perf_counter() - started
        return [(utterances, bool(owned[i]) and slot.end_s - last_end_s[i] < UNHEARD_TAIL_S)
                for i, (slot, utterances) in enumerate(zip(slots, found))]

    def _kwargs(self, duration_s: float, prompt: str | None, temperatures: tuple[float, ...] | None,
                beam_size: int | None = None) -> dict:
        kwargs = self.options.whisper_kwargs()
        if beam_size is not None:
            kwargs["beam_size"] = beam_size
        if prompt is not None:
            kwargs["initial_prompt"] = prompt or None
        if temperatures is not None:
            kwargs["temperature"] = list(temperatures)
        if duration_s < 30:
            # A short window can only hold so much speech (Mandarin: ~5 characters a second);
            # without a bound, whisper looping on a breath decodes 448 tokens at every
            # fallback temperature, seconds of work for nothing.
            kwargs["max_new_tokens"] = int(MAX_TOKENS_PER_S * duration_s) + 12
        return kwargs

    def _decode(self, samples: np.ndarray, kwargs: dict) -> list:
        # Seeded for every window, not once per process: the same audio gives the same words
        # whatever was decoded before it (the fallback samples at higher temperatures).
        _seed_sampler()
        segments, _info = self.model.transcribe(samples, **kwargs)
        return list(segments)  # decoded here, inside the turn and after the seed

    def _to_utterance(self, seg, raw_words: Sequence, offset_s: float, prompt_bare: str | None = None,
                      compression_ratio: float | None = None) -> Utterance | None:
        """The segment's words as an utterance on the stream's clock, or None when the guard drops
        them; `compression_ratio` replaces the segment's (which whisper takes over its whole text)."""
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
                                           seg.compression_ratio if compression_ratio is None else compression_ratio,
                                           mean_p, prompt_bare)
        if reason is not None:
            self.guard.rejected += 1
            log.info("dropped whisper text at %.1f s (%s): %s", start_s, reason, text)
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


def _new_audio_s(window: AudioChunk, keep_from_s: float | None) -> float:
    """The seconds of a window that were new (not context): what the real-time factor counts."""
    return window.end_s - window.start_s if keep_from_s is None else window.end_s - keep_from_s


def _within(word, low_s: float, high_s: float):
    """A word of a pack with its times held inside its own window's audio (whisper may stretch an
    edge word into the silence beside it)."""
    start = min(max(word.start, low_s), high_s)
    return replace(word, start=start, end=min(max(word.end, start), high_s))


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
