"""A live feed reads on while its windows wait for the packed decoder: utterances come out in the
order they were said whatever order they are decoded in, no more than `windows_in_flight` wait at
once (so a feed the decoder cannot keep up with stops reading and its lag shows it), finish()
hands on every one, and a failed decode reaches the feed. The decoder here is scripted; the real
voice detector cuts the demo's real speech."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import pytest
from conftest import DEMO

from pinocchio.core.records import AudioChunk, Utterance, Word
from pinocchio.listen.audio import decode_chunks
from pinocchio.listen.packing import PackedDecoder, PackOptions
from pinocchio.listen.streaming import StreamingTranscriber, StreamOptions


class QueueingDecoder:
    """Takes windows like the packed decoder and decodes each on a timer: even ones slowly, odd
    ones quickly, so they finish out of order. Each window's utterance is named by its order."""

    def __init__(self, fail_at: int | None = None):
        self.lock = threading.Lock()
        self.queued = 0
        self.decoded = 0
        self.waiting_at_submit: list[int] = []
        self.keep_from: list[float] = []  # where each window's own speech starts
        self.fail_at = fail_at

    def submit(self, window: AudioChunk, keep_from_s=None, temperatures=None, beam_size=None, source=None) -> Future:
        future: Future = Future()
        with self.lock:
            n = self.queued
            self.waiting_at_submit.append(self.queued - self.decoded)
            self.keep_from.append(keep_from_s)
            self.queued += 1

        def decode() -> None:
            with self.lock:
                self.decoded += 1
            if n == self.fail_at:
                future.set_exception(RuntimeError("whisper broke"))
                return
            start = keep_from_s if keep_from_s is not None else window.start_s
            future.set_result([Utterance(start, window.end_s, f"第{n}句", (Word(start, window.end_s, f"第{n}句", 0.9),),
                                         -0.2, 0.01)])

        threading.Timer(0.4 if n % 2 == 0 else 0.05, decode).start()
        return future

    def transcribe_window(self, *args, **kwargs):
        raise AssertionError("pause commits without a prompt are queued, not decoded in place")


@pytest.fixture(scope="module")
def talk() -> list[AudioChunk]:
    return list(decode_chunks(DEMO, chunk_s=0.5, input_options={"t": 40.0}))


def test_utterances_come_out_in_order_while_the_feed_reads_on(talk):
    decoder = QueueingDecoder()
    streaming = StreamingTranscriber(decoder, StreamOptions(windows_in_flight=2))
    said = list(streaming.transcribe(talk))
    assert decoder.queued >= 6  # the demo's first 40 s holds that many utterances
    assert [u.text for u in said] == [f"第{n}句" for n in range(decoder.queued)]  # each once, in order
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(said, said[1:]))
    # It queued windows while earlier ones were still being decoded, never more than two at once.
    assert max(decoder.waiting_at_submit) == 2


def test_the_feed_knows_from_where_what_it_read_has_not_come_out_yet(talk):
    """A worker taking a feed over from a dead one rejoins from there (live/worker.py): the oldest
    window still waiting for the decoder, else the speech in progress, else nothing."""
    decoder = QueueingDecoder()
    streaming = StreamingTranscriber(decoder, StreamOptions(windows_in_flight=2))
    handed_out, waiting_seen, talking_seen = 0, 0, 0
    for chunk in talk:
        streaming.insert_audio(chunk)
        handed_out += len(streaming.process())
        since = streaming.unsettled_from_s
        if handed_out < decoder.queued:  # a window not out yet: the oldest such
            assert since == decoder.keep_from[handed_out]
            waiting_seen += 1
        elif since is not None:  # none waiting: speech started and not cut yet
            assert chunk.start_s - StreamOptions().max_utterance_s - 1.0 < since < chunk.end_s
            talking_seen += 1
    assert waiting_seen and talking_seen
    handed_out += len(streaming.finish())
    assert handed_out == decoder.queued and streaming.unsettled_from_s is None


def test_one_window_in_flight_means_the_feed_waits_for_the_one_before(talk):
    decoder = QueueingDecoder()
    said = list(StreamingTranscriber(decoder, StreamOptions(windows_in_flight=1)).transcribe(talk))
    assert max(decoder.waiting_at_submit) == 1 and len(said) == decoder.queued


def test_a_failed_decode_reaches_the_feed(talk):
    with pytest.raises(RuntimeError, match="whisper broke"):
        list(StreamingTranscriber(QueueingDecoder(fail_at=1)).transcribe(talk))


def test_agreement_and_prompts_wait_for_each_decode(talk):
    for options in (StreamOptions(commit="agreement"), StreamOptions(prompt_chars=8)):
        with pytest.raises(AssertionError, match="decoded in place"):
            list(StreamingTranscriber(QueueingDecoder(), options).transcribe(talk[:40]))


def test_no_windows_in_flight_is_refused():
    with pytest.raises(ValueError, match="windows_in_flight"):
        StreamOptions(windows_in_flight=0)


class Recorder:
    def __init__(self):
        self.packs: list[list[float]] = []

    def transcribe_pack(self, windows, keep_from, temperatures=None, gap_s=1.0, beam_size=None):
        self.packs.append([w.start_s for w in windows])
        return [[] for _ in windows]

    transcribe_batch = transcribe_pack


def test_two_windows_of_one_feed_do_not_count_as_every_feed_waiting_nor_share_a_pack():
    import numpy as np

    recorder = Recorder()
    decoder = PackedDecoder(recorder, PackOptions(max_wait_s=1.0))
    feed, other = object(), object()
    window = [AudioChunk(t, np.full(16000, 0.3, dtype=np.float32)) for t in (1.0, 3.0, 5.0)]
    with decoder.client(), decoder.client():  # the other feed is quiet
        first = decoder.submit(window[0], source=feed)
        second = decoder.submit(window[1], source=feed)
        time.sleep(0.3)
        assert not first.done()  # two windows waiting, but one feed: the quiet one may still join
        first.result(5), second.result(5)
        # The feed's second window holds its first one's speech as context: it goes in the next pack.
        assert recorder.packs == [[1.0], [3.0]]
    recorder.packs.clear()
    with decoder.client(), decoder.client():
        hold = decoder.submit(window[0], source=feed)  # waits for the other feed to have a window
        queued = [decoder.submit(window[1], source=feed), decoder.submit(window[2], source=other)]
        for future in [hold, *queued]:
            future.result(5)
    # The other feed's window joins the first pack ahead of the feed's own second one.
    assert recorder.packs == [[1.0, 5.0], [3.0]]
