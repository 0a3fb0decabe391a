"""The validator reports every problem at once, with file, field and an exact message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tandem.prompts.curriculum import SHIPPED_TEMPLATES, load_curriculum, validate_curriculum
from tandem.prompts.errors import CurriculumError, Problem
from tests.prompts.helpers import edit

WEEK_TEXT_VARIABLES = (
    "Mentee, Mentor, checkin_url, cohort_name, coordinator, greeting, mentee, mentee_name, "
    "mentor, mentor_name, missed_topics, pair_week, pair_weeks, partner_name, recipient_name, recipient_role, "
    "resources, week, week_end, week_start, weeks_total"
)
COMPETENCIES = (
    "aligning_expectations, effective_communication, assessing_understanding, "
    "fostering_independence, equity_and_inclusion, ethical_behavior, work_life_integration, "
    "research_self_efficacy, professional_development, mentoring_philosophy"
)

MISSING_WEEK = Problem(
    file="curriculum.toml",
    field="weeks",
    message="week 7 has no file: create week-07.toml or lower weeks (now 16)",
)
UNKNOWN_PHASE = Problem(
    file="week-03.toml",
    field="phase",
    message="unknown phase 'alignmnet' (did you mean 'alignment'?); use one of: "
    "alignment, cultivation, closure",
)
UNKNOWN_COMPETENCY = Problem(
    file="week-05.toml",
    field="competencies[2]",
    message="unknown competency 'aligning_expectation' (did you mean "
    f"'aligning_expectations'?); use one of: {COMPETENCIES}",
)
EMPTY_QUESTIONS = Problem(
    file="week-06.toml",
    field="mentee_questions",
    message="is empty; give at least one question",
)
WEEK_BEYOND_PROGRAM = Problem(
    file="week-17.toml",
    field="(file)",
    message="week 17 does not exist: the program has 16 weeks (weeks = 16 in "
    "curriculum.toml); remove the file or raise weeks",
)
UNKNOWN_TRACK = Problem(
    file="week-09.toml",
    field="variants.postdocs",
    message="unknown track 'postdocs' (did you mean 'postdoc'?); tracks declared in "
    "curriculum.toml: faculty, postdoc, student",
)
UNKNOWN_VARIABLE = Problem(
    file="week-10.toml",
    field="mentor_questions[2]",
    message="unknown template variable 'mentee_nmae' (did you mean 'mentee_name'?); "
    f"week text may use: {WEEK_TEXT_VARIABLES}",
)


def break_missing_week(root: Path) -> None:
    (root / "week-07.toml").unlink()


def break_phase(root: Path) -> None:
    edit(root / "week-03.toml", 'phase = "alignment"', 'phase = "alignmnet"')


def break_competency(root: Path) -> None:
    edit(
        root / "week-05.toml",
        '"effective_communication", "aligning_expectations"]',
        '"effective_communication", "aligning_expectation"]',
    )


def break_questions(root: Path) -> None:
    text = (root / "week-06.toml").read_text(encoding="utf-8")
    start = text.index("mentee_questions = [")
    end = text.index("]\n", start) + 2
    (root / "week-06.toml").write_text(
        text[:start] + "mentee_questions = []\n" + text[end:], encoding="utf-8"
    )


def break_week_beyond_program(root: Path) -> None:
    (root / "week-17.toml").write_text(
        (root / "week-16.toml").read_text(encoding="utf-8")
        + '\n[variants.postdoc]\ntitle = "Ending well as a postdoc"\n',
        encoding="utf-8",
    )


def break_track(root: Path) -> None:
    edit(root / "week-09.toml", "[variants.postdoc]", "[variants.postdocs]")
    edit(root / "week-09.toml", "[variants.postdoc.activity]", "[variants.postdocs.activity]")


def break_variable(root: Path) -> None:
    edit(
        root / "week-10.toml",
        "How might {{ mentee.your }} experience",
        "How might {{ mentee_nmae }}'s experience",
    )


CASES = [
    (break_missing_week, MISSING_WEEK),
    (break_phase, UNKNOWN_PHASE),
    (break_competency, UNKNOWN_COMPETENCY),
    (break_questions, EMPTY_QUESTIONS),
    (break_week_beyond_program, WEEK_BEYOND_PROGRAM),
    (break_track, UNKNOWN_TRACK),
    (break_variable, UNKNOWN_VARIABLE),
]


@pytest.mark.parametrize(("breaker", "problem"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_problem_is_reported_exactly(breaker, problem: Problem, copy_default: Path) -> None:
    breaker(copy_default)
    assert validate_curriculum(copy_default) == [problem]


def test_every_problem_is_reported_at_once_in_file_order(copy_default: Path) -> None:
    for breaker, _ in CASES:
        breaker(copy_default)
    assert validate_curriculum(copy_default) == [
        MISSING_WEEK,
        UNKNOWN_PHASE,
        UNKNOWN_COMPETENCY,
        EMPTY_QUESTIONS,
        UNKNOWN_TRACK,
        UNKNOWN_VARIABLE,
        WEEK_BEYOND_PROGRAM,
    ]


def test_loading_a_broken_curriculum_raises_with_every_problem(copy_default: Path) -> None:
    break_phase(copy_default)
    break_variable(copy_default)
    with pytest.raises(CurriculumError) as caught:
        load_curriculum(copy_default)
    assert caught.value.problems == (UNKNOWN_PHASE, UNKNOWN_VARIABLE)
    assert str(caught.value) == (
        f"2 problems in the curriculum {copy_default}:\n  {UNKNOWN_PHASE}\n  {UNKNOWN_VARIABLE}"
    )


def test_a_missing_folder_is_one_problem(tmp_path: Path) -> None:
    assert validate_curriculum(tmp_path / "nowhere") == [
        Problem(
            file=".",
            field="(file)",
            message=f"{tmp_path / 'nowhere'} is not a folder; give a curriculum folder",
        )
    ]


def test_a_missing_manifest_and_invalid_toml_are_reported(copy_default: Path) -> None:
    (copy_default / "curriculum.toml").unlink()
    (copy_default / "week-02.toml").write_text('title = "unfinished\n', encoding="utf-8")
    problems = validate_curriculum(copy_default)
    assert problems[0] == Problem(
        file="curriculum.toml",
        field="(file)",
        message="is missing; every curriculum folder needs one",
    )
    assert problems[1].file == "week-02.toml"
    assert problems[1].message.startswith("is not valid TOML: ")
    assert "line 1" in problems[1].message
    assert len(problems) == 2


def test_unknown_fields_get_a_suggestion(copy_default: Path) -> None:
    edit(copy_default / "week-01.toml", "framing = ", "framin = ")
    problems = validate_curriculum(copy_default)
    assert problems == [
        Problem(
            file="week-01.toml",
            field="framin",
            message="unknown field (did you mean 'framing'?); known fields here: title, phase, "
            "competencies, framing, mentor_questions, mentee_questions, activity, checkin, "
            "variants",
        ),
        Problem(file="week-01.toml", field="framing", message="is missing"),
    ]


def test_a_variant_cannot_change_the_phase(copy_default: Path) -> None:
    edit(
        copy_default / "week-04.toml",
        '[variants.student]\ntitle = "',
        '[variants.student]\nphase = "cultivation"\ntitle = "',
    )
    assert validate_curriculum(copy_default) == [
        Problem(
            file="week-04.toml",
            field="variants.student.phase",
            message="phase cannot differ by track; set it once, outside [variants]",
        )
    ]


def test_checkin_questions_are_checked(copy_default: Path) -> None:
    edit(copy_default / "week-02.toml", 'kind = "rating"', 'kind = "stars"')
    edit(
        copy_default / "week-02.toml",
        'text = "How clear are you now',
        'text = "{{ partner_name }}: how clear are you now',
    )
    assert validate_curriculum(copy_default) == [
        Problem(
            file="week-02.toml",
            field="checkin[1].text",
            message="check-in text is shown as written; remove the template markup",
        ),
        Problem(
            file="week-02.toml",
            field="checkin[1].kind",
            message="unknown check-in kind 'stars'; use one of: yes_no, minutes, rating, text",
        ),
    ]


def test_phases_must_run_in_order(copy_default: Path) -> None:
    edit(copy_default / "week-06.toml", 'phase = "cultivation"', 'phase = "alignment"')
    assert validate_curriculum(copy_default) == [
        Problem(
            file="week-06.toml",
            field="phase",
            message="'alignment' comes after a 'cultivation' week; phases run "
            "alignment → cultivation → closure",
        )
    ]


def test_the_final_week_needs_the_mentors_closing_reflection(copy_default: Path) -> None:
    edit(copy_default / "week-16.toml", 'audience = "mentor"\ntext = "What did', 'text = "What did')
    edit(
        copy_default / "week-16.toml", 'audience = "mentor"\ntext = "What will', 'text = "What will'
    )
    assert validate_curriculum(copy_default) == [
        Problem(
            file="week-16.toml",
            field="checkin",
            message="the final week needs the mentor's closing reflection: add at least one "
            'check-in question with audience = "mentor"',
        )
    ]


def test_a_career_stage_belongs_to_one_track(copy_default: Path) -> None:
    edit(copy_default / "curriculum.toml", 'stages = ["postdoc"]', 'stages = ["postdoc", "senior"]')
    edit(
        copy_default / "curriculum.toml",
        'stages = ["undergraduate", "graduate_student"]',
        'stages = ["undergraduate", "graduate_student", "postdoc"]',
    )
    assert validate_curriculum(copy_default) == [
        Problem(
            file="curriculum.toml",
            field="tracks.postdoc.stages[2]",
            message="unknown career stage 'senior' (did you mean 'senior_faculty'?); use one of: "
            "undergraduate, graduate_student, "
            "postdoc, early_career_faculty, mid_career_faculty, senior_faculty",
        ),
        Problem(
            file="curriculum.toml",
            field="tracks.student.stages[3]",
            message="'postdoc' is already in track 'postdoc'; a career stage belongs to one track",
        ),
    ]


def test_the_shipped_templates_use_only_known_variables(copy_default: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, copy_default / "templates", ignore=_not_messages)
    assert sorted(p.name for p in (copy_default / "templates").iterdir()) == [
        "closing.html.j2",
        "closing.txt.j2",
        "intro.html.j2",
        "intro.txt.j2",
        "reminder.html.j2",
        "reminder.txt.j2",
        "survey.html.j2",
        "survey.txt.j2",
        "weekly.html.j2",
        "weekly.txt.j2",
    ]
    assert validate_curriculum(copy_default) == []


def test_a_curriculum_template_with_an_unknown_variable_is_reported(copy_default: Path) -> None:
    (copy_default / "templates").mkdir()
    (copy_default / "templates" / "reminder.txt.j2").write_text(
        "{% set subject %}Week {{ week }}{% endset %}Hi {{ first_name }}\n", encoding="utf-8"
    )
    (copy_default / "templates" / "notes.txt").write_text("scratch\n", encoding="utf-8")
    problems = validate_curriculum(copy_default)
    assert [(p.file, p.field) for p in problems] == [
        ("templates/notes.txt", "(file)"),
        ("templates/reminder.txt.j2", "(template)"),
    ]
    assert problems[1].message.startswith(
        "unknown template variable 'first_name' (did you mean 'cohort_name'?); this template "
        "may use: Mentee, Mentor, checkin_url, "
    )
    assert "week_title" in problems[1].message


def _not_messages(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name.startswith("overview")]
