"""Mentor certification: rules as data, evaluation, issuance once, overrides, revocation.

A mentor is certified once per cohort. The rules (:class:`CertificationRules`, read from a
TOML file; the default ships as ``certification_rules.toml``) are a list of criteria of
named kinds, each registered in :data:`CRITERIA`; a pair meets the rules when it meets
every criterion, and a mentor when, by ``mentor_rule``, at least one (``any_pair``) or
every (``all_pairs``) pair of theirs that ran does. Declined pairs never ran and are not
evaluated. Each pair is evaluated from its own first week, so a rematched pair is
measured over the weeks it was in the program.

A coordinator can grant (overriding unmet criteria) or withhold (blocking issuance) by
hand, with a reason (:func:`decide`). :func:`certify` evaluates every mentor and issues
each eligible mentor's certificate exactly once: its id is a ``urn:uuid:`` derived from
the issuer, cohort and mentor (uuid5), the ``certificate`` table is unique per cohort and
mentor, and the row is inserted with "insert or ignore", so reruns and concurrent runs
never issue twice. Issuing stores the signed VC-JWT, enqueues a ``certificate`` message
to the mentor with the PDF and the credential attached (the next tick delivers it), and
writes ``<id>.jwt``, ``.html`` and ``.pdf``. Every issue, revocation, grant and withhold
is recorded in the audit log.

What reaches a credential: the cohort, the program dates and the weeks met. Check-in notes
are never read here; identity attributes never leave the roster.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import math
import re
import string
import tomllib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.certify.credentials import (
    CertificateFacts,
    IssuerProfile,
    build_credential,
    credential_filename,
    sign_credential,
)
from tandem.program.certify.document import (
    render_certificate_html,
    render_certificate_pdf,
    verification_hint_for,
)
from tandem.program.certify.issuer_keys import KeyRing
from tandem.program.certify.revocations import Revocation, RevocationList, sign_revocations
from tandem.program.cohorts import PairState, get_cohort, load_curriculum, send_instants
from tandem.program.errors import ProgramError
from tandem.program.outbox.mail import Attachment
from tandem.program.outbox.store import insert_ignore, outbox_row
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind as Kind
from tandem.program.storage.tables import (
    AuditEntry,
    Certificate,
    CertificationDecision,
    CheckIn,
    Cohort,
    Pair,
    PairEvent,
    Participant,
)

DEFAULT_RULES = "certification_rules.toml"
"""The rules that ship with Tandem, in the ``tandem.program`` package."""


class CertificationError(ProgramError):
    """A certification operation cannot be carried out as asked."""


class RulesError(CertificationError):
    """A certification rules file is not valid; the message names each wrong key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''} in the certification rules"]
        lines += [f"  {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- vocabulary


class MentorRule(StrEnum):
    """Which of a mentor's pairs must meet every criterion."""

    ANY_PAIR = "any_pair"
    ALL_PAIRS = "all_pairs"


class MeetingCountsWhen(StrEnum):
    """When a week counts as a meeting week: either person's check-in says so, or both."""

    EITHER = "either"
    BOTH = "both"


class EvidenceSource(StrEnum):
    """Where an ``evidence`` criterion looks."""

    CHECKIN_ANSWER = "checkin_answer"


class EvidenceRole(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"
    EITHER = "either"


class DecisionKind(StrEnum):
    """A coordinator's manual decision."""

    GRANT = "grant"
    WITHHOLD = "withhold"


class CertificateStatus(StrEnum):
    ISSUED = "issued"
    REVOKED = "revoked"


class AuditAction(StrEnum):
    ISSUE = "issue"
    REVOKE = "revoke"
    GRANT = "grant"
    WITHHOLD = "withhold"
    EXPORT_REVOCATIONS = "export_revocations"


# --------------------------------------------------------------------------- pair histories


class CheckinRecord(BaseModel):
    """What certification may read of one check-in (never its note)."""

    model_config = ConfigDict(frozen=True)

    week: int
    role: Role
    met: bool
    recorded_at: datetime
    answers: dict[str, Any] = Field(default_factory=dict)


class PairHistory(BaseModel):
    """Everything the criteria read about one pair, gathered once from the database.

    ``state_at_final_week`` is the pair's state when the final week's message was due
    (``None`` if the final week has not begun at ``now`` or the pair did not exist yet).
    """

    model_config = ConfigDict(frozen=True)

    pair_pk: int
    mentee_id: str
    state: PairState
    first_week: int = Field(ge=1)
    weeks_total: int = Field(ge=1)
    final_week_start: datetime
    final_week_begun: bool
    state_at_final_week: PairState | None
    ended_at: datetime | None = None
    program_start: date
    program_end: date
    checkins: tuple[CheckinRecord, ...] = ()
    closing_questions: tuple[str, ...] = ()

    @property
    def weeks_in_program(self) -> int:
        return self.weeks_total - self.first_week + 1

    def meeting_weeks(self, counts_when: MeetingCountsWhen) -> tuple[int, ...]:
        """The pair's weeks (from its first week on) with a meeting, per ``counts_when``."""
        said_met: dict[int, set[Role]] = defaultdict(set)
        for record in self.checkins:
            if record.met and self.first_week <= record.week <= self.weeks_total:
                said_met[record.week].add(record.role)
        needed = 1 if counts_when is MeetingCountsWhen.EITHER else len(Role)
        return tuple(sorted(w for w, roles in said_met.items() if len(roles) >= needed))

    def checkin(self, week: int, role: Role) -> CheckinRecord | None:
        for record in self.checkins:
            if record.week == week and record.role is role:
                return record
        return None


class CriterionResult(BaseModel):
    """One criterion on one pair: met or not, with the evidence or what is missing."""

    model_config = ConfigDict(frozen=True)

    criterion: str
    met: bool
    detail: str


# --------------------------------------------------------------------------- criteria


class Criterion(BaseModel):
    """One certification criterion of a registered kind (see :data:`CRITERIA`).

    Subclasses set ``KIND``, declare their settings as fields and implement
    :meth:`evaluate`. ``text`` overrides the kind's wording from the rules' ``[text]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str] = ""

    kind: str
    text: str | None = Field(default=None, min_length=1)

    @property
    def label(self) -> str:
        """How reports name this criterion."""
        return self.kind

    def text_fields(self) -> dict[str, object]:
        """Values for the placeholders of this criterion's wording."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k != "text"}

    def evaluate(self, pair: PairHistory) -> CriterionResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _result(self, met: bool, detail: str) -> CriterionResult:
        return CriterionResult(criterion=self.label, met=met, detail=detail)


CRITERIA: dict[str, type[Criterion]] = {}
"""The registry of criterion kinds: rules name a kind, the registry gives its model."""


def register_criterion(cls: type[Criterion]) -> type[Criterion]:
    """Class decorator: make ``cls`` available to rules files under ``cls.KIND``."""
    if not cls.KIND or cls.KIND in CRITERIA:
        raise ValueError(f"criterion kind {cls.KIND!r} is empty or registered twice")
    CRITERIA[cls.KIND] = cls
    return cls


def _day(value: datetime) -> str:
    return value.date().isoformat()


@register_criterion
class ActiveThroughFinalWeek(Criterion):
    """The pair was active when the final week began and was not paused or ended since."""

    KIND: ClassVar[str] = "active_through_final_week"

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        final = pair.weeks_total
        if not pair.final_week_begun:
            return self._result(
                False, f"the final week (week {final}) begins {_day(pair.final_week_start)}"
            )
        if pair.state_at_final_week is not PairState.ACTIVE:
            was = pair.state_at_final_week.value if pair.state_at_final_week else "not started"
            return self._result(False, f"was {was} when week {final} began")
        if pair.state not in (PairState.ACTIVE, PairState.COMPLETED):
            since = f" since {_day(pair.ended_at)}" if pair.ended_at else ""
            return self._result(False, f"{pair.state.value}{since}, after week {final} began")
        return self._result(True, f"active from week {pair.first_week} through week {final}")


@register_criterion
class MinMeetingWeeks(Criterion):
    """The pair met in enough of its weeks: a fraction of them, or a scaled week count."""

    KIND: ClassVar[str] = "min_meeting_weeks"

    fraction: float | None = Field(default=None, gt=0, le=1)
    weeks: int | None = Field(default=None, ge=1)
    meeting_counts_when: MeetingCountsWhen = MeetingCountsWhen.EITHER

    @model_validator(mode="after")
    def _one_threshold(self) -> MinMeetingWeeks:
        if (self.fraction is None) == (self.weeks is None):
            raise ValueError("give exactly one of fraction (e.g. 0.75) or weeks (e.g. 12)")
        return self

    def text_fields(self) -> dict[str, object]:
        threshold = f"{self.fraction:.0%}" if self.fraction is not None else str(self.weeks)
        return {**super().text_fields(), "threshold": threshold}

    def required(self, pair: PairHistory) -> int:
        """Weeks with a meeting the pair needs, rounded up (exact rational arithmetic)."""
        if self.fraction is not None:
            share = Fraction(str(self.fraction)) * pair.weeks_in_program
        else:
            share = Fraction(self.weeks or 0, pair.weeks_total) * pair.weeks_in_program
        return max(1, math.ceil(share))

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        met = pair.meeting_weeks(self.meeting_counts_when)
        needed = self.required(pair)
        detail = f"met in {len(met)} of {pair.weeks_in_program} weeks"
        if len(met) >= needed:
            return self._result(True, f"{detail} (needs {needed})")
        return self._result(False, f"{detail}, needs {needed}")


@register_criterion
class ClosingCheckin(Criterion):
    """The mentor submitted the final week's check-in (optionally: answered the reflection)."""

    KIND: ClassVar[str] = "closing_checkin"

    require_answers: bool = False

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        final = pair.weeks_total
        record = pair.checkin(final, Role.MENTOR)
        if record is None:
            return self._result(False, f"no week {final} check-in from the mentor")
        if self.require_answers:
            missing = [q for q in pair.closing_questions if not _answered(record.answers.get(q))]
            if missing:
                return self._result(False, f"closing reflection not answered: {', '.join(missing)}")
        return self._result(True, f"closing check-in recorded {_day(record.recorded_at)}")


@register_criterion
class NotEndedEarly(Criterion):
    """The pair was not ended before the program closed."""

    KIND: ClassVar[str] = "not_ended_early"

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        if pair.state is PairState.ENDED:
            when = f" on {_day(pair.ended_at)}" if pair.ended_at else ""
            return self._result(False, f"ended early{when}")
        return self._result(True, "not ended early")


_ANSWER_KEY = r"^[a-z][a-z0-9_]*$"


def _answered(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not (isinstance(value, list | dict) and not value)


@register_criterion
class EvidenceCriterion(Criterion):
    """A recorded answer that another feature fills (e.g. an end-of-program survey flag)."""

    KIND: ClassVar[str] = "evidence"

    name: str = Field(pattern=_ANSWER_KEY)
    source: EvidenceSource = EvidenceSource.CHECKIN_ANSWER
    key: str = Field(pattern=_ANSWER_KEY)
    week: Annotated[int, Field(ge=1)] | Literal["final", "any"] = "final"
    role: EvidenceRole = EvidenceRole.MENTOR
    equals: str | int | bool | None = None

    @property
    def label(self) -> str:
        return f"evidence:{self.name}"

    def _matches(self, value: object) -> bool:
        if self.equals is None:
            return _answered(value)
        return type(value) is type(self.equals) and value == self.equals

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        week = pair.weeks_total if self.week == "final" else self.week
        roles = [Role(self.role.value)] if self.role is not EvidenceRole.EITHER else list(Role)
        for record in sorted(pair.checkins, key=lambda r: (r.week, r.role.value)):
            if (
                (week == "any" or record.week == week)
                and record.role in roles
                and self._matches(record.answers.get(self.key))
            ):
                return self._result(
                    True,
                    f"{self.key} answered by the {record.role.value} in week {record.week} "
                    f"({_day(record.recorded_at)})",
                )
        where = "any week" if week == "any" else f"week {week}"
        wanted = "" if self.equals is None else f" = {json.dumps(self.equals)}"
        who = "either person" if self.role is EvidenceRole.EITHER else f"the {self.role.value}"
        return self._result(False, f"no answer {self.key}{wanted} from {who} in {where}")


# --------------------------------------------------------------------------- rules


class CertificateText(BaseModel):
    """The achievement as the credential names and describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    achievement_path: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._~/-]*$")
    narrative: str = Field(min_length=1)


class MessageText(BaseModel):
    """The message that delivers a certificate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1)
    text: str = Field(min_length=1)


_MESSAGE_FIELDS = (
    "mentor_name",
    "achievement_name",
    "cohort_name",
    "issuer_name",
    "credential_id",
    "credential_file",
    "pdf_file",
)


class CertificationRules(BaseModel):
    """Validated certification rules (see ``certification_rules.toml`` for each key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mentor_rule: MentorRule = MentorRule.ANY_PAIR
    certificate: CertificateText
    text: dict[str, str] = Field(default_factory=dict)
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    message: MessageText
    source: str = "rules"

    def wording(self, criterion: Criterion) -> str:
        """The criterion's wording for the narrative, its placeholders filled."""
        template = criterion.text or self.text[criterion.kind]
        return template.format(**criterion.text_fields())

    def narrative(self) -> str:
        """The criteria narrative for the credential, generated from the rules in force."""
        return self.certificate.narrative.format(
            scope=self.text[self.mentor_rule.value],
            criteria="; ".join(self.wording(c) for c in self.criteria),
        )

    @property
    def meeting_rule(self) -> MinMeetingWeeks | None:
        for criterion in self.criteria:
            if isinstance(criterion, MinMeetingWeeks):
                return criterion
        return None


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _error_location(loc: Sequence[int | str], prefix: str = "") -> str:
    where = prefix
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "(top level)"


def _problems(error: ValidationError, prefix: str = "") -> list[str]:
    return [
        f"{_error_location(item['loc'], prefix)}: {str(item['msg']).removeprefix('Value error, ')}"
        for item in error.errors()
    ]


def parse_rules(data: dict[str, Any], source: str) -> CertificationRules:
    """Validate rules given as TOML data; raises :class:`RulesError` naming every wrong key."""
    problems: list[str] = []
    criteria: list[Criterion] = []
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        problems.append("criteria: give at least one [[criteria]] entry")
        raw = []
    for index, entry in enumerate(raw):
        where = f"criteria[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a table ([[criteria]])")
            continue
        kind = entry.get("kind")
        model = CRITERIA.get(str(kind)) if kind is not None else None
        if model is None:
            problems.append(
                f"{where}.kind: unknown criterion kind {kind!r}; use one of: "
                + ", ".join(sorted(CRITERIA))
            )
            continue
        try:
            criteria.append(model.model_validate(entry))
        except ValidationError as error:
            problems += _problems(error, where)
            continue
        criterion = criteria[-1]
        template = criterion.text or data.get("text", {}).get(criterion.kind)
        key = f"{where}.text" if criterion.text else f"text.{criterion.kind}"
        if not isinstance(template, str):
            problems.append(
                f'{where}: no wording for kind {criterion.kind!r}; add `text = "..."` to '
                f'the entry or `{criterion.kind} = "..."` under [text]'
            )
            continue
        unknown = _placeholders(template) - set(criterion.text_fields())
        if unknown:
            problems.append(
                f"{key}: unknown placeholder(s) {', '.join(sorted(unknown))}; this criterion "
                f"offers: {', '.join(sorted(criterion.text_fields())) or 'none'}"
            )
    seen: dict[str, int] = {}
    for index, criterion in enumerate(criteria):
        if criterion.label in seen:
            problems.append(
                f"criteria[{index}]: criterion {criterion.label!r} is listed twice; "
                "give each evidence entry its own name"
            )
        seen[criterion.label] = index
    if "source" in data:
        problems.append("source: unknown key; remove it")
    payload = {k: v for k, v in data.items() if k not in ("criteria", "source")}
    try:
        rules = CertificationRules.model_validate(
            {**payload, "criteria": tuple(criteria), "source": source}
        )
    except ValidationError as error:
        # An empty criteria list was reported above, entry by entry.
        problems += [p for p in _problems(error) if not p.startswith("criteria")]
        raise RulesError(source, problems) from None
    scope = rules.text.get(rules.mentor_rule.value)
    if scope is None:
        problems.append(
            f"text.{rules.mentor_rule.value}: missing; mentor_rule = "
            f'"{rules.mentor_rule.value}" needs its wording under [text]'
        )
    unknown = _placeholders(rules.certificate.narrative) - {"scope", "criteria"}
    if unknown:
        problems.append(
            f"certificate.narrative: unknown placeholder(s) {', '.join(sorted(unknown))}; "
            "use {scope} and {criteria}"
        )
    for field in ("subject", "text"):
        unknown = _placeholders(getattr(rules.message, field)) - set(_MESSAGE_FIELDS)
        if unknown:
            problems.append(
                f"message.{field}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                f"use: {', '.join(_MESSAGE_FIELDS)}"
            )
    if problems:
        raise RulesError(source, problems)
    return rules


def load_rules(path: Path | None = None) -> CertificationRules:
    """Read and validate a rules file (default: the rules that ship with Tandem).

    Raises :class:`RulesError` for a missing, unreadable or invalid file.
    """
    if path is None:
        resource = resources.files("tandem.program.certify").joinpath(DEFAULT_RULES)
        text, source = resource.read_text(encoding="utf-8"), DEFAULT_RULES
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RulesError(
                source, ["the file does not exist; copy the shipped rules and edit them"]
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise RulesError(source, [f"cannot read the file: {error}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(source, [f"not valid TOML: {error}"]) from None
    return parse_rules(data, source)


# --------------------------------------------------------------------------- evaluation


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
            f"{pair.mentee_id}: {result.criterion}: {result.detail}"
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


def _histories(
    session: Session, cohort: Cohort, now: datetime, need_questions: bool
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
            )
        )
    return histories, people, by_mentor


def _evaluate(
    session: Session, cohort: Cohort, rules: CertificationRules, now: datetime
) -> CohortEvaluation:
    need_questions = any(
        isinstance(c, ClosingCheckin) and c.require_answers for c in rules.criteria
    )
    histories, people, by_mentor = _histories(session, cohort, now, need_questions)
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
                mentor_name=person.name,
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
        return _evaluate(session, get_cohort(session, cohort_name), rules, now)


# --------------------------------------------------------------------------- issuing


class IssuerSettings(BaseModel):
    """Who issues, and where verifiers find the keys and the revocation list.

    ``email_salt``: the salt for hashing mentors' e-mail addresses in credentials. When
    it is not given, each credential gets its own salt derived from the active signing
    key and the credential id (HMAC-SHA256), so it is stable for a key ring and
    unguessable without it. The salt is written into the credential either way.
    """

    model_config = ConfigDict(frozen=True)

    profile: IssuerProfile
    email_salt: str | None = Field(default=None, min_length=1, repr=False)
    jwks_url: str | None = None
    revocations_url: str | None = None


def issuer_settings(
    *,
    name: str | None,
    url: str | None,
    issuer_id: str | None = None,
    email: str | None = None,
    email_salt: str | None = None,
    jwks_url: str | None = None,
    revocations_url: str | None = None,
) -> IssuerSettings:
    """Validated issuer settings; the issuer id defaults to the URL.

    Raises :class:`CertificationError` naming the option that is missing or wrong.
    """
    if not name:
        raise CertificationError(
            "the issuer has no name: give it with --issuer-name or TANDEM_ISSUER_NAME"
        )
    if not url:
        raise CertificationError(
            "the issuer has no web address: give it with --issuer-url or TANDEM_ISSUER_URL "
            "(for example https://mentoring.example.edu)"
        )
    url = url.strip().rstrip("/")
    if not re.fullmatch(r"https?://\S+", url):
        raise CertificationError(
            f"issuer URL {url!r} is not a web address: give --issuer-url (or "
            "TANDEM_ISSUER_URL) starting with https://, e.g. https://mentoring.example.edu"
        )
    try:
        profile = IssuerProfile(id=issuer_id or url, name=name, url=url, email=email)
    except ValidationError as error:
        item = error.errors()[0]
        field = str(item["loc"][0]) if item["loc"] else "issuer"
        fixes = {
            "id": "give --issuer-id (or TANDEM_ISSUER_ID) as a URI, e.g. "
            "https://mentoring.example.edu/issuer",
            "email": "give --issuer-email (or TANDEM_ISSUER_EMAIL) as name@example.edu",
        }
        raise CertificationError(
            f"issuer {field} is not valid ({item['msg']}): {fixes.get(field, 'check it')}"
        ) from None
    return IssuerSettings(
        profile=profile,
        email_salt=email_salt or None,
        jwks_url=jwks_url,
        revocations_url=revocations_url,
    )


def credential_id_for(issuer_id: str, cohort_name: str, mentor_id: str) -> str:
    """The certificate's id: the same issuer, cohort and mentor always give the same id."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, issuer_id)
    name = "\x1f".join((cohort_name, mentor_id))  # a separator no name contains
    return f"urn:uuid:{uuid.uuid5(namespace, name)}"


def _salt(settings: IssuerSettings, keyring: KeyRing, credential_id: str) -> str:
    if settings.email_salt:
        return settings.email_salt
    key = keyring.active.private_key_pem
    assert key is not None  # load_keyring guarantees the active key can sign
    digest = hmac.new(
        key.get_secret_value().encode("ascii"), credential_id.encode("utf-8"), hashlib.sha256
    )
    return digest.hexdigest()[:32]


class IssuedCertificate(BaseModel):
    """A certificate issued by this run, and the files written for it."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    mentor_id: str
    mentor_name: str
    files: tuple[Path, ...]


class CertifyReport(BaseModel):
    """What :func:`certify` found and did."""

    model_config = ConfigDict(frozen=True)

    evaluation: CohortEvaluation
    dry_run: bool
    issued: tuple[IssuedCertificate, ...] = ()
    would_issue: tuple[str, ...] = ()
    """Mentor ids a dry run would certify."""

    @property
    def already(self) -> int:
        return sum(1 for m in self.evaluation.mentors if m.certificate is not None)

    @property
    def not_eligible(self) -> int:
        return sum(1 for m in self.evaluation.mentors if not m.eligible)

    def lines(self) -> list[str]:
        """The summary for people."""
        if self.dry_run:
            count = len(self.would_issue)
            return [
                f"Dry run: {count} certificate{'s' if count != 1 else ''} would be issued; "
                f"{self.already} already issued, {self.not_eligible} not eligible. "
                "Nothing was stored."
            ]
        count = len(self.issued)
        before = self.already - count
        if not count:
            return [
                f"No new certificates: {before} already issued, {self.not_eligible} not eligible."
            ]
        folders = sorted({str(f.parent) for c in self.issued for f in c.files})
        where = f" (files in {', '.join(folders)})" if folders else ""
        return [
            f"Issued {count} new certificate{'s' if count != 1 else ''}{where}; "
            f"{before} already issued, {self.not_eligible} not eligible.",
            "Each mentor's certificate is queued as a message: `tandem tick` delivers it.",
        ]


def _insert_ignore_certificate(session: Session, row: dict[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Certificate).values([row]).on_conflict_do_nothing().returning(col(Certificate.pk))
    )
    return bool(session.execute(statement).all())


def _message_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return f'<!DOCTYPE html>\n<html lang="en"><body>\n{body}\n</body></html>\n'


class _Issue(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    facts: CertificateFacts
    token: str
    html: str
    pdf: bytes


def _issue_one(
    session: Session,
    cohort: Cohort,
    rules: CertificationRules,
    mentor: MentorEvaluation,
    settings: IssuerSettings,
    keyring: KeyRing,
    actor: str,
    now: datetime,
) -> _Issue | None:
    """Sign and store one mentor's certificate; None if someone issued it first."""
    issuer = settings.profile
    pair = mentor.evidence_pair
    credential_id = credential_id_for(issuer.id, cohort.name, mentor.mentor_id)
    if pair is not None:
        start, end, met, total = (
            pair.program_start,
            pair.program_end,
            len(pair.weeks_met),
            pair.weeks_in_program,
        )
    else:  # granted without a pair that ran
        start = schedule.week_window(cohort.start_date, cohort.send_weekday, 1)[0]
        end = schedule.week_window(cohort.start_date, cohort.send_weekday, cohort.weeks)[1]
        met, total = 0, cohort.weeks
    facts = CertificateFacts(
        credential_id=credential_id,
        mentor_name=mentor.mentor_name,
        mentor_email=mentor.mentor_email,
        email_salt=_salt(settings, keyring, credential_id),
        achievement_id=f"{issuer.url}/{rules.certificate.achievement_path}",
        achievement_name=rules.certificate.name,
        achievement_description=rules.certificate.description,
        criteria_narrative=rules.narrative(),
        cohort_name=cohort.name,
        program_start=start,
        program_end=end,
        weeks_met=met,
        weeks_total=total,
        issued_at=now,
    )
    token = sign_credential(build_credential(facts, issuer), keyring, now)
    evidence: dict[str, Any] = {
        "mentee_id": pair.mentee_id if pair else None,
        "weeks_met": list(pair.weeks_met) if pair else [],
        "weeks_required": pair.weeks_required if pair else None,
        "program_start": start.isoformat(),
        "program_end": end.isoformat(),
        "criteria": [r.model_dump() for r in pair.results] if pair else [],
        "decision": mentor.decision.model_dump(mode="json") if mentor.decision else None,
        "rules": rules.source,
    }
    inserted = _insert_ignore_certificate(
        session,
        {
            "credential_id": credential_id,
            "cohort_pk": cohort.pk,
            "mentor_pk": mentor.mentor_pk,
            "issued_at": now,
            "kid": keyring.active_kid,
            "token": token,
            "evidence": evidence,
            "status": CertificateStatus.ISSUED.value,
        },
    )
    if not inserted:
        return None
    hint = verification_hint_for(facts, settings.jwks_url, settings.revocations_url)
    page = render_certificate_html(facts, issuer, hint)
    pdf = render_certificate_pdf(facts, issuer, hint)
    stem = credential_id.removeprefix("urn:uuid:")
    fields = {
        "mentor_name": mentor.mentor_name,
        "achievement_name": rules.certificate.name,
        "cohort_name": cohort.name,
        "issuer_name": issuer.name,
        "credential_id": credential_id,
        "credential_file": credential_filename(credential_id),
        "pdf_file": f"{stem}.pdf",
    }
    text = rules.message.text.format(**fields)
    message_pair = pair.pair_pk if pair else _any_pair_pk(session, cohort, mentor.mentor_pk)
    row = outbox_row(
        cohort,
        message_pair,
        cohort.weeks,
        Kind.CERTIFICATE,
        Role.MENTOR.value,
        (mentor.mentor_name, mentor.mentor_email),
        rules.message.subject.format(**fields),
        text,
        _message_html(text),
        now,
        now=now,
        attachments=(
            Attachment(filename=f"{stem}.pdf", maintype="application", subtype="pdf", data=pdf),
            Attachment(
                filename=credential_filename(credential_id),
                maintype="application",
                subtype="vc+jwt",
                data=(token + "\n").encode("ascii"),
            ),
        ),
    )
    insert_ignore(session, [row])
    _audit(
        session,
        now,
        actor,
        AuditAction.ISSUE,
        credential_id,
        {
            "cohort": cohort.name,
            "mentor_id": mentor.mentor_id,
            "kid": keyring.active_kid,
            "override": mentor.decision.decision.value if mentor.decision else None,
        },
    )
    return _Issue(facts=facts, token=token, html=page, pdf=pdf)


def _any_pair_pk(session: Session, cohort: Cohort, mentor_pk: int) -> int | None:
    return session.exec(
        select(Pair.pk)
        .where(Pair.cohort_pk == cohort.pk, Pair.mentor_pk == mentor_pk)
        .order_by(col(Pair.pk))
    ).first()


def _audit(
    session: Session,
    now: datetime,
    actor: str,
    action: AuditAction,
    subject: str,
    details: dict[str, Any],
) -> None:
    session.add(
        AuditEntry(at=now, actor=actor, action=action.value, subject=subject, details=details)
    )


def _write_files(out_dir: Path, issue: _Issue) -> tuple[Path, ...]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = issue.facts.credential_id.removeprefix("urn:uuid:")
    files = (
        (out_dir / credential_filename(issue.facts.credential_id), (issue.token + "\n").encode()),
        (out_dir / f"{stem}.html", issue.html.encode("utf-8")),
        (out_dir / f"{stem}.pdf", issue.pdf),
    )
    for path, data in files:
        path.write_bytes(data)
    return tuple(path for path, _ in files)


def certify(
    engine: Engine,
    cohort_name: str,
    rules: CertificationRules,
    *,
    now: datetime,
    actor: str,
    dry_run: bool = False,
    issuer: IssuerSettings | None = None,
    keyring: KeyRing | None = None,
    out_dir: Path | None = None,
) -> CertifyReport:
    """Evaluate every mentor of the cohort and issue each eligible mentor's certificate once.

    A dry run stores and writes nothing and needs neither ``issuer`` nor ``keyring``.
    Otherwise each newly issued certificate is stored with its VC-JWT, queued as a message
    to the mentor, recorded in the audit log and, when ``out_dir`` is given, written there
    as ``<id>.jwt``, ``<id>.html`` and ``<id>.pdf`` (after the database commit).

    Raises :class:`CertificationError` when issuing without an issuer or key ring, and
    :class:`~tandem.program.cohorts.CohortError` for an unknown cohort.
    """
    if dry_run:
        evaluation = evaluate_cohort(engine, cohort_name, rules, now=now)
        todo = tuple(m.mentor_id for m in evaluation.mentors if m.eligible and not m.certificate)
        return CertifyReport(evaluation=evaluation, dry_run=True, would_issue=todo)
    if issuer is None or keyring is None:
        raise CertificationError(
            "issuing certificates needs the issuer settings and the issuer key file; "
            "use --dry-run to evaluate only"
        )
    issues: list[tuple[MentorEvaluation, _Issue]] = []
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        evaluation = _evaluate(session, cohort, rules, now)
        for mentor in evaluation.mentors:
            if mentor.eligible and mentor.certificate is None:
                issue = _issue_one(session, cohort, rules, mentor, issuer, keyring, actor, now)
                if issue is not None:
                    issues.append((mentor, issue))
    issued = []
    for mentor, issue in issues:
        files = _write_files(out_dir, issue) if out_dir is not None else ()
        issued.append(
            IssuedCertificate(
                credential_id=issue.facts.credential_id,
                mentor_id=mentor.mentor_id,
                mentor_name=mentor.mentor_name,
                files=files,
            )
        )
    # Show the certificates as they now stand.
    evaluation = evaluate_cohort(engine, cohort_name, rules, now=now)
    return CertifyReport(evaluation=evaluation, dry_run=False, issued=tuple(issued))


# --------------------------------------------------------------------------- decisions


class DecisionResult(BaseModel):
    """What :func:`decide` recorded, and anything the coordinator must still do."""

    model_config = ConfigDict(frozen=True)

    decision: Decision
    mentor_id: str
    replaced: DecisionKind | None = None
    warning: str | None = None


def decide(
    engine: Engine,
    cohort_name: str,
    mentor_id: str,
    decision: DecisionKind,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> DecisionResult:
    """Record a coordinator's grant or withholding for one mentor (replacing any earlier one).

    A grant makes the mentor eligible whatever the criteria say; a withholding blocks
    issuance. Both are recorded in the audit log with the reason. Withholding does not
    revoke a certificate already issued (the result's ``warning`` says so).

    Raises :class:`CertificationError` without a reason or for a mentor with no pair in
    the cohort.
    """
    reason = reason.strip()
    if not reason:
        raise CertificationError(f"give a reason to {decision.value} a certificate (--reason)")
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        mentor = session.exec(
            select(Participant).where(
                Participant.role == Role.MENTOR.value, Participant.external_id == mentor_id
            )
        ).first()
        if mentor is None or _any_pair_pk(session, cohort, mentor.pk or 0) is None:
            raise CertificationError(
                f'no mentor with id "{mentor_id}" has a pair in cohort "{cohort.name}"; '
                "see the mentor ids with `tandem certify COHORT --dry-run`"
            )
        row = session.exec(
            select(CertificationDecision).where(
                CertificationDecision.cohort_pk == cohort.pk,
                CertificationDecision.mentor_pk == mentor.pk,
            )
        ).first()
        replaced = DecisionKind(row.decision) if row is not None else None
        if row is None:
            row = CertificationDecision(
                cohort_pk=cohort.pk or 0, mentor_pk=mentor.pk or 0, decision="", reason="", actor=""
            )
        row.decision, row.reason, row.actor, row.at = decision.value, reason, actor, now
        session.add(row)
        _audit(
            session,
            now,
            actor,
            AuditAction(decision.value),
            f"{cohort.name}/{mentor_id}",
            {
                "cohort": cohort.name,
                "mentor_id": mentor_id,
                "reason": reason,
                "replaced": replaced.value if replaced else None,
            },
        )
        warning = None
        issued = session.exec(
            select(Certificate).where(
                Certificate.cohort_pk == cohort.pk, Certificate.mentor_pk == mentor.pk
            )
        ).first()
        if (
            decision is DecisionKind.WITHHOLD
            and issued is not None
            and issued.status == CertificateStatus.ISSUED.value
        ):
            warning = (
                f"certificate {issued.credential_id} was already issued; withholding does "
                "not revoke it: run `tandem certs revoke ID --reason ...`"
            )
        return DecisionResult(
            decision=Decision(decision=decision, reason=reason, actor=actor, at=now),
            mentor_id=mentor_id,
            replaced=replaced,
            warning=warning,
        )


# --------------------------------------------------------------------------- certificates


class CertificateInfo(BaseModel):
    """One stored certificate, for listing and showing."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    cohort: str
    mentor_id: str
    mentor: str
    issued_at: datetime
    kid: str
    status: CertificateStatus
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    def as_row(self) -> dict[str, object]:
        return {
            "credential_id": self.credential_id,
            "cohort": self.cohort,
            "mentor_id": self.mentor_id,
            "mentor": self.mentor,
            "issued": self.issued_at.date().isoformat(),
            "status": self.status.value,
            "revoked": self.revoked_at.date().isoformat() if self.revoked_at else None,
            "reason": self.revoked_reason,
            "kid": self.kid,
        }


def _info(session: Session, row: Certificate) -> CertificateInfo:
    cohort = session.get(Cohort, row.cohort_pk)
    mentor = session.get(Participant, row.mentor_pk)
    assert cohort is not None and mentor is not None
    return CertificateInfo(
        credential_id=row.credential_id,
        cohort=cohort.name,
        mentor_id=mentor.external_id,
        mentor=mentor.name,
        issued_at=row.issued_at,
        kid=row.kid,
        status=CertificateStatus(row.status),
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


def list_certificates(engine: Engine, cohort_name: str | None = None) -> list[CertificateInfo]:
    """Stored certificates (of one cohort, or all), by cohort then mentor id."""
    with Session(engine) as session:
        query = select(Certificate)
        if cohort_name is not None:
            query = query.where(Certificate.cohort_pk == get_cohort(session, cohort_name).pk)
        infos = [_info(session, row) for row in session.exec(query).all()]
    return sorted(infos, key=lambda i: (i.cohort, i.mentor_id, i.credential_id))


def _normalise_id(credential_id: str) -> str:
    text = credential_id.strip().removesuffix(".jwt").removeprefix("urn:uuid:")
    try:
        return f"urn:uuid:{uuid.UUID(text)}"
    except ValueError:
        raise CertificationError(
            f"{credential_id!r} is not a certificate id; use the urn:uuid:… id that "
            "`tandem certs list` shows"
        ) from None


def _find(session: Session, credential_id: str) -> Certificate:
    wanted = _normalise_id(credential_id)
    row = session.exec(select(Certificate).where(Certificate.credential_id == wanted)).first()
    if row is None:
        raise CertificationError(
            f"no certificate {wanted} in this database; see `tandem certs list`"
        )
    return row


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(data, dict)
    return data


class CertificateDetail(BaseModel):
    """A stored certificate with its credential (the signed JSON content)."""

    model_config = ConfigDict(frozen=True)

    info: CertificateInfo
    credential: dict[str, Any]
    evidence: dict[str, Any]


def show_certificate(engine: Engine, credential_id: str) -> CertificateDetail:
    """One stored certificate: status and credential. Raises CertificationError if unknown."""
    with Session(engine) as session:
        row = _find(session, credential_id)
        return CertificateDetail(
            info=_info(session, row), credential=_payload(row.token), evidence=dict(row.evidence)
        )


def revoke_certificate(
    engine: Engine, credential_id: str, *, reason: str, actor: str, now: datetime
) -> tuple[CertificateInfo, bool]:
    """Revoke a certificate with a reason; returns it and whether this call revoked it.

    Revoking a revoked certificate changes nothing. Verifiers learn of revocations from the
    list :func:`export_revocations` signs. Raises CertificationError without a reason.
    """
    reason = reason.strip()
    if not reason:
        raise CertificationError("give a reason to revoke a certificate (--reason)")
    with transaction(engine) as session:
        row = _find(session, credential_id)
        if row.status == CertificateStatus.REVOKED.value:
            return _info(session, row), False
        row.status = CertificateStatus.REVOKED.value
        row.revoked_at = now
        row.revoked_reason = reason
        session.add(row)
        info = _info(session, row)
        _audit(
            session,
            now,
            actor,
            AuditAction.REVOKE,
            row.credential_id,
            {"cohort": info.cohort, "mentor_id": info.mentor_id, "reason": reason},
        )
        return info, True


def export_revocations(
    engine: Engine,
    keyring: KeyRing,
    *,
    now: datetime,
    actor: str,
    issuer_id: str | None = None,
) -> tuple[str, RevocationList]:
    """The signed revocation list of every revoked certificate of the issuer.

    The issuer is ``issuer_id``, or the one issuer of the stored certificates. Raises
    CertificationError when that is ambiguous or unknown.
    """
    with transaction(engine) as session:
        rows = session.exec(select(Certificate).order_by(col(Certificate.credential_id))).all()
        by_issuer: dict[str, list[Certificate]] = defaultdict(list)
        for row in rows:
            by_issuer[str(_payload(row.token)["iss"])].append(row)
        if issuer_id is None:
            if len(by_issuer) != 1:
                known = ", ".join(sorted(by_issuer)) or "none: no certificate was issued yet"
                raise CertificationError(
                    f"name the issuer of the revocation list with --issuer-id (issuers in "
                    f"this database: {known})"
                )
            issuer_id = next(iter(by_issuer))
        revocations = RevocationList(
            issuer_id=issuer_id,
            issued_at=now,
            entries=tuple(
                Revocation(
                    credential_id=row.credential_id,
                    reason=row.revoked_reason or "revoked",
                    revoked_at=row.revoked_at or now,
                )
                for row in by_issuer.get(issuer_id, [])
                if row.status == CertificateStatus.REVOKED.value
            ),
        )
        token = sign_revocations(revocations, keyring, now)
        _audit(
            session,
            now,
            actor,
            AuditAction.EXPORT_REVOCATIONS,
            issuer_id,
            {"revoked": len(revocations.entries), "kid": keyring.active_kid},
        )
    return token, revocations


# --------------------------------------------------------------------------- audit log


class AuditRecord(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]

    def as_row(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": json.dumps(self.details, sort_keys=True),
        }


def audit_log(engine: Engine, cohort_name: str | None = None) -> list[AuditRecord]:
    """Audit entries in the order they were made (of one cohort's certificates, or all)."""
    with Session(engine) as session:
        if cohort_name is not None:
            get_cohort(session, cohort_name)
        rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.at), col(AuditEntry.pk)))
        records = [
            AuditRecord(
                at=r.at, actor=r.actor, action=r.action, subject=r.subject, details=r.details
            )
            for r in rows.all()
        ]
    if cohort_name is None:
        return records
    return [r for r in records if r.details.get("cohort") == cohort_name]
