"""The evaluation instruments: validated data keyed by the curriculum's competencies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tandem.prompts.curriculum import Competency
from tandem.prompts.surveys import (
    SURVEYS_DIR,
    ItemKind,
    SurveyError,
    SurveyName,
    load_instrument,
    load_instruments,
)
from tests.conftest import Tandem


def test_every_competency_has_two_or_three_items_per_role_in_both_rating_surveys() -> None:
    from tandem.matcher.types import Role

    for name in (SurveyName.BASELINE, SurveyName.CLOSING):
        instrument = load_instrument(name)
        for role in Role:
            grouped = instrument.competency_items(role)
            assert list(grouped) == list(Competency)
            assert all(2 <= len(items) <= 3 for items in grouped.values())
            assert all(i.min == 1 and i.max == 7 for items in grouped.values() for i in items)


def test_the_closing_survey_asks_every_competency_item_retrospectively() -> None:
    closing = load_instrument("closing")
    competency = [i for i in closing.items if i.competency is not None]
    assert competency and all(i.retrospective for i in competency)
    assert "expectations_goals_before" in closing.columns()
    assert "mentor_expectations_goals_before" in closing.columns()
    assert not any(i.retrospective for i in load_instrument("baseline").items)
    intent = closing.item("intent_to_change")
    assert intent is not None and intent.kind is ItemKind.YES_NO and intent.role.value == "mentor"
    assert {"valuable_use", "would_recommend", "intent_what"} <= set(closing.columns())


def test_the_followup_asks_mentors_whether_they_changed() -> None:
    followup = load_instrument("followup")
    assert [(i.id, i.kind.value, i.role.value) for i in followup.items] == [
        ("changed_mentoring", "yes_no", "mentor"),
        ("changed_how", "text", "mentor"),
    ]


def test_survey_show_prints_the_instrument_as_json(tandem: Tandem) -> None:
    result = tandem("survey", "show", "closing", "--format", "json")
    data = json.loads(result.output)
    assert data["id"] == "closing"
    assert data["items"][0] == {
        "id": "expectations_goals",
        "competency": "aligning_expectations",
        "role": "mentor",
        "kind": "rating",
        "min": 1,
        "max": 7,
        "retrospective": True,
        "text": "Agreeing with my mentee on clear goals for our work together.",
    }
    assert {i["role"] for i in data["items"]} == {"mentor", "mentee", "both"}


def test_survey_show_refuses_an_unknown_survey(tandem: Tandem) -> None:
    result = tandem("survey", "show", "exit", expect=1)
    assert result.output == (
        "Error: there is no survey 'exit'; use one of baseline, closing, followup\n"
    )


def test_every_problem_in_the_files_is_reported_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "surveys"
    shutil.copytree(SURVEYS_DIR, folder)
    bank = folder / "competencies.toml"
    bank.write_text(
        bank.read_text().replace(
            'competency = "ethical_behavior"', 'competency = "ethical_behaviour"', 1
        )
    )
    followup = folder / "followup.toml"
    followup.write_text(followup.read_text().replace('kind = "text"', 'kind = "text"\nmin = 1'))
    (folder / "baseline.toml").unlink()
    with pytest.raises(SurveyError) as caught:
        load_instruments(folder)
    assert str(caught.value) == (
        "3 problems in the surveys:\n"
        "  competencies.toml: items[11].competency: 'ethical_behaviour' is not one of "
        "'aligning_expectations', 'effective_communication', 'assessing_understanding', "
        "'fostering_independence', 'equity_and_inclusion', 'ethical_behavior', "
        "'work_life_integration', 'research_self_efficacy', 'professional_development' or "
        "'mentoring_philosophy' (did you mean 'ethical_behavior'?)\n"
        "  baseline.toml: (file): file is missing; create baseline.toml in surveys/\n"
        "  followup.toml: items[2]: a text item has no min or max"
    )
