"""The pair lifecycle: states, the actions people take, and the one way a pair changes state.

A pair is ``proposed`` when its cohort is created. With the default ``opt_out``
confirmation it becomes ``active`` when its response window closes unless someone
declined (or as soon as both accept); with ``require_both`` it becomes active only when
both accept, and no answer in the window frees the mentee (``declined``, reason "not
confirmed"). Active pairs end ``completed`` after the final week, or earlier as ``ended``
(with a reason); ``paused`` pairs receive no messages until resumed.

Resuming returns a pair to the state it was paused from (:func:`resumes_to`): an active
pair is active again, a proposal is a proposal again, with the answers it had. A paused
proposal is still a proposal: its partners can accept or decline it while it is paused
(accepting both does not end the pause: it is active when resumed). Its response window
keeps running; resumed after the window closed, it is settled at the next tick as the
window's rule says.

Every change of state goes through :func:`transition`, whoever makes it (a coordinator,
a participant's link, or the tick): a conditional UPDATE (``… WHERE state = <as read>``),
so two changes made at once cannot both apply, and a :class:`PairEvent` recording it.

The timestamps a transition writes:

* ``activated_at`` is when the pair *first* became active, and it never moves: a
  resumed pair keeps its first activation. It is the moment the rule that activated the
  pair was met, not when Tandem noticed: the acceptance that made both accept, or
  ``respond_by`` for a response window that closed with no decline, however late the
  tick that activated it ran. (Before this module the tick stamped its own clock and
  overwrote any earlier activation, while coordinator actions kept the first one.)
* ``ended_at`` and the event's ``at`` are when Tandem recorded the change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from tandem.program.storage.enums import Confirmation, MatchResponse, PairState
from tandem.program.storage.statements import quiet_update
from tandem.program.storage.tables import Pair, PairEvent

__all__ = [
    "ACTIONS",
    "ENDED_STATES",
    "IN_EFFECT",
    "LIVE_STATES",
    "SYSTEM_ACTOR",
    "Confirmation",
    "MatchResponse",
    "PairAction",
    "PairState",
    "Responses",
    "allowed_actions",
    "both_accepted",
    "receives_weekly",
    "resumes_to",
    "transition",
    "window_closed",
]

LIVE_STATES = (PairState.PROPOSED, PairState.ACTIVE, PairState.PAUSED)
"""States in which a pair holds its mentor's place."""

ENDED_STATES = (PairState.COMPLETED, PairState.DECLINED, PairState.ENDED)
"""States a pair never leaves; entering one stamps ``ended_at``."""

SYSTEM_ACTOR = "tandem"
"""The actor of changes that the program's rules make (the tick), not a person."""


class PairAction(StrEnum):
    """What a coordinator or a participant can do to a pair."""

    ACCEPT = "accept"
    DECLINE = "decline"
    PAUSE = "pause"
    RESUME = "resume"
    END = "end"


ACTIONS: dict[PairAction, tuple[tuple[PairState, ...], PairState]] = {
    PairAction.DECLINE: ((PairState.PROPOSED,), PairState.DECLINED),
    PairAction.PAUSE: ((PairState.ACTIVE, PairState.PROPOSED), PairState.PAUSED),
    PairAction.RESUME: ((PairState.PAUSED,), PairState.ACTIVE),
    PairAction.END: ((PairState.ACTIVE, PairState.PAUSED, PairState.PROPOSED), PairState.ENDED),
}
"""For each action but ``accept`` (which records a response): the states it applies to
and the state it leads to; ``resume`` leads back to the state the pair was paused from
(:func:`resumes_to`), and a paused proposal can be declined as well
(:func:`allowed_actions`)."""

IN_EFFECT: dict[PairAction, tuple[PairState, ...]] = {
    PairAction.ACCEPT: (PairState.ACTIVE, PairState.PAUSED, PairState.COMPLETED),
    PairAction.DECLINE: (PairState.DECLINED,),
    PairAction.PAUSE: (PairState.PAUSED,),
    PairAction.RESUME: (PairState.ACTIVE, PairState.PROPOSED),
    PairAction.END: (PairState.ENDED,),
}
"""States in which an action is already in effect: repeating it there changes nothing
(where :func:`allowed_actions` does not allow it)."""


def resumes_to(session: Session, pair: Pair) -> PairState | None:
    """The state a paused pair returns to when resumed: the state it was paused from (its
    latest move into ``paused``), but active for a paused proposal that both partners
    have accepted since. None when the pair is not paused."""
    if pair.state != PairState.PAUSED:
        return None
    before = session.exec(
        select(PairEvent.from_state)
        .where(PairEvent.pair_pk == pair.pk, PairEvent.to_state == PairState.PAUSED.value)
        .order_by(col(PairEvent.pk).desc())
    ).first()
    if before == PairState.PROPOSED and not both_accepted(pair):
        return PairState.PROPOSED
    return PairState.ACTIVE


def allowed_actions(
    state: PairState | str, returns_to: PairState | None = None
) -> tuple[PairAction, ...]:
    """The actions that change a pair in ``state`` (a paused one: that returns to
    ``returns_to`` when resumed, see :func:`resumes_to`), in the order of
    :class:`PairAction`."""
    state = PairState(state)
    proposal = state is PairState.PROPOSED or returns_to is PairState.PROPOSED
    allowed: list[PairAction] = []
    for action in PairAction:
        if action in (PairAction.ACCEPT, PairAction.DECLINE):
            if proposal:
                allowed.append(action)
        elif state in ACTIONS[action][0]:
            allowed.append(action)
    return tuple(allowed)


class Responses(Protocol):
    """A pair's answers to its proposal (a :class:`Pair`, or a row read from one)."""

    @property
    def mentor_response(self) -> str | None: ...
    @property
    def mentee_response(self) -> str | None: ...


def both_accepted(pair: Responses) -> bool:
    """Whether mentor and mentee have both accepted the proposal."""
    return (
        pair.mentor_response == MatchResponse.ACCEPTED
        and pair.mentee_response == MatchResponse.ACCEPTED
    )


def window_closed(pair: Responses, confirmation: Confirmation | str) -> tuple[PairState, str]:
    """Where a proposed pair goes when its response window closes, and why."""
    if confirmation == Confirmation.REQUIRE_BOTH and not both_accepted(pair):
        return PairState.DECLINED, "not confirmed by both in time"
    return PairState.ACTIVE, "response window closed"


def receives_weekly(state: str, confirmation: Confirmation | str) -> bool:
    """Whether a pair in ``state`` is sent weekly messages (an opt-out proposal is)."""
    if state == PairState.ACTIVE:
        return True
    return state == PairState.PROPOSED and confirmation == Confirmation.OPT_OUT


def transition(
    session: Session,
    pair: Pair,
    to: PairState,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    active_since: datetime | None = None,
) -> bool:
    """Move ``pair`` from the state it was read in to ``to``; True if this call did.

    False, with nothing written, when the pair's state changed since it was read (another
    process or person got there first). ``active_since`` is when the rule that activates
    the pair was met, if before ``now`` (see the module docstring). Writes the pair's
    state, reason and timestamps, and a :class:`PairEvent` by ``actor``; ``pair`` shows
    the new values afterwards. Pending changes to ``pair`` (a response) are flushed first.
    """
    assert pair.pk is not None
    values: dict[str, Any] = {"state": to.value, "state_reason": reason}
    if to is PairState.ACTIVE and pair.activated_at is None:
        values["activated_at"] = min(active_since or now, now)
    if to in ENDED_STATES:
        values["ended_at"] = now
    if to not in (PairState.ACTIVE, PairState.PROPOSED):
        # Risk flags are for pairs the program watches (see tick/reminders.py).
        values.update(risk=[], risk_since=None)
    result = session.execute(
        quiet_update(Pair)
        .where(col(Pair.pk) == pair.pk, col(Pair.state) == pair.state)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(
        PairEvent(
            pair_pk=pair.pk,
            at=now,
            from_state=pair.state,
            to_state=to.value,
            actor=actor,
            reason=reason,
        )
    )
    for name, value in values.items():
        set_committed_value(pair, name, value)
    return True
