"""A scripted transcriber: it "hears" a script of timed lines instead of running whisper, so that
the live worker, the replay guard, reminders and evidence are tested in milliseconds. It plugs into
the pipeline where whisper does (`Pipeline(settings, transcriber=...)`) and behaves like the live
path: a line is committed once audio has arrived past its end (plus the pause that ends it), and
whatever was begun is committed at a break in the feed or at its end."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from pinocchio.core.records import AudioChunk, Utterance, Word
from pinocchio.listen.asr import AsrOptions
from pinocchio.listen.streaming import StreamOptions

SAMPLE_RATE = 16000


@dataclass(frozen=True, order=True)
class Line:
    start_s: float  # stream seconds
    end_s: float
    text: str

    def utterance(self) -> Utterance:
        return Utterance(start_s=self.start_s, end_s=self.end_s, text=self.text,
                         words=(Word(self.start_s, self.end_s, self.text, 0.9),), avg_logprob=-0.2, no_speech_prob=0.01)


class ScriptedTranscriber:
    options = AsrOptions(model="scripted")

    def __init__(self, lines: Iterable[tuple[float, float, str]]):
        self.lines = sorted(Line(*line) for line in lines)
        self.audio_s = 0.0
        self.real_time_factor = 0.0

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]:
        return self.streaming(StreamOptions(endpoint_silence_s=0.0)).transcribe(chunks)

    def streaming(self, options: StreamOptions) -> "_ScriptedStream":
        return _ScriptedStream(self, options)


class _ScriptedStream:
    def __init__(self, script: ScriptedTranscriber, options: StreamOptions):
        self.script = script
        self.pause_s = options.endpoint_silence_s
        self.committed: set[Line] = set()
        self.heard: list[tuple[float, float]] = []  # the stretches of stream time this connection heard

    def _ready(self, until_s: float, flush: bool) -> list[Utterance]:
        out = []
        for line in self.script.lines:
            if line in self.committed:
                continue
            heard = any(start <= line.start_s < end for start, end in self.heard)
            if heard and (line.end_s + self.pause_s <= until_s or flush):
                self.committed.add(line)
                out.append(line.utterance())
        return out

    def transcribe(self, chunks: Iterable[AudioChunk]) -> Iterator[Utterance]:
        end_s = 0.0
        for chunk in chunks:
            if not len(chunk.samples):  # the feed broke off: commit what was begun
                yield from self._ready(end_s, flush=True)
                self.heard = []
                continue
            self.heard.append((chunk.start_s, chunk.end_s))
            self.script.audio_s += chunk.end_s - chunk.start_s
            end_s = chunk.end_s
            yield from self._ready(end_s, flush=False)
        yield from self._ready(end_s, flush=True)


def silence(start_s: float, seconds: float, chunk_s: float = 0.5) -> Iterator[AudioChunk]:
    """Quiet audio stamped from `start_s`: the scripted transcriber hears the script, not the samples."""
    at = 0.0
    while at < seconds - 1e-9:
        n = int(round(min(chunk_s, seconds - at) * SAMPLE_RATE))
        yield AudioChunk(start_s=start_s + at, samples=np.full(n, 1e-4, dtype=np.float32))
        at += n / SAMPLE_RATE
