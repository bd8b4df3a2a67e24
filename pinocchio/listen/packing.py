"""Several feeds' live utterances decoded in one whisper call.

Whisper encodes a padded 30 s window whatever it holds, so a live utterance of a few seconds pays
for thirty (MODELS.md: ~0.55 s of a ~0.8 s decode here). Taken together, the windows of several
feeds share one call: as a batch (each window an item, the encoder run only as long as the
longest, the items decoded side by side: `Transcriber.transcribe_batch`), or laid side by side
with silence between them in one 30 s window, each feed getting back the words whose time falls in
its own place (`Transcriber.transcribe_pack`).

`lay_out` and `owner` are the pack's geometry (pure, property-tested); `PackedDecoder` is the one
scheduler per process that every feed's `StreamingTranscriber` hands its windows to."""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pinocchio.core.records import AudioChunk, Utterance
from pinocchio.listen.context import parted

if TYPE_CHECKING:
    from pinocchio.listen.asr import Transcriber


SAMPLE_RATE = 16000


@dataclass(frozen=True)
class PackOptions:
    """How windows are packed. The gap keeps one feed's speech from running into the next in
    whisper's ears; `capacity_s` stays under whisper's 30 s so the last word is whole."""

    gap_s: float = 1.0
    capacity_s: float = 29.0
    # When the decoder is free but not every feed has a window waiting, how long the oldest waiting
    # window may wait for others to join its pack. Measured with benchmarks/live.py on 2 cores: at
    # 4 feeds 0.2 s left whisper busy 89 % of the time with 1.7 windows a call (p95 3.05 s), 1.0 s
    # 57 % with 3.0 (p95 3.70 s); at 6 feeds the lag reached 11.5 s against 6.1 s. Batched, six
    # feeds in the VM's slow hours, three runs each: 0.5 s p95 2.83, 2.88, 3.52 s, 47/48 claims each;
    # 1.0 s p95 3.66, 3.83, 2.68 s, 48, 48 and 47/48 — within the runs' spread, so it stays.
    max_wait_s: float = 1.0
    # How the windows taken together are decoded: as a batch (each its own item, encoded only as
    # long as the longest, decoded side by side) or laid out in one 30 s pack. Measured with
    # benchmarks/live.py on 2 cores (README): batched held six demo feeds in every run of fourteen,
    # fast hours and slow (p95 2.2-5.3 s, whisper busy 51-91 %); laid out, six in the slow hours only
    # at p95 4.7-6.3 s (busy 95 %). Batched heard the real clips better (CER 0.20 against 0.25) and the
    # demo's hardest sentence (最后五单) less often: 48/48 claims in nine six-feed runs of fourteen, the misses
    # that sentence's. A window alone is decoded in whisper's 30 s window either way.
    batch: bool = True

    def fits(self, durations: Sequence[float]) -> bool:
        """Whether windows this long fit in one pack, gaps between them included."""
        return pack_length_s(durations, self.gap_s) <= self.capacity_s


@dataclass(frozen=True)
class Slot:
    """One window's place in a pack: its audio starts at `offset_s` and lasts `duration_s`; the
    words that start at or after `low_s` (the end of the audio before it: the silence before its
    audio is its own) and before the next slot's `low_s` are its."""

    offset_s: float
    duration_s: float
    low_s: float

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s


def lay_out(durations: Sequence[float], gap_s: float) -> list[Slot]:
    """Windows one after another, `gap_s` of silence between them, none before the first."""
    slots: list[Slot] = []
    offset = 0.0
    for i, duration in enumerate(durations):
        low = 0.0 if i == 0 else offset - gap_s
        slots.append(Slot(offset_s=offset, duration_s=duration, low_s=low))
        offset += duration + gap_s
    return slots


def pack_length_s(durations: Sequence[float], gap_s: float) -> float:
    return sum(durations) + gap_s * max(0, len(durations) - 1)


def owner(slots: Sequence[Slot], start_s: float) -> int:
    """The index of the slot a word starting at `start_s` (pack time) belongs to. By its start,
    not its middle: whisper stretches the first word after a pause back into the silence before
    it (up to ~0.7 s measured on the demo), so a word that starts in a gap is the next window's,
    while the last word of a window starts inside its audio however far its end is stretched."""
    return max(0, bisect.bisect_right([s.low_s for s in slots], start_s) - 1)


def follows(window: AudioChunk, previous: AudioChunk) -> bool:
    """Whether a feed's window takes up where its previous one ended: its context reaches back
    into that one's audio (after a long silence it may not)."""
    return window.start_s <= previous.end_s + 0.5 / SAMPLE_RATE < window.end_s


def joined(windows: Sequence[AudioChunk]) -> AudioChunk:
    """A feed's consecutive windows (each `follows` the one before) as one: each from where the one
    before it ended. The context of each is the speech before it, heard once instead of twice."""
    parts, end_s = [windows[0].samples], windows[0].end_s
    for window in windows[1:]:
        parts.append(window.samples[int(round((end_s - window.start_s) * SAMPLE_RATE)):])
        end_s = window.end_s
    return AudioChunk(start_s=windows[0].start_s, samples=np.concatenate(parts))


def pack_audio(windows: Sequence[AudioChunk], slots: Sequence[Slot]) -> np.ndarray:
    """The windows' samples at their slots' offsets, digital silence between them."""
    total = int(round(slots[-1].end_s * SAMPLE_RATE)) if slots else 0
    audio = np.zeros(total, dtype=np.float32)
    for window, slot in zip(windows, slots):
        start = int(round(slot.offset_s * SAMPLE_RATE))
        samples = window.samples[: total - start]
        audio[start: start + len(samples)] = samples
    return audio


def decode_together(transcriber: "Transcriber", options: PackOptions, windows: Sequence[AudioChunk],
                    keep_from: Sequence[float | None], temperatures: tuple[float, ...] | None,
                    beam_size: int | None) -> list[list[Utterance]]:
    """Windows of different feeds in one whisper call, batched or laid out as `options` says."""
    if options.batch:
        return transcriber.transcribe_batch(windows, keep_from, temperatures, beam_size)
    return transcriber.transcribe_pack(windows, keep_from, temperatures, options.gap_s, beam_size)


@dataclass
class _Request:
    window: AudioChunk
    keep_from_s: float | None
    decoding: tuple  # (temperatures, beam size): only windows decoded alike share a pack
    queued_at: float
    source: object  # the feed it came from
    result: Future = field(default_factory=Future)

    @property
    def duration_s(self) -> float:
        return self.window.end_s - self.window.start_s


class PackedDecoder:
    """One per process, shared by every feed: windows waiting to be decoded are decoded together.

    Feeds `submit` windows from their own threads and read on while they wait (or call
    `transcribe_window`, the signature of `Transcriber.transcribe_window`, and block). Packs are
    filled first come, first served; a window that does not fit is the first of the next pack, and
    a feed keeps only a few windows in flight (StreamOptions.windows_in_flight), so no window
    waits more than one pack behind those queued before it and a busy room cannot crowd out a
    quiet one. The decoder thread starts when the first window comes and stops with the process."""

    def __init__(self, transcriber: "Transcriber", options: PackOptions = PackOptions()):
        self.transcriber = transcriber
        self.options = options
        self._changed = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._clients = 0
        self._thread: threading.Thread | None = None
        self.packs = 0  # decodes done, and the windows they held: windows / packs is the packing gain
        self.windows = 0

    @contextmanager
    def client(self):
        """Held by each feed while it streams: when every client has a window waiting, no one else
        can join the pack, so it is decoded at once."""
        with self._changed:
            self._clients += 1
        try:
            yield self
        finally:
            with self._changed:
                self._clients -= 1
                self._changed.notify_all()

    def transcribe_window(self, window: AudioChunk, keep_from_s: float | None = None, prompt: str | None = None,
                          temperatures: tuple[float, ...] | None = None, beam_size: int | None = None) -> list[Utterance]:
        if prompt:  # a text prompt conditions the whole window: it cannot be shared
            return self.transcriber.transcribe_window(window, keep_from_s, prompt, temperatures, beam_size)
        return self.submit(window, keep_from_s, temperatures, beam_size).result()

    def submit(self, window: AudioChunk, keep_from_s: float | None = None,
               temperatures: tuple[float, ...] | None = None, beam_size: int | None = None,
               source: object | None = None) -> Future:
        """Queue a window for the next pack; the future holds its utterances. `source` names the
        feed (windows of one source count once when the decoder asks whether every feed waits)."""
        if not self.options.fits([window.end_s - window.start_s]):  # too long to share: alone, now
            done: Future = Future()
            try:
                done.set_result(self.transcriber.transcribe_window(window, keep_from_s, None, temperatures, beam_size))
            except Exception as exc:
                done.set_exception(exc)
            return done
        request = _Request(window, keep_from_s, (temperatures, beam_size), time.monotonic(),
                           source if source is not None else object())
        with self._changed:
            self._queue.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="packed-decoder", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        return request.result

    def _run(self) -> None:
        while True:
            pack = self._next_pack()
            try:
                temperatures, beam_size = pack[0][0].decoding
                results = decode_together(self.transcriber, self.options, [joined([r.window for r in run]) for run in pack],
                                          [run[0].keep_from_s for run in pack], temperatures, beam_size)
            except BaseException as exc:  # each waiting feed gets the error, the decoder goes on
                for request in (r for run in pack for r in run):
                    request.result.set_exception(exc)
                continue
            self.packs += 1
            self.windows += sum(len(run) for run in pack)
            for run, utterances in zip(pack, results):
                for request in run[:0:-1]:  # a joined run's words, parted at each later window's start
                    utterances, request_words = parted(utterances, request.keep_from_s)
                    request.result.set_result(request_words)
                run[0].result.set_result(utterances)

    def _next_pack(self) -> list[list[_Request]]:
        o = self.options
        with self._changed:
            while True:
                self._changed.wait_for(lambda: bool(self._queue))
                deadline = self._queue[0].queued_at + o.max_wait_s
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._all_waiting() or self._full():
                    break
                self._changed.wait(remaining)
                if time.monotonic() >= deadline or self._all_waiting() or self._full():
                    break
            return self._take()

    def _all_waiting(self) -> bool:
        """Every feed has a window queued: no one else can join the pack."""
        return len({r.source for r in self._queue}) >= self._clients

    def _full(self) -> bool:
        return pack_length_s([r.duration_s for r in self._queue], self.options.gap_s) >= self.options.capacity_s

    def _take(self) -> list[list[_Request]]:
        """The oldest window, and after it every waiting window (in order) that still fits and is
        decoded alike: runs of one feed's windows, each run decoded as one window (`joined`).
        A feed's window joins its run only when it takes up where the run ended; otherwise it and
        the feed's later windows stay queued, oldest first. Not as a window of its own: its context
        is the speech before it, and whisper decoding the same speech twice in one pass heard the
        second copy worse (the demo's 还能降血压 as 还能这样睡呀)."""
        first = self._queue.popleft()
        runs, left = {first.source: [first]}, deque()
        held_back: set = set()  # feeds with a window left queued: their later ones wait behind it

        def spans_with(request: _Request) -> list[float]:
            """How long each run of the pack would be with the request in it."""
            spans = {source: run[-1].window.end_s - run[0].window.start_s for source, run in runs.items()}
            run = runs.get(request.source)
            spans[request.source] = request.window.end_s - (run[0] if run else request).window.start_s
            return list(spans.values())

        while self._queue:
            request = self._queue.popleft()
            source, run = request.source, runs.get(request.source)
            takes = (source not in held_back and request.decoding == first.decoding
                     and (run is None or (request.keep_from_s is not None and follows(request.window, run[-1].window)))
                     and self.options.fits(spans_with(request)))
            if takes:
                runs.setdefault(source, []).append(request)
            else:
                left.append(request)
                held_back.add(source)
        self._queue = left
        return list(runs.values())
