"""Reminders to the streamer, built from the templates in prompts/reminders/: one per label, and
`facts.txt` for a promise the shop's facts break (it names the fact). A claim repeated in one
stream within the window is reminded once: a streamer told twice in a minute stops listening.
A reminder is the `remind` event's payload (`core.events.Remind`), stored and sent as it is."""

from __future__ import annotations

import string
from pathlib import Path

from pinocchio.core.errors import ConfigError
from pinocchio.core.events import Remind
from pinocchio.core.labels import LABELS
from pinocchio.core.records import FindingSource, Verdict

FIELDS = {"matched", "article", "text", "stream", "time", "fact"}
FACTS = "facts"  # the template of a promise the shop's facts break


def load_templates(directory: Path) -> dict[str, str]:
    """One template per label and one for broken promises; fail at start-up, naming the file, if
    one is missing or uses an unknown field."""
    templates = {}
    for label in (*LABELS, FACTS):
        path = directory / f"{label}.txt"
        if not path.is_file():
            raise ConfigError(f"{path}: missing reminder template for {label}")
        text = path.read_text(encoding="utf-8").strip()
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as exc:
            raise ConfigError(f"{path}: broken template ({exc})") from None
        unknown = used - FIELDS
        if unknown:
            raise ConfigError(f"{path}: unknown field {sorted(unknown)[0]!r} (valid: {', '.join(sorted(FIELDS))})")
        templates[label] = text
    return templates


class Reminders:
    def __init__(self, templates: dict[str, str], window_s: float = 120.0):
        self.templates = templates
        self.window_s = window_s
        self._last: dict[tuple[str, str], float] = {}  # (stream, label) -> stream time last reminded

    def for_verdict(self, stream: str, verdict: Verdict) -> list[Remind]:
        if not verdict.flagged:
            return []
        seg = verdict.segment
        reminders = []
        for label in verdict.labels:
            last = self._last.get((stream, label))
            if last is not None and seg.start_s - last < self.window_s:
                continue
            self._last[(stream, label)] = seg.start_s
            # A broken promise is told with the fact it breaks (the facts' version is for reviewers).
            finding = min((f for f in verdict.findings if f.label == label),
                          key=lambda f: f.source != FindingSource.FACTS)
            template = self.templates[FACTS if finding.source == FindingSource.FACTS else label]
            minutes, seconds = divmod(int(seg.start_s), 60)
            message = template.format(matched=finding.matched, article=finding.article, text=seg.text, stream=stream,
                                      time=f"{minutes:02d}:{seconds:02d}", fact=finding.fact.rsplit(" [", 1)[0])
            reminders.append(Remind(stream=stream, start_s=seg.start_s, end_s=seg.end_s, label=label,
                                    article=finding.article, action=verdict.action, message=message, text=seg.text))
        return reminders
