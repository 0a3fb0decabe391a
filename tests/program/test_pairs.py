"""The pair lifecycle: one transition for coordinators, participants' links and the tick."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.cohorts import CohortError, PairChange, change_pair, record_response
from tandem.program.link_keys import link_secrets
from tandem.program.outbox.channels import FileOutbox
from tandem.program.pairs import (
    SYSTEM_ACTOR,
    Confirmation,
    MatchResponse,
    PairAction,
    PairState,
    allowed_actions,
    receives_weekly,
    transition,
    window_closed,
)
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Cohort, Pair, PairEvent
from tandem.program.tokens import make_token
from tests.program.helpers import CREATED, LINK_KEYS, day, make_program, run_due


def pairs(engine: Engine) -> list[Pair]:
    with Session(engine) as session:
        return list(session.exec(select(Pair).order_by(col(Pair.pk))).all())


def events(engine: Engine, pair_pk: int) -> list[tuple[str | None, str, str, str | None]]:
    with Session(engine) as session:
        rows = session.exec(
            select(PairEvent).where(PairEvent.pair_pk == pair_pk).order_by(col(PairEvent.pk))
        ).all()
        return [(e.from_state, e.to_state, e.actor, e.reason) for e in rows]


def test_a_late_tick_activates_pairs_when_their_window_closed(
    engine: Engine, tmp_path: Path
) -> None:
    """activated_at is when the response window closed, not when a tick got round to it
    (the tick used to stamp its own clock)."""
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    outbox = FileOutbox(tmp_path / "outbox")
    run_due(engine, program.instants[0], outbox)  # the introductions
    respond_by = pairs(engine)[0].respond_by
    late = respond_by + timedelta(days=2, hours=5)
    report = run_due(engine, late, outbox)
    assert report.activated == 2
    for pair in pairs(engine):
        assert pair.state == PairState.ACTIVE
        assert pair.activated_at == pair.respond_by == respond_by
        assert pair.ended_at is None
        assert events(engine, pair.pk or 0)[-1] == (
            "proposed",
            "active",
            SYSTEM_ACTOR,
            "response window closed",
        )
    assert program.instants[0] < respond_by < late


def test_acceptance_activates_at_once_and_a_resumed_pair_keeps_its_first_activation(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    accepted = day(program.instants, 0, days=1)
    change_pair(engine, "Fall 2026", "E001", PairAction.ACCEPT, actor="coord", now=accepted)
    paused = day(program.instants, 3)
    resumed = day(program.instants, 5)
    change_pair(
        engine, "Fall 2026", "E001", PairAction.PAUSE, actor="coord", now=paused, reason="leave"
    )
    change = change_pair(engine, "Fall 2026", "E001", PairAction.RESUME, actor="coord", now=resumed)
    assert (change.before, change.state, change.changed) == (
        PairState.PAUSED,
        PairState.ACTIVE,
        True,
    )  # what was written
    [stored] = pairs(engine)
    assert (stored.state, stored.activated_at) == (PairState.ACTIVE, accepted)
    assert (stored.mentor_response, stored.mentee_response) == (
        MatchResponse.ACCEPTED,
        MatchResponse.ACCEPTED,
    )
    assert [e[:2] for e in events(engine, stored.pk or 0)] == [
        (None, "proposed"),
        ("proposed", "active"),
        ("active", "paused"),
        ("paused", "active"),
    ]
    # The tick has nothing left to activate once the window closes.
    report = run_due(
        engine,
        day(program.instants, 5, hours=1),
        FileOutbox(tmp_path / "outbox"),
    )
    assert report.activated == 0
    assert pairs(engine)[0].activated_at == accepted


def test_a_paused_proposal_is_resumed_as_a_proposal_that_both_can_still_answer(
    engine: Engine, tmp_path: Path
) -> None:
    """Resuming used to make every paused pair active: a proposal paused and resumed had
    started without its partners' answers, and could no longer be declined."""
    program = make_program(engine, tmp_path, pairs=3, coordinator=None)
    now = day(program.instants, 0, hours=1)

    def act(mentee: str, action: PairAction, role: Role | None = None) -> PairChange:
        reason = "not a fit" if action is PairAction.DECLINE else "fieldwork"
        return change_pair(
            engine, "Fall 2026", mentee, action, actor="coord", now=now, reason=reason, role=role
        )

    assert act("E001", PairAction.ACCEPT, Role.MENTOR).state is PairState.PROPOSED
    assert act("E001", PairAction.PAUSE).state is PairState.PAUSED
    resumed = act("E001", PairAction.RESUME)
    assert (resumed.state, resumed.proposal, resumed.changed) == (PairState.PROPOSED, True, True)
    assert act("E001", PairAction.RESUME).changed is False  # nothing is paused: no change
    [first, *_] = pairs(engine)
    assert (first.state, first.mentor_response, first.mentee_response, first.activated_at) == (
        PairState.PROPOSED,
        MatchResponse.ACCEPTED,
        None,
        None,
    )
    declined = act("E001", PairAction.DECLINE, Role.MENTEE)
    assert (declined.state, declined.mentee_response) == (PairState.DECLINED, "declined")
    assert [e[:2] for e in events(engine, first.pk or 0)] == [
        (None, "proposed"),
        ("proposed", "paused"),
        ("paused", "proposed"),
        ("proposed", "declined"),
    ]
    # While paused, a proposal still takes answers; accepted by both, it resumes active.
    act("E002", PairAction.PAUSE)
    assert act("E002", PairAction.ACCEPT, Role.MENTEE).proposal
    both = act("E002", PairAction.ACCEPT, Role.MENTOR)
    assert (both.state, both.proposal) == (PairState.PAUSED, False)
    assert act("E002", PairAction.RESUME).state is PairState.ACTIVE
    assert pairs(engine)[1].activated_at == now
    # A paused proposal can be declined; a paused active pair cannot (it is ended).
    act("E003", PairAction.PAUSE)
    assert act("E003", PairAction.DECLINE, Role.MENTOR).state is PairState.DECLINED
    act("E002", PairAction.PAUSE)
    with pytest.raises(CohortError, match="cannot decline a pair that is paused"):
        act("E002", PairAction.DECLINE, Role.MENTOR)


def test_the_actions_each_state_allows() -> None:
    assert allowed_actions("proposed") == (
        PairAction.ACCEPT,
        PairAction.DECLINE,
        PairAction.PAUSE,
        PairAction.END,
    )
    assert allowed_actions(PairState.ACTIVE) == (PairAction.PAUSE, PairAction.END)
    assert allowed_actions("paused", PairState.ACTIVE) == (PairAction.RESUME, PairAction.END)
    assert allowed_actions("paused", PairState.PROPOSED) == (
        PairAction.ACCEPT,
        PairAction.DECLINE,
        PairAction.RESUME,
        PairAction.END,
    )
    for ended in ("completed", "ended", "declined"):
        assert allowed_actions(ended) == ()


def test_a_change_made_from_a_stale_read_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    """Two changes at once: the second, made from the state it read before the first
    committed, neither applies nor records an event."""
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    now = day(program.instants, 1)
    with transaction(engine) as session:
        stale = session.exec(select(Pair)).one()
        session.expunge(stale)
    change_pair(
        engine, "Fall 2026", "E001", PairAction.END, actor="coord", now=now, reason="moved away"
    )
    with transaction(engine) as session:
        session.add(stale)
        assert not transition(session, stale, PairState.ACTIVE, actor=SYSTEM_ACTOR, now=now)
    [pair] = pairs(engine)
    assert (pair.state, pair.activated_at, pair.ended_at) == (PairState.ENDED, None, now)
    assert [e[1] for e in events(engine, pair.pk or 0)] == ["proposed", "ended"]


def test_ending_a_pair_that_someone_just_changed_says_so(engine: Engine, tmp_path: Path) -> None:
    from tandem.program.cohorts import apply_action

    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    now = day(program.instants, 1)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pair = session.exec(select(Pair)).one()
        change_pair(engine, "Fall 2026", "E001", PairAction.PAUSE, actor="a", now=now, reason="x")
        with pytest.raises(CohortError, match="no longer proposed: someone changed it"):
            apply_action(
                session, cohort, pair, PairAction.END, actor="b", now=now, reason="moved away"
            )
    assert pairs(engine)[0].state == PairState.PAUSED


def test_introduction_links_record_each_answer(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    now = day(program.instants, 0, days=1)
    with Session(engine) as session:
        secret = link_secrets(LINK_KEYS, session.exec(select(Cohort)).one())
    first, second = pairs(engine)

    def link(pair: Pair, role: Role) -> str:
        expires = now + timedelta(days=8)
        return make_token(secret, pair_id=pair.pk or 0, week=0, role=role.value, expires=expires)

    half = record_response(
        engine, link(first, Role.MENTEE), accept=True, now=now, link_keys=LINK_KEYS
    )
    assert (half.state, half.mentee_response, half.mentor_response) == (
        "proposed",
        "accepted",
        None,
    )
    both = record_response(
        engine, link(first, Role.MENTOR), accept=True, now=now, link_keys=LINK_KEYS
    )
    assert (both.state, both.activated_at) == (PairState.ACTIVE, now)
    declined = record_response(
        engine, link(second, Role.MENTOR), accept=False, now=now, link_keys=LINK_KEYS
    )
    assert (declined.state, declined.mentor_response, declined.ended_at) == (
        PairState.DECLINED,
        MatchResponse.DECLINED,
        now,
    )
    assert events(engine, second.pk or 0)[-1] == (
        "proposed",
        "declined",
        "mentor",
        "declined by the mentor",
    )
    with pytest.raises(CohortError, match="not valid"):
        record_response(
            engine, link(first, Role.MENTOR) + "x", accept=True, now=now, link_keys=LINK_KEYS
        )


def test_an_expired_introduction_link_says_it_expired_and_when(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    now = day(program.instants, 0, days=1)
    with Session(engine) as session:
        secret = link_secrets(LINK_KEYS, session.exec(select(Cohort)).one())
    [pair] = pairs(engine)
    expires = now + timedelta(days=8)
    token = make_token(secret, pair_id=pair.pk or 0, week=0, role="mentee", expires=expires)
    local = expires.astimezone(ZoneInfo("America/New_York"))
    with pytest.raises(CohortError) as caught:
        record_response(
            engine, token, accept=True, now=expires + timedelta(seconds=1), link_keys=LINK_KEYS
        )
    assert str(caught.value).startswith(
        f"this introduction link expired on {local:%Y-%m-%d %H:%M} (America/New_York)"
    )
    assert pairs(engine)[0].mentee_response is None


@dataclass(frozen=True)
class Answers:
    mentor_response: str | None
    mentee_response: str | None


@pytest.mark.parametrize(
    ("confirmation", "mentor", "mentee", "expected"),
    [
        (Confirmation.OPT_OUT, None, None, PairState.ACTIVE),
        (Confirmation.OPT_OUT, MatchResponse.ACCEPTED, None, PairState.ACTIVE),
        (Confirmation.REQUIRE_BOTH, MatchResponse.ACCEPTED, None, PairState.DECLINED),
        (
            Confirmation.REQUIRE_BOTH,
            MatchResponse.ACCEPTED,
            MatchResponse.ACCEPTED,
            PairState.ACTIVE,
        ),
    ],
)
def test_where_a_closed_window_leads(
    confirmation: Confirmation,
    mentor: MatchResponse | None,
    mentee: MatchResponse | None,
    expected: PairState,
) -> None:
    assert window_closed(Answers(mentor, mentee), confirmation)[0] is expected


def test_who_receives_weekly_topics() -> None:
    assert receives_weekly(PairState.ACTIVE, Confirmation.REQUIRE_BOTH)
    assert receives_weekly("proposed", "opt_out")
    assert not receives_weekly(PairState.PROPOSED, Confirmation.REQUIRE_BOTH)
    assert not receives_weekly(PairState.PAUSED, Confirmation.OPT_OUT)


def test_an_action_dated_before_the_cohort_was_created_is_refused(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    before = CREATED - timedelta(days=1)
    with pytest.raises(CohortError, match='is before cohort "Fall 2026" was created'):
        change_pair(engine, program.name, "E001", PairAction.PAUSE, actor="c", now=before)
    with Session(engine) as session:
        assert session.exec(select(Pair.state)).one() == "proposed"
