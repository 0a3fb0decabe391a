import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.matcher.compat import FORBIDDEN
from tandem.matcher.compatibility import ProfileCompatibility
from tandem.matcher.config import (
    ConfigError,
    EligibilityRule,
    GroupCap,
    MatchConfig,
    RulesConfig,
    SameInstitution,
)
from tandem.matcher.encoding import Roster
from tandem.matcher.errors import MatcherError
from tandem.matcher.rules import (
    HARD_RULES,
    PAIR_RULES,
    RULES_BY_LABEL,
    active_pair_rules,
    validate_assignment,
)
from tandem.matcher.types import CareerStage, Role

from .strategies import REFERENCE_INSTANT, configs, mentee, mentor, rosters

OFF = RulesConfig(shared_language=False, mentor_more_senior=False)


def rules(**kw) -> MatchConfig:
    return MatchConfig(rules=OFF.model_copy(update=kw))


def labels(violations):
    return [v.label for v in violations]


def check_pair(a, b, config, label):
    """The rule forbids the pair in every use: reference check, mask, block, validator."""
    roster = Roster([a], [b], config, REFERENCE_INSTANT)
    rule = RULES_BY_LABEL[label]
    assert rule.forbids(a, b, roster)
    assert rule.mask(roster, 0, 1).tolist() == [[True]]
    compat = ProfileCompatibility([a], [b], config, REFERENCE_INSTANT)
    assert compat.forbidding_rules(a.id, b.id) == [label]
    assert compat.block(0, 1).tolist() == [[FORBIDDEN]]
    found = validate_assignment([(a.id, b.id)], [a], [b], config, REFERENCE_INSTANT)
    assert labels(found) == ([] if label == "capacity" else [label]) + (
        ["capacity"] if label == "capacity" else []
    )


def check_allowed(a, b, config):
    compat = ProfileCompatibility([a], [b], config, REFERENCE_INSTANT)
    assert compat.forbidding_rules(a.id, b.id) == []
    assert compat.block(0, 1)[0, 0] != FORBIDDEN
    assert validate_assignment({a.id: b.id}, [a], [b], config, REFERENCE_INSTANT) == []


def test_labels_are_unique_and_complete():
    assert [r.label for r in HARD_RULES] == [
        "self_pair",
        "excluded",
        "eligibility",
        "same_institution",
        "max_timezone_difference",
        "shared_language",
        "mentor_more_senior",
        "forbidden_pair",
        "locked_pair",
        "capacity",
        "group_cap",
        "one_mentor_per_mentee",
    ]
    assert all(r.meaning for r in HARD_RULES)


def test_self_pair_same_email_case_insensitive():
    a = mentee("e1").model_copy(update={"email": "Ada@Example.org"})
    b = mentor("r1").model_copy(update={"email": "ada@example.org "})
    check_pair(a, b, rules(), "self_pair")


def test_self_pair_same_id_across_roles():
    check_pair(
        mentee("p1"), mentor("p1").model_copy(update={"email": "x@y.org"}), rules(), "self_pair"
    )


@pytest.mark.parametrize("side", ["mentee", "mentor"])
def test_excluded_by_either_side(side):
    a = mentee("e1", excluded=("r1",) if side == "mentee" else ())
    b = mentor("r1", excluded=("e1",) if side == "mentor" else ())
    check_pair(a, b, rules(), "excluded")


def test_same_institution_forbidden():
    config = rules(same_institution=SameInstitution.FORBIDDEN)
    a = mentee("e1", institution="North University")
    check_pair(a, mentor("r1", institution="north  university"), config, "same_institution")
    check_allowed(a, mentor("r1", institution="South"), config)
    check_allowed(a, mentor("r1"), config)  # missing: passes


def test_same_institution_required():
    config = rules(same_institution=SameInstitution.REQUIRED)
    a = mentee("e1", institution="North")
    check_pair(a, mentor("r1", institution="South"), config, "same_institution")
    check_allowed(a, mentor("r1", institution="north"), config)
    check_allowed(mentee("e1"), mentor("r1", institution="South"), config)


def test_max_timezone_difference():
    config = rules(max_timezone_difference=3.0)
    a = mentee("e1", timezone="Europe/Berlin")  # UTC+2 in September
    check_pair(a, mentor("r1", timezone="Asia/Kolkata"), config, "max_timezone_difference")
    check_allowed(a, mentor("r1", timezone="Europe/London"), config)
    check_allowed(a, mentor("r1"), config)


def test_shared_language():
    config = rules(shared_language=True)
    a = mentee("e1", languages=("English",))
    check_pair(a, mentor("r1", languages=("German",)), config, "shared_language")
    check_allowed(a, mentor("r1", languages=("german", "english")), config)
    check_allowed(a, mentor("r1"), config)


def test_mentor_more_senior_by_a_configurable_gap():
    config = rules(mentor_more_senior=True, min_stage_gap=2)
    a = mentee("e1", career_stage=CareerStage.GRADUATE_STUDENT)
    check_pair(a, mentor("r1", career_stage=CareerStage.POSTDOC), config, "mentor_more_senior")
    check_allowed(a, mentor("r1", career_stage=CareerStage.EARLY_CAREER_FACULTY), config)
    check_allowed(a, mentor("r1"), config)  # missing stage: passes


def test_eligibility_on_an_extra_column():
    config = rules(
        eligibility=(EligibilityRule(role=Role.MENTOR, column="mentor_training", equals=("Yes",)),)
    )
    a = mentee("e1")
    check_pair(a, mentor("r1", custom=(("mentor_training", "no"),)), config, "eligibility")
    check_pair(
        mentee("e1", custom=(("mentor_training", "no"),)),
        mentor("r1", custom=(("other", "x"),)),
        config,
        "eligibility",
    )  # a missing value is not eligible
    check_allowed(a, mentor("r1", custom=(("mentor_training", "yes"),)), config)


def test_eligibility_on_a_built_in_field():
    config = rules(
        eligibility=(
            EligibilityRule(role=Role.MENTEE, column="career_stage", equals=("Graduate student",)),
        )
    )
    b = mentor("r1")
    check_pair(mentee("e1", career_stage=CareerStage.POSTDOC), b, config, "eligibility")
    check_allowed(mentee("e1", career_stage=CareerStage.GRADUATE_STUDENT), b, config)


def test_eligibility_column_must_exist():
    config = rules(
        eligibility=(EligibilityRule(role=Role.MENTOR, column="mentor_trainig", equals=("y",)),)
    )
    with pytest.raises(ConfigError) as info:
        ProfileCompatibility(
            [mentee("e1")], [mentor("r1", custom=(("mentor_training", "y"),))], config
        )
    assert str(info.value) == (
        'config key "rules.eligibility[1].column": no profile has a column "mentor_trainig"; '
        'did you mean "mentor_training"?'
    )


def test_forbidden_pair():
    config = rules(forbidden_pairs=(("e1", "r1"),))
    check_pair(mentee("e1"), mentor("r1"), config, "forbidden_pair")
    check_allowed(mentee("e2"), mentor("r1"), config)


def test_locked_mentee_gets_only_the_locked_mentor():
    config = rules(locked_pairs=(("e1", "r1"),))
    mentees, mentors = [mentee("e1"), mentee("e2")], [mentor("r1"), mentor("r2")]
    compat = ProfileCompatibility(mentees, mentors, config)
    block = compat.block(0, 2)
    assert block[0, 1] == FORBIDDEN
    assert (block[[0, 1, 1], [0, 0, 1]] != FORBIDDEN).all()
    assert compat.forbidding_rules("e1", "r2") == ["locked_pair"]
    assert labels(validate_assignment({"e1": "r2"}, mentees, mentors, config)) == [
        "locked_pair",
        "locked_pair",
    ]
    assert labels(validate_assignment({"e1": None}, mentees, mentors, config)) == ["locked_pair"]
    assert validate_assignment({"e1": "r1", "e2": None}, mentees, mentors, config) == []


def test_capacity_zero_forbids_every_pair():
    check_pair(mentee("e1"), mentor("r1", capacity=0), rules(), "capacity")


def test_validator_capacity_on_the_whole():
    mentees = [mentee("e1"), mentee("e2"), mentee("e3")]
    mentors = [mentor("r1", capacity=2), mentor("r2")]
    found = validate_assignment(
        [("e1", "r1"), ("e2", "r1"), ("e3", "r1")], mentees, mentors, rules()
    )
    assert labels(found) == ["capacity"]
    assert found[0].mentor_id == "r1"
    assert found[0].detail == 'mentor "r1" has 3 mentees, capacity 2'


def test_validator_group_caps():
    config = MatchConfig(rules=OFF, group_caps=(GroupCap(column="department", max_per_mentor=1),))
    mentees = [mentee("e1", department="Biology"), mentee("e2", department="biology")]
    mentors = [mentor("r1", capacity=2)]
    found = validate_assignment({"e1": "r1", "e2": "r1"}, mentees, mentors, config)
    assert labels(found) == ["group_cap"]
    assert found[0].detail == (
        'mentor "r1" has 2 mentees with department "biology", at most 1 allowed'
    )
    codes = ProfileCompatibility(mentees, mentors, config).group_codes("department")
    assert codes[0] == codes[1] >= 0


def test_validator_one_mentor_per_mentee():
    mentees, mentors = [mentee("e1")], [mentor("r1"), mentor("r2")]
    found = validate_assignment([("e1", "r1"), ("e1", "r2")], mentees, mentors, rules())
    assert labels(found) == ["one_mentor_per_mentee"]


def test_validator_rejects_unknown_ids():
    with pytest.raises(MatcherError, match='unknown mentor "r9"'):
        validate_assignment([("e1", "r9")], [mentee("e1")], [mentor("r1")], rules())


def test_validator_reports_every_broken_rule_of_a_pair():
    config = rules(shared_language=True, forbidden_pairs=(("e1", "r1"),))
    a = mentee("e1", languages=("english",), excluded=("r1",))
    b = mentor("r1", languages=("german",))
    found = validate_assignment([("e1", "r1")], [a], [b], config)
    assert labels(found) == ["excluded", "shared_language", "forbidden_pair"]


def test_locked_pair_forbidden_by_a_rule_is_a_config_error():
    config = rules(mentor_more_senior=True, locked_pairs=(("e1", "r1"),))
    a = mentee("e1", career_stage=CareerStage.POSTDOC)
    b = mentor("r1", career_stage=CareerStage.POSTDOC)
    with pytest.raises(ConfigError) as info:
        ProfileCompatibility([a], [b], config)
    assert str(info.value) == (
        'config key "rules.locked_pairs": locked pair ["e1", "r1"] is forbidden by hard rule '
        '"mentor_more_senior" (the mentor is at least the configured number of career stages '
        "ahead); remove the lock or change the rule"
    )
    assert info.value.key == "rules.locked_pairs"


def test_locked_pairs_beyond_capacity_are_a_config_error():
    config = rules(locked_pairs=(("e1", "r1"), ("e2", "r1")))
    with pytest.raises(ConfigError, match='break hard rule "capacity"'):
        ProfileCompatibility([mentee("e1"), mentee("e2")], [mentor("r1")], config)


def test_locked_pair_with_unknown_id_is_a_config_error():
    with pytest.raises(ConfigError, match='no mentor has id "r7"'):
        ProfileCompatibility([mentee("e1")], [mentor("r1")], rules(locked_pairs=(("e1", "r7"),)))


def test_profiles_in_the_wrong_role_or_twice_are_rejected():
    with pytest.raises(MatcherError, match='profile "r1" has role mentor'):
        Roster([mentor("r1")], [], rules())
    with pytest.raises(MatcherError, match='mentee id "e1" appears twice'):
        Roster([mentee("e1"), mentee("e1")], [], rules())


ROSTERS = st.one_of(rosters(), rosters(popular=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ROSTERS.flatmap(lambda r: configs(r[0], r[1], locks=True).map(lambda c: (r, c))))
def test_vectorised_mask_equals_the_pair_check(data):
    (mentees, mentors), config = data
    roster = Roster(mentees, mentors, config, REFERENCE_INSTANT)
    n = len(roster.mentees)
    for rule in PAIR_RULES:
        mask = rule.mask(roster, 0, n)
        expected = np.array(
            [[rule.forbids(a, b, roster) for b in roster.mentors] for a in roster.mentees],
            dtype=bool,
        ).reshape(mask.shape)
        assert np.array_equal(mask, expected), rule.label


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ROSTERS.flatmap(lambda r: configs(r[0], r[1]).map(lambda c: (r, c))))
def test_block_forbids_exactly_the_pairs_a_rule_forbids(data):
    (mentees, mentors), config = data
    compat = ProfileCompatibility(mentees, mentors, config, REFERENCE_INSTANT)
    roster = compat.roster
    block = compat.block(0, len(roster.mentees))
    rules_on = active_pair_rules(config)
    expected = {
        (a.id, b.id)
        for a in roster.mentees
        for b in roster.mentors
        if any(rule.forbids(a, b, roster) for rule in rules_on)
    }
    assert {
        (a.id, b.id)
        for i, a in enumerate(roster.mentees)
        for j, b in enumerate(roster.mentors)
        if block[i, j] == FORBIDDEN
    } == expected
    # The validator, given every pair, reports exactly those pairs (capacity 0 aside,
    # which it reports per mentor).
    everything = [(a.id, b.id) for a in roster.mentees for b in roster.mentors]
    broken = validate_assignment(everything, mentees, mentors, config, REFERENCE_INSTANT)
    per_pair = {(v.mentee_id, v.mentor_id) for v in broken if v.mentee_id and v.mentor_id}
    empty = {(a.id, b.id) for a in roster.mentees for b in roster.mentors if b.capacity == 0}
    assert per_pair | empty == expected | empty


@pytest.mark.parametrize(
    ("a", "b", "config", "reason"),
    [
        (mentee("e1"), mentor("r1", capacity=0), rules(), "capacity: mentor r1 has capacity 0"),
        (
            mentee("e1", institution="North"),
            mentor("r1", institution="north"),
            rules(same_institution=SameInstitution.FORBIDDEN),
            "same_institution: both at the same institution (same_institution = forbidden)",
        ),
        (
            mentee("e1", timezone="Europe/Berlin"),
            mentor("r1", timezone="Asia/Kolkata"),
            rules(max_timezone_difference=3.0),
            "max_timezone_difference: UTC offsets 3.5 hours apart, more than 3",
        ),
        (
            mentee("e1", languages=("English",)),
            mentor("r1", languages=("German", "French")),
            rules(shared_language=True),
            "shared_language: no shared language (mentee: english; mentor: french, german)",
        ),
        (
            mentee("e1", career_stage=CareerStage.GRADUATE_STUDENT),
            mentor("r1", career_stage=CareerStage.POSTDOC),
            rules(mentor_more_senior=True, min_stage_gap=2),
            "mentor_more_senior: mentor is postdoc, mentee graduate student; the mentor must "
            "be at least 2 stages ahead",
        ),
        (
            mentee("e1"),
            mentor("r1", custom=(("mentor_training", "no"),)),
            rules(
                eligibility=(
                    EligibilityRule(role=Role.MENTOR, column="mentor_training", equals=("Yes",)),
                )
            ),
            "eligibility: mentor r1 has no mentor_training in Yes",
        ),
    ],
)
def test_explanations_say_why_a_rule_forbids_the_pair(a, b, config, reason):
    compat = ProfileCompatibility([a], [b], config, REFERENCE_INSTANT)
    assert compat.forbidding_reasons(a.id, b.id) == [reason]
