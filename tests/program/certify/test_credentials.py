"""Mentor certificates: Open Badges 3.0 shape, VC-JWT signing, offline verification."""

from __future__ import annotations

import base64
import json
import re
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tandem.program.certify.credentials import (
    CREDENTIAL_JWT_TYPE,
    CertificateFacts,
    CredentialError,
    IssuerProfile,
    VerificationOutcome,
    build_credential,
    credential_filename,
    hash_email,
    sign_credential,
    verify_credential,
)
from tandem.program.certify.issuer_keys import (
    KeyAlgorithm,
    KeyRing,
    init_keyring,
    rotate_keyring,
    sign_jws,
)
from tandem.program.certify.revocations import (
    Revocation,
    RevocationList,
    RevocationListError,
    read_revocations,
    sign_revocations,
)
from tests.conftest import Tandem

SCHEMA_PATH = Path(__file__).parents[2] / "data" / "ob_v3p0_achievementcredential_schema.json"
ISSUED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
EMAIL = "Ada.Lovelace@Example.edu"
ISSUER = IssuerProfile(
    id="https://mentoring.example.edu/issuer",
    name="Example University Research Mentoring Program",
    url="https://mentoring.example.edu",
    email="mentoring@example.edu",
)
B64URL = set(string.ascii_letters + string.digits + "-_")


def make_facts(**changes: Any) -> CertificateFacts:
    values: dict[str, Any] = {
        "credential_id": "urn:uuid:6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11",
        "mentor_name": "Ada Lovelace",
        "mentor_email": EMAIL,
        "email_salt": "s3cr3t-salt",
        "achievement_id": "https://mentoring.example.edu/achievements/mentor",
        "achievement_name": "Certified Research Mentor",
        "achievement_description": "Completed the 16-week guided research mentoring program.",
        "criteria_narrative": "Met with the assigned mentee in at least 12 of 16 weeks.",
        "cohort_name": "Spring 2026",
        "program_start": date(2026, 1, 12),
        "program_end": date(2026, 5, 1),
        "weeks_met": 14,
        "weeks_total": 16,
        "issued_at": ISSUED,
    }
    values.update(changes)
    return CertificateFacts(**values)


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keyring(tmp_path_factory.mktemp("k") / "keys.json", now=ISSUED, rsa_bits=2048)


@pytest.fixture(scope="module")
def other_keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keyring(tmp_path_factory.mktemp("o") / "keys.json", now=ISSUED, rsa_bits=2048)


@pytest.fixture(scope="module")
def token(keyring: KeyRing) -> str:
    return sign_credential(build_credential(make_facts(), ISSUER), keyring, ISSUED)


def segments(token: str) -> list[str]:
    return token.split(".")


def decode_segment(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- the credential -------------------------------------------------------------------


def test_credential_passes_the_open_badges_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft201909Validator(
        schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER
    )
    jsonschema.Draft201909Validator.check_schema(schema)
    credential = build_credential(make_facts(valid_until=ISSUED + timedelta(days=3650)), ISSUER)
    assert sorted(e.message for e in validator.iter_errors(credential)) == []
    # the schema does reject what lacks a required field
    broken = {k: v for k, v in credential.items() if k != "validFrom"}
    assert not validator.is_valid(broken)
    subject_without_identity = json.loads(json.dumps(credential))
    del subject_without_identity["credentialSubject"]["identifier"]
    assert not validator.is_valid(subject_without_identity)


def test_credential_content() -> None:
    credential = build_credential(make_facts(), ISSUER)
    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["validFrom"] == "2026-05-01T12:00:00Z"
    assert "validUntil" not in credential
    subject = credential["credentialSubject"]
    assert subject["identifier"][0] == {
        "type": "IdentityObject",
        "identityType": "name",
        "hashed": False,
        "identityHash": "Ada Lovelace",
    }
    assert subject["identifier"][1]["identityHash"] == hash_email(EMAIL, "s3cr3t-salt")
    assert subject["achievement"]["criteria"] == {
        "narrative": "Met with the assigned mentee in at least 12 of 16 weeks."
    }
    assert credential["evidence"] == [
        {
            "type": ["Evidence"],
            "name": "Guided mentoring program: Spring 2026",
            "description": "Participation record of the mentor in the program cohort.",
            "narrative": "Met with their mentee in 14 of 16 program weeks between 2026-01-12 "
            "and 2026-05-01.",
        }
    ]


def test_email_hash_follows_the_open_badges_identity_hash_example() -> None:
    # The Open Badges 3.0 IdentityHash example: 'a@example.com' salted with 'Kosher'.
    expected = "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399"
    assert hash_email("a@example.com", "Kosher") == expected
    assert hash_email(" A@Example.COM ", "Kosher") == expected


def test_no_raw_email_anywhere_in_the_token(token: str) -> None:
    header, payload, _ = segments(token)
    text = json.dumps([decode_segment(header), decode_segment(payload)]).lower()
    assert EMAIL.lower() not in text
    assert "ada.lovelace@" not in text
    assert EMAIL.lower() not in repr(make_facts()).lower()


def test_facts_validation() -> None:
    with pytest.raises(ValidationError, match="urn:uuid"):
        make_facts(credential_id="6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11")
    with pytest.raises(ValidationError, match="weeks_met"):
        make_facts(weeks_met=17)
    with pytest.raises(ValidationError, match="timezone-aware"):
        make_facts(issued_at=datetime(2026, 5, 1))
    with pytest.raises(ValidationError, match="valid_until must be after"):
        make_facts(valid_until=ISSUED)
    upper = make_facts(credential_id="urn:uuid:6F1C6A4E-2F1B-4C55-9D57-1B8C2D0E9A11")
    assert upper.credential_id == "urn:uuid:6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11"
    assert credential_filename(upper.credential_id) == "6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11.jwt"


# --- signing and verifying ------------------------------------------------------------


def test_vc_jwt_header_and_claims(token: str, keyring: KeyRing) -> None:
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": keyring.active_kid, "typ": CREDENTIAL_JWT_TYPE}
    claims = decode_segment(segments(token)[1])
    assert claims["iss"] == ISSUER.id
    assert claims["jti"] == make_facts().credential_id
    assert claims["nbf"] == int(ISSUED.timestamp())
    assert claims["iat"] == int(ISSUED.timestamp())
    assert claims["sub"] == hash_email(EMAIL, "s3cr3t-salt")
    assert "exp" not in claims
    # any JOSE library verifies it with the published key
    public = jwt.PyJWK(keyring.jwks()["keys"][0])
    assert jwt.decode(token, public, algorithms=["RS256"])["jti"] == claims["jti"]


def test_round_trip_verifies_offline(token: str, keyring: KeyRing) -> None:
    result = verify_credential(token, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.VALID
    assert result.ok
    assert result.mentor_name == "Ada Lovelace"
    assert result.credential_id == make_facts().credential_id
    assert result.explanation == (
        "Certified Research Mentor for Ada Lovelace, issued by Example University Research "
        "Mentoring Program (https://mentoring.example.edu/issuer) on 2026-05-01; signature "
        f"checked with key {keyring.active_kid}; no revocation list was checked."
    )


def test_ed25519_round_trip(tmp_path: Path) -> None:
    ed = init_keyring(tmp_path / "ed.json", KeyAlgorithm.EDDSA, now=ISSUED)
    signed = sign_credential(build_credential(make_facts(), ISSUER), ed, ISSUED)
    assert jwt.get_unverified_header(signed)["alg"] == "EdDSA"
    assert verify_credential(signed, ed.jwks(), None, NOW).ok


def flip(text: str, position: int, new_char: str) -> str:
    return text[:position] + new_char + text[position + 1 :]


def expected_for(new_char: str) -> VerificationOutcome:
    """Outside the base64url alphabet the token is no compact JWS; inside, the signature
    (computed over the exact encoded bytes) no longer matches."""
    return VerificationOutcome.ALTERED if new_char in B64URL else VerificationOutcome.MALFORMED


@pytest.mark.parametrize("mask", [0x01, 0x20])
def test_flipping_any_payload_byte_is_detected(token: str, keyring: KeyRing, mask: int) -> None:
    header, payload, signature = segments(token)
    jwks = keyring.jwks()
    seen = set()
    for position in range(len(payload)):
        new_char = chr(ord(payload[position]) ^ mask)
        tampered = ".".join([header, flip(payload, position, new_char), signature])
        result = verify_credential(tampered, jwks, None, NOW)
        assert result.outcome is expected_for(new_char), (position, new_char)
        assert result.mentor_name is None, "unsigned content is never reported"
        seen.add(result.outcome)
    assert seen == {VerificationOutcome.ALTERED, VerificationOutcome.MALFORMED}


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_replacing_a_payload_byte_with_any_character(
    token: str, keyring: KeyRing, data: st.DataObject
) -> None:
    header, payload, signature = segments(token)
    position = data.draw(st.integers(0, len(payload) - 1), label="position")
    new_char = data.draw(st.characters().filter(lambda c: c != payload[position]), label="char")
    tampered = ".".join([header, flip(payload, position, new_char), signature])
    assert verify_credential(tampered, keyring.jwks(), None, NOW).outcome is expected_for(new_char)


def test_changing_the_payload_content_and_re_encoding_is_altered(
    token: str, keyring: KeyRing
) -> None:
    header, payload, signature = segments(token)
    claims = decode_segment(payload)
    claims["credentialSubject"]["identifier"][0]["identityHash"] = "Mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    result = verify_credential(".".join([header, forged, signature]), keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.ALTERED
    assert "Mallory" not in result.explanation


def test_flipping_signature_bytes_is_altered(token: str, keyring: KeyRing) -> None:
    header, payload, signature = segments(token)
    for position in range(0, len(signature) - 1, 7):  # the last char may hold padding bits
        new_char = "A" if signature[position] != "A" else "B"
        tampered = ".".join([header, payload, flip(signature, position, new_char)])
        assert verify_credential(tampered, keyring.jwks(), None, NOW).outcome is (
            VerificationOutcome.ALTERED
        )


def test_signed_with_a_key_not_in_the_jwks_is_unknown_key(
    keyring: KeyRing, other_keyring: KeyRing
) -> None:
    signed = sign_credential(build_credential(make_facts(), ISSUER), other_keyring, ISSUED)
    result = verify_credential(signed, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.UNKNOWN_KEY
    assert other_keyring.active_kid in result.explanation


def test_same_kid_but_another_key_is_altered(keyring: KeyRing, other_keyring: KeyRing) -> None:
    impostor = other_keyring.model_copy(
        update={
            "active_kid": keyring.active_kid,
            "keys": (other_keyring.active.model_copy(update={"kid": keyring.active_kid}),),
        }
    )
    signed = sign_credential(build_credential(make_facts(), ISSUER), impostor, ISSUED)
    assert jwt.get_unverified_header(signed)["kid"] == keyring.active_kid
    result = verify_credential(signed, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.ALTERED
    assert result.explanation.startswith("The certificate has been altered: its signature")


def test_expired_and_not_yet_valid(keyring: KeyRing) -> None:
    until = ISSUED + timedelta(days=365)
    signed = sign_credential(
        build_credential(make_facts(valid_until=until), ISSUER), keyring, ISSUED
    )
    assert decode_segment(segments(signed)[1])["exp"] == int(until.timestamp())
    assert verify_credential(signed, keyring.jwks(), None, until - timedelta(seconds=1)).ok
    expired = verify_credential(signed, keyring.jwks(), None, until)
    assert expired.outcome is VerificationOutcome.EXPIRED
    assert expired.explanation.endswith("expired on 2027-05-01T12:00:00Z.")
    early = verify_credential(signed, keyring.jwks(), None, ISSUED - timedelta(seconds=1))
    assert early.outcome is VerificationOutcome.NOT_YET_VALID


def test_revoked(token: str, keyring: KeyRing) -> None:
    revocations = RevocationList(
        issuer_id=ISSUER.id,
        issued_at=NOW,
        entries=(
            Revocation(
                credential_id=make_facts().credential_id,
                reason="issued to the wrong mentor",
                revoked_at=NOW - timedelta(days=1),
            ),
        ),
    )
    signed_list = sign_revocations(revocations, keyring, NOW)
    trusted = read_revocations(signed_list, keyring.jwks(), expected_issuer=ISSUER.id)
    assert trusted == revocations
    result = verify_credential(token, keyring.jwks(), trusted, NOW)
    assert result.outcome is VerificationOutcome.REVOKED
    assert result.revocation is not None
    assert result.explanation == (
        "Certified Research Mentor for Ada Lovelace (urn:uuid:6f1c6a4e-2f1b-4c55-9d57-"
        "1b8c2d0e9a11) was revoked by Example University Research Mentoring Program "
        "(https://mentoring.example.edu/issuer) on 2026-05-31: issued to the wrong mentor."
    )
    clean = RevocationList(issuer_id=ISSUER.id, issued_at=NOW)
    ok = verify_credential(token, keyring.jwks(), clean, NOW)
    assert ok.ok
    assert ok.explanation.endswith("not revoked as of the revocation list of 2026-06-01T09:00:00Z.")


def test_revocation_lists_must_be_genuine_and_the_issuers_own(
    token: str, keyring: KeyRing, other_keyring: KeyRing
) -> None:
    listing = RevocationList(issuer_id=ISSUER.id, issued_at=NOW)
    forged = sign_revocations(listing, other_keyring, NOW)
    with pytest.raises(RevocationListError, match="cannot be trusted: it was signed with key"):
        read_revocations(forged, keyring.jwks())
    header, payload, signature = sign_revocations(listing, keyring, NOW).split(".")
    tampered = ".".join(
        [header, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], signature]
    )
    with pytest.raises(RevocationListError, match="cannot be trusted"):
        read_revocations(tampered, keyring.jwks())
    foreign = RevocationList(issuer_id="https://elsewhere.example.org", issued_at=NOW)
    with pytest.raises(
        RevocationListError, match=re.escape("issued by https://elsewhere.example.org")
    ):
        read_revocations(sign_revocations(foreign, keyring, NOW), keyring.jwks(), "x", ISSUER.id)
    with pytest.raises(RevocationListError, match="use its issuer's revocation list"):
        verify_credential(token, keyring.jwks(), foreign, NOW)


def test_wrong_issuer(token: str, keyring: KeyRing) -> None:
    result = verify_credential(token, keyring.jwks(), None, NOW, "https://other.example.org")
    assert result.outcome is VerificationOutcome.WRONG_ISSUER
    assert verify_credential(token, keyring.jwks(), None, NOW, ISSUER.id).ok


def test_old_certificates_verify_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = init_keyring(path, now=ISSUED, rsa_bits=2048)
    old = sign_credential(build_credential(make_facts(), ISSUER), first, ISSUED)
    rotated = rotate_keyring(path, KeyAlgorithm.EDDSA, now=NOW)
    new = sign_credential(
        build_credential(
            make_facts(credential_id="urn:uuid:00000000-0000-4000-8000-000000000001"), ISSUER
        ),
        rotated,
        NOW,
    )
    published = json.loads(json.dumps(rotated.jwks()))
    assert verify_credential(old, published, None, NOW).ok
    assert verify_credential(new, published, None, NOW).ok
    stale = verify_credential(new, first.jwks(), None, NOW)
    assert stale.outcome is VerificationOutcome.UNKNOWN_KEY


def test_signed_content_that_is_not_a_certificate_is_malformed(
    token: str, keyring: KeyRing
) -> None:
    garbage = sign_jws({"hello": "world"}, keyring, CREDENTIAL_JWT_TYPE)
    result = verify_credential(garbage, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.MALFORMED
    assert result.explanation.startswith("The signature is genuine but the content is not")
    claims = decode_segment(segments(token)[1])
    claims["jti"] = "urn:uuid:00000000-0000-4000-8000-000000000002"
    mismatched = sign_jws(claims, keyring, CREDENTIAL_JWT_TYPE)
    result = verify_credential(mismatched, keyring.jwks(), None, NOW)
    assert result.outcome is VerificationOutcome.MALFORMED
    assert "JWT claim 'jti' disagrees" in result.explanation


@pytest.mark.parametrize("text", ["", "not a token", "a.b.c.d", "{}"])
def test_garbage_is_malformed(text: str, keyring: KeyRing) -> None:
    assert verify_credential(text, keyring.jwks(), None, NOW).outcome is (
        VerificationOutcome.MALFORMED
    )


def test_sign_refuses_an_incomplete_credential(keyring: KeyRing) -> None:
    with pytest.raises(CredentialError, match="lacks a usable 'validFrom' field"):
        sign_credential({"id": "urn:x", "issuer": {"id": "urn:y"}}, keyring, NOW)


# --- the verify command ---------------------------------------------------------------


def test_cli_verify(tmp_path: Path, token: str, keyring: KeyRing, tandem: Tandem) -> None:
    cert = tmp_path / credential_filename(make_facts().credential_id)
    cert.write_text(token + "\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keyring.jwks()))
    args = ["verify", str(cert), "--jwks", str(jwks), "--now", "2026-06-01T09:00:00Z"]
    valid = tandem.invoke(args)
    assert valid.exit_code == 0, valid.output
    assert valid.output.startswith("VALID: Certified Research Mentor for Ada Lovelace, issued by")

    revoked_list = RevocationList(
        issuer_id=ISSUER.id,
        issued_at=NOW,
        entries=(
            Revocation(
                credential_id=make_facts().credential_id, reason="duplicate", revoked_at=NOW
            ),
        ),
    )
    revocations = tmp_path / "revocations.jwt"
    revocations.write_text(sign_revocations(revoked_list, keyring, NOW))
    revoked = tandem.invoke([*args, "--revocations", str(revocations)])
    assert revoked.exit_code == 1
    assert revoked.output == (
        "INVALID (revoked): Certified Research Mentor for Ada Lovelace (urn:uuid:6f1c6a4e-"
        "2f1b-4c55-9d57-1b8c2d0e9a11) was revoked by Example University Research Mentoring "
        "Program (https://mentoring.example.edu/issuer) on 2026-06-01: duplicate.\n"
    )

    cert.write_text(token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:])
    altered = tandem.invoke(args)
    assert altered.exit_code == 1
    assert altered.output.startswith("INVALID (altered): The certificate has been altered")

    missing = tandem.invoke(["verify", str(tmp_path / "nope.jwt"), "--jwks", str(jwks)])
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: certificate file {tmp_path / 'nope.jwt'} does not exist\n"
