import pytest

from pinocchio.core.records import Utterance, Word
from pinocchio.core.text import normalize_text
from pinocchio.listen.segment import Segmenter, SegmentOptions, Tokenizer


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter(Tokenizer(["全网最低价", "能治"]))


def test_normalize_text():
    assert normalize_text("這個ＶＩＰ價格 全網 最低！") == "这个vip价格全网最低!"
    assert normalize_text("  he must  be home  ") == "he must be home"


def utterance(words):
    return Utterance(start_s=words[0][1], end_s=words[-1][2], text="".join(w[0] for w in words),
                     words=tuple(Word(s, e, t, 0.9) for t, s, e in words), avg_logprob=-0.2, no_speech_prob=0.0)


def test_split_on_sentence_end_and_pause_keeps_times(segmenter):
    u = utterance([("家人们", 0.0, 0.5), ("晚上好。", 0.5, 1.0), ("这个", 1.1, 1.3), ("茶", 1.3, 1.5),
                   ("能治", 2.5, 2.9), ("糖尿病", 2.9, 3.4)])
    segments = list(segmenter.split(u))
    assert [s.text for s in segments] == ["家人们晚上好", "这个茶", "能治糖尿病"]
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 1.0), (1.1, 1.5), (2.5, 3.4)]
    assert all(a.end_s <= b.start_s for a, b in zip(segments, segments[1:]))


def test_long_talk_is_cut_into_claim_sized_pieces():
    seg = Segmenter(Tokenizer(), SegmentOptions(max_chars=10))
    words = [(ch, i * 0.3, i * 0.3 + 0.25 + (0.3 if i == 11 else 0)) for i, ch in enumerate("我们今天给大家带来的是一款非常好用的面霜真的")]
    segments = list(seg.split(utterance(words)))
    assert all(len(s.text) <= 10 for s in segments)
    assert "".join(s.text for s in segments) == "我们今天给大家带来的是一款非常好用的面霜真的"


def test_lexicon_terms_stay_whole_tokens(segmenter):
    assert "全网最低价" in segmenter.segment_text("这是全网最低价了").tokens


def test_a_sentence_right_after_another_carries_it_as_before(segmenter):
    first = utterance([("注意这个不是药品", 0.0, 1.5), ("不能", 1.5, 2.0)])
    second = utterance([("治病", 2.3, 2.8)])  # a live cut at a 0.3 s pause
    later = utterance([("家人们晚上好", 5.0, 6.0)])  # after a long pause: a new thought
    segments = list(segmenter.segments([first, second, later]))
    assert [(s.text, s.before) for s in segments] == [
        ("注意这个不是药品不能", ""), ("治病", "注意这个不是药品不能"), ("家人们晚上好", "")]
