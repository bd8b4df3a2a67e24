"""Report intake: validation, file import with line numbers, folding, rate limits, attaching
(including a live report that waits for its segment), and credibility learned from decisions."""

import json
from datetime import timedelta

import pytest
from moderation_world import recording, reviewers, store_verdicts, verdict
from sqlmodel import Session, select

from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import InputError, NotFound, RateLimited
from pinocchio.moderation.cases import claim_case, confirm_case, dismiss_case
from pinocchio.moderation.projection import credibility
from pinocchio.moderation.report_files import import_reports
from pinocchio.moderation.reports import (
    ReportOptions,
    attach_all_waiting,
    attach_waiting_reports,
    list_reports,
    reporter_credibility,
    submit_report,
)
from pinocchio.store import open_store, scans, tables
from pinocchio.store.projections import Case, Report

SEGMENTS = [verdict(0, 2), verdict(2, 4, "review", "medical_claim"), verdict(4, 6, "remind", "absolute_claim", 2),
            verdict(40, 43), verdict(100, 103)]


@pytest.fixture
def session(db_url):
    with Session(open_store(db_url)) as session:
        yield session


def test_credibility_is_a_beta_prior_mean():
    assert credibility(0, 0) == 0.5
    assert credibility(3, 0) == 0.8
    assert credibility(1, 1) == 0.5
    assert credibility(0, 2) == 0.25
    assert credibility(8, 2) == pytest.approx(9 / 12)


def test_a_report_attaches_to_flagged_segments_in_its_window_and_the_one_being_said(session):
    stream, rows = recording(session, verdicts=SEGMENTS)
    receipt = submit_report(session, stream=stream.id, reporter_id="v1", at=30, label="medical_claim", comment="治病?")
    # flagged 2-4 and 4-6 lie in [0, 32]; the pass segments 0-2 (flagged? no) and 40-43 are not near 30
    assert receipt.status == "accepted" and receipt.segment_ids == (rows[1].id, rows[2].id)
    assert receipt.credibility == 0.5
    near = submit_report(session, stream="room1", reporter_id="v2", at=44.5)
    assert near.segment_ids == (rows[3].id,)  # nothing flagged near: what was being said
    cases = {c.segment_id: c for c in session.exec(select(Case)).all()}
    assert set(cases) == {rows[1].id, rows[2].id, rows[3].id}  # the review case, and the reported ones
    assert cases[rows[2].id].report_count == 1 and cases[rows[2].id].report_weight == 0.5
    assert cases[rows[1].id].status == "open"


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stream=99), NotFound, "stream 99 not found"),
    (dict(stream="nosuchroom"), NotFound, "stream nosuchroom not found"),
    (dict(label="lying"), InputError, "label 'lying' is not one of: absolute_claim"),
    (dict(at="yesterday"), InputError, "at 'yesterday' is neither seconds nor an ISO 8601 time"),
    (dict(at=-3), InputError, "seconds into the stream must be 0 or more"),
    (dict(at=4000), InputError, "past the end of stream"),
    (dict(at="2025-06-01T20:15:00"), InputError, "has no UTC offset"),
    (dict(reporter_id="  "), InputError, "reporter must be a non-empty id"),
    (dict(comment="x" * 2001), InputError, "more than 2000"),
])
def test_bad_reports_are_refused_before_anything_is_written(session, kwargs, error, message):
    stream, _ = recording(session, verdicts=SEGMENTS)
    events = session.exec(select(tables.ModerationEvent)).all()
    args = dict(stream=stream.id, reporter_id="v1", at=3.0) | kwargs
    with pytest.raises(error) as caught:
        submit_report(session, **args)
    assert message in str(caught.value)
    assert session.exec(select(tables.ModerationEvent)).all() == events


def test_duplicates_fold_into_the_first_report(session):
    stream, rows = recording(session, verdicts=SEGMENTS)
    first = submit_report(session, stream=stream.id, reporter_id="v1", at=5)
    again = submit_report(session, stream=stream.id, reporter_id="v1", at=50)  # within 60 s: the same thing
    other = submit_report(session, stream=stream.id, reporter_id="v2", at=5)  # another viewer counts
    later = submit_report(session, stream=stream.id, reporter_id="v1", at=200)  # far enough: a new report
    assert again.status == "folded" and again.report_id == first.report_id
    assert other.status == later.status == "accepted"
    assert session.get(Report, first.report_id).duplicates == 1
    case = session.get(Case, rows[1].id)
    assert case.report_count == 2 and case.report_weight == 1.0  # the duplicate adds no weight


def test_a_reporters_flood_is_rate_limited(session):
    stream, _ = recording(session, verdicts=SEGMENTS, duration_s=10_000)
    options = ReportOptions(rate_limit=3, rate_window_s=3600)
    for i in range(3):
        submit_report(session, stream=stream.id, reporter_id="spammer", at=i * 500, options=options)
    with pytest.raises(RateLimited, match="reporter spammer sent 3 reports in the last 3600 s"):
        submit_report(session, stream=stream.id, reporter_id="spammer", at=5000, options=options)
    submit_report(session, stream=stream.id, reporter_id="calm", at=5000, options=options)  # others are not
    quick = ReportOptions(rate_limit=3, rate_window_s=0.0)  # an empty window: the old ones no longer count
    assert submit_report(session, stream=stream.id, reporter_id="spammer", at=5000, options=quick).status == "accepted"


def test_import_keeps_good_rows_and_names_bad_ones_by_line(session, tmp_path):
    stream, rows = recording(session, verdicts=SEGMENTS)
    path = tmp_path / "reports.csv"
    path.write_text(
        "stream,reporter,at,label,comment\n"                       # 1
        f"{stream.id},v1,3.5,medical_claim,说能治病\n"               # 2 good
        f"{stream.id},v2,nonsense,,\n"                              # 3 bad time
        "\n"                                                        # 4 blank
        f'{stream.id},v3,41,,"two\nlines"\n'                        # 5-6 good, quoted newline
        f"{stream.id},v4,5,lying,\n"                                # 7 bad label
        "77,v5,5,,\n"                                               # 8 no such stream
        f"{stream.id},v6\n"                                         # 9 short row
        f"{stream.id},v1,20,,same again\n"                          # 10 duplicate of line 2
        "room1,v7,2025-06-01T20:15:00+08:00,,\n",                   # 11 before the stream was followed
        encoding="utf-8")
    result = import_reports(session, path)
    assert (result.accepted, result.folded) == (2, 1)
    assert result.rejected == (
        f"{path}:3: at 'nonsense' is neither seconds nor an ISO 8601 time",
        f"{path}:7: label 'lying' is not one of: absolute_claim, medical_claim, efficacy_guarantee, "
        "false_endorsement, price_deception, fake_scarcity, off_platform_trade, superstition, staged_hype",
        f"{path}:8: stream 77 not found",
        f"{path}:9: 2 fields, the header has 5",
        f"{path}:11: at 2025-06-01T12:15:00+00:00 is before stream {stream.id} was first followed",
    )
    assert [r.comment for r in list_reports(session)] == ["two\nlines", "说能治病"]


def test_import_jsonl_and_a_bad_header(session, tmp_path):
    stream, _ = recording(session, verdicts=SEGMENTS)
    path = tmp_path / "reports.jsonl"
    path.write_text("\n".join([
        json.dumps({"stream": stream.id, "reporter": "v1", "at": 3, "label": "medical_claim"}),
        "{not json",
        json.dumps({"stream": stream.id, "reporter": "v2", "at": 3, "colour": "red"}),
        json.dumps([1, 2]),
        json.dumps({"stream": "room1", "reporter": 42, "at": "100.5"}),
    ]) + "\n", encoding="utf-8")
    result = import_reports(session, path)
    assert result.accepted == 2
    assert [m.split(": ", 1)[0] for m in result.rejected] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "unknown key 'colour'" in result.rejected[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("stream,who,at\n1,v1,3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv:1: missing column 'reporter'"):
        import_reports(session, bad)


def test_a_live_report_waits_for_its_segment(session):
    stream = scans.live_stream_for(session, source="rtmp://host/live/room9")
    stream.streamer_id = "streamer-9"
    scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={})
    first, = store_verdicts(session, scan, [verdict(0, 3)])
    assert attach_waiting_reports(session, first) == []
    wall = aware(scan.started_at) + timedelta(seconds=12)  # the viewer heard it 12 s into the feed
    receipt = submit_report(session, stream=stream.id, reporter_id="v1", at=wall.isoformat())
    assert receipt.segment_ids == ()  # not transcribed yet: it waits
    assert [r.id for r in list_reports(session, waiting=True)] == [receipt.report_id]
    row, = store_verdicts(session, scan, [verdict(9, 11.5, "review", "medical_claim")])  # the ledger attaches it
    assert attach_waiting_reports(session, row) == []  # attached once
    case = session.get(Case, row.id)
    assert case.status == "open" and case.report_count == 1 and case.severity == 3
    assert list_reports(session, waiting=True) == []
    assert session.get(Report, receipt.report_id).at_s == pytest.approx(12.0)


def test_reports_before_a_batch_scan_attach_afterwards(session):
    stream = scans.stream_for(session, source="later.m4a", content_sha256="ef" * 32, duration_s=None)
    receipt = submit_report(session, stream=stream.id, reporter_id="v1", at=3)
    assert receipt.segment_ids == ()
    scan = scans.start_scan(session, stream=stream, pipeline_version="test", provenance={})
    rows = store_verdicts(session, scan, SEGMENTS)  # each segment meets the reports waiting for it
    assert attach_all_waiting(session) == 0  # nothing left over
    linked = list_reports(session)[0].segment_ids
    assert {rows[1].id, rows[2].id} <= set(linked)  # the flagged 2-4 (being said at 3) and 4-6
    # Stored one by one, the compliant 0-2 came before anything covered the moment, and took it:
    # still at most one passed sentence per report.
    assert len(set(linked) - {rows[1].id, rows[2].id}) <= 1


def test_credibility_is_learned_from_decisions(session):
    reviewers(session)
    stream, rows = recording(session, verdicts=SEGMENTS + [verdict(300, 302, "review", "medical_claim")])
    submit_report(session, stream=stream.id, reporter_id="good", at=3)  # points at 0-2, 2-4 and 4-6
    submit_report(session, stream=stream.id, reporter_id="bad", at=101)  # points at 100-103 only
    for segment in (rows[1], rows[2]):
        claim_case(session, reviewer="alice", segment_id=segment.id)
        confirm_case(session, reviewer="alice", segment_id=segment.id, labels=["medical_claim"])
    claim_case(session, reviewer="alice", segment_id=rows[4].id)
    dismiss_case(session, reviewer="alice", segment_id=rows[4].id)
    assert [r.outcome for r in list_reports(session)] == ["dismissed", "confirmed"]
    assert reporter_credibility(session, "good") == pytest.approx(2 / 3)  # (1 + 1) / (1 + 0 + 2)
    assert reporter_credibility(session, "bad") == pytest.approx(1 / 3)   # (0 + 1) / (0 + 1 + 2)
    late = submit_report(session, stream=stream.id, reporter_id="good", at=301)
    assert late.credibility == pytest.approx(2 / 3)
    assert session.get(Case, rows[5].id).report_weight == pytest.approx(2 / 3, abs=1e-6)


def test_a_wall_time_on_a_feed_with_one_clock_counts_from_its_epoch(session):
    from types import SimpleNamespace

    from pinocchio.moderation.reports import _position

    epoch = utcnow() - timedelta(hours=2)  # the feed's clock survives worker restarts
    feed = SimpleNamespace(id=5, duration_s=None, live_epoch=epoch.replace(tzinfo=None))  # naive, as SQLite gives it
    at_s, reported_at, scan_id = _position(session, feed, (epoch + timedelta(seconds=4000)).isoformat(), utcnow())
    assert at_s == pytest.approx(4000) and scan_id is None and reported_at == epoch + timedelta(seconds=4000)
    with pytest.raises(InputError, match="before stream 5 was first followed"):
        _position(session, feed, (epoch - timedelta(seconds=1)).isoformat(), utcnow())
