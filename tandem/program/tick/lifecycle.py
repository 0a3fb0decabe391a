"""Pairs whose response window closed: activate them, or free the mentee.

A window closes only once the pair has been introduced: a pair whose introduction never
went out (the tick did not run for days after the cohort started) is introduced first,
with a fresh window (see :func:`tandem.program.tick.messages.intros`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exists
from sqlmodel import col, select

from tandem.program.pairs import SYSTEM_ACTOR, PairState, transition, window_closed
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind
from tandem.program.storage.tables import OutboxMessage, Pair

if TYPE_CHECKING:
    from tandem.program.tick.cohort import CohortTick


def close_windows(tick: CohortTick) -> None:
    """Proposed pairs whose response window closed by ``now``: activate, or free the mentee.

    Only pairs whose introduction is in the outbox: nobody is held to a window they were
    never told about. An activated pair's ``activated_at`` is its ``respond_by``, however
    late this runs (see :mod:`tandem.program.pairs`).
    """
    with transaction(tick.engine) as session:
        due = session.exec(
            select(Pair).where(
                Pair.cohort_pk == tick.cohort.pk,
                Pair.state == PairState.PROPOSED,
                col(Pair.respond_by) <= tick.now,
                exists().where(
                    col(OutboxMessage.pair_pk) == col(Pair.pk),
                    col(OutboxMessage.kind) == MessageKind.INTRO,
                ),
            )
        ).all()
        for pair in due:
            to, reason = window_closed(pair, tick.confirmation)
            if not transition(
                session,
                pair,
                to,
                actor=SYSTEM_ACTOR,
                now=tick.now,
                reason=reason,
                active_since=pair.respond_by,
            ):
                continue
            if to is PairState.ACTIVE:
                tick.report.activated += 1
            else:
                tick.report.freed += 1
