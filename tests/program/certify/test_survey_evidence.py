"""Certification rules that require a survey answered (``source = "survey_response"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tandem.matcher.types import Role
from tandem.program.certify import RulesError
from tandem.program.evaluation.responses import import_responses
from tandem.program.outbox.channels import FileOutbox
from tandem.program.survey_links import submit_survey
from tests.program.certify.helpers import close, complete, rules_with, start, verdicts
from tests.program.helpers import (
    LINK_KEYS,
    day,
    run_due,
    survey_export,
    survey_form,
    survey_tokens,
)

CLOSING_SURVEY = {
    "kind": "evidence",
    "name": "closing_survey",
    "text": "answered the program's closing survey",
    "source": "survey_response",
    "key": "closing",
    "role": "mentor",
}


def requiring(**settings: Any) -> Any:
    return rules_with(lambda data: data["criteria"].append({**CLOSING_SURVEY, **settings}))


def test_a_mentor_is_eligible_only_once_their_closing_survey_is_recorded(
    engine: Engine, tmp_path: Path
) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 13))
    outbox = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 16, hours=1), outbox)  # the links: the final week's
    now = close(engine, program, tmp_path)
    rules = requiring()
    unmet = "closing survey: no closing survey response from the mentor"
    assert verdicts(engine, program, now) == {"M001": None, "M002": None}  # shipped: off
    assert verdicts(engine, program, now, rules) == {
        "M001": (f"E001: {unmet}",),
        "M002": (f"E002: {unmet}",),
    }
    # The mentee's answer does not count for the mentor.
    [mentee_token] = survey_tokens(engine, "mentee1@uni.edu", kind="weekly")
    submit_survey(
        engine, mentee_token, survey_form("closing", Role.MENTEE), now=now, link_keys=LINK_KEYS
    )
    assert verdicts(engine, program, now, rules)["M001"] == (f"E001: {unmet}",)

    # M001 answers on the page their link opens ...
    [token] = survey_tokens(engine, "mentor1@uni.edu", kind="weekly")
    submit_survey(engine, token, survey_form("closing", Role.MENTOR), now=now, link_keys=LINK_KEYS)
    assert verdicts(engine, program, now, rules) == {"M001": None, "M002": (f"E002: {unmet}",)}
    # ... M002's answers come in with a survey tool's export.
    row = {"email": "mentor2@uni.edu", "survey": "closing"}
    export = survey_export(tmp_path / "closing.csv", [row | survey_form("closing", Role.MENTOR)])
    import_responses(engine, program.name, export, now=now)
    assert verdicts(engine, program, now, rules) == {"M001": None, "M002": None}
    # The mentee's answer, asked for, counts for the pair it is about.
    mentee = requiring(name="mentee_closing", role="mentee")
    assert verdicts(engine, program, now, mentee) == {
        "M001": None,
        "M002": ("E002: mentee closing: no closing survey response from the mentee",),
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"key": "exit"}, "key names the survey: one of baseline, closing, followup"),
        ({"week": "final"}, 'week cannot be used with source = "survey_response"'),
        ({"equals": True}, 'equals cannot be used with source = "survey_response"'),
    ],
)
def test_a_survey_criterion_names_a_survey_and_nothing_else(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(RulesError, match=message):
        requiring(**settings)
