"""Notices and records: a penalty notice to the streamer (signed webhook, sent once from an outbox,
tried again when the platform is down, and again for a reversal), a case's bundle for a regulator
that verifies from the file alone, and evidence clips purged after their retention by an event."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import timedelta

import pytest
from conftest import WEBHOOK_SECRET
from moderation_world import PIPELINE, recording, reviewers, verdict
from sqlmodel import Session, select
from typer.testing import CliRunner
from web_world import real_clip

from pinocchio.cli import app
from pinocchio.core.clock import utcnow
from pinocchio.core.errors import ConfigError, InputError
from pinocchio.core.events import Evidence
from pinocchio.listen.evidence import EvidenceStore
from pinocchio.moderation.appeals import file_appeal, resolve_appeal
from pinocchio.moderation.bundle import verify_bundle, write_bundle
from pinocchio.moderation.cases import claim_case, confirm_case
from pinocchio.moderation.ledger import rebuild, snapshot
from pinocchio.moderation.notices import NoticeOptions, deliver_notices
from pinocchio.moderation.retention import purge_clips, remove_files
from pinocchio.store import open_store
from pinocchio.store.projections import EvidenceClip
from pinocchio.store.tables import ModerationEvent, PenaltyNotice

runner = CliRunner()


@pytest.fixture
def engine(db_url):
    return open_store(db_url)


@pytest.fixture
def decided(engine, tmp_path):
    """A confirmed medical claim of streamer-1 with its clip (the test ladder: a warning at 1 point)."""
    clips = EvidenceStore(tmp_path / "evidence")
    with Session(engine) as session:
        reviewers(session)
        _, rows = recording(session, verdicts=[verdict(8, 10), verdict(10, 12, "review", "medical_claim", severity=3),
                                               verdict(12, 14)])
        clip = real_clip(clips)
        PIPELINE.record(session, Evidence(clip=clip), subject_id=rows[1].id, stream_id=rows[1].stream_id)
        session.commit()
        claim_case(session, reviewer="alice", segment_id=rows[1].id)
        decision = confirm_case(session, reviewer="alice", segment_id=rows[1].id, labels=["medical_claim"])
        session.commit()
        return rows[1].id, decision.penalty_id, tmp_path / "evidence", clip


def test_a_penalty_notice_is_sent_signed_once_with_article_line_clip_and_appeal(engine, decided, receiver):
    segment_id, penalty_id, _, clip = decided
    options = NoticeOptions(receiver["url"], WEBHOOK_SECRET, console_url="https://console.example")
    with Session(engine) as session:
        done = deliver_notices(session, options)
        session.commit()
        assert [(d.penalty_id, d.kind, d.delivered) for d in done] == [(penalty_id, "penalty", True)]
        assert deliver_notices(session, options) == []  # sent once
    notice, = receiver["good"]
    assert receiver["bad_signatures"] == 0
    assert (notice["type"], notice["penalty_id"], notice["streamer_id"]) == ("penalty_notice", penalty_id, "streamer-1")
    assert notice["labels"] == [{"label": "medical_claim", "article": "广告法第十七条"}]
    assert notice["transcript"]["text"] == "第10秒说的话" and notice["transcript"]["start"] == 10.0
    assert notice["clip"] == f"https://console.example/evidence/{clip}"
    assert notice["appeal"]["penalty_id"] == penalty_id and "/api/v1/appeals" in notice["appeal"]["url"]


def test_a_notice_the_platform_refuses_is_tried_again_later_and_a_reversal_is_told_too(engine, decided, receiver):
    segment_id, penalty_id, _, _ = decided
    options = NoticeOptions(receiver["url"], WEBHOOK_SECRET)
    receiver["plan"] = [503]
    now = utcnow()
    with Session(engine) as session:
        failed, = deliver_notices(session, options, now=now)
        session.commit()
        assert not failed.delivered and "503" in failed.error
        assert deliver_notices(session, options, now=now + timedelta(seconds=30)) == []  # waits a minute
        again, = deliver_notices(session, options, now=now + timedelta(minutes=2))
        assert again.delivered and session.get(PenaltyNotice, (penalty_id, "penalty")).attempts == 2
        appeal = file_appeal(session, penalty_id=penalty_id, streamer_id="streamer-1", reason="我说的是不能治病")
        resolve_appeal(session, reviewer="sam", appeal_id=appeal.id, uphold=True)
        session.commit()
        reversal, = deliver_notices(session, options)
        session.commit()
    assert reversal.kind == "reversal" and reversal.delivered
    assert [n["type"] for n in receiver["good"]] == ["penalty_notice", "penalty_reversed"]
    assert receiver["good"][1]["reversed_by"] == "sam"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_notify_from_the_command_line(db_url, decided, receiver, monkeypatch):
    monkeypatch.setenv("PINOCCHIO_NOTICE_WEBHOOK", receiver["url"])
    monkeypatch.setenv("PINOCCHIO_WEBHOOK_SECRET", WEBHOOK_SECRET)
    result = runner.invoke(app, ["penalties", "notify", "--db", db_url])
    assert result.exit_code == 0 and "notice: delivered" in result.stdout and len(receiver["good"]) == 1
    monkeypatch.delenv("PINOCCHIO_NOTICE_WEBHOOK")
    refused = runner.invoke(app, ["penalties", "notify", "--db", db_url])
    assert refused.exit_code == 2 and "PINOCCHIO_NOTICE_WEBHOOK" in refused.stderr


def test_a_case_bundle_holds_everything_and_verifies_from_the_file_alone(engine, decided, tmp_path):
    segment_id, penalty_id, evidence, clip = decided
    out = tmp_path / "case.zip"
    with Session(engine) as session:
        manifest = write_bundle(session, segment_id, out, evidence)
    assert set(manifest["files"]) == {"case.json", "transcript.txt", f"clip/{clip}", "events.jsonl", "chain.jsonl"}
    with zipfile.ZipFile(out) as bundle:
        case = json.loads(bundle.read("case.json"))
        transcript = bundle.read("transcript.txt").decode("utf-8")
        actions = [json.loads(line)["action"] for line in bundle.read("events.jsonl").decode().splitlines()]
    assert case["case"]["labels"] == ["medical_claim"] and case["case"]["decided_by"] == "alice"
    assert case["findings"][0]["article"] == "广告法第十七条" and "广告法第十七条" in case["articles"]
    assert case["penalties"][0]["id"] == penalty_id
    assert ">> [00:10.0-00:12.0] review" in transcript and "   [00:08.0-00:10.0]" in transcript
    assert actions == ["flag", "evidence", "claim", "decide", "penalize"]
    assert "11 files" not in verify_bundle(out) and "case events are on" in verify_bundle(out)
    assert runner.invoke(app, ["cases", "verify-bundle", str(out)]).exit_code == 0


def tampered(source, target, name, change):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.namelist():
            data = old.read(item)
            new.writestr(item, change(data) if item == name else data)
    return target


def test_a_bundle_that_was_changed_does_not_verify(engine, decided, tmp_path):
    segment_id, _, evidence, _ = decided
    out = tmp_path / "case.zip"
    with Session(engine) as session:
        write_bundle(session, segment_id, out, evidence)
    edited = tampered(out, tmp_path / "a.zip", "case.json", lambda b: b.replace("alice".encode(), "bob".encode()))
    with pytest.raises(InputError, match="case.json does not match its sha256"):
        verify_bundle(edited)

    def rewrite_event(data: bytes) -> bytes:  # the decision's labels changed, and the manifest with it
        lines = data.decode().splitlines()
        k = next(i for i, line in enumerate(lines) if json.loads(line)["action"] == "decide")
        event = json.loads(lines[k])
        event["payload"] = event["payload"].replace("medical_claim", "absolute_claim")
        lines[k] = json.dumps(event, ensure_ascii=False)
        return ("\n".join(lines) + "\n").encode()

    forged = tampered(out, tmp_path / "b.zip", "chain.jsonl", rewrite_event)
    with zipfile.ZipFile(forged) as bundle:
        manifest = json.loads(bundle.read("MANIFEST.json"))
        manifest["files"]["chain.jsonl"] = hashlib.sha256(bundle.read("chain.jsonl")).hexdigest()
    forged = tampered(forged, tmp_path / "c.zip", "MANIFEST.json", lambda _: json.dumps(manifest).encode())
    with pytest.raises(InputError, match="hash does not match its content"):
        verify_bundle(forged)
    with pytest.raises(InputError, match="not a bundle"):
        verify_bundle(tmp_path / "nothing.zip")


def test_clips_past_their_retention_are_purged_by_an_event_and_a_rebuild_agrees(engine, decided, tmp_path):
    segment_id, _, evidence, clip = decided
    with pytest.raises(ConfigError, match="at least 1095 days"):
        with Session(engine) as session:
            purge_clips(session, retention_days=30)
    with Session(engine) as session:
        assert purge_clips(session, retention_days=1096) == []  # cut today: kept
        later = utcnow() + timedelta(days=1100)
        would = purge_clips(session, retention_days=1096, now=later, dry_run=True)
        assert [p.clip for p in would] == [clip] and (evidence / clip).is_file()
        purged = purge_clips(session, retention_days=1096, now=later)
        session.commit()
        assert remove_files(session, evidence) == 1 and not (evidence / clip).exists()
        event = session.exec(select(ModerationEvent).where(ModerationEvent.action == "purge_evidence")).one()
        assert (event.actor, event.subject) == ("retention", f"segment:{segment_id}") and clip in event.payload
        assert session.get(EvidenceClip, segment_id).purged_at is not None and [p.clip for p in purged] == [clip]
        assert purge_clips(session, retention_days=1096, now=later) == []  # purged once
        before = snapshot(session)
        rebuild(session)
        session.commit()
        assert snapshot(session) == before


def test_a_clip_an_undecided_case_or_a_pending_appeal_needs_is_kept(engine, decided, tmp_path):
    segment_id, penalty_id, evidence, _ = decided
    clips = EvidenceStore(evidence)
    with Session(engine) as session:
        _, (open_row,) = recording(session, name="room2", verdicts=[verdict(1, 3, "review", "medical_claim")])
        PIPELINE.record(session, Evidence(clip=real_clip(clips, 2.0)), subject_id=open_row.id, stream_id=open_row.stream_id)
        file_appeal(session, penalty_id=penalty_id, streamer_id="streamer-1", reason="不服")
        session.commit()
        assert purge_clips(session, retention_days=1096, now=utcnow() + timedelta(days=2000), dry_run=True) == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_console_gives_seniors_the_bundle_and_shows_a_purged_clip(client, world, tmp_path):
    from web_client import login

    login(client, "alice", world.password)
    assert client.get(f"/cases/{world.case_id}/bundle").status_code == 403  # a plain reviewer
    client.post("/logout")
    login(client, "sam", world.password)
    answer = client.get(f"/cases/{world.case_id}/bundle")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    (tmp_path / "got.zip").write_bytes(answer.content)
    assert "case events are on" in verify_bundle(tmp_path / "got.zip")
    assert f"/cases/{world.case_id}/bundle" in client.get(f"/cases/{world.case_id}").text
    engine = open_store(world.db_url)
    with Session(engine) as session:  # decided, then kept three years: the clip may go
        claim_case(session, reviewer="sam", segment_id=world.case_id)
        confirm_case(session, reviewer="sam", segment_id=world.case_id, labels=["medical_claim"])
        purge_clips(session, retention_days=1096, now=utcnow() + timedelta(days=1100))
        session.commit()
    page = client.get(f"/cases/{world.case_id}").text
    assert "The clip was deleted on" in page and "<audio" not in page


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_console_s_server_sends_a_new_penalty_s_notice_by_itself(db_url, decided, receiver, tmp_path):
    import time

    from fastapi.testclient import TestClient

    from pinocchio.core.settings import Settings
    from pinocchio.web import create_app

    _, penalty_id, _, _ = decided
    app = create_app(Settings(db_url=db_url, secret_key="test", notice_webhook=receiver["url"],
                              webhook_secret=WEBHOOK_SECRET, deadline_sweep_s=0))
    with TestClient(app):
        deadline = time.monotonic() + 30
        while not receiver["good"] and time.monotonic() < deadline:
            time.sleep(0.2)
    assert [n["penalty_id"] for n in receiver["good"]] == [penalty_id]
    with pytest.raises(ConfigError, match="PINOCCHIO_NOTICE_WEBHOOK needs PINOCCHIO_WEBHOOK_SECRET"):
        create_app(Settings(db_url=db_url, notice_webhook=receiver["url"]))
