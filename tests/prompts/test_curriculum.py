"""The shipped curriculum's content, and the curriculum model's contract."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tandem.matcher.types import CareerStage, Role
from tandem.prompts.curriculum import (
    Audience,
    CheckinKind,
    Competency,
    Curriculum,
    Phase,
    load_curriculum,
    validate_curriculum,
)
from tandem.prompts.errors import CurriculumError, Problem
from tests.prompts.helpers import edit


def test_the_shipped_curriculum_has_no_problems() -> None:
    assert validate_curriculum() == []


def test_the_shipped_curriculum_has_sixteen_weeks_and_three_tracks(curriculum: Curriculum) -> None:
    assert curriculum.weeks_total == 16
    assert [week.number for week in curriculum.weeks] == list(range(1, 17))
    assert curriculum.track_ids == ("faculty", "postdoc", "student")
    assert curriculum.default_track == "student"


def test_every_phase_is_covered(curriculum: Curriculum) -> None:
    assert set(curriculum.phases_covered()) == set(Phase)


def test_every_competency_is_covered(curriculum: Curriculum) -> None:
    assert set(curriculum.competencies_covered()) == set(Competency)


def test_phases_run_in_order_from_alignment_to_closure(curriculum: Curriculum) -> None:
    ranks = [week.phase.rank for week in curriculum.weeks]
    assert ranks == sorted(ranks)
    assert curriculum.weeks[0].phase is Phase.ALIGNMENT
    assert curriculum.weeks[-1].phase is Phase.CLOSURE


def test_alignment_walks_through_compact_and_development_plan(curriculum: Curriculum) -> None:
    alignment = " ".join(
        week.activity.title.lower() for week in curriculum.weeks if week.phase is Phase.ALIGNMENT
    )
    assert "compact" in alignment
    assert "development plan" in alignment


def test_some_weeks_differ_by_track_and_the_rest_are_shared(curriculum: Curriculum) -> None:
    varied = [week.number for week in curriculum.weeks if week.variants]
    assert 0 < len(varied) < curriculum.weeks_total
    for number in varied:
        versions = {
            curriculum.week(number, track).model_dump_json(exclude={"track"})
            for track in curriculum.track_ids
        }
        assert len(versions) > 1, f"week {number} variants change nothing"


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


@pytest.mark.parametrize("track", ["student", "postdoc", "faculty"])
def test_every_week_meets_the_writing_standard(curriculum: Curriculum, track: str) -> None:
    for number in range(1, curriculum.weeks_total + 1):
        week = curriculum.week(number, track)
        where = f"week {number} ({track})"
        assert 3 <= len(_SENTENCE_END.findall(week.framing)) <= 5, where
        assert 3 <= len(week.mentor_questions) <= 4, where
        assert 3 <= len(week.mentee_questions) <= 4, where
        assert all(q.endswith("?") or "?" in q for q in week.questions_for(Role.MENTOR)), where
        assert 3 <= len(week.activity.steps) <= 5, where
        for role in Role:
            assert 2 <= len(week.checkin_for(role)) <= 4, f"{where}, {role}"
        ids = [q.id for q in week.checkin]
        assert len(ids) == len(set(ids)), where


def test_text_has_no_links_that_can_rot(curriculum: Curriculum) -> None:
    for path in sorted(curriculum.source.glob("week-*.toml")):
        assert "http" not in path.read_text(encoding="utf-8"), path.name


def test_every_week_starts_with_the_same_two_checkin_questions(curriculum: Curriculum) -> None:
    assert [(q.id, q.kind) for q in curriculum.checkin] == [
        ("met", CheckinKind.YES_NO),
        ("minutes", CheckinKind.MINUTES),
    ]
    for week in curriculum.weeks:
        assert curriculum.week(week.number).checkin[:2] == curriculum.checkin


@pytest.mark.parametrize("track", ["student", "postdoc", "faculty"])
def test_the_final_week_asks_the_mentor_for_a_closing_reflection(
    curriculum: Curriculum, track: str
) -> None:
    reflection = curriculum.closing_reflection(track)
    assert [q.id for q in reflection] == ["closing_reflection_growth", "closing_reflection_next"]
    assert all(q.kind is CheckinKind.TEXT and q.audience is Audience.MENTOR for q in reflection)
    final = curriculum.week(curriculum.weeks_total, track)
    assert not set(reflection) & set(final.checkin_for(Role.MENTEE))


def test_every_career_stage_has_a_track(curriculum: Curriculum) -> None:
    assert {stage: curriculum.track_for(stage) for stage in CareerStage} == {
        CareerStage.UNDERGRADUATE: "student",
        CareerStage.GRADUATE_STUDENT: "student",
        CareerStage.POSTDOC: "postdoc",
        CareerStage.EARLY_CAREER_FACULTY: "faculty",
        CareerStage.MID_CAREER_FACULTY: "faculty",
        CareerStage.SENIOR_FACULTY: "faculty",
    }
    assert curriculum.track_for(None) == "student"


def test_a_variant_overrides_only_what_it_names(curriculum: Curriculum) -> None:
    shared = curriculum.weeks[3]
    student = curriculum.week(4, "student")
    postdoc = curriculum.week(4, "postdoc")
    assert student.title != shared.title
    assert student.framing == shared.framing
    assert student.activity == shared.activity
    assert postdoc.activity != shared.activity
    assert postdoc.phase is shared.phase
    assert postdoc.competencies == shared.competencies


def test_the_default_track_is_used_when_none_is_given(curriculum: Curriculum) -> None:
    assert curriculum.week(4) == curriculum.week(4, "student")


def test_asking_for_a_week_outside_the_program_says_which_weeks_exist(
    curriculum: Curriculum,
) -> None:
    with pytest.raises(CurriculumError) as caught:
        curriculum.week(17)
    assert caught.value.problems == (
        Problem(
            file="curriculum.toml",
            field="weeks",
            message="there is no week 17; this curriculum has weeks 1 to 16",
        ),
    )


def test_asking_for_an_unknown_track_names_the_known_ones(curriculum: Curriculum) -> None:
    with pytest.raises(CurriculumError) as caught:
        curriculum.week(1, "resident")
    assert caught.value.problems[0].message == (
        "no track 'resident'; this curriculum has: faculty, postdoc, student"
    )


def test_a_coordinator_can_run_a_shorter_program(copy_default: Path) -> None:
    edit(copy_default / "curriculum.toml", "weeks = 16", "weeks = 12")
    shutil.move(copy_default / "week-16.toml", copy_default / "week-12.toml")
    for number in (13, 14, 15):
        (copy_default / f"week-{number}.toml").unlink()
    short = load_curriculum(copy_default)
    assert short.weeks_total == 12
    assert short.week(12).title == "Ending well: reflection, next steps and staying in touch"
    assert short.closing_reflection()


def test_a_coordinator_can_run_a_longer_program(copy_default: Path) -> None:
    edit(copy_default / "curriculum.toml", "weeks = 16", "weeks = 24")
    # Weeks 15–16 (closure) move to the end; weeks 15–22 repeat cultivation topics.
    shutil.move(copy_default / "week-15.toml", copy_default / "week-23.toml")
    shutil.move(copy_default / "week-16.toml", copy_default / "week-24.toml")
    for offset, number in enumerate(range(15, 23)):
        shutil.copy(
            copy_default / f"week-{5 + offset:02d}.toml", copy_default / f"week-{number}.toml"
        )
    long = load_curriculum(copy_default)
    assert long.weeks_total == 24
    assert long.week(24).phase is Phase.CLOSURE
