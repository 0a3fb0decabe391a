"""One cohort's part of a tick: its state at ``now``, and its pairs in chunks.

:class:`CohortTick` reads the cohort once and holds what every step needs (the week, the
send instants, the curriculum, caches of titles and week windows); the steps themselves
are in ``lifecycle.py``, ``messages.py``, ``reminders.py`` and ``digest.py``. Pairs are
handled a chunk at a time: everything slow (reading, rendering, building messages) before
a short write transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import contact, schedule
from tandem.program.cohorts import send_instants
from tandem.program.curricula import load_curriculum
from tandem.program.link_keys import LinkKeyRing, link_secrets
from tandem.program.outbox.channels import DeliveryChannel
from tandem.program.outbox.dispatch import DeliveryItem
from tandem.program.outbox.mail import Attachment
from tandem.program.outbox.store import (
    insert_ignore,
    message_key,
    outbox_row,
    sender_domain,
    survey_message_key,
)
from tandem.program.pairs import Confirmation, receives_weekly
from tandem.program.runtime import paused_gc
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind, OutboxStatus
from tandem.program.storage.statements import quiet_update
from tandem.program.storage.tables import Cohort, OutboxMessage, Pair, Participant
from tandem.program.tick import digest, lifecycle, messages, reminders, surveys
from tandem.program.tick.fresh import FreshDelivery
from tandem.program.tick.report import Progress, TickReport
from tandem.program.tick.rows import PAIRS, PairRow, Person, Plan
from tandem.program.tick.settings import DEFAULT_SETTINGS, TickSettings
from tandem.program.tokens import LinkSecrets, checkin_url, make_survey_token, make_token
from tandem.program.voice import called_name, program_voice
from tandem.prompts.batch import BatchRenderer
from tandem.prompts.curriculum import CheckinKind, Curriculum, Phase
from tandem.prompts.render import MessageContext, ProgramVoice
from tandem.prompts.surveys import SurveyName

NO_LINK = "https://tandem.invalid/no-link"
"""What a link is while the cohort's base URL cannot make one: a message holding it is not
sent (it fails with :func:`link_problem`'s reason)."""


def link_problem(base_url: str) -> str | None:
    """Why the cohort's stored base URL cannot make the links of its messages, or None.
    (``tandem cohort create`` refuses such a URL; one stored before it did fails the
    messages that need a link, each alone, and the tick goes on.)"""
    try:
        contact.base_url(base_url)
    except ValueError:
        return (
            "the cohort's base URL (--base-url) is not an http or https URL with a host: "
            "its links cannot be made"
        )
    return None


class CohortTick:
    """The due work of one cohort at ``now`` (see :func:`tandem.program.tick.run_due`)."""

    def __init__(
        self,
        engine: Engine,
        cohort_pk: int,
        now: datetime,
        report: TickReport,
        progress: Progress | None,
        channel: DeliveryChannel | None = None,
        *,
        claim: str | None = None,
        settings: TickSettings = DEFAULT_SETTINGS,
        link_keys: LinkKeyRing | None = None,
    ) -> None:
        self.engine = engine
        self.link_keys = link_keys
        self.channel = channel
        self.claim = claim or uuid.uuid4().hex
        self.settings = settings
        self.now = now
        self.report = report
        self.progress = progress
        self.fresh = FreshDelivery(engine, channel, now, self.claim, settings)
        self._windows: dict[int, tuple[date, date]] = {}
        self._titles: dict[tuple[int, str | None], str] = {}
        self._ratings: dict[tuple[int, str, str], frozenset[str]] = {}
        with Session(engine) as session:
            cohort = session.get(Cohort, cohort_pk)
            assert cohort is not None
            self.cohort = cohort
            # Read once: an ORM attribute is slow per message.
            self.cohort_pk = cohort.pk
            self.confirmation = Confirmation(cohort.confirmation)
        self.instants = send_instants(self.cohort)
        self.week = schedule.week_for(now, self.instants)
        self.grace = timedelta(days=self.cohort.grace_days)
        self.domain = sender_domain(self.cohort)
        self.link_problem = link_problem(self.cohort.base_url)

    @cached_property
    def curriculum(self) -> Curriculum:
        return load_curriculum(self.cohort)

    @cached_property
    def voice(self) -> ProgramVoice:
        return program_voice(self.cohort)

    @cached_property
    def renderer(self) -> BatchRenderer:
        return BatchRenderer(self.curriculum)

    @cached_property
    def followup_at(self) -> datetime:
        """When the follow-up survey goes out (see ``surveys.py``)."""
        return surveys.followup_at(self)

    # -- the cohort's work

    def run(self, workers: int = 1) -> None:
        """Do the cohort's due work, its pairs spread over ``workers`` processes (a closed
        program's: its survey messages still due)."""
        if self.week is None:
            return
        if self.cohort.completed_at is not None:
            self.run_surveys()
            return
        lifecycle.close_windows(self)
        if workers > 1:
            from tandem.program.tick.parallel import run_parallel

            run_parallel(self, workers)
        else:
            bounds = self.bounds()
            for low, high, done in bounds:
                self.chunk(self.pairs_between(low, high))
                if self.progress:
                    self.progress("pairs", done, bounds[-1][2])
        digest.send_digest(self)
        self.deliver_fresh()
        self.settle()
        digest.close_program(self)
        messages.closing(self)
        self.settle()

    def chunk(self, pairs: Sequence[PairRow]) -> None:
        """Do the per-pair work for ``pairs``: read and render first, then write briefly.

        Everything that takes time (reading state, rendering and building messages) happens
        before the write transaction, which only applies risk flags, expires stale messages
        and inserts the new outbox rows; another process ticking at the same time waits
        for the database's write lock only that long.
        """
        plan = Plan()
        with paused_gc(), Session(self.engine) as session:
            people = self.people(session, pairs)
            # Introductions first: one that goes out late gives its pair a fresh response
            # window, which the risk rules must see.
            pairs = messages.intros(self, session, pairs, people, plan)
            plan.expire = messages.stale(self, session, pairs)
            reminders.flag_risk(self, session, pairs, plan)
            messages.weekly(self, session, pairs, people, plan)
            reminders.reminders(self, session, pairs, people, plan)
            surveys.followup(self, session, pairs, people, plan)
            surveys.reminders(self, session, pairs, people, plan)
        with transaction(self.engine) as session:
            for pk, values in [*plan.reopened, *plan.risk]:
                session.execute(quiet_update(Pair).where(col(Pair.pk) == pk).values(**values))
            if plan.expire:
                messages.expire_stale(self, session, plan.expire)
            self.enqueue(session, plan.rows)
        self.deliver_fresh()

    def run_surveys(self) -> None:
        """A closed program's part of the tick: the follow-up survey and the survey
        reminders still due (see ``surveys.py``), a chunk of pairs at a time."""
        if not surveys.due(self):
            return
        for low, high, _ in self.bounds():
            pairs = self.pairs_between(low, high)
            plan = Plan()
            with Session(self.engine) as session:
                people = self.people(session, pairs)
                surveys.followup(self, session, pairs, people, plan)
                surveys.reminders(self, session, pairs, people, plan)
            with transaction(self.engine) as session:
                self.enqueue(session, plan.rows)
            self.deliver_fresh()
        self.settle()

    def bounds(self) -> list[tuple[int, int, int]]:
        """(after pk, up to pk, pairs so far) for each chunk of the cohort's pairs."""
        with Session(self.engine) as session:
            pks = session.exec(
                select(Pair.pk).where(Pair.cohort_pk == self.cohort.pk).order_by(col(Pair.pk))
            ).all()
        size = self.settings.chunk
        bounds = []
        for start in range(0, len(pks), size):
            part = pks[start : start + size]
            bounds.append(((pks[start - 1] or 0) if start else 0, part[-1] or 0, start + len(part)))
        return bounds

    def pairs_between(self, low: int, high: int) -> list[PairRow]:
        """The cohort's pairs after ``low`` up to ``high`` (primary keys), as plain rows."""
        query = (
            core_select(PAIRS)
            .where(PAIRS.c.cohort_pk == self.cohort.pk, PAIRS.c.pk > low, PAIRS.c.pk <= high)
            .order_by(PAIRS.c.pk)
        )
        with self.engine.connect() as connection:
            return [PairRow(**row._mapping) for row in connection.execute(query)]

    # -- delivering what this tick enqueued

    def deliver_fresh(self) -> None:
        """Deliver what this tick just enqueued, straight from memory (see FreshDelivery)."""
        if self.fresh.deliver(self.report) and self.progress:
            self.progress("delivering", self.report.delivered, self.report.delivered)

    def settle(self) -> None:
        """Wait until the messages written so far are on disk and recorded."""
        self.fresh.settle(self.report)

    # -- what the steps share

    def people(self, session: Session, pairs: Sequence[PairRow]) -> dict[int, Person]:
        pks = {p.mentee_pk for p in pairs} | {p.mentor_pk for p in pairs}
        return self.people_by_pk(session, pks)

    def people_by_pk(self, session: Session, pks: set[int]) -> dict[int, Person]:
        """The participants ``pks`` as messages address them."""
        rows = session.execute(
            core_select(
                col(Participant.pk),
                col(Participant.name),
                col(Participant.email),
                col(Participant.custom),
                col(Participant.external_id),
                col(Participant.withdrawn_at),
            ).where(col(Participant.pk).in_(pks))
        ).all()
        by = self.cohort.address_by
        return {
            pk: Person(
                pk, name, email, called_name(name, custom, by), external_id, withdrawn is not None
            )
            for pk, name, email, custom, external_id, withdrawn in rows
            if pk is not None
        }

    def receives_weekly(self, pair: Pair | PairRow) -> bool:
        return receives_weekly(pair.state, self.confirmation)

    def key(self, pair_pk: int | None, week: int, kind: MessageKind | str, role: str) -> str:
        return message_key(self.cohort_pk, pair_pk, week, kind, role)

    def next_topic_week(self) -> int:
        """The first week whose topic is still to be sent at ``now``: the current week
        while within the grace period, else the next."""
        week = self.week or 0
        if week >= 1 and self.now - self.instants[week] > self.grace:
            return week + 1
        return max(week, 1)

    def title(self, week: int, track: str | None) -> str:
        if (week, track) not in self._titles:
            self._titles[week, track] = self.curriculum.week(week, track).title
        return self._titles[week, track]

    def alignment_before(self, week: int, track: str | None) -> tuple[str, ...]:
        """Titles of the alignment-phase weeks before ``week`` (what a late pair missed)."""
        return tuple(
            self.title(w, track)
            for w in range(1, min(week, self.curriculum.weeks_total + 1))
            if self.curriculum.week(w, track).phase is Phase.ALIGNMENT
        )

    def rating_questions(self, week: int, track: str, role: str) -> frozenset[str]:
        """Ids of the curriculum's rating questions (1–5) that ``role`` is asked in ``week``."""
        if (week, track, role) not in self._ratings:
            questions = self.curriculum.week(week, track).checkin_for(Role(role))
            self._ratings[week, track, role] = frozenset(
                q.id for q in questions if q.kind is CheckinKind.RATING
            )
        return self._ratings[week, track, role]

    def existing(self, session: Session, keys: Sequence[str]) -> dict[str, str]:
        """The status of each of the messages ``keys`` that the outbox holds already."""
        if not keys:
            return {}
        rows = session.exec(
            select(OutboxMessage.key, OutboxMessage.status).where(col(OutboxMessage.key).in_(keys))
        ).all()
        return dict(rows)

    def enqueue(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert outbox rows (those whose key is new); claim them for immediate delivery."""
        if not rows:
            return
        data = {row["key"]: row["data"] for row in rows}
        if self.channel is not None:
            until = self.now + self.settings.delivery.lease
            for row in rows:
                if row["status"] is OutboxStatus.FAILED:
                    row.update(claim=None, claimed_until=None)
                else:
                    row.update(claim=self.claim, claimed_until=until)
        by_key = {row["key"]: row for row in rows}
        for pk, key, kind in insert_ignore(session, rows):
            row = by_key[key]
            if row["status"] is OutboxStatus.FAILED:  # could not be built: see outbox_row
                self.report.failed += 1
                continue
            self.report.enqueued[kind] += 1
            self.fresh.add(
                DeliveryItem(
                    pk,
                    row["message_id"],
                    row["recipient_email"],
                    row["cohort_pk"],
                    row["due_at"],
                    0,
                    data[key],
                    row["label"],
                )
            )

    def message(
        self,
        pair_pk: int | None,
        week: int,
        kind: MessageKind,
        role: str,
        to: Person | tuple[str, str],
        subject: str,
        text: str,
        html: str,
        due: datetime,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
    ) -> dict[str, Any]:
        """The outbox row of one message of this cohort (``key``: see ``outbox_row``)."""
        name, email = (to.name, to.email) if isinstance(to, Person) else to
        recipient_id = to.external_id if isinstance(to, Person) else None
        unbuildable = None
        if self.link_problem and (NO_LINK in text or NO_LINK in html):
            unbuildable = self.link_problem
        return outbox_row(
            self.cohort,
            pair_pk,
            week,
            kind,
            role,
            (name, email),
            subject,
            text,
            html,
            due,
            now=self.now,
            attachments=attachments,
            key=key,
            recipient_id=recipient_id,
            unbuildable=unbuildable,
        )

    def survey_key(self, person_pk: int, survey: SurveyName, kind: MessageKind, role: str) -> str:
        return survey_message_key(self.cohort_pk, person_pk, survey.value, kind, role)

    def context(
        self,
        pair: PairRow,
        role: Role,
        week: int,
        mentor: Person,
        mentee: Person,
        missed: tuple[str, ...] = (),
        survey_url: str = "",
    ) -> MessageContext:
        """What a weekly topic or reminder says to ``role`` of ``pair`` in ``week``
        (``survey_url``: the closing survey's link, in the final week's topic)."""
        start, end = self.window(week)
        return MessageContext(
            mentor_name=mentor.addressed,
            mentee_name=mentee.addressed,
            cohort_name=self.cohort.name,
            voice=self.voice,
            week_start=start,
            week_end=end,
            checkin_url=self.token_url(
                pair.pk or 0, week, role.value, "checkin", self.settings.checkin_days
            ),
            missed_topics=missed,
            survey_url=survey_url,
            first_week=pair.first_week,
        )

    def window(self, week: int) -> tuple[date, date]:
        if week not in self._windows:
            self._windows[week] = schedule.week_window(
                self.cohort.start_date, self.cohort.send_weekday, week
            )
        return self._windows[week]

    @cached_property
    def _secret(self) -> LinkSecrets:
        return link_secrets(self.link_keys, self.cohort)

    def token_url(self, pair_pk: int, week: int, role: str, path: str, days: int) -> str:
        token = make_token(
            self._secret,
            pair_id=pair_pk,
            week=week,
            role=role,
            expires=self.now + timedelta(days=days),
        )
        if self.link_problem:
            return NO_LINK
        return checkin_url(f"{self.cohort.base_url}/{path}", token)

    def survey_url(self, person_pk: int, survey: SurveyName, role: Role) -> str:
        """A fresh signed link for ``person_pk`` to answer ``survey`` as ``role``."""
        token = make_survey_token(
            self._secret,
            cohort_pk=self.cohort_pk or 0,
            participant_pk=person_pk,
            survey=survey,
            role=role,
            expires=self.now + timedelta(days=self.settings.survey_days),
        )
        if self.link_problem:
            return NO_LINK
        return checkin_url(f"{self.cohort.base_url}/survey", token)
