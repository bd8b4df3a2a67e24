"""The store under many writers: segments stored per second, with their events chained onto the
moderation log, by 1 to 64 concurrent writer processes, measured in one run, both ways a process
can store them.

    .venv/bin/python benchmarks/ledger.py [--writers 1,8,32,64] [--feeds 8] [--seconds 8] [--no-sqlite]

A private PostgreSQL cluster on loopback, durable (fsync on, as a production server runs), a fresh
database for each run. Each writer is a process (as a fleet's workers are) storing flagged
verdicts (the segment, its finding, the ledger's `flag` event chained onto the log) as fast as it
can, for `--seconds`:
- "one per transaction" (the baseline, the live path before the writer): one stream, each verdict
  stored and committed on its own (`store_verdict`, commit);
- "the live writer": `--feeds` streams, each in its own thread handing its verdicts to the
  process's one `VerdictWriter` and waiting for each to be committed, as a live worker's feeds do;
  the writer stores whatever waits in one transaction.
Printed per count: segments and events per second, the writer's against the baseline's, commit
latency p50/p95 (as a feed waits for it), verdicts per transaction, and `audit verify` over the
whole log afterwards (it must hold). The same on a SQLite file as the embedded case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the PostgreSQL launcher and the verdict maker the tests use
sys.path.insert(0, str(ROOT / "benchmarks"))


def keep_storing(store, stop, latencies: list, errors: list) -> None:
    """Flagged verdicts of one stream, two seconds apart, each stored by `store` as soon as the
    last one was, until `stop`: each store's latency kept, an error counted and the same one tried again."""
    from moderation_world import verdict

    t = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            store(verdict(t, t + 2.0, "review", "medical_claim"))
        except Exception as exc:  # counted and shown, the writer goes on
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            continue
        latencies.append(time.perf_counter() - started)
        t += 2.0


def write(url: str, k: int, feeds: int, ready, stop, out) -> None:
    """One writer process: `feeds` 0 stores one stream's verdicts one per transaction; more
    follows that many streams through one `VerdictWriter`."""
    from moderation_world import PIPELINE
    from sqlmodel import Session

    from pinocchio.listen.pipeline import store_verdict
    from pinocchio.live.writer import VerdictWriter
    from pinocchio.store import scans
    from pinocchio.store.engine import connect

    engine = connect(url, pool_size=2, max_overflow=0)  # this thread's, and the writer's
    latencies, errors = [], []
    with Session(engine) as session:
        streams = []
        for n in range(max(1, feeds)):
            stream = scans.stream_for(session, source=f"room{k}-{n}", content_sha256=f"{k:032x}{n:032x}",
                                      duration_s=None)
            scan = scans.start_scan(session, stream=stream, pipeline_version="bench", provenance={})
            streams.append(scan)
        session.commit()
        scan_ofs = [scans.ScanOf(id=scan.id, stream_id=scan.stream_id) for scan in streams]
        ready.wait(timeout=120)  # a writer that could not start breaks the barrier for all
        if not feeds:
            def one_per_transaction(stored) -> None:
                try:
                    store_verdict(session, streams[0], stored, PIPELINE)
                    session.commit()
                except Exception:
                    session.rollback()
                    raise

            keep_storing(one_per_transaction, stop, latencies, errors)
    batches = (0, 0)
    if feeds:
        writer = VerdictWriter(engine, PIPELINE)
        threads = [threading.Thread(target=keep_storing, args=(
            lambda stored, scan_of=scan_of: writer.store(scan_of, stored).result(), stop, latencies, errors))
            for scan_of in scan_ofs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        writer.close()
        batches = (writer.batches, writer.verdicts)
    engine.dispose()
    out.put((latencies, errors, batches))


def run(url: str, writers: int, feeds: int, seconds: float) -> dict:
    import multiprocessing

    from sqlmodel import Session, func, select

    from pinocchio.moderation.audit import verify_chain
    from pinocchio.store import open_store
    from pinocchio.store.tables import ModerationEvent, SegmentRow

    open_store(url).dispose()  # the schema, made as any process makes it
    context = multiprocessing.get_context("fork")  # the children start with the imports done
    ready, stop, out = context.Barrier(writers + 1), context.Event(), context.Queue()
    processes = [context.Process(target=write, args=(url, k, feeds, ready, stop, out)) for k in range(writers)]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    results = [out.get(timeout=120) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    latencies = sorted(x for per, _, _ in results for x in per)
    errors = [e for _, per, _ in results for e in per]
    batches, verdicts = sum(b for _, _, (b, _) in results), sum(v for _, _, (_, v) in results)
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
            "errors": errors, "chain_ok": report.ok, "verify_s": verify_s,
            "per_batch": verdicts / batches if batches else 1.0}


def main() -> None:
    from batch import machine
    from postgres_server import start_postgres

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", default="1,8,32,64")
    parser.add_argument("--feeds", type=int, default=8, help="streams per writer process on the live writer")
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
            for writers in counts:
                base = None
                for way, feeds in (("one per transaction", 0), ("the live writer", args.feeds)):
                    r = run(new_url(), writers, feeds, args.seconds)
                    rate = r["segments"] / r["seconds"]
                    base = base or rate
                    print(f"{name:10s} {writers:3d} writer(s), {way:19s}: {rate:7.0f} segments/s "
                          f"({r['events'] / r['seconds']:.0f} events/s, {rate / base:.2f}x the baseline), "
                          f"{r['per_batch']:.1f} per transaction, commit p50 {r['p50_ms']:.1f} ms, p95 "
                          f"{r['p95_ms']:.1f} ms, {len(r['errors'])} errors, chain "
                          f"{'verified' if r['chain_ok'] else 'BROKEN'} ({r['events']} events in {r['verify_s']:.1f} s)",
                          flush=True)
                    if r["errors"]:
                        print("   first errors:", sorted(set(r["errors"]))[:3], flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
