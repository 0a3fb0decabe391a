"""Mentor eligibility over constructed program histories, with an injected clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from tandem.matcher.types import Role
from tandem.program.certify import evaluate_cohort, load_rules
from tandem.program.cohorts import PairAction, change_pair
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Pair, Participant
from tests.program.certify.helpers import close, closing, complete, met, rules_with, start, verdicts
from tests.program.helpers import day


def test_exactly_12_of_16_weeks_is_eligible_and_11_is_not(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 12))
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": None,
        "M002": ("E002: regular meetings: met in 11 of 16 weeks, needs 12",),
    }
    evaluation = evaluate_cohort(engine, program.name, load_rules(), now=now)
    pair = evaluation.mentors[0].pairs[0]
    assert (pair.weeks_met, pair.weeks_required) == (tuple(range(1, 13)), 12)
    assert [r.detail for r in pair.results] == [
        "active from week 1 through week 16",
        "met in 12 of 16 weeks (needs 12)",
        "closing check-in recorded 2026-12-23",
        "not ended early",
    ]


def test_a_meeting_reported_by_one_side_counts_unless_the_rules_ask_for_both(
    engine: Engine, tmp_path: Path
) -> None:
    program = start(engine, tmp_path, pairs=2)
    met(engine, program, "E001", range(1, 7), Role.MENTOR)
    met(engine, program, "E001", range(7, 13), Role.MENTEE)  # each side reports half
    closing(engine, program, "E001")
    met(engine, program, "E002", range(1, 13), Role.MENTOR)
    met(engine, program, "E002", range(1, 13), Role.MENTEE)
    closing(engine, program, "E002")
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {"M001": None, "M002": None}
    both = rules_with(lambda data: data["criteria"][1].update(meeting_counts_when="both"))
    assert verdicts(engine, program, now, both) == {
        "M001": ("E001: regular meetings: met in 0 of 16 weeks, needs 12",),
        "M002": None,
    }


def test_paused_pairs(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=3)
    # Pair 1 paused for weeks 5–7, resumed, met the other 13 weeks: eligible.
    change_pair(
        engine,
        program.name,
        "E001",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 4, days=3),
        reason="mentee on fieldwork",
    )
    change_pair(
        engine,
        program.name,
        "E001",
        PairAction.RESUME,
        actor="coordinator",
        now=day(program.instants, 7, days=3),
    )
    complete(engine, program, "E001", [1, 2, 3, 4, *range(8, 17)])
    # Pair 2 paused before the final week and never resumed: ended when the program closed.
    complete(engine, program, "E002", range(1, 15))
    change_pair(
        engine,
        program.name,
        "E002",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 15, days=1),
        reason="mentor on leave",
    )
    # Pair 3 paused during the final week only and resumed before the close.
    complete(engine, program, "E003", range(1, 16))
    change_pair(
        engine,
        program.name,
        "E003",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 15, days=6),
        reason="conference",
    )
    change_pair(
        engine,
        program.name,
        "E003",
        PairAction.RESUME,
        actor="coordinator",
        now=day(program.instants, 16, days=3),
    )
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": None,
        "M002": (
            "E002: active through the final week: was paused when week 16 began",
            "E002: not ended early: ended early on 2026-12-29",
        ),
        "M003": ("E003: active through the final week: was paused when week 16 began",),
    }


def test_a_pair_ended_early_is_not_certified(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=1)
    met(engine, program, "E001", range(1, 13))
    change_pair(
        engine,
        program.name,
        "E001",
        PairAction.END,
        actor="coordinator",
        now=day(program.instants, 13, days=1),
        reason="mentee left the university",
    )
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": (
            "E001: active through the final week: was ended when week 16 began",
            "E001: closing check-in: no week 16 check-in from the mentor",
            "E001: not ended early: ended early on 2026-12-01",
        )
    }


def test_a_rematched_pair_is_measured_from_its_first_week(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    with transaction(engine) as session:  # both pairs joined in week 5 (after a rematch)
        for pair in session.exec(select(Pair)).all():
            pair.first_week = 5
            session.add(pair)
    complete(engine, program, "E001", range(5, 14))  # 9 of its 12 weeks
    complete(engine, program, "E002", range(5, 13))  # 8 of 12
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": None,
        "M002": ("E002: regular meetings: met in 8 of 12 weeks, needs 9",),
    }
    evaluation = evaluate_cohort(engine, program.name, load_rules(), now=now)
    first = evaluation.mentors[0].pairs[0]
    assert (first.first_week, first.weeks_in_program, first.program_start.isoformat()) == (
        5,
        12,
        "2026-10-05",
    )


def test_a_mentor_with_two_mentees_any_pair_or_all_pairs(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    with transaction(engine) as session:  # M001 mentors both E001 and E002
        mentor = session.exec(select(Participant).where(Participant.external_id == "M001")).one()
        second = session.exec(select(Pair).order_by(col(Pair.pk).desc())).first()
        assert second is not None
        second.mentor_pk = mentor.pk or 0
        session.add(second)
    complete(engine, program, "E001", range(1, 8))
    complete(engine, program, "E002", range(1, 15))
    now = close(engine, program, tmp_path)
    evaluation = evaluate_cohort(engine, program.name, load_rules(), now=now)
    (mentor_eval,) = evaluation.mentors
    assert mentor_eval.eligible
    assert mentor_eval.evidence_pair is not None
    assert mentor_eval.evidence_pair.mentee_id == "E002"
    all_pairs = rules_with(lambda data: data.update(mentor_rule="all_pairs"))
    assert verdicts(engine, program, now, all_pairs) == {
        "M001": ("E001: regular meetings: met in 7 of 16 weeks, needs 12",)
    }


def test_before_the_final_week_no_one_is_eligible(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=1)
    met(engine, program, "E001", range(1, 13))
    assert verdicts(engine, program, day(program.instants, 13, days=1)) == {
        "M001": (
            "E001: active through the final week: the final week (week 16) begins 2026-12-21",
            "E001: closing check-in: no week 16 check-in from the mentor",
        )
    }


def test_closing_reflection_answers_and_evidence_rules(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=3)
    met(engine, program, "E001", range(1, 13))
    closing(
        engine,
        program,
        "E001",
        closing_reflection_growth="Listening more.",
        closing_reflection_next="Agree goals earlier.",
        survey_completed=True,
    )
    met(engine, program, "E002", range(1, 13))
    closing(engine, program, "E002", closing_reflection_growth="Patience.")
    complete(engine, program, "E003", range(1, 13))
    now = close(engine, program, tmp_path)

    def change(data: dict[str, Any]) -> None:
        data["criteria"][2]["require_answers"] = True
        data["criteria"].append(
            {
                "kind": "evidence",
                "name": "exit_survey",
                "key": "survey_completed",
                "equals": True,
                "text": "completed the end-of-program survey",
            }
        )

    assert verdicts(engine, program, now, rules_with(change)) == {
        "M001": None,
        "M002": (
            "E002: closing check-in: closing reflection not answered: closing_reflection_next",
            "E002: exit survey: no answer survey_completed = true from the mentor in week 16",
        ),
        "M003": (
            "E003: closing check-in: closing reflection not answered: "
            "closing_reflection_growth, closing_reflection_next",
            "E003: exit survey: no answer survey_completed = true from the mentor in week 16",
        ),
    }
    assert verdicts(engine, program, now) == {"M001": None, "M002": None, "M003": None}
