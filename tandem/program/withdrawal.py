"""Withdrawing a participant from the program, at the coordinator's word.

A withdrawn participant is kept (their pairs, check-ins and certificates stay part of the
program's history and statistics) but is never matched again (matching and rematch skip
anyone with ``withdrawn_at``) and never messaged again: each of their live pairs (proposed,
active or paused, in any cohort) ends with the reason given, and their messages still
waiting to be delivered are not sent. Erasure (:mod:`tandem.program.privacy`) withdraws
too. Withdrawing is recorded in the audit log and cannot be undone by Tandem: a person who
comes back applies again under a new id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.certify.audit import record_audit
from tandem.program.certify.vocabulary import AuditAction
from tandem.program.errors import ProgramError
from tandem.program.pairs import LIVE_STATES, PairState, transition
from tandem.program.roster.store import find_participant
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import OutboxStatus
from tandem.program.storage.statements import quiet_update
from tandem.program.storage.tables import Cohort, OutboxMessage, Pair, Participant

__all__ = ["Withdrawal", "WithdrawalError", "withdraw_participant"]


class WithdrawalError(ProgramError):
    """A withdrawal that cannot be carried out as asked."""


@dataclass(frozen=True)
class Withdrawal:
    participant_id: str
    role: str
    already: bool
    """True when the participant had been withdrawn before (nothing changed)."""
    pairs_ended: tuple[tuple[str, str, str], ...]
    """(cohort, mentee id, mentor id) of each live pair that ended."""
    messages_cancelled: int

    def lines(self) -> list[str]:
        if self.already:
            return [f"{self.role} {self.participant_id} was withdrawn already; nothing changed."]
        lines = [f"Withdrew {self.role} {self.participant_id}: no longer matched or messaged."]
        lines += [
            f"  ended: {cohort}, {mentee} with {mentor}"
            for cohort, mentee, mentor in self.pairs_ended
        ]
        if self.messages_cancelled:
            lines.append(f"  messages not sent: {self.messages_cancelled}")
        return lines


def _find(session: Session, participant_id: str, role: Role | None) -> Participant:
    return find_participant(session, participant_id, role, WithdrawalError)


def withdraw_participant(
    engine: Engine,
    participant_id: str,
    *,
    role: Role | None = None,
    reason: str,
    actor: str,
    now: datetime,
) -> Withdrawal:
    """Withdraw one participant (see the module docstring), in one transaction.

    Safe to repeat (a second call changes nothing and says so). Raises
    :class:`WithdrawalError` for an unknown or ambiguous id or an empty reason.
    """
    if not reason.strip():
        raise WithdrawalError("say why with --reason (it ends their pairs and is kept)")
    with transaction(engine) as session:
        person = _find(session, participant_id, role)
        if person.withdrawn_at is not None:
            return Withdrawal(person.external_id, person.role, True, (), 0)
        person.withdrawn_at = now
        person.updated_at = now
        session.add(person)
        column = Pair.mentor_pk if person.role == Role.MENTOR.value else Pair.mentee_pk
        live = session.exec(
            select(Pair)
            .where(column == person.pk, col(Pair.state).in_([s.value for s in LIVE_STATES]))
            .order_by(col(Pair.pk))
        ).all()
        ended = []
        for pair in live:
            if not transition(session, pair, PairState.ENDED, actor=actor, now=now, reason=reason):
                raise WithdrawalError(
                    "a pair of this participant changed at the same time; repeat the withdrawal"
                )
            cohort = session.get(Cohort, pair.cohort_pk)
            mentee = session.get(Participant, pair.mentee_pk)
            mentor = session.get(Participant, pair.mentor_pk)
            assert cohort is not None and mentee is not None and mentor is not None
            ended.append((cohort.name, mentee.external_id, mentor.external_id))
        pair_pks = [
            pk
            for pk in session.exec(select(Pair.pk).where(column == person.pk)).all()
            if pk is not None
        ]
        cancelled = 0
        if pair_pks:
            result = session.execute(
                quiet_update(OutboxMessage)
                .where(
                    col(OutboxMessage.pair_pk).in_(pair_pks),
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                )
                .values(status=OutboxStatus.EXPIRED, last_error="participant withdrawn")
            )
            cancelled = result.rowcount  # type: ignore[attr-defined]
        record_audit(
            session,
            now,
            actor,
            AuditAction.WITHDRAW,
            f"participant {person.external_id}",
            {"role": person.role, "reason": reason, "pairs_ended": len(ended)},
        )
        return Withdrawal(person.external_id, person.role, False, tuple(ended), cancelled)
