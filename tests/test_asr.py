import numpy as np
import pytest

from pinocchio.core.records import AudioChunk
from pinocchio.listen.asr import AsrOptions, HallucinationGuard, collapse_loops, windows

SR = 16000


def guard(**options):
    return HallucinationGuard(AsrOptions(**options), boilerplate=("请不吝点赞订阅转发打赏支持明镜与点点栏目",))


def reason(g, text, start=0.0, end=3.0, logprob=-0.3, no_speech=0.1, ratio=1.2, word_p=0.8):
    return g.reason_to_drop(text, start, end, logprob, no_speech, ratio, word_p)


def test_guard_keeps_ordinary_speech():
    assert reason(guard(), "家人们晚上好欢迎来到直播间") is None


@pytest.mark.parametrize("kwargs,expected", [
    (dict(text="请不吝点赞 订阅 转发 打赏支持明镜与点点栏目"), "boilerplate"),
    (dict(text="，。！"), "no words"),
    (dict(text="谢谢大家", no_speech=0.9, logprob=-1.5), "no speech"),
    (dict(text="计计计计计计计计计计计计计计", ratio=3.1), "repetitive"),
    (dict(text="这些人都不认识", start=0.90, end=0.92), "implausibly fast"),
    (dict(text="我们的产品我们的产品我们的产品我们的产品我们的产品"), "repetition loop"),
    (dict(text="嗯嗯那个", word_p=0.1), "low confidence"),
])
def test_guard_drops_whisper_inventions(kwargs, expected):
    assert reason(guard(), **kwargs) == expected


def test_prompt_echo_is_dropped():
    g = guard(initial_prompt="家人们好，欢迎来到直播间。今天给大家介绍的产品")
    assert reason(g, "欢迎来到直播间今天给大家") == "prompt echo"


def test_collapse_loops():
    assert collapse_loops("好的好的好的好的好的") == ("好的", 8)
    assert collapse_loops("哈哈哈") == ("哈哈哈", 0)


def test_windows_cut_at_the_quietest_moment():
    tone = (0.3 * np.sin(np.arange(SR * 12) * 2 * np.pi * 220 / SR)).astype(np.float32)
    tone[int(SR * 9.0):int(SR * 9.3)] = 0.0  # a pause at 9 s
    chunks = [AudioChunk(i, tone[i * SR:(i + 1) * SR]) for i in range(12)]
    out = list(windows(chunks, window_s=10.0, cut_search_s=5.0))
    assert 9.0 <= out[0].end_s <= 9.3
    assert out[1].start_s == pytest.approx(out[0].end_s)
    assert sum(len(w.samples) for w in out) == len(tone)


def test_feeds_take_turns_on_the_shared_model_in_the_order_they_asked():
    """Each feed joins the queue only once the one before it is seen waiting there (the queue's
    length, not a sleep, says so), so the order they asked in is known; they must be served in it."""
    import threading

    from pinocchio.listen.asr import FairTurns

    turns, order = FairTurns(), []

    def feed(name: str) -> None:
        with turns.turn():
            order.append(name)

    def until_queued(n: int) -> None:
        assert turns.wait_until_queued(n, timeout_s=10), f"{n} callers never queued"

    with turns.turn():  # one feed is decoding; three others queue up behind it, one at a time
        threads = []
        for k, name in enumerate(("a", "b", "c"), start=2):
            threads.append(threading.Thread(target=feed, args=(name,)))
            threads[-1].start()
            until_queued(k)
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["a", "b", "c"]


class _Said:
    """What faster-whisper returns for a segment and its words, as far as Transcriber reads it."""

    def __init__(self, words):
        self.words = [type("W", (), {"word": t, "start": a, "end": b, "probability": 0.9})() for t, a, b in words]
        self.text = "".join(t for t, _, _ in words)
        self.start, self.end = words[0][1], words[-1][2]
        self.avg_logprob, self.no_speech_prob, self.compression_ratio = -0.2, 0.01, 1.1


class _StandInModel:
    """Whisper's answer for a window of context then new speech, with its usual timings: the
    context's last word ends a little late, the new first word starts inside the pause."""

    def transcribe(self, samples, **kwargs):
        return [_Said([("这个", 0.2, 0.5), ("不是", 0.5, 0.9), ("药品,", 0.9, 1.62)]),
                _Said([("不能", 1.2, 1.85), ("治", 1.85, 2.1), ("病", 2.1, 2.36)])], None


def test_context_words_are_dropped_by_where_they_end():
    from pinocchio.listen.asr import Transcriber

    transcriber = Transcriber(_StandInModel(), AsrOptions())
    window = AudioChunk(60.0, np.zeros(3 * SR, dtype=np.float32))
    kept = transcriber.transcribe_window(window, keep_from_s=61.54)  # the pause's boundary
    assert [w.text for u in kept for w in u.words] == ["不能", "治", "病"]
    assert kept[0].text == "不能治病"
    assert kept[0].start_s == kept[0].words[0].start_s == 61.54  # not back in the stretch before it


def test_the_encoder_is_fitted_to_the_audio_and_its_margin():
    """faster-whisper pads a window to 30 s with all-zero frames: the fitted encoder keeps the
    audio's own frames, rounded up to a second, and the margin; off, the whole window."""
    from pinocchio.listen.asr import fitted_frames

    features = np.zeros((80, 3000), dtype=np.float32)
    features[:, :523] = -0.4  # 5.23 s of log-mel
    assert fitted_frames(features, 3.0) == 900
    assert fitted_frames(features, 30.0) == 3000
    features[:, :2990] = -0.4
    assert fitted_frames(features, 3.0) == 3000
    assert fitted_frames(np.zeros((80, 3000), dtype=np.float32), 3.0) == 300


def test_a_fitted_encoder_hears_a_real_clip_from_a_short_window(settings):
    """Real whisper, a real 4.2 s clip: with a 3 s margin the encoder is handed 8 s of frames, not
    30, and the words still come out (CER bound as the ASR tests' 0.25)."""
    from conftest import ROOT
    from faster_whisper.audio import decode_audio

    from pinocchio.core.text import to_simplified
    from pinocchio.listen.asr import load_whisper
    from pinocchio.listen.models import resolve_model
    from pinocchio.training.evaluate import character_error_rate

    model = load_whisper(resolve_model(settings.model, settings.cache_dir), 2, encoder_margin_s=3.0)
    seen = []
    encode = model.model.encode

    class Spy:  # the CTranslate2 model, its encoder's input recorded
        def __getattr__(self, name):
            return getattr(encode.__self__, name)

        def encode(self, features, **kwargs):
            seen.append(features.shape[-1])
            return encode(features, **kwargs)

    model.model = Spy()
    audio = decode_audio(str(ROOT / "fixtures" / "speech" / "fireredasr_BAC009S0764W0121.wav"), sampling_rate=16000)
    segments, _ = model.transcribe(audio, language="zh", beam_size=5, condition_on_previous_text=False,
                                   temperature=0.0, vad_filter=False)
    text = to_simplified("".join(s.text for s in segments))
    assert seen == [800]
    assert character_error_rate([("甚至出现交易几乎停滞的情况", text)]) <= 0.25, text
