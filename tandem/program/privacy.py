"""Data rights: what a privacy office asks before approving a deployment.

- :func:`export_person` — everything stored about one person, as one JSON-ready document:
  profile, matches, pairs and their history, messages sent, check-ins, survey answers,
  certificates; and the same of their record in the other role, when they applied in both
  (the same e-mail address).
- :func:`erase_person` — removes a person's personal data and keeps de-identified rows so
  that the program's statistics still add up (see *The erasure policy* below).
- :func:`withdraw_consent` — identity attributes removed from storage and from future
  matching.
- :func:`purge` — the retention rule: personal data of everyone whose cohorts all closed
  more than N months ago is erased, and of everyone never paired (an unmatched mentee, a
  mentor who got no mentee) whose record last changed more than N months ago (``dry_run``
  lists who would be; see *The retention rule* below).

Every call that changes or discloses data writes one audit-log entry, in the same
transaction as the change. Audit entries never carry the person's name or address.

The erasure policy
------------------
Kept, de-identified (the statistics need them): the participant row's role, capacity,
career stage and research areas, under a new id ``erased-<n>``; match pairs and scores;
pairs, their states and dates; check-ins' met / minutes / mode / rating; outbox rows'
kind, week and delivery status; certificates' id, dates and status.
Removed: name, e-mail address, institution, department, interests, topics, languages,
time zone, meeting modes, exclusions, identity attributes and custom fields; the content
and subject of every message sent to the person; their check-in notes, answers and
topics; the reasons they gave (a decline, a pause) and decision reasons about them; the
stored copy of their certificates (the signed file names them). Earlier audit entries
about the person (an export, a withdrawal, a certification decision) name the new id. The
Message-IDs of the messages emptied are returned, so that a file outbox's copies can be
deleted too (``tandem participants erase --outbox``).
Certificates stay valid by default: the person holds the signed file, and erasing
Tandem's copy must not take away what they earned. ``revoke_certificates=True`` revokes
them instead (with the reason "erased at the holder's request").
An erasure acts on one record: a person who applied in both roles (the same e-mail
address) keeps their record in the other role, and the erasure names it (to be erased in
turn). Messages to the shared address in the other role are that record's.
A person in a proposed, active or paused pair cannot be erased: end the pair first
(``tandem pair end``), so that their partner is told and nothing is sent to an erased
address.

The retention rule
------------------
``purge(months=N)`` erases, per the policy above, everyone who is not erased already and
either
- was in at least one pair, and every cohort of their pairs closed more than N months
  (of 30 days) ago; or
- was never in a pair (an applicant who was not matched, or whose match never became a
  cohort's pair), and whose record last changed more than N months ago: the latest of
  the participant row's ``created_at`` and ``updated_at`` and of their applications to a
  cycle (``applied_at``: an application to a new cycle counts as a change, even when the
  roster row itself is unchanged).
Anyone with a pair in a cohort still running, or closed more recently, is left alone.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.certify.audit import record_audit
from tandem.program.certify.vocabulary import AuditAction
from tandem.program.cohorts import LIVE_STATES
from tandem.program.errors import ProgramError
from tandem.program.outbox.store import pack, unpack
from tandem.program.roster.store import find_participant
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import (
    Application,
    AuditEntry,
    Certificate,
    CertificationDecision,
    CheckIn,
    Cohort,
    MatchPair,
    MatchRun,
    OutboxMessage,
    Pair,
    PairEvent,
    Participant,
    SurveyResponse,
)

ERASED_NAME = "Erased participant"
ERASED_TEXT = "(erased)"
ERASED_REVOCATION = "erased at the holder's request"


class PrivacyError(ProgramError):
    """A data-rights request that cannot be carried out as asked."""


def _find(session: Session, participant_id: str, role: Role | None) -> Participant:
    return find_participant(session, participant_id, role, PrivacyError)


def _pairs(session: Session, person: Participant) -> list[Pair]:
    column = Pair.mentor_pk if person.role == Role.MENTOR.value else Pair.mentee_pk
    return list(session.exec(select(Pair).where(column == person.pk).order_by(col(Pair.pk))).all())


def _role_messages(person: Participant, pair_pks: list[int]) -> Any:
    """The person's messages: to their address, or their role's copy in one of their pairs."""
    by_pair = and_(
        col(OutboxMessage.pair_pk).in_(pair_pks), col(OutboxMessage.recipient_role) == person.role
    )
    return select(OutboxMessage).where(or_(by_pair, _to_address(person)))


def _to_address(person: Participant) -> Any:
    """Messages to the person's address, but for the other role: those are the other
    record's, when the same person applied in both roles (see :func:`_same_person`)."""
    return and_(
        col(OutboxMessage.recipient_email) == person.email,
        col(OutboxMessage.recipient_role) != _other_role(person.role),
    )


def _other_role(role: str) -> str:
    return Role.MENTEE.value if role == Role.MENTOR.value else Role.MENTOR.value


def _same_person(session: Session, person: Participant) -> list[Participant]:
    """The person's records in the other role: the same e-mail address (a person who
    applied as a mentor and as a mentee has two rows)."""
    return list(
        session.exec(
            select(Participant).where(
                Participant.email_key == person.email_key,
                Participant.role == _other_role(person.role),
            )
        ).all()
    )


def _naming_messages(session: Session, person: Participant, pairs: list[Pair]) -> Any:
    """Every message that names the person: theirs, both copies of each of their pairs'
    messages (each names the partner), and cohort-wide ones (a coordinator's digest) whose
    text mentions their name or address."""
    pair_pks = [p.pk for p in pairs if p.pk is not None]
    cohort_pks = sorted({p.cohort_pk for p in pairs})
    found = [
        m.pk
        for m in session.exec(
            select(OutboxMessage).where(
                col(OutboxMessage.cohort_pk).in_(cohort_pks), col(OutboxMessage.pair_pk).is_(None)
            )
        ).all()
        if _mentions(m.content, (person.name, person.email))
    ]
    return select(OutboxMessage).where(
        or_(
            col(OutboxMessage.pair_pk).in_(pair_pks),
            _to_address(person),
            col(OutboxMessage.pk).in_(found),
        )
    )


def _mentions(content: bytes, needles: tuple[str, ...]) -> bool:
    message = email.message_from_bytes(unpack(content), policy=email.policy.default)
    texts = [str(message.get("Subject", "")), str(message.get("To", ""))]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(str(part.get_content()))
    text = "\n".join(texts)
    return any(needle and needle in text for needle in needles)


def _body_text(content: bytes) -> str:
    message = email.message_from_bytes(unpack(content), policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- export


def export_person(
    engine: Engine, participant_id: str, *, role: Role | None, actor: str, now: datetime
) -> dict[str, Any]:
    """Everything stored about one person, as a JSON-ready dict (recorded in the audit log).

    The person's record in the other role, when they applied in both (the same e-mail
    address), is exported too, under ``same_person_other_records``.

    Raises :class:`PrivacyError` when the id is unknown, or names a mentor and a mentee and
    ``role`` is not given.
    """
    with transaction(engine) as session:
        person = _find(session, participant_id, role)
        others = _same_person(session, person)
        document = _export(session, person, now)
        document["same_person_other_records"] = [
            {"role": other.role, "id": other.external_id, "export": _export(session, other, now)}
            for other in others
        ]
        for record in (person, *others):
            record_audit(
                session,
                now,
                actor,
                AuditAction.EXPORT_PERSON,
                f"participant {record.external_id}",
                {"role": record.role},
            )
    return document


def _export(session: Session, person: Participant, now: datetime) -> dict[str, Any]:
    """Everything stored about one participant record."""
    pairs = _pairs(session, person)
    pair_pks = [p.pk for p in pairs if p.pk is not None]
    cohorts = {c.pk: c.name for c in session.exec(select(Cohort)).all()}
    people = {p.pk: p.external_id for p in session.exec(select(Participant)).all()}
    match_column = MatchPair.mentor_id if person.role == Role.MENTOR.value else MatchPair.mentee_id
    matches = session.exec(
        select(MatchPair, MatchRun)
        .join(MatchRun, col(MatchRun.pk) == MatchPair.run_pk)
        .where(match_column == person.external_id)
        .order_by(col(MatchPair.pk))
    ).all()
    events = session.exec(
        select(PairEvent).where(col(PairEvent.pair_pk).in_(pair_pks)).order_by(col(PairEvent.pk))
    ).all()
    checkins = session.exec(
        select(CheckIn)
        .where(col(CheckIn.pair_pk).in_(pair_pks), CheckIn.role == person.role)
        .order_by(col(CheckIn.pk))
    ).all()
    messages = session.exec(_role_messages(person, pair_pks).order_by(col(OutboxMessage.pk))).all()
    certificates = session.exec(
        select(Certificate).where(Certificate.mentor_pk == person.pk).order_by(col(Certificate.pk))
    ).all()
    surveys = session.exec(
        select(SurveyResponse)
        .where(SurveyResponse.participant_pk == person.pk)
        .order_by(col(SurveyResponse.pk))
    ).all()
    document: dict[str, Any] = {
        "exported_at": _iso(now),
        "profile": {
            k: (_iso(v) if isinstance(v, datetime) else v)
            for k, v in person.model_dump().items()
            if k != "pk"
        },
        "matches": [
            {
                "cycle": run.cycle,
                "run": run.pk,
                "mentee_id": m.mentee_id,
                "mentor_id": m.mentor_id,
                "score": m.score,
                "reasons": m.reasons,
            }
            for m, run in matches
        ],
        "pairs": [
            {
                "cohort": cohorts.get(p.cohort_pk),
                "partner_id": people.get(
                    p.mentee_pk if person.role == Role.MENTOR.value else p.mentor_pk
                ),
                "state": p.state,
                "state_reason": p.state_reason,
                "activated_at": _iso(p.activated_at),
                "ended_at": _iso(p.ended_at),
                "history": [
                    {
                        "at": _iso(e.at),
                        "from": e.from_state,
                        "to": e.to_state,
                        "by": e.actor,
                        "reason": e.reason,
                    }
                    for e in events
                    if e.pair_pk == p.pk
                ],
            }
            for p in pairs
        ],
        "checkins": [
            {
                "cohort": cohorts.get(next(p.cohort_pk for p in pairs if p.pk == c.pair_pk)),
                "week": c.week,
                "met": c.met,
                "minutes": c.minutes,
                "mode": c.mode,
                "rating": c.rating,
                "topic": c.topic,
                "note": c.note,
                "answers": c.answers,
                "recorded_at": _iso(c.recorded_at),
            }
            for c in checkins
        ],
        "messages": [
            {
                "cohort": cohorts.get(m.cohort_pk),
                "week": m.week,
                "kind": m.kind,
                "to": m.recipient_email,
                "subject": m.subject,
                "status": m.status,
                "sent_at": _iso(m.sent_at),
                "text": _body_text(m.content),
            }
            for m in messages
        ],
        "survey_answers": [
            {
                "cohort": cohorts.get(s.cohort_pk),
                "survey": s.survey,
                "role": s.role,
                "answers": s.answers,
                "recorded_at": _iso(s.recorded_at),
            }
            for s in surveys
        ],
        "certificates": [
            {
                "credential_id": c.credential_id,
                "cohort": cohorts.get(c.cohort_pk),
                "issued_at": _iso(c.issued_at),
                "status": c.status,
                "revoked_at": _iso(c.revoked_at),
                "revoked_reason": c.revoked_reason,
                "credential": c.token,
            }
            for c in certificates
        ],
    }
    return document


# --------------------------------------------------------------------------- erase


@dataclass
class Erasure:
    """What :func:`erase_person` changed (counts only: no personal data)."""

    role: str
    new_id: str
    messages: int = 0
    checkins: int = 0
    surveys: int = 0
    pairs: int = 0
    certificates_kept: int = 0
    certificates_revoked: int = 0
    details: dict[str, int] = field(default_factory=dict)
    message_ids: list[str] = field(default_factory=list)
    """The Message-IDs of the messages emptied (to remove their delivered copies from a
    file outbox: :meth:`tandem.program.outbox.channels.FileOutbox.remove`)."""
    same_person: list[tuple[str, str]] = field(default_factory=list)
    """The (role, id) of the person's record in the other role (the same address), kept:
    an erasure acts on one record, and says how to erase the other."""

    def lines(self) -> list[str]:
        kept = f"{self.certificates_kept} kept valid" if self.certificates_kept else ""
        revoked = f"{self.certificates_revoked} revoked" if self.certificates_revoked else ""
        certs = ", ".join(x for x in (kept, revoked) if x) or "none"
        return [
            f"Erased the {self.role}'s personal data; the de-identified record is now "
            f"{self.new_id}.",
            f"Messages emptied: {self.messages}; check-ins cleared of notes and answers: "
            f"{self.checkins}; survey responses cleared of written answers: {self.surveys}; "
            f"pairs kept de-identified: {self.pairs}; certificates: {certs}.",
            *(
                f"The same address is also {role} {other}, which is kept: erase it too with "
                f"`tandem participants erase {other} --role {role} --reason …`."
                for role, other in self.same_person
            ),
        ]


def erase_person(
    engine: Engine,
    participant_id: str,
    *,
    role: Role | None,
    reason: str,
    actor: str,
    now: datetime,
    revoke_certificates: bool = False,
) -> Erasure:
    """Remove one person's personal data per the module's erasure policy, in one
    transaction, and record it in the audit log.

    Raises :class:`PrivacyError` when the id is unknown or ambiguous, the reason is empty,
    or the person is in a proposed, active or paused pair.
    """
    if not reason.strip():
        raise PrivacyError("say why with --reason (it is kept in the audit log)")
    with transaction(engine) as session:
        person = _find(session, participant_id, role)
        return _erase(session, person, reason, actor, now, revoke_certificates)


def _erase(
    session: Session,
    person: Participant,
    reason: str,
    actor: str,
    now: datetime,
    revoke_certificates: bool,
) -> Erasure:
    pairs = _pairs(session, person)
    live = [p for p in pairs if p.state in LIVE_STATES]
    if live:
        cohorts = sorted({str(session.get(Cohort, p.cohort_pk).name) for p in live})  # type: ignore[union-attr]
        raise PrivacyError(
            f"{person.external_id}'s pair in {', '.join(cohorts)} is still {live[0].state}: end "
            "the pair first (`tandem pair end`), then erase"
        )
    old_id, new_id = person.external_id, f"erased-{person.pk}"
    erasure = Erasure(role=person.role, new_id=new_id, pairs=len(pairs))
    erasure.same_person = [(p.role, p.external_id) for p in _same_person(session, person)]
    pair_pks = [p.pk for p in pairs if p.pk is not None]
    # Messages first: they are found by the address and name about to be erased.
    for message in session.exec(_naming_messages(session, person, pairs)).all():
        message.content = pack(b"")
        message.subject = ERASED_TEXT
        if message.recipient_email == person.email:
            message.recipient_email = f"{new_id}@erased.invalid"
        message.last_error = None
        session.add(message)
        erasure.messages += 1
        erasure.message_ids.append(message.message_id)
    for checkin in session.exec(
        select(CheckIn).where(col(CheckIn.pair_pk).in_(pair_pks), CheckIn.role == person.role)
    ).all():
        checkin.note, checkin.answers, checkin.topic = None, {}, None
        session.add(checkin)
        erasure.checkins += 1
    for response in session.exec(
        select(SurveyResponse).where(SurveyResponse.participant_pk == person.pk)
    ).all():
        # Ratings and yes/no answers feed the cohort's statistics; written answers go.
        response.answers = {
            k: v for k, v in response.answers.items() if isinstance(v, int | float | bool)
        }
        session.add(response)
        erasure.surveys += 1
    for event in session.exec(
        select(PairEvent).where(
            col(PairEvent.pair_pk).in_(pair_pks), PairEvent.actor == person.role
        )
    ).all():
        if event.reason:
            event.reason = ERASED_TEXT
            session.add(event)
    for pair in pairs:
        if pair.state_reason:
            pair.state_reason = ERASED_TEXT
            session.add(pair)
    _rename_in_matches(session, person.role, old_id, new_id)
    _rename_in_audit(session, person.role, old_id, new_id)
    for certificate in session.exec(
        select(Certificate).where(Certificate.mentor_pk == person.pk)
    ).all():
        certificate.token = ""
        if revoke_certificates and certificate.status != "revoked":
            certificate.status, certificate.revoked_at = "revoked", now
            certificate.revoked_reason = ERASED_REVOCATION
            erasure.certificates_revoked += 1
        else:
            erasure.certificates_kept += 1
        session.add(certificate)
    for decision in session.exec(
        select(CertificationDecision).where(CertificationDecision.mentor_pk == person.pk)
    ).all():
        decision.reason = ERASED_TEXT
        session.add(decision)
    _scrub_profile(person, new_id, now)
    session.add(person)
    record_audit(
        session,
        now,
        actor,
        AuditAction.ERASE_PERSON,
        f"participant {new_id}",
        {
            "role": person.role,
            "reason": reason,
            "messages": erasure.messages,
            "checkins": erasure.checkins,
            "surveys": erasure.surveys,
            "certificates_kept": erasure.certificates_kept,
            "certificates_revoked": erasure.certificates_revoked,
        },
    )
    return erasure


def _scrub_profile(person: Participant, new_id: str, now: datetime) -> None:
    person.external_id = new_id
    person.name = ERASED_NAME
    person.email = person.email_key = f"{new_id}@erased.invalid"
    person.institution = person.department = person.timezone = None
    person.research_interests = ""
    person.topics, person.languages, person.meeting_modes, person.excluded = [], [], [], []
    person.identity_consent, person.identity, person.identity_preferences = False, [], []
    person.custom = {}
    person.updated_at = now
    person.withdrawn_at = person.withdrawn_at or now


def _rename_in_matches(session: Session, role: str, old_id: str, new_id: str) -> None:
    """Match runs keep their pairs and scores under the new id; other people's exclusions
    of the old id follow it."""
    column = MatchPair.mentor_id if role == Role.MENTOR.value else MatchPair.mentee_id
    for match in session.exec(select(MatchPair).where(column == old_id)).all():
        if role == Role.MENTOR.value:
            match.mentor_id = new_id
        else:
            match.mentee_id = new_id
        session.add(match)
    for run in session.exec(select(MatchRun)).all():
        unmatched = [_renamed(item, old_id, new_id) for item in run.unmatched]
        if unmatched != run.unmatched:
            run.unmatched = unmatched
            session.add(run)
    other = _other_role(role)
    for person in session.exec(select(Participant).where(Participant.role == other)).all():
        if old_id in person.excluded:
            person.excluded = [new_id if x == old_id else x for x in person.excluded]
            session.add(person)


def _rename_in_audit(session: Session, role: str, old_id: str, new_id: str) -> None:
    """Earlier audit entries about the person (an export, a withdrawal, a certification
    decision) name them by the new id too, so that no entry links the old id to them."""
    for entry in session.exec(
        select(AuditEntry).where(
            or_(
                col(AuditEntry.subject) == f"participant {old_id}",
                col(AuditEntry.subject).endswith(f"/{old_id}"),
            )
        )
    ).all():
        if entry.subject == f"participant {old_id}":
            if entry.details.get("role") not in (None, role):
                continue  # the other person who has this id, in the other role
            entry.subject = f"participant {new_id}"
        elif role == Role.MENTOR.value:  # "COHORT/MENTOR": a certification decision
            entry.subject = entry.subject.removesuffix(f"/{old_id}") + f"/{new_id}"
        else:
            continue
        session.add(entry)


def _renamed(item: Any, old_id: str, new_id: str) -> Any:
    if isinstance(item, dict):
        return {k: _renamed(v, old_id, new_id) for k, v in item.items()}
    if isinstance(item, list):
        return [_renamed(v, old_id, new_id) for v in item]
    return new_id if item == old_id else item


# --------------------------------------------------------------------------- consent


def withdraw_consent(
    engine: Engine, participant_id: str, *, role: Role | None, actor: str, now: datetime
) -> int:
    """Remove the person's identity attributes and consent; return how many attributes
    were removed. Future matching no longer sees them (the profile has none)."""
    with transaction(engine) as session:
        person = _find(session, participant_id, role)
        removed = len(person.identity) + len(person.identity_preferences)
        person.identity_consent, person.identity, person.identity_preferences = False, [], []
        person.updated_at = now
        session.add(person)
        record_audit(
            session,
            now,
            actor,
            AuditAction.WITHDRAW_CONSENT,
            f"participant {person.external_id}",
            {"role": person.role, "attributes_removed": removed},
        )
    return removed


# --------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class PurgeCandidate:
    """One person the retention rule reaches: their id, role and their cohorts (none: they
    were never paired)."""

    participant_id: str
    role: str
    cohorts: tuple[str, ...]
    message_ids: tuple[str, ...] = ()
    """The Message-IDs of the messages emptied (after an erasure, not a dry run)."""


MAX_RETENTION_MONTHS = 1200
"""The longest retention period ``purge`` takes: its cutoff stays a date Python can hold."""


def purge(
    engine: Engine, *, months: int, actor: str, now: datetime, dry_run: bool
) -> list[PurgeCandidate]:
    """Erase everyone whose cohorts all closed more than ``months`` months (30-day) ago,
    and everyone never paired whose record last changed that long ago (the module's
    *retention rule*).

    People with a pair in a cohort still running, or closed more recently, are left alone;
    already-erased people are skipped. Returns who was (or, with ``dry_run``, would be)
    erased, sorted by role and id.
    """
    if not 1 <= months <= MAX_RETENTION_MONTHS:
        raise PrivacyError(
            f"--months: {months} is outside the range accepted; give 1 to "
            f"{MAX_RETENTION_MONTHS} months ({MAX_RETENTION_MONTHS // 12} years)"
        )
    cutoff = now - timedelta(days=30 * months)
    with transaction(engine) as session:
        cohorts = {c.pk: c for c in session.exec(select(Cohort)).all()}
        by_person: dict[int, list[Cohort]] = {}
        for pair in session.exec(select(Pair)).all():
            for pk in (pair.mentor_pk, pair.mentee_pk):
                by_person.setdefault(pk, []).append(cohorts[pair.cohort_pk])
        chosen: list[tuple[Participant, tuple[str, ...]]] = []
        for pk, theirs in sorted(by_person.items()):
            if all(c.completed_at is not None and c.completed_at <= cutoff for c in theirs):
                person = session.get(Participant, pk)
                if person is not None and not person.external_id.startswith("erased-"):
                    chosen.append((person, tuple(sorted({c.name for c in theirs}))))
        chosen += [(p, ()) for p in _never_paired(session, set(by_person), cutoff)]
        chosen.sort(key=lambda item: (item[0].role, item[0].external_id))
        result = [PurgeCandidate(p.external_id, p.role, names) for p, names in chosen]
        if not dry_run:
            for n, (person, names) in enumerate(chosen):
                erasure = _erase(
                    session,
                    person,
                    f"retention: {months} months after {', '.join(names)} closed"
                    if names
                    else f"retention: never paired, record unchanged for {months} months",
                    actor,
                    now,
                    revoke_certificates=False,
                )
                result[n] = replace(result[n], message_ids=tuple(erasure.message_ids))
    return result


def _never_paired(session: Session, paired: set[int], cutoff: datetime) -> list[Participant]:
    """The people in no pair, not erased yet, whose record last changed at ``cutoff`` or
    before: the row's creation and last update, and their latest application to a cycle."""
    applied: dict[int, datetime] = {}
    for application in session.exec(select(Application)).all():
        at = applied.get(application.participant_pk)
        applied[application.participant_pk] = max(application.applied_at, at or cutoff)
    return [
        person
        for person in session.exec(select(Participant).order_by(col(Participant.pk))).all()
        if person.pk not in paired
        and not person.external_id.startswith("erased-")
        and max(person.created_at, person.updated_at, applied.get(person.pk or 0, cutoff)) <= cutoff
    ]
