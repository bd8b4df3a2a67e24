"""`pinocchio scan` end to end with the real whisper model on real and demo audio."""

import json
import sqlite3

import pytest
from conftest import DEMO, SPEECH, false_flags, ffmpeg, missed_claims, speech_references, unmet_promises
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.listen.audio import decode_chunks
from pinocchio.training.evaluate import character_error_rate

pytestmark = pytest.mark.slow
runner = CliRunner()

# Measured: corpus CER 0.20 on these clips with whisper base int8 (MODELS.md says the same);
# the bound leaves room for thread-count noise, not for a regression such as Traditional output.
CLIP_CER_BOUND = 0.25


def scan(*args):
    result = runner.invoke(app, ["scan", "--format", "jsonl", *map(str, args)])
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, rows


def count(db_path, table):
    with sqlite3.connect(db_path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


SHOP = DEMO.parent / "shop.yaml"
DEMO_SECONDS = 109.5


@pytest.fixture(scope="module")
def demo_scan(tmp_path_factory):
    """The demo scanned with its shop's facts (--facts): the claims and the promises checked."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    result, rows = scan("--db", db, "--facts", SHOP, DEMO)
    assert result.exit_code == 0, result.output
    return db, rows


def test_demo_planted_claims_are_found_with_label_time_and_article(demo_scan):
    _, rows = demo_scan
    missed = missed_claims(rows, with_facts=True)
    assert not missed, "\n".join(missed)


def test_demo_compliant_talk_is_not_flagged(demo_scan):
    _, rows = demo_scan
    assert not false_flags(rows, with_facts=True)


def test_demo_promises_are_checked_against_the_shop_s_facts(demo_scan):
    """Every planted contradiction is reported with the fact it breaks; every honest promise passes."""
    db, rows = demo_scan
    unmet = unmet_promises(rows)
    assert not unmet, "\n".join(unmet)
    facts_findings = [f for r in rows for f in r["findings"] if f["source"] == "facts"]
    assert facts_findings and all(f["fact"].endswith("[meimei-shop@1]") for f in facts_findings)
    assert count(db, "promise_check") == sum(len(r.get("promises", [])) for r in rows)
    with sqlite3.connect(db) as conn:
        provenance = json.loads(conn.execute("SELECT provenance FROM scan").fetchone()[0])
    assert provenance["facts"] == "meimei-shop@1" and provenance["fact_checks"]


def test_demo_segments_are_ordered_and_the_music_gives_no_text(demo_scan):
    _, rows = demo_scan
    assert all(r["start"] < r["end"] for r in rows)
    assert all(a["end"] <= b["start"] + 0.01 for a, b in zip(rows, rows[1:]))
    music = [x for x in json.loads((DEMO.parent / "demo_stream.reference.json").read_text()) if x.get("kind") == "music"]
    for stretch in music:
        inside = [r for r in rows if r["start"] > stretch["start_s"] + 0.5 and r["end"] < stretch["end_s"] - 0.5]
        assert not inside, inside


def test_rescan_adds_nothing_and_force_scans_again(demo_scan):
    db, rows = demo_scan
    before = {t: count(db, t) for t in ("segment", "finding", "moderation_event", "scan")}
    result, again = scan("--db", db, DEMO)
    assert result.exit_code == 0 and "already scanned" in result.stderr
    assert again == rows  # printed from the store, identical
    assert {t: count(db, t) for t in before} == before


def test_force_adds_a_new_scan(tmp_path):
    db = tmp_path / "f.db"
    clip = SPEECH / "fireredasr_BAC009S0764W0121.wav"
    scan("--db", db, clip)
    segments = count(db, "segment")
    result, _ = scan("--db", db, "--force", clip)
    assert result.exit_code == 0
    assert count(db, "scan") == 2 and count(db, "segment") == 2 * segments and count(db, "stream") == 1


def test_bad_inputs_are_reported_and_the_rest_is_scanned(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    text = tmp_path / "notes.m4a"
    text.write_text("这不是音频\n" * 100, encoding="utf-8")
    missing = tmp_path / "missing.flv"
    good = SPEECH / "fireredasr_BAC009S0764W0121.wav"
    db = tmp_path / "bad.db"
    result, rows = scan("--db", db, empty, text, missing, good)
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3
    assert errors[0] == f"error: {empty}: empty file"
    assert errors[1].startswith(f"error: {text}: not a readable audio/video file (")
    assert errors[2] == f"error: {missing}: no such file"
    assert rows and {r["stream"] for r in rows} == {str(good)}
    assert count(db, "stream") == 1 and count(db, "segment") == len(rows)


def test_table_output_names_labels_and_articles(tmp_path):
    clip = tmp_path / "claim.m4a"
    ffmpeg("-i", str(DEMO), "-ss", "60", "-t", "15", "-c:a", "aac", str(clip))
    result = runner.invoke(app, ["scan", "--db", str(tmp_path / "t.db"), str(clip)])
    assert result.exit_code == 0
    assert "medical_claim" in result.stdout and "广告法" in result.stdout


def test_real_clips_character_error_rate(pipeline):
    pairs = []
    for name, reference in speech_references().items():
        text = "".join(u.text for u in pipeline.transcriber.transcribe(decode_chunks(SPEECH / name)))
        assert text == text.strip()
        pairs.append((reference, text))
    assert character_error_rate(pairs) < CLIP_CER_BOUND


@pytest.mark.parametrize("container", ["clip.mp4", "clip.flv", "clip.mp3"])
def test_containers_with_video_give_the_same_words(pipeline, clip_dir, container):
    reference = speech_references()["funasr_paraformer_example_0.wav"]
    text = "".join(u.text for u in pipeline.transcriber.transcribe(decode_chunks(clip_dir / container)))
    assert character_error_rate([(reference, text)]) < 0.15


def test_noise_and_music_without_speech_give_no_text(pipeline, tmp_path):
    path = tmp_path / "room.wav"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.05:duration=20:seed=7",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=20", "-f", "lavfi", "-i", "sine=frequency=554:duration=20",
           "-filter_complex", "amix=inputs=3", "-ar", "16000", str(path))
    assert list(pipeline.transcriber.transcribe(decode_chunks(path))) == []


def test_every_flagged_segment_has_its_evidence_clip_beside_the_database(demo_scan):
    """Clips are Opus files named by their sha256, 2 s either side of the segment."""
    import hashlib
    import subprocess

    db, rows = demo_scan
    with sqlite3.connect(db) as conn:
        linked = conn.execute("SELECT s.start_ms, s.end_ms, s.action, c.clip FROM segment s "
                              "LEFT JOIN evidence_clip c ON c.segment_id = s.id").fetchall()
    flagged = [x for x in linked if x[2] != "pass"]
    assert flagged and all(x[3] for x in flagged)
    for start_ms, end_ms, _, clip in flagged:
        path = db.parent / "evidence" / clip
        assert hashlib.sha256(path.read_bytes()).hexdigest() + ".opus" == clip
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                                "-of", "json", str(path)], capture_output=True, text=True, check=True)
        info = json.loads(probe.stdout)
        assert info["streams"][0]["codec_name"] == "opus"
        expected = (min(end_ms / 1000 + 2, DEMO_SECONDS) - max(start_ms / 1000 - 2, 0))
        assert float(info["format"]["duration"]) == pytest.approx(expected, abs=0.1)
        assert path.stat().st_size < 40_000  # small enough to keep every one of them


def test_a_scan_stores_into_postgresql_and_is_not_stored_twice(tmp_path, postgres):
    """The fleet's store from a fresh install: the driver comes with the package, the schema is
    made on first use, the chain verifies, and a second scan of the same file stores nothing."""
    url = postgres.new_database()
    clip = tmp_path / "claim.m4a"
    ffmpeg("-i", str(DEMO), "-ss", "60", "-t", "15", "-c:a", "aac", str(clip))
    result, rows = scan("--db", url, clip)
    assert result.exit_code == 0, result.output
    assert any("medical_claim" in r["labels"] for r in rows)
    again, repeated = scan("--db", url, clip)
    assert again.exit_code == 0 and "already scanned" in again.stderr and repeated == rows
    verified = runner.invoke(app, ["audit", "verify", "--db", url])
    assert verified.exit_code == 0, verified.output
    status = runner.invoke(app, ["db", "status", "--db", url])
    assert "current" in status.output
