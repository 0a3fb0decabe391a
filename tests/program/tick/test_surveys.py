"""The evaluation surveys through the tick: invitations, links, one reminder, exactly once.

The rules are stated in ``tandem/program/tick/surveys.py``; these tests run whole programs
with an injected clock, as the scheduler would (several ticks a day, and a daily tick
for months after the close).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.cohorts import CohortSettings, PairAction, change_pair, create_cohort
from tandem.program.evaluation.responses import import_responses
from tandem.program.link_keys import link_secrets
from tandem.program.outbox.channels import FileOutbox
from tandem.program.roster import store as roster
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Cohort, Pair, Participant
from tandem.program.survey_links import open_survey, submit_survey
from tandem.program.tick import TickSettings
from tandem.program.tokens import LinkSecrets, verify_survey_token
from tandem.program.withdrawal import withdraw_participant
from tandem.prompts.surveys import SurveyName
from tests.program.helpers import (
    CREATED,
    LINK_KEYS,
    Program,
    day,
    make_program,
    outbox,
    roster_files,
    run_due,
    send_instants,
    store_match,
    survey_export,
    survey_form,
    survey_tokens,
    survey_tokens_in,
)
from tests.program.tick.test_run_due import body

NEW_YORK = ZoneInfo("America/New_York")


def followup_day(program: Program) -> datetime:
    """09:00 in New York, 7 + 91 days after the final week's day (a DST change between)."""
    final = program.instants[-1].astimezone(NEW_YORK).date()
    return datetime.combine(final + timedelta(days=98), time(9, 0), tzinfo=NEW_YORK)


def tick_through(engine: Engine, program: Program, channel: FileOutbox, days: int = 130) -> None:
    """Ticks as a scheduler would run them: several in each week, then daily after the
    final week for ``days`` days."""
    for week in range(0, len(program.instants)):
        for hours in (0, 1, 30, 100, 125):
            run_due(engine, day(program.instants, week, hours=hours), channel)
    for days_on in range(1, days):
        run_due(engine, day(program.instants, 16, days=days_on, hours=2), channel)


def people(engine: Engine) -> dict[str, Participant]:
    with Session(engine) as session:
        return {p.email: p for p in session.exec(select(Participant)).all()}


def keys_of(engine: Engine) -> LinkSecrets:
    with Session(engine) as session:
        return link_secrets(LINK_KEYS, session.exec(select(Cohort)).one())


def test_each_survey_reaches_each_person_once_at_its_time_with_their_own_link(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=3)
    channel = FileOutbox(tmp_path / "outbox")
    tick_through(engine, program, channel)
    everyone = people(engine)
    instants = program.instants

    invitations = outbox(engine, kind="survey")
    reminders = outbox(engine, kind="survey_reminder")
    # The baseline with the first topic (week 1), to all six; the follow-up to the three
    # mentors (the instrument asks mentees nothing), 13 weeks after the close.
    assert sorted((m.recipient_email, m.due_at, m.week) for m in invitations) == sorted(
        [(f"{who}{n}@uni.edu", instants[1], 1) for who in ("mentor", "mentee") for n in (1, 2, 3)]
        + [(f"mentor{n}@uni.edu", followup_day(program), 16) for n in (1, 2, 3)]
    )
    # Nobody answered: one reminder of each survey to each person asked it, 4 days after.
    assert Counter((m.recipient_email, m.week) for m in reminders) == Counter(
        {
            (f"{who}{n}@uni.edu", w): 1
            for who in ("mentor", "mentee")
            for n in (1, 2, 3)
            for w in (1, 16)
        }
        | {(f"mentor{n}@uni.edu", 16): 2 for n in (1, 2, 3)}
    )
    assert {m.due_at - instants[1] for m in reminders if m.week == 1} == {timedelta(days=4)}
    assert {m.status for m in invitations + reminders} == {"sent"}

    # Every link names its recipient, their role and its survey.
    keys = keys_of(engine)
    carriers = [m for m in outbox(engine) if m.kind.startswith("survey") or m.week == 16]
    for row in carriers:
        tokens = survey_tokens_in(row)
        if row.kind in ("weekly", "survey", "survey_reminder"):
            assert len(tokens) == 1, (row.kind, row.week)
        else:  # the thank-you after the program, the digest, check-in reminders
            assert tokens == [], row.kind
            continue
        claims = verify_survey_token(keys, tokens[0], now=row.due_at)
        person = everyone[row.recipient_email]
        survey = SurveyName.CLOSING if row.kind == "weekly" else SurveyName(row.key.split("/")[2])
        assert (claims.participant_pk, claims.role.value, claims.survey) == (
            person.pk,
            person.role,
            survey,
        )
    assert all(survey_tokens_in(m) == [] for m in outbox(engine, kind="weekly") if m.week < 16)
    # The final week's topic links to the closing survey, and says so.
    [week16] = outbox(engine, kind="weekly", week=16, recipient_email="mentee2@uni.edu")
    assert "please answer the closing survey" in " ".join(body(week16).split())
    final = survey_tokens(engine, "mentee2@uni.edu", kind="weekly")
    assert len(final) == 1
    page = open_survey(engine, final[0], now=instants[16], link_keys=LINK_KEYS)
    assert (page.survey, page.role, page.mentor_name) == (SurveyName.CLOSING, "mentee", "Mentor 2")

    # Ticking it all again sends nothing.
    before = len(outbox(engine))
    tick_through(engine, program, channel)
    assert len(outbox(engine)) == before


def test_a_reminder_goes_only_to_those_who_have_not_answered(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=3)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 1, hours=1), channel)
    [mentor1] = survey_tokens(engine, "mentor1@uni.edu", kind="survey")
    answered = day(program.instants, 1, days=2)
    submit_survey(
        engine, mentor1, survey_form("baseline", Role.MENTOR), now=answered, link_keys=LINK_KEYS
    )
    row = {"email": "mentee2@uni.edu", "survey": "baseline"}
    export = survey_export(tmp_path / "baseline.csv", [row | survey_form("baseline", Role.MENTEE)])
    import_responses(engine, program.name, export, now=answered)

    early = run_due(engine, day(program.instants, 1, days=3, hours=23), channel)
    assert early.enqueued["survey_reminder"] == 0
    due = run_due(engine, day(program.instants, 1, days=4, hours=1), channel)
    assert due.enqueued["survey_reminder"] == 4
    assert {m.recipient_email for m in outbox(engine, kind="survey_reminder")} == {
        "mentee1@uni.edu",
        "mentor2@uni.edu",
        "mentee3@uni.edu",
        "mentor3@uni.edu",
    }
    for hours in (2, 30, 200):  # one reminder only
        again = run_due(engine, day(program.instants, 1, days=4, hours=hours), channel)
        assert again.enqueued["survey_reminder"] == 0
    # A reminder's link works, and answering through it is what the invitation's would do.
    [reminded] = survey_tokens(engine, "mentor2@uni.edu", kind="survey_reminder")
    later = day(program.instants, 1, days=5)
    submit_survey(
        engine, reminded, survey_form("baseline", Role.MENTOR, 3), now=later, link_keys=LINK_KEYS
    )
    [invited] = survey_tokens(engine, "mentor2@uni.edu", kind="survey")
    assert open_survey(engine, invited, now=later, link_keys=LINK_KEYS).recorded == survey_form(
        "baseline", Role.MENTOR, 3
    )


def test_withdrawn_declined_and_ended_people_are_not_invited(
    engine: Engine, tmp_path: Path
) -> None:
    # Start on a Wednesday: the introductions go out five days before the first topic.
    program = make_program(engine, tmp_path, pairs=5, start=date(2026, 9, 2))
    channel = FileOutbox(tmp_path / "outbox")
    instants = program.instants
    run_due(engine, day(instants, 0, hours=1), channel)
    assert outbox(engine, kind="survey") == []  # not with the introduction
    change_pair(
        engine,
        program.name,
        "E002",
        PairAction.DECLINE,
        actor="mentee",
        role=Role.MENTEE,
        reason="schedule conflict",
        now=day(instants, 0, days=1),
    )
    withdraw_participant(
        engine,
        "M003",
        role=Role.MENTOR,
        reason="moved away",
        actor="coordinator",
        now=day(instants, 0, days=1),
    )
    for week in range(1, 17):
        run_due(engine, day(instants, week, hours=1), channel)
        if week == 8:
            change_pair(
                engine,
                program.name,
                "E004",
                PairAction.END,
                actor="coordinator",
                reason="mentee left the university",
                now=day(instants, 8, days=1),
            )
        run_due(engine, day(instants, week, days=4, hours=2), channel)
    run_due(engine, day(instants, 16, days=8), channel)  # the close
    withdraw_participant(
        engine,
        "M005",
        role=Role.MENTOR,
        reason="asked to hear no more",
        actor="coordinator",
        now=day(instants, 16, days=9),
    )
    for days_on in range(10, 130):
        run_due(engine, day(instants, 16, days=days_on), channel)

    def to(kind: str, week: int) -> set[str]:
        return {m.recipient_email for m in outbox(engine, kind=kind) if m.week == week}

    taking_part = {f"{w}{n}@uni.edu" for w in ("mentor", "mentee") for n in (1, 4, 5)}
    assert to("survey", 1) == to("survey_reminder", 1) == taking_part
    final = {f"{w}{n}@uni.edu" for w in ("mentor", "mentee") for n in (1, 5)}
    assert {m.recipient_email for m in outbox(engine, kind="weekly", week=16)} == final
    assert to("survey_reminder", 16) == final  # the closing survey's reminders
    assert to("survey", 16) == {"mentor1@uni.edu"}  # the follow-up: M005 withdrew
    assert [m.recipient_email for m in outbox(engine, kind="survey_reminder", week=16)].count(
        "mentor1@uni.edu"
    ) == 2  # the closing survey's and the follow-up's


def test_a_mentor_of_two_mentees_gets_one_invitation_and_one_reminder(
    engine: Engine, tmp_path: Path
) -> None:
    mentors, mentees = roster_files(tmp_path, 2)
    roster.import_roster(engine, mentors, Role.MENTOR, now=CREATED)
    roster.import_roster(engine, mentees, Role.MENTEE, now=CREATED)
    store_match(engine, "2026", [("E001", "M001"), ("E002", "M001")])
    create_cohort(
        engine,
        CohortSettings(
            name="Fall 2026", cycle="2026", start=date(2026, 9, 7), timezone="America/New_York"
        ),
        now=CREATED,
    )
    with Session(engine) as session:
        instants = send_instants(session.exec(select(Cohort)).one())
    channel = FileOutbox(tmp_path / "outbox")
    small = TickSettings(chunk=1)  # each pair in a chunk of its own
    for week, days in [(1, 0), (1, 4), (16, 0), (16, 4)]:
        run_due(engine, day(instants, week, days=days, hours=1), channel, settings=small)
    mentor = [m for m in outbox(engine) if m.recipient_email == "mentor1@uni.edu"]
    kinds = ("weekly", "survey", "survey_reminder")
    assert Counter((m.kind, m.week) for m in mentor if m.kind in kinds) == Counter(
        {
            ("weekly", 1): 2,
            ("survey", 1): 1,
            ("survey_reminder", 1): 1,
            ("weekly", 16): 2,  # each carries the same person's closing link
            ("survey_reminder", 16): 1,
        }
    )
    tokens = survey_tokens(engine, "mentor1@uni.edu", kind="weekly")
    pages = [open_survey(engine, t, now=instants[16], link_keys=LINK_KEYS) for t in tokens]
    assert [(p.survey, p.my_name, p.mentor_name) for p in pages] == [
        (SurveyName.CLOSING, "Mentor 1", None)
    ] * 2


def test_a_follow_up_is_sent_late_only_within_its_allowance(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 16, hours=1), channel)
    run_due(engine, day(program.instants, 16, days=8), channel)  # the close
    at = followup_day(program)
    assert run_due(engine, at - timedelta(minutes=1), channel).enqueued["survey"] == 0
    # The service was stopped from before the follow-up's day until 15 days after it:
    # it is left out (the default allowance is 14 days) ...
    assert run_due(engine, at + timedelta(days=15), channel).enqueued["survey"] == 0
    assert outbox(engine, kind="survey") == []
    # ... unless the allowance is longer; then it is sent, dated on its day.
    longer = TickSettings(survey_late=timedelta(days=20))
    late = run_due(engine, at + timedelta(days=15), channel, settings=longer)
    assert late.enqueued["survey"] == 1
    assert [(m.recipient_email, m.due_at) for m in outbox(engine, kind="survey")] == [
        ("mentor1@uni.edu", at)
    ]


def test_a_pair_that_starts_late_gets_the_baseline_with_its_first_topic(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    with transaction(engine) as session:  # as a rematch makes it: its topics from week 5
        late = session.exec(select(Pair).order_by(col(Pair.pk))).all()[1]
        late.first_week = 5
    channel = FileOutbox(tmp_path / "outbox")
    row = {"email": "mentee2@uni.edu", "survey": "baseline"}  # answered already, by export
    export = survey_export(tmp_path / "baseline.csv", [row | survey_form("baseline", Role.MENTEE)])
    import_responses(engine, program.name, export, now=day(program.instants, 1))
    for week in range(1, 7):
        run_due(engine, day(program.instants, week, hours=1), channel)
    invited = {(m.recipient_email, m.week) for m in outbox(engine, kind="survey")}
    assert invited == {("mentor1@uni.edu", 1), ("mentee1@uni.edu", 1), ("mentor2@uni.edu", 5)}
    [first] = outbox(engine, kind="weekly", recipient_email="mentor2@uni.edu")[:1]
    assert first.week == 5
