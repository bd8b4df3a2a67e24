"""Live sources against real servers on loopback: an HTTP-FLV feed served by `ffmpeg -listen 1`
that dies and comes back, and a dead address."""

import socket
import subprocess
import threading
import time

import pytest
from conftest import DEMO

from pinocchio.core.errors import AudioError
from pinocchio.listen.audio import SAMPLE_RATE, ReconnectPolicy, live_chunks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_flv(port: int, seconds: float, start_s: float = 0.0) -> subprocess.Popen:
    """Publish a stretch of the demo in real time as HTTP-FLV, for one client."""
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-ss", str(start_s), "-t", str(seconds), "-i", str(DEMO),
         "-c:a", "aac", "-f", "flv", "-listen", "1", f"http://127.0.0.1:{port}/live.flv"])


def test_a_feed_that_drops_is_rejoined_and_the_gap_reported():
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.flv"
    servers = [serve_flv(port, 3.0)]

    def second_publisher():  # the streamer's connection comes back a moment later
        servers[0].wait()
        time.sleep(1.0)
        servers.append(serve_flv(port, 3.0, start_s=10.0))

    threading.Thread(target=second_publisher, daemon=True).start()
    gaps, chunks = [], []
    policy = ReconnectPolicy(initial_s=0.3, max_s=0.5, max_attempts=8, read_timeout_s=3)
    try:
        for chunk in live_chunks(url, chunk_s=0.5, policy=policy, on_gap=gaps.append):
            chunks.append(chunk)
    except AudioError as exc:  # after the second stretch ends nobody publishes again
        assert str(exc).startswith(f"{url}: no audio after 8 attempts")
    finally:
        for server in servers:
            server.kill()
    seconds = sum(len(c.samples) for c in chunks) / SAMPLE_RATE
    assert 5.0 < seconds < 7.0  # both stretches, nothing invented
    assert len(gaps) == 1 and gaps[0].url == url and gaps[0].end_s - gaps[0].start_s >= 0.5
    breaks = [c for c in chunks if not len(c.samples)]
    assert len(breaks) == 2  # each end of a connection is marked, so buffered speech is committed
    starts = [c.start_s for c in chunks]
    assert starts == sorted(starts)
    jump = max(b.start_s - a.end_s for a, b in zip(chunks, chunks[1:]))
    assert jump == pytest.approx(gaps[0].end_s - gaps[0].start_s, abs=0.01)


def test_a_dead_address_fails_in_one_line_after_its_attempts():
    url = f"http://127.0.0.1:{free_port()}/nobody.flv"
    waits = []
    with pytest.raises(AudioError) as err:
        list(live_chunks(url, policy=ReconnectPolicy(initial_s=1, max_s=4, max_attempts=4), sleep=waits.append))
    assert str(err.value).startswith(f"{url}: no audio after 4 attempts (") and "\n" not in str(err.value)
    assert waits == [1, 2, 4]  # backoff doubles, capped; no wait after the last attempt
