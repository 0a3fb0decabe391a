"""Coordinators who sign in to the web console: accounts, sign-in and sessions.

Passwords are stored only as Argon2 hashes. A session is a random token held by the
browser; the database keeps its SHA-256 hash and expiry, so any web process can check it
and a stolen database does not hold usable sessions. Failed sign-ins are counted per
sign-in name in the shared counters (:mod:`tandem.program.web_state`); past the limit,
sign-in is refused for the rest of the window even with the right password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from tandem.program import contact
from tandem.program.errors import ProgramError
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import AuditEntry, Coordinator, WebSession
from tandem.program.web_state import count_hit, hits

MIN_PASSWORD = 12
SESSION_HOURS = 8
SIGN_IN_FAILURES = 5
"""Failed sign-ins allowed per sign-in name per :data:`SIGN_IN_WINDOW`."""
SIGN_IN_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()


class CoordinatorError(ProgramError):
    """A coordinator account cannot be created or used as asked."""


class SignInError(CoordinatorError):
    """Wrong e-mail or password (deliberately not saying which)."""


class SignInLimitError(CoordinatorError):
    """Too many failed sign-ins for this name: wait for the window to pass."""


@dataclass(frozen=True)
class CoordinatorInfo:
    pk: int
    email: str
    name: str


def _email_key(email: str) -> str:
    key = email.strip().lower()
    if "@" not in key or key.startswith("@") or key.endswith("@"):
        raise CoordinatorError(f"{email!r} is not an e-mail address: give one like ada@uni.edu")
    try:  # the rules of every address Tandem keeps (contact.py); signing in looks up `key`
        contact.email_address(key)
    except ValueError as error:
        raise CoordinatorError(f"the coordinator's e-mail: {error}") from None
    return key


def _name(name: str | None) -> str | None:
    if name is None:
        return None
    try:  # shown in the console and the audit log: the rules of every name (contact.py)
        return contact.person_name(name) or None
    except ValueError as error:
        raise CoordinatorError(f"--name: {error}") from None


def add_coordinator(
    engine: Engine, email: str, password: str, *, name: str | None = None, now: datetime
) -> str:
    """Create the coordinator ``email``, or set a new password (and name) for an existing one.

    Returns "added" or "updated". Raises CoordinatorError for a malformed e-mail or a
    password shorter than :data:`MIN_PASSWORD` characters.
    """
    key = _email_key(email)
    name = _name(name)
    if len(password) < MIN_PASSWORD:
        raise CoordinatorError(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD}"
        )
    hashed = _hasher.hash(password)
    with transaction(engine) as session:
        found = session.exec(select(Coordinator).where(Coordinator.email_key == key)).first()
        if found is None:
            session.add(
                Coordinator(
                    email_key=key,
                    name=name or key.split("@")[0],
                    password_hash=hashed,
                    created_at=now,
                )
            )
            outcome = "added"
        else:
            found.password_hash = hashed
            found.name = name or found.name
            found.disabled = False
            session.add(found)
            outcome = "updated"
        session.add(
            AuditEntry(
                at=now, actor="cli", action=f"coordinator.{outcome}", subject=key, details={}
            )
        )
    return outcome


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def sign_in(
    engine: Engine,
    email: str,
    password: str,
    *,
    now: datetime,
    hours: int = SESSION_HOURS,
    failures_allowed: int = SIGN_IN_FAILURES,
) -> tuple[str, CoordinatorInfo]:
    """Check the password and open a session; returns (session token, coordinator).

    Raises:
        SignInLimitError: ``failures_allowed`` failed sign-ins for this name already in
            this window (checked before the password, so guessing gains nothing).
        SignInError: unknown name, disabled account or wrong password.
    """
    key = email.strip().lower()
    counter = f"sign-in:{key}"
    if hits(engine, counter, now=now, window=SIGN_IN_WINDOW) >= failures_allowed:
        raise SignInLimitError(
            "too many failed sign-ins for this account: wait 15 minutes and try again"
        )
    with Session(engine) as session:
        found = session.exec(select(Coordinator).where(Coordinator.email_key == key)).first()
    ok = False
    if found is not None and not found.disabled:
        try:
            ok = _hasher.verify(found.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # the same work as a real check: timing says nothing
    if not ok or found is None or found.pk is None:
        count_hit(engine, counter, now=now, window=SIGN_IN_WINDOW)
        raise SignInError("wrong e-mail or password")
    token = secrets.token_urlsafe(32)
    with transaction(engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
        session.add(
            WebSession(
                token_hash=_token_hash(token),
                coordinator_pk=found.pk,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
        session.add(
            AuditEntry(at=now, actor=found.name, action="console.sign_in", subject=key, details={})
        )
    return token, CoordinatorInfo(found.pk, found.email_key, found.name)


def session_coordinator(engine: Engine, token: str, *, now: datetime) -> CoordinatorInfo | None:
    """The coordinator whose unexpired session ``token`` is, or None."""
    if not token:
        return None
    with Session(engine) as session:
        row = session.exec(
            select(WebSession, Coordinator)
            .join(Coordinator, col(Coordinator.pk) == col(WebSession.coordinator_pk))
            .where(WebSession.token_hash == _token_hash(token))
        ).first()
    if row is None:
        return None
    web_session, coordinator = row
    if web_session.expires_at <= now or coordinator.disabled or coordinator.pk is None:
        return None
    return CoordinatorInfo(coordinator.pk, coordinator.email_key, coordinator.name)


def sign_out(engine: Engine, token: str, *, now: datetime) -> None:
    """End the session ``token`` (nothing happens for an unknown one)."""
    with transaction(engine) as session:
        found = session.exec(
            select(WebSession).where(WebSession.token_hash == _token_hash(token))
        ).first()
        if found is not None:
            coordinator = session.get(Coordinator, found.coordinator_pk)
            session.delete(found)
            if coordinator is not None:
                session.add(
                    AuditEntry(
                        at=now,
                        actor=coordinator.name,
                        action="console.sign_out",
                        subject=coordinator.email_key,
                        details={},
                    )
                )
