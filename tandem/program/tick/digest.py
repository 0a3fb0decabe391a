"""The coordinator's weekly digest, and closing a program after its final week."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from tandem.program.pairs import LIVE_STATES, SYSTEM_ACTOR, PairState, transition
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind, RecipientRole
from tandem.program.storage.statements import quiet_update
from tandem.program.storage.tables import Cohort, Pair

if TYPE_CHECKING:
    from tandem.program.tick.cohort import CohortTick


def send_digest(tick: CohortTick) -> None:
    """Enqueue this week's digest for the coordinator, once, within the grace period."""
    week = tick.week or 0
    email = tick.cohort.coordinator_email
    if not email or week < 1 or tick.now - tick.instants[week] > tick.grace:
        return
    from tandem.program.reports import render_digest

    with transaction(tick.engine) as session:
        key = tick.key(None, week, MessageKind.DIGEST, RecipientRole.COORDINATOR)
        if tick.existing(session, [key]):
            return
        since = tick.instants[week - 1]
        subject, text, html = render_digest(session, tick.cohort, week, since, tick.now)
        row = tick.message(
            None,
            week,
            MessageKind.DIGEST,
            RecipientRole.COORDINATOR,
            (tick.cohort.coordinator_name or "Program coordinator", email),
            subject,
            text,
            html,
            tick.instants[week],
        )
        tick.enqueue(session, [row])


def close_program(tick: CohortTick) -> None:
    """After the final week (and ``close_after``): complete the live pairs, close the cohort.

    Paused pairs end instead ("paused when the program closed").
    """
    if tick.now < tick.instants[-1] + tick.settings.close_after:
        return
    with transaction(tick.engine) as session:
        for pair in session.exec(
            select(Pair).where(
                Pair.cohort_pk == tick.cohort.pk,
                col(Pair.state).in_([s.value for s in LIVE_STATES]),
            )
        ).all():
            if pair.state == PairState.PAUSED:
                transition(
                    session,
                    pair,
                    PairState.ENDED,
                    actor=SYSTEM_ACTOR,
                    now=tick.now,
                    reason="paused when the program closed",
                )
            elif transition(
                session,
                pair,
                PairState.COMPLETED,
                actor=SYSTEM_ACTOR,
                now=tick.now,
                reason="program completed",
            ):
                tick.report.completed += 1
        session.execute(
            quiet_update(Cohort)
            .where(col(Cohort.pk) == tick.cohort.pk, col(Cohort.completed_at).is_(None))
            .values(completed_at=tick.now)
        )
