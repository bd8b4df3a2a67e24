"""The store under many writers: segments stored per second, with their events chained onto the
moderation log, by 1 to 64 concurrent writers, each following its own stream, measured in one run.

    .venv/bin/python benchmarks/ledger.py [--writers 1,8,32,64] [--seconds 8] [--no-sqlite]

A private PostgreSQL cluster on loopback, durable (fsync on, as a production server runs), a fresh
database for each writer count. Each writer is a process (as a fleet's workers are) with its own
stream and scan that stores one flagged verdict per transaction the way a live feed does
(`store_verdict`: the segment, its finding, the ledger's `flag` event chained onto the log,
commit), as fast as it can, for `--seconds`. Printed per count: segments and events per second
against one writer, commit latency p50/p95, and `audit verify` over the whole log afterwards (it
must hold). The same on a SQLite file (one writer at a time by design) as the embedded baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the PostgreSQL launcher and the verdict maker the tests use
sys.path.insert(0, str(ROOT / "benchmarks"))


def write(url: str, k: int, ready, stop, out) -> None:
    """One writer, in its own process (as a fleet's workers are): its own stream and scan, then
    one flagged verdict per transaction until `stop`."""
    from moderation_world import PIPELINE, verdict
    from sqlmodel import Session

    from pinocchio.listen.pipeline import store_verdict
    from pinocchio.store import scans
    from pinocchio.store.engine import connect

    engine = connect(url, pool_size=1, max_overflow=0)
    latencies, errors = [], []
    with Session(engine) as session:
        stream = scans.stream_for(session, source=f"room{k}", content_sha256=f"{k:064x}", duration_s=None)
        scan = scans.start_scan(session, stream=stream, pipeline_version="bench", provenance={})
        session.commit()
        ready.wait()
        t = 0.0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                store_verdict(session, scan, verdict(t, t + 2.0, "review", "medical_claim"), PIPELINE)
                session.commit()
            except Exception as exc:  # counted and shown, the writer goes on
                session.rollback()
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
                continue
            latencies.append(time.perf_counter() - started)
            t += 2.0
    engine.dispose()
    out.put((latencies, errors))


def run(url: str, writers: int, seconds: float) -> dict:
    import multiprocessing

    from sqlmodel import Session, func, select

    from pinocchio.moderation.audit import verify_chain
    from pinocchio.store import open_store
    from pinocchio.store.tables import ModerationEvent, SegmentRow

    open_store(url).dispose()  # the schema, made as any process makes it
    context = multiprocessing.get_context("fork")  # the children start with the imports done
    ready, stop, out = context.Barrier(writers + 1), context.Event(), context.Queue()
    processes = [context.Process(target=write, args=(url, k, ready, stop, out)) for k in range(writers)]
    for process in processes:
        process.start()
    ready.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    results = [out.get(timeout=120) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    latencies = sorted(x for per, _ in results for x in per)
    errors = [e for _, per in results for e in per]
    engine = open_store(url)
    with Session(engine) as session:
        segments = session.exec(select(func.count()).select_from(SegmentRow)).one()
        events = session.exec(select(func.count()).select_from(ModerationEvent)).one()
        verify_started = time.perf_counter()
        report = verify_chain(session)
        verify_s = time.perf_counter() - verify_started
    engine.dispose()
    return {"writers": writers, "segments": segments, "events": events, "seconds": elapsed,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
            "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
            "errors": errors, "chain_ok": report.ok, "verify_s": verify_s}


def main() -> None:
    from batch import machine
    from postgres_server import start_postgres

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    counts = [int(x) for x in args.writers.split(",") if x]
    print(f"machine: {machine()}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="pinocchio-pg-"))
    server = start_postgres(folder, durable=True)
    try:
        version = server.psql("SHOW server_version").strip()
        print(f"PostgreSQL {version}, durable (fsync on, synchronous_commit on), loopback", flush=True)
        targets = [("postgresql", server.new_database)]
        if not args.no_sqlite:
            scratch = Path(tempfile.mkdtemp(prefix="pinocchio-ledger-"))
            names = iter(range(1000))
            targets.append(("sqlite", lambda: f"sqlite:///{scratch / f'l{next(names)}.db'}"))
        for name, new_url in targets:
            base = None
            for writers in counts:
                r = run(new_url(), writers, args.seconds)
                rate = r["segments"] / r["seconds"]
                base = base or rate
                print(f"{name:10s} {writers:3d} writer(s): {rate:7.0f} segments/s ({r['events'] / r['seconds']:.0f} "
                      f"events/s, {rate / base:.2f}x one writer), commit p50 {r['p50_ms']:.1f} ms, p95 "
                      f"{r['p95_ms']:.1f} ms, {len(r['errors'])} errors, chain {'verified' if r['chain_ok'] else 'BROKEN'}"
                      f" ({r['events']} events in {r['verify_s']:.1f} s)", flush=True)
                if r["errors"]:
                    print("   first errors:", sorted(set(r["errors"]))[:3], flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
