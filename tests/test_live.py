"""The live path (streaming transcriber) on a simulated clock: the demo pushed in half-second
chunks must give the same claims as the batch scan."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import DEMO, false_flags, missed_claims

from pinocchio.core.records import AudioChunk
from pinocchio.core.settings import Settings
from pinocchio.listen.audio import decode_chunks
from pinocchio.listen.detect import DetectOptions
from pinocchio.listen.pipeline import Pipeline
from pinocchio.listen.streaming import StreamingTranscriber, StreamOptions

pytestmark = pytest.mark.slow
SR = 16000


@pytest.fixture(scope="module")
def live_rows():
    pipeline = Pipeline(Settings(db_url="sqlite:///:memory:"), detect_options=DetectOptions(batch_size=1))
    return [v.as_json("demo") for v in pipeline.live_verdicts(decode_chunks(DEMO, chunk_s=0.5))]


def test_live_path_finds_the_planted_claims(live_rows):
    missed = missed_claims(live_rows)
    assert not missed, "\n".join(missed)


def test_live_path_leaves_compliant_talk_alone(live_rows):
    assert not false_flags(live_rows)


def test_live_segments_are_in_order(live_rows):
    assert all(r["start"] < r["end"] for r in live_rows)
    first = [r for r in live_rows if not r.get("heard_again")]
    assert all(a["end"] <= b["start"] + 0.01 for a, b in zip(first, first[1:]))  # no stretch heard twice
    # A second hearing kept for what the first missed lies over the first hearing of its speech.
    for again in (r for r in live_rows if r.get("heard_again")):
        assert any(r["start"] < again["end"] and r["end"] > again["start"] for r in first)
        assert again["action"] == "review"


def test_silence_keeps_the_buffer_small(pipeline):
    streaming = StreamingTranscriber(pipeline.transcriber, StreamOptions(keep_silence_s=1.0))
    for second in range(60):
        streaming.insert_audio(AudioChunk(float(second), np.zeros(SR, dtype=np.float32)))
        assert streaming.process() == []
        assert streaming.buffered_s <= 5.0  # the context kept before speech, no more
    assert streaming.finish() == []


def test_speech_in_progress_is_committed_when_the_feed_breaks_off(pipeline):
    streaming = StreamingTranscriber(pipeline.transcriber)
    talk = list(decode_chunks(DEMO, chunk_s=0.5, input_options={"ss": 59.0, "t": 5.0}))  # ends mid-claim
    for chunk in talk:
        streaming.insert_audio(chunk)
    before = streaming.process()
    assert "糖尿" not in "".join(u.text for u in before)  # (才)能治糖尿… waits for a pause that is not coming
    after = streaming.insert_audio(AudioChunk(talk[-1].end_s, np.zeros(0, dtype=np.float32)))
    assert "糖尿" in "".join(u.text for u in after), (before, after)
    assert streaming.buffered_s == 0


def pushed(streaming, chunks):
    """What the streaming transcriber commits while the chunks arrive (before any flush)."""
    committed = []
    for chunk in chunks:
        committed += streaming.insert_audio(chunk)
        committed += streaming.process()
    return committed


def test_agreement_commits_long_talk_before_it_pauses(pipeline):
    # No pause or cap short enough to end this talk: only agreement between decodes commits it.
    talk = list(decode_chunks(DEMO, chunk_s=0.5, input_options={"ss": 58.0, "t": 12.0}))
    # With the batch path's beam: greedy decodes of the talk in progress hear 不能 as 才能 here.
    waiting = StreamOptions(endpoint_silence_s=3.0, max_utterance_s=30.0, beam_size=None)
    assert pushed(StreamingTranscriber(pipeline.transcriber, waiting), talk) == []
    streaming = StreamingTranscriber(pipeline.transcriber, replace(waiting, commit="agreement"))
    early = pushed(streaming, talk)
    rest = streaming.finish()
    assert early and rest
    words = [w for u in early + rest for w in u.words]
    assert all(a.end_s <= b.start_s + 0.05 for a, b in zip(words, words[1:]))  # in order, none twice
    text = "".join(u.text for u in early + rest)
    assert text.count("糖尿") == 1 and text.count("一盒") == 1 and "不能" in text, text


def test_prompt_is_the_text_committed_last(pipeline, monkeypatch):
    talk = list(decode_chunks(DEMO, chunk_s=0.5, input_options={"ss": 58.0, "t": 12.0}))
    prompts = []
    original = pipeline.transcriber.transcribe_window

    def spy(window, keep_from_s=None, prompt=None, temperatures=None, beam_size=None):
        prompts.append(prompt)
        return original(window, keep_from_s, prompt, temperatures, beam_size)

    monkeypatch.setattr(pipeline.transcriber, "transcribe_window", spy)
    streaming = StreamingTranscriber(pipeline.transcriber, StreamOptions(prompt_chars=8))
    said = "".join(u.text for u in pushed(streaming, talk) + streaming.finish())
    assert len(prompts) >= 2 and prompts[0] == "" and all(p and len(p) <= 8 for p in prompts[1:])
    assert prompts[-1] in said  # what was committed last, not text whisper made up
