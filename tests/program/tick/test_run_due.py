"""The tick over whole programs, with an injected clock (no sleeping)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.cohorts import Confirmation, PairAction, change_pair
from tandem.program.link_keys import link_secrets
from tandem.program.links import ChangeRequest, request_change
from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.store import unpack
from tandem.program.reports import cohort_status
from tandem.program.storage.tables import Cohort, OutboxMessage, Pair
from tandem.program.tick import TickSettings
from tandem.program.tokens import make_token
from tandem.prompts.curriculum import load_curriculum
from tests.program.helpers import LINK_KEYS, day, eml_headers, make_program, outbox, run_due


def body(message_row: OutboxMessage) -> str:
    parsed = message_from_bytes(unpack(message_row.content), policy=default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_whole_program_sends_each_person_one_topic_per_week(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=3)
    channel = FileOutbox(tmp_path / "outbox")
    for week in range(0, 17):
        for hours in (0, 1, 30):  # several ticks in each week, as a scheduler would run
            run_due(engine, day(program.instants, week, hours=hours), channel)
    closing = run_due(engine, day(program.instants, 16, days=8), channel)
    assert closing.completed == 3

    weekly = outbox(engine, kind="weekly")
    per_person_week = Counter((m.recipient_email, m.week) for m in weekly)
    people = {f"mentor{n}@uni.edu" for n in (1, 2, 3)} | {f"mentee{n}@uni.edu" for n in (1, 2, 3)}
    assert per_person_week == Counter({(p, w): 1 for p in people for w in range(1, 17)})
    assert all(m.status == "sent" for m in outbox(engine))
    files = eml_headers(tmp_path / "outbox")
    # topics, intros, digests, and the thank-you after the program; the baseline survey's
    # invitations, and a reminder of the baseline and the closing survey to each person
    # (nobody answered them)
    assert len(files) == len(outbox(engine)) == 6 * 16 + 6 + 16 + 6 + 6 + 6 + 6
    assert len({f["Message-ID"] for f in files}) == len(files)
    with Session(engine) as session:
        assert {p.state for p in session.exec(select(Pair)).all()} == {"completed"}


def test_a_second_tick_at_the_same_instant_sends_nothing(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path)
    channel = FileOutbox(tmp_path / "outbox")
    first = run_due(engine, day(program.instants, 3, hours=1), channel)
    assert first.delivered > 0
    again = run_due(engine, day(program.instants, 3, hours=1), channel)
    assert (sum(again.enqueued.values()), again.delivered) == (0, 0)


def test_a_three_week_outage_gives_one_catch_up_message_per_person(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 2, hours=1), channel)  # weeks 1–2 out
    # Down from before week 3 until week 5 is three days old (past the 2-day grace).
    late = run_due(engine, day(program.instants, 5, days=3), channel)
    assert sum(late.enqueued.values()) == 0 and late.delivered == 0
    back = run_due(engine, day(program.instants, 6, hours=2), channel)
    assert back.enqueued["weekly"] == 4  # one message per person, not four each
    week6 = outbox(engine, kind="weekly", week=6, recipient_email="mentee1@uni.edu")
    text = body(week6[0])
    assert "Catching up" in text
    curriculum = load_curriculum()
    for week in (3, 4, 5):
        assert f"- {curriculum.week(week, 'postdoc').title}" in text
    assert [m for m in outbox(engine, kind="weekly") if m.week in (3, 4, 5)] == []


def test_a_message_still_pending_past_the_grace_period_expires_and_is_caught_up(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("")
    run_due(
        engine,
        day(program.instants, 1, hours=1),
        FileOutbox(not_a_folder / "outbox"),
    )
    assert {m.status for m in outbox(engine, kind="weekly", week=1)} == {"pending"}
    channel = FileOutbox(tmp_path / "outbox")
    late = run_due(engine, day(program.instants, 1, days=3), channel)
    assert late.expired == 4
    assert {m.status for m in outbox(engine, kind="weekly", week=1)} == {"expired"}
    run_due(engine, day(program.instants, 2, hours=1), channel)
    text = body(outbox(engine, kind="weekly", week=2, recipient_email="mentee1@uni.edu")[0])
    assert f"- {load_curriculum().week(1, 'postdoc').title}" in text


def test_a_late_tick_within_the_grace_period_still_sends_that_week(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 1, hours=1), channel)
    report = run_due(engine, day(program.instants, 2, days=1, hours=23), channel)
    assert report.enqueued["weekly"] == 2
    assert "Catching up" not in body(outbox(engine, kind="weekly", week=2)[0])


def test_reminders_fire_once_on_the_right_day_and_not_after_a_check_in(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 2, hours=1), channel)
    answers = CheckinAnswers(met=True, minutes=40, rating=4)
    add_checkin(
        engine, "Fall 2026", "E001", 2, Role.MENTOR, answers, now=day(program.instants, 2, days=1)
    )
    early = run_due(engine, day(program.instants, 2, days=2, hours=23), channel)
    assert early.enqueued["reminder"] == 0
    due = run_due(engine, day(program.instants, 2, days=3, hours=1), channel)
    assert due.enqueued["reminder"] == 3  # everyone but pair 1's mentor
    assert run_due(engine, day(program.instants, 2, days=4), channel).enqueued["reminder"] == 0
    reminded = {m.recipient_email for m in outbox(engine, kind="reminder")}
    assert reminded == {"mentee1@uni.edu", "mentor2@uni.edu", "mentee2@uni.edu"}


def test_risk_flags_fire_on_the_right_days(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=3, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    met = CheckinAnswers(met=True, minutes=30, rating=4)
    for week in (1, 2):
        add_checkin(
            engine,
            "Fall 2026",
            "E001",
            week,
            Role.MENTEE,
            met,
            now=day(program.instants, week, days=1),
        )
    add_checkin(
        engine, "Fall 2026", "E002", 1, Role.MENTOR, met, now=day(program.instants, 1, days=1)
    )
    add_checkin(
        engine,
        "Fall 2026",
        "E002",
        2,
        Role.MENTOR,
        CheckinAnswers(met=True, rating=2),
        now=day(program.instants, 2, days=1),
    )

    def risks() -> dict[str, str]:
        return {
            r.mentee_id: r.risk
            for r in cohort_status(engine, "Fall 2026", day(program.instants, 3))
        }

    run_due(engine, day(program.instants, 2, days=6), channel)  # week 2 still open
    assert risks() == {"E001": "", "E002": "rated the mentoring 2 of 5 in week 2", "E003": ""}
    run_due(engine, day(program.instants, 3, hours=1), channel)  # weeks 1–2 closed
    assert risks() == {
        "E001": "",
        "E002": "rated the mentoring 2 of 5 in week 2",
        "E003": "no check-in yet",
    }
    add_checkin(
        engine, "Fall 2026", "E003", 2, Role.MENTEE, met, now=day(program.instants, 3, days=1)
    )
    run_due(engine, day(program.instants, 3, days=1, hours=1), channel)
    assert risks()["E003"] == ""


def test_paused_pairs_get_no_messages_until_resumed(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 2, hours=1), channel)
    change_pair(
        engine,
        "Fall 2026",
        "E001",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 2, days=1),
    )
    run_due(engine, day(program.instants, 3, hours=1), channel)
    assert {m.recipient_email for m in outbox(engine, kind="weekly", week=3)} == {
        "mentor2@uni.edu",
        "mentee2@uni.edu",
    }
    change_pair(
        engine,
        "Fall 2026",
        "E001",
        PairAction.RESUME,
        actor="coordinator",
        now=day(program.instants, 3, days=2),
    )
    run_due(engine, day(program.instants, 4, hours=1), channel)
    assert len(outbox(engine, kind="weekly", week=4)) == 4


def test_require_both_frees_unconfirmed_mentees_and_flags_them_first(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(
        engine, tmp_path, pairs=2, confirmation=Confirmation.REQUIRE_BOTH, coordinator=None
    )
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 0, hours=1), channel)
    assert outbox(engine, kind="weekly") == []  # nobody gets topics before confirming
    change_pair(
        engine,
        "Fall 2026",
        "E001",
        PairAction.ACCEPT,
        actor="coordinator",
        now=day(program.instants, 0, days=1),
    )
    run_due(engine, day(program.instants, 0, days=4), channel)
    status = {
        r.mentee_id: r for r in cohort_status(engine, "Fall 2026", day(program.instants, 0, days=4))
    }
    assert (
        status["E001"].state == "active"
        and status["E002"].risk == "match not yet confirmed by both"
    )
    report = run_due(engine, day(program.instants, 0, days=7, hours=1), channel)
    assert report.freed == 1
    status = {
        r.mentee_id: r for r in cohort_status(engine, "Fall 2026", day(program.instants, 1, days=7))
    }
    assert status["E002"].state == "declined"


def test_opt_out_pairs_become_active_when_the_window_closes(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 0, hours=1), channel)
    change_pair(
        engine,
        "Fall 2026",
        "E002",
        PairAction.DECLINE,
        actor="mentee",
        role=Role.MENTEE,
        reason="schedule conflict",
        now=day(program.instants, 0, days=2),
    )
    report = run_due(engine, day(program.instants, 0, days=7, hours=1), channel)
    assert report.activated == 1
    run_due(engine, day(program.instants, 1, days=7, hours=1), channel)
    assert {m.recipient_email for m in outbox(engine, kind="weekly", week=2)} == {
        "mentor1@uni.edu",
        "mentee1@uni.edu",
    }


def test_digest_lists_declines(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 1, hours=1), channel)
    change_pair(
        engine,
        "Fall 2026",
        "E002",
        PairAction.DECLINE,
        actor="coordinator",
        reason="conflict of interest",
        now=day(program.instants, 1, days=1),
    )
    run_due(engine, day(program.instants, 2, hours=1), channel)
    digest = outbox(engine, kind="digest", week=2)[0]
    text = body(digest)
    assert "Mentee 2 with Mentor 2: declined (conflict of interest)" in text


def test_status_never_shows_check_in_notes(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    note = CheckinAnswers(met=True, rating=5, note="private: going through a hard time")
    add_checkin(
        engine, "Fall 2026", "E001", 1, Role.MENTEE, note, now=day(program.instants, 1, days=1)
    )
    run_due(
        engine,
        day(program.instants, 3, hours=1),
        FileOutbox(tmp_path / "outbox"),
    )
    rows = [
        r.as_row() for r in cohort_status(engine, "Fall 2026", day(program.instants, 3, hours=1))
    ]
    assert "hard time" not in repr(rows)
    assert all("hard time" not in body(m) for m in outbox(engine))
    assert rows[0]["weeks_met"] == 1 and rows[0]["weeks_due"] == 3


def test_checkin_after_the_grace_is_still_recorded(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    outcome = add_checkin(
        engine,
        "Fall 2026",
        "E001",
        1,
        Role.MENTOR,
        CheckinAnswers(met=False),
        now=day(program.instants, 5),
    )
    again = add_checkin(
        engine,
        "Fall 2026",
        "E001",
        1,
        Role.MENTOR,
        CheckinAnswers(met=False),
        now=day(program.instants, 5),
    )
    assert (outcome, again) == ("added", "unchanged")


def test_a_pair_with_an_agreed_slot_gets_a_calendar_invitation(
    engine: Engine, tmp_path: Path
) -> None:
    from datetime import time

    from tandem.program.cohorts import set_meeting_slot

    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    set_meeting_slot(
        engine, "Fall 2026", "E001", weekday=3, at=time(15, 0), minutes=45, now=program.instants[0]
    )
    run_due(
        engine,
        day(program.instants, 2, hours=1),
        FileOutbox(tmp_path / "outbox"),
    )
    for message in outbox(engine, kind="weekly", week=2):
        parsed = message_from_bytes(unpack(message.content), policy=default)
        calendars = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
        if message.recipient_email.endswith(("1@uni.edu",)):
            ics = calendars[0].get_payload(decode=True)
            assert b"DTSTART;TZID=America/New_York:20260917T150000" in ics
            assert b"METHOD:REQUEST" in ics
        else:
            assert calendars == []


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2], ids=["fork", "spawn"])
def test_worker_processes_send_what_one_process_would(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """A tick that spreads the pairs over worker processes sends each message once
    (workers forked when this process runs one thread, started afresh otherwise)."""
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: threads)
    # 5 pairs: three chunks, one chunk per task.
    settings = TickSettings(chunk=2, task_chunks=1)
    program = make_program(engine, tmp_path, pairs=5)
    channel = FileOutbox(tmp_path / "outbox")
    reports = [
        run_due(
            engine,
            day(program.instants, week, hours=1),
            channel,
            workers=2,
            settings=settings,
        )
        for week in range(0, 4)
    ]
    again = run_due(
        engine,
        day(program.instants, 3, hours=1),
        channel,
        workers=2,
        settings=settings,
    )

    weekly = outbox(engine, kind="weekly")
    per_person_week = Counter((m.recipient_email, m.week) for m in weekly)
    people = {f"mentor{n}@uni.edu" for n in range(1, 6)} | {
        f"mentee{n}@uni.edu" for n in range(1, 6)
    }
    assert per_person_week == Counter({(p, w): 1 for p in people for w in range(1, 4)})
    assert all(m.status == "sent" and m.claim is None for m in outbox(engine))
    assert sum(r.delivered for r in reports) == len(outbox(engine))
    assert sum(reports[3].enqueued.values()) == 10 + 1  # week 3's topics and the digest
    assert (sum(again.enqueued.values()), again.delivered) == (0, 0)
    files = eml_headers(tmp_path / "outbox")
    assert sorted(f["Message-ID"] for f in files) == sorted(m.message_id for m in outbox(engine))


def test_digest_lists_participants_requests_to_pause_or_leave(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 1, hours=1), channel)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pair = session.exec(select(Pair).order_by(col(Pair.pk))).all()[1]
    asked = day(program.instants, 1, days=2)
    token = make_token(
        link_secrets(LINK_KEYS, cohort),
        pair_id=pair.pk or 0,
        week=1,
        role="mentee",
        expires=asked + timedelta(days=7),
    )
    request_change(
        engine,
        token,
        ChangeRequest.PAUSE,
        reason="surgery in May",
        now=asked,
        link_keys=LINK_KEYS,
    )
    run_due(engine, day(program.instants, 2, hours=1), channel)
    text = body(outbox(engine, kind="digest", week=2)[0])
    assert "Asked to pause or leave since the last digest (1):" in text
    assert "Mentee 2 with Mentor 2: the mentee asks to pause (surgery in May)" in text
    run_due(engine, day(program.instants, 3, hours=1), channel)
    later = body(outbox(engine, kind="digest", week=3)[0])
    assert "Nobody asked to pause or leave since the last digest." in later


@pytest.mark.parametrize("confirmation", list(Confirmation))
def test_a_first_tick_days_late_still_introduces_every_pair_with_a_fresh_window(
    engine: Engine, tmp_path: Path, confirmation: Confirmation
) -> None:
    """The first tick comes nine days after the start (past the grace period and the
    response window): each person still gets exactly one introduction, with time to
    answer, and the week that is due as any pair would; nobody is activated or freed on
    a window they were never told about."""
    program = make_program(engine, tmp_path, pairs=2, confirmation=confirmation)
    channel = FileOutbox(tmp_path / "outbox")
    late = day(program.instants, 0, days=9)
    report = run_due(engine, late, channel)
    assert (report.activated, report.freed) == (0, 0)
    intros = outbox(engine, kind="intro")
    assert Counter(m.recipient_email for m in intros) == Counter(
        {f"{role}{n}@uni.edu": 1 for role in ("mentor", "mentee") for n in (1, 2)}
    )
    assert {m.status for m in intros} == {"sent"}
    respond_by = late + timedelta(days=7)
    with Session(engine) as session:
        pairs = session.exec(select(Pair).order_by(col(Pair.pk))).all()
        assert [(p.state, p.proposed_at, p.respond_by) for p in pairs] == [
            ("proposed", late, respond_by)
        ] * 2
    text = " ".join(body(intros[1]).split())
    assert "Wednesday 23 September 2026" in text  # respond_by, in New York
    assert "for the next 15 weeks" in text  # weeks 2 to 16
    weekly = outbox(engine, kind="weekly")
    if confirmation is Confirmation.OPT_OUT:  # a proposed pair gets topics unless it declines
        assert sorted((m.recipient_email, m.week) for m in weekly) == sorted(
            (f"{role}{n}@uni.edu", 2) for role in ("mentor", "mentee") for n in (1, 2)
        )
        week1 = load_curriculum().week(1, "postdoc").title
        mine = outbox(engine, kind="weekly", recipient_email="mentee1@uni.edu")
        assert f"- {week1}" in body(mine[-1])
    else:  # topics wait for both to accept
        assert weekly == []
    again = run_due(engine, late + timedelta(hours=1), channel)
    assert sum(again.enqueued.values()) == 0
    closed = run_due(engine, respond_by + timedelta(hours=1), channel)
    if confirmation is Confirmation.OPT_OUT:
        assert closed.activated == 2
        with Session(engine) as session:
            assert {p.activated_at for p in session.exec(select(Pair)).all()} == {respond_by}
    else:
        assert closed.freed == 2
