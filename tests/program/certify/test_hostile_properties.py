"""Generated hostile certificates, key sets, revocation lists and check-in tokens.

Whatever bytes arrive, `tandem verify` ends in one verdict line or one error line (exit 1,
no traceback), and a check-in token is either genuine or refused with a TokenError.
Bounded (30 examples each) and marked ``hostile``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.program.certify.credentials import build_credential, sign_credential
from tandem.program.certify.issuer_keys import KeyRing, init_keyring
from tandem.program.tokens import TokenError, make_token, verify_token
from tests.conftest import Tandem
from tests.program.certify.test_credentials import ISSUED, ISSUER, make_facts

pytestmark = pytest.mark.hostile

BOUNDED = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keyring(tmp_path_factory.mktemp("k") / "keys.json", now=ISSUED, rsa_bits=2048)


@pytest.fixture(scope="module")
def token(keyring: KeyRing) -> str:
    return sign_credential(build_credential(make_facts(), ISSUER), keyring, ISSUED)


@st.composite
def hostile_tokens(draw: st.DrawFn, good: str) -> str:
    """A genuine token with one part replaced, cut, or garbage of another shape."""
    header, payload, signature = good.split(".")
    kind = draw(st.sampled_from(["header", "payload", "signature", "cut", "text", "deep"]))
    if kind == "header":
        header = b64(json.dumps(draw(json_values)).encode())
    elif kind == "payload":
        payload = b64(json.dumps(draw(json_values)).encode())
    elif kind == "signature":
        signature = b64(draw(st.binary(max_size=300)))
    elif kind == "cut":
        return good[: draw(st.integers(0, len(good) - 1))]
    elif kind == "text":
        return draw(st.text(max_size=200))
    else:
        depth = draw(st.integers(1_000, 100_000))
        header = b64(b"[" * depth + b"]" * depth)
    return f"{header}.{payload}.{signature}"


def one_line(result: Any) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return str(lines[0])


def test_verify_gives_one_line_for_any_hostile_certificate(
    tmp_path: Path, keyring: KeyRing, token: str
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keyring.jwks()))
    tandem = Tandem()

    @BOUNDED
    @given(hostile_tokens(token))
    def check(text: str) -> None:
        certificate = tmp_path / "cert.jwt"
        certificate.write_text(text, encoding="utf-8")
        result = tandem("verify", certificate, "--jwks", jwks, "--now", NOW.isoformat(), expect=1)
        line = one_line(result)
        assert line.startswith(("INVALID (", "Error: ")), line

    check()


def test_verify_gives_one_line_for_any_hostile_key_set_or_revocation_list(
    tmp_path: Path, keyring: KeyRing, token: str
) -> None:
    certificate = tmp_path / "cert.jwt"
    certificate.write_text(token)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keyring.jwks()))
    tandem = Tandem()

    @BOUNDED
    @given(st.sampled_from(["jwks", "revocations"]), json_values, hostile_tokens(token))
    def check(which: str, document: object, text: str) -> None:
        bad = tmp_path / "bad"
        args: list[str | Path]
        if which == "jwks":
            bad.write_text(json.dumps(document), encoding="utf-8")
            args = ["--jwks", bad]
        else:
            bad.write_text(text, encoding="utf-8")
            args = ["--jwks", jwks, "--revocations", bad]
        result = tandem("verify", certificate, *args, "--now", NOW.isoformat(), expect=None)
        line = one_line(result)
        if result.exit_code == 0:
            assert which == "jwks" and line.startswith("VALID: ")  # a usable key set after all
        else:
            assert line.startswith(("INVALID (", "Error: ")), line

    check()


SECRET = bytes(range(32))


@BOUNDED
@given(st.data())
def test_a_check_in_token_is_genuine_or_refused_with_a_token_error(data: st.DataObject) -> None:
    genuine = make_token(SECRET, pair_id=7, week=3, role="mentee", expires=NOW + timedelta(days=21))
    kind = data.draw(st.sampled_from(["text", "flip", "cut", "bytes"]))
    if kind == "text":
        token = data.draw(st.text(max_size=120))
    elif kind == "flip":
        at = data.draw(st.integers(0, len(genuine) - 1))
        token = genuine[:at] + data.draw(st.characters(codec="utf-8")) + genuine[at + 1 :]
    elif kind == "cut":
        token = genuine[: data.draw(st.integers(0, len(genuine)))]
    else:
        token = b64(data.draw(st.binary(max_size=120)))
    try:
        claims = verify_token(SECRET, token, now=NOW)
    except TokenError:
        return
    assert token == genuine or claims.pair_id == 7  # only the genuine claims ever verify
