"""`pinocchio live` as an operator runs it: stopped with SIGTERM it flushes and exits cleanly;
killed with SIGKILL and started again it loses nothing it had committed and stores nothing twice."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT
from test_feeds import free_port, serve_flv

pytestmark = pytest.mark.slow


class Worker:
    """`python -m pinocchio live` in its own process, its jsonl lines collected as they come."""

    def __init__(self, url: str, db, *extra: str):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.log = db.parent / f"worker-{time.monotonic_ns()}.log"
        with open(self.log, "w") as log:  # a file, not a pipe: nobody would drain a pipe
            self.process = subprocess.Popen([sys.executable, "-m", "pinocchio", "live", url, "--db", str(db),
                                             "--format", "jsonl", *extra],
                                            stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        self.rows: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith("{") and '"type": "reminder"' not in line:
                self.rows.append(json.loads(line))

    def wait_for_rows(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.rows) < count and time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.1)
        assert len(self.rows) >= count, (self.rows, self.log.read_text())


def stored(db) -> list[tuple]:
    """First hearings (a second hearing, stored for what it found, lies over one by design)."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT start_ms, end_ms, text FROM segment WHERE NOT heard_again ORDER BY start_ms").fetchall()


def test_sigterm_flushes_what_was_heard_and_exits_zero(tmp_path):
    port = free_port()
    publisher = serve_flv(port, 30.0, start_s=12.0)
    worker = Worker(f"http://127.0.0.1:{port}/room3.flv", tmp_path / "l.db")
    try:
        worker.wait_for_rows(2, timeout_s=60)
        worker.process.send_signal(signal.SIGTERM)
        code = worker.process.wait(timeout=30)
        worker.reader.join(timeout=5)
    finally:
        publisher.kill()
        worker.process.kill()
    assert code == 0, worker.log.read_text()
    rows = stored(tmp_path / "l.db")
    assert [(r["start"], r["text"]) for r in worker.rows] == [(round(s / 1000, 2), t) for s, _, t in rows]
    with sqlite3.connect(tmp_path / "l.db") as conn:
        assert conn.execute("SELECT status FROM scan").fetchall() == [("done",)]


def test_after_kill_9_a_restart_keeps_everything_and_duplicates_nothing(tmp_path):
    db = tmp_path / "l.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}/room9.flv"
    publisher = serve_flv(port, 40.0, start_s=10.0)
    first = Worker(url, db)
    try:
        first.wait_for_rows(3, timeout_s=90)
        first.process.kill()  # SIGKILL: no flush, no goodbye
        first.process.wait()
        first.reader.join(timeout=5)
        publisher.kill()
        before = stored(db)
        # Everything it had printed was committed first.
        assert {(r["start"], r["text"]) for r in first.rows} <= {(round(s / 1000, 2), t) for s, _, t in before}

        publisher = serve_flv(port, 25.0, start_s=56.0)  # the room goes on
        second = Worker(url, db)
        second.wait_for_rows(2, timeout_s=90)
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=30) == 0
    finally:
        publisher.kill()
        first.process.kill()
    after = stored(db)
    assert after[:len(before)] == before  # nothing lost, nothing rewritten
    new = after[len(before):]
    assert new and new[0][0] > before[-1][1]  # the stream's clock went on across the restart
    assert all(a[1] <= b[0] + 10 for a, b in zip(after, after[1:]))  # no stretch stored twice
    assert len({t for _, _, t in after}) == len(after)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM scan ORDER BY id").fetchall() == [("abandoned",), ("done",)]
