"""Hostile certificates, key sets and revocation lists: one clear line, never a traceback.

Deep nesting (before or after a genuine signature), impossible dates and garbage ``--now``
must each end in a verdict or a single error line, with exit code 1.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from tandem.program.certify.credentials import (
    CREDENTIAL_JWT_TYPE,
    VerificationOutcome,
    build_credential,
    sign_credential,
    verify_credential,
)
from tandem.program.certify.issuer_keys import KeyRing, _private_key, init_keyring
from tandem.program.certify.revocations import (
    REVOCATION_LIST_TYPE,
    RevocationListError,
    read_revocations,
)
from tests.conftest import Tandem
from tests.program.certify.test_credentials import ISSUED, ISSUER, make_facts

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
DEEP = 200_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_bytes(payload: bytes, keyring: KeyRing, typ: str) -> str:
    """A genuine signature by the active key over arbitrary payload bytes."""
    key = keyring.active
    return jwt.api_jws.PyJWS().encode(
        payload, _private_key(key), algorithm=key.alg.value, headers={"kid": key.kid, "typ": typ}
    )


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keyring(tmp_path_factory.mktemp("k") / "keys.json", now=ISSUED, rsa_bits=2048)


def test_an_unsigned_header_nested_200000_levels_is_malformed(keyring: KeyRing) -> None:
    header = b"[" * DEEP + b"]" * DEEP
    token = f"{b64(header)}.{b64(b'{}')}.{b64(b'x')}"
    result = verify_credential(token, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.MALFORMED
    assert "header is not JSON" in result.explanation


def test_a_genuinely_signed_but_deeply_nested_payload_is_malformed(keyring: KeyRing) -> None:
    token = signed_bytes(b'{"a":' * DEEP + b"1" + b"}" * DEEP, keyring, CREDENTIAL_JWT_TYPE)
    result = verify_credential(token, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.MALFORMED
    assert "nested too deeply" in result.explanation


@pytest.mark.parametrize(
    "valid_from", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00"]
)
def test_signed_credentials_with_impossible_dates_are_malformed(
    keyring: KeyRing, valid_from: str
) -> None:
    credential = build_credential(make_facts(), ISSUER)
    credential["validFrom"] = valid_from
    claims = {"iss": credential["issuer"]["id"], "jti": credential["id"], "nbf": 0}
    payload = json.dumps({**credential, **claims}).encode()
    token = signed_bytes(payload, keyring, CREDENTIAL_JWT_TYPE)
    result = verify_credential(token, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.MALFORMED, result.explanation


def test_a_deeply_nested_revocation_list_is_refused(keyring: KeyRing) -> None:
    header = b"{" * 1 + b'"a":' + b"[" * DEEP + b"]" * DEEP + b"}"
    unsigned = f"{b64(header)}.{b64(b'{}')}.{b64(b'x')}"
    with pytest.raises(RevocationListError, match="cannot be trusted"):
        read_revocations(unsigned, keyring.jwks())
    signed = signed_bytes(b"[" * DEEP + b"]" * DEEP, keyring, REVOCATION_LIST_TYPE)
    with pytest.raises(RevocationListError, match="nested too deeply"):
        read_revocations(signed, keyring.jwks())


def test_the_verify_command_says_one_line_for_each_hostile_file(
    tmp_path: Path, keyring: KeyRing, tandem: Tandem
) -> None:
    good = tmp_path / "good.jwt"
    good.write_text(sign_credential(build_credential(make_facts(), ISSUER), keyring, ISSUED))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keyring.jwks()))
    deep_cert = tmp_path / "deep.jwt"
    deep_cert.write_text(f"{b64(b'[' * DEEP + b']' * DEEP)}.{b64(b'{}')}.{b64(b'x')}")
    deep_jwks = tmp_path / "deep.json"
    deep_jwks.write_text("[" * DEEP + "]" * DEEP)
    deep_list = tmp_path / "deep-list.jwt"
    deep_list.write_text(signed_bytes(b"[" * DEEP + b"]" * DEEP, keyring, REVOCATION_LIST_TYPE))
    long_number = tmp_path / "long-number.json"
    long_number.write_text('{"keys": [{"kty": "OKP", "n": ' + "9" * 5000 + "}]}")
    cases: list[tuple[list[str | Path], str]] = [
        (["verify", good, "--jwks", long_number], "Error: "),
        (["verify", deep_cert, "--jwks", jwks], "INVALID (malformed)"),
        (["verify", good, "--jwks", deep_jwks], "Error: "),
        (["verify", good, "--jwks", jwks, "--revocations", deep_list], "Error: "),
        (["verify", good, "--jwks", jwks, "--now", "garbage"], ""),  # a usage error (exit 2)
        (["verify", tmp_path, "--jwks", jwks], "Error: "),
    ]
    for args, start in cases:
        result = tandem(*args, expect=1) if start else tandem(*args, expect=None)
        assert result.exit_code != 0
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert "Traceback" not in result.output
        if start:
            assert len(lines) == 1 and lines[0].startswith(start), result.output
        assert "sys." not in result.output  # no advice meant for Python programmers
    long = tandem("verify", good, "--jwks", long_number, expect=1)
    assert "is not JSON (a number has more than 4,300 digits)" in long.stderr


def _without(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    del data[last]


def _set(data: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


WRONG_FIELDS: list[tuple[str, object, str]] = [
    ("validFrom", 12345, "its validFrom is not a date and time"),
    ("validFrom", ["2026-01-01"], "its validFrom is not a date and time"),
    ("validFrom", "soon", "its validFrom is not a date and time"),
    ("validFrom", "2026-01-01T09:00:00", "its validFrom has no time zone"),
    ("validUntil", {"at": 1}, "its validUntil is not a date and time"),
    ("issuer", "https://uni.edu/issuer", "its issuer is not an object with an id and a name"),
    ("issuer.id", 7, "its issuer.id is not text"),
    ("issuer.name", None, "its issuer.name is not text"),
    ("id", ["urn:uuid:x"], "its id is not text"),
    ("type", "OpenBadgeCredential", "it is not an OpenBadgeCredential"),
    ("type", [["VerifiableCredential"], {}], "it is not an OpenBadgeCredential"),
    ("credentialSubject", [], "its credentialSubject is not an object with an achievement"),
    ("credentialSubject.identifier", "x", "its credentialSubject.identifier is not a list"),
    (
        "credentialSubject.achievement",
        "Certificate",
        "its credentialSubject.achievement is not an object with a name",
    ),
    (
        "credentialSubject.achievement.name",
        3.5,
        "its credentialSubject.achievement.name is not text",
    ),
]
MISSING_FIELDS = ["issuer", "issuer.id", "validFrom", "credentialSubject.achievement.name", "id"]


def _verdict(keyring: KeyRing, credential: dict[str, Any]) -> str:
    claims = {"iss": "x", "jti": "x", "nbf": 0}
    token = signed_bytes(
        json.dumps({**credential, **claims}).encode(), keyring, CREDENTIAL_JWT_TYPE
    )
    result = verify_credential(token, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.MALFORMED, result.explanation
    prefix = "The signature is genuine but the content is not a mentor certificate: "
    assert result.explanation.startswith(prefix)
    return result.explanation.removeprefix(prefix)


@pytest.mark.parametrize(
    ("path", "value", "reason"), WRONG_FIELDS, ids=[f[0] for f in WRONG_FIELDS]
)
def test_a_signed_field_of_the_wrong_kind_is_named(
    keyring: KeyRing, path: str, value: object, reason: str
) -> None:
    credential = build_credential(make_facts(), ISSUER)
    _set(credential, path, value)
    assert _verdict(keyring, credential) == f"{reason}."


@pytest.mark.parametrize("path", MISSING_FIELDS)
def test_a_missing_signed_field_is_named(keyring: KeyRing, path: str) -> None:
    credential = build_credential(make_facts(), ISSUER)
    _without(credential, path)
    assert _verdict(keyring, credential) == f"it lacks the field {path}."


def test_the_verify_command_names_a_signed_field_of_the_wrong_kind(
    tmp_path: Path, keyring: KeyRing, tandem: Tandem
) -> None:
    credential = build_credential(make_facts(), ISSUER)
    credential["validFrom"] = 12345
    claims = {"iss": "x", "jti": "x", "nbf": 0}
    token = signed_bytes(
        json.dumps({**credential, **claims}).encode(), keyring, CREDENTIAL_JWT_TYPE
    )
    cert = tmp_path / "cert.jwt"
    cert.write_text(token)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keyring.jwks()))
    result = tandem("verify", cert, "--jwks", jwks, expect=1)
    assert "its validFrom is not a date and time." in result.output
    assert "fromisoformat" not in result.output and "Traceback" not in result.output
