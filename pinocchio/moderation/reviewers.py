"""Reviewer accounts: names, roles, scrypt-hashed passwords, the role checks every moderation
function makes, and the console's sessions and login throttle. Roles climb: reviewer < senior <
admin; each may do what the ones below may.

A session names the account's id and the `session_epoch` it began in; logging out, a new password
and a deactivation move the epoch on, which ends every session of that account. Wrong passwords
slow further logins of that account and of that client, then lock them for a while
(`ThrottleOptions`); the throttle is read before the password, so a locked account cannot be probed."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, select

from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import Conflict, Forbidden, InputError, NotFound
from pinocchio.core.text import checked_name
from pinocchio.store.projections import ROLES, LoginFailure, Reviewer

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # about 16 MiB and 50 ms per check
MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class ReviewerInfo:
    name: str
    role: str
    active: bool
    id: int | None = None
    session_epoch: int = 0


@dataclass(frozen=True)
class ThrottleOptions:
    window_minutes: float = 15.0  # failures this recent count
    free_failures: int = 3  # then each further failure doubles the wait: 1 s, 2 s, 4 s ... up to max_delay_s
    max_delay_s: float = 60.0
    lock_after: int = 10  # this many failures in the window lock the account (or the client)
    lock_minutes: float = 15.0


def _info(row: Reviewer) -> ReviewerInfo:
    return ReviewerInfo(name=row.name, role=row.role, active=row.active, id=row.id, session_epoch=row.session_epoch)


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` with a random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def add_reviewer(session: Session, *, name: str, role: str, password: str, by: str | None = None) -> ReviewerInfo:
    """Add an account. `by`: the admin doing it (the web console passes the logged-in reviewer);
    None for the command line, whose user already holds the database."""
    if by is not None:
        require_role(session, by, "admin", "adding reviewers")
    name = checked_name(name, "reviewer name", limit=64)
    if any(c.isspace() for c in name) or ":" in name:
        raise InputError(f"reviewer name {name!r}: one word, without ':'")
    if role not in ROLES:
        raise InputError(f"role '{role}' is not one of: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    if session.exec(select(Reviewer).where(Reviewer.name == name)).first() is not None:
        raise Conflict(f"reviewer '{name}' exists already")
    session.add(Reviewer(name=name, role=role, password_hash=hash_password(password)))
    session.flush()
    log.info("reviewer %s added as %s", name, role)
    return _info(session.exec(select(Reviewer).where(Reviewer.name == name)).one())


def verify_reviewer(session: Session, *, name: str, password: str) -> ReviewerInfo | None:
    """The reviewer if the password is theirs and the account active, else None (for a login form)."""
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first()
    if row is None:
        hash_password(password)  # spend the same time, so a wrong name does not answer faster
        return None
    if not row.active or not password_matches(password, row.password_hash):
        return None
    return _info(row)


def list_reviewers(session: Session) -> list[ReviewerInfo]:
    return [_info(r) for r in session.exec(select(Reviewer).order_by(Reviewer.name))]


def _account(session: Session, name: str, by: str | None, doing: str) -> Reviewer:
    if by is not None and by != name:
        require_role(session, by, "admin", doing)
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first()
    if row is None:
        raise NotFound(f"no reviewer '{name}'")
    return row


def end_sessions(session: Session, *, name: str) -> None:
    """Every console session of the account ends at its next request."""
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first()
    if row is not None:
        row.session_epoch += 1
        session.add(row)
        session.flush()


def change_password(session: Session, *, name: str, password: str, by: str | None = None) -> ReviewerInfo:
    """A new password (by the reviewer or an admin; None: the command line); every session ends."""
    row = _account(session, name, by, "changing another reviewer's password")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    row.password_hash = hash_password(password)
    row.session_epoch += 1
    session.add(row)
    session.flush()
    log.warning("password of reviewer %s changed%s", name, f" by {by}" if by else "")
    return _info(row)


def set_active(session: Session, *, name: str, active: bool, by: str | None = None) -> ReviewerInfo:
    """Deactivate (every session ends, no login) or reactivate an account."""
    row = _account(session, name, by, "deactivating reviewers")
    row.active = active
    row.session_epoch += 1
    session.add(row)
    session.flush()
    log.warning("reviewer %s %s%s", name, "reactivated" if active else "deactivated", f" by {by}" if by else "")
    return _info(row)


def session_reviewer(session: Session, reviewer_id: object, epoch: object) -> ReviewerInfo | None:
    """The active reviewer a console session belongs to, if that session has not been ended."""
    if not isinstance(reviewer_id, int) or not isinstance(epoch, int) or isinstance(reviewer_id, bool):
        return None
    row = session.get(Reviewer, reviewer_id)
    if row is None or not row.active or row.session_epoch != epoch:
        return None
    return _info(row)


def login_wait(session: Session, *, name: str, client: str, now: datetime | None = None,
               options: ThrottleOptions = ThrottleOptions()) -> float:
    """Seconds before the account, or the client, may try a password again (0: now)."""
    now = aware(now or utcnow())
    since = now - timedelta(minutes=options.window_minutes)
    wait = 0.0
    for column, value in ((LoginFailure.name, name[:200]), (LoginFailure.client, client)):
        count, last = session.exec(select(func.count(), func.max(LoginFailure.at))
                                   .where(column == value, LoginFailure.at > since)).one()
        if not count:
            continue
        last = aware(last)
        if count >= options.lock_after:
            until = last + timedelta(minutes=options.lock_minutes)
        elif count > options.free_failures:
            until = last + timedelta(seconds=min(options.max_delay_s, 2.0 ** (count - options.free_failures - 1)))
        else:
            continue
        wait = max(wait, (until - now).total_seconds())
    return max(0.0, wait)


def login_failed(session: Session, *, name: str, client: str, now: datetime | None = None,
                 options: ThrottleOptions = ThrottleOptions()) -> None:
    now = aware(now or utcnow())
    session.add(LoginFailure(name=name[:200], client=client, at=now))
    session.exec(delete(LoginFailure).where(LoginFailure.at < now - timedelta(minutes=options.window_minutes * 4)))
    session.flush()
    log.warning("failed login for %r from %s", name[:100], client)


def login_succeeded(session: Session, *, name: str, client: str) -> None:
    # Only this account from this client: an attacker's own good login must not wipe what their
    # failures against another account have counted.
    session.exec(delete(LoginFailure).where(LoginFailure.name == name[:200], LoginFailure.client == client))
    session.flush()


def require_role(session: Session, name: str, role: str, doing: str) -> ReviewerInfo:
    """The active reviewer `name`, if their role is `role` or above; else `Forbidden`."""
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first()
    if row is None:
        raise NotFound(f"no reviewer '{name}' (add one: pinocchio reviewers add NAME --role ROLE)")
    if not row.active:
        raise Forbidden(f"reviewer '{name}' is deactivated")
    if ROLES.index(row.role) < ROLES.index(role):
        raise Forbidden(f"{doing} needs the role {role} or above; '{name}' is a {row.role}")
    return _info(row)


def at_least(info: ReviewerInfo, role: str) -> bool:
    return ROLES.index(info.role) >= ROLES.index(role)
