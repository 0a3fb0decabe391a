"""Rendering messages as the participants will read them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from tandem.matcher.types import Role
from tandem.prompts.curriculum import Curriculum, load_curriculum
from tandem.prompts.errors import CurriculumError
from tandem.prompts.render import (
    IntroContext,
    MessageContext,
    ProgramVoice,
    format_date,
    preview_context,
    render_intro,
    render_overview,
    render_reminder,
    render_weekly,
    second_person,
)
from tandem.prompts.resources import Resource

DOCS = Path(__file__).resolve().parents[2] / "docs" / "curriculum.md"


def _every_week_and_track(curriculum: Curriculum) -> list[tuple[int, str]]:
    return [
        (number, track)
        for number in range(1, curriculum.weeks_total + 1)
        for track in curriculum.track_ids
    ]


@pytest.mark.parametrize("role", list(Role))
def test_every_week_and_track_renders_in_both_formats(
    curriculum: Curriculum, context: MessageContext, role: Role
) -> None:
    for number, track in _every_week_and_track(curriculum):
        content = curriculum.week(number, track)
        message = render_weekly(curriculum, number, track, role, context)
        where = f"week {number}, {track}, {role}"
        assert message.subject.startswith(f"Autumn Cohort, week {number} of 16: "), where
        for body in (message.text, message.html):
            assert "{{" not in body and "{%" not in body, where
            assert context.checkin_url in body, where
        recipient, partner = (
            ("Dr. Ana Souza", "Kwame Mensah")
            if role is Role.MENTOR
            else ("Kwame Mensah", "Dr. Ana Souza")
        )
        assert message.text.startswith(f"Hello {recipient},\n"), where
        assert partner in message.text, where
        assert f"Questions for you, as the {role.value}" in message.text, where
        assert message.html.startswith("<!DOCTYPE html>"), where
        assert message.html.count("<li>") == (
            len(content.questions_for(role))
            + len(content.activity.steps)
            + len(content.checkin_for(role))
        ), where


def test_each_person_sees_their_own_questions(
    curriculum: Curriculum, context: MessageContext
) -> None:
    mentor = render_weekly(curriculum, 3, None, Role.MENTOR, context)
    mentee = render_weekly(curriculum, 3, None, Role.MENTEE, context)
    mentor_question = "What confidentiality can Kwame Mensah count on"
    mentee_question = "How would you like to raise a problem with the relationship"
    assert mentor_question in mentor.html and mentor_question not in mentee.html
    assert mentee_question in mentee.html and mentee_question not in mentor.html
    for message in (mentor, mentee):
        assert "Draft your mentoring compact" in message.text
        assert "Do you have a first draft of your mentoring compact?" in message.text


def test_the_final_week_asks_only_the_mentor_for_the_closing_reflection(
    curriculum: Curriculum, context: MessageContext
) -> None:
    question = "What did you learn about yourself as a mentor during this program?"
    assert question in render_weekly(curriculum, 16, None, Role.MENTOR, context).text
    assert question not in render_weekly(curriculum, 16, None, Role.MENTEE, context).text


def test_the_track_changes_the_topic(curriculum: Curriculum, context: MessageContext) -> None:
    postdoc = render_weekly(curriculum, 9, "postdoc", Role.MENTEE, context)
    faculty = render_weekly(curriculum, 9, "faculty", Role.MENTEE, context)
    with_partner = " (with Dr. Ana Souza)"
    assert postdoc.subject.endswith(
        f"From your supervisor's project to your own research line{with_partner}"
    )
    assert faculty.subject.endswith(f"Building a group of your own{with_partner}")


def test_the_plain_text_message_reads_well(curriculum: Curriculum, context: MessageContext) -> None:
    text = render_weekly(curriculum, 1, None, Role.MENTEE, context).text
    assert text.splitlines()[:10] == [
        "Hello Kwame Mensah,",
        "",
        "Here is week 1 of 16 in Autumn Cohort, for Monday 7 September 2026 to Sunday",
        "13 September 2026. Set aside an hour with Dr. Ana Souza this week to talk it",
        "through.",
        "",
        "Getting to know each other",
        "--------------------------",
        "Skills this week: Maintaining effective communication, Addressing equity and",
        "inclusion (alignment phase)",
    ]
    assert all(len(line) <= 90 for line in text.splitlines())
    assert text.endswith(
        "the coordinator. Fill it in here:\nhttps://tandem.example.org/checkin/abc123\n\n"
        "Need a break, or want to leave the program? Open your check-in page (the\n"
        'link above) and choose "pause or leave"; nobody will ask you to explain.\n'
        "Questions, or anything you would rather raise privately? Reply to this\n"
        "message and it reaches the program's coordinator.\n\n"
        "With thanks,\nThe Autumn Cohort team\n"
    )


def test_missed_topics_appear_as_a_catch_up_section_only_when_there_are_some(
    curriculum: Curriculum, context: MessageContext
) -> None:
    plain = render_weekly(curriculum, 5, None, Role.MENTOR, context)
    assert "Catching up" not in plain.text and "Catching up" not in plain.html
    missed = context.model_copy(
        update={"missed_topics": ("Expectations on both sides", "Writing your mentoring compact")}
    )
    caught_up = render_weekly(curriculum, 5, None, Role.MENTOR, missed)
    assert (
        "Catching up\nYou have not yet had a chance to discuss these earlier topics. Pick up\n"
        "whatever still matters to you both:\n"
        "- Expectations on both sides\n- Writing your mentoring compact\n"
    ) in caught_up.text
    assert "<li>Writing your mentoring compact</li>" in caught_up.html


def test_html_is_escaped_and_text_is_not(curriculum: Curriculum, context: MessageContext) -> None:
    tricky = context.model_copy(update={"mentee_name": "Jo <b>& Co</b>"})
    message = render_weekly(curriculum, 2, None, Role.MENTOR, tricky)
    assert "Jo <b>& Co</b>" in message.text
    assert "Jo &lt;b&gt;&amp; Co&lt;/b&gt;" in message.html
    assert "<b>" not in message.html


def test_the_reminder_names_the_week_and_links_the_checkin(
    curriculum: Curriculum, context: MessageContext
) -> None:
    message = render_reminder(curriculum, 14, "faculty", Role.MENTEE, context)
    assert message.subject == "Autumn Cohort: your week 14 check-in"
    assert '"Promotion, tenure and the longer arc"' in " ".join(message.text.split())
    assert "&ldquo;Promotion, tenure and the longer arc&rdquo;" in message.html
    for body in (message.text, message.html):
        assert context.checkin_url in body
        assert "Dr. Ana Souza" in body


def test_the_introduction_shows_what_the_partner_shared_and_both_links(
    curriculum: Curriculum,
) -> None:
    context = IntroContext(
        mentor_name="Dr. Ana Souza",
        mentee_name="Kwame Mensah",
        cohort_name="Autumn Cohort",
        accept_url="https://tandem.example.org/accept/t1",
        decline_url="https://tandem.example.org/decline/t1",
        partner_profile=(
            ("Research areas", "soil ecology"),
            ("Institution", "Ridgeway University"),
        ),
        respond_by=date(2026, 9, 1),
        confirmation="require_both",
    )
    message = render_intro(curriculum, Role.MENTEE, context)
    assert message.subject == "Autumn Cohort: meet your mentor, Dr. Ana Souza"
    assert "- Research areas: soil ecology\n- Institution: Ridgeway University\n" in message.text
    assert "Please let us know by Tuesday 1 September 2026" in message.text
    assert '<a href="https://tandem.example.org/accept/t1">' in message.html
    assert '<a href="https://tandem.example.org/decline/t1">' in message.html
    assert "<dd>Ridgeway University</dd>" in message.html
    mentor = render_intro(
        curriculum, Role.MENTOR, context.model_copy(update={"partner_profile": ()})
    )
    assert mentor.subject == "Autumn Cohort: meet your mentee, Kwame Mensah"
    assert "chose to share" not in mentor.text


def test_a_missing_variable_is_an_error_never_a_blank(
    curriculum: Curriculum, context: MessageContext
) -> None:
    week = curriculum.weeks[0]
    broken = week.model_copy(update={"framing": "Welcome, {{ mentee_nickname }}."})
    unchecked = curriculum.model_copy(update={"weeks": (broken, *curriculum.weeks[1:])})
    with pytest.raises(CurriculumError) as caught:
        render_weekly(unchecked, 1, None, Role.MENTEE, context)
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("week-01.toml", "framing")
    assert problem.message.startswith(
        "variable 'mentee_nickname' is undefined; week text may use: Mentee, Mentor, checkin_url, "
    )


def test_a_template_reaching_for_a_missing_attribute_is_an_error(
    copy_default: Path, context: MessageContext
) -> None:
    (copy_default / "templates").mkdir()
    (copy_default / "templates" / "weekly.html.j2").write_text(
        "<p>{{ topic.sumary }}</p>\n", encoding="utf-8"
    )
    curriculum = load_curriculum(copy_default)
    with pytest.raises(CurriculumError) as caught:
        render_weekly(curriculum, 1, None, Role.MENTOR, context)
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("templates/weekly.html.j2", "(template)")
    assert "has no attribute 'sumary'" in problem.message


def test_a_curriculum_can_override_one_template(
    copy_default: Path, context: MessageContext
) -> None:
    (copy_default / "templates").mkdir()
    (copy_default / "templates" / "reminder.txt.j2").write_text(
        "{% set subject %}Check in, {{ recipient_name }}{% endset %}{{ checkin_url }}\n",
        encoding="utf-8",
    )
    curriculum = load_curriculum(copy_default)
    message = render_reminder(curriculum, 1, None, Role.MENTOR, context)
    assert message.subject == "Check in, Dr. Ana Souza"
    assert message.text == "https://tandem.example.org/checkin/abc123\n"
    assert message.html.startswith("<!DOCTYPE html>")  # the shipped HTML template


def test_a_week_cannot_end_before_it_starts(context: MessageContext) -> None:
    with pytest.raises(ValidationError, match="week_end is before week_start"):
        MessageContext(**{**context.model_dump(), "week_end": date(2026, 9, 6)})


def test_dates_are_written_out_in_full() -> None:
    assert format_date(date(2026, 9, 7)) == "Monday 7 September 2026"


def test_the_preview_pair_follows_the_program_calendar(curriculum: Curriculum) -> None:
    preview = preview_context(curriculum, 3)
    assert (preview.week_start, preview.week_end) == (date(2026, 9, 21), date(2026, 9, 27))
    assert preview.mentor_name == curriculum.preview.mentor_name


def test_the_curriculum_doc_is_up_to_date(curriculum: Curriculum) -> None:
    assert DOCS.read_text(encoding="utf-8") == render_overview(curriculum), (
        "docs/curriculum.md is out of date: run `tandem prompts docs`"
    )


def test_the_curriculum_doc_lists_every_week_with_phase_and_competencies(
    curriculum: Curriculum,
) -> None:
    overview = render_overview(curriculum)
    for week in curriculum.weeks:
        competencies = ", ".join(c.label for c in week.competencies)
        assert f"| {week.number} | {week.title} | {week.phase.label} | {competencies} |" in overview


@pytest.mark.parametrize(
    ("verb", "second"),
    [
        ("sends", "send"),
        ("chooses", "choose"),
        ("is", "are"),
        ("has", "have"),
        ("watches", "watch"),
        ("carries", "carry"),
        ("writes down", "write down"),
    ],
)
def test_a_verb_for_the_reader(verb: str, second: str) -> None:
    assert second_person(verb) == second


def test_local_resources_are_named_only_when_the_cohort_sets_them(
    curriculum: Curriculum, context: MessageContext
) -> None:
    plain = render_weekly(curriculum, 2, None, Role.MENTEE, context).text
    assert "Ombuds" not in plain and "independent advice" not in plain
    voice = ProgramVoice(resources=((Resource.OMBUDS, "the Ombuds Office (ombuds@uni.edu)"),))
    named = render_weekly(
        curriculum, 2, None, Role.MENTEE, context.model_copy(update={"voice": voice})
    ).text
    assert "the Ombuds Office (ombuds@uni.edu) offers confidential," in " ".join(named.split())


@pytest.mark.parametrize(
    ("mine", "theirs", "said"),
    [
        (True, True, None),
        (
            False,
            True,
            "Dr. Ana Souza cannot see your e-mail address (you chose not to share it), "
            "so please write to them first.",
        ),
        (
            True,
            False,
            "Dr. Ana Souza chose not to share an e-mail address but can see yours, so "
            "expect them to write to you first.",
        ),
        (
            False,
            False,
            "Neither of you chose to share an e-mail address with the other. Reply to "
            "this message and the program's coordinator will put you in touch.",
        ),
    ],
)
def test_an_introduction_says_who_writes_first_when_an_address_is_not_shared(
    curriculum: Curriculum, mine: bool, theirs: bool, said: str | None
) -> None:
    context = IntroContext(
        mentor_name="Dr. Ana Souza",
        mentee_name="Kwame Mensah",
        cohort_name="Autumn Cohort",
        accept_url="https://tandem.example.org/accept/t1",
        decline_url="https://tandem.example.org/decline/t1",
        respond_by=date(2026, 9, 1),
        shares_email=mine,
        partner_shares_email=theirs,
    )
    message = render_intro(curriculum, Role.MENTEE, context)
    text = " ".join(message.text.split())
    if said is None:
        assert "e-mail address" not in text
    else:
        assert said in text
        assert said[:40] in " ".join(message.html.split())
