"""What coordinators look at: cohort status per pair, and the weekly digest.

Check-in notes are for coordinators' eyes in ``tandem checkin`` only: they never appear
in status tables, digests, exports or logs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import jinja2
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program import schedule
from tandem.program.cohorts import get_cohort, send_instants
from tandem.program.pairs import LIVE_STATES, PairState
from tandem.program.storage.enums import OutboxStatus
from tandem.program.storage.tables import (
    AuditEntry,
    CheckIn,
    Cohort,
    OutboxMessage,
    Pair,
    PairEvent,
    Participant,
)


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.program", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class OpenRequest:
    """A participant's request to pause or to leave their pair that nobody has acted on.

    Its reason is not here: reasons are for the pair's own page (the console's case view).
    """

    role: str
    """Who asked: "mentor" or "mentee"."""
    participant_id: str
    mentee_id: str
    """The mentee of the pair (the pair's id in commands)."""
    kind: str
    """"pause" or "leave"."""
    on: date
    """When, as a local date in the cohort's zone."""

    @property
    def asks(self) -> str:
        """``asks to leave (2027-02-20)``."""
        return f"asks to {self.kind} ({self.on.isoformat()})"

    def __str__(self) -> str:
        """``mentee E002 asks to leave (2027-02-20)``."""
        return f"{self.role} {self.participant_id} {self.asks}"


@dataclass(frozen=True)
class PairStatus:
    mentee_id: str
    mentee: str
    mentor_id: str
    mentor: str
    state: str
    track: str
    weeks_met: int
    weeks_due: int
    last_checkin: str | None
    risk: str
    requests: tuple[OpenRequest, ...] = ()
    """Participants' open requests to pause or leave (see :func:`open_requests`)."""

    def as_row(self) -> dict[str, object]:
        return {
            "mentee_id": self.mentee_id,
            "mentee": self.mentee,
            "mentor_id": self.mentor_id,
            "mentor": self.mentor,
            "state": self.state,
            "track": self.track,
            "met/due": f"{self.weeks_met}/{self.weeks_due}",
            "weeks_met": self.weeks_met,
            "weeks_due": self.weeks_due,
            "last_checkin": self.last_checkin,
            "requests": [str(r) for r in self.requests],
            "risk": self.risk,
        }


def weeks_due(cohort: Cohort, pair: Pair, current: int) -> int:
    """How many program weeks this pair has been sent so far (its first week on), when
    the cohort is in week ``current``."""
    if pair.state == PairState.COMPLETED.value or cohort.completed_at is not None:
        current = cohort.weeks
    return max(0, min(current, cohort.weeks) - pair.first_week + 1)


def meeting_weeks(session: Session, pair_pks: list[int]) -> dict[int, set[int]]:
    """Per pair, the weeks in which either person reported that they met."""
    met: dict[int, set[int]] = defaultdict(set)
    for pair_pk, week in session.exec(
        select(CheckIn.pair_pk, CheckIn.week).where(
            col(CheckIn.pair_pk).in_(pair_pks), col(CheckIn.met).is_(True)
        )
    ).all():
        met[pair_pk].add(week)
    return met


def _week_date(cohort: Cohort, week: int) -> str:
    """The first local date of the cohort's ``week`` (its send date), ISO formatted."""
    return schedule.week_window(cohort.start_date, cohort.send_weekday, week)[0].isoformat()


def cohort_status(engine: Engine, cohort_name: str, now: datetime) -> list[PairStatus]:
    """Every pair of the cohort, sorted by mentee id.

    ``last_checkin`` is the first date of the latest week any check-in of the pair is
    about (check-ins are filed per week), not when it was recorded or imported;
    ``requests`` are its participants' open requests to pause or leave.
    """
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pairs = session.exec(select(Pair).where(Pair.cohort_pk == cohort.pk)).all()
        people = {p.pk: p for p in session.exec(select(Participant)).all()}
        pks = [p.pk or 0 for p in pairs]
        current = schedule.week_for(now, send_instants(cohort)) or 0
        met = meeting_weeks(session, pks)
        # The week a check-in is about, not when it was recorded or imported.
        last: dict[int, int] = {}
        for pair_pk, week in session.exec(
            select(CheckIn.pair_pk, CheckIn.week).where(col(CheckIn.pair_pk).in_(pks))
        ).all():
            last[pair_pk] = max(week, last.get(pair_pk, week))
        requests = open_requests(session, cohort, pairs, people)
        rows = []
        for pair in pairs:
            mentee, mentor = people[pair.mentee_pk], people[pair.mentor_pk]
            due = weeks_due(cohort, pair, current) if pair.state != PairState.DECLINED.value else 0
            rows.append(
                PairStatus(
                    mentee_id=mentee.external_id,
                    mentee=mentee.name,
                    mentor_id=mentor.external_id,
                    mentor=mentor.name,
                    state=pair.state,
                    track=pair.track,
                    weeks_met=len(met[pair.pk or 0]),
                    weeks_due=due,
                    last_checkin=_week_date(cohort, last[pair.pk or 0])
                    if pair.pk in last
                    else None,
                    risk="; ".join(pair.risk),
                    requests=requests.get(pair.pk or 0, ()),
                )
            )
        return sorted(rows, key=lambda r: (r.mentee_id, r.mentor_id))


CHANGE_REQUESTS = ("pair.pause_requested", "pair.leave_requested")
"""The audit actions of a participant's request to pause or to leave their pair."""


def _audited_pair(subject: str) -> int | None:
    """The pair key of an audit entry's subject (``pair 12``), or None for other subjects."""
    kind, _, key = subject.partition(" ")
    return int(key) if kind == "pair" and key.isdigit() else None


def request_settled(at: datetime, changes: Sequence[tuple[datetime, str | None, str]]) -> bool:
    """Whether a request made ``at`` was acted on: the pair's state changed since, other
    than by starting (``proposed`` → ``active``, which the program does on its own).
    ``changes`` are the pair's state changes as (at, from state, to state)."""
    return any(
        when >= at and before is not None and (before, after) != ("proposed", "active")
        for when, before, after in changes
    )


def open_requests(
    session: Session,
    cohort: Cohort,
    pairs: Sequence[Pair],
    people: dict[int | None, Participant],
) -> dict[int, tuple[OpenRequest, ...]]:
    """Per pair (of ``pairs``), its participants' requests to pause or leave that are
    still open: the pair is live (proposed, active or paused) and its state has not
    changed since (:func:`request_settled`). A person's repeated request counts once, on
    its latest date."""
    live = {p.pk: p for p in pairs if p.state in LIVE_STATES and p.pk is not None}
    asked = [
        (pk, entry)
        for entry in session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action).in_(CHANGE_REQUESTS))
            .order_by(col(AuditEntry.pk))
        ).all()
        if (pk := _audited_pair(entry.subject)) in live
    ]
    if not asked:
        return {}
    changes: dict[int, list[tuple[datetime, str | None, str]]] = defaultdict(list)
    for pair_pk, at, before, after in session.exec(
        select(PairEvent.pair_pk, PairEvent.at, PairEvent.from_state, PairEvent.to_state).where(
            col(PairEvent.pair_pk).in_({pk for pk, _ in asked})
        )
    ).all():
        changes[pair_pk].append((at, before, after))
    zone = schedule.zone(cohort.timezone)
    found: dict[int, dict[tuple[str, str], OpenRequest]] = defaultdict(dict)
    for pk, entry in asked:
        if request_settled(entry.at, changes[pk]):
            continue
        pair, kind = live[pk], entry.action.removeprefix("pair.").removesuffix("_requested")
        person = people[pair.mentor_pk if entry.actor == "mentor" else pair.mentee_pk]
        mentee = people[pair.mentee_pk]
        found[pk][(entry.actor, kind)] = OpenRequest(
            role=person.role,
            participant_id=person.external_id,
            mentee_id=mentee.external_id,
            kind=kind,
            on=entry.at.astimezone(zone).date(),
        )
    return {pk: tuple(by_kind.values()) for pk, by_kind in found.items()}


def render_digest(
    session: Session, cohort: Cohort, week: int, since: datetime, now: datetime
) -> tuple[str, str, str]:
    """The coordinator's weekly digest: (subject, text, html)."""
    pairs = session.exec(select(Pair).where(Pair.cohort_pk == cohort.pk)).all()
    people = {p.pk: p.name for p in session.exec(select(Participant)).all()}
    at_risk = [
        {"mentee": people[p.mentee_pk], "mentor": people[p.mentor_pk], "reasons": p.risk}
        for p in pairs
        if p.risk and p.state in (PairState.ACTIVE.value, PairState.PROPOSED.value)
    ]
    failed = [
        {
            "recipient": m.recipient_email,
            "week": m.week,
            "kind": m.kind,
            "error": m.last_error or "",
        }
        for m in session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.cohort_pk == cohort.pk, OutboxMessage.status == OutboxStatus.FAILED
            )
            .order_by(col(OutboxMessage.pk))
        ).all()
    ]
    by_pk = {p.pk: p for p in pairs}
    changes = [
        {
            "mentee": people[by_pk[e.pair_pk].mentee_pk],
            "mentor": people[by_pk[e.pair_pk].mentor_pk],
            "state": e.to_state,
            "reason": e.reason,
        }
        for e in session.exec(
            select(PairEvent)
            .where(
                col(PairEvent.pair_pk).in_(list(by_pk)),
                col(PairEvent.to_state).in_([PairState.DECLINED.value, PairState.ENDED.value]),
                col(PairEvent.at) >= since,
                col(PairEvent.at) <= now,
            )
            .order_by(col(PairEvent.pk))
        ).all()
    ]
    requests = [
        {
            "mentee": people[by_pk[pk].mentee_pk],
            "mentor": people[by_pk[pk].mentor_pk],
            "who": a.actor,
            "request": a.action.removeprefix("pair.").removesuffix("_requested"),
            "reason": a.details.get("reason"),
        }
        for a in session.exec(
            select(AuditEntry)
            .where(
                col(AuditEntry.action).in_(CHANGE_REQUESTS),
                col(AuditEntry.at) >= since,
                col(AuditEntry.at) <= now,
            )
            .order_by(col(AuditEntry.pk))
        ).all()
        if (pk := _audited_pair(a.subject)) in by_pk
    ]
    counts = Counter(p.state for p in pairs)
    variables = {
        "cohort_name": cohort.name,
        "week": week,
        "weeks_total": cohort.weeks,
        "counts": [f"{n} {state}" for state, n in sorted(counts.items())],
        "at_risk": sorted(at_risk, key=lambda item: str(item["mentee"])),
        "failed": failed,
        "changes": changes,
        "requests": requests,
    }
    subject = (
        f"{cohort.name}: week {week} digest, {len(at_risk)} "
        f"{'pair' if len(at_risk) == 1 else 'pairs'} at risk"
    )
    env = _templates()
    return (
        subject,
        env.get_template("digest.txt.j2").render(variables),
        env.get_template("digest.html.j2").render(variables),
    )


def delivery_problems(engine: Engine, cohort_name: str) -> list[dict[str, object]]:
    """Messages that failed for good or are still being retried, for the coordinator."""
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        rows = session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.cohort_pk == cohort.pk,
                col(OutboxMessage.status).in_([OutboxStatus.FAILED, OutboxStatus.PENDING]),
                col(OutboxMessage.attempts) > 0,
            )
            .order_by(col(OutboxMessage.pk))
        ).all()
        return [
            {
                "recipient": m.recipient_email,
                "week": m.week,
                "kind": m.kind,
                "status": m.status,
                "attempts": m.attempts,
                "error": m.last_error,
            }
            for m in rows
        ]
