"""Errors of the human side of moderation (reports, cases, penalties, appeals, audit).

They subclass `PinocchioError`, so the CLI prints them as one line; a web console maps them to
HTTP answers by class: `InputError` 422, `NotFound` 404, `Conflict` 409, `Forbidden` 403,
`RateLimited` 429."""

from pinocchio.errors import ConfigError, PinocchioError


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


class LadderError(ConfigError):
    """A broken penalty ladder file; the message names file:line."""
