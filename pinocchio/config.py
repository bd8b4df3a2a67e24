"""One settings object. Precedence: CLI flag > PINOCCHIO_* environment variable > default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path | None) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return _env_path("PINOCCHIO_CACHE_DIR", base / "pinocchio")


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default_factory=lambda: os.environ.get("PINOCCHIO_DB", "sqlite:///pinocchio.db"))
    model: str = field(default_factory=lambda: os.environ.get("PINOCCHIO_MODEL", "base"))
    cache_dir: Path = field(default_factory=default_cache_dir)
    lexicon_dir: Path = field(default_factory=lambda: _env_path("PINOCCHIO_LEXICONS", REPO_ROOT / "lexicons"))
    prompts_dir: Path = field(default_factory=lambda: _env_path("PINOCCHIO_PROMPTS", REPO_ROOT / "prompts"))
    # The claim classifier's directory; "" is the model shipped in the package, "none" the lexicon alone.
    classifier: str = field(default_factory=lambda: os.environ.get("PINOCCHIO_CLASSIFIER", ""))
    # A claim of one label repeated in a stream within this many seconds is reminded once.
    remind_window_s: float = field(default_factory=lambda: float(os.environ.get("PINOCCHIO_REMIND_WINDOW_S", "120")))
    # Whisper's initial prompt from prompts/ (off by default: see AsrOptions.initial_prompt).
    asr_prompt: bool = field(default_factory=lambda: os.environ.get("PINOCCHIO_ASR_PROMPT", "0") not in ("0", "", "false"))
    # Evidence clips; None: a folder "evidence" beside the SQLite file (see evidence_dir_for).
    evidence_dir: Path | None = field(default_factory=lambda: _env_path("PINOCCHIO_EVIDENCE", None))
    cpu_threads: int = field(default_factory=lambda: int(os.environ.get("PINOCCHIO_CPU_THREADS", os.cpu_count() or 2)))

    def with_overrides(self, **overrides: object) -> "Settings":
        """Apply CLI flags that were given (None means 'not given')."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})
