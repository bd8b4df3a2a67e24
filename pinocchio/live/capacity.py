"""How many feeds this process should hold, from a measurement rather than a guess: at start the
worker decodes 30 s of bundled streamer speech the way the live path would (each utterance with its
context, several in a pack) and times it. The decoding cost per second of speech, over the share
of a machine's time that decoding may take (the rest goes to the voice detector, the ffmpeg pulls,
detection and storage: `benchmarks/live.py` measures it), is the expected number of feeds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pinocchio.core.records import AudioChunk, Utterance
from pinocchio.core.settings import package_data
from pinocchio.listen.packing import decode_together
from pinocchio.listen.streaming import StreamingTranscriber, StreamOptions

CALIBRATION_SPEECH = package_data("calibration", "speech.m4a")
# Feeds held x their decoding cost, measured with benchmarks/live.py on the 2-core machine: the
# share of the time whisper may decode before feeds fall behind. Feeds queue their windows and read
# on, so the decoder is kept busy: held at whisper busy up to 83-90 %, not at 91-96 % (packed); batched,
# 8 feeds held under 3 s at 82-85 %, 10 at 89-91 % with p95 over 5 s. Batched, the measured cost
# (0.116 s/s one evening) reads as 7 feeds: more than the six held with every claim, fewer than the
# eight held by lag.
DECODING_SHARE = 0.85


@dataclass(frozen=True)
class CapacityEstimate:
    feeds: int
    decode_s_per_s: float  # decoding seconds per second of a feed, packed
    audio_s: float  # the stretch of stream the measurement decoded

    def describe(self) -> str:
        return (f"expecting to hold about {self.feeds} feed(s) in real time: decoding costs {self.decode_s_per_s:.3f} s "
                f"per second of a feed here (measured on {self.audio_s:.0f} s of streamer speech)")


class _WindowCollector:
    """Stands in for the decoder while the live path cuts the calibration speech into windows."""

    def __init__(self):
        self.windows: list[tuple[AudioChunk, float | None]] = []

    def transcribe_window(self, window, keep_from_s=None, prompt=None, temperatures=None,
                          beam_size=None) -> list[Utterance]:
        self.windows.append((window, keep_from_s))
        return []


def estimate_capacity(transcriber, stream_options: StreamOptions,
                      speech: Path = CALIBRATION_SPEECH) -> CapacityEstimate | None:
    """Time the live path's windows of `speech`, decoded in packs as the packed decoder would (or
    one by one when packing is off), batched or laid out as its decoder does. None when the transcriber is not whisper (a scripted one)."""
    if not hasattr(transcriber, "transcribe_pack"):
        return None
    from pinocchio.listen.audio import decode_chunks

    collector = _WindowCollector()
    list(StreamingTranscriber(collector, stream_options).transcribe(decode_chunks(speech, chunk_s=stream_options.process_every_s)))
    windows = collector.windows
    if not windows:
        return None
    options = transcriber.pack_options
    totals = transcriber.decode_s, transcriber.audio_s
    # Windows next to each other share their context audio; a real pack holds different feeds'
    # speech, so each pack here takes every few windows, not neighbours.
    stride = max(1, min(len(windows), 3))
    groups = [windows[i::stride] for i in range(stride)] if stream_options.pack else [[w] for w in windows]
    # One untimed decode first: the first call into a fresh model pays for its allocations.
    transcriber.transcribe_window(windows[0][0], windows[0][1], None, stream_options.temperatures,
                                  stream_options.beam_size)
    decode_s = speech_s = 0.0  # speech_s: the new audio of each window, as the running totals count it
    for group in groups:
        while group:
            pack = [group.pop(0)]
            while group and options.fits([w.end_s - w.start_s for w, _ in pack + group[:1]]):
                pack.append(group.pop(0))
            started = time.perf_counter()
            decode_together(transcriber, options, [w for w, _ in pack], [k for _, k in pack],
                            stream_options.temperatures, stream_options.beam_size)
            decode_s += time.perf_counter() - started
            speech_s += sum(w.end_s - (w.start_s if k is None else k) for w, k in pack)
    # The measurement's own decoding is not the feeds': take it back out of the running totals.
    transcriber.decode_s, transcriber.audio_s = totals
    audio_s = windows[-1][0].end_s - windows[0][0].start_s
    cost = decode_s / audio_s
    return CapacityEstimate(feeds=max(1, int(DECODING_SHARE / cost)), decode_s_per_s=round(cost, 4),
                            audio_s=round(audio_s, 1))
