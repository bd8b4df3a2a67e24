"""The few errors Pinocchio raises; each message is one line naming the place."""


class PinocchioError(Exception):
    """Base class: the CLI prints these as one line, never as a traceback."""


class AudioError(PinocchioError):
    """An input that cannot be decoded as audio (missing, empty, corrupt, no audio stream)."""


class ModelError(PinocchioError):
    """A model that cannot be found or assembled; the message says what to install."""


class LexiconError(PinocchioError):
    """A broken lexicon file; the message names file:line."""


class CorpusError(PinocchioError):
    """A broken seed corpus (seeds/corpus.jsonl); the message names file:line."""


class ConfigError(PinocchioError):
    """A bad setting (unknown format, bad database URL...)."""
