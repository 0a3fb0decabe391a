"""Signed check-in tokens: the per-person, per-week link in every weekly message.

A token is 64 URL-safe base64 characters encoding 48 bytes. Version 2 names the key that
signed it, so keys can be rotated without breaking links already sent::

    version 2 (1) | pair id (8) | week (2) | role (1) | expires, POSIX seconds (8)
    | key id (4) | nonce (8) | HMAC-SHA256 tag, first 16 bytes (16)

Version 1 (made by earlier versions with the secret a cohort kept in the database) has no
key id and a 12-byte nonce; it still verifies with that secret.

The tag covers ``"tandem-checkin"`` and every byte before it, under the cohort's secret
key, so no claim can be changed without the key; the random nonce from :mod:`os.urandom`
makes every token unguessable even when its claims are known. The keys themselves live
outside the database (:mod:`tandem.program.link_keys`); :class:`LinkSecrets` holds a
cohort's. Verification compares tags
in constant time, then checks the expiry. A verified token says *who* may record *what*:
the page that records a check-in must record exactly the claims' pair, week and role
(:func:`verify_token_for` checks that for it), so a token for pair A, week 3 cannot record
for pair B or week 4.

Survey tokens (the per-person link to an evaluation survey) are a kind of their own, 68
characters encoding 51 bytes, with their own context (``"tandem-survey"``), so neither
kind of token can ever pass for the other::

    version (1) | cohort (4) | participant (8) | survey (1) | role (1)
    | expires, POSIX seconds (8) | key id (4) | nonce (8) | tag (16)

Version 1 is signed with the key its id names, version 2 with the secret a cohort of an
earlier version kept (the key id is then zero). The cohort is named in the clear so that
the page can pick the cohort's keys at once; like every other claim it is covered by the
tag. :func:`make_survey_token` and :func:`verify_survey_token` make and check them;
:mod:`tandem.program.survey_links` resolves them to a person's survey page.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from tandem.matcher.types import Role
from tandem.program.errors import ProgramError
from tandem.program.storage.enums import CheckinRole
from tandem.prompts.surveys import SurveyName

__all__ = [
    "CheckinRole",
    "ExpiredTokenError",
    "LinkSecrets",
    "MalformedTokenError",
    "MismatchedTokenError",
    "SurveyClaims",
    "TamperedTokenError",
    "TokenClaims",
    "TokenError",
    "TokenFailure",
    "checkin_url",
    "make_survey_token",
    "make_token",
    "new_secret",
    "survey_token_cohort",
    "verify_survey_token",
    "verify_token",
    "verify_token_for",
]

_VERSION = 1
_VERSION_KID = 2
_CONTEXT = b"tandem-checkin"
_LAYOUT = struct.Struct(">BQHBq12s")  # version, pair, week, role, expires, nonce
_LAYOUT_KID = struct.Struct(">BQHBq4s8s")  # version, pair, week, role, expires, kid, nonce
_TAG_BYTES = 16
_TOKEN_BYTES = _LAYOUT.size + _TAG_BYTES  # 48 -> 64 base64 characters, no padding
_TOKEN_CHARS = 64
_ALPHABET = re.compile(r"^[A-Za-z0-9_-]*$")
MIN_SECRET_BYTES = 16
SECRET_BYTES = 32


_ROLE_CODES = {CheckinRole.MENTOR: 1, CheckinRole.MENTEE: 2}
_ROLES_BY_CODE = {code: role for role, code in _ROLE_CODES.items()}


class TokenFailure(StrEnum):
    """Why a token was rejected."""

    MALFORMED = "malformed"
    TAMPERED = "tampered"
    EXPIRED = "expired"
    MISMATCH = "mismatch"


class TokenError(ProgramError):
    """A check-in token was rejected; ``reason`` says why."""

    reason: TokenFailure


class MalformedTokenError(TokenError):
    """Not a token at all: wrong length, characters or version."""

    reason = TokenFailure.MALFORMED


class TamperedTokenError(TokenError):
    """Well-formed, but not signed with this secret: altered, forged or from elsewhere."""

    reason = TokenFailure.TAMPERED


class ExpiredTokenError(TokenError):
    """Genuine, but past its expiry (``expires``, aware UTC)."""

    reason = TokenFailure.EXPIRED

    def __init__(self, message: str, *, expires: datetime) -> None:
        super().__init__(message)
        self.expires = expires


class MismatchedTokenError(TokenError):
    """Genuine, but for another pair, week or person than the one being recorded."""

    reason = TokenFailure.MISMATCH


class TokenClaims(BaseModel):
    """What a verified token allows: recording ``role``'s check-in for ``pair_id``, ``week``."""

    model_config = ConfigDict(frozen=True)

    pair_id: int
    week: int
    role: CheckinRole
    expires: datetime


class UnsignableLinkError(TokenError):
    """No key to sign a cohort's links with: the key file has no link keys."""

    reason = TokenFailure.MALFORMED


@dataclass(frozen=True)
class LinkSecrets:
    """What signs and verifies one cohort's links (see :func:`tandem.program.link_keys.link_secrets`).

    ``signing`` is the active key (id, secret) that signs new links; ``by_kid`` every key
    that still verifies one (the active key and retired ones); ``legacy`` the secret that a
    cohort made by an earlier version kept in the database (version-1 links, no key id),
    which also signs when there is no active key.
    """

    # Kept out of repr: a traceback or a log line must never show a key.
    signing: tuple[bytes, bytes] | None = field(repr=False)
    by_kid: Mapping[bytes, bytes] = field(default_factory=dict, repr=False)
    legacy: bytes | None = field(default=None, repr=False)


def new_secret() -> bytes:
    """Return a fresh random 256-bit signing key (keep it out of the repository)."""
    return secrets.token_bytes(SECRET_BYTES)


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the check-in secret has {len(secret)} bytes; use at least {MIN_SECRET_BYTES} "
            "(new_secret() makes one of 32)"
        )


def _tag(secret: bytes, body: bytes) -> bytes:
    return hmac.digest(secret, _CONTEXT + body, "sha256")[:_TAG_BYTES]


def _signing_key(keys: LinkSecrets) -> tuple[bytes | None, bytes]:
    """(key id, key) that signs new links: the active key, else the legacy secret (no id).

    Raises UnsignableLinkError when there is neither.
    """
    if keys.signing is not None:
        return keys.signing
    if keys.legacy is not None:
        return None, keys.legacy
    raise UnsignableLinkError(
        "there is no key to sign participants' links with: add one to the key file "
        "with `tandem keys rotate-links` (or create the file with `tandem keys init`) "
        "and give the file to tick and serve (--keys or TANDEM_KEYS)"
    )


def make_token(
    secret: bytes | LinkSecrets,
    *,
    pair_id: int,
    week: int,
    role: CheckinRole | str,
    expires: datetime,
) -> str:
    """Return a new check-in token for ``role`` of pair ``pair_id`` in ``week``.

    Each call gives a different token (random nonce); all verify to the same claims.
    ``expires`` is stored in whole seconds (rounded down). With :class:`LinkSecrets` the
    token names its key (version 2), or, with no active key, is signed with the legacy
    secret (version 1); with a bare secret it is a version-1 token.

    Raises:
        UnsignableLinkError: ``LinkSecrets`` without an active key or a legacy secret.
        ValueError: a short secret, a naive ``expires``, an unknown role, or a pair id or
            week outside 0..2**63-1 and 0..65535.
    """
    kid: bytes | None = None
    if isinstance(secret, LinkSecrets):
        kid, secret = _signing_key(secret)
    _check_secret(secret)
    seconds = _seconds(expires)
    if not 0 <= pair_id < 2**63:
        raise ValueError(f"pair id {pair_id} is out of range for a token")
    if not 0 <= week < 2**16:
        raise ValueError(f"week {week} is out of range for a token")
    code = _ROLE_CODES[CheckinRole(role)]
    # os.urandom: as secrets.token_bytes, without its wrapper
    if kid is None:
        body = _LAYOUT.pack(_VERSION, pair_id, week, code, seconds, os.urandom(12))
    else:
        body = _LAYOUT_KID.pack(_VERSION_KID, pair_id, week, code, seconds, kid, os.urandom(8))
    return base64.urlsafe_b64encode(body + _tag(secret, body)).decode("ascii")


_TAMPERED = (
    "this check-in link is not valid: it was changed or belongs to another program; "
    "open the link from the e-mail again"
)


def _decode(token: str, length: int, kind: str) -> bytes:
    """The bytes of a token of ``length`` characters. Raises MalformedTokenError."""
    # Check the alphabet ourselves: the decoder would silently skip stray characters and
    # accept '+' and '/' in place of '-' and '_', letting two spellings verify.
    if len(token) != length or not _ALPHABET.fullmatch(token):
        raise MalformedTokenError(
            f"this {kind} link is incomplete or damaged: open the link from the e-mail "
            "again, or copy all of it"
        )
    return base64.urlsafe_b64decode(token)


def _seconds(expires: datetime) -> int:
    if expires.tzinfo is None or expires.utcoffset() is None:
        raise ValueError(f"token expiry {expires.isoformat()} must be time-zone aware")
    return int(expires.timestamp() // 1)


def _check_now(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"'now' ({now.isoformat()}) must be time-zone aware")


def verify_token(secret: bytes | LinkSecrets, token: str, *, now: datetime) -> TokenClaims:
    """Return the claims of a genuine, unexpired ``token``.

    With :class:`LinkSecrets` a version-2 token is checked with the key it names (active
    or retired) and a version-1 token with the legacy secret; a bare secret checks
    version-1 tokens only.

    Raises:
        MalformedTokenError: not 64 URL-safe base64 characters, or an unknown version.
        TamperedTokenError: the tag does not match (changed, forged, other secret, a key
            that is not, or no longer, kept).
        ExpiredTokenError: ``now`` is at or after the expiry.
        ValueError: a short secret or a naive ``now``.
    """
    if not isinstance(secret, LinkSecrets):
        _check_secret(secret)
    _check_now(now)
    raw = _decode(token, _TOKEN_CHARS, "check-in")
    body, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    version = body[0]
    key: bytes | None
    if version == _VERSION:
        _, pair_id, week, code, expires_at, _nonce = _LAYOUT.unpack(body)
        key = secret.legacy if isinstance(secret, LinkSecrets) else secret
    elif version == _VERSION_KID:
        _, pair_id, week, code, expires_at, kid, _nonce = _LAYOUT_KID.unpack(body)
        key = secret.by_kid.get(kid) if isinstance(secret, LinkSecrets) else None
    else:
        raise MalformedTokenError(
            "this check-in link is not one Tandem made: open the link from the e-mail again"
        )
    if key is None or not hmac.compare_digest(tag, _tag(key, body)):
        raise TamperedTokenError(_TAMPERED)
    role = _ROLES_BY_CODE.get(code)
    if role is None:  # only reachable with a token signed by a newer version
        raise MalformedTokenError("this check-in link names an unknown role")
    expires = datetime.fromtimestamp(expires_at, UTC)
    if now >= expires:
        raise ExpiredTokenError(
            f"this check-in link expired on {expires:%Y-%m-%d %H:%M} UTC: ask the program "
            "coordinator for a new one",
            expires=expires,
        )
    return TokenClaims(pair_id=pair_id, week=week, role=role, expires=expires)


def verify_token_for(
    secret: bytes,
    token: str,
    *,
    now: datetime,
    pair_id: int,
    week: int,
    role: CheckinRole | str | None = None,
) -> TokenClaims:
    """Verify ``token`` and check it is for ``pair_id``, ``week`` (and ``role`` if given).

    Raises:
        MismatchedTokenError: genuine, but for another pair, week or role.
        (and everything :func:`verify_token` raises)
    """
    claims = verify_token(secret, token, now=now)
    if (
        claims.pair_id != pair_id
        or claims.week != week
        or (role is not None and claims.role != CheckinRole(role))
    ):
        raise MismatchedTokenError(
            "this check-in link belongs to another pair, week or person: use the link "
            f"from your own e-mail for week {week}"
        )
    return claims


def checkin_url(base_url: str, token: str) -> str:
    """Return the check-in link: ``base_url`` with the token as its last path segment.

    ``https://mentoring.example.org/checkin`` gives
    ``https://mentoring.example.org/checkin/<token>``.

    Raises:
        ValueError: ``base_url`` is not an http(s) URL, or has a query or fragment.
    """
    if not re.match(r"^https?://[^/?#\s]+", base_url) or any(c in base_url for c in "?# "):
        raise ValueError(
            f"check-in base URL {base_url!r} must be an http(s) URL without query or "
            "fragment, e.g. https://mentoring.example.org/checkin"
        )
    return f"{base_url.rstrip('/')}/{token}"


# --------------------------------------------------------------------------- survey links

_SURVEY_CONTEXT = b"tandem-survey"
_SURVEY_KID = 1
"""Signed with the key its id names."""
_SURVEY_LEGACY = 2
"""Signed with the secret a cohort of an earlier version kept (the key id is zero)."""
# version, cohort, participant, survey, role, expires, kid, nonce
_SURVEY_LAYOUT = struct.Struct(">BIQBBq4s8s")
_SURVEY_CHARS = 68  # 35 + 16 bytes -> 68 base64 characters, no padding
_NO_KID = bytes(4)
_SURVEY_CODES = {SurveyName.BASELINE: 1, SurveyName.CLOSING: 2, SurveyName.FOLLOWUP: 3}
_SURVEYS_BY_CODE = {code: survey for survey, code in _SURVEY_CODES.items()}
_PERSON_ROLE_CODES = {Role.MENTOR: 1, Role.MENTEE: 2}
_PERSON_ROLES_BY_CODE = {code: role for role, code in _PERSON_ROLE_CODES.items()}


class SurveyClaims(BaseModel):
    """What a verified survey token allows: recording ``participant_pk``'s answers, in
    ``role``, to ``survey`` of the cohort ``cohort_pk``."""

    model_config = ConfigDict(frozen=True)

    cohort_pk: int
    participant_pk: int
    survey: SurveyName
    role: Role
    expires: datetime


def _survey_tag(secret: bytes, body: bytes) -> bytes:
    return hmac.digest(secret, _SURVEY_CONTEXT + body, "sha256")[:_TAG_BYTES]


def make_survey_token(
    keys: LinkSecrets,
    *,
    cohort_pk: int,
    participant_pk: int,
    survey: SurveyName | str,
    role: Role | str,
    expires: datetime,
) -> str:
    """Return a new survey token: ``participant_pk`` answers ``survey`` as ``role`` in the
    cohort ``cohort_pk``, until ``expires`` (whole seconds, rounded down).

    ``keys`` are the cohort's (see :func:`tandem.program.link_keys.link_secrets`): the
    active key signs, or, with none, the secret the cohort kept. Each call gives a
    different token; all verify to the same claims.

    Raises:
        UnsignableLinkError: ``keys`` has neither an active key nor a legacy secret.
        ValueError: a naive ``expires``, an unknown survey or role, or a cohort or
            participant number out of range (0..2**32-1, 0..2**63-1).
    """
    kid, key = _signing_key(keys)
    _check_secret(key)
    seconds = _seconds(expires)
    if not 0 <= cohort_pk < 2**32:
        raise ValueError(f"cohort {cohort_pk} is out of range for a survey token")
    if not 0 <= participant_pk < 2**63:
        raise ValueError(f"participant {participant_pk} is out of range for a survey token")
    body = _SURVEY_LAYOUT.pack(
        _SURVEY_KID if kid is not None else _SURVEY_LEGACY,
        cohort_pk,
        participant_pk,
        _SURVEY_CODES[SurveyName(survey)],
        _PERSON_ROLE_CODES[Role(role)],
        seconds,
        kid if kid is not None else _NO_KID,
        os.urandom(8),
    )
    return base64.urlsafe_b64encode(body + _survey_tag(key, body)).decode("ascii")


def survey_token_cohort(token: str) -> int:
    """The cohort a survey token names, *not yet verified*: only to find the keys that
    verify it (:func:`verify_survey_token` then checks every claim).

    Raises:
        MalformedTokenError: not 68 URL-safe base64 characters, or an unknown version.
    """
    raw = _decode(token, _SURVEY_CHARS, "survey")
    if raw[0] not in (_SURVEY_KID, _SURVEY_LEGACY):
        raise MalformedTokenError(
            "this survey link is not one Tandem made: open the link from the e-mail again"
        )
    cohort_pk: int = _SURVEY_LAYOUT.unpack(raw[: _SURVEY_LAYOUT.size])[1]
    return cohort_pk


def verify_survey_token(keys: LinkSecrets, token: str, *, now: datetime) -> SurveyClaims:
    """Return the claims of a genuine, unexpired survey ``token`` signed with ``keys``
    (the cohort's: active and retired keys, and the legacy secret).

    The tag is compared in constant time before any claim is trusted; then the expiry.

    Raises:
        MalformedTokenError: not 68 URL-safe base64 characters, or an unknown version.
        TamperedTokenError: the tag does not match (changed, forged, another cohort's
            keys, a key that is not, or no longer, kept).
        ExpiredTokenError: ``now`` is at or after the expiry.
        ValueError: a naive ``now``.
    """
    _check_now(now)
    survey_token_cohort(token)  # the shape and the version
    raw = base64.urlsafe_b64decode(token)
    body, tag = raw[: _SURVEY_LAYOUT.size], raw[_SURVEY_LAYOUT.size :]
    version, cohort_pk, participant_pk, survey, role, expires_at, kid, _nonce = (
        _SURVEY_LAYOUT.unpack(body)
    )
    key = keys.by_kid.get(kid) if version == _SURVEY_KID else keys.legacy
    if key is None or not hmac.compare_digest(tag, _survey_tag(key, body)):
        raise TamperedTokenError(
            "this survey link is not valid: it was changed or belongs to another program; "
            "open the link from the e-mail again"
        )
    if survey not in _SURVEYS_BY_CODE or role not in _PERSON_ROLES_BY_CODE:
        raise MalformedTokenError("this survey link names an unknown survey or role")
    expires = datetime.fromtimestamp(expires_at, UTC)
    if now >= expires:
        raise ExpiredTokenError(
            f"this survey link expired on {expires:%Y-%m-%d %H:%M} UTC: ask the program "
            "coordinator for a new one",
            expires=expires,
        )
    return SurveyClaims(
        cohort_pk=cohort_pk,
        participant_pk=participant_pk,
        survey=_SURVEYS_BY_CODE[survey],
        role=_PERSON_ROLES_BY_CODE[role],
        expires=expires,
    )
