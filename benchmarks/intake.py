"""Report intake under load, over HTTP on loopback, measured in one run.

    .venv/bin/python benchmarks/intake.py [--clients 16] [--reports 8000] [--no-baseline]

1. A fresh SQLite store: one recorded hour of a stream, a sentence every 6 s, one in ten flagged.
2. `pinocchio serve` in a child process on 127.0.0.1 (nothing leaves the machine).
3. `--clients` threads, each with its own keep-alive connection, post `--reports` reports in all
   (distinct viewers, moments spread over the hour, so none is folded or rate-limited) as fast as
   the answers come; every request's latency is kept.
4. Then the store is read: reports stored against reports accepted (201), and the chain verified.
5. `reports import` of a CSV of `--import-rows` rows in batches of 1,000, against a slice of it
   imported one row per transaction.

The same load runs twice: through the grouped intake (the default), and with the intake writing
one report per transaction (PINOCCHIO_INTAKE_GROUP=1), the obvious baseline. Both write in the
server's writer process; CPU is counted for the server and its children.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "load-test-key"
STREAM = "load-room"


@dataclass(frozen=True)
class LoadResult:
    clients: int
    sent: int
    accepted: int
    errors: dict[str, int]  # status (or exception name) -> count
    seconds: float
    latencies_ms: list[float]
    stored: int
    chain_ok: bool
    server_cpu_s: float  # CPU the server process used during the load
    client_cpu_s: float  # and the clients' process (this one)

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def make_store(db: Path, sentences: int = 600) -> None:
    """One recorded stream of `sentences` segments, one in ten flagged, stored as the pipeline stores them."""
    import hashlib

    from sqlmodel import Session

    from pinocchio.core.records import Finding, FindingSource, MatchKind, Segment, Verdict, VerdictAction
    from pinocchio.listen.pipeline import store_verdict
    from pinocchio.moderation.ledger import ModerationLedger
    from pinocchio.store import open_store, scans

    ledger = ModerationLedger("pipeline@load")
    with Session(open_store(f"sqlite:///{db}")) as session:
        stream = scans.stream_for(session, source="load.m4a", content_sha256=hashlib.sha256(b"load").hexdigest(),
                                  duration_s=sentences * 6.0)
        stream.name = STREAM
        session.add(stream)
        scan = scans.start_scan(session, stream=stream, pipeline_version="load", provenance={})
        for i in range(sentences):
            flagged = i % 10 == 0
            findings = (Finding(FindingSource.LEXICON, "medical_claim", 3, "广告法第十七条", (0, 2), term="能治",
                                matched="能治", match_kind=MatchKind.LITERAL, score=1.0),) if flagged else ()
            verdict = Verdict(Segment(i * 6.0, i * 6.0 + 5.0, f"第{i}句", ("第", "句")), findings,
                              VerdictAction.REVIEW if flagged else VerdictAction.PASS)
            store_verdict(session, scan, verdict, ledger)
        scans.finish_scan(session, scan=scan, status="done")
        session.commit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(db: Path, group: int):
    """`pinocchio serve` on loopback, until the block ends."""
    port = free_port()
    env = {**os.environ, "PINOCCHIO_API_KEYS": API_KEY, "PINOCCHIO_INTAKE_GROUP": str(group),
           "PINOCCHIO_SECRET_KEY": "load-test"}
    process = subprocess.Popen([sys.executable, "-m", "pinocchio", "serve", "--db", str(db), "--host", "127.0.0.1",
                                "--port", str(port)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {process.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def post_reports(port: int, clients: int, reports: int, seed: int = 1) -> tuple[int, dict, float, list[float]]:
    """`reports` posts from `clients` threads; (accepted, errors by kind, seconds, latencies)."""
    lock = threading.Lock()
    accepted = 0
    errors: dict[str, int] = {}
    latencies: list[float] = []
    per_client = [reports // clients + (1 if c < reports % clients else 0) for c in range(clients)]
    start_gate = threading.Barrier(clients + 1)

    def client(number: int) -> None:
        nonlocal accepted
        rnd = random.Random(seed * 1000 + number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        mine_ok, mine_errors, mine_latencies = 0, {}, []
        start_gate.wait()
        for i in range(per_client[number]):
            body = json.dumps({"stream": STREAM, "reporter": f"viewer-{number}-{i}", "at": round(rnd.uniform(0, 3590), 1),
                               "label": "medical_claim", "comment": "主播说能治病"})
            began = time.perf_counter()
            try:
                connection.request("POST", "/api/v1/reports", body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                kind = str(answer.status)
            except (OSError, http.client.HTTPException) as exc:
                kind = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine_latencies.append((time.perf_counter() - began) * 1000)
            if kind in ("200", "201"):
                mine_ok += 1
            else:
                mine_errors[kind] = mine_errors.get(kind, 0) + 1
        connection.close()
        with lock:
            accepted += mine_ok
            latencies.extend(mine_latencies)
            for k, v in mine_errors.items():
                errors[k] = errors.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return accepted, errors, time.perf_counter() - began, latencies


def load_test(workdir: Path, *, clients: int, reports: int, group: int = 500) -> LoadResult:
    from sqlmodel import Session, func, select

    from pinocchio.moderation.audit import verify_chain
    from pinocchio.store import open_store
    from pinocchio.store.projections import Report

    db = workdir / f"intake-{group}.db"
    make_store(db)
    with server(db, group) as (port, pid):
        server_before, client_before = cpu_seconds(pid), time.process_time()
        accepted, errors, seconds, latencies = post_reports(port, clients, reports)
        server_cpu, client_cpu = cpu_seconds(pid) - server_before, time.process_time() - client_before
    with Session(open_store(f"sqlite:///{db}")) as session:
        stored = session.exec(select(func.count()).select_from(Report)).one()
        chain_ok = verify_chain(session).ok
    return LoadResult(clients=clients, sent=reports, accepted=accepted, errors=errors, seconds=seconds,
                      latencies_ms=latencies, stored=stored, chain_ok=chain_ok, server_cpu_s=server_cpu,
                      client_cpu_s=client_cpu)


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children (the workers) so far (Linux)."""
    total = 0.0
    for process in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return [grandchild for child in found for grandchild in (child, *children(child))]


def import_test(workdir: Path, *, rows: int, batch: int) -> tuple[float, int]:
    """`reports import` of a CSV of `rows` reports (five per viewer, over the hour) in batches of
    `batch`; (seconds, rows stored)."""
    from sqlmodel import Session, func, select

    from pinocchio.moderation.report_files import import_reports
    from pinocchio.store import open_store
    from pinocchio.store.projections import Report

    db = workdir / f"import-{rows}-{batch}.db"
    make_store(db)
    rnd = random.Random(2)
    csv_path = workdir / f"reports-{rows}.csv"
    with csv_path.open("w", encoding="utf-8") as out:
        out.write("stream,reporter,at,label,comment\n")
        for i in range(rows):
            out.write(f"{STREAM},viewer{i // 5},{rnd.uniform(0, 3590):.1f},medical_claim,主播说能治病 {i}\n")
    engine = open_store(f"sqlite:///{db}")
    began = time.perf_counter()
    with Session(engine) as session:
        import_reports(session, csv_path, batch=batch)
    seconds = time.perf_counter() - began
    with Session(engine) as session:
        return seconds, session.exec(select(func.count()).select_from(Report)).one()


def line(name: str, r: LoadResult) -> str:
    lost = r.accepted - r.stored
    return (f"{name:<28} {r.per_second:7.0f} reports/s  p50 {r.percentile(0.5):6.1f} ms  p95 {r.percentile(0.95):6.1f} ms"
            f"  p99 {r.percentile(0.99):6.1f} ms  accepted {r.accepted}/{r.sent}  errors {r.errors or 0}"
            f"  stored {r.stored} (lost {lost})  chain {'ok' if r.chain_ok else 'BROKEN'}"
            f"  CPU ms/report: server {1000 * r.server_cpu_s / max(1, r.accepted):.2f},"
            f" clients {1000 * r.client_cpu_s / max(1, r.accepted):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--reports", type=int, default=8000)
    parser.add_argument("--no-baseline", action="store_true", help="only the grouped intake")
    parser.add_argument("--import-rows", type=int, default=100_000, help="rows for the file import (0: none)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from batch import machine

    print(f"machine: {machine()}")
    print(f"load: {args.reports} reports from {args.clients} clients over loopback HTTP, SQLite")
    with tempfile.TemporaryDirectory() as tmp:
        grouped = load_test(Path(tmp), clients=args.clients, reports=args.reports)
        print(line("grouped intake", grouped))
        if not args.no_baseline:
            single = load_test(Path(tmp), clients=args.clients, reports=args.reports, group=1)
            print(line("one report per transaction", single))
            print(f"ratio: {grouped.per_second / single.per_second:.1f}x the reports per second, "
                  f"p99 {single.percentile(0.99) / grouped.percentile(0.99):.1f}x lower")
        if args.import_rows:
            seconds, stored = import_test(Path(tmp), rows=args.import_rows, batch=1000)
            print(f"import {args.import_rows} rows, batches of 1000:  {seconds:6.1f} s  {args.import_rows / seconds:6.0f} rows/s"
                  f"  ({stored} reports, the rest folded)")
            slice_rows = min(args.import_rows, 2000)
            base_seconds, _ = import_test(Path(tmp), rows=slice_rows, batch=1)
            print(f"import {slice_rows} rows, one per transaction: {base_seconds:6.1f} s  {slice_rows / base_seconds:6.0f} rows/s")
            print(f"ratio: {(args.import_rows / seconds) / (slice_rows / base_seconds):.1f}x the rows per second")


if __name__ == "__main__":
    main()
