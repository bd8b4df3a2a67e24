"""A live window is its own speech and the seconds before it, given to whisper as context: the
words it heard are parted at the boundary between the two (`parted`), and those of the context,
speech committed before, ride on the first kept utterance (`kept_after`) as a second hearing of it
(listen/streaming.py)."""

from __future__ import annotations

from dataclasses import replace

from pinocchio.core.records import Utterance

KEEP_MARGIN_S = 0.1  # a context word's end may run this far past the boundary and still be context


def kept_after(utterances: list[Utterance], keep_from_s: float | None) -> list[Utterance]:
    """With `keep_from_s`, the words of the new stretch only: the audio before it was context. What
    whisper heard in the context rides on the first kept utterance (`context_words`)."""
    if keep_from_s is None:
        return utterances
    context, kept = parted(utterances, keep_from_s)
    heard = tuple(w for u in context for w in u.words)
    if kept and heard:
        kept[0] = replace(kept[0], context_words=heard)
    return kept


def parted(utterances: list[Utterance], boundary_s: float) -> tuple[list[Utterance], list[Utterance]]:
    """The words said before a boundary and those said after it, each kept in its utterance.
    A word is after when it ends past the boundary. Not by its midpoint: whisper stretches the
    first word after a pause back into the silence (不能 timed 19.33-19.91 for a boundary at
    19.54), while word ends stay close to the speech. Its start is held at the boundary, where
    the stretch before it ended."""
    before, after = [], []
    for u in utterances:
        late = tuple(replace(w, start_s=max(w.start_s, round(boundary_s, 3)))
                     for w in u.words if w.end_s > boundary_s + KEEP_MARGIN_S)
        early = tuple(w for w in u.words if w.end_s <= boundary_s + KEEP_MARGIN_S)
        if early:
            before.append(replace(u, end_s=early[-1].end_s, words=early, text="".join(w.text for w in early)))
        if late:
            after.append(replace(u, start_s=late[0].start_s, words=late, text="".join(w.text for w in late),
                                 context_words=()))
    return before, after
