"""Revocation lists a verifier can use offline.

A revocation list is a compact JWS signed with the issuer's active key (header
``typ: "revocation-list+jwt"``) whose payload names the issuer, when the list was issued,
and every revoked credential id with its reason and date::

    {"iss": ISSUER_ID, "iat": 1767225600, "issued_at": "2026-01-01T00:00:00Z",
     "revoked": [{"id": "urn:uuid:...", "reason": "...", "revoked_at": "..."}]}

Entries are sorted by credential id so the same revocations always give the same list.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tandem.errors import json_error_message
from tandem.program.certify.issuer_keys import (
    KeyRing,
    SignatureStatus,
    check_jws,
    parse_jwks,
    sign_jws,
)
from tandem.program.errors import ProgramError

REVOCATION_LIST_TYPE = "revocation-list+jwt"


class RevocationListError(ProgramError):
    """A revocation list cannot be read, trusted or used."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be a timezone-aware datetime (UTC)")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Revocation(BaseModel):
    """One revoked credential: its id, the reason given, and when it was revoked."""

    model_config = ConfigDict(frozen=True)

    credential_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    revoked_at: datetime

    @field_validator("revoked_at")
    @classmethod
    def _check_revoked_at(cls, value: datetime) -> datetime:
        return _utc(value)


class RevocationList(BaseModel):
    """The issuer's revoked credentials as of ``issued_at``."""

    model_config = ConfigDict(frozen=True)

    issuer_id: str = Field(min_length=1)
    issued_at: datetime
    entries: tuple[Revocation, ...] = ()

    @field_validator("issued_at")
    @classmethod
    def _check_issued_at(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("entries")
    @classmethod
    def _sort_entries(cls, value: tuple[Revocation, ...]) -> tuple[Revocation, ...]:
        ids = [entry.credential_id for entry in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"credential ids listed more than once: {', '.join(duplicates)}")
        return tuple(sorted(value, key=lambda entry: entry.credential_id))

    def find(self, credential_id: str) -> Revocation | None:
        """The revocation of ``credential_id``, or None if it is not revoked."""
        for entry in self.entries:
            if entry.credential_id == credential_id:
                return entry
        return None


def sign_revocations(revocations: RevocationList, keyring: KeyRing, now: datetime) -> str:
    """Sign ``revocations`` with the active issuer key as a compact JWS."""
    payload: dict[str, Any] = {
        "iss": revocations.issuer_id,
        "iat": int(_utc(now).timestamp()),
        "issued_at": _iso(revocations.issued_at),
        "revoked": [
            {"id": e.credential_id, "reason": e.reason, "revoked_at": _iso(e.revoked_at)}
            for e in revocations.entries
        ],
    }
    return sign_jws(payload, keyring, REVOCATION_LIST_TYPE)


def read_revocations(
    token: str,
    jwks: dict[str, Any],
    source: str = "the revocation list",
    expected_issuer: str | None = None,
) -> RevocationList:
    """Check a signed revocation list against the issuer's JWK Set and return its content.

    Raises :class:`RevocationListError` when the list is not signed by a key in ``jwks``,
    was altered, is not a revocation list, or belongs to another issuer than
    ``expected_issuer``; the message names ``source``.
    """
    check = check_jws(token.strip(), parse_jwks(jwks, "the JWK Set"), REVOCATION_LIST_TYPE)
    if check.status is not SignatureStatus.VALID or check.payload is None:
        raise RevocationListError(
            f"{source} cannot be trusted: {check.detail}. Get the current list from the "
            "issuer and check it with the issuer's published key set."
        )
    try:
        payload = json.loads(check.payload)
        revocations = RevocationList(
            issuer_id=payload["iss"],
            issued_at=datetime.fromisoformat(payload["issued_at"]),
            entries=tuple(
                Revocation(
                    credential_id=entry["id"],
                    reason=entry["reason"],
                    revoked_at=datetime.fromisoformat(entry["revoked_at"]),
                )
                for entry in payload["revoked"]
            ),
        )
    except (ValueError, KeyError, TypeError, ValidationError, OverflowError) as error:
        detail = (
            json_error_message(error)
            if isinstance(error, ValueError) and not isinstance(error, ValidationError)
            else (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        )
        raise RevocationListError(
            f"{source} is signed but its content is not a revocation list ({detail})"
        ) from None
    except RecursionError:
        raise RevocationListError(
            f"{source} is signed but its content is nested too deeply to be a revocation list"
        ) from None
    if expected_issuer is not None and revocations.issuer_id != expected_issuer:
        raise RevocationListError(
            f"{source} was issued by {revocations.issuer_id}, not by {expected_issuer}; "
            "use the revocation list of the certificate's issuer"
        )
    return revocations
