"""What a coordinator looks at and does about one cohort or one pair (the console's data).

Reads are plain functions over the database; every change goes through the same
lifecycle function as ``tandem pair …`` (:func:`~tandem.program.cohorts.apply_action`) and
is written to the audit log, in the same transaction, with the coordinator's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.cohorts import PairAction, apply_action, find_pair, get_cohort
from tandem.program.pairs import LIVE_STATES, allowed_actions, resumes_to
from tandem.program.reports import CHANGE_REQUESTS, request_settled
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import (
    AuditEntry,
    CheckIn,
    Cohort,
    OutboxMessage,
    Pair,
    PairEvent,
    Participant,
)


@dataclass(frozen=True)
class CohortSummary:
    name: str
    cycle: str
    start: str
    weeks: int
    pairs: int
    by_state: dict[str, int]
    at_risk: int
    base_url: str


def list_cohorts(engine: Engine) -> list[CohortSummary]:
    """Every cohort with its pair counts by state and how many pairs are at risk."""
    with Session(engine) as session:
        counts: dict[int, dict[str, int]] = {}
        for cohort_pk, state, n in session.exec(
            select(Pair.cohort_pk, Pair.state, func.count()).group_by(
                col(Pair.cohort_pk), col(Pair.state)
            )
        ).all():
            counts.setdefault(cohort_pk, {})[state] = n
        risky: dict[int, int] = {}
        for cohort_pk, risk in session.exec(select(Pair.cohort_pk, Pair.risk)).all():
            if risk:
                risky[cohort_pk] = risky.get(cohort_pk, 0) + 1
        return [
            CohortSummary(
                name=c.name,
                cycle=c.cycle,
                start=c.start_date.isoformat(),
                weeks=c.weeks,
                pairs=sum(counts.get(c.pk or 0, {}).values()),
                by_state=dict(sorted(counts.get(c.pk or 0, {}).items())),
                at_risk=risky.get(c.pk or 0, 0),
                base_url=c.base_url,
            )
            for c in session.exec(select(Cohort).order_by(col(Cohort.name))).all()
        ]


def cohort_zone(engine: Engine, cohort_name: str) -> str | None:
    """The IANA time zone of the cohort called ``cohort_name``, or None if there is none."""
    with Session(engine) as session:
        return session.exec(select(Cohort.timezone).where(Cohort.name == cohort_name)).first()


def link_base_urls(engine: Engine) -> list[str]:
    """The distinct base URLs that the cohorts' links point at."""
    with Session(engine) as session:
        return sorted(set(session.exec(select(Cohort.base_url)).all()))


@dataclass(frozen=True)
class PairCase:
    """Everything about one pair, for the coordinator only (notes included)."""

    cohort_name: str
    timezone: str
    """The cohort's IANA time zone, in which the console shows the pair's dates and times."""
    mentee_id: str
    mentee: str
    mentee_email: str
    mentor_id: str
    mentor: str
    mentor_email: str
    state: str
    state_reason: str | None
    track: str
    score: float | None
    risk: tuple[str, ...]
    events: tuple[dict[str, Any], ...]
    checkins: tuple[dict[str, Any], ...]
    messages: tuple[dict[str, Any], ...]
    requests: tuple[dict[str, Any], ...]
    """What the pair's participants asked or answered from their links: ``at``, ``who``
    (role, name and id), ``what`` (a label from :data:`AUDIT_LABELS`), ``reason`` and
    ``open`` (a request to pause or leave nobody has acted on yet, see
    :func:`~tandem.program.reports.request_settled`)."""
    actions: tuple[dict[str, Any], ...]
    """What coordinators did to the pair from the console: ``at``, ``who``, ``what``,
    ``reason``."""
    allowed: tuple[PairAction, ...]
    """The actions the pair's state allows (:func:`~tandem.program.pairs.allowed_actions`)."""


AUDIT_LABELS = {
    "pair.pause_requested": "asked to pause",
    "pair.leave_requested": "asked to leave the program",
    "pair.accepted": "accepted the introduction",
    "pair.declined": "declined the introduction",
    "pair.accept": "accepted the introduction for both",
    "pair.decline": "declined the pair",
    "pair.pause": "paused the pair",
    "pair.resume": "resumed the pair",
    "pair.end": "ended the pair early",
}
"""What each audit action about a pair means, as the pair's page says it."""
PARTICIPANT_ROLES = (Role.MENTOR.value, Role.MENTEE.value)
"""The actors of audit entries made from participants' links (their role)."""


def pair_case(engine: Engine, cohort_name: str, mentee_id: str) -> PairCase:
    """The case file of the mentee's pair in the cohort. Raises CohortError if none."""
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pair = find_pair(session, cohort, mentee_id)
        mentee = session.get(Participant, pair.mentee_pk)
        mentor = session.get(Participant, pair.mentor_pk)
        assert mentee is not None and mentor is not None
        events = session.exec(
            select(PairEvent).where(PairEvent.pair_pk == pair.pk).order_by(col(PairEvent.pk))
        ).all()
        checkins = session.exec(
            select(CheckIn)
            .where(CheckIn.pair_pk == pair.pk)
            .order_by(col(CheckIn.week), col(CheckIn.role))
        ).all()
        messages = session.execute(
            core_select(
                col(OutboxMessage.week),
                col(OutboxMessage.kind),
                col(OutboxMessage.recipient_role),
                col(OutboxMessage.subject),
                col(OutboxMessage.status),
                col(OutboxMessage.sent_at),
                col(OutboxMessage.last_error),
            )
            .where(col(OutboxMessage.pair_pk) == pair.pk)
            .order_by(col(OutboxMessage.pk))
        ).all()
        audit = session.exec(
            select(AuditEntry)
            .where(AuditEntry.subject == f"pair {pair.pk}")
            .order_by(col(AuditEntry.pk))
        ).all()
        people = {Role.MENTEE.value: mentee, Role.MENTOR.value: mentor}
        live = pair.state in LIVE_STATES
        changes = [(e.at, e.from_state, e.to_state) for e in events]

        def entry(a: AuditEntry) -> dict[str, Any]:
            person = people.get(a.actor)
            return {
                "at": a.at,
                "who": f"{a.actor} {person.name} ({person.external_id})" if person else a.actor,
                "what": AUDIT_LABELS.get(a.action, a.action),
                "reason": a.details.get("reason"),
                "open": a.action in CHANGE_REQUESTS and live and not request_settled(a.at, changes),
            }

        return PairCase(
            cohort_name=cohort.name,
            timezone=cohort.timezone,
            mentee_id=mentee.external_id,
            mentee=mentee.name,
            mentee_email=mentee.email,
            mentor_id=mentor.external_id,
            mentor=mentor.name,
            mentor_email=mentor.email,
            state=pair.state,
            state_reason=pair.state_reason,
            track=pair.track,
            score=pair.score,
            risk=tuple(pair.risk),
            events=tuple(
                {
                    "at": e.at,
                    "from": e.from_state,
                    "to": e.to_state,
                    "actor": e.actor,
                    "reason": e.reason,
                }
                for e in events
            ),
            checkins=tuple(
                {
                    "week": c.week,
                    "role": c.role,
                    "met": c.met,
                    "minutes": c.minutes,
                    "mode": c.mode,
                    "rating": c.rating,
                    "note": c.note,
                    "answers": c.answers,
                    "source": c.source,
                    "recorded_at": c.recorded_at,
                }
                for c in checkins
            ),
            messages=tuple(
                {
                    "week": week,
                    "kind": kind,
                    "to": role,
                    "subject": subject,
                    "status": status,
                    "sent_at": sent_at,
                    "error": error,
                }
                for week, kind, role, subject, status, sent_at, error in messages
            ),
            requests=tuple(entry(a) for a in audit if a.actor in PARTICIPANT_ROLES),
            actions=tuple(entry(a) for a in audit if a.actor not in PARTICIPANT_ROLES),
            allowed=allowed_actions(pair.state, resumes_to(session, pair)),
        )


def act_on_pair(
    engine: Engine,
    cohort_name: str,
    mentee_id: str,
    action: PairAction,
    *,
    coordinator: str,
    now: datetime,
    reason: str | None = None,
    role: Role | None = None,
) -> str:
    """Apply a coordinator's action to the mentee's pair and audit it under their name.

    Returns the pair's state afterwards. Raises CohortError as ``tandem pair`` does.
    """
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pair = find_pair(session, cohort, mentee_id)
        before = pair.state
        apply_action(
            session,
            cohort,
            pair,
            action,
            actor=f"coordinator {coordinator}",
            now=now,
            reason=reason,
            role=role,
        )
        session.add(
            AuditEntry(
                at=now,
                actor=coordinator,
                action=f"pair.{action.value}",
                subject=f"pair {pair.pk}",
                details={
                    "cohort": cohort.name,
                    "mentee_id": mentee_id,
                    "from": before,
                    "to": pair.state,
                    "reason": reason,
                },
            )
        )
        return pair.state
