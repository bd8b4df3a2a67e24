"""How soon a pause ends an utterance on the live path: as soon as the voice detector has heard
`endpoint_silence_s` of it (and its next look), not later. Real speech (the demo) and the real
voice detector; the decoder only notes when it is asked."""

from __future__ import annotations

import numpy as np
from conftest import DEMO
from faster_whisper.vad import VadOptions, get_speech_timestamps

from pinocchio.listen.audio import decode_chunks
from pinocchio.listen.streaming import StreamingTranscriber, StreamOptions

FRAME_S = 512 / 16000  # the detector hears in frames this long


class NotingDecoder:
    def __init__(self):
        self.windows = []

    def transcribe_window(self, window, keep_from_s=None, prompt=None, temperatures=None, beam_size=None):
        self.windows.append(window)
        return []


def test_an_utterance_is_committed_once_its_pause_is_heard_not_a_pad_later():
    options = StreamOptions(process_every_s=0.05)
    chunks = list(decode_chunks(DEMO, chunk_s=options.process_every_s, input_options={"t": 12.0}))
    audio = np.concatenate([c.samples for c in chunks])
    speech = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=int(options.endpoint_silence_s * 1000),
                                                     max_speech_duration_s=options.max_utterance_s, speech_pad_ms=0))
    first_end_s = speech[0]["end"] / 16000  # where the first sentence's speech stops
    assert speech[1]["start"] / 16000 - first_end_s > 0.6  # a pause, not the length cap, ends it

    decoder = NotingDecoder()
    streaming = StreamingTranscriber(decoder, options)
    for chunk in chunks:
        streaming.insert_audio(chunk)
        streaming.process()
        if decoder.windows:
            committed_at_s = chunk.end_s
            break
    waited_s = committed_at_s - first_end_s
    # The pause heard (0.3 s), the next look (0.05 s) and a frame or two of the detector's; the
    # detector's padding of the speech (0.2 s) is not waited for again.
    assert options.endpoint_silence_s - FRAME_S <= waited_s <= options.endpoint_silence_s + options.process_every_s + 2 * FRAME_S
    assert decoder.windows[0].end_s > first_end_s  # the word's tail, padded, is in the window
