"""The keys that sign participants' links, kept outside the database.

Anyone who can read a link-signing key can forge check-in and response links, so the keys
live in the issuer key file (``tandem-keys.json``, mode 0600, ``--keys`` / ``TANDEM_KEYS``,
see :mod:`tandem.program.certify.issuer_keys`), in a section of their own::

    "link_keys": {"active_kid": "3f9a01c2", "moved": {},
                  "keys": [{"kid", "secret", "created_at", "retired_at"}]}

New links are signed with the *active* key and carry its id (``kid``, 4 bytes); older keys
are kept, retired, to verify the links they signed until those expire, so rotating
(:func:`rotate_link_keys`) breaks no link already sent. Each cohort signs with its own key
derived from the ring's (HMAC-SHA256 over the cohort's number), so a link verifies only
for its own cohort.

Cohorts made by earlier versions kept a secret in the database (``Cohort.secret``); links
signed with it (token version 1, no key id) still verify with it, and such a cohort's new
links are signed with the ring once there is one. :func:`move_link_secrets` moves those
secrets into the key file's ``moved`` map; the cohort then keeps only a reference
(``key-file:`` and a digest of the secret, which reveals nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import Engine

from tandem.program.errors import ProgramError
from tandem.program.storage.tables import Cohort
from tandem.program.tokens import SECRET_BYTES, LinkSecrets

SECTION = "link_keys"
KID_BYTES = 4
DEFAULT_KEEP = timedelta(days=120)
"""How long a retired key still verifies links: longer than any link lives."""


class LinkKeyError(ProgramError):
    """The link-signing keys cannot be read, written or used."""


class LinkKey(BaseModel):
    """One link-signing key: a random 256-bit secret and its 4-byte id (8 hex digits)."""

    model_config = ConfigDict(frozen=True)

    kid: str = Field(pattern=r"^[0-9a-f]{8}$")
    secret: SecretStr
    created_at: datetime
    retired_at: datetime | None = None

    @field_validator("secret")
    @classmethod
    def _hex(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if len(text) != 2 * SECRET_BYTES or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(f"a link key's secret is {2 * SECRET_BYTES} lower-case hex digits")
        return value


class LinkKeyRing(BaseModel):
    """The active link-signing key and the retired ones that still verify."""

    model_config = ConfigDict(frozen=True)

    active_kid: str
    keys: tuple[LinkKey, ...] = Field(min_length=1)
    moved: dict[str, SecretStr] = Field(default_factory=dict)
    """Secrets that cohorts of earlier versions kept in the database, moved here by
    :func:`move_link_secrets` (by the reference the cohort now holds): they verify the
    links signed before."""

    @property
    def active(self) -> LinkKey:
        """The key that signs new links."""
        for key in self.keys:
            if key.kid == self.active_kid:
                return key
        raise LinkKeyError(f"the link keys name active key {self.active_kid!r} but lack it")

    def for_cohort(self, cohort_pk: int) -> dict[bytes, bytes]:
        """Each key's id (bytes) and the cohort's secret derived from it."""
        return {bytes.fromhex(key.kid): _derive(key, cohort_pk) for key in self.keys}


def _derive(key: LinkKey, cohort_pk: int) -> bytes:
    master = bytes.fromhex(key.secret.get_secret_value())
    return hmac.digest(master, f"tandem-link-key/cohort/{cohort_pk}".encode(), "sha256")


def link_secrets(ring: LinkKeyRing | None, cohort: Cohort) -> LinkSecrets:
    """What signs and verifies ``cohort``'s links: its keys from ``ring`` and, for a cohort
    made by an earlier version, the secret it kept in the database (links signed before).

    A cohort with neither cannot sign a link (:func:`~tandem.program.tokens.make_token`
    raises then).
    """
    legacy = _legacy(ring, cohort.secret)
    if ring is None:
        return LinkSecrets(signing=None, by_kid={}, legacy=legacy)
    by_kid = ring.for_cohort(cohort.pk or 0)
    active = bytes.fromhex(ring.active_kid)
    return LinkSecrets(signing=(active, by_kid[active]), by_kid=by_kid, legacy=legacy)


MOVED_PREFIX = "key-file:"
"""How a cohort whose secret was moved to the key file refers to it (no secret)."""


def _legacy(ring: LinkKeyRing | None, stored: str) -> bytes | None:
    if not stored:
        return None
    if stored.startswith(MOVED_PREFIX):
        moved = ring.moved.get(stored.removeprefix(MOVED_PREFIX)) if ring else None
        return bytes.fromhex(moved.get_secret_value()) if moved else None
    return bytes.fromhex(stored)


def new_link_key(now: datetime) -> LinkKey:
    """A fresh random key created at ``now``."""
    return LinkKey(
        kid=secrets.token_hex(KID_BYTES),
        secret=SecretStr(secrets.token_hex(SECRET_BYTES)),
        created_at=now,
    )


def _document(path: Path) -> dict[str, Any]:
    from tandem.program.certify.issuer_keys import read_private_json

    try:
        document = read_private_json(
            path,
            LinkKeyError,
            missing=(
                f"no key file at {path}: create one with `tandem keys init --keys {path}`, or "
                "point --keys / TANDEM_KEYS at the existing file"
            ),
            secret="its keys",
        )
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise LinkKeyError(
            f"{path} is not a Tandem key file: restore it from your backup or create a new "
            "one with `tandem keys init`"
        )
    return document


def load_link_keys(path: Path) -> LinkKeyRing | None:
    """The link keys in the key file at ``path``; None if the file has none yet.

    Raises:
        LinkKeyError: the file is missing, readable by others, or damaged.
    """
    section = _document(path).get(SECTION)
    if section is None:
        return None
    try:
        ring = LinkKeyRing.model_validate(section)
        _ = ring.active
    except (ValueError, TypeError) as error:
        raise LinkKeyError(
            f"the link keys in {path} are damaged ({error.__class__.__name__}): restore the "
            "file from your backup"
        ) from None
    return ring


def rotate_link_keys(path: Path, *, now: datetime, keep: timedelta = DEFAULT_KEEP) -> LinkKeyRing:
    """Add a new active link key to the key file at ``path`` (the first one, if none).

    The previous keys stay, retired, so links they signed still verify; a key retired more
    than ``keep`` ago is dropped (every link it signed has expired). The file is replaced
    atomically and keeps mode 0600.

    Raises:
        LinkKeyError: as :func:`load_link_keys`.
    """
    from tandem.program.certify.issuer_keys import replace_file

    document = _document(path)
    old = load_link_keys(path)
    kept: list[LinkKey] = []
    for key in old.keys if old else ():
        retired = key.retired_at or now
        if now - retired <= keep:
            kept.append(key.model_copy(update={"retired_at": retired}))
    key = new_link_key(now)
    while any(k.kid == key.kid for k in kept):  # pragma: no cover - 1 in 4 billion
        key = new_link_key(now)
    ring = LinkKeyRing(active_kid=key.kid, keys=(key, *kept), moved=old.moved if old else {})
    document[SECTION] = serialise(ring)
    replace_file(path, json.dumps(document, indent=2) + "\n")
    return ring


def serialise(ring: LinkKeyRing) -> dict[str, Any]:
    """The key file's section for ``ring`` (secrets included: for the key file only)."""
    return {
        "active_kid": ring.active_kid,
        "moved": {ref: secret.get_secret_value() for ref, secret in sorted(ring.moved.items())},
        "keys": [
            {
                "kid": key.kid,
                "secret": key.secret.get_secret_value(),
                "created_at": key.created_at.isoformat(),
                "retired_at": None if key.retired_at is None else key.retired_at.isoformat(),
            }
            for key in ring.keys
        ],
    }


def read_link_keys(path: Path) -> LinkKeyRing | None:
    """The link keys of the key file at ``path``, or None when there is no such file
    (a deployment of an earlier version, whose cohorts kept their secret in the database).

    Raises:
        LinkKeyError: the file is readable by others or damaged.
    """
    if not path.exists() and not path.is_symlink():
        return None
    return load_link_keys(path)


def require_link_keys(cohorts: list[Cohort], ring: LinkKeyRing | None) -> None:
    """Check that every cohort in ``cohorts`` can sign its links.

    Raises:
        LinkKeyError: a cohort has no secret of its own and there are no link keys.
    """
    if ring is not None:
        return
    unsigned = sorted(c.name for c in cohorts if not c.secret or c.secret.startswith(MOVED_PREFIX))
    if unsigned:
        raise LinkKeyError(
            f"no key to sign the links of {', '.join(repr(n) for n in unsigned)}: create the "
            "key file with `tandem keys init` (or add link keys to an existing one with "
            "`tandem keys rotate-links`) and give it with --keys or TANDEM_KEYS"
        )


class LinkKeyFile:
    """The link keys of a key file, read again whenever the file changes (a rotation), for
    a long-running process such as ``tandem serve``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._ring: LinkKeyRing | None = None
        self._lock = threading.Lock()
        self.current()  # fail at start on a damaged or exposed file

    def current(self) -> LinkKeyRing | None:
        """The keys as the file holds them now (None without a file).

        Raises:
            LinkKeyError: as :func:`read_link_keys`.
        """
        try:
            info = self.path.stat()
            seen: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            seen = None
        with self._lock:
            if seen != self._seen or (seen is None and self._ring is not None):
                self._ring = read_link_keys(self.path)
                self._seen = seen
            return self._ring


def move_link_secrets(engine: Engine, path: Path) -> int:
    """Move the link secrets that cohorts of earlier versions kept in the database into the
    key file at ``path``; returns how many were moved (0 when none is left: safe to repeat).

    The key file is written first (atomically), then each cohort keeps only a reference
    (``key-file:`` and a digest of the secret), so a crash in between leaves both copies
    and the next run finishes the move. The links signed with a moved secret keep
    verifying with the key file. The key file must hold link keys already.

    Raises:
        LinkKeyError: as :func:`load_link_keys`, or the file has no link keys yet.
    """
    from sqlmodel import Session, col, select

    from tandem.program.certify.issuer_keys import replace_file
    from tandem.program.storage.db import transaction
    from tandem.program.storage.statements import quiet_update

    ring = load_link_keys(path)
    if ring is None:
        raise LinkKeyError(
            f"{path} has no link keys yet: add them with `tandem keys rotate-links --keys "
            f"{path}`, then move the secrets"
        )
    with Session(engine) as session:
        stored = [
            (pk, secret)
            for pk, secret in session.exec(select(Cohort.pk, Cohort.secret)).all()
            if secret and not secret.startswith(MOVED_PREFIX)
        ]
    if not stored:
        return 0
    refs = {pk: hashlib.sha256(bytes.fromhex(secret)).hexdigest()[:16] for pk, secret in stored}
    moved = dict(ring.moved)
    moved.update({refs[pk]: SecretStr(secret) for pk, secret in stored})
    document = _document(path)
    document[SECTION] = serialise(ring.model_copy(update={"moved": moved}))
    replace_file(path, json.dumps(document, indent=2) + "\n")
    with transaction(engine) as session:
        for pk, secret in stored:
            session.execute(
                quiet_update(Cohort)
                .where(col(Cohort.pk) == pk, col(Cohort.secret) == secret)
                .values(secret=MOVED_PREFIX + refs[pk])
            )
    return len(stored)
