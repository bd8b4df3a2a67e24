"""Evidence clips cut from the audio passing into the pipeline, live and batch alike."""

import hashlib

import numpy as np
import pytest

from pinocchio.core.records import AudioChunk
from pinocchio.core.settings import Settings
from pinocchio.listen.evidence import EvidenceRecorder, EvidenceStore

RATE = 16000


def tone_chunks(seconds: float, chunk_s: float = 0.5, start_s: float = 0.0):
    t = start_s
    while t < start_s + seconds - 1e-9:
        n = int(chunk_s * RATE)
        yield AudioChunk(start_s=t, samples=(0.1 * np.sin(np.arange(n) * 0.05 + t)).astype(np.float32))
        t += chunk_s


def test_a_live_clip_waits_for_the_two_seconds_after_its_segment(tmp_path):
    recorder = EvidenceRecorder(EvidenceStore(tmp_path), keep_s=30)
    clips = []
    feed = recorder.tap(tone_chunks(20))
    for chunk in feed:
        if chunk.end_s == 6.0:  # the segment 4-6 s is committed now; 8 s is not here yet
            recorder.request(4.0, 6.0, clips.append)
            assert clips == []
        if chunk.end_s == 7.5:
            assert clips == []
        if chunk.end_s == 8.0:
            assert len(clips) == 1
    name = clips[0]
    data = (tmp_path / name).read_bytes()
    assert name == hashlib.sha256(data).hexdigest() + ".opus" and data[:4] == b"OggS"


def test_the_same_audio_gives_the_same_file_once(tmp_path):
    store = EvidenceStore(tmp_path)
    samples = next(tone_chunks(1, chunk_s=1)).samples
    assert store.save(samples) == store.save(samples)
    assert len(list(tmp_path.iterdir())) == 1


def test_at_the_end_of_a_stream_a_clip_takes_what_there_is(tmp_path):
    recorder = EvidenceRecorder(EvidenceStore(tmp_path), keep_s=30)
    clips = []
    for chunk in recorder.tap(tone_chunks(5)):
        if chunk.end_s == 5.0:
            recorder.request(3.5, 4.8, clips.append)  # 6.8 s will never come
    assert len(clips) == 1


def test_audio_older_than_the_ring_is_reported_not_invented(tmp_path, caplog):
    recorder = EvidenceRecorder(EvidenceStore(tmp_path), keep_s=5)
    clips = []
    list(recorder.tap(tone_chunks(20)))
    recorder.request(1.0, 2.0, clips.append)
    assert clips == [] and recorder.failures == 1
    assert "no longer kept" in caplog.text


@pytest.mark.parametrize("url, expected", [
    ("sqlite:////data/pino/p.db", "/data/pino/evidence"),
    ("postgresql://db/pino", None),
])
def test_clips_go_beside_a_sqlite_file_by_default(url, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = Settings(db_url=url).evidence_path()
    assert str(got) == (expected or str(tmp_path / "evidence"))
    assert Settings(db_url=url, evidence_dir=tmp_path / "x").evidence_path() == tmp_path / "x"
