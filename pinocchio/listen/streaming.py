"""Live audio to committed utterances: the push API of whisper_streaming (the caller owns the
clock), cutting speech at pauses with the voice detector and decoding each utterance once with the
seconds before it as context; LocalAgreement-2 as an option."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Protocol

import numpy as np

from pinocchio.core.errors import ConfigError
from pinocchio.core.records import AudioChunk, Utterance, Word
from pinocchio.core.settings import Settings
from pinocchio.listen.asr import SAMPLE_RATE, bare_text

COMMIT_POLICIES = ("pause", "agreement")
SPEECH_PAD_S = 0.2  # the voice detector widens each stretch of speech by this much on either side
HEARD_SLACK_S = 0.2  # two hearings of one word may be timed this far apart


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
    # How often the voice detector looks at new audio: a pause is seen this much later at worst.
    # 0.5 s cost the demo's claims 0.25 s of latency on average; a look reads only the audio not
    # committed yet, so looking more often costs little (MODELS.md: 1.7 ms a second of audio).
    process_every_s: float = 0.2
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
    # Whisper's beam on the live path (None: the batch path's, 5). Greedy (1) is cheaper but
    # mishears more, measured with benchmarks/live.py on 2 cores, packed: beam 5 held 3 feeds with
    # every planted claim found (24/24); greedy held 4 but missed claims (31/32; 7/8 even on one
    # feed: 最后五单 heard as 最后五顶), so the default keeps the beam (`PINOCCHIO_LIVE_BEAM`).
    beam_size: int | None = None
    # Decode this feed's windows together with other feeds' (listen/packing.py): one whisper call
    # for several utterances. Off: each window is its own call (the decoder before packing).
    pack: bool = True
    # With packing, how many of this feed's windows may wait for the decoder while the feed reads
    # on (its results are handed on in order as they come); two waiting together are decoded as
    # one (listen/packing.py). Three let runs of three form, which whisper heard worse (the real
    # clips, 4 feeds, 5 runs each: CER 0.254 against 0.213). More would also hide a backlog: the
    # feed's lag is the age of the audio it reads, so a feed the decoder cannot keep up with must
    # stop reading and show it.
    windows_in_flight: int = 2
    # Whisper hears the seconds before each utterance again, as its context. Where that second
    # hearing of speech committed before differs from the first, it is handed on too (marked
    # heard_again), and detection keeps what it finds there that the first hearing missed. It costs
    # no decoding. Six demo feeds: the one sentence whisper base kept mishearing (最后五单 as 最红午单,
    # 卖完马上下架 as 买完马上下奖) it heard right as the next one's context (README, Live worker).
    hear_again: bool = True

    def __post_init__(self) -> None:
        if self.commit not in COMMIT_POLICIES:
            raise ValueError(f"commit must be one of {', '.join(COMMIT_POLICIES)}, not {self.commit!r}")
        if self.windows_in_flight < 1:
            raise ValueError(f"windows_in_flight must be at least 1, not {self.windows_in_flight}")

    @classmethod
    def from_settings(cls, settings: Settings) -> "StreamOptions":
        try:
            return cls(endpoint_silence_s=settings.live_pause_s, max_utterance_s=settings.live_max_utterance_s,
                       commit=settings.live_commit, pack=settings.live_pack, beam_size=settings.live_beam,
                       hear_again=settings.live_hear_again)
        except ValueError as exc:
            raise ConfigError(f"live settings: {exc}") from None


def heard_otherwise(once: str, again: str) -> bool:
    """Whether two hearings of the same speech differ in what was said: words heard otherwise, or
    words one of them has between words both have. Words one has only at either end are the
    edges timed apart (a word at a cut, on one side of it in one hearing and on the other in the
    other), not other words."""
    for op, i1, i2, j1, j2 in SequenceMatcher(None, once, again, autojunk=False).get_opcodes():
        at_edge = (i1 == 0 and j1 == 0) or (i2 == len(once) and j2 == len(again))
        if op == "replace" or (op in ("insert", "delete") and not at_edge):
            return True
    return False


class WindowDecoder(Protocol):
    """What decodes a live window: the `Transcriber` itself, or the process's `PackedDecoder`."""

    def transcribe_window(self, window: AudioChunk, keep_from_s: float | None = None, prompt: str | None = None,
                          temperatures: tuple[float, ...] | None = None,
                          beam_size: int | None = None) -> list[Utterance]: ...


class StreamingTranscriber:
    """Push API for live audio, in the style of whisper_streaming: the caller owns the clock.
    insert_audio() adds samples, process() returns utterances committed so far, finish() flushes.
    The buffer holds at most one utterance in progress (bounded by max_utterance_s), so hours of
    audio never grow it; each committed utterance is decoded once.

    With a decoder that can `submit` (the packed decoder) and pause commits without a text prompt,
    a window is queued and the feed reads on: its utterances come out of a later call, in order,
    and at most `windows_in_flight` wait at once. Agreement and prompts need each decode's text
    before the next, so they wait for it.

    Each window's context is speech committed before, heard a second time: where whisper heard it
    otherwise, that hearing comes out too, marked `heard_again`, before the window's own."""

    def __init__(self, decoder: WindowDecoder, options: StreamOptions = StreamOptions()):
        self.decoder = decoder
        self.options = options
        self._buffer = np.zeros(0, dtype=np.float32)
        self._start_s = 0.0  # stream time of the buffer's first sample
        self._done_s = 0.0  # stream time up to which audio has been committed
        self._hypothesis: list[tuple[Word, Utterance]] = []  # agreement: the last decode's uncommitted words
        self._hypothesis_at_s = 0.0  # stream time of the end of the audio it was decoded from
        self._recent = ""  # committed text, for the prompt
        # Queued windows, oldest first: where each one's own speech starts, where its audio (the
        # context) starts, and its utterances.
        self._in_flight: deque[tuple[float, float, Future]] = deque()
        self._speech_from_s: float | None = None  # stream time the speech not committed yet starts at
        self._committed: deque[Utterance] = deque()  # recent first hearings, which a context may hear again
        submit = getattr(decoder, "submit", None)
        self._submit = submit if submit and options.commit == "pause" and not options.prompt_chars else None
        # Agreement decodes the speech in progress again and again: its contexts are no second hearing.
        self._hears_again = options.hear_again and options.commit == "pause"

    @property
    def buffered_s(self) -> float:
        return len(self._buffer) / SAMPLE_RATE

    @property
    def unsettled_from_s(self) -> float | None:
        """Stream time from which the audio read has not come out as utterances yet: the oldest
        window waiting for the decoder, else the speech in progress; None when all of it has (or
        was silence). A worker taking the feed over must hear it again from there. Read from other
        threads (a worker's report): a window done meanwhile only makes it err early."""
        try:
            return self._in_flight[0][0]
        except IndexError:
            return self._speech_from_s

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

    def _speech(self, from_s: float) -> list[tuple[float, float]]:
        """Stretches of speech (buffer seconds) in the buffer from `from_s` on: the context before
        it was looked at already, and each look costs in proportion to the audio it reads."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        vad = VadOptions(min_silence_duration_ms=int(self.options.endpoint_silence_s * 1000),
                         max_speech_duration_s=self.options.max_utterance_s, speech_pad_ms=int(SPEECH_PAD_S * 1000))
        first = int(from_s * SAMPLE_RATE)
        return [((first + r["start"]) / SAMPLE_RATE, (first + r["end"]) / SAMPLE_RATE)
                for r in get_speech_timestamps(self._buffer[first:], vad)]

    def process(self, final: bool = False) -> list[Utterance]:
        o = self.options
        committed: list[Utterance] = []
        buffer_s = self.buffered_s
        done_s = max(0.0, self._done_s - self._start_s)  # buffer seconds already committed
        # From a little before the committed end, so that speech running on across it is seen as such.
        regions = self._speech(max(0.0, done_s - SPEECH_PAD_S - o.endpoint_silence_s))
        for start_s, end_s in regions:
            if end_s <= done_s + 0.05:
                continue  # context audio, committed before
            start_s = max(start_s, done_s)
            # The detector closes a stretch only after endpoint_silence_s of non-speech and then
            # widens it by SPEECH_PAD_S: a stretch still open runs to the buffer's end.
            ended = buffer_s - end_s >= o.endpoint_silence_s - SPEECH_PAD_S
            if not (final or ended or end_s - start_s >= o.max_utterance_s - 0.5):
                if o.commit == "agreement":
                    agreed = self._agree(start_s, buffer_s)
                    if agreed:
                        committed.extend(agreed)
                        done_s = agreed[-1].end_s - self._start_s
                break
            committed.extend(self._commit(start_s, end_s))
            self._hypothesis = []
            done_s = end_s
        if final:
            done_s = buffer_s
        if o.prompt_chars and committed:
            self._recent = (self._recent + "".join(u.text for u in committed))[-o.prompt_chars:]
        self._done_s = self._start_s + done_s
        # Keep the context before the speech in progress (or before now), nothing older.
        pending = [start for start, end in regions if end > done_s + 0.05]
        self._speech_from_s = self._start_s + max(pending[0], done_s) if pending and not final else None
        keep_from = max(done_s - o.context_s,
                        (pending[0] if pending else buffer_s) - max(o.keep_silence_s, o.context_s))
        cut = max(0, int(keep_from * SAMPLE_RATE)) if not final else len(self._buffer)
        self._buffer = self._buffer[cut:]
        self._start_s += cut / SAMPLE_RATE
        return committed + self.collect(wait=final)

    def collect(self, wait: bool = False) -> list[Utterance]:
        """Utterances of queued windows decoded by now, in order; with `wait`, of all of them.
        Past the in-flight cap it waits for the oldest, so a feed that outruns the decoder stops."""
        ready: list[Utterance] = []
        while self._in_flight and (wait or self._in_flight[0][2].done()
                                   or len(self._in_flight) > self.options.windows_in_flight):
            ready.extend(self._heard_twice(self._in_flight[0][2].result(), self._in_flight[0][1]))
            self._in_flight.popleft()  # after its result: until then it is still unsettled
        return ready

    def _heard_twice(self, utterances: list[Utterance], window_start_s: float) -> list[Utterance]:
        """A window's utterances, after the second hearing its context gave of speech committed
        before, when that hearing differs from the first (`heard_again`); context words dropped."""
        out: list[Utterance] = []
        for utterance in utterances:
            again = self._second_hearing(utterance.context_words, window_start_s) if self._hears_again else None
            if again is not None:
                out.append(again)
            utterance = replace(utterance, context_words=())
            out.append(utterance)
            self._committed.append(utterance)
        if out:  # no later window's context reaches further back than this
            horizon = out[-1].end_s - self.options.context_s - self.options.max_utterance_s
            while self._committed and self._committed[0].end_s < horizon:
                self._committed.popleft()
        return out

    def _second_hearing(self, context: tuple[Word, ...], window_start_s: float) -> Utterance | None:
        """What whisper heard, as context, of the utterances committed whole inside that context
        (one begun before the window was heard cut off), when it is not what was committed: as an
        utterance of its own, marked heard_again. Audio whose first hearing was dropped (music,
        noise) is not heard again: the guards dropped it."""
        if not context:
            return None
        first = [u for u in self._committed if u.start_s >= window_start_s]
        if not first:
            return None
        words = tuple(w for w in context if any(u.start_s - HEARD_SLACK_S <= (w.start_s + w.end_s) / 2
                                                <= u.end_s + HEARD_SLACK_S for u in first))
        if not words or not heard_otherwise(bare_text("".join(u.text for u in first)),
                                            bare_text("".join(w.text for w in words))):
            return None
        return Utterance(start_s=words[0].start_s, end_s=words[-1].end_s, text="".join(w.text for w in words),
                         words=words, avg_logprob=first[-1].avg_logprob, no_speech_prob=first[-1].no_speech_prob,
                         heard_again=True)

    def _commit(self, start_s: float, end_s: float) -> list[Utterance]:
        """Decode an ended utterance: queued, when the decoder takes windows without waiting."""
        window, keep_from_s = self._window(start_s, end_s)
        if self._submit is None:
            return self._heard_twice(self._decode(window, keep_from_s), window.start_s)
        o = self.options
        self._in_flight.append((keep_from_s, window.start_s,
                                self._submit(window, keep_from_s, o.temperatures, o.beam_size, source=self)))
        return []

    def _window(self, start_s: float, end_s: float) -> tuple[AudioChunk, float]:
        """The audio between two buffer times with the seconds before it, which whisper needs to
        hear a short utterance well (their words were committed already and are dropped), and the
        stream time its own speech starts at."""
        context_from = max(0.0, start_s - self.options.context_s)
        window = AudioChunk(start_s=self._start_s + context_from,
                            samples=self._buffer[int(context_from * SAMPLE_RATE):int(end_s * SAMPLE_RATE)])
        return window, self._start_s + start_s

    def _decode(self, window: AudioChunk, keep_from_s: float) -> list[Utterance]:
        """A window's utterances, decoded now."""
        o = self.options
        prompt = self._recent if o.prompt_chars else None
        return self.decoder.transcribe_window(window, keep_from_s=keep_from_s, prompt=prompt,
                                              temperatures=o.temperatures, beam_size=o.beam_size)

    def _agree(self, start_s: float, now_s: float) -> list[Utterance]:
        """LocalAgreement-2 on the speech in progress: decode it again once agreement_every_s of new
        audio has come, and commit the words this decode and the last one agree on, from the start.
        The newest word is never committed: it may be cut off mid-syllable."""
        if self._start_s + now_s - self._hypothesis_at_s < self.options.agreement_every_s:
            return []
        self._hypothesis_at_s = self._start_s + now_s
        words = [(w, u) for u in self._decode(*self._window(start_s, now_s)) for w in u.words]
        previous = self._hypothesis
        agreed = 0
        while (agreed < min(len(previous), len(words) - 1)
               and bare_text(previous[agreed][0].text) == bare_text(words[agreed][0].text)):
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
        return self.process(final=True) if len(self._buffer) else self.collect(wait=True)

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]:
        """The same push API driven by an iterator of chunks (a live feed, or a file replayed).
        While it runs this feed is one of the packed decoder's clients."""
        client = getattr(self.decoder, "client", None)
        with client() if client else nullcontext():
            since_check = 0.0
            for chunk in chunks:
                yield from self.insert_audio(chunk)
                since_check += len(chunk.samples) / SAMPLE_RATE
                if since_check >= self.options.process_every_s:
                    since_check = 0.0
                    yield from self.process()
                else:
                    yield from self.collect()  # a queued window decoded since the last chunk
            yield from self.finish()
