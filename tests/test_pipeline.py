"""The one pipeline with a scripted transcriber (no whisper): a batch scan stores its verdicts,
hands each to the ledger, cuts evidence, records its provenance, and is not repeated."""

from __future__ import annotations

import json

import pytest
from conftest import SPEECH
from scripted import ScriptedTranscriber
from sqlmodel import Session, select

from pinocchio.core.settings import Settings
from pinocchio.listen.evidence import EvidenceStore
from pinocchio.listen.pipeline import Pipeline
from pinocchio.listen.streaming import StreamOptions
from pinocchio.moderation.ledger import ModerationLedger, history
from pinocchio.store import open_store
from pinocchio.store.projections import Case, EvidenceClip
from pinocchio.store.tables import Scan, SegmentRow

CLIP = SPEECH / "funasr_paraformer_example_0.wav"  # 5.5 s of real speech
SCRIPT = [(0.2, 1.8, "家人们晚上好"), (2.0, 3.4, "这个茶能治糖尿病"), (3.6, 5.2, "我们家是全网最低价")]


@pytest.fixture
def scripted():
    return Pipeline(Settings(), transcriber=ScriptedTranscriber(SCRIPT))


def test_provenance_names_every_option_that_changes_what_is_stored(scripted):
    found = scripted.provenance(StreamOptions())
    assert {"pipeline", "asr", "device", "compute_type", "segment", "lexicon", "lexicon_files", "scorers",
            "scorer_thresholds", "review_severity", "confident_score", "stream"} <= set(found)
    name, = found["scorers"]
    assert set(found["scorer_thresholds"][name]) >= {"medical_claim", "fake_scarcity"}
    card = scripted.classifier.card
    assert found["confident_score"] == max(card.confident, card.stand_alone)  # calibrated on real speech
    assert found["stand_alone_by_label"] == card.stand_alone_by_label
    assert "stream" not in scripted.provenance()  # a batch scan has no live options
    json.dumps(found)  # stored as JSON with the scan


def test_a_batch_scan_stores_flags_and_clips_through_the_ledger_once(scripted, tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    ledger = ModerationLedger("pinocchio@test")
    outcome = scripted.scan_file(CLIP, engine, ledger, evidence=EvidenceStore(tmp_path / "clips"))
    assert outcome.status == "scanned"
    assert [(v.segment.text, str(v.action)) for v in outcome.verdicts] == [
        ("家人们晚上好", "pass"), ("这个茶能治糖尿病", "review"), ("我们家是全网最低价", "remind")]
    with Session(engine) as session:
        rows = session.exec(select(SegmentRow).order_by(SegmentRow.start_ms)).all()
        assert [e.action for r in rows for e in history(session, f"segment:{r.id}")] == [
            "flag", "evidence", "flag", "evidence"]
        assert session.get(Case, rows[1].id) is not None and session.get(Case, rows[2].id) is None
        clips = session.exec(select(EvidenceClip)).all()
        assert {c.segment_id for c in clips} == {rows[1].id, rows[2].id}
        assert all((tmp_path / "clips" / c.clip).stat().st_size > 500 for c in clips)
        provenance = json.loads(session.exec(select(Scan)).one().provenance)
        assert provenance["asr"]["model"] == "scripted"
    again = scripted.scan_file(CLIP, engine, ledger)
    assert again.status == "skipped" and [v.segment.text for v in again.verdicts] == [t for _, _, t in SCRIPT]
