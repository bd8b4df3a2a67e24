"""Reminders to the streamer, built from the templates in prompts/reminders/: one per label, and
`facts.txt` for a promise the shop's facts break (it names the fact). A claim repeated in one
stream within the window is reminded once: a streamer told twice in a minute stops listening.
A reminder is the `remind` event's payload (`core.events.Remind`), stored and sent as it is."""

from __future__ import annotations

from pinocchio.core.events import Remind
from pinocchio.core.records import FindingSource, Verdict
from pinocchio.core.reminder_texts import FACTS, mm_ss


class Reminders:
    def __init__(self, templates: dict[str, str], window_s: float = 120.0):
        self.templates = templates
        self.window_s = window_s
        self._last: dict[tuple[str, str], float] = {}  # (stream, label) -> stream time last reminded

    def for_verdict(self, stream: str, verdict: Verdict, reminded: set[str] = frozenset()) -> list[Remind]:
        """The reminders a verdict calls for: one per label, unless this stream was reminded of it
        within the window, here or (`reminded`: the labels the log says were reminded lately, by
        viewers' reports too) elsewhere."""
        if not verdict.flagged:
            return []
        seg = verdict.segment
        reminders = []
        for label in verdict.labels:
            last = self._last.get((stream, label))
            if (last is not None and seg.start_s - last < self.window_s) or label in reminded:
                continue
            self._last[(stream, label)] = seg.start_s
            # A broken promise is told with the fact it breaks (the facts' version is for reviewers).
            finding = min((f for f in verdict.findings if f.label == label),
                          key=lambda f: f.source != FindingSource.FACTS)
            template = self.templates[FACTS if finding.source == FindingSource.FACTS else label]
            message = template.format(matched=finding.matched, article=finding.article, text=seg.text, stream=stream,
                                      time=mm_ss(seg.start_s), fact=finding.fact.rsplit(" [", 1)[0])
            reminders.append(Remind(stream=stream, start_s=seg.start_s, end_s=seg.end_s, label=label,
                                    article=finding.article, action=verdict.action, message=message, text=seg.text))
        return reminders
