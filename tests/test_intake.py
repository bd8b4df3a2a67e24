"""The API's report intake under load: many clients over real HTTP on loopback, nothing accepted
lost (reports stored = reports accepted, the chain verified), groups formed by themselves, a
writer process that dies is started again, and a full intake says 503 rather than waiting forever.
A tenth of the load benchmark (`benchmarks/intake.py`); its timings decide nothing here."""

import os
import signal
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from pinocchio.core.errors import InputError, Unavailable
from pinocchio.moderation.intake import IntakeFull, ReportIntake, WriterProcess, Written
from pinocchio.moderation.reports import ReportReceipt, ReportRequest
from pinocchio.store import open_store
from pinocchio.store.projections import Report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import intake as bench  # noqa: E402


def test_a_tenth_of_the_load_loses_nothing(tmp_path):
    result = bench.load_test(tmp_path, clients=16, reports=800)
    assert result.errors == {} and result.accepted == 800
    assert result.stored == result.accepted
    assert result.chain_ok


@pytest.fixture
def store(tmp_path) -> str:
    db = tmp_path / "intake.db"
    bench.make_store(db, sentences=50)
    return f"sqlite:///{db}"


def request(i: int, **changes) -> ReportRequest:
    values = {"stream": bench.STREAM, "reporter": f"viewer-{i}", "at": float(i % 290), "label": "medical_claim",
              "comment": "主播说能治病"} | changes
    return ReportRequest(**values)


def test_requests_waiting_together_are_written_as_one_group(store):
    intake = ReportIntake(store)
    try:
        answers = [intake.submit(request(i)) for i in range(200)]  # queued faster than one group is written
        receipts = [a.result(timeout=60) for a in answers]
    finally:
        intake.close()
    assert all(isinstance(r, ReportReceipt) and r.status == "accepted" for r in receipts)
    stats = intake.stats()
    assert stats.requests == 200 and stats.groups < 200 and stats.largest_group > 1
    with Session(open_store(store)) as session:
        assert session.exec(select(func.count()).select_from(Report)).one() == 200


def test_a_bad_request_is_its_own_error_in_a_group(store):
    intake = ReportIntake(store)
    try:
        good, bad = intake.submit(request(1)), intake.submit(request(2, label="lying"))
        assert good.result(timeout=60).status == "accepted"
        with pytest.raises(InputError, match="label 'lying'"):
            bad.result(timeout=60)
    finally:
        intake.close()


def test_a_writer_process_that_dies_is_started_again(store):
    writer = WriterProcess(store)
    intake = ReportIntake(store, writer=writer)
    try:
        assert intake.submit(request(1)).result(timeout=60).status == "accepted"
        os.kill(writer._process.pid, signal.SIGKILL)
        writer._process.join(10)
        answer = intake.submit(request(2))
        try:
            receipt = answer.result(timeout=60)
        except Unavailable:  # the group the dead writer held hears it; the next one is written
            receipt = intake.submit(request(3)).result(timeout=60)
        assert receipt.status == "accepted"
    finally:
        intake.close()


class _Stuck:
    """A writer that never finishes, to fill the queue behind it."""

    def __init__(self):
        self.release = Future()

    def write(self, requests):
        self.release.result(timeout=60)
        return Written([ReportReceipt(1, "accepted", (), 0.5) for _ in requests])

    def close(self):
        pass


def test_a_full_intake_refuses_at_once():
    stuck = _Stuck()
    intake = ReportIntake("sqlite://", writer=stuck, max_waiting=3)
    try:
        first = intake.submit(request(0))
        while intake.waiting():  # the writer took the first and holds it
            pass
        for i in range(3):
            intake.submit(request(i + 1))
        with pytest.raises(IntakeFull):
            intake.submit(request(9))
    finally:
        stuck.release.set_result(None)
        intake.close()
    assert first.result(timeout=10).status == "accepted"
