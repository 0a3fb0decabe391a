"""The batch renderer gives exactly what the direct renderer gives, for any names."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.matcher.types import Role
from tandem.prompts.batch import BatchRenderer
from tandem.prompts.curriculum import load_curriculum
from tandem.prompts.render import (
    MessageContext,
    SurveyContext,
    render_reminder,
    render_survey,
    render_weekly,
)

CURRICULUM = load_curriculum()
RENDERER = BatchRenderer(CURRICULUM)

word = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=("Lu", "Ll", "Nd", "Po"),
        exclude_characters="\ue000\ue001\ue002\ue003\ue004\ue005",
    ),
    min_size=1,
    max_size=14,
)
names = st.lists(word, min_size=1, max_size=4).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(
    mentor=names,
    mentee=names,
    week=st.integers(1, CURRICULUM.weeks_total),
    track=st.sampled_from(CURRICULUM.track_ids),
    role=st.sampled_from(list(Role)),
    missed=st.lists(st.sampled_from([w.title for w in CURRICULUM.weeks]), max_size=3).map(tuple),
    token=st.text(alphabet="abcdefXYZ0123456789-_&<", min_size=10, max_size=70),
    survey=st.sampled_from(
        ["", "AQAAAA-_x", "AQAAAAEAAAAAAAAAuwICAAAAAGwieIB95yXknPxxCNYS3JRGQh83&<"]
    ),
    first_week=st.sampled_from([1, 1, 5, CURRICULUM.weeks_total]),
)
def test_batch_equals_direct(
    mentor: str,
    mentee: str,
    week: int,
    track: str,
    role: Role,
    missed: tuple[str, ...],
    token: str,
    survey: str,
    first_week: int,
) -> None:
    """Also for a pair that joined late, whose messages count its own weeks."""
    context = MessageContext(
        mentor_name=mentor,
        mentee_name=mentee,
        cohort_name="Fall <2026> & co",
        week_start=date(2026, 9, 7),
        week_end=date(2026, 9, 13),
        checkin_url=f"https://mentoring.example.org/checkin/{token}",
        missed_topics=missed,
        survey_url=f"https://mentoring.example.org/survey/{survey}" if survey else "",
        first_week=first_week,
    )
    assert RENDERER.weekly(week, track, role, context) == render_weekly(
        CURRICULUM, week, track, role, context
    )
    assert RENDERER.reminder(week, track, role, context) == render_reminder(
        CURRICULUM, week, track, role, context
    )


def test_the_final_weeks_topic_carries_the_closing_survey_link_only_when_given() -> None:
    final = CURRICULUM.weeks_total
    context = MessageContext(
        mentor_name="Jordan Lee",
        mentee_name="Ana Ruiz",
        cohort_name="Fall 2026",
        week_start=date(2026, 12, 21),
        week_end=date(2026, 12, 27),
        checkin_url="https://mentoring.example.org/checkin/abc",
        survey_url="https://mentoring.example.org/survey/xyz",
    )
    mentee = RENDERER.weekly(final, None, Role.MENTEE, context)
    assert "https://mentoring.example.org/survey/xyz" in mentee.text
    assert "how your mentor's mentoring skills are now" in " ".join(mentee.text.split())
    assert '<a href="https://mentoring.example.org/survey/xyz">Answer the closing survey</a>' in (
        mentee.html
    )
    mentor = RENDERER.weekly(final, None, Role.MENTOR, context)
    assert "how your mentoring skills are now" in " ".join(mentor.text.split())
    without = RENDERER.weekly(
        final, None, Role.MENTOR, context.model_copy(update={"survey_url": ""})
    )
    assert "The closing survey" not in without.text and "/survey/" not in without.html


@settings(max_examples=60, deadline=None)
@given(
    recipient=names,
    mentor=st.one_of(st.just(""), names),
    survey=st.sampled_from(["baseline", "closing", "followup"]),
    role=st.sampled_from(list(Role)),
    reminder=st.booleans(),
    token=st.text(alphabet="abcdefXYZ0123456789-_&<", min_size=10, max_size=70),
)
def test_batch_equals_direct_for_survey_messages(
    recipient: str, mentor: str, survey: str, role: Role, reminder: bool, token: str
) -> None:
    context = SurveyContext(
        recipient_name=recipient,
        cohort_name="Fall <2026> & co",
        survey=survey,
        survey_title="Before we start: mentoring skills",
        survey_url=f"https://mentoring.example.org/survey/{token}",
        questions=20,
        mentor_name=mentor,
        reminder=reminder,
    )
    assert RENDERER.survey(role, context) == render_survey(CURRICULUM, role, context)


def test_a_late_pair_is_not_served_another_pairs_count() -> None:
    renderer = BatchRenderer(CURRICULUM)
    context = MessageContext(
        mentor_name="Ada Lovelace",
        mentee_name="Cy Diaz",
        cohort_name="Fall 2026",
        week_start=date(2026, 10, 26),
        week_end=date(2026, 11, 1),
        checkin_url="https://mentoring.example.org/checkin/abc",
    )
    for first_week in (1, 7, 1):
        late = context.model_copy(update={"first_week": first_week})
        for render, direct in (
            (renderer.weekly, render_weekly),
            (renderer.reminder, render_reminder),
        ):
            assert render(8, None, Role.MENTEE, late) == direct(
                CURRICULUM, 8, None, Role.MENTEE, late
            )
