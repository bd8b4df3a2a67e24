"""Decode anything ffmpeg reads into 16 kHz mono float32 chunks, streamed: a four-hour recording
never sits in memory whole."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import ffmpeg
import m3u8
import numpy as np

from pinocchio.core.errors import AudioError
from pinocchio.core.records import AudioChunk

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_BYTES_PER_SAMPLE = 4  # float32


@dataclass(frozen=True)
class SourceInfo:
    path: str
    duration_s: float | None
    codec: str
    sha256: str
    size_bytes: int


def _last_line(text: str) -> str:
    """ffmpeg prints its decisive error last."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown ffmpeg error"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def probe_file(path: str | Path) -> SourceInfo:
    """Check that a file exists and holds an audio stream; raise AudioError with one-line reason."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory")
    size = p.stat().st_size
    if size == 0:
        raise AudioError(f"{p}: empty file")
    try:
        info = ffmpeg.probe(str(p))
    except ffmpeg.Error as exc:
        reason = _last_line(exc.stderr.decode("utf-8", "replace") if exc.stderr else "")
        raise AudioError(f"{p}: not a readable audio/video file ({reason.split(': ')[-1]})") from None
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise AudioError(f"{p}: no audio stream")
    duration = info.get("format", {}).get("duration") or audio[0].get("duration")
    return SourceInfo(
        path=str(p),
        duration_s=float(duration) if duration not in (None, "N/A") else None,
        codec=audio[0].get("codec_name", "?"),
        sha256=file_sha256(p),
        size_bytes=size,
    )


def decode_chunks(source: str | Path, chunk_s: float = 30.0, input_options: dict | None = None) -> Iterator[AudioChunk]:
    """Yield consecutive AudioChunks of `chunk_s` seconds (the last may be shorter).

    ffmpeg runs as a child process writing raw float32 to a pipe, so memory stays at one chunk.
    """
    stream = ffmpeg.input(str(source), **(input_options or {}))
    process = (
        stream.output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .run_async(pipe_stdout=True, pipe_stderr=True)
    )
    # Drain stderr beside the reader: a badly damaged file can print more than a pipe holds.
    stderr_lines: list[bytes] = []
    drain = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)
    drain.start()
    chunk_bytes = int(chunk_s * SAMPLE_RATE) * _BYTES_PER_SAMPLE
    decoded_samples = 0
    reached_end = False
    try:
        while data := process.stdout.read(chunk_bytes):
            usable = len(data) - len(data) % _BYTES_PER_SAMPLE
            samples = np.frombuffer(data[:usable], dtype=np.float32)
            yield AudioChunk(start_s=decoded_samples / SAMPLE_RATE, samples=samples)
            decoded_samples += len(samples)
        reached_end = True
    finally:
        if not reached_end:  # the consumer stopped early: do not leave ffmpeg running
            process.kill()
        process.stdout.close()
        code = process.wait()
        drain.join(timeout=5)
        process.stderr.close()
    stderr = b"".join(stderr_lines).decode("utf-8", "replace")
    if code != 0 and decoded_samples == 0:
        raise AudioError(f"{source}: ffmpeg could not decode it ({_last_line(stderr)})")
    if stderr.strip():
        # A damaged stretch mid-file: ffmpeg skips it and goes on; say where, keep the rest.
        log.warning("%s: decoded with errors (%.1f s decoded): %s", source, decoded_samples / SAMPLE_RATE, _last_line(stderr))


# ---------------------------------------------------------------- live feeds

LIVE_INPUT_OPTIONS = {"fflags": "nobuffer", "probesize": 32, "analyzeduration": 0}


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff, capped; `max_attempts` None retries for ever (a worker's default)."""

    initial_s: float = 1.0
    max_s: float = 30.0
    factor: float = 2.0
    max_attempts: int | None = None  # failed connections in a row before giving up
    read_timeout_s: float = 10.0  # a stalled feed counts as dropped after this long without data

    def delay_s(self, failures: int) -> float:
        return min(self.max_s, self.initial_s * self.factor ** max(0, failures - 1))


@dataclass(frozen=True)
class Outage:
    """Stream time with no audio: the feed dropped, stalled or ended, and how it came back."""

    url: str
    start_s: float
    end_s: float
    reason: str


# How far back a feed taken over from a dead worker is joined at least: the seconds from its last
# report to the new join (3 s of silence before it counts as dead, the move) and what it was storing
# then. Its lag and what it had read and not decoded come on top (live/worker.py). Not the whole
# playlist: a reader that falls behind its oldest fragment loses the fragments deleted meanwhile.
REWIND_S = 12.0


def hls_rewind(url: str, timeout_s: float = 5.0, want_s: float = REWIND_S) -> tuple[int, float] | None:
    """Where to start an HLS playlist to replay about `want_s` before live: (live_start_index, the
    seconds those fragments hold), or None when it is not HLS or cannot be read."""
    if not urlparse(url).path.endswith(".m3u8"):
        return None
    try:
        durations = [segment.duration or 0.0 for segment in m3u8.load(url, timeout=timeout_s).segments]
    except Exception:  # unreachable or not a playlist: join at the live edge as usual
        return None
    back_s, count = 0.0, 0
    while count < len(durations) and back_s < want_s:
        count += 1
        back_s += durations[-count]
    return (-count, back_s) if count else None


def live_chunks(url: str, chunk_s: float = 0.2, policy: ReconnectPolicy = ReconnectPolicy(),
                on_gap=None, stop: threading.Event | None = None, sleep=None,
                clock=time.monotonic, rewind: Callable[[float], None] | None = None,
                rewind_s: float = REWIND_S) -> Iterator[AudioChunk]:
    """Chunks from a live URL (RTMP, HTTP-FLV, HLS) for as long as it can be had. Times are stream
    seconds: wall time spent reconnecting is added, so a gap shows as a jump in start_s (and is
    reported through `on_gap`); the moment a connection ends an empty chunk is yielded. Raises AudioError once `max_attempts` connections fail in a row.
    Setting `stop` ends it: at the next chunk, or at once during a backoff wait. Chunks are short
    because a feed's thread hears of its decoded speech between chunks: a claim waits for them.
    `rewind`: for a feed taken over from a worker that died, the first connection to an HLS
    playlist starts about `rewind_s` before live, so that what the dead worker had heard but not
    stored is heard again; `rewind` is told how many seconds behind live that is."""
    stop = stop or threading.Event()
    sleep = sleep or stop.wait
    options = dict(LIVE_INPUT_OPTIONS, rw_timeout=int(policy.read_timeout_s * 1_000_000))
    if rewind and (start := hls_rewind(url, policy.read_timeout_s, rewind_s)):
        options["live_start_index"] = start[0]
        rewind(start[1])
    stream_s = 0.0
    failures = 0
    last_audio_at: float | None = None
    previous_reason = ""
    while not stop.is_set():
        reason = "ended"
        got_audio = False
        try:
            for chunk in decode_chunks(url, chunk_s=chunk_s, input_options=options):
                if stop.is_set():
                    return  # closing decode_chunks here stops its ffmpeg
                if not got_audio and last_audio_at is not None:
                    # Back after a drop: stream time moves on by the wall time we were away.
                    gap_end = stream_s + (clock() - last_audio_at)
                    if on_gap:
                        on_gap(Outage(url, stream_s, gap_end, previous_reason))
                    stream_s = gap_end
                got_audio = True
                failures = 0
                options.pop("live_start_index", None)  # a later reconnect joins at the live edge
                yield AudioChunk(start_s=stream_s, samples=chunk.samples)
                stream_s += len(chunk.samples) / SAMPLE_RATE
                last_audio_at = clock()
        except AudioError as exc:
            reason = str(exc).removeprefix(f"{url}: ")
        if got_audio:
            # An empty chunk marks the break, so that what was said before it is committed now
            # rather than when (if ever) the feed comes back.
            yield AudioChunk(start_s=stream_s, samples=np.zeros(0, dtype=np.float32))
        if not got_audio:
            failures += 1
            if policy.max_attempts is not None and failures >= policy.max_attempts:
                raise AudioError(f"{url}: no audio after {failures} attempts ({reason})")
        previous_reason = reason
        log.warning("%s: feed %s at %.1f s; reconnecting in %.1f s", url, reason, stream_s, policy.delay_s(max(1, failures)))
        sleep(policy.delay_s(max(1, failures)))
