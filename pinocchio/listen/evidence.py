"""Evidence clips: the audio of a flagged segment with 2 s either side, kept as a small Opus file
named by its sha256, so a reviewer plays exactly what was said and a swapped file shows.

Batch scans and live feeds cut clips the same way: the chunks on their way into the pipeline pass
through an `EvidenceRecorder`, which keeps the last few minutes of audio; a flagged segment asks
for its clip, which is cut as soon as the audio 2 s after it has arrived (at once in a batch,
a moment later live)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from pinocchio.core.errors import AudioError
from pinocchio.core.records import AudioChunk
from pinocchio.listen.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

CLIP_MARGIN_S = 2.0
CLIP_SUFFIX = ".opus"  # Opus in Ogg: small for speech, and every browser plays it


class EvidenceStore:
    """A folder of clips named <sha256>.opus; saving the same audio twice keeps one file."""

    def __init__(self, directory: Path, bitrate: str = "24k"):
        self.directory = Path(directory)
        self.bitrate = bitrate

    def path(self, name: str) -> Path:
        return self.directory / name

    def encode(self, samples: np.ndarray) -> bytes:
        try:
            out, _ = (
                ffmpeg.input("pipe:", format="f32le", ar=SAMPLE_RATE, ac=1)
                .output("pipe:", format="ogg", acodec="libopus", audio_bitrate=self.bitrate,
                        application="voip", fflags="+bitexact", flags="+bitexact")
                .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
                .run(input=samples.astype(np.float32).tobytes(), capture_stdout=True, capture_stderr=True)
            )
        except ffmpeg.Error as exc:
            lines = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            raise AudioError(f"evidence clip: ffmpeg could not encode it ({lines[-1] if lines else 'no message'})") from None
        return out

    def save(self, samples: np.ndarray) -> str:
        data = self.encode(samples)
        name = hashlib.sha256(data).hexdigest() + CLIP_SUFFIX
        target = self.path(name)
        if not target.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(target)  # atomic: a reader never sees half a clip
        return name


@dataclass
class _Request:
    start_s: float
    end_s: float
    on_clip: Callable[[str], None]


class EvidenceRecorder:
    """Keeps the last `keep_s` seconds of one stream and cuts clips from them on request."""

    def __init__(self, store: EvidenceStore, keep_s: float, margin_s: float = CLIP_MARGIN_S):
        self.store = store
        self.keep_s = keep_s
        self.margin_s = margin_s
        self._chunks: deque[AudioChunk] = deque()
        self._pending: list[_Request] = []
        self._ended = False
        self.failures = 0

    @property
    def _audio_end_s(self) -> float:
        return self._chunks[-1].end_s if self._chunks else 0.0

    def tap(self, chunks: Iterable[AudioChunk]) -> Iterator[AudioChunk]:
        """Pass the chunks on unchanged, remembering them."""
        for chunk in chunks:
            if not len(chunk.samples):  # a live feed broke off: clips waiting for more take what there is
                self._fulfil(cut_short=True)
                yield chunk
                continue
            self._chunks.append(chunk)
            while self._chunks and self._chunks[0].end_s < chunk.end_s - self.keep_s:
                self._chunks.popleft()
            self._fulfil()
            yield chunk
        self._ended = True  # what is asked for from now on is cut from what there is
        self._fulfil()

    def request(self, start_s: float, end_s: float, on_clip: Callable[[str], None]) -> None:
        """Cut start_s - margin .. end_s + margin once that audio is here; on_clip gets the file name."""
        self._pending.append(_Request(start_s, end_s, on_clip))
        self._fulfil()

    def finish(self) -> None:
        """The stream is over (or the worker stops): cut what is still asked for from what there is."""
        self._ended = True
        self._fulfil()

    def _fulfil(self, cut_short: bool = False) -> None:
        still = []
        for request in self._pending:
            if self._ended or cut_short or self._audio_end_s >= request.end_s + self.margin_s:
                self._cut(request)
            else:
                still.append(request)
        self._pending = still

    def _cut(self, request: _Request) -> None:
        begin, end = request.start_s - self.margin_s, request.end_s + self.margin_s
        parts = []
        for chunk in self._chunks:
            if chunk.end_s <= begin or chunk.start_s >= end:
                continue
            first = max(0, int(round((begin - chunk.start_s) * SAMPLE_RATE)))
            last = min(len(chunk.samples), int(round((end - chunk.start_s) * SAMPLE_RATE)))
            parts.append(chunk.samples[first:last])
        if not parts:
            self.failures += 1
            log.warning("evidence %.1f-%.1f s: that audio is no longer kept", request.start_s, request.end_s)
            return
        try:
            name = self.store.save(np.concatenate(parts))
        except AudioError as exc:
            self.failures += 1
            log.warning("%s (segment at %.1f s)", exc, request.start_s)
            return
        request.on_clip(name)
