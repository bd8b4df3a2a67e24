"""Packing several feeds' windows into one whisper call: the geometry (which word is whose), the
scheduler (first come first served, bounded waits, errors to every waiting feed), and the rule
that a window whisper skipped is decoded again. These use a scripted whisper model; the real
model's packs are tested in test_packing_whisper.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinocchio.core.records import AudioChunk, Utterance, Word
from pinocchio.listen.asr import AsrOptions, Transcriber
from pinocchio.listen.packing import PackedDecoder, PackOptions, lay_out, owner, pack_audio

SR = 16000


def chunk(start_s: float, seconds: float, level: float = 0.5) -> AudioChunk:
    return AudioChunk(start_s=start_s, samples=np.full(int(seconds * SR), level, dtype=np.float32))


def test_slots_lie_one_after_another_with_the_gap_between():
    slots = lay_out([2.0, 3.5, 1.0], gap_s=1.0)
    assert [(s.offset_s, s.end_s) for s in slots] == [(0.0, 2.0), (3.0, 6.5), (7.5, 8.5)]


def test_a_word_stretched_back_into_the_gap_is_the_next_windows():
    slots = lay_out([2.0, 3.0], gap_s=1.0)  # audio at 0-2 and 3-6
    assert owner(slots, 1.8) == 0  # the first window's last word, however far its end runs
    assert owner(slots, 2.1) == 1  # starts in the gap: the second window's first word, stretched back
    assert owner(slots, 3.4) == 1
    assert owner(slots, 40.0) == 1


def test_the_pack_holds_each_windows_samples_at_its_offset_and_silence_between():
    windows = [chunk(10.0, 1.0, 0.25), chunk(500.0, 0.5, 0.75)]
    slots = lay_out([1.0, 0.5], gap_s=1.0)
    audio = pack_audio(windows, slots)
    assert len(audio) == int(2.5 * SR)
    assert np.all(audio[:SR] == 0.25) and np.all(audio[SR: 2 * SR] == 0) and np.all(audio[2 * SR:] == 0.75)


@st.composite
def layouts(draw):
    """Random windows, and in each random words: a word's start may be stretched back into the
    gap before it (up to the whole gap), its end forward into the gap after it."""
    gap = draw(st.floats(0.3, 2.0))
    durations = draw(st.lists(st.floats(0.3, 12.0), min_size=1, max_size=6))
    slots = lay_out(durations, gap)
    words = []
    for i, slot in enumerate(slots):
        for _ in range(draw(st.integers(1, 5))):
            start = draw(st.floats(slot.offset_s, slot.end_s - 0.01))
            end = draw(st.floats(start, slot.end_s + (gap if i < len(slots) - 1 else 3.0)))
            if i and draw(st.booleans()):
                start = draw(st.floats(slot.offset_s - gap + 1e-6, start))  # stretched back into the gap
            words.append((i, start, end))
    return slots, words


@settings(max_examples=300, deadline=None)
@given(layouts())
def test_every_word_goes_to_its_own_window_whatever_the_layout(layout):
    slots, words = layout
    for index, start, _end in words:
        assert owner(slots, start) == index


@dataclass
class FakeWord:
    start: float
    end: float
    word: str
    probability: float = 0.9


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    words: list
    avg_logprob: float = -0.2
    no_speech_prob: float = 0.01
    compression_ratio: float = 1.2


class StoppingWhisper:
    """Hears each window of a pack by its level (one word per window, said over its first
    second) and, like whisper, may end its transcript after `hears` windows."""

    def __init__(self, hears: int = 99):
        self.hears = hears
        self.calls: list[dict] = []

    def transcribe(self, samples, **kwargs):
        self.calls.append(kwargs)
        segments, heard, i = [], 0, 0
        while i < len(samples) and heard < self.hears:
            if samples[i] == 0:
                i += 1
                continue
            level = float(samples[i])
            run = i
            while run < len(samples) and samples[run] == level:
                run += 1
            start = i / SR
            word = FakeWord(start, min(start + 1.0, run / SR), f"字{int(round(level * 100))}")
            segments.append(FakeSegment(start, run / SR, word.word, [word]))
            heard += 1
            i = run
        return iter(segments), None


class HurryingWhisper(StoppingWhisper):
    """In a pack (audio longer than any one window here), leaves out the words of `skipped`
    levels, as whisper moving on to the next window before one's speech is over; alone it hears
    everything. Every segment carries `ratio`: whisper's compression ratio of its whole text."""

    def __init__(self, skipped: tuple[float, ...] = (), ratio: float = 1.2):
        super().__init__()
        self.skipped = skipped
        self.ratio = ratio

    def transcribe(self, samples, **kwargs):
        segments, info = super().transcribe(samples, **kwargs)
        packed = len(samples) > 5 * SR
        return iter([replace(s, compression_ratio=self.ratio) for s in segments
                     if not (packed and any(s.text == f"字{int(round(x * 100))}" for x in self.skipped))]), info


def whisper_with(model) -> Transcriber:
    return Transcriber(model, AsrOptions(model="scripted"))


def test_each_window_gets_its_words_on_its_own_clock():
    transcriber = whisper_with(StoppingWhisper())
    results = transcriber.transcribe_pack([chunk(100.0, 1.5, 0.11), chunk(7.0, 1.2, 0.22)], [None, None])
    assert [[u.text for u in r] for r in results] == [["字11"], ["字22"]]
    assert results[0][0].start_s == 100.0 and results[1][0].start_s == 7.0
    assert results[1][0].end_s <= 7.0 + 1.2
    assert transcriber.model.calls[0]["vad_filter"] is False  # the pack's own gaps stay in


def test_windows_whisper_skipped_are_decoded_again():
    model = StoppingWhisper(hears=1)  # ends its transcript after the first window, every time
    transcriber = whisper_with(model)
    windows = [chunk(0.0, 1.5, 0.11), chunk(50.0, 1.5, 0.22), chunk(90.0, 1.5, 0.33)]
    results = transcriber.transcribe_pack(windows, [None, None, None])
    assert [[u.text for u in r] for r in results] == [["字11"], ["字22"], ["字33"]]
    assert len(model.calls) == 3 and transcriber.repacked == 3  # 2 left after the first pack, then 1


def test_context_words_are_left_out_of_each_window():
    transcriber = whisper_with(StoppingWhisper())
    # The second window's only word (said over its first second) is context: new audio starts later.
    results = transcriber.transcribe_pack([chunk(0.0, 2.0, 0.11), chunk(20.0, 2.0, 0.22)], [None, 21.5])
    assert [u.text for u in results[0]] == ["字11"] and results[1] == []


class PausingBatch(Transcriber):
    """A batch whisper that, like whisper, ends each item's transcript at its first pause: it
    hears only the first run of sound in each window (a word per level). Alone, in its 30 s
    window, it hears every run."""

    def __init__(self):
        super().__init__(None, AsrOptions(model="scripted"))
        self.batches: list[list[float]] = []
        self.alone: list[float] = []

    def _decode_batch(self, windows, temperatures, beam_size, margin_s):
        self.batches.append([w.start_s for w in windows])
        return [self.runs(window)[:1] for window in windows]

    def _decode_alone(self, window, prompt, temperatures, beam_size):
        self.alone.append(window.start_s)
        return self.runs(window)

    @staticmethod
    def runs(window: AudioChunk) -> list[Utterance]:
        """A word for each run of sound between silences, named by its level."""
        levels = np.append(window.samples, 0.0)
        edges = np.flatnonzero(np.diff(np.concatenate([[0.0], levels])))
        found = []
        for first, last in zip(edges[::2], edges[1::2]):
            start_s, end_s = window.start_s + first / SR, window.start_s + last / SR
            word = Word(start_s, end_s, f"字{int(round(float(window.samples[first]) * 100))}", 0.9)
            found.append(Utterance(start_s, end_s, word.text, (word,), -0.2, 0.01))
        return found


def talk(start_s: float, *parts: tuple[float, float]) -> AudioChunk:
    """Sound at each (level, seconds), a second of silence between parts."""
    silence = np.zeros(SR, dtype=np.float32)
    samples = [x for level, seconds in parts for x in (np.full(int(seconds * SR), level, dtype=np.float32), silence)]
    return AudioChunk(start_s=start_s, samples=np.concatenate(samples[:-1]))


def test_a_batched_window_whisper_stopped_in_is_decoded_again_from_its_last_word():
    transcriber = PausingBatch()
    windows = [talk(10.0, (0.11, 1.0), (0.12, 1.0), (0.13, 1.0)), talk(50.0, (0.21, 1.0), (0.22, 1.0)),
               talk(90.0, (0.31, 2.0))]
    results = transcriber.transcribe_batch(windows, [None, None, None])
    assert [[u.text for u in r] for r in results] == [["字11", "字12", "字13"], ["字21", "字22"], ["字31"]]
    # All three, then the two whisper stopped in from where it stopped, then the one left (still a
    # short input: what is left of a window is decoded again alone only when it came alone).
    assert transcriber.batches == [[10.0, 50.0, 90.0], [11.0, 51.0], [13.0]] and transcriber.alone == []
    assert transcriber.repacked == 3
    assert results[0][1].start_s == 12.0  # on the stream's clock
    assert transcriber.audio_s == 5.0 + 3.0 + 2.0  # each window's audio counted once


def test_a_batched_window_keeps_only_its_new_words():
    transcriber = PausingBatch()
    # The first word (said over the first second) is the window's context: new audio starts at 21.5.
    results = transcriber.transcribe_batch([talk(20.0, (0.11, 1.0), (0.12, 1.0)), talk(40.0, (0.21, 1.0))], [21.5, None])
    assert [[u.text for u in r] for r in results] == [["字12"], ["字21"]]


def test_a_window_alone_is_decoded_in_whispers_own_window():
    transcriber = PausingBatch()
    results = transcriber.transcribe_batch([talk(20.0, (0.11, 1.0), (0.12, 1.0))], [21.5])
    assert [[u.text for u in r] for r in results] == [["字12"]]  # heard through; the context word left out
    assert transcriber.batches == [] and transcriber.alone == [20.0]


class EchoingBatch(PausingBatch):
    """Hears the last words of the round before again, from their tail, where the rest of its
    window starts (as whisper did with 第一款美观的爽, word for word, and with 直吃,几天无理由退货 as
    直撤,其天无理由佩服), then the next run of sound. `said`: what a run is heard as, by its name."""

    def __init__(self, said: dict[str, str] | None = None, heard_again_as: dict[str, str] | None = None):
        super().__init__()
        self.ends: dict[float, str] = {}
        self.said = said or {}
        self.heard_again_as = heard_again_as or {}

    def runs(self, window: AudioChunk) -> list[Utterance]:
        return [replace(u, text=self.said.get(u.text, u.text)) for u in super().runs(window)]

    def _decode_batch(self, windows, temperatures, beam_size, margin_s):
        found = []
        for window, utterances in zip(windows, super()._decode_batch(windows, temperatures, beam_size, margin_s)):
            last = self.ends.get(window.start_s)
            echo = self.heard_again_as.get(last, last)
            if echo:
                word = Word(window.start_s, window.start_s + 0.3, echo, 0.9)
                utterances = [Utterance(word.start_s, word.end_s, echo, (word,), -0.2, 0.01)] + utterances
            self.ends.update({u.end_s: u.text for u in utterances})
            found.append(utterances)
        return found


def test_words_a_batched_window_hears_again_where_its_rest_starts_are_kept_once():
    transcriber = EchoingBatch()
    results = transcriber.transcribe_batch([talk(10.0, (0.11, 1.0), (0.12, 1.0)), talk(50.0, (0.21, 2.0))], [None, None])
    assert [[u.text for u in r] for r in results] == [["字11", "字12"], ["字21"]]
    assert transcriber.batches == [[10.0, 50.0], [11.0]]


def test_words_a_batched_window_hears_again_with_other_characters_are_kept_once():
    transcriber = EchoingBatch(said={"字11": "直吃,几天无理由退货"}, heard_again_as={"直吃,几天无理由退货": "直撤,其天无理由佩服"})
    results = transcriber.transcribe_batch([talk(10.0, (0.11, 1.0), (0.12, 1.0)), talk(50.0, (0.21, 2.0))], [None, None])
    assert [[u.text for u in r] for r in results] == [["直吃,几天无理由退货", "字12"], ["字21"]]


@pytest.mark.parametrize("text, last, again", [
    ("第一款美观的爽", "第一款美观的爽", True),  # word for word
    ("直撤,其天无理由佩服", "直吃,几天无理由退货", True),  # the same sounds, other characters
    ("最后三单", "最后五单", False),  # a countdown: too short to tell by sound
    ("最后五单", "直吃几天无理由退货", False),
    ("今天只要九十九", "原价九百九十九", False),  # the price after the reference price
    ("", "", False),
])
def test_a_retry_s_first_words_are_told_from_the_last_ones_heard_again(text, last, again):
    from pinocchio.listen.batching import heard_again

    assert heard_again(text, last) is again


class LoopingBatch(PausingBatch):
    """Loops on the window of level 0.66 in a batch (whisper's 只剩下一段时间 over and over);
    alone, padded to 30 s, it hears it."""

    def _decode_batch(self, windows, temperatures, beam_size, margin_s):
        found = super()._decode_batch(windows, temperatures, beam_size, margin_s)
        return [None if r and r[0].text == "字66" else r for r in found]


def test_a_batched_window_whisper_looped_on_is_decoded_again_alone():
    transcriber = LoopingBatch()
    results = transcriber.transcribe_batch([talk(0.0, (0.11, 1.0)), talk(30.0, (0.66, 2.0))], [None, None])
    assert [[u.text for u in r] for r in results] == [["字11"], ["字66"]]
    assert transcriber.alone == [30.0] and transcriber.batches == [[0.0, 30.0]]
    assert transcriber.audio_s == 3.0


@dataclass
class TextSegment:
    text: str


@pytest.mark.parametrize("texts, looped", [
    (["只剩下一段时间,", "只剩下一段时间,", "只剩下一段时间,"], True),  # the same words segment after segment
    (["问" * 40], True),  # one long loop
    (["家人们晚上好", "欢迎来到直播间", "点个关注不迷路"], False),
    (["买买买", "买买买"], False),  # a streamer's short cheer, said twice
    ([], False),
])
def test_a_batch_item_whisper_looped_on_is_told_from_talk(texts, looped):
    from pinocchio.listen.batching import looped as whisper_looped

    assert whisper_looped([TextSegment(t) for t in texts], AsrOptions().compression_ratio_max) is looped


class Tokens:
    eot = 100

    @staticmethod
    def decode(tokens):
        return "".join(chr(0x4e00 + t) for t in tokens)


def part(*words: tuple[str, float, float]) -> dict:
    return dict(start=words[0][1], end=words[-1][2], tokens=[1, 2], avg_logprob=-0.2, no_speech_prob=0.01,
                words=[dict(word=w, start=a, end=b, probability=0.9) for w, a, b in words])


def test_words_whisper_heard_in_a_batch_items_padding_are_dropped():
    from pinocchio.listen.batching import as_segments

    # A 3 s item in a batch padded to 9 s: whisper went on hearing words after its audio ended.
    parts = [part(("来", 0.5, 1.0), ("了", 1.0, 3.4), ("问", 2.97, 3.5)), part(("问", 4.0, 4.2), ("问", 4.2, 4.4))]
    segments = as_segments(parts, Tokens, 3.0, 0.0)
    assert [[(w.word, w.start, w.end) for w in s.words] for s in segments] == [[("来", 0.5, 1.0), ("了", 1.0, 3.0)]]
    assert segments[0].text == "来了"


def test_batched_decoding_gives_up_on_a_window_after_a_few_tries():
    transcriber = PausingBatch()
    parts = [(0.1 + i / 100, 0.5) for i in range(8)]  # eight words, each after a pause
    results = transcriber.transcribe_batch([talk(0.0, *parts), talk(60.0, *parts)], [None, None])
    assert len(transcriber.batches) == 3 and [len(r) for r in results] == [3, 3]


class RecordingTranscriber:
    """Stands in for whisper behind the scheduler: records each pack and answers at once (or
    after `hold`), or raises."""

    def __init__(self, hold: threading.Event | None = None, fail: bool = False):
        self.packs: list[list[float]] = []
        self.hold = hold
        self.fail = fail
        self.alone: list[float] = []

    def transcribe_batch(self, windows, keep_from, temperatures=None, beam_size=None):
        return self.transcribe_pack(windows, keep_from, temperatures, beam_size=beam_size)

    def transcribe_pack(self, windows, keep_from, temperatures=None, gap_s=1.0, beam_size=None):
        if self.hold:
            self.hold.wait(5)
        self.packs.append([w.start_s for w in windows])
        if self.fail:
            raise RuntimeError("whisper broke")
        return [[] for _ in windows]

    def transcribe_window(self, window, keep_from_s=None, prompt=None, temperatures=None, beam_size=None):
        self.alone.append(window.start_s)
        return []


def in_threads(decoder: PackedDecoder, windows: list[AudioChunk], prompt: str | None = None) -> list[threading.Thread]:
    threads = [threading.Thread(target=decoder.transcribe_window, args=(w, None, prompt)) for w in windows]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # in this order
    return threads


def test_when_every_feed_has_a_window_waiting_the_pack_is_decoded_at_once():
    recorder = RecordingTranscriber()
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=30.0))
    with decoder.client(), decoder.client():
        started = time.monotonic()
        for thread in in_threads(decoder, [chunk(1.0, 2.0), chunk(2.0, 2.0)]):
            thread.join(10)
        assert time.monotonic() - started < 5  # not the 30 s the oldest window may wait
    assert recorder.packs == [[1.0, 2.0]]


def test_a_lone_window_waits_at_most_max_wait_for_company():
    recorder = RecordingTranscriber()
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=0.3))
    with decoder.client(), decoder.client():  # the other feed is quiet
        started = time.monotonic()
        decoder.transcribe_window(chunk(1.0, 2.0))
        waited = time.monotonic() - started
    assert recorder.packs == [[1.0]] and 0.25 <= waited < 5


def test_packs_are_filled_first_come_first_served_and_what_does_not_fit_goes_first_next():
    hold = threading.Event()
    recorder = RecordingTranscriber(hold=hold)
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=0.0, capacity_s=10.0, gap_s=1.0))
    with decoder.client(), decoder.client(), decoder.client(), decoder.client(), decoder.client():
        threads = in_threads(decoder, [chunk(0.0, 1.0)])  # the decoder takes it and is held
        time.sleep(0.2)
        threads += in_threads(decoder, [chunk(10.0, 4.0), chunk(20.0, 6.0), chunk(30.0, 2.0), chunk(40.0, 1.0)])
        hold.set()
        for thread in threads:
            thread.join(10)
    # 10 s: the 4 s window, then the 6 s one does not fit beside it (4 + 1 + 6), the 2 s one does.
    assert recorder.packs == [[0.0], [10.0, 30.0, 40.0], [20.0]]


def test_a_failed_decode_reaches_every_feed_in_the_pack_and_the_decoder_goes_on():
    recorder = RecordingTranscriber(fail=True)
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=0.0))
    with pytest.raises(RuntimeError, match="whisper broke"):
        decoder.transcribe_window(chunk(0.0, 1.0))
    recorder.fail = False
    assert decoder.transcribe_window(chunk(5.0, 1.0)) == []


def test_a_window_with_a_text_prompt_is_decoded_alone():
    recorder = RecordingTranscriber()
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=0.0))
    decoder.transcribe_window(chunk(3.0, 1.0), None, "家人们")
    assert recorder.alone == [3.0] and recorder.packs == []


def feed_buffer(*stretches: tuple[float, float]) -> np.ndarray:
    """A feed's audio from 0 s: (seconds, level) one after another, each level one word."""
    return np.concatenate([np.full(int(seconds * SR), level, dtype=np.float32) for seconds, level in stretches])


def test_a_feeds_windows_waiting_together_are_decoded_as_one_and_each_gets_its_own_words():
    # Feed A said 字11 (context), 字12, 字13, 字14: three utterances, each window with the speech
    # before it as context, as the live path cuts them. Feed B said 字21 meanwhile.
    audio = feed_buffer((1.5, 0.11), (1.5, 0.12), (1.5, 0.13), (1.5, 0.14))
    windows = [AudioChunk(start_s=start, samples=audio[int(start * SR):int(end * SR)])
               for start, end in ((0.0, 3.0), (1.5, 4.5), (3.0, 6.0))]
    model = StoppingWhisper()
    decoder = PackedDecoder(whisper_with(model), PackOptions(max_wait_s=30.0, batch=False))
    feed, other = object(), object()
    with decoder.client(), decoder.client():
        mine = [decoder.submit(w, keep_from_s=w.start_s + 1.5, source=feed) for w in windows]
        theirs = decoder.submit(chunk(50.0, 1.0, 0.21), source=other)  # every feed waits: decoded now
        heard = [[u.text for u in f.result(5)] for f in mine]
        assert [u.text for u in theirs.result(5)] == ["字21"]
    assert heard == [["字12"], ["字13"], ["字14"]]
    assert len(model.calls) == 1 and decoder.windows == 4  # one call; A's speech heard once, as one window
    assert [(u.start_s, u.end_s) for f in mine for u in f.result()] == [(1.5, 2.5), (3.0, 4.0), (4.5, 5.5)]


def test_a_feeds_window_that_does_not_follow_its_last_waits_and_so_do_the_ones_after_it():
    recorder = RecordingTranscriber(hold=threading.Event())
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=0.0, capacity_s=12.0))
    feed = object()
    with decoder.client(), decoder.client():
        busy = decoder.submit(chunk(100.0, 1.0), source=object())  # the decoder is held with it
        time.sleep(0.2)
        after_silence = [chunk(0.0, 3.0), chunk(10.0, 3.0), chunk(11.0, 3.0)]  # 3-10 s: nothing to join
        futures = [decoder.submit(w, keep_from_s=w.start_s + 1.0, source=feed) for w in after_silence]
        too_long = decoder.submit(chunk(20.0, 11.0), source=object())  # fits a pack, not beside the runs
        recorder.hold.set()
        for future in [busy, *futures, too_long]:
            future.result(5)
    # 10 s and 11 s join (one window, 10-14 s), but only in the pack after the 0 s window's.
    assert recorder.packs == [[100.0], [0.0], [10.0], [20.0]]


def test_a_window_whisper_left_before_its_speech_was_over_is_decoded_again():
    model = HurryingWhisper(skipped=(0.22,))
    transcriber = whisper_with(model)
    middle = AudioChunk(20.0, np.concatenate([np.full(SR, 0.21, dtype=np.float32), np.full(2 * SR, 0.22, dtype=np.float32)]))
    results = transcriber.transcribe_pack([chunk(0.0, 1.5, 0.11), middle, chunk(40.0, 1.5, 0.31)], [None, None, None])
    # In the pack the middle window's words stop 2 s before its audio does: heard again, alone.
    assert [[u.text for u in r] for r in results] == [["字11"], ["字21", "字22"], ["字31"]]
    assert len(model.calls) == 2 and transcriber.repacked == 1


def test_one_windows_repetition_does_not_drop_the_other_windows_words():
    # Whisper's compression ratio is taken over the whole pack's text: here above the guard's
    # bound (2.4) for every segment, while each window's own words repeat nothing.
    transcriber = whisper_with(HurryingWhisper(ratio=3.0))
    results = transcriber.transcribe_pack([chunk(0.0, 1.5, 0.11), chunk(20.0, 1.5, 0.22)], [None, None])
    assert [[u.text for u in r] for r in results] == [["字11"], ["字22"]]
