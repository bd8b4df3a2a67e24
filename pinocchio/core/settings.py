"""One settings object for the whole system. Precedence: CLI flag > PINOCCHIO_* environment
variable > default. Nothing reads the environment anywhere else; `Settings()` is the defaults
alone, `Settings.from_env()` the defaults with the environment applied.

Each field says its variable and what it does (`field.metadata`); `settings_table()` renders them
for the README, and a test keeps the two in step. Run `python -m pinocchio.core.settings` to print
the table."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pinocchio.core.errors import ConfigError


def package_data(*parts: str) -> Path:
    """A file or folder shipped inside the package (`pinocchio/data/...`), in a wheel as in a checkout."""
    return Path(str(resources.files("pinocchio").joinpath("data", *parts)))


def checkout_path(*parts: str) -> Path:
    """A path in the source checkout this package runs from (the training corpus, the demo
    recording): they are not in the wheel, so an installed package finds nothing there."""
    return Path(__file__).resolve().parents[2].joinpath(*parts)


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _flag(text: str) -> bool:
    return text.strip().lower() not in ("0", "", "false", "no", "off")


def _keys(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def _setting(default: Any = None, *, env: str, help: str, parse: Callable[[str], Any] = str,
             shown: str | None = None, factory: Callable[[], Any] | None = None):
    metadata = {"env": env, "help": help, "parse": parse, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    xdg = (environ or {}).get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "pinocchio"


@dataclass(frozen=True)
class Settings:
    # -- storage
    db_url: str = _setting("sqlite:///pinocchio.db", env="PINOCCHIO_DB",
                           help="Database URL or SQLite path (`--db`).")
    evidence_dir: Path | None = _setting(env="PINOCCHIO_EVIDENCE", parse=_path, shown="`evidence/` beside the SQLite file",
                                         help="Folder for evidence clips (`--evidence`).")
    cache_dir: Path = _setting(env="PINOCCHIO_CACHE_DIR", parse=_path, factory=default_cache_dir,
                               shown="`$XDG_CACHE_HOME/pinocchio` or `~/.cache/pinocchio`",
                               help="Assembled whisper models, the trimmed jieba dictionary, the demo database.")
    # -- listening
    model: str = _setting("base", env="PINOCCHIO_MODEL", help="Whisper model: a name or a faster-whisper directory (`--model`).")
    device: str = _setting("cpu", env="PINOCCHIO_DEVICE", help="Where whisper runs: `cpu`, `cuda` or `auto` (`--device`).")
    compute_type: str = _setting("", env="PINOCCHIO_COMPUTE_TYPE", shown="int8 on a CPU, float16 on CUDA",
                                 help="CTranslate2 compute type of whisper (`--compute-type`).")
    cpu_threads: int = _setting(env="PINOCCHIO_CPU_THREADS", parse=int, factory=lambda: os.cpu_count() or 2,
                                shown="the machine's cores", help="Threads for whisper and the classifier on a CPU.")
    encoder_margin_s: float | None = _setting(env="PINOCCHIO_ENCODER_MARGIN_S", parse=float, shown="off (the full 30 s)",
                                              help="Encode a window only up to its audio's end and this many seconds more: 3 held 6 live feeds against 5, for 0.02 more CER packed.")
    asr_prompt: bool = _setting(False, env="PINOCCHIO_ASR_PROMPT", parse=_flag,
                                help="Give whisper the initial prompt of the prompts folder (`--asr-prompt`); off: it hurt.")
    classifier: str = _setting("", env="PINOCCHIO_CLASSIFIER", shown="the shipped model",
                               help="Claim-classifier directory, or `none` for the lexicons alone (`--classifier`).")
    lexicon_dir: Path = _setting(env="PINOCCHIO_LEXICONS", parse=_path, factory=lambda: package_data("lexicons"),
                                 shown="the packaged `pinocchio/data/lexicons`", help="Lexicon directory (`--lexicons`).")
    disguises_path: Path | None = _setting(env="PINOCCHIO_DISGUISES", parse=_path,
                                           factory=lambda: package_data("disguises.yaml"),
                                           shown="the packaged `pinocchio/data/disguises.yaml`",
                                           help="Disguised spellings resolved before the lexicons read a sentence.")
    prompts_dir: Path = _setting(env="PINOCCHIO_PROMPTS", parse=_path, factory=lambda: package_data("prompts"),
                                 shown="the packaged `pinocchio/data/prompts`",
                                 help="ASR prompt, hallucination list and reminder templates.")
    # -- live
    live_pause_s: float = _setting(0.3, env="PINOCCHIO_LIVE_PAUSE_S", parse=float,
                                   help="A pause this long ends a live utterance (`live --pause`).")
    live_max_utterance_s: float = _setting(6.0, env="PINOCCHIO_LIVE_MAX_UTTERANCE_S", parse=float,
                                           help="Talk without such a pause is committed at this length (`live --max-utterance`).")
    live_commit: str = _setting("pause", env="PINOCCHIO_LIVE_COMMIT",
                                help="Live commit policy: `pause` or `agreement` (`live --commit`).")
    live_beam: int = _setting(5, env="PINOCCHIO_LIVE_BEAM", parse=int,
                              help="Whisper's beam on the live path; 1 (greedy) holds more feeds and mishears more.")
    live_pack: bool = _setting(True, env="PINOCCHIO_LIVE_PACK", parse=_flag,
                               help="Decode several feeds' utterances in one whisper call (`live --no-pack`: one each).")
    live_batch: bool = _setting(True, env="PINOCCHIO_LIVE_BATCH", parse=_flag,
                                help="Decode the utterances taken together as a batch; off (`live --no-batch`): laid out in one 30 s pack, fewer feeds held.")
    live_hear_again: bool = _setting(True, env="PINOCCHIO_LIVE_HEAR_AGAIN", parse=_flag,
                                     help="Judge whisper's second hearing of each utterance's context too, for the claims its first hearing missed (`live --no-hear-again`: off).")
    live_pack_wait_s: float = _setting(1.0, env="PINOCCHIO_LIVE_PACK_WAIT_S", parse=float,
                                       help="How long a waiting utterance may wait for other feeds' to share its decode.")
    remind_window_s: float = _setting(120.0, env="PINOCCHIO_REMIND_WINDOW_S", parse=float,
                                      help="A label repeated in a stream within this many seconds is reminded once.")
    remind_webhook: str | None = _setting(env="PINOCCHIO_REMIND_WEBHOOK",
                                          help="The console's server POSTs viewers' reminders here (signed with the webhook secret).")
    viewer_remind_weight: float = _setting(1.5, env="PINOCCHIO_VIEWER_REMIND_WEIGHT", parse=float,
                                           help="Reports of one label on a live stream remind its streamer once their credibility adds up to this.")
    viewer_remind_window_s: float = _setting(60.0, env="PINOCCHIO_VIEWER_REMIND_WINDOW_S", parse=float,
                                             help="How far back in the stream (seconds) those reports count.")
    webhook_secret: str | None = _setting(env="PINOCCHIO_WEBHOOK_SECRET",
                                          help="HMAC key that signs webhook deliveries (`live --webhook-secret`).")
    # -- moderation
    ladder_path: Path = _setting(env="PINOCCHIO_LADDER", parse=_path, factory=lambda: package_data("ladder.yaml"),
                                 shown="the packaged `pinocchio/data/ladder.yaml`", help="The penalty ladder.")
    deadlines_path: Path = _setting(env="PINOCCHIO_DEADLINES", parse=_path, factory=lambda: package_data("deadlines.yaml"),
                                    shown="the packaged `pinocchio/data/deadlines.yaml`",
                                    help="When cases are due, by severity and whether the stream is live.")
    deadline_sweep_s: float = _setting(60.0, env="PINOCCHIO_DEADLINE_SWEEP_S", parse=float,
                                       help="How often the console's server escalates overdue serious cases (0: never; `cases sweep`).")
    clip_retention_days: int = _setting(1096, env="PINOCCHIO_CLIP_RETENTION_DAYS", parse=int,
                                        help="`evidence purge` deletes clips older than this (at least 1095: three years of records).")
    notice_webhook: str | None = _setting(env="PINOCCHIO_NOTICE_WEBHOOK",
                                          help="Penalty notices to streamers are POSTed here, signed with the webhook secret.")
    console_url: str = _setting("http://127.0.0.1:8000", env="PINOCCHIO_CONSOLE_URL",
                                help="The console's address as the platform reaches it: the clip links in notices.")
    qa_share: float = _setting(0.1, env="PINOCCHIO_QA_SHARE", parse=float,
                               help="The share of decided cases that go back, blind, to a second reviewer.")
    reviewer: str | None = _setting(env="PINOCCHIO_REVIEWER", help="The reviewer acting in moderation commands (`--as`).")
    # -- console and API
    secret_key: str | None = _setting(env="PINOCCHIO_SECRET_KEY", shown="a random key kept in `DB.secret`",
                                      help="Key that signs the console's session cookies.")
    api_keys: tuple[str, ...] = _setting((), env="PINOCCHIO_API_KEYS", parse=_keys, shown="none: the API refuses every call",
                                         help="Comma-separated keys for the HTTP API.")
    https: bool = _setting(False, env="PINOCCHIO_HTTPS", parse=_flag, help="Mark session cookies Secure (behind HTTPS).")
    session_hours: float = _setting(12.0, env="PINOCCHIO_SESSION_HOURS", parse=float,
                                    help="A console login lasts this long (one working day).")
    anchor_key: str | None = _setting(env="PINOCCHIO_ANCHOR_KEY",
                                      help="Key that signs `audit anchor` heads (keep it away from the database).")
    intake_group: int = _setting(500, env="PINOCCHIO_INTAKE_GROUP", parse=int,
                                 help="At most this many API reports are written in one transaction.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The defaults with every PINOCCHIO_* variable that is set applied; a bad value fails
        naming the variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {"cache_dir": default_cache_dir(environ)}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or (raw == "" and f.metadata["parse"] is not _flag):
                continue
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError:
                raise ConfigError(f"{f.metadata['env']}={raw!r}: not a valid value") from None
        return cls(**values)

    def evidence_path(self) -> Path:
        """Where clips go: the configured folder, else beside a SQLite file, else ./evidence."""
        if self.evidence_dir:
            return self.evidence_dir
        url = self.db_url if "://" in self.db_url else f"sqlite:///{self.db_url}"
        if url.startswith("sqlite:///") and ":memory:" not in url:
            return Path(url.removeprefix("sqlite:///")).expanduser().resolve().parent / "evidence"
        return Path("evidence").resolve()

    def with_overrides(self, **overrides: object) -> "Settings":
        """Apply CLI flags that were given (None means 'not given')."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def settings_table() -> str:
    """The README's table of settings, one row per field."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    defaults = Settings()
    for f in fields(Settings):
        shown = f.metadata["shown"]
        if shown is None:
            value = getattr(defaults, f.name)
            shown = ("on" if value else "off") if isinstance(value, bool) else \
                "none" if value in (None, "", ()) else f"`{value}`"
        rows.append(f"| `{f.metadata['env']}` | {shown} | {f.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
