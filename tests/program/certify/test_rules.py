"""Certification rules: the shipped file, the narrative, and errors naming every wrong key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tandem.program.certify import MentorRule, MinMeetingWeeks, PairHistory, RulesError, load_rules
from tandem.program.cohorts import PairState
from tests.program.certify.helpers import rules_with


def test_the_shipped_rules_and_their_narrative() -> None:
    rules = load_rules()
    assert rules.mentor_rule is MentorRule.ANY_PAIR
    assert [c.label for c in rules.criteria] == [
        "active_through_final_week",
        "min_meeting_weeks",
        "closing_checkin",
        "not_ended_early",
    ]
    assert rules.narrative() == (
        "Awarded to a mentor who, with at least one mentee of the cohort: stayed in an active "
        "mentoring pair through the program's final week; met in at least 75% of the program "
        "weeks the pair took part in (a week counts when either of the two reported a "
        "meeting); submitted the closing reflection check-in of the final week; did not end "
        "the mentoring relationship early."
    )


def test_the_narrative_follows_the_rules_in_force() -> None:
    def change(data: dict[str, Any]) -> None:
        data["mentor_rule"] = "all_pairs"
        data["criteria"] = [
            {"kind": "min_meeting_weeks", "weeks": 10, "meeting_counts_when": "both"},
            {
                "kind": "evidence",
                "name": "exit_survey",
                "key": "survey_completed",
                "text": "completed the end-of-program survey",
            },
        ]

    assert rules_with(change).narrative() == (
        "Awarded to a mentor who, with every mentee they were paired with in the cohort: met "
        "in at least 10 of the program weeks the pair took part in (a week counts when both "
        "of the two reported a meeting); completed the end-of-program survey."
    )


def test_rules_errors_name_every_wrong_key(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["mentor_rule"] = "some_pairs"
        data["criteria"][1]["fraction"] = 1.5
        data["criteria"][2]["require_answer"] = True
        data["criteria"].append({"kind": "survey"})
        data["criteria"].append({"kind": "evidence", "name": "x", "key": "done"})
        data["text"]["not_ended_early"] = "did not end early ({reason})"

    with pytest.raises(RulesError) as raised:
        rules_with(change)
    assert raised.value.message.splitlines() == [
        "test-rules.toml: 6 problems in the certification rules",
        "  criteria[1].fraction: Input should be less than or equal to 1",
        "  criteria[2].require_answer: Extra inputs are not permitted",
        "  text.not_ended_early: unknown placeholder(s) reason; this criterion offers: kind",
        "  criteria[4].kind: unknown criterion kind 'survey'; use one of: "
        "active_through_final_week, closing_checkin, evidence, min_meeting_weeks, not_ended_early",
        "  criteria[5]: no wording for kind 'evidence'; add `text = \"...\"` to the entry or "
        '`evidence = "..."` under [text]',
        "  mentor_rule: Input should be 'any_pair' or 'all_pairs'",
    ]
    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesError, match=r"nope.toml: 1 problem in the certification rules"):
        load_rules(missing)


def test_min_meeting_weeks_needs_exactly_one_threshold() -> None:
    with pytest.raises(RulesError, match=r"criteria\[1\]: give exactly one of fraction"):
        rules_with(lambda data: data["criteria"][1].update(weeks=12))


@pytest.mark.parametrize(
    ("settings", "first_week", "required"),
    [
        ({"fraction": 0.75}, 1, 12),  # 12 of 16
        ({"fraction": 0.75}, 5, 9),  # a rematched pair's 12 weeks
        ({"fraction": 0.8}, 1, 13),  # 12.8 rounds up
        ({"weeks": 12}, 1, 12),
        ({"weeks": 12}, 5, 9),  # 12/16 of 12 weeks
        ({"weeks": 12}, 16, 1),  # never zero
    ],
)
def test_the_meeting_threshold_scales_to_the_pair_weeks(
    settings: dict[str, Any], first_week: int, required: int
) -> None:
    pair = PairHistory(
        pair_pk=1,
        mentee_id="E001",
        state=PairState.COMPLETED,
        first_week=first_week,
        weeks_total=16,
        final_week_start=datetime(2026, 12, 21, 14, tzinfo=UTC),
        final_week_begun=True,
        state_at_final_week=PairState.ACTIVE,
        program_start=datetime(2026, 9, 7).date(),
        program_end=datetime(2026, 12, 27).date(),
    )
    assert MinMeetingWeeks(kind="min_meeting_weeks", **settings).required(pair) == required


def test_deeply_nested_rules_are_one_problem(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000, encoding="utf-8")
    with pytest.raises(RulesError) as raised:
        load_rules(deep)
    assert raised.value.message.splitlines() == [
        f"{deep}: 1 problem in the certification rules",
        "  not valid TOML: arrays or tables nested too deeply",
    ]
