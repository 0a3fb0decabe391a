"""Stored rows become matcher profiles: the bulk load gives exactly the validated profiles.

:func:`roster.load_profiles` skips pydantic validation for rows that are already what it
would give; these tests hold it to ``Profile(**fields)`` field by field (types included)
on varied rows, and to the very same errors for rows that validation refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, insert, update
from sqlmodel import col

from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Profile, Role
from tandem.program.roster import store as roster
from tandem.program.storage.tables import Participant

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def row(role: Role, external_id: str, **values: Any) -> dict[str, Any]:
    """A participant row as stored, with every column a profile reads."""
    base: dict[str, Any] = {
        "role": role.value,
        "external_id": external_id,
        "name": f"Person {external_id}",
        "email": f"{external_id.lower()}@uni.edu",
        "email_key": f"{external_id.lower()}@uni.edu",
        "capacity": 2 if role is Role.MENTOR else None,
        "career_stage": None,
        "institution": None,
        "department": None,
        "research_areas": [],
        "research_interests": "",
        "topics": [],
        "timezone": None,
        "languages": [],
        "meeting_modes": [],
        "excluded": [],
        "identity_consent": False,
        "identity": [],
        "identity_preferences": [],
        "custom": {},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return {**base, **values}


VARIED = [
    row(Role.MENTEE, "E1"),
    row(
        Role.MENTEE,
        "E2",
        name="Zoë Ångström",
        career_stage="graduate_student",
        institution="Uni A",
        department="Physics",
        research_areas=["quantum optics", "lasers"],
        research_interests="Cold atoms; Bose–Einstein condensates",
        topics=["publishing", "grant_writing", "publishing"],
        timezone="Europe/Berlin",
        languages=["german", "english"],
        meeting_modes=["video", "in_person"],
        excluded=["M2"],
        identity_consent=True,
        identity=["first-generation"],
        identity_preferences=["first-generation", "parent"],
        custom={"lab": "B", "field": "physics"},
    ),
    # Identity columns without consent are never read.
    row(Role.MENTEE, "E3", identity=["parent"], identity_preferences=["parent"]),
    row(Role.MENTEE, "E4", identity_consent=True, custom={"field": ""}),
    # The same lists as E2 (shared by the bulk load) and a consent with empty lists.
    row(
        Role.MENTEE,
        "E5",
        research_areas=["quantum optics", "lasers"],
        topics=["publishing", "grant_writing", "publishing"],
        languages=["german", "english"],
        identity_consent=True,
    ),
    row(Role.MENTOR, "M1", capacity=0, career_stage="senior_faculty", topics=["teaching"]),
    row(Role.MENTOR, "M2", capacity=None, meeting_modes=["async"], excluded=["E1", "E3"]),
    row(
        Role.MENTOR,
        "M3",
        capacity=6,
        career_stage="postdoc",
        research_areas=["lasers"],
        timezone="America/Chicago",
        identity_consent=True,
        identity=["parent"],
        identity_preferences=[],
        custom={"field": "physics", "lab": "A"},
    ),
    # An id that is also a mentee's, in the other role.
    row(Role.MENTOR, "E2", email="e2-mentor@uni.edu", email_key="e2-mentor@uni.edu"),
]


def store(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Participant), rows)


def validated(stored: dict[str, Any]) -> Profile:
    """What the rows gave before the bulk load: ``Profile`` validated field by field."""
    consent = stored["identity_consent"]
    return Profile(
        id=stored["external_id"],
        role=Role(stored["role"]),
        name=stored["name"],
        email=stored["email"],
        capacity=stored["capacity"] or 0,
        career_stage=CareerStage(stored["career_stage"]) if stored["career_stage"] else None,
        institution=stored["institution"],
        department=stored["department"],
        research_areas=tuple(stored["research_areas"]),
        research_interests=stored["research_interests"],
        topics=tuple(MentoringTopic(t) for t in stored["topics"]),
        timezone=stored["timezone"],
        languages=tuple(stored["languages"]),
        meeting_modes=tuple(MeetingMode(m) for m in stored["meeting_modes"]),
        excluded=tuple(stored["excluded"]),
        identity_consent=consent,
        identity=tuple(stored["identity"]) if consent else (),
        identity_preferences=tuple(stored["identity_preferences"]) if consent else (),
        custom=tuple(sorted(stored["custom"].items())),
    )


def assert_same(loaded: Profile, expected: Profile) -> None:
    """Equal, and indistinguishable: same state, field order and value types."""
    assert loaded == expected
    assert loaded.__getstate__() == expected.__getstate__()
    assert list(vars(loaded)) == list(vars(expected))
    assert [type(v) for v in vars(loaded).values()] == [type(v) for v in vars(expected).values()]
    for name, value in vars(loaded).items():
        if isinstance(value, tuple):
            assert [type(v) for v in value] == [type(v) for v in getattr(expected, name)], name
    assert loaded.model_dump(mode="json") == expected.model_dump(mode="json")
    assert repr(loaded) == repr(expected)


def test_bulk_load_gives_exactly_the_validated_profiles(engine: Engine) -> None:
    store(engine, VARIED)
    mentees, mentors = roster.load_profiles(engine)
    by_role: dict[Role, list[dict[str, Any]]] = {Role.MENTEE: [], Role.MENTOR: []}
    for stored in VARIED:
        by_role[Role(stored["role"])].append(stored)
    for loaded, rows in ((mentees, by_role[Role.MENTEE]), (mentors, by_role[Role.MENTOR])):
        expected = [validated(r) for r in sorted(rows, key=lambda r: r["external_id"])]
        assert [p.id for p in loaded] == [p.id for p in expected]
        for profile, want in zip(loaded, expected, strict=True):
            assert_same(profile, want)
    # Loaded profiles behave as validated ones: frozen, copyable.
    with pytest.raises(ValidationError):
        mentees[0].name = "x"  # type: ignore[misc]
    assert mentors[0].model_copy(update={"capacity": 3}).capacity == 3


def test_participant_profile_of_an_orm_row_is_the_validated_profile(engine: Engine) -> None:
    store(engine, VARIED)
    stored = {(r.role, r.external_id): r for r in roster.list_participants(engine)}
    for expected_row in VARIED:
        orm_row = stored[(expected_row["role"], expected_row["external_id"])]
        assert_same(roster.participant_profile(orm_row), validated(expected_row))


def test_loading_twice_gives_equal_profiles(engine: Engine) -> None:
    store(engine, VARIED)
    assert roster.load_profiles(engine) == roster.load_profiles(engine)


BAD_ROWS = [
    ("capacity", -1),
    ("name", ""),
    ("email", "a@"),
    ("external_id", ""),
    ("research_areas", ["ok", 7]),
    ("languages", [None]),
    ("custom", {"field": 3}),
]


@pytest.mark.parametrize(("column", "value"), BAD_ROWS)
def test_a_row_that_validation_refuses_fails_as_ever(
    engine: Engine, column: str, value: Any
) -> None:
    good = row(Role.MENTOR, "M1")
    store(engine, [row(Role.MENTEE, "E1"), good])
    with engine.begin() as connection:
        connection.execute(
            update(Participant).where(col(Participant.external_id) == "M1").values({column: value})
        )
    with pytest.raises(ValidationError) as expected:
        validated({**good, column: value})
    with pytest.raises(ValidationError) as loaded:
        roster.load_profiles(engine)
    assert loaded.value.errors() == expected.value.errors()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("topics", ["not_a_topic"], "'not_a_topic' is not a valid MentoringTopic"),
        ("meeting_modes", ["carrier_pigeon"], "'carrier_pigeon' is not a valid MeetingMode"),
        ("career_stage", "emeritus", "'emeritus' is not a valid CareerStage"),
    ],
)
def test_a_value_outside_a_vocabulary_fails_as_ever(
    engine: Engine, column: str, value: Any, message: str
) -> None:
    store(engine, [row(Role.MENTEE, "E1", **{column: value}), row(Role.MENTOR, "M1")])
    with pytest.raises(ValueError, match=message):
        roster.load_profiles(engine)


def test_identity_lists_are_dropped_without_consent_even_when_stored(engine: Engine) -> None:
    store(engine, [row(Role.MENTEE, "E1", identity=[1], identity_preferences=["x"])])
    (mentee,), _ = roster.load_profiles(engine)
    assert mentee.identity == () and mentee.identity_preferences == ()


def test_the_loaders_shortcut_knows_every_rule_of_profile() -> None:
    """The shortcut in ``roster._profile`` re-checks these rules by hand. A new field,
    constraint or validator on :class:`Profile` must be checked there too: this test
    fails until the list below (and the shortcut) are updated."""
    fields = {name: str(field.annotation) for name, field in Profile.model_fields.items()}
    constraints = {
        name: [repr(m) for m in field.metadata]
        for name, field in Profile.model_fields.items()
        if field.metadata
    }
    decorators = Profile.__pydantic_decorators__
    assert list(fields) == [
        "id", "role", "name", "email", "capacity", "career_stage", "institution",
        "department", "research_areas", "research_interests", "topics", "timezone",
        "languages", "meeting_modes", "excluded", "identity_consent", "identity",
        "identity_preferences", "custom",
    ]  # fmt: skip
    assert constraints == {
        "id": ["MinLen(min_length=1)"],
        "name": ["MinLen(min_length=1)"],
        "email": ["MinLen(min_length=3)"],
        "capacity": ["Ge(ge=0)"],
    }
    assert list(decorators.model_validators) == ["_identity_needs_consent"]
    assert not decorators.field_validators and not decorators.validators
