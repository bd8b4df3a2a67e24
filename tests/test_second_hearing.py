"""Whisper hears the seconds before each live utterance again, as its context: where that second
hearing of speech already committed differs from the first, it is handed on (heard_again), read
with the sentence before it, judged for what the first hearing missed and nothing else, stored and
marked. The decoder here "hears" the demo's reference text at its reference times (the real voice
detector cuts the demo's real audio; the real `kept_after` parts each window), mishearing the scarcity
claim the first time, as whisper base did live on six feeds."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import DEMO, DEMO_REFERENCE
from sqlmodel import Session, select

from pinocchio.core.records import AudioChunk, FindingSource, Utterance, Word
from pinocchio.core.settings import Settings
from pinocchio.listen.asr import AsrOptions
from pinocchio.listen.audio import decode_chunks
from pinocchio.listen.context import kept_after
from pinocchio.listen.detect import DetectOptions
from pinocchio.listen.pipeline import Pipeline
from pinocchio.listen.streaming import StreamingTranscriber, StreamOptions, heard_otherwise
from pinocchio.live.feeds import Feed
from pinocchio.live.worker import LiveWorker
from pinocchio.moderation.ledger import ModerationLedger
from pinocchio.store import open_store
from pinocchio.store.tables import FindingRow, SegmentRow

SENTENCES = [s for s in json.loads(DEMO_REFERENCE.read_text(encoding="utf-8")) if s["kind"] == "speech"]
SCARCITY = next(s for s in SENTENCES if "fake_scarcity" in s["labels"])
MISHEARD = {SCARCITY["text"]: "最红午单，买完马上下奖！"}  # what whisper base heard on six feeds


class ReferenceWhisper:
    """Hears the demo's sentences at their reference times, a character a word, evenly spaced (so
    some fall in the pauses the voice detector cuts at): each character is heard once as a
    window's own speech (in the first window that reaches it) and again in the context of every
    later window that holds it. `first_time` (text -> text of the same length) is what it hears the
    first time instead."""

    def __init__(self, first_time: dict[str, str] | None = None):
        self.first_time = first_time or {}
        self.heard: set[tuple[int, int]] = set()  # (sentence, character) heard as own speech

    def transcribe_window(self, window: AudioChunk, keep_from_s=None, prompt=None, temperatures=None,
                          beam_size=None) -> list[Utterance]:
        keep_from = window.start_s if keep_from_s is None else keep_from_s
        heard = []
        for n, s in enumerate(SENTENCES):
            step = (s["end_s"] - s["start_s"]) / len(s["text"])
            misheard = self.first_time.get(s["text"], s["text"])
            words = []
            for i, char in enumerate(s["text"]):
                start_s, end_s = s["start_s"] + i * step, s["start_s"] + (i + 1) * step
                middle = (start_s + end_s) / 2
                if (n, i) not in self.heard and middle <= window.end_s + 0.5:  # own speech, timed after the cut
                    self.heard.add((n, i))
                    start_s = max(start_s, keep_from)
                    words.append(Word(round(start_s, 3), round(max(end_s, start_s + 0.15), 3), misheard[i], 0.9))
                elif (n, i) in self.heard and window.start_s <= middle < keep_from:  # context, heard right
                    words.append(Word(round(start_s, 3), round(min(end_s, keep_from), 3), char, 0.9))
            if words:
                heard.append(Utterance(words[0].start_s, words[-1].end_s, "".join(w.text for w in words),
                                       tuple(words), -0.2, 0.01))
        return kept_after(heard, keep_from_s)


@pytest.fixture(scope="module")
def talk() -> list[AudioChunk]:
    return list(decode_chunks(DEMO, chunk_s=0.2, input_options={"t": 72.0}))


def test_the_context_words_ride_on_the_first_kept_utterance():
    words = [Word(1.0, 1.8, "最后五单", 0.9), Word(2.0, 3.0, "卖完", 0.9), Word(4.1, 5.0, "三号链接", 0.9)]
    heard = [Utterance(1.0, 3.0, "最后五单卖完", tuple(words[:2]), -0.2, 0.01),
             Utterance(4.1, 5.0, "三号链接", (words[2],), -0.2, 0.01)]
    kept = kept_after(heard, 4.0)
    assert [u.text for u in kept] == ["三号链接"]
    assert kept[0].context_words == tuple(words[:2])
    assert kept_after(heard[:1], 4.0) == []  # nothing of its own heard: nothing to carry it
    assert kept_after(heard, None) == heard  # no context, no second hearing


def test_a_second_hearing_that_differs_is_handed_on_before_the_utterance_whose_context_it_was(talk):
    whisper = ReferenceWhisper(MISHEARD)
    said = list(StreamingTranscriber(whisper, StreamOptions(pack=False)).transcribe(talk))
    first = [u for u in said if not u.heard_again]
    again = [u for u in said if u.heard_again]
    assert MISHEARD[SCARCITY["text"]] in "".join(u.text for u in first)  # the transcript: the first hearing
    # The other sentences were heard alike twice, or apart only at the cuts' edges.
    assert "".join(u.text for u in again) == SCARCITY["text"]
    assert all(SCARCITY["start_s"] <= u.start_s < u.end_s <= SCARCITY["end_s"] for u in again)
    for u in again:  # handed on with the utterance whose context it was, before it
        after = said[said.index(u) + 1]
        assert not after.heard_again and after.start_s > u.start_s and after.end_s > u.end_s
    assert not any(u.context_words for u in said)


def test_no_second_hearing_when_turned_off_or_when_talk_is_decoded_as_it_goes(talk):
    for options in (StreamOptions(pack=False, hear_again=False), StreamOptions(pack=False, commit="agreement")):
        said = list(StreamingTranscriber(ReferenceWhisper(MISHEARD), options).transcribe(talk))
        assert not any(u.heard_again for u in said)


@pytest.mark.parametrize("once, again, otherwise", [
    ("最红午单买完", "最后五单卖", True),  # words heard otherwise
    ("结轰五单", "最后五单", True),  # at the start too: replaced, not cut
    ("这个不是药品不能治病", "这个不是药品能治病", True),  # a word lost between two both have
    ("关注不迷路来", "个关注不迷路", False),  # a word at each cut, on the other side of it
    ("最后五单", "最后五单了", False),
    ("不能治病", "能治病", False),  # the 不 before the window's audio: cut off, not misheard
    ("最后五单", "最后五单", False),
])
def test_two_hearings_differ_when_words_were_heard_otherwise_not_at_a_cut(once, again, otherwise):
    assert heard_otherwise(once, again) is otherwise


def test_speech_begun_before_the_window_is_not_heard_again():
    """An utterance that started before the window's audio was heard cut off: no second hearing."""
    whisper = ReferenceWhisper()
    streaming = StreamingTranscriber(whisper, StreamOptions(pack=False))
    first = Utterance(10.0, 13.0, "最红午单", (Word(10.0, 13.0, "最红午单", 0.9),), -0.2, 0.01)
    streaming._heard_twice([first], 9.5)
    context = (Word(11.0, 13.0, "五单", 0.9),)
    assert streaming._second_hearing(context, window_start_s=10.5) is None
    again = streaming._second_hearing((Word(10.0, 13.0, "最后五单", 0.9),), window_start_s=9.8)
    assert again is not None and again.heard_again and again.text == "最后五单"


def judged(pipeline: Pipeline, utterances: list[Utterance]):
    return list(pipeline.detector.verdicts(pipeline.segmenter.segments(utterances)))


def utterance(start_s: float, end_s: float, text: str, again: bool = False) -> Utterance:
    return Utterance(start_s, end_s, text, (Word(start_s, end_s, text, 0.9),), -0.2, 0.01, heard_again=again)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(Settings(classifier="none"), detect_options=DetectOptions(batch_size=1))


def test_a_second_hearing_stands_only_for_what_the_first_missed(pipeline):
    verdicts = judged(pipeline, [utterance(39.4, 42.3, "最红午单买完马上下奖"), utterance(39.4, 42.2, "最后五单卖完马上下架", True),
                                 utterance(43.3, 47.0, "三号链接已经上好了")])
    assert [(v.segment.text, v.labels, v.segment.heard_again, v.action) for v in verdicts] == [
        ("最红午单买完马上下奖", (), False, "pass"), ("最后五单卖完马上下架", ("fake_scarcity",), True, "review"),
        ("三号链接已经上好了", (), False, "pass")]  # heard two ways: a reviewer hears the clip
    # Heard right both times: one finding, not two.
    verdicts = judged(pipeline, [utterance(39.4, 42.3, "最后五单卖完马上下架"), utterance(39.4, 42.2, "最后五单了卖完马上下架", True)])
    assert [v.segment.text for v in verdicts] == ["最后五单卖完马上下架"]
    # A label the first hearing had is left out; a new one stands alone.
    verdicts = judged(pipeline, [utterance(61.8, 66.1, "喝了这个茶能至糖尿病还能降血压"),
                                 utterance(61.8, 66.0, "喝了这个茶能治糖尿病还是全国销量第一", True)])
    assert verdicts[0].labels == ("medical_claim",)
    assert verdicts[1].labels == ("absolute_claim",) and {f.label for f in verdicts[1].findings} == {"absolute_claim"}


def test_a_second_hearing_reads_the_sentence_before_it_for_a_negation(pipeline):
    """不能 | 治病, cut apart, heard again as 治病呀 must not become a medical claim: it is read with the
    first hearing's sentence before it, as the first hearing was."""
    said = [utterance(67.1, 68.5, "注意这个不是药品不能"), utterance(68.6, 70.5, "治病"),
            utterance(68.6, 70.4, "治病呀", True), utterance(71.5, 75.0, "一盒六十九块")]
    assert not any(v.flagged for v in judged(pipeline, said))
    segments = list(pipeline.segmenter.segments(said))
    assert [s.before for s in segments] == ["", "注意这个不是药品不能", "注意这个不是药品不能",
                                            "治病"]  # the talk after a second hearing reads the first


def run_worker(talk: list[AudioChunk], db: Path, options: StreamOptions) -> tuple[list[SegmentRow], list, dict]:
    class ReferenceTranscriber:
        options = AsrOptions(model="reference")

        def streaming(self, stream_options: StreamOptions) -> StreamingTranscriber:
            return StreamingTranscriber(ReferenceWhisper(MISHEARD), stream_options)

    engine = open_store(f"sqlite:///{db}")
    pipeline = Pipeline(Settings(classifier="none"), detect_options=DetectOptions(batch_size=1),
                        transcriber=ReferenceTranscriber())
    reminded = []
    worker = LiveWorker(pipeline, engine, [Feed("room9", "rtmp://127.0.0.1/live/room9")], ModerationLedger("pinocchio@test"),
                        on_reminder=reminded.append, chunk_source=lambda url, policy, on_gap, stop: iter(talk),
                        stream_options=options)
    worker.run()
    with Session(engine) as session:
        rows = session.exec(select(SegmentRow).order_by(SegmentRow.start_ms)).all()
        findings = {row.id: {(f.label, f.source, f.matched) for f in
                             session.exec(select(FindingRow).where(FindingRow.segment_id == row.id))} for row in rows}
    return rows, reminded, findings


def test_a_claim_heard_right_only_the_second_time_is_stored_marked_and_reminded(talk, tmp_path):
    """End to end through the live worker: the demo's first 72 s, the scarcity claim misheard the
    first time; its second hearing is stored beside the first, marked, flagged for review and
    reminded; what was heard the first time is stored as it is without second hearings."""
    rows, reminded, findings = run_worker(talk, tmp_path / "again.db", StreamOptions(pack=False))
    again = [r for r in rows if r.heard_again]
    # Heard right the second time in two pieces, across a cut: 最后五单,卖 | 完马上下架.
    assert [(r.text, r.action) for r in again] == [("最后五单,卖", "review"), ("完马上下架", "review")]
    assert findings[again[0].id] == {("fake_scarcity", str(FindingSource.LEXICON), "最后五单")}
    assert ("fake_scarcity", "最后五单,卖") in [(r.label, r.text) for r in reminded]
    once, _, _ = run_worker(talk, tmp_path / "once.db", StreamOptions(pack=False, hear_again=False))
    assert [(r.start_ms, r.end_ms, r.text, r.action) for r in rows if not r.heard_again] == [
        (r.start_ms, r.end_ms, r.text, r.action) for r in once]
    assert not any(r.heard_again for r in once)


def test_the_console_marks_a_second_hearing_in_the_transcript(world, client, tmp_path):
    """A reviewer sees which line is whisper's second hearing of the speech beside it."""
    from web_client import login

    from pinocchio.store.engine import connect

    engine = connect(world.db_url)
    with Session(engine) as session:
        case = session.get(SegmentRow, world.case_id)
        session.add(SegmentRow(scan_id=case.scan_id, stream_id=case.stream_id, start_ms=case.start_ms + 20,
                               end_ms=case.end_ms - 20, text="喝了这个茶能治糖尿病还能降血压呀", tokens="[]",
                               action="review", heard_again=True))
        session.commit()
    engine.dispose()
    login(client, "alice", world.password)
    page = client.get(f"/cases/{world.case_id}").text
    lines = page.split('<ol class="transcript">')[1].split("</ol>")[0].split("<li")
    marked = [line for line in lines if "heard again" in line]
    assert len(marked) == 1 and "降血压呀" in marked[0]
    # And in the case's bundle for a regulator.
    from pinocchio.moderation.bundle import write_bundle

    engine = connect(world.db_url)
    with Session(engine) as session:
        write_bundle(session, world.case_id, tmp_path / "case.zip", world.evidence_dir)
    engine.dispose()
    with zipfile.ZipFile(tmp_path / "case.zip") as bundle:
        transcript = bundle.read("transcript.txt").decode("utf-8").splitlines()
    assert [line for line in transcript if "(heard again)" in line] == [
        line for line in transcript if "降血压呀" in line]
