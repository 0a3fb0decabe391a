"""The issuer key ring: file safety, rotation, JWK Set export, JWS checks, CLI."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from tandem.program.certify.issuer_keys import (
    KEYRING_FORMAT,
    KeyAlgorithm,
    KeyFileError,
    SignatureStatus,
    check_jws,
    export_jwks,
    init_keyring,
    load_keyring,
    parse_jwks,
    rotate_keyring,
    sign_jws,
)
from tandem.program.link_keys import load_link_keys
from tests.conftest import Tandem

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2027, 5, 1, 12, 0, tzinfo=UTC)
BITS = 2048  # test speed; the default (3072) is exercised by the CLI test


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_file_with_one_active_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyring = init_keyring(path, now=NOW, rsa_bits=BITS)
    assert mode(path) == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == KEYRING_FORMAT
    assert document["active_kid"] == keyring.active_kid
    [entry] = document["keys"]
    assert entry["alg"] == "RS256"
    assert entry["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert load_keyring(path) == keyring


def test_init_ignores_a_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        path = tmp_path / "keys.json"
        init_keyring(path, KeyAlgorithm.EDDSA, now=NOW)
    finally:
        os.umask(old)
    assert mode(path) == 0o600


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("precious")
    with pytest.raises(KeyFileError, match="already exists; Tandem never overwrites") as info:
        init_keyring(path, now=NOW, rsa_bits=BITS)
    assert "tandem keys rotate" in str(info.value)
    assert path.read_text() == "precious"


def test_load_refuses_a_key_file_other_users_can_read(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    init_keyring(path, KeyAlgorithm.EDDSA, now=NOW)
    path.chmod(0o644)
    with pytest.raises(KeyFileError) as info:
        load_keyring(path)
    assert str(info.value) == (
        f"{path} is readable by other users (mode 0644); the private key must stay private: "
        f"run `chmod 600 {path}`"
    )


def test_load_explains_a_missing_or_foreign_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(KeyFileError) as info:
        load_keyring(missing)
    assert str(info.value) == (
        f"no issuer key file at {missing}; create one with `tandem keys init --keys {missing}` "
        "or point --keys / TANDEM_KEYS at the existing file"
    )
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    deep.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a usable Tandem issuer key file"):
        load_keyring(deep)
    other = tmp_path / "other.json"
    other.write_text('{"keys": []}')
    other.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a usable Tandem issuer key file"):
        load_keyring(other)


def test_rotation_keeps_old_public_keys_and_drops_old_private_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = init_keyring(path, now=NOW, rsa_bits=BITS)
    second = rotate_keyring(path, KeyAlgorithm.EDDSA, now=LATER)
    assert mode(path) == 0o600
    assert second.active_kid != first.active_kid
    assert second.active.alg is KeyAlgorithm.EDDSA
    old = next(k for k in second.keys if k.kid == first.active_kid)
    assert old.private_key_pem is None
    assert old.retired_at == LATER
    assert old.public_jwk == first.active.public_jwk
    assert load_keyring(path) == second
    assert [k["kid"] for k in second.jwks()["keys"]] == [second.active_kid, first.active_kid]
    assert not list(tmp_path.glob(".keys.json.*")), "no temporary file left behind"


def test_exported_jwks_holds_public_keys_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    init_keyring(path, now=NOW, rsa_bits=BITS)
    keyring = rotate_keyring(path, now=LATER, rsa_bits=BITS)
    document = json.loads(export_jwks(keyring))
    assert len(document["keys"]) == 2
    for jwk in document["keys"]:
        assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
        assert jwk["use"] == "sig"
    assert set(parse_jwks(document, "test")) == {k.kid for k in keyring.keys}


def test_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    keyring = init_keyring(tmp_path / "k.json", KeyAlgorithm.EDDSA, now=NOW)
    jwk = jwt.PyJWK(keyring.active.public_jwk)
    # RFC 7638 section 3.1 computed independently with the cryptography primitives
    import base64
    import hashlib

    members = {k: keyring.active.public_jwk[k] for k in ("crv", "kty", "x")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert keyring.active_kid == expected.decode()
    assert jwk.key_id == keyring.active_kid


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "is not a JWK Set"),
        ({"keys": [{"kty": "RSA"}]}, "key #1 has no string 'kid'"),
        ({"keys": [{"kid": "a", "kty": "RSA", "n": "x", "e": "AQAB", "d": "s"}]}, "not a public"),
        ({"keys": [{"kid": "a", "kty": "oct", "k": "x"}]}, "not a public RSA or OKP key"),
    ],
)
def test_parse_jwks_rejects_what_is_not_a_public_key_set(document: object, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_jwks(document, "keys.json")


def test_check_jws_statuses(tmp_path: Path) -> None:
    keyring = init_keyring(tmp_path / "k.json", KeyAlgorithm.EDDSA, now=NOW)
    keys = parse_jwks(keyring.jwks(), "test")
    token = sign_jws({"hello": "world"}, keyring, "test+jwt")
    good = check_jws(token, keys, "test+jwt")
    assert good.status is SignatureStatus.VALID
    assert json.loads(good.payload or b"") == {"hello": "world"}
    assert check_jws(token, keys, "other+jwt").status is SignatureStatus.MALFORMED
    assert check_jws("a.b", keys, "test+jwt").status is SignatureStatus.MALFORMED
    assert check_jws(token + "\n", keys, "test+jwt").status is SignatureStatus.MALFORMED
    assert check_jws(token, {}, "test+jwt").status is SignatureStatus.UNKNOWN_KEY
    unsigned = jwt.encode({"hello": "world"}, "", algorithm="none", headers={"kid": "x"})
    none_check = check_jws(unsigned, keys, "test+jwt")
    assert none_check.status is SignatureStatus.MALFORMED
    assert "Tandem accepts only RS256 and EdDSA" in none_check.detail


def test_cli_keys_init_rotate_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tandem: Tandem
) -> None:
    monkeypatch.chdir(tmp_path)
    created = tandem.invoke(["keys", "init", "--now", "2026-05-01T12:00:00Z"])
    assert created.exit_code == 0, created.output
    path = tmp_path / "tandem-keys.json"
    keyring = load_keyring(path)
    links = load_link_keys(path)
    assert links is not None
    assert created.output == (
        f"Created key file tandem-keys.json (mode 0600) with RS256 issuer key "
        f"{keyring.active_kid} and link-signing key {links.active_kid}.\n"
        "Keep it out of the database and version control, back it up, give it to every "
        "`tandem tick`, `tandem scheduler run` and `tandem serve` (--keys or TANDEM_KEYS), "
        "and publish the public keys with `tandem keys export-jwks`.\n"
    )
    assert jwt.PyJWK(keyring.active.public_jwk).key.key_size == 3072

    again = tandem.invoke(["keys", "init"])
    assert again.exit_code == 1
    assert again.stderr.startswith("Error: ") and "already exists" in again.stderr

    monkeypatch.setenv("TANDEM_KEYS", str(path))
    rotated = tandem.invoke(["keys", "rotate", "--alg", "EdDSA"])
    assert rotated.exit_code == 0, rotated.output
    new = load_keyring(path)
    assert rotated.output.startswith(f"New EdDSA signing key {new.active_kid}; 1 older public key")

    printed = tandem.invoke(["keys", "export-jwks"])
    assert json.loads(printed.output) == new.jwks()
    written = tandem.invoke(["keys", "export-jwks", "--out", "jwks.json"])
    assert written.output == "Wrote the public key set (2 keys) to jwks.json.\n"
    assert json.loads((tmp_path / "jwks.json").read_text()) == new.jwks()
