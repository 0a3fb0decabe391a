from datetime import UTC, datetime

import pytest

from tandem.matcher.config import (
    ConfigError,
    CustomMatch,
    MatchConfig,
    SameInstitution,
    Weights,
    config_to_commented_toml,
    config_to_toml,
    default_config,
    load_config,
)
from tandem.matcher.scoring import SCORERS
from tandem.matcher.types import Objective, Role

FULL = """
[weights]
research_areas = 2
identity = 0

[career_stage]
ideal_gap = 1
tolerance = 2

[timezone]
working_hours_start = 8.5
working_hours_end = 16
reference_instant = 2026-09-01T12:00:00Z

[rules]
same_institution = "forbidden"
max_timezone_difference = 6.5
shared_language = false
min_stage_gap = 0
forbidden_pairs = [["e1", "r1"]]
locked_pairs = [["e2", "r2"], ["e3", "r2"]]

[[rules.eligibility]]
role = "mentor"
column = "mentor_training"
equals = ["yes", "Done"]

[[group_caps]]
column = "department"
max_per_mentor = 2

[[custom_criteria]]
column = "field"
match = "different"
weight = 0.5

[optimizer]
objective = "maximin"
candidates_per_mentee = 10
"""


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(text, "match.toml")
    return str(info.value)


def test_default_file_documents_the_model_defaults():
    assert default_config() == MatchConfig()


def test_every_key_of_the_default_file_is_commented():
    from importlib import resources

    text = resources.files("tandem.matcher").joinpath("default_config.toml").read_text()
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[n - 1].startswith("#"), f"key without a comment: {line}"


def test_full_config_loads():
    config = load_config(FULL, "match.toml")
    assert config.weights.research_areas == 2.0
    assert config.weights.identity == 0.0
    assert config.weights.goals == 2.0  # default kept
    assert config.timezone.reference_instant == datetime(2026, 9, 1, 12, tzinfo=UTC)
    assert config.rules.same_institution is SameInstitution.FORBIDDEN
    assert config.rules.locked_pairs == (("e2", "r2"), ("e3", "r2"))
    assert config.rules.eligibility[0].role is Role.MENTOR
    assert config.rules.eligibility[0].equals == ("yes", "Done")
    assert config.group_caps[0].max_per_mentor == 2
    assert config.custom_criteria[0].match is CustomMatch.DIFFERENT
    assert config.custom_criteria[0].name == "custom:field"
    assert config.optimizer.objective is Objective.MAXIMIN
    assert config.optimizer.candidates_per_mentee == 10
    assert config.optimizer.candidates_per_mentor == 400


@pytest.mark.parametrize("text", [FULL, "", "[rules]\nmax_timezone_difference = 3"])
def test_config_round_trips_through_toml(text):
    config = load_config(text, "match.toml")
    printed = config_to_toml(config)
    assert load_config(printed, "printed.toml") == config
    assert config_to_toml(load_config(printed, "printed.toml")) == printed


def test_config_is_frozen():
    config = default_config()
    with pytest.raises(ValueError):
        config.weights.goals = 3.0  # type: ignore[misc]


def test_registry_names_are_the_weight_keys():
    assert list(SCORERS) == list(Weights.model_fields)
    assert set(SCORERS) == {
        "research_areas",
        "research_interests",
        "goals",
        "career_stage",
        "timezone",
        "language",
        "meeting_mode",
        "identity",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[weights]\nresearch_areas = "high"',
            'match.toml: config key "weights.research_areas": expected a number ≥ 0, got "high"',
        ),
        (
            "[weights]\ngoals = -1",
            'match.toml: config key "weights.goals": expected a number ≥ 0, got -1',
        ),
        (
            "[weights]\nresearch_area = 1",
            'match.toml: unknown config key "weights.research_area"; '
            'did you mean "weights.research_areas"?',
        ),
        (
            "[weigths]\ngoals = 1",
            'match.toml: unknown config key "weigths"; did you mean "weights"?',
        ),
        (
            "[optimizer]\nsolver = 3",
            'match.toml: unknown config key "optimizer.solver"; valid keys here: '
            "objective, candidates_per_mentee, candidates_per_mentor",
        ),
        (
            '[rules]\nsame_institution = "never"',
            'match.toml: config key "rules.same_institution": expected "allowed", "forbidden" '
            'or "required", got "never"',
        ),
        (
            '[rules]\nshared_language = "yes"',
            'match.toml: config key "rules.shared_language": expected true or false, got "yes"',
        ),
        (
            '[optimizer]\nobjective = "best"',
            'match.toml: config key "optimizer.objective": expected "total" or "maximin", '
            'got "best"',
        ),
        (
            "[optimizer]\ncandidates_per_mentee = 0",
            'match.toml: config key "optimizer.candidates_per_mentee": expected an integer ≥ 1, '
            "got 0",
        ),
        (
            '[[group_caps]]\ncolumn = "department"',
            'match.toml: config key "group_caps[1].max_per_mentor" is required; add it',
        ),
        (
            '[[rules.eligibility]]\nrole = "coach"\ncolumn = "x"\nequals = ["y"]',
            'match.toml: config key "rules.eligibility[1].role": expected "mentor" or "mentee", '
            'got "coach"',
        ),
        (
            '[rules]\nlocked_pairs = [["e1"]]',
            'match.toml: config key "rules.locked_pairs[1]": expected a pair of ids '
            '["mentee_id", "mentor_id"], got ["e1"]',
        ),
        (
            '[rules]\nlocked_pairs = [["e1", "r1"], ["e1", "r2"]]',
            'match.toml: config key "rules": mentee "e1" is locked to both "r1" and "r2" in '
            "locked_pairs; keep one",
        ),
        (
            '[rules]\nlocked_pairs = [["e1", "r1"]]\nforbidden_pairs = [["e1", "r1"]]',
            'match.toml: config key "rules": the pair ["e1", "r1"] is in both locked_pairs and '
            "forbidden_pairs; remove it from one",
        ),
        (
            "[timezone]\nworking_hours_start = 18",
            'match.toml: config key "timezone": working_hours_end must be later than '
            "working_hours_start",
        ),
        (
            "[timezone]\nreference_instant = 2026-09-01T12:00:00",
            'match.toml: config key "timezone.reference_instant": expected a date-time with a '
            "UTC offset, e.g. 2026-09-01T12:00:00Z, got 2026-09-01T12:00:00",
        ),
        (
            '[[custom_criteria]]\ncolumn = "field"\n[[custom_criteria]]\ncolumn = "field"',
            'match.toml: custom_criteria lists column "field" more than once; merge the entries',
        ),
        ("weights = 3", 'match.toml: config key "weights": expected a table, got 3'),
    ],
)
def test_error_messages_name_the_key(text, message):
    assert error(text) == message


def test_every_problem_is_reported():
    message = error('[weights]\ngoals = "a"\nlanguage = "b"')
    assert message.splitlines() == [
        'match.toml: config key "weights.goals": expected a number ≥ 0, got "a"',
        'match.toml: config key "weights.language": expected a number ≥ 0, got "b"',
    ]


def test_error_carries_source_and_key():
    with pytest.raises(ConfigError) as info:
        load_config("[weights]\ngoals = true", "cycle.toml")
    assert info.value.source == "cycle.toml"
    assert info.value.key == "weights.goals"


ALL_ZERO = "[weights]\n" + "".join(
    f"{name} = 0\n"
    for name in (
        "research_areas",
        "research_interests",
        "goals",
        "career_stage",
        "timezone",
        "language",
        "meeting_mode",
        "identity",
    )
)


def test_all_zero_weights_are_refused_naming_the_file_and_key():
    with pytest.raises(ConfigError) as info:
        load_config(ALL_ZERO, "cycle.toml")
    assert str(info.value) == (
        'cycle.toml: config key "weights": every weight is 0 (custom criteria included), so '
        "every pair would score the same; give at least one weight above 0, e.g. "
        "research_areas = 3.0"
    )
    assert (info.value.source, info.value.key) == ("cycle.toml", "weights")
    zero_custom = ALL_ZERO + '[[custom_criteria]]\ncolumn = "field"\nweight = 0\n'
    with pytest.raises(ConfigError, match="every weight is 0"):
        load_config(zero_custom, "cycle.toml")


def test_one_custom_weight_is_enough():
    config = load_config(ALL_ZERO + '[[custom_criteria]]\ncolumn = "field"\n', "cycle.toml")
    assert config.custom_criteria[0].weight == 1.0


def test_invalid_toml_names_the_source():
    assert error("[weights\n").startswith("match.toml: not valid TOML: ")


def test_the_configured_objective_reaches_the_solver_and_the_result():
    """One Objective vocabulary: the configuration's value is what `solve` takes and what
    the result reports, with no conversion between them."""
    import numpy as np

    from tandem.matcher import DenseScores, solve

    config = load_config('[optimizer]\nobjective = "maximin"\n', "maximin.toml")
    # a-x + b-y total 101 with a worst pair of 1; a-y + b-x total 90 with a worst pair of 45.
    source = DenseScores(
        np.array([[100, 45], [45, 1]]) * 100, ["a", "b"], ["x", "y"], [1, 1], scale=100
    )
    maximin = solve(source, objective=config.optimizer.objective)
    total = solve(source, objective=default_config().optimizer.objective)
    assert maximin.objective is Objective.MAXIMIN and total.objective is Objective.TOTAL
    assert {(p.mentee_id, p.mentor_id) for p in maximin.pairs} == {("a", "y"), ("b", "x")}
    assert {(p.mentee_id, p.mentor_id) for p in total.pairs} == {("a", "x"), ("b", "y")}


def test_methods_are_the_coordinators_choices_and_algorithms_say_how():
    from tandem.matcher import Algorithm, Method

    assert [m.value for m in Method] == ["optimal", "stable"]
    assert not {m.value for m in Method} & {a.value for a in Algorithm}


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


@pytest.mark.parametrize("text", [FULL, "", "[rules]\nmax_timezone_difference = 3"])
def test_the_config_in_force_is_printed_with_the_default_files_comments(text):
    from importlib import resources

    config = load_config(text, "match.toml")
    printed = config_to_commented_toml(config, "match.toml")
    assert load_config(printed, "printed.toml") == config
    shipped = resources.files("tandem.matcher").joinpath("default_config.toml").read_text()
    explained = [c for c in _comments(shipped)[1:] if "=" not in c or c.startswith("# ...")]
    printed_comments = _comments(printed)
    assert printed_comments[0] == "# The matching configuration in force: match.toml."
    assert all(c in printed_comments for c in explained)
    if not text:
        assert printed.splitlines()[1:] == shipped.splitlines()[1:]


def test_the_default_files_comments_describe_what_the_scorers_compute():
    from importlib import resources

    from tandem.matcher.scoring import ResearchAreas

    shipped = resources.files("tandem.matcher").joinpath("default_config.toml").read_text()
    assert "overlap coefficient" not in shipped  # matching.md: rejected in favour of coverage
    assert "Fraction of the mentee's research areas" in shipped
    assert (ResearchAreas.__doc__ or "").startswith("Fraction of the mentee's research areas")
