"""Reminders to the streamer, built from the templates in prompts/reminders/. A claim repeated in
one stream within the window is reminded once: a streamer told twice in a minute stops listening.
A reminder is the `remind` event's payload (`core.events.Remind`), stored and sent as it is."""

from __future__ import annotations

import string
from pathlib import Path

from pinocchio.core.errors import ConfigError
from pinocchio.core.events import Remind
from pinocchio.core.labels import LABELS
from pinocchio.core.records import Verdict

FIELDS = {"matched", "article", "text", "stream", "time"}


def load_templates(directory: Path) -> dict[str, str]:
    """One template per label; fail at start-up, naming the file, if one is missing or uses an unknown field."""
    templates = {}
    for label in LABELS:
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
            finding = next(f for f in verdict.findings if f.label == label)
            minutes, seconds = divmod(int(seg.start_s), 60)
            message = self.templates[label].format(matched=finding.matched, article=finding.article, text=seg.text,
                                                   stream=stream, time=f"{minutes:02d}:{seconds:02d}")
            reminders.append(Remind(stream=stream, start_s=seg.start_s, end_s=seg.end_s, label=label,
                                    article=finding.article, action=verdict.action, message=message, text=seg.text))
        return reminders
