"""What a streamer is told, as templates in prompts/reminders/: one per label, `facts.txt` for a
promise the shop's facts break, and `viewers.txt` around a reminder that viewers' reports raised.
Both sides remind (the live worker for what the pipeline flags, the report intake for what viewers
report), so the templates are read here, once, and checked at start-up."""

from __future__ import annotations

import string
from pathlib import Path

from pinocchio.core.errors import ConfigError
from pinocchio.core.labels import LABELS

FACTS = "facts"  # the template of a promise the shop's facts break
VIEWERS = "viewers"  # the frame of a reminder raised by viewers' reports
FIELDS = {"matched", "article", "text", "stream", "time", "fact"}
VIEWER_FIELDS = {"reminder", "reports", "weight"}


def load_templates(directory: Path) -> dict[str, str]:
    """Every template, checked: fail at start-up, naming the file, if one is missing or uses an
    unknown field."""
    templates = {}
    for name in (*LABELS, FACTS, VIEWERS):
        path = directory / f"{name}.txt"
        if not path.is_file():
            raise ConfigError(f"{path}: missing reminder template for {name}")
        text = path.read_text(encoding="utf-8").strip()
        try:
            used = {field for _, field, _, _ in string.Formatter().parse(text) if field}
        except ValueError as exc:
            raise ConfigError(f"{path}: broken template ({exc})") from None
        valid = VIEWER_FIELDS if name == VIEWERS else FIELDS
        unknown = used - valid
        if unknown:
            raise ConfigError(f"{path}: unknown field {sorted(unknown)[0]!r} (valid: {', '.join(sorted(valid))})")
        templates[name] = text
    return templates


def mm_ss(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"
