"""The errors Pinocchio raises; each message is one line naming the place (file:line, stream at
time, field) and, where there is a choice, the valid choices.

The CLI prints them as `error: ...`, never as a traceback; the web layer maps the moderation ones to
HTTP answers by class: `InputError` 422, `NotFound` 404, `Conflict` 409, `Forbidden` 403,
`RateLimited` 429."""


class PinocchioError(Exception):
    """Base class of every error meant for the user."""


class AudioError(PinocchioError):
    """An input that cannot be decoded as audio (missing, empty, corrupt, no audio stream)."""


class ModelError(PinocchioError):
    """A model that cannot be found or assembled; the message says what to install."""


class LexiconError(PinocchioError):
    """A broken lexicon file; the message names file:line."""


class CorpusError(PinocchioError):
    """A broken seed corpus; the message names file:line."""


class ConfigError(PinocchioError):
    """A bad setting (unknown format, bad database URL, a broken data file...)."""


class LadderError(ConfigError):
    """A broken penalty ladder file; the message names file:line."""


class InputError(PinocchioError):
    """A request or a file row that cannot be taken as it is (bad label, bad time, unknown stream)."""


class NotFound(PinocchioError):
    """A case, penalty, appeal, stream or reviewer that does not exist."""


class Conflict(PinocchioError):
    """The state does not allow it now: the case is claimed by someone else, already decided..."""


class Forbidden(PinocchioError):
    """The reviewer's role does not allow it (a plain reviewer resolving an appeal...)."""


class RateLimited(InputError):
    """A reporter sent more reports than the limit allows in the window."""


class Unavailable(PinocchioError):
    """The database, or the report writer, cannot answer now: try again shortly (503)."""
