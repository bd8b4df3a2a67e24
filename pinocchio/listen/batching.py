"""The pieces of a batched whisper call that faster-whisper keeps for its own batched pipeline
(one recording cut in pieces), put to work over windows of different feeds: each item's tokens
as timed segments, its words held inside its own audio, and the checks for what whisper invents in
a batch (words in the padding, loops over segments). `Transcriber.transcribe_batch` is the call."""

from __future__ import annotations

import difflib
import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pinocchio.core import pinyin
from pinocchio.core.records import AudioChunk, Utterance
from pinocchio.listen.asr import _seed_sampler, _within, bare_text, collapse_loops

if TYPE_CHECKING:
    from pinocchio.listen.asr import Transcriber

log = logging.getLogger(__name__)
# A batched word starting this close to its item's audio end, or past it, was heard in the padding.
PADDING_WORD_S = 0.05
# A retried item's first words that sound this much like its last heard ones (toneless syllables,
# difflib's ratio) are those words heard again: CI's fleet test stored 直吃,几天无理由退货 and, from
# the same audio, 直撤,其天无理由佩服 (0.56). Of 9,495 adjacent sentences of real streamers
# (LiveAMR's train file) 10 reach 0.5, each a line said again. Shorter texts must match exactly:
# 最后五单 then 最后三单 is a countdown, not an echo.
ECHO_SOUND_RATIO = 0.5
ECHO_MIN_SYLLABLES = 6


def decode_batch(transcriber: "Transcriber", windows: Sequence[AudioChunk], temperatures: tuple[float, ...] | None,
                 beam_size: int | None, margin_s: float) -> list[list[Utterance] | None]:
    """One batched whisper call: each window's utterances on the stream's clock (None for one
    whisper looped on). faster-whisper decodes a batch only in pieces of one recording, so this is
    its batched pipeline's path (encode, generate, split at the timestamps, align the words) over
    windows of their own."""
    from faster_whisper.transcribe import get_ctranslate2_storage

    model = transcriber.model
    kwargs = transcriber._kwargs(max(w.end_s - w.start_s for w in windows), None, temperatures, beam_size)
    hop = model.feature_extractor.hop_length
    frames = [len(w.samples) // hop for w in windows]
    width = min(model.feature_extractor.nb_max_frames, -(-max(frames) // 100) * 100 + round(margin_s * 100))
    # Each item's audio padded with silence before its log-mel, as whisper was trained (faster-
    # whisper pads the log-mel with zeros instead): over six demo feeds whisper heard words in
    # the padding of 3 items against 9-10 (问问问…, 作词作曲), at the same CER.
    batch = np.stack([model.feature_extractor(np.pad(w.samples[:width * hop], (0, max(0, width * hop - len(w.samples)))))
                      [:, :width] for w in windows])
    tokenizer, prompt, suppressed = _decoding_tokens(model, transcriber.options.language)
    with transcriber.turns.turn():
        started = time.perf_counter()
        _seed_sampler()
        encoded = model.model.encode(get_ctranslate2_storage(batch))
        results = model.model.generate(
            encoded, [list(prompt) for _ in windows], beam_size=kwargs["beam_size"],
            max_length=len(prompt) + kwargs.get("max_new_tokens", model.max_length - len(prompt)),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=suppressed, sampling_temperature=kwargs["temperature"][0])
        segments = [timed_parts(model, tokenizer, list(r.sequences_ids[0]), n, r.scores[0], r.no_speech_prob)
                    for r, n in zip(results, frames)]
        punctuation = whisper_punctuation()
        model.add_word_timestamps(segments, tokenizer, encoded, frames, punctuation["prepend"],
                                  punctuation["append"], 0.0)
        found = []
        for window, parts, n in zip(windows, segments, frames):
            heard = as_segments(parts, tokenizer, n / 100, kwargs["temperature"][0])
            if looped(heard, transcriber.options.compression_ratio_max):
                log.info("whisper looped on a batched window at %.1f s: decoded again alone", window.start_s)
                found.append(None)
                continue
            found.append([u for u in (transcriber._to_utterance(seg, seg.words, window.start_s) for seg in heard)
                          if u is not None])
        transcriber.decode_s += time.perf_counter() - started
    return found


def heard_again(text: str, last_text: str) -> bool:
    """Whether a retried batch item's first words are its last heard words again, as whisper heard
    them from their tail (word for word, or, for six syllables or more, mostly the same sounds)."""
    if bare_text(text) == bare_text(last_text):
        return bool(bare_text(text))
    said, last = pinyin.sounds(text), pinyin.sounds(last_text)
    return (min(len(said), len(last)) >= ECHO_MIN_SYLLABLES
            and difflib.SequenceMatcher(None, said, last, autojunk=False).ratio() >= ECHO_SOUND_RATIO)


@functools.cache
def whisper_punctuation() -> dict[str, str]:
    """faster-whisper's own defaults for which punctuation joins the word before or after it."""
    import inspect

    from faster_whisper import WhisperModel

    parameters = inspect.signature(WhisperModel.transcribe).parameters
    return {"prepend": parameters["prepend_punctuations"].default, "append": parameters["append_punctuations"].default}


@functools.lru_cache(maxsize=4)
def _decoding_tokens(model, language: str) -> tuple:
    """The tokenizer, the start of every item's transcript and the tokens whisper may not write
    (faster-whisper's default: non-speech symbols), once per model and language: built on every
    call they cost each batch the tokenizing of those symbols again."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    return (tokenizer, tuple(model.get_prompt(tokenizer, [], without_timestamps=False)),
            list(get_suppressed_tokens(tokenizer, [-1])))


def timed_parts(model, tokenizer, tokens: list[int], frames: int, score: float, no_speech_prob: float) -> list[dict]:
    """A batch item's tokens as whisper's segments (split at its timestamps, as faster-whisper's
    batched pipeline does), with the words after the last timestamp kept too: alone in its call,
    no later window would hear them again."""
    parts, _, single_ending = model._split_segments_by_timestamps(tokenizer, tokens, 0.0, frames, frames / 100, 0)
    taken = sum(len(part["tokens"]) for part in parts)
    if parts and not single_ending and any(t < tokenizer.timestamp_begin for t in tokens[taken:]):
        parts.append(dict(seek=0, start=parts[-1]["end"], end=frames / 100, tokens=tokens[taken:]))
    avg_logprob = score * len(tokens) / (len(tokens) + 1)  # CTranslate2's score is per token; whisper's average counts the end
    for part in parts:
        part.update(avg_logprob=avg_logprob, no_speech_prob=no_speech_prob)
    return parts


def as_segments(parts: list[dict], tokenizer, duration_s: float, temperature: float) -> list:
    """faster-whisper's segment records for a batch item's parts, words held inside its audio.
    A word that starts where its audio has ended was heard in the padding up to the longest item
    (on six demo feeds: 问问问…, 对对对, 作词作曲 after short utterances): it is dropped, not held."""
    from faster_whisper.transcribe import Segment, get_compression_ratio
    from faster_whisper.transcribe import Word as WhisperWord

    segments = []
    for i, part in enumerate(parts):
        padding = [w["word"] for w in part.get("words", []) if w["start"] >= duration_s - PADDING_WORD_S]
        if padding:
            log.info("dropped whisper text heard in a batch item's padding: %s", "".join(padding))
        words = [_within(WhisperWord(start=float(w["start"]), end=float(w["end"]), word=w["word"],
                                     probability=float(w["probability"])), 0.0, duration_s)
                 for w in part.get("words", []) if w["start"] < duration_s - PADDING_WORD_S]
        if part.get("words") and not words:
            continue
        text = "".join(w.word for w in words) if part.get("words") else tokenizer.decode(
            [t for t in part["tokens"] if t < tokenizer.eot])
        segments.append(Segment(id=i, seek=0, start=part["start"], end=part["end"], text=text, tokens=part["tokens"],
                                avg_logprob=part["avg_logprob"], compression_ratio=get_compression_ratio(text),
                                no_speech_prob=part["no_speech_prob"], words=words, temperature=temperature))
    return segments


def looped(segments: list, compression_ratio_max: float) -> bool:
    """Whether whisper looped on a batch item: the same words segment after segment (on the
    demo: 只剩下一段时间 three and four times over real talk), each segment too short for its
    own compression ratio to show it, or the item's whole text as repetitive as whisper's own
    check of a window would find it."""
    from faster_whisper.transcribe import get_compression_ratio

    texts = [bare_text(seg.text) for seg in segments]
    whole = "".join(texts)
    collapsed, removed = collapse_loops(whole)
    return (any(len(a) >= 4 and a == b for a, b in zip(texts, texts[1:])) or removed > len(collapsed)
            or (bool(whole) and get_compression_ratio(whole) > compression_ratio_max))
