"""Hypothesis strategies: random valid rosters of profiles and matching configurations.

``rosters()`` draws mentees and mentors (capacity 0–6) with every profile field sometimes
missing, shared e-mails and ids across roles, exclusions and extra columns. With
``popular=True`` the mentees' interests are drawn from a few mentors' profiles, so every
mentee prefers the same mentors (correlated scores), the hard case for an optimizer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from tandem.matcher.config import (
    CustomCriterion,
    CustomMatch,
    EligibilityRule,
    GroupCap,
    MatchConfig,
    RulesConfig,
    SameInstitution,
    Weights,
)
from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Profile, Role

TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Pacific/Auckland",
)
AREAS = ("genomics", "statistics", "ecology", "neuroscience", "machine learning", "chemistry")
LANGUAGES = ("english", "spanish", "german", "french")
INSTITUTIONS = ("north university", "south institute", "east college")
DEPARTMENTS = ("biology", "physics", "medicine")
WORDS = (
    "single cell sequencing",
    "bayesian models",
    "coral reef ecology",
    "protein folding",
    "deep learning",
    "causal inference",
    "",
)
IDENTITY = ("first generation", "woman in science", "parent", "lgbtq")
REFERENCE_INSTANT = datetime(2026, 9, 1, 12, tzinfo=UTC)


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def _subset(values: tuple) -> st.SearchStrategy:
    return st.lists(st.sampled_from(values), max_size=3, unique=True).map(tuple)


@st.composite
def profiles(draw, role: Role, index: int, other_ids: list[str], like: Profile | None = None):
    """One profile; ``like`` (a popular mentor) supplies the interests of a mentee.

    ``index`` is unique within the role; ids and e-mails sometimes collide across roles
    (the same person applying as mentee and mentor).
    """
    prefix = "e" if role is Role.MENTEE else "r"
    pid = f"p{index}" if draw(st.integers(0, 9)) == 0 else f"{prefix}{index}"
    email = (
        f"person{index}@example.org"
        if draw(st.integers(0, 9)) == 0
        else f"{prefix}{index}@example.org"
    )
    consent = draw(st.booleans())
    custom = []
    if draw(st.booleans()):
        custom.append(("field", draw(st.sampled_from(("bio", "chem", "phys")))))
    if draw(st.booleans()):
        custom.append(("trained", draw(st.sampled_from(("yes", "no")))))
    areas = draw(_subset(AREAS))
    interests = draw(st.sampled_from(WORDS))
    topics = draw(_subset(tuple(MentoringTopic)))
    if like is not None:
        areas, interests, topics = like.research_areas, like.research_interests, like.topics
    return Profile(
        id=pid,
        role=role,
        name=f"Person {index}",
        email=email.upper() if draw(st.booleans()) else email,
        capacity=draw(st.integers(0, 6)) if role is Role.MENTOR else 1,
        career_stage=draw(_maybe(st.sampled_from(tuple(CareerStage)))),
        institution=draw(_maybe(st.sampled_from(INSTITUTIONS))),
        department=draw(_maybe(st.sampled_from(DEPARTMENTS))),
        research_areas=areas,
        research_interests=interests,
        topics=topics,
        timezone=draw(_maybe(st.sampled_from(TIMEZONES))),
        languages=draw(_subset(LANGUAGES)),
        meeting_modes=draw(_subset(tuple(MeetingMode))),
        excluded=tuple(draw(st.lists(st.sampled_from(other_ids), max_size=1))) if other_ids else (),
        identity_consent=consent,
        identity=draw(_subset(IDENTITY)) if consent else (),
        identity_preferences=draw(_subset(IDENTITY)) if consent else (),
        custom=tuple(sorted(custom)),
    )


@st.composite
def rosters(draw, max_mentees: int = 10, max_mentors: int = 6, popular: bool = False):
    """(mentees, mentors): unique ids per role, mentors with capacity 0–6."""
    n_mentees = draw(st.integers(1, max_mentees))
    n_mentors = draw(st.integers(1, max_mentors))
    mentee_ids = [f"e{i}" for i in range(n_mentees)]
    mentor_ids = [f"r{j}" for j in range(n_mentors)]
    mentors = [draw(profiles(Role.MENTOR, j, mentee_ids)) for j in range(n_mentors)]
    # The extra columns that configurations name exist in at least one profile.
    mentors[0] = mentors[0].model_copy(update={"custom": (("field", "bio"), ("trained", "yes"))})
    favourites = mentors[: max(1, n_mentors // 3)]
    mentees = [
        draw(
            profiles(
                Role.MENTEE,
                i,
                mentor_ids,
                like=draw(st.sampled_from(favourites)) if popular else None,
            )
        )
        for i in range(n_mentees)
    ]
    return mentees, mentors


@st.composite
def configs(draw, mentees: list[Profile], mentors: list[Profile], locks: bool = False):
    """A configuration exercising every hard rule, with pairs drawn from the roster."""
    pairs = [(a.id, b.id) for a in mentees for b in mentors]
    forbidden = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True)) if pairs else []
    locked: list[tuple[str, str]] = []
    if locks and pairs:
        for a, b in draw(st.lists(st.sampled_from(pairs), max_size=2, unique=True)):
            if a not in {x for x, _ in locked} and (a, b) not in forbidden:
                locked.append((a, b))
    eligibility = []
    if draw(st.booleans()):
        eligibility.append(EligibilityRule(role=Role.MENTOR, column="trained", equals=("yes",)))
    if draw(st.booleans()):
        eligibility.append(
            EligibilityRule(
                role=Role.MENTEE,
                column="career_stage",
                equals=("graduate_student", "postdoc"),
            )
        )
    rules = RulesConfig(
        same_institution=draw(st.sampled_from(tuple(SameInstitution))),
        max_timezone_difference=draw(_maybe(st.sampled_from((0.0, 3.0, 5.5, 9.0)))),
        shared_language=draw(st.booleans()),
        mentor_more_senior=draw(st.booleans()),
        min_stage_gap=draw(st.integers(0, 2)),
        eligibility=tuple(eligibility),
        forbidden_pairs=tuple(forbidden),
        locked_pairs=tuple(locked),
    )
    weights = Weights(
        **{name: draw(st.sampled_from((0.0, 0.5, 1.0, 3.0))) for name in Weights.model_fields}
    )
    custom = (
        (CustomCriterion(column="field", match=draw(st.sampled_from(tuple(CustomMatch)))),)
        if draw(st.booleans())
        else ()
    )
    if not custom and not any(weights.model_dump().values()):
        weights = Weights(**{**dict.fromkeys(Weights.model_fields, 0.0), "goals": 1.0})
    caps = (GroupCap(column="department", max_per_mentor=draw(st.integers(1, 2))),)
    return MatchConfig(
        weights=weights,
        rules=rules,
        custom_criteria=custom,
        group_caps=caps if draw(st.booleans()) else (),
    )


def mentee(pid: str, **fields) -> Profile:
    """A hand-made mentee for examples: name and e-mail derive from the id."""
    return Profile(id=pid, role=Role.MENTEE, name=pid, email=f"{pid}@example.org", **fields)


def mentor(pid: str, **fields) -> Profile:
    """A hand-made mentor for examples: name and e-mail derive from the id."""
    return Profile(id=pid, role=Role.MENTOR, name=pid, email=f"{pid}@example.org", **fields)
