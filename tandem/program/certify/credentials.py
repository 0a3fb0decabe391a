"""Mentor certificates as Open Badges 3.0 credentials signed as VC-JWT, verified offline.

Pure: facts, issuer, keys, JWK Sets and ``now`` come in; dictionaries, tokens and
:class:`Verification` results go out. Nothing here reads the clock, the database or files.

The credential is an ``OpenBadgeCredential`` (a W3C Verifiable Credential 2.0). The mentor
is the subject, named by two ``IdentityObject`` identifiers: the name in plain text and the
e-mail address as a salted SHA-256 hash (never the address itself). Evidence carries the
cohort, the program dates and the weeks met; never check-in notes.

The signed form is a compact JWS (VC-JWT): header ``{"alg", "kid", "typ": "vc+jwt"}``;
payload = the credential plus the claims ``iss`` (issuer id), ``jti`` (credential id),
``sub`` (the hashed e-mail identity), ``nbf`` (validFrom), ``iat`` (signing time) and
``exp`` (validUntil, when set).

Credential file format: ``<uuid>.jwt`` (see :func:`credential_filename`) containing the
compact JWS text and nothing else but optional surrounding whitespace, as Open Badges 3.0
prescribes for VC-JWT files.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from importlib import resources
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from tandem.program.certify.issuer_keys import (
    KeyRing,
    SignatureStatus,
    check_jws,
    parse_jwks,
    sign_jws,
)
from tandem.program.certify.revocations import Revocation, RevocationList, RevocationListError
from tandem.program.errors import ProgramError

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB3_SCHEMA_ID = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)
OB3_SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
CREDENTIAL_JWT_TYPE = "vc+jwt"
CREDENTIAL_FILE_SUFFIX = ".jwt"


class CredentialError(ProgramError):
    """A credential cannot be built or signed from what was given."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be a timezone-aware datetime (UTC)")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _day_start(value: date) -> str:
    return f"{value.isoformat()}T00:00:00Z"


def _load_text() -> dict[str, Any]:
    text = resources.files("tandem.program.certify").joinpath("templates/credential_text.toml")
    return tomllib.loads(text.read_text(encoding="utf-8"))


class IssuerProfile(BaseModel):
    """The program as issuer: a stable URI ``id``, a display name, a web page, a contact."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    email: EmailStr | None = None


class CertificateFacts(BaseModel):
    """Everything one mentor certificate states; the caller decides eligibility and ids.

    ``credential_id`` is a ``urn:uuid:`` URI chosen by the caller (unique per certificate).
    ``mentor_email`` is hashed with ``email_salt`` inside the credential and never
    appears in it; it is left out of ``repr``.
    """

    model_config = ConfigDict(frozen=True)

    credential_id: str
    mentor_name: str = Field(min_length=1)
    mentor_email: EmailStr = Field(repr=False)
    email_salt: str = Field(min_length=1, repr=False)
    achievement_id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
    achievement_name: str = Field(min_length=1)
    achievement_description: str = Field(min_length=1)
    criteria_narrative: str = Field(min_length=1)
    cohort_name: str = Field(min_length=1)
    program_start: date
    program_end: date
    weeks_met: int = Field(ge=0)
    weeks_total: int = Field(ge=1)
    issued_at: datetime
    valid_until: datetime | None = None
    granted: bool = False
    """Awarded by the program coordinator's decision, without meeting every criterion
    (the certificate and its evidence say so)."""

    @field_validator("credential_id")
    @classmethod
    def _check_credential_id(cls, value: str) -> str:
        prefix = "urn:uuid:"
        if not value.lower().startswith(prefix):
            raise ValueError("must be a urn:uuid: URI, e.g. urn:uuid:" + str(uuid.UUID(int=0)))
        return prefix + str(uuid.UUID(value[len(prefix) :]))

    @field_validator("issued_at")
    @classmethod
    def _check_issued_at(cls, value: datetime) -> datetime:
        return _utc(value).replace(microsecond=0)

    @field_validator("valid_until")
    @classmethod
    def _check_valid_until(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value).replace(microsecond=0)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.weeks_met > self.weeks_total:
            raise ValueError(f"weeks_met ({self.weeks_met}) exceeds weeks_total")
        if self.program_end < self.program_start:
            raise ValueError("program_end is before program_start")
        if self.valid_until is not None and self.valid_until <= self.issued_at:
            raise ValueError("valid_until must be after issued_at")
        return self


def hash_email(email: str, salt: str) -> str:
    """The Open Badges ``IdentityHash`` of an e-mail address: ``sha256$`` + hex digest.

    The address is stripped and lower-cased, the salt appended, and the UTF-8 bytes hashed.
    """
    digest = hashlib.sha256((email.strip().lower() + salt).encode("utf-8")).hexdigest()
    return f"sha256${digest}"


def credential_filename(credential_id: str) -> str:
    """The file name for a signed credential: ``<uuid>.jwt``."""
    return credential_id.removeprefix("urn:uuid:") + CREDENTIAL_FILE_SUFFIX


GRANTED_TEXT = "Awarded by decision of the program coordinator"
"""What a granted certificate says (in its evidence, on the page) in place of a claim that
every criterion was met."""


def build_credential(facts: CertificateFacts, issuer: IssuerProfile) -> dict[str, Any]:
    """The unsigned Open Badges 3.0 ``OpenBadgeCredential`` for ``facts``, as JSON data."""
    text = _load_text()["evidence"]
    fields = {
        "cohort_name": facts.cohort_name,
        "weeks_met": facts.weeks_met,
        "weeks_total": facts.weeks_total,
        "program_start": facts.program_start.isoformat(),
        "program_end": facts.program_end.isoformat(),
    }
    profile: dict[str, Any] = {
        "id": issuer.id,
        "type": ["Profile"],
        "name": issuer.name,
        "url": issuer.url,
    }
    if issuer.email is not None:
        profile["email"] = issuer.email
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB3_CONTEXT],
        "id": facts.credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": profile,
        "validFrom": _iso(facts.issued_at),
        "name": facts.achievement_name,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": facts.mentor_name,
                },
                {
                    "type": "IdentityObject",
                    "identityType": "emailAddress",
                    "hashed": True,
                    "identityHash": hash_email(facts.mentor_email, facts.email_salt),
                    "salt": facts.email_salt,
                },
            ],
            "activityStartDate": _day_start(facts.program_start),
            "activityEndDate": _day_start(facts.program_end),
            "achievement": {
                "id": facts.achievement_id,
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": facts.achievement_name,
                "description": facts.achievement_description,
                "criteria": {"narrative": facts.criteria_narrative},
            },
        },
        "evidence": [
            {
                "type": ["Evidence"],
                "name": text["name"].format(**fields),
                "description": text["description"].format(**fields),
                "narrative": text["narrative"].format(**fields)
                + (f" {GRANTED_TEXT}." if facts.granted else ""),
            }
        ],
        "credentialSchema": [{"id": OB3_SCHEMA_ID, "type": OB3_SCHEMA_TYPE}],
    }
    if facts.valid_until is not None:
        credential["validUntil"] = _iso(facts.valid_until)
    return credential


def _epoch(iso_text: str) -> int:
    return int(_utc(datetime.fromisoformat(iso_text)).timestamp())


def _email_identity(credential: dict[str, Any]) -> str | None:
    for identity in credential.get("credentialSubject", {}).get("identifier", []):
        if identity.get("identityType") == "emailAddress":
            return str(identity["identityHash"])
    return None


def sign_credential(credential: dict[str, Any], keyring: KeyRing, now: datetime) -> str:
    """Sign ``credential`` (from :func:`build_credential`) with the active key as a VC-JWT.

    Raises :class:`CredentialError` if the credential lacks ``id``, ``issuer.id`` or a
    valid ``validFrom``.
    """
    try:
        claims: dict[str, Any] = {
            "iss": credential["issuer"]["id"],
            "jti": credential["id"],
            "nbf": _epoch(credential["validFrom"]),
            "iat": int(_utc(now).timestamp()),
        }
        if "validUntil" in credential:
            claims["exp"] = _epoch(credential["validUntil"])
    except (KeyError, TypeError, ValueError) as error:
        raise CredentialError(
            f"cannot sign the credential: it lacks a usable {error} field; "
            "build it with build_credential()"
        ) from None
    subject = _email_identity(credential)
    if subject is not None:
        claims["sub"] = subject
    clashes = sorted(set(claims) & set(credential))
    if clashes:
        raise CredentialError(f"the credential already has JWT claim fields {clashes}")
    return sign_jws({**credential, **claims}, keyring, CREDENTIAL_JWT_TYPE)


class VerificationOutcome(StrEnum):
    """Why a certificate is or is not to be trusted (a closed list)."""

    VALID = "valid"
    ALTERED = "altered"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    WRONG_ISSUER = "wrong_issuer"
    MALFORMED = "malformed"


class Verification(BaseModel):
    """The verdict on one certificate, with a plain-English ``explanation``.

    The descriptive fields are filled from the certificate only once its signature has
    been checked; for ``malformed``, ``unknown_key`` and ``altered`` they stay empty,
    because unsigned content must not be shown as if it were true.
    """

    model_config = ConfigDict(frozen=True)

    outcome: VerificationOutcome
    explanation: str
    kid: str | None = None
    credential_id: str | None = None
    mentor_name: str | None = None
    achievement_name: str | None = None
    issuer_id: str | None = None
    issuer_name: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revocation: Revocation | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is VerificationOutcome.VALID


class _Signed(BaseModel):
    """The parts of a signed credential that verification needs, cross-checked."""

    credential_id: str
    mentor_name: str
    achievement_name: str
    issuer_id: str
    issuer_name: str
    valid_from: datetime
    valid_until: datetime | None


def _read_signed(payload: bytes) -> _Signed:
    """Parse a signed payload; raise ValueError saying what is wrong with it."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("its content is not JSON") from None
    except RecursionError:
        raise ValueError("its content is nested too deeply to be a credential") from None
    if not isinstance(data, dict):
        raise ValueError("its content is not a JSON object")
    types = data.get("type")
    if not isinstance(types, list) or not {"VerifiableCredential", "OpenBadgeCredential"} <= {
        t for t in types if isinstance(t, str)
    }:
        raise ValueError("it is not an OpenBadgeCredential")
    issuer = _object(data, "issuer", "an id and a name")
    subject = _object(data, "credentialSubject", "an achievement")
    identifiers = subject.get("identifier", [])
    if not isinstance(identifiers, list):
        raise ValueError("its credentialSubject.identifier is not a list")
    names = [
        i.get("identityHash")
        for i in identifiers
        if isinstance(i, dict) and i.get("identityType") == "name" and i.get("hashed") is False
    ]
    if names and not isinstance(names[0], str):
        raise ValueError("its mentor's name (credentialSubject.identifier) is not text")
    valid_from = _instant(data, "validFrom")
    valid_until = _instant(data, "validUntil") if "validUntil" in data else None
    signed = _Signed(
        credential_id=_text(data, "id"),
        mentor_name=names[0] if names else "(unnamed mentor)",
        achievement_name=_text(
            _object(subject, "achievement", "a name", "credentialSubject."),
            "name",
            "credentialSubject.achievement.",
        ),
        issuer_id=_text(issuer, "id", "issuer."),
        issuer_name=_text(issuer, "name", "issuer."),
        valid_from=valid_from,
        valid_until=valid_until,
    )
    expected_claims = {
        "iss": signed.issuer_id,
        "jti": signed.credential_id,
        "nbf": int(valid_from.timestamp()),
        "exp": None if valid_until is None else int(valid_until.timestamp()),
    }
    for claim, expected in expected_claims.items():
        if data.get(claim) != expected:
            raise ValueError(f"its JWT claim {claim!r} disagrees with the credential")
    return signed


def _field(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ValueError(f"it lacks the field {where}{key}")
    return data[key]


def _object(data: dict[str, Any], key: str, holding: str, where: str = "") -> dict[str, Any]:
    value = _field(data, key, where)
    if not isinstance(value, dict):
        raise ValueError(f"its {where}{key} is not an object with {holding}")
    return value


def _text(data: dict[str, Any], key: str, where: str = "") -> str:
    value = _field(data, key, where)
    if not isinstance(value, str):
        raise ValueError(f"its {where}{key} is not text")
    return value


def _instant(data: dict[str, Any], key: str) -> datetime:
    """A signed date and time, in UTC; ValueError naming the field when it is none."""
    value = _field(data, key, "")
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"its {key} is not a date and time")
    if parsed.utcoffset() is None:
        raise ValueError(f"its {key} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ValueError(f"its {key} is a date and time no certificate can have") from None


def verify_credential(
    token: str,
    jwks: dict[str, Any],
    revocations: RevocationList | None,
    now: datetime,
    expected_issuer: str | None = None,
) -> Verification:
    """Verify a mentor certificate offline and say plainly why it fails, if it does.

    Checks, in order: the token is a compact JWS (``malformed``); its key is in ``jwks``
    (``unknown_key``); the signature matches (``altered``); the signed content is an
    Open Badges credential whose JWT claims agree with it (``malformed``); the issuer is
    ``expected_issuer`` when given (``wrong_issuer``); it is not on ``revocations``
    (``revoked``); ``now`` is within validFrom / validUntil (``not_yet_valid``,
    ``expired``).

    Raises :class:`~tandem.program.certify.issuer_keys.KeyFileError` if ``jwks`` is not a JWK Set
    and :class:`RevocationListError` if ``revocations`` belongs to another issuer.
    """
    now = _utc(now)
    keys = parse_jwks(jwks, "the JWK Set")
    check = check_jws(token.strip(), keys, CREDENTIAL_JWT_TYPE)
    kid = check.header.get("kid") if check.header else None
    if check.status is SignatureStatus.MALFORMED:
        return Verification(
            outcome=VerificationOutcome.MALFORMED,
            explanation=f"This file is not a readable certificate: {check.detail}.",
        )
    if check.status is SignatureStatus.UNKNOWN_KEY:
        return Verification(
            outcome=VerificationOutcome.UNKNOWN_KEY,
            kid=kid,
            explanation=f"The certificate cannot be checked: {check.detail}. Either it was "
            "not issued by this program, or your copy of the key set is out of date.",
        )
    if check.status is SignatureStatus.ALTERED or check.payload is None:
        return Verification(
            outcome=VerificationOutcome.ALTERED,
            kid=kid,
            explanation=f"The certificate has been altered: {check.detail}. "
            "Do not rely on anything it says.",
        )
    try:
        signed = _read_signed(check.payload)
    except ValueError as error:
        return Verification(
            outcome=VerificationOutcome.MALFORMED,
            kid=kid,
            explanation=f"The signature is genuine but the content is not a mentor "
            f"certificate: {error}.",
        )
    details: dict[str, Any] = {"kid": kid, **signed.model_dump()}
    label = f"{signed.achievement_name} for {signed.mentor_name}"
    by = f"{signed.issuer_name} ({signed.issuer_id})"
    if expected_issuer is not None and signed.issuer_id != expected_issuer:
        return Verification(
            outcome=VerificationOutcome.WRONG_ISSUER,
            explanation=f"{label} was issued by {by}, not by the expected issuer "
            f"{expected_issuer}.",
            **details,
        )
    if revocations is not None:
        if revocations.issuer_id != signed.issuer_id:
            raise RevocationListError(
                f"the revocation list is from {revocations.issuer_id}, but the certificate "
                f"was issued by {signed.issuer_id}; use its issuer's revocation list"
            )
        revocation = revocations.find(signed.credential_id)
        if revocation is not None:
            return Verification(
                outcome=VerificationOutcome.REVOKED,
                explanation=f"{label} ({signed.credential_id}) was revoked by {by} on "
                f"{revocation.revoked_at.date().isoformat()}: {revocation.reason}.",
                revocation=revocation,
                **details,
            )
    if now < signed.valid_from:
        return Verification(
            outcome=VerificationOutcome.NOT_YET_VALID,
            explanation=f"{label} only becomes valid on {_iso(signed.valid_from)}.",
            **details,
        )
    if signed.valid_until is not None and now >= signed.valid_until:
        return Verification(
            outcome=VerificationOutcome.EXPIRED,
            explanation=f"{label}, issued by {by}, expired on {_iso(signed.valid_until)}.",
            **details,
        )
    if revocations is None:
        revocation_note = "no revocation list was checked"
    else:
        revocation_note = f"not revoked as of the revocation list of {_iso(revocations.issued_at)}"
    until = "" if signed.valid_until is None else f", valid until {_iso(signed.valid_until)}"
    return Verification(
        outcome=VerificationOutcome.VALID,
        explanation=f"{label}, issued by {by} on {signed.valid_from.date().isoformat()}"
        f"{until}; {check.detail}; {revocation_note}.",
        **details,
    )
