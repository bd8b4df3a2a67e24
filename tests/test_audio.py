import numpy as np
import pytest
from conftest import SPEECH, ffmpeg

from pinocchio.core.errors import AudioError
from pinocchio.listen.audio import SAMPLE_RATE, decode_chunks, probe_file


@pytest.mark.parametrize("name", ["clip.wav", "clip.mp3", "clip.m4a", "clip.mp4", "clip.flv"])
def test_any_container_decodes_to_16k_mono(clip_dir, name):
    info = probe_file(clip_dir / name)
    chunks = list(decode_chunks(clip_dir / name, chunk_s=2.0))
    total = sum(len(c.samples) for c in chunks)
    assert abs(total / SAMPLE_RATE - 5.5) < 0.2  # the clip is 5.5 s whatever the container
    assert info.duration_s and abs(info.duration_s - 5.5) < 0.2
    assert all(c.samples.dtype == np.float32 for c in chunks)
    assert all(len(c.samples) == 2 * SAMPLE_RATE for c in chunks[:-1])
    starts = [c.start_s for c in chunks]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert all(abs(a.end_s - b.start_s) < 1e-9 for a, b in zip(chunks, chunks[1:]))
    assert np.abs(np.concatenate([c.samples for c in chunks])).max() > 0.05  # real sound, not silence


def test_48k_flac_is_resampled():
    chunks = list(decode_chunks(SPEECH / "speech_recognition_chinese.flac"))
    assert 0.8 < sum(len(c.samples) for c in chunks) / SAMPLE_RATE < 1.2


def test_stopping_early_stops_ffmpeg(tmp_path):
    long_file = tmp_path / "long.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=600", "-ar", "16000", str(long_file))
    chunks = decode_chunks(long_file, chunk_s=1.0)
    first = next(chunks)
    assert len(first.samples) == SAMPLE_RATE
    chunks.close()  # must not hang or leave ffmpeg behind


@pytest.mark.parametrize("make,reason", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("家人们，这不是音频文件\n" * 50, encoding="utf-8"), "not a readable audio/video file"),
    (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4), "not a readable audio/video file"),
])
def test_bad_inputs_give_one_line_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "input.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        probe_file(path)
    message = str(err.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_video_without_audio(tmp_path):
    path = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=5:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    with pytest.raises(AudioError, match="no audio stream"):
        probe_file(path)


def test_truncated_file_keeps_what_decodes(tmp_path, clip_dir):
    data = (clip_dir / "clip.mp3").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    seconds = sum(len(c.samples) for c in decode_chunks(cut)) / SAMPLE_RATE
    assert 2.0 < seconds < 4.0
