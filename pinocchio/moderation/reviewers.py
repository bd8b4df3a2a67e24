"""Reviewer accounts: names, roles, scrypt-hashed passwords, and the role checks every moderation
function makes. Roles climb: reviewer < senior < admin; each may do what the ones below may."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from pinocchio.core.errors import Conflict, Forbidden, InputError, NotFound
from pinocchio.store.projections import ROLES, Reviewer

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # about 16 MiB and 50 ms per check
MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class ReviewerInfo:
    name: str
    role: str
    active: bool


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
    name = name.strip()
    if not name or any(c.isspace() for c in name) or ":" in name:
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
    return ReviewerInfo(name=name, role=role, active=True)


def verify_reviewer(session: Session, *, name: str, password: str) -> ReviewerInfo | None:
    """The reviewer if the password is theirs and the account active, else None (for a login form)."""
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first()
    if row is None:
        hash_password(password)  # spend the same time, so a wrong name does not answer faster
        return None
    if not row.active or not password_matches(password, row.password_hash):
        return None
    return ReviewerInfo(name=row.name, role=row.role, active=row.active)


def list_reviewers(session: Session) -> list[ReviewerInfo]:
    return [ReviewerInfo(name=r.name, role=r.role, active=r.active)
            for r in session.exec(select(Reviewer).order_by(Reviewer.name))]


def require_role(session: Session, name: str, role: str, doing: str) -> ReviewerInfo:
    """The active reviewer `name`, if their role is `role` or above; else `Forbidden`."""
    row = session.exec(select(Reviewer).where(Reviewer.name == name)).first()
    if row is None:
        raise NotFound(f"no reviewer '{name}' (add one: pinocchio reviewers add NAME --role ROLE)")
    if not row.active:
        raise Forbidden(f"reviewer '{name}' is deactivated")
    if ROLES.index(row.role) < ROLES.index(role):
        raise Forbidden(f"{doing} needs the role {role} or above; '{name}' is a {row.role}")
    return ReviewerInfo(name=row.name, role=row.role, active=row.active)


def at_least(info: ReviewerInfo, role: str) -> bool:
    return ROLES.index(info.role) >= ROLES.index(role)
