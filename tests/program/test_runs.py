"""The inputs' hash stored with every match run never changes for the same profiles.

Stored runs hold ``sha256(json.dumps(TypeAdapter(list[Profile]).dump_python(profiles,
mode="json"), sort_keys=True))``; :func:`matching.profiles_hash` computes the same text
without the serialiser.
"""

from __future__ import annotations

import hashlib
import json

from hypothesis import HealthCheck, given, settings
from pydantic import TypeAdapter

from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Profile, Role
from tandem.program import runs as matching
from tests.matcher.strategies import rosters

_LIST = TypeAdapter(list[Profile])


def serialiser_hash(profiles: list[Profile]) -> str:
    text = json.dumps(_LIST.dump_python(profiles, mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rosters(max_mentees=8, max_mentors=5))
def test_profiles_hash_is_the_serialisers(roster: tuple[list[Profile], list[Profile]]) -> None:
    mentees, mentors = roster
    assert matching.profiles_hash(mentees) == serialiser_hash(mentees)
    assert matching.profiles_hash(mentors) == serialiser_hash(mentors)


def test_profiles_hash_of_a_known_roster_is_the_stored_one() -> None:
    profiles = [
        Profile(id="E1", role=Role.MENTEE, name="Zoë Ångström", email="zoe@uni.edu"),
        Profile(
            id="M1",
            role=Role.MENTOR,
            name="Ada",
            email="ada@uni.edu",
            capacity=3,
            career_stage=CareerStage.SENIOR_FACULTY,
            institution="Uni",
            research_areas=("genomics", "statistics"),
            research_interests='Single-cell "omics"\nand more',
            topics=(MentoringTopic.GRANT_WRITING, MentoringTopic.PUBLISHING),
            timezone="Europe/Berlin",
            languages=("english",),
            meeting_modes=(MeetingMode.VIDEO,),
            excluded=("E9",),
            identity_consent=True,
            identity=("parent",),
            identity_preferences=("first generation",),
            custom=(("field", "biology"), ("lab", "B")),
        ),
    ]
    # The value the serialiser gave before this hash was computed without it.
    expected = "d22faf490b0c88f550e404c10de3cec644294f7bfc1ad3a2532c1b59934d5df2"
    assert serialiser_hash(profiles) == expected
    assert matching.profiles_hash(profiles) == expected
