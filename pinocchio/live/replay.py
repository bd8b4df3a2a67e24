"""The replay guard: after a feed is (re)joined, an HLS playlist or a relay's buffer plays again
what the last connection (or the last worker) already heard. A segment that repeats one stored
near the same time is not stored twice."""

from __future__ import annotations

import difflib

from sqlmodel import Session, select

from pinocchio.core import pinyin
from pinocchio.core.records import Verdict
from pinocchio.store.tables import SegmentRow

REPLAY_WINDOW_S = 60.0  # after a (re)join, how long (stream seconds) replayed speech is looked for
# Whisper hears replayed audio differently once its context is cut (泼了这个茶能治糖尿病 ->
# 割了这个参能至糖尿便), but mostly as the same sounds: 7 of 10 syllables here.
SAME_SOUND_RATIO = 0.6  # share of a segment's syllables found, in runs of 2+, in what was heard before

class ReplayGuard:
    """Recognises segments a feed has already stored: same stream, about the same time, about the
    same words. Only consulted shortly after a (re)join, so a streamer repeating a line later is
    stored each time."""

    def __init__(self, window_s: float = REPLAY_WINDOW_S):
        self.window_s = window_s
        self.joined_at_s: float | None = None

    def joined(self, at_s: float) -> None:
        self.joined_at_s = at_s

    def is_replay(self, session: Session, stream_id: int, verdict: Verdict) -> bool:
        seg = verdict.segment
        if self.joined_at_s is None or seg.start_s > self.joined_at_s + self.window_s:
            return False
        # Audio heard before the join is stamped before it; a replay of it is stamped after.
        sounds = pinyin.sounds(seg.text)
        earlier = session.exec(select(SegmentRow.text).where(
            SegmentRow.stream_id == stream_id,
            SegmentRow.start_ms >= round((seg.start_s - self.window_s) * 1000),
            SegmentRow.start_ms < round(self.joined_at_s * 1000)).order_by(SegmentRow.start_ms)).all()
        heard = [s for text in earlier for s in pinyin.sounds(text)]
        if not sounds or not heard:
            return False
        # The replay may be cut into sentences differently, so look for this segment's sounds
        # anywhere in what was heard before, in runs of two syllables or more.
        blocks = difflib.SequenceMatcher(None, sounds, heard, autojunk=False).get_matching_blocks()
        return sum(b.size for b in blocks if b.size >= 2) / len(sounds) >= SAME_SOUND_RATIO
