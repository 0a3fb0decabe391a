import pytest

from tandem.matcher.compat import SCALE
from tandem.matcher.compatibility import ProfileCompatibility
from tandem.matcher.config import MatchConfig, RulesConfig, Weights
from tandem.matcher.explain import (
    Alternative,
    ComponentReason,
    SwapCost,
    UnmatchedCause,
    UnmatchedReason,
    alternatives,
    explain_mentee,
    explain_pair,
    top_reasons,
    unmatched_reason,
    why_not,
)
from tandem.matcher.types import CareerStage, MentoringTopic

from .strategies import mentee, mentor

GRAD = CareerStage.GRADUATE_STUDENT
SENIOR = CareerStage.SENIOR_FACULTY


@pytest.fixture
def compat():
    weights = Weights(
        **{**dict.fromkeys(Weights.model_fields, 0.0), "research_areas": 1.0, "goals": 1.0}
    )
    config = MatchConfig(weights=weights, rules=RulesConfig(shared_language=False))
    mentees = [
        mentee(
            "e1",
            career_stage=GRAD,
            research_areas=("genomics", "statistics"),
            topics=(MentoringTopic.PUBLISHING,),
        ),
        mentee("e2", career_stage=GRAD, research_areas=("ecology",)),
        mentee("e3", career_stage=SENIOR, research_areas=("genomics",)),
        mentee("e4", career_stage=GRAD, research_areas=("ecology",)),
    ]
    mentors = [
        mentor(
            "r1",
            career_stage=SENIOR,
            research_areas=("genomics", "statistics"),
            topics=(MentoringTopic.PUBLISHING,),
        ),
        mentor(
            "r2",
            career_stage=CareerStage.MID_CAREER_FACULTY,
            research_areas=("ecology", "genomics"),
        ),
        mentor("r3", career_stage=SENIOR, capacity=0),
    ]
    return ProfileCompatibility(mentees, mentors, config)


ASSIGNMENT = {"e1": "r1", "e2": "r2", "e3": None, "e4": None}


def test_why_this_mentor(compat):
    pair = explain_pair(compat, "e1", "r1")
    assert pair.score == 100.0
    assert pair.points == 100 * SCALE
    assert pair.allowed
    assert pair.components == (
        ComponentReason(
            name="research_areas",
            weight=1.0,
            value=1.0,
            counted=True,
            reason="shares 2 research areas: genomics; statistics",
        ),
        ComponentReason(
            name="goals",
            weight=1.0,
            value=1.0,
            counted=True,
            reason="covers 1 of 1 goal: publishing",
        ),
    )


def test_neutral_component_is_marked_not_counted(compat):
    pair = explain_pair(compat, "e1", "r2")
    assert pair.score == 50.0
    goals = pair.components[1]
    assert (goals.value, goals.counted) == (None, False)
    assert goals.reason == "goals or expertise missing (not counted)"


def test_top_reasons(compat):
    assert top_reasons(compat, "e1", "r1") == [
        "covers 1 of 1 goal: publishing",
        "shares 2 research areas: genomics; statistics",
    ]
    assert top_reasons(compat, "e1", "r2", k=1) == ["shares 1 research area: genomics"]


def test_alternatives_are_allowed_mentors_other_than_the_assigned(compat):
    assert alternatives(compat, ASSIGNMENT, "e1") == (
        Alternative(mentor_id="r2", score=50.0, points=50 * SCALE, spare_capacity=False),
    )
    assert [a.mentor_id for a in alternatives(compat, ASSIGNMENT, "e4")] == ["r2", "r1"]


def test_why_not_a_forbidden_mentor_names_the_rule(compat):
    answer = why_not(compat, ASSIGNMENT, "e1", "r3")
    assert answer.forbidden_by == ("capacity",)
    assert answer.forbidden_because == ("capacity: mentor r3 has capacity 0",)
    assert answer.swap is None
    assert answer.score_difference is None


def test_why_not_a_full_mentor_costs_the_cohort(compat):
    answer = why_not(compat, ASSIGNMENT, "e1", "r2")
    assert answer.forbidden_by == ()
    assert answer.score == 50.0
    assert answer.assigned_score == 100.0
    assert answer.score_difference == -50.0
    assert not answer.mentor_has_spare_capacity
    # e1 gains -50; e2 leaves r2 (-100) for r1, freed by e1, where it scores 0.
    assert answer.swap == SwapCost(
        change=-150.0, change_points=-150 * SCALE, displaced_mentee_id="e2", displaced_to="r1"
    )


def test_why_not_a_mentor_with_room(compat):
    assignment = {"e1": "r1", "e2": None, "e3": None, "e4": None}
    answer = why_not(compat, assignment, "e2", "r2")
    assert answer.mentor_has_spare_capacity
    assert answer.swap == SwapCost(
        change=100.0, change_points=100 * SCALE, displaced_mentee_id=None, displaced_to=None
    )


def test_unmatched_because_a_rule_eliminates_every_mentor(compat):
    assert unmatched_reason(compat, ASSIGNMENT, "e3") == UnmatchedReason(
        mentee_id="e3",
        cause=UnmatchedCause.RULE,
        rule="mentor_more_senior",
        eliminated=3,
        mentors=3,
        allowed=0,
    )


def test_unmatched_because_feasible_mentors_are_full(compat):
    reason = unmatched_reason(compat, ASSIGNMENT, "e4")
    assert reason.cause is UnmatchedCause.FULL
    assert reason.allowed == 2


def test_explain_mentee(compat):
    matched = explain_mentee(compat, ASSIGNMENT, "e1")
    assert matched.pair == explain_pair(compat, "e1", "r1")
    assert matched.unmatched is None
    unmatched = explain_mentee(compat, ASSIGNMENT, "e3")
    assert unmatched.pair is None
    assert unmatched.alternatives == ()
    assert unmatched.unmatched is not None
    assert unmatched.unmatched.rule == "mentor_more_senior"
