from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.program.tokens import (
    CheckinRole,
    ExpiredTokenError,
    MalformedTokenError,
    MismatchedTokenError,
    TamperedTokenError,
    TokenError,
    TokenFailure,
    checkin_url,
    make_token,
    new_secret,
    verify_token,
    verify_token_for,
)

SECRET = bytes(range(32))
NOW = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=14)
TOKEN = make_token(SECRET, pair_id=17, week=3, role="mentee", expires=EXPIRES)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_round_trip():
    claims = verify_token(SECRET, TOKEN, now=NOW)
    assert claims.pair_id == 17
    assert claims.week == 3
    assert claims.role is CheckinRole.MENTEE
    assert claims.expires == EXPIRES


def test_shape_is_url_safe_and_compact():
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", TOKEN)


def test_every_token_is_new_but_verifies_to_the_same_claims():
    tokens = {
        make_token(SECRET, pair_id=17, week=3, role="mentee", expires=EXPIRES) for _ in range(50)
    }
    assert len(tokens) == 50
    assert {verify_token(SECRET, t, now=NOW) for t in tokens} == {
        verify_token(SECRET, TOKEN, now=NOW)
    }


@given(position=st.integers(0, 63), replacement=st.characters())
def test_any_single_character_change_is_rejected(position, replacement):
    if replacement == TOKEN[position]:
        replacement = "A" if TOKEN[position] != "A" else "B"
    changed = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    with pytest.raises(TokenError):
        verify_token(SECRET, changed, now=NOW)


@given(position=st.integers(0, 63), replacement=st.sampled_from(ALPHABET))
def test_a_changed_character_of_the_alphabet_is_tampering(position, replacement):
    if replacement == TOKEN[position]:
        return
    changed = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    with pytest.raises((TamperedTokenError, MalformedTokenError)):
        verify_token(SECRET, changed, now=NOW)


def test_standard_base64_spelling_is_not_accepted():
    token = next(
        t
        for t in (
            make_token(SECRET, pair_id=1, week=1, role="mentor", expires=EXPIRES)
            for _ in range(1000)
        )
        if "-" in t or "_" in t
    )
    respelled = token.replace("-", "+").replace("_", "/")
    with pytest.raises(MalformedTokenError):
        verify_token(SECRET, respelled, now=NOW)


def test_claims_cannot_be_rewritten_without_the_secret():
    raw = bytearray(base64.urlsafe_b64decode(TOKEN))
    raw[1:9] = (18).to_bytes(8, "big")  # another pair
    forged = base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(TamperedTokenError) as caught:
        verify_token(SECRET, forged, now=NOW)
    assert caught.value.reason is TokenFailure.TAMPERED


def test_another_secret_is_tampering():
    with pytest.raises(TamperedTokenError):
        verify_token(new_secret(), TOKEN, now=NOW)


def test_expiry():
    assert verify_token(SECRET, TOKEN, now=EXPIRES - timedelta(seconds=1))
    with pytest.raises(ExpiredTokenError, match="expired on 2025-03-24 07:00 UTC") as caught:
        verify_token(SECRET, TOKEN, now=EXPIRES)
    assert caught.value.reason is TokenFailure.EXPIRED


@pytest.mark.parametrize("token", ["", "abc", TOKEN + "A", TOKEN[:-1], TOKEN[:-1] + "="])
def test_malformed(token):
    with pytest.raises(MalformedTokenError) as caught:
        verify_token(SECRET, token, now=NOW)
    assert caught.value.reason is TokenFailure.MALFORMED


@pytest.mark.parametrize(
    ("pair_id", "week", "role"),
    [(18, 3, None), (17, 4, None), (17, 3, "mentor")],
)
def test_token_cannot_record_for_another_pair_week_or_person(pair_id, week, role):
    with pytest.raises(MismatchedTokenError) as caught:
        verify_token_for(SECRET, TOKEN, now=NOW, pair_id=pair_id, week=week, role=role)
    assert caught.value.reason is TokenFailure.MISMATCH


def test_verify_token_for_the_right_claims():
    claims = verify_token_for(SECRET, TOKEN, now=NOW, pair_id=17, week=3, role="mentee")
    assert claims.pair_id == 17


@given(
    pair_id=st.integers(0, 2**63 - 1),
    week=st.integers(0, 2**16 - 1),
    role=st.sampled_from(list(CheckinRole)),
)
def test_claims_round_trip(pair_id, week, role):
    token = make_token(SECRET, pair_id=pair_id, week=week, role=role, expires=EXPIRES)
    claims = verify_token(SECRET, token, now=NOW)
    assert (claims.pair_id, claims.week, claims.role) == (pair_id, week, role)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="at least 16"):
        make_token(b"short", pair_id=1, week=1, role="mentor", expires=EXPIRES)
    with pytest.raises(ValueError, match="aware"):
        make_token(SECRET, pair_id=1, week=1, role="mentor", expires=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="coach"):
        make_token(SECRET, pair_id=1, week=1, role="coach", expires=EXPIRES)
    with pytest.raises(ValueError, match="aware"):
        verify_token(SECRET, TOKEN, now=datetime(2025, 1, 1))


def test_new_secret():
    assert len(new_secret()) == 32
    assert new_secret() != new_secret()


def test_checkin_url():
    url = checkin_url("https://mentoring.example.org/checkin/", TOKEN)
    assert url == f"https://mentoring.example.org/checkin/{TOKEN}"
    with pytest.raises(ValueError, match="http"):
        checkin_url("ftp://example.org", TOKEN)
    with pytest.raises(ValueError, match="query"):
        checkin_url("https://example.org/c?x=1", TOKEN)
