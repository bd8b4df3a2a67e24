"""Report files that lose nothing: each bad line is its own error and the lines around it are kept
(bad bytes, a NUL, a field over the csv module's limit, a quote left open, wrong JSON types);
rows are committed in batches, a crash loses at most the batch in hand, and a re-run stores
nothing twice. A group of reports written together leaves the same state as a replay of its
events."""

import json

import pytest
from moderation_world import recording, verdict
from sqlmodel import Session, select

from pinocchio.moderation import report_files
from pinocchio.moderation.audit import verify_chain
from pinocchio.moderation.ledger import event_count, rebuild, snapshot
from pinocchio.moderation.report_files import import_reports
from pinocchio.moderation.reports import ReportRequest, take_reports
from pinocchio.store import open_store
from pinocchio.store.projections import Case, Report, ReportLink

SEGMENTS = [verdict(0, 2), verdict(2, 4, "review", "medical_claim"), verdict(4, 6, "remind", "absolute_claim", 2),
            verdict(40, 43), verdict(100, 103)]
HEADER = b"stream,reporter,at,label,comment\n"


@pytest.fixture
def session(db_url):
    with Session(open_store(db_url)) as session:
        yield session


@pytest.fixture
def stream(session):
    stream, _ = recording(session, verdicts=SEGMENTS)
    session.commit()
    return stream


def test_each_bad_csv_line_is_its_own_error_and_the_rest_is_kept(session, stream, tmp_path):
    path = tmp_path / "reports.csv"
    path.write_bytes(
        HEADER                                                        # 1
        + b"room1,v1,3,,good\n"                                       # 2
        + b"room1,v2,3,,caf\xe9 latin-1\n"                            # 3 not UTF-8
        + b"room1,v3,41,,kept after a bad byte\n"                     # 4
        + b"room1,v4,3,,NUL \x00 inside\n"                            # 5 a NUL
        + b"room1,v5,3,," + b"x" * 200_000 + b"\n"                    # 6 over the csv field limit
        + b"room1,v6,101,,kept after a huge field\n"                  # 7
        + b'room1,v7,3,,"a quote left open\n'                         # 8 never closed
        + b"room1,v8,41,,kept after the open quote\n"                 # 9
        + b'room1,v9,3,,"a comment over\n'                            # 10-11 a quoted line break is fine
        + b'two lines"\n'
        + b"room1,v10,3,,bad \x1b[31m escape\n")                      # 12 control characters refused
    result = import_reports(session, path)
    assert result.accepted == 5
    reasons = {int(m.split(":")[1]): m.split(": ", 1)[1] for m in result.rejected}
    assert sorted(reasons) == [3, 5, 6, 8, 12]
    assert reasons[3].startswith("not UTF-8 text (byte 0xe9")
    assert reasons[5].startswith("a NUL byte")
    assert "field larger than field limit" in reasons[6] or "at most 2000" in reasons[6]
    assert "quote is left open" in reasons[8]
    assert "control character" in reasons[12]
    comments = {r.reporter_id: r.comment for r in session.exec(select(Report)).all()}
    assert comments == {"v1": "good", "v3": "kept after a bad byte", "v6": "kept after a huge field",
                        "v8": "kept after the open quote", "v9": "a comment over\ntwo lines"}


def test_wrong_json_types_are_refused_line_by_line(session, stream, tmp_path):
    rows = [{"stream": stream.id, "reporter": "v1", "at": 3},
            {"stream": [1], "reporter": "v2", "at": 3},
            {"stream": stream.id, "reporter": "v3", "at": 3, "label": 5},
            {"stream": stream.id, "reporter": None, "at": 3},
            {"stream": stream.id, "reporter": "v5", "at": {"s": 3}},
            {"stream": stream.id, "reporter": "v6", "at": 3, "comment": ["a"]},
            {"stream": 2**70, "reporter": "v7", "at": 3},
            {"stream": stream.id, "reporter": "v8", "at": 41}]
    path = tmp_path / "reports.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = import_reports(session, path)
    assert result.accepted == 2
    assert [int(m.split(":")[1]) for m in result.rejected] == [2, 3, 4, 5, 6, 7]
    assert all("Traceback" not in m for m in result.rejected)


def test_a_rerun_stores_nothing_twice(session, stream, tmp_path):
    path = tmp_path / "reports.csv"
    path.write_bytes(HEADER + b"room1,v1,3,,a\nroom1,v1,3,,a\nroom1,v2,41,,b\nroom1,v3,bad,,\n")
    first = import_reports(session, path)
    assert (first.accepted, first.folded, first.stored, len(first.rejected)) == (2, 1, 0, 1)
    events = event_count(session)
    again = import_reports(session, path)
    assert (again.accepted, again.folded, again.stored, len(again.rejected)) == (0, 0, 3, 1)
    assert event_count(session) == events
    assert session.exec(select(Report.duplicates).where(Report.reporter_id == "v1")).one() == 1


def test_a_crash_loses_at_most_one_batch_and_the_rerun_finishes(session, stream, tmp_path, monkeypatch):
    path = tmp_path / "reports.csv"
    path.write_bytes(HEADER + b"".join(f"room1,viewer{i},{i % 500},,row {i}\n".encode() for i in range(25)))
    calls = {"n": 0}
    real = report_files.take_reports

    def crash_on_third(session, requests, options, segments):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real(session, requests, options, segments)

    monkeypatch.setattr(report_files, "take_reports", crash_on_third)
    seen = []
    with pytest.raises(RuntimeError):
        import_reports(session, path, batch=10, progress=lambda done, total: seen.append((done, total)))
    session.rollback()
    assert session.exec(select(Report)).all().__len__() == 20  # two batches committed, the third lost
    assert seen == [(11, 26), (21, 26)]  # lines read after each committed batch, of the file's
    monkeypatch.setattr(report_files, "take_reports", real)
    result = import_reports(session, path, batch=10)
    assert (result.accepted, result.stored) == (5, 20)
    assert len(session.exec(select(Report)).all()) == 25
    assert verify_chain(session).ok


def test_a_group_written_together_is_what_a_replay_makes(session, stream):
    requests = [ReportRequest("room1", "v1", 3, "medical_claim", "first"),
                ReportRequest("room1", "v1", 20, None, "folds into the first, new in the same group"),
                ReportRequest(stream.id, "v2", 41, None, "the passed sentence said then"),
                ReportRequest(stream.id, "v2", 41.5, None, "folds"),
                ReportRequest("room1", "v3", "nonsense"),
                ReportRequest("room1", "v4", 101, key="client-key-1"),
                ReportRequest("room1", "v4", 101, key="client-key-1")]
    results = take_reports(session, requests)
    session.commit()
    statuses = [getattr(r, "status", type(r).__name__) for r in results]
    assert statuses == ["accepted", "folded", "accepted", "folded", "InputError", "accepted", "InputError"]
    assert results[1].report_id == results[0].report_id and results[3].report_id == results[2].report_id
    assert results[0].segment_ids == (2, 3)  # the flagged segments around 3 s: 2-4 and 4-6
    again = take_reports(session, [ReportRequest("room1", "v4", 101, key="client-key-1")])[0]
    assert (again.status, again.report_id) == ("stored", results[5].report_id)
    links = session.exec(select(ReportLink.report_id, ReportLink.segment_id)).all()
    assert len(links) == 4  # v1: two flagged; v2: the sentence at 40-43; v4: 100-103
    assert session.exec(select(Case.report_count).where(Case.segment_id == 2)).one() == 1
    live = snapshot(session)
    rebuild(session)
    assert snapshot(session) == live
    assert verify_chain(session).ok
