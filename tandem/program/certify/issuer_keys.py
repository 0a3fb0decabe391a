"""The program's issuer key ring: create, rotate, export as a JWK Set, sign and check JWS.

The key ring is a JSON file kept outside the database, created with mode 0600. It holds
one *active* key pair (the private key signs new certificates and revocation lists) and
the public halves of every key used before, so that certificates signed before a rotation
stay verifiable with the exported JWK Set. A rotated-out key's private half is discarded.

Key ids (``kid``) are RFC 7638 JWK thumbprints, so the same key always has the same id.

File layout (``format`` guards against reading something else)::

    {"format": "tandem-issuer-keys/1", "active_kid": "...",
     "keys": [{"kid", "alg", "created_at", "retired_at", "public_jwk", "private_key_pem"}]}

Signature checks (:func:`check_jws`) are pure and offline: a compact JWS and a JWK Set in,
a :class:`SignatureCheck` out.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tandem.program.certify.key_names import DEFAULT_KEYS_FILE as DEFAULT_KEYS_FILE
from tandem.program.certify.key_names import KeyAlgorithm
from tandem.program.errors import ProgramError

KEYRING_FORMAT = "tandem-issuer-keys/1"
DEFAULT_RSA_BITS = 3072

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class KeyFileError(ProgramError):
    """The key ring or a JWK Set cannot be created, read or used."""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be a timezone-aware datetime (UTC)")
    return value


class IssuerKey(BaseModel):
    """One key of the ring; ``private_key_pem`` is set for the active key only."""

    model_config = ConfigDict(frozen=True)

    kid: str = Field(min_length=1)
    alg: KeyAlgorithm
    created_at: datetime
    retired_at: datetime | None = None
    public_jwk: dict[str, str]
    private_key_pem: SecretStr | None = None

    @field_validator("created_at")
    @classmethod
    def _check_created(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator("retired_at")
    @classmethod
    def _check_retired(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)


class KeyRing(BaseModel):
    """The issuer's keys: exactly one active signing key plus retired public keys."""

    model_config = ConfigDict(frozen=True)

    active_kid: str
    keys: tuple[IssuerKey, ...] = Field(min_length=1)

    @property
    def active(self) -> IssuerKey:
        """The key that signs new certificates."""
        for key in self.keys:
            if key.kid == self.active_kid:
                return key
        raise KeyFileError(f"the key ring names active key {self.active_kid!r} but lacks it")

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set to publish: the active key first, then older keys by date."""
        ordered = sorted(
            self.keys, key=lambda k: (k.kid != self.active_kid, -k.created_at.timestamp(), k.kid)
        )
        return {"keys": [dict(key.public_jwk) for key in ordered]}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 thumbprint over the required members, base64url(SHA-256)."""
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def generate_key(alg: KeyAlgorithm, now: datetime, rsa_bits: int = DEFAULT_RSA_BITS) -> IssuerKey:
    """A new key pair for ``alg``; its ``kid`` is the JWK thumbprint of the public key."""
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if alg is KeyAlgorithm.RS256:
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        public_jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        public_jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk = {k: str(v) for k, v in public_jwk.items() if k in ("kty", "n", "e", "crv", "x")}
    kid = _thumbprint(jwk)
    jwk.update({"kid": kid, "alg": alg.value, "use": "sig"})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return IssuerKey(
        kid=kid,
        alg=alg,
        created_at=_aware(now),
        public_jwk=dict(sorted(jwk.items())),
        private_key_pem=SecretStr(pem),
    )


def _serialise(keyring: KeyRing, others: Mapping[str, Any] | None = None) -> str:
    """The key file's text: ``keyring`` plus the file's other sections (``others``, e.g.
    the link-signing keys of :mod:`tandem.program.link_keys`), kept as they are."""
    keys = []
    for key in keyring.keys:
        entry: dict[str, Any] = {
            "kid": key.kid,
            "alg": key.alg.value,
            "created_at": key.created_at.isoformat(),
            "retired_at": None if key.retired_at is None else key.retired_at.isoformat(),
            "public_jwk": key.public_jwk,
        }
        if key.private_key_pem is not None:
            entry["private_key_pem"] = key.private_key_pem.get_secret_value()
        keys.append(entry)
    document = {
        **(others or {}),
        "format": KEYRING_FORMAT,
        "active_kid": keyring.active_kid,
        "keys": keys,
    }
    return json.dumps(document, indent=2) + "\n"


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600, failing if anything already exists there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists; Tandem never overwrites an issuer key file. "
            "Use `tandem keys rotate` to add a new signing key, or choose another file "
            "with --keys."
        ) from None
    except OSError as error:
        raise KeyFileError(f"cannot create key file {path}: {error.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # the umask may only narrow; make the mode exact
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def replace_file(path: Path, text: str) -> None:
    """Atomically replace the key file ``path`` with ``text``, keeping mode 0600."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def init_keyring(
    path: Path,
    alg: KeyAlgorithm = KeyAlgorithm.RS256,
    *,
    now: datetime,
    rsa_bits: int = DEFAULT_RSA_BITS,
) -> KeyRing:
    """Create a key ring with one new active key at ``path`` (mode 0600).

    Raises :class:`KeyFileError` if ``path`` already exists (it is never overwritten).
    """
    if path.exists() or path.is_symlink():
        _write_new(path, "")  # raises the "already exists" error with its advice
    key = generate_key(alg, now, rsa_bits)
    keyring = KeyRing(active_kid=key.kid, keys=(key,))
    _write_new(path, _serialise(keyring))
    return keyring


def read_private_json(
    path: Path, error_type: type[ProgramError], *, missing: str, secret: str
) -> Any:
    """The JSON document in ``path``, a file that only its owner may read (a key file).

    Raises:
        error_type: the file is missing (with the message ``missing``), cannot be read,
            or is readable by other users on a POSIX system (``secret`` names what must
            stay private), each saying how to fix it.
        ValueError: the file is not JSON (RecursionError: nested too deeply); the caller
            says what the file should have been.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_type(missing) from None
    except OSError as error:
        raise error_type(f"cannot read key file {path}: {error.strerror}") from None
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise error_type(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"{secret} must stay private: run `chmod 600 {path}`"
        )
    return json.loads(text)


def load_keyring(path: Path) -> KeyRing:
    """Read the key ring at ``path``.

    Raises :class:`KeyFileError` if the file is missing, readable by other users, or not
    a Tandem key ring.
    """
    try:
        document = read_private_json(
            path,
            KeyFileError,
            missing=(
                f"no issuer key file at {path}; create one with `tandem keys init --keys {path}` "
                "or point --keys / TANDEM_KEYS at the existing file"
            ),
            secret="the private key",
        )
        if not isinstance(document, dict) or document.get("format") != KEYRING_FORMAT:
            raise ValueError(f"format is not {KEYRING_FORMAT!r}")
        keyring = KeyRing.model_validate(
            {"active_kid": document["active_kid"], "keys": tuple(document["keys"])}
        )
        _ = keyring.active
        if keyring.active.private_key_pem is None:
            raise ValueError("the active key has no private key")
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise KeyFileError(
            f"{path} is not a usable Tandem issuer key file ({error}); "
            "restore it from your backup or create a new one with `tandem keys init`"
        ) from None
    return keyring


def rotate_keyring(
    path: Path,
    alg: KeyAlgorithm | None = None,
    *,
    now: datetime,
    rsa_bits: int = DEFAULT_RSA_BITS,
) -> KeyRing:
    """Add a new active key (same algorithm unless ``alg`` is given) and retire the old one.

    The retired key keeps its public half (old certificates stay verifiable) and loses
    its private half. The file is replaced atomically and keeps mode 0600.
    """
    old = load_keyring(path)
    others = {
        name: value
        for name, value in json.loads(path.read_text(encoding="utf-8")).items()
        if name not in ("format", "active_kid", "keys")
    }
    new_key = generate_key(alg or old.active.alg, now, rsa_bits)
    retired = tuple(
        key.model_copy(
            update={"retired_at": key.retired_at or _aware(now), "private_key_pem": None}
        )
        for key in old.keys
    )
    keyring = KeyRing(active_kid=new_key.kid, keys=(new_key, *retired))
    replace_file(path, _serialise(keyring, others))
    return keyring


def export_jwks(keyring: KeyRing) -> str:
    """The public JWK Set as JSON text, ready to publish (no private material)."""
    return json.dumps(keyring.jwks(), indent=2) + "\n"


def parse_jwks(document: object, source: str) -> dict[str, dict[str, str]]:
    """Validate a JWK Set and index its keys by ``kid``.

    Raises :class:`KeyFileError` naming ``source`` when the document is not a JWK Set.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise KeyFileError(f'{source} is not a JWK Set: expected {{"keys": [...]}}')
    indexed: dict[str, dict[str, str]] = {}
    for position, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str):
            raise KeyFileError(f"{source}: key #{position + 1} has no string 'kid'")
        if jwk.get("kty") not in ("RSA", "OKP") or any(
            k in jwk for k in ("d", "p", "q", "dp", "dq", "qi")
        ):
            raise KeyFileError(
                f"{source}: key {jwk['kid']!r} is not a public RSA or OKP key; "
                "export the JWK Set with `tandem keys export-jwks`"
            )
        indexed[jwk["kid"]] = {str(k): str(v) for k, v in jwk.items()}
    return indexed


@functools.lru_cache(maxsize=4)
def _load_private_pem(pem: str) -> Any:
    # Loading checks an RSA key's consistency (~0.15 s for 3072 bits); signing a batch of
    # certificates must not pay that each time.
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


def _private_key(key: IssuerKey) -> Any:
    if key.private_key_pem is None:
        raise KeyFileError(f"key {key.kid} is retired and can no longer sign")
    return _load_private_pem(key.private_key_pem.get_secret_value())


def sign_jws(payload: Mapping[str, Any], keyring: KeyRing, typ: str) -> str:
    """Sign ``payload`` with the active key as a compact JWS (header ``alg``, ``kid``, ``typ``)."""
    key = keyring.active
    return jwt.encode(
        dict(payload),
        _private_key(key),
        algorithm=key.alg.value,
        headers={"kid": key.kid, "typ": typ},
    )


class SignatureStatus(StrEnum):
    """What checking a compact JWS against a JWK Set found."""

    VALID = "valid"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    ALTERED = "altered"


class SignatureCheck(BaseModel):
    """The result of :func:`check_jws`; ``payload`` is set only when the signature is valid."""

    model_config = ConfigDict(frozen=True)

    status: SignatureStatus
    detail: str
    header: dict[str, Any] | None = None
    payload: bytes | None = None


def check_jws(token: str, jwks: Mapping[str, Mapping[str, str]], typ: str) -> SignatureCheck:
    """Check a compact JWS's signature against ``jwks`` (from :func:`parse_jwks`).

    The signature is checked over the exact ASCII signing input, before the payload is
    decoded, so any change to the header or payload segments is ``altered`` as long as the
    token is still a syntactically valid compact JWS; a token that is not one (wrong
    number of segments, characters outside the base64url alphabet, a header that is not
    JSON naming ``alg`` and ``kid``, an algorithm Tandem does not accept, another ``typ``)
    is ``malformed``. A ``kid`` absent from the JWK Set is ``unknown_key``.
    """
    segments = token.split(".")
    if len(segments) != 3:
        return SignatureCheck(
            status=SignatureStatus.MALFORMED,
            detail=f"it is not a compact JWS (expected 3 dot-separated parts, found "
            f"{len(segments)})",
        )
    header_b64, payload_b64, signature_b64 = segments
    try:
        header = json.loads(_b64url_decode(header_b64))
        signature = _b64url_decode(signature_b64)
        _b64url_decode(payload_b64)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        # RecursionError: a header nested thousands of levels deep, refused before any
        # signature check like any other unreadable header.
        return SignatureCheck(
            status=SignatureStatus.MALFORMED,
            detail="a part of the token is not valid base64url or its header is not JSON",
        )
    if not isinstance(header, dict) or not isinstance(header.get("kid"), str):
        return SignatureCheck(
            status=SignatureStatus.MALFORMED, detail="its header names no signing key (kid)"
        )
    alg = header.get("alg")
    if alg not in {a.value for a in KeyAlgorithm}:
        return SignatureCheck(
            status=SignatureStatus.MALFORMED,
            detail=f"it uses signature algorithm {alg!r}; Tandem accepts only RS256 and EdDSA",
            header=header,
        )
    if header.get("typ") != typ:
        return SignatureCheck(
            status=SignatureStatus.MALFORMED,
            detail=f"its header type is {header.get('typ')!r}, not {typ!r}",
            header=header,
        )
    jwk = jwks.get(header["kid"])
    if jwk is None:
        return SignatureCheck(
            status=SignatureStatus.UNKNOWN_KEY,
            detail=f"it was signed with key {header['kid']}, which is not in the issuer's "
            "published key set",
            header=header,
        )
    expected_kty = "RSA" if alg == KeyAlgorithm.RS256 else "OKP"
    if jwk.get("kty") != expected_kty or jwk.get("alg", alg) != alg:
        return SignatureCheck(
            status=SignatureStatus.ALTERED,
            detail=f"its header claims algorithm {alg} but key {header['kid']} is not an {alg} key",
            header=header,
        )
    algorithm = jwt.get_algorithm_by_name(alg)
    try:
        public_key = algorithm.from_jwk(dict(jwk))
    except (jwt.exceptions.InvalidKeyError, ValueError, KeyError) as error:
        raise KeyFileError(f"key {header['kid']} in the JWK Set is unusable: {error}") from None
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    try:
        valid = algorithm.verify(signing_input, public_key, signature)
    except InvalidSignature:  # pragma: no cover - PyJWT returns False instead
        valid = False
    if not valid:
        return SignatureCheck(
            status=SignatureStatus.ALTERED,
            detail=f"its signature does not match its content under key {header['kid']}: "
            "the file was changed after signing, or signed with a different key",
            header=header,
        )
    return SignatureCheck(
        status=SignatureStatus.VALID,
        detail=f"signature checked with key {header['kid']}",
        header=header,
        payload=_b64url_decode(payload_b64),
    )
