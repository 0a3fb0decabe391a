"""Evaluating pairs, mentors and cohorts against the rules.

:func:`evaluate_pair` and :func:`evaluate_mentor` are pure; :func:`evaluate_cohort` reads a
cohort's pairs, check-ins (never their notes), decisions and certificates at ``now``.
Each pair is evaluated from its own first week; declined pairs never ran and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import contact, schedule
from tandem.program.certify.criteria import ClosingCheckin, EvidenceCriterion
from tandem.program.certify.histories import (
    CheckinRecord,
    CriterionResult,
    PairHistory,
    SurveyRecord,
)
from tandem.program.certify.rules import CertificationRules
from tandem.program.certify.vocabulary import (
    CertificateStatus,
    DecisionKind,
    EvidenceSource,
    MeetingCountsWhen,
    MentorRule,
)
from tandem.program.cohorts import PairState, get_cohort, send_instants
from tandem.program.curricula import load_curriculum
from tandem.program.storage.tables import (
    Certificate,
    CertificationDecision,
    CheckIn,
    Cohort,
    Pair,
    PairEvent,
    Participant,
    SurveyResponse,
)

__all__ = [
    "CertificateRef",
    "CohortEvaluation",
    "Decision",
    "MentorEvaluation",
    "PairEvaluation",
    "evaluate_cohort",
    "evaluate_in_session",
    "evaluate_mentor",
    "evaluate_pair",
    "first_pair_pk",
]


class PairEvaluation(BaseModel):
    """One pair against the rules."""

    model_config = ConfigDict(frozen=True)

    pair_pk: int
    mentee_id: str
    first_week: int
    weeks_in_program: int
    weeks_met: tuple[int, ...]
    weeks_required: int | None
    program_start: date
    program_end: date
    results: tuple[CriterionResult, ...]

    @property
    def meets_rules(self) -> bool:
        return all(result.met for result in self.results)

    @property
    def unmet(self) -> tuple[CriterionResult, ...]:
        return tuple(result for result in self.results if not result.met)


class Decision(BaseModel):
    """A coordinator's grant or withholding, with its reason."""

    model_config = ConfigDict(frozen=True)

    decision: DecisionKind
    reason: str
    actor: str
    at: datetime


class CertificateRef(BaseModel):
    """An issued certificate, as evaluation output shows it."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    status: CertificateStatus
    issued_at: datetime


class MentorEvaluation(BaseModel):
    """One mentor of the cohort: each of their pairs, any manual decision, the outcome."""

    model_config = ConfigDict(frozen=True)

    mentor_pk: int
    mentor_id: str
    mentor_name: str
    mentor_email: str = Field(repr=False)
    pairs: tuple[PairEvaluation, ...]
    """Pairs that ran (declined pairs are left out), by mentee id."""
    meets_rules: bool
    decision: Decision | None = None
    certificate: CertificateRef | None = None

    @property
    def eligible(self) -> bool:
        """Meets the rules or was granted, and was not withheld."""
        if self.decision is not None:
            return self.decision.decision is DecisionKind.GRANT
        return self.meets_rules

    @property
    def evidence_pair(self) -> PairEvaluation | None:
        """The pair a certificate reports: a pair meeting the rules with most weeks met."""
        ranked = sorted(
            self.pairs, key=lambda p: (not p.meets_rules, -len(p.weeks_met), p.mentee_id)
        )
        return ranked[0] if ranked else None

    def unmet(self) -> tuple[str, ...]:
        """What keeps this mentor from the rules, per pair (empty when they meet them)."""
        if self.meets_rules:
            return ()
        if not self.pairs:
            return ("no pair of this mentor ran in the cohort",)
        return tuple(
            f"{pair.mentee_id}: {result.title or result.criterion}: {result.detail}"
            for pair in self.pairs
            for result in pair.unmet
        )


class CohortEvaluation(BaseModel):
    """Every mentor of a cohort against the rules, sorted by mentor id."""

    model_config = ConfigDict(frozen=True)

    cohort_name: str
    weeks: int
    mentor_rule: MentorRule
    narrative: str
    mentors: tuple[MentorEvaluation, ...]


def evaluate_pair(rules: CertificationRules, pair: PairHistory) -> PairEvaluation:
    """Pure: ``pair`` against every criterion of ``rules``."""
    meeting = rules.meeting_rule
    counts_when = meeting.meeting_counts_when if meeting else MeetingCountsWhen.EITHER
    return PairEvaluation(
        pair_pk=pair.pair_pk,
        mentee_id=pair.mentee_id,
        first_week=pair.first_week,
        weeks_in_program=pair.weeks_in_program,
        weeks_met=pair.meeting_weeks(counts_when),
        weeks_required=meeting.required(pair) if meeting else None,
        program_start=pair.program_start,
        program_end=pair.program_end,
        results=tuple(criterion.evaluate(pair) for criterion in rules.criteria),
    )


def evaluate_mentor(
    rules: CertificationRules,
    pairs: Iterable[PairHistory],
    *,
    mentor_pk: int,
    mentor_id: str,
    mentor_name: str,
    mentor_email: str,
    decision: Decision | None = None,
    certificate: CertificateRef | None = None,
) -> MentorEvaluation:
    """Pure: a mentor's pairs (declined ones excluded by the caller) against ``rules``."""
    evaluated = tuple(
        sorted((evaluate_pair(rules, p) for p in pairs), key=lambda e: (e.mentee_id, e.pair_pk))
    )
    if not evaluated:
        meets = False
    elif rules.mentor_rule is MentorRule.ANY_PAIR:
        meets = any(p.meets_rules for p in evaluated)
    else:
        meets = all(p.meets_rules for p in evaluated)
    return MentorEvaluation(
        mentor_pk=mentor_pk,
        mentor_id=mentor_id,
        mentor_name=mentor_name,
        mentor_email=mentor_email,
        pairs=evaluated,
        meets_rules=meets,
        decision=decision,
        certificate=certificate,
    )


def _state_at(events: Sequence[PairEvent], instant: datetime) -> PairState | None:
    state = None
    for event in events:
        if event.at <= instant:
            state = PairState(event.to_state)
    return state


def _surveys(session: Session, cohort: Cohort) -> dict[int, list[tuple[int | None, SurveyRecord]]]:
    """Per participant: the surveys they answered in the cohort (and, for a mentee, the
    pair whose mentor they rated). The answers themselves are never read."""
    found: dict[int, list[tuple[int | None, SurveyRecord]]] = defaultdict(list)
    for participant_pk, role, survey, pair_pk, recorded_at in session.execute(
        sa_select(
            col(SurveyResponse.participant_pk),
            col(SurveyResponse.role),
            col(SurveyResponse.survey),
            col(SurveyResponse.pair_pk),
            col(SurveyResponse.recorded_at),
        ).where(col(SurveyResponse.cohort_pk) == cohort.pk)
    ).all():
        record = SurveyRecord(survey=survey, role=Role(role), recorded_at=recorded_at)
        found[participant_pk].append((pair_pk, record))
    return found


def _pair_surveys(
    pair: Pair, surveys: dict[int, list[tuple[int | None, SurveyRecord]]]
) -> tuple[SurveyRecord, ...]:
    mentor = [r for _, r in surveys.get(pair.mentor_pk, []) if r.role is Role.MENTOR]
    mentee = [
        r
        for rated, r in surveys.get(pair.mentee_pk, [])
        if r.role is Role.MENTEE and rated in (None, pair.pk)
    ]
    return tuple(mentor + mentee)


def _histories(
    session: Session, cohort: Cohort, now: datetime, need_questions: bool, need_surveys: bool
) -> tuple[dict[int, list[PairHistory]], dict[int, Participant], dict[int, list[Pair]]]:
    """Per mentor pk: the histories of their pairs that ran; the people; all their pairs."""
    instants = send_instants(cohort)
    final_start = instants[cohort.weeks]
    _, program_end = schedule.week_window(cohort.start_date, cohort.send_weekday, cohort.weeks)
    pairs = session.exec(
        select(Pair).where(Pair.cohort_pk == cohort.pk).order_by(col(Pair.pk))
    ).all()
    pair_pks = [p.pk for p in pairs]
    people = {
        p.pk or 0: p
        for p in session.exec(
            select(Participant).where(
                col(Participant.pk).in_({p.mentor_pk for p in pairs} | {p.mentee_pk for p in pairs})
            )
        ).all()
    }
    events: dict[int, list[PairEvent]] = defaultdict(list)
    for event in session.exec(
        select(PairEvent)
        .where(col(PairEvent.pair_pk).in_(pair_pks))
        .order_by(col(PairEvent.at), col(PairEvent.pk))
    ).all():
        events[event.pair_pk].append(event)
    checkins: dict[int, list[CheckinRecord]] = defaultdict(list)
    # Columns named one by one: the coordinator-only note is never read here.
    for pair_pk, week, role, met, recorded_at, answers in session.execute(
        sa_select(
            col(CheckIn.pair_pk),
            col(CheckIn.week),
            col(CheckIn.role),
            col(CheckIn.met),
            col(CheckIn.recorded_at),
            col(CheckIn.answers),
        ).where(col(CheckIn.pair_pk).in_(pair_pks))
    ).all():
        checkins[pair_pk].append(
            CheckinRecord(
                week=week, role=Role(role), met=met, recorded_at=recorded_at, answers=answers or {}
            )
        )
    questions: dict[str, tuple[str, ...]] = {}
    if need_questions:
        curriculum = load_curriculum(cohort)
        for track in {p.track for p in pairs}:
            questions[track] = tuple(q.id for q in curriculum.closing_reflection(track))
    surveys = _surveys(session, cohort) if need_surveys else {}
    histories: dict[int, list[PairHistory]] = defaultdict(list)
    by_mentor: dict[int, list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_mentor[pair.mentor_pk].append(pair)
        if pair.state == PairState.DECLINED.value:
            continue
        assert pair.pk is not None
        pair_events = events[pair.pk]
        begun = now >= final_start
        start, _ = schedule.week_window(cohort.start_date, cohort.send_weekday, pair.first_week)
        histories[pair.mentor_pk].append(
            PairHistory(
                pair_pk=pair.pk,
                mentee_id=people[pair.mentee_pk].external_id,
                state=PairState(pair.state),
                first_week=pair.first_week,
                weeks_total=cohort.weeks,
                final_week_start=final_start,
                final_week_begun=begun,
                state_at_final_week=(
                    (_state_at(pair_events, final_start) if pair_events else PairState(pair.state))
                    if begun
                    else None
                ),
                ended_at=pair.ended_at,
                program_start=start,
                program_end=program_end,
                checkins=tuple(sorted(checkins[pair.pk], key=lambda r: (r.week, r.role.value))),
                closing_questions=questions.get(pair.track, ()),
                surveys=_pair_surveys(pair, surveys),
            )
        )
    return histories, people, by_mentor


def evaluate_in_session(
    session: Session, cohort: Cohort, rules: CertificationRules, now: datetime
) -> CohortEvaluation:
    """Every mentor of ``cohort`` against ``rules`` at ``now``, read in ``session``."""
    need_questions = any(
        isinstance(c, ClosingCheckin) and c.require_answers for c in rules.criteria
    )
    need_surveys = any(
        isinstance(c, EvidenceCriterion) and c.source is EvidenceSource.SURVEY_RESPONSE
        for c in rules.criteria
    )
    histories, people, by_mentor = _histories(session, cohort, now, need_questions, need_surveys)
    decisions = {
        d.mentor_pk: Decision(
            decision=DecisionKind(d.decision), reason=d.reason, actor=d.actor, at=d.at
        )
        for d in session.exec(
            select(CertificationDecision).where(CertificationDecision.cohort_pk == cohort.pk)
        ).all()
    }
    certificates = {
        c.mentor_pk: CertificateRef(
            credential_id=c.credential_id, status=CertificateStatus(c.status), issued_at=c.issued_at
        )
        for c in session.exec(select(Certificate).where(Certificate.cohort_pk == cohort.pk)).all()
    }
    mentors = []
    for mentor_pk in by_mentor:
        person = people[mentor_pk]
        mentors.append(
            evaluate_mentor(
                rules,
                histories.get(mentor_pk, []),
                mentor_pk=mentor_pk,
                mentor_id=person.external_id,
                mentor_name=contact.printable(person.name),
                mentor_email=person.email,
                decision=decisions.get(mentor_pk),
                certificate=certificates.get(mentor_pk),
            )
        )
    return CohortEvaluation(
        cohort_name=cohort.name,
        weeks=cohort.weeks,
        mentor_rule=rules.mentor_rule,
        narrative=rules.narrative(),
        mentors=tuple(sorted(mentors, key=lambda m: m.mentor_id)),
    )


def evaluate_cohort(
    engine: Engine, cohort_name: str, rules: CertificationRules, *, now: datetime
) -> CohortEvaluation:
    """Every mentor of the cohort against ``rules`` at ``now``; stores nothing."""
    with Session(engine) as session:
        return evaluate_in_session(session, get_cohort(session, cohort_name), rules, now)


def first_pair_pk(session: Session, cohort: Cohort, mentor_pk: int) -> int | None:
    """The mentor's first pair in the cohort (lowest pk, declined or not), or None."""
    return session.exec(
        select(Pair.pk)
        .where(Pair.cohort_pk == cohort.pk, Pair.mentor_pk == mentor_pk)
        .order_by(col(Pair.pk))
    ).first()
