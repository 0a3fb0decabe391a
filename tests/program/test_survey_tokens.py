"""Survey tokens: the per-person survey link's signed claims."""

from __future__ import annotations

import base64
import re
import struct
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tandem.matcher.types import Role
from tandem.program.link_keys import LinkKey, LinkKeyRing, link_secrets
from tandem.program.storage.tables import Cohort
from tandem.program.tokens import (
    ExpiredTokenError,
    LinkSecrets,
    MalformedTokenError,
    TamperedTokenError,
    TokenError,
    UnsignableLinkError,
    make_survey_token,
    make_token,
    survey_token_cohort,
    verify_survey_token,
)
from tandem.prompts.surveys import SurveyName

NOW = datetime(2026, 12, 21, 14, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=42)
OLD = LinkKey(kid="0badc0de", secret=SecretStr("5e" * 32), created_at=NOW - timedelta(days=60))
NEW = LinkKey(kid="c0ffee01", secret=SecretStr("a7" * 32), created_at=NOW - timedelta(days=1))
RING = LinkKeyRing(active_kid=OLD.kid, keys=(OLD,))
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def cohort(pk: int = 3, secret: str = "") -> Cohort:
    return Cohort(
        pk=pk,
        name=f"Cohort {pk}",
        cycle="2026",
        match_run_pk=1,
        start_date=date(2026, 9, 7),
        weeks=16,
        timezone="UTC",
        send_weekday=0,
        send_time="09:00",
        secret=secret,
    )


KEYS = link_secrets(RING, cohort())


def token(**claims: object) -> str:
    values: dict[str, object] = {
        "cohort_pk": 3,
        "participant_pk": 17,
        "survey": SurveyName.CLOSING,
        "role": Role.MENTOR,
        "expires": EXPIRES,
    }
    values.update(claims)
    return make_survey_token(KEYS, **values)  # type: ignore[arg-type]


TOKEN = token()


def test_round_trip_names_the_cohort_person_role_and_survey() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{68}", TOKEN)
    assert survey_token_cohort(TOKEN) == 3
    claims = verify_survey_token(KEYS, TOKEN, now=NOW)
    assert (claims.cohort_pk, claims.participant_pk, claims.survey, claims.role) == (
        3,
        17,
        SurveyName.CLOSING,
        Role.MENTOR,
    )
    assert claims.expires == EXPIRES


@given(
    cohort_pk=st.integers(0, 2**32 - 1),
    participant_pk=st.integers(0, 2**63 - 1),
    survey=st.sampled_from(list(SurveyName)),
    role=st.sampled_from(list(Role)),
)
def test_any_claims_round_trip(
    cohort_pk: int, participant_pk: int, survey: SurveyName, role: Role
) -> None:
    made = token(cohort_pk=cohort_pk, participant_pk=participant_pk, survey=survey, role=role)
    claims = verify_survey_token(KEYS, made, now=NOW)
    assert (claims.cohort_pk, claims.participant_pk, claims.survey, claims.role) == (
        cohort_pk,
        participant_pk,
        survey,
        role,
    )


def test_every_token_is_new() -> None:
    assert len({token() for _ in range(50)}) == 50


@given(position=st.integers(0, 67), replacement=st.sampled_from(ALPHABET))
def test_a_changed_character_is_refused(position: int, replacement: str) -> None:
    if replacement == TOKEN[position]:
        return
    changed = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    with pytest.raises((TamperedTokenError, MalformedTokenError)):
        verify_survey_token(KEYS, changed, now=NOW)


@given(text=st.text(max_size=100))
def test_untrusted_text_is_refused_with_a_token_error_only(text: str) -> None:
    with pytest.raises(TokenError):
        verify_survey_token(KEYS, text, now=NOW)


@given(raw=st.binary(min_size=51, max_size=51))
def test_any_68_characters_that_are_not_signed_are_refused(raw: bytes) -> None:
    forged = base64.urlsafe_b64encode(raw).decode()
    with pytest.raises(TokenError):
        verify_survey_token(KEYS, forged, now=NOW)


def test_claims_cannot_be_rewritten_without_the_key() -> None:
    raw = bytearray(base64.urlsafe_b64decode(TOKEN))
    raw[5:13] = struct.pack(">Q", 18)  # another person
    with pytest.raises(TamperedTokenError):
        verify_survey_token(KEYS, base64.urlsafe_b64encode(bytes(raw)).decode(), now=NOW)


def test_another_cohorts_keys_do_not_verify_it() -> None:
    with pytest.raises(TamperedTokenError):
        verify_survey_token(link_secrets(RING, cohort(4)), TOKEN, now=NOW)


def test_a_checkin_token_is_not_a_survey_token_nor_the_other_way() -> None:
    checkin = make_token(KEYS, pair_id=17, week=16, role="mentor", expires=EXPIRES)
    with pytest.raises(MalformedTokenError):
        verify_survey_token(KEYS, checkin, now=NOW)
    with pytest.raises(MalformedTokenError):
        survey_token_cohort(checkin)
    from tandem.program.tokens import verify_token

    with pytest.raises(MalformedTokenError):
        verify_token(KEYS, TOKEN, now=NOW)


def test_expiry() -> None:
    assert verify_survey_token(KEYS, TOKEN, now=EXPIRES - timedelta(seconds=1))
    with pytest.raises(ExpiredTokenError, match="expired on 2027-02-01 14:00 UTC"):
        verify_survey_token(KEYS, TOKEN, now=EXPIRES)


def test_a_rotated_key_still_verifies_the_links_it_signed() -> None:
    rotated = LinkKeyRing(
        active_kid=NEW.kid, keys=(NEW, OLD.model_copy(update={"retired_at": NOW}))
    )
    keys = link_secrets(rotated, cohort())
    assert verify_survey_token(keys, TOKEN, now=NOW).participant_pk == 17
    fresh = make_survey_token(
        keys, cohort_pk=3, participant_pk=17, survey="baseline", role="mentee", expires=EXPIRES
    )
    assert base64.urlsafe_b64decode(fresh)[23:27] == bytes.fromhex(NEW.kid)
    with pytest.raises(TamperedTokenError):  # the old ring never knew the new key
        verify_survey_token(KEYS, fresh, now=NOW)
    dropped = link_secrets(LinkKeyRing(active_kid=NEW.kid, keys=(NEW,)), cohort())
    with pytest.raises(TamperedTokenError):  # a key dropped from the file verifies nothing
        verify_survey_token(dropped, TOKEN, now=NOW)


def test_a_cohort_of_an_earlier_version_signs_with_its_own_secret() -> None:
    legacy = link_secrets(None, cohort(secret="ab" * 32))
    made = make_survey_token(
        legacy, cohort_pk=3, participant_pk=5, survey="followup", role="mentor", expires=EXPIRES
    )
    assert verify_survey_token(legacy, made, now=NOW).survey is SurveyName.FOLLOWUP
    with pytest.raises(TamperedTokenError):
        verify_survey_token(KEYS, made, now=NOW)
    with pytest.raises(UnsignableLinkError):
        make_survey_token(
            LinkSecrets(signing=None),
            cohort_pk=3,
            participant_pk=5,
            survey="followup",
            role="mentor",
            expires=EXPIRES,
        )


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="aware"):
        token(expires=datetime(2027, 1, 1))
    with pytest.raises(ValueError, match="out of range"):
        token(cohort_pk=2**32)
    with pytest.raises(ValueError, match="exit"):
        token(survey="exit")
    with pytest.raises(ValueError, match="aware"):
        verify_survey_token(KEYS, TOKEN, now=datetime(2027, 1, 1))
