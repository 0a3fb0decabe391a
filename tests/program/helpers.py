"""Building blocks for program-engine tests: a small roster, a stored match, a cohort."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.cohorts import CohortSettings, Confirmation, create_cohort, send_instants
from tandem.program.link_keys import SECTION, LinkKey, LinkKeyRing, serialise
from tandem.program.roster import store as roster
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Cohort, MatchPair, MatchRun, OutboxMessage

if TYPE_CHECKING:
    from tandem.program.outbox.channels import DeliveryChannel
    from tandem.program.tick import TickReport

CREATED = datetime(2026, 8, 1, tzinfo=UTC)
START = date(2026, 9, 7)  # a Monday
LINK_KEYS = LinkKeyRing(
    active_kid="0badc0de",
    keys=(LinkKey(kid="0badc0de", secret=SecretStr("5e" * 32), created_at=CREATED),),
)
"""The link-signing keys of the tests (a key file's, in a deployment)."""


def link_key_file(folder: Path) -> Path:
    """A key file (mode 0600) holding :data:`LINK_KEYS`, for commands given ``--keys``."""
    path = folder / "tandem-keys.json"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(json.dumps({SECTION: serialise(LINK_KEYS)}), encoding="utf-8")
    return path


def roster_files(tmp_path: Path, pairs: int) -> tuple[Path, Path]:
    mentors = ["id,name,email,capacity,career_stage"]
    mentees = ["id,name,email,career_stage"]
    stages = ["graduate_student", "postdoc", "early_career_faculty"]
    for n in range(1, pairs + 1):
        mentors.append(f"M{n:03d},Mentor {n},mentor{n}@uni.edu,1,senior_faculty")
        mentees.append(f"E{n:03d},Mentee {n},mentee{n}@uni.edu,{stages[n % 3]}")
    (tmp_path / "mentors.csv").write_text("\n".join(mentors) + "\n", encoding="utf-8")
    (tmp_path / "mentees.csv").write_text("\n".join(mentees) + "\n", encoding="utf-8")
    return tmp_path / "mentors.csv", tmp_path / "mentees.csv"


def store_match(engine: Engine, cycle: str, pairs: list[tuple[str, str]]) -> int:
    """A match run as `tandem match` would store it (the matcher itself is tested apart)."""
    with transaction(engine) as session:
        run = MatchRun(
            cycle=cycle,
            created_at=CREATED,
            tandem_version="test",
            method="optimal",
            objective="total",
            config_toml="",
            mentees_total=len(pairs),
            matched=len(pairs),
            total_score=50.0 * len(pairs),
        )
        session.add(run)
        session.flush()
        assert run.pk is not None
        for mentee, mentor in pairs:
            session.add(MatchPair(run_pk=run.pk, mentee_id=mentee, mentor_id=mentor, score=50.0))
        return run.pk


@dataclass(frozen=True)
class Program:
    engine: Engine
    name: str
    instants: list[datetime]


def make_program(
    engine: Engine,
    tmp_path: Path,
    pairs: int = 3,
    *,
    confirmation: Confirmation = Confirmation.OPT_OUT,
    coordinator: str | None = "coordinator@uni.edu",
    weeks: int | None = None,
    start: date = START,
    created: datetime = CREATED,
) -> Program:
    mentors, mentees = roster_files(tmp_path, pairs)
    roster.import_roster(engine, mentors, Role.MENTOR, now=created)
    roster.import_roster(engine, mentees, Role.MENTEE, now=created)
    store_match(engine, "2026", [(f"E{n:03d}", f"M{n:03d}") for n in range(1, pairs + 1)])
    settings = CohortSettings(
        name="Fall 2026",
        cycle="2026",
        start=start,
        weeks=weeks,
        timezone="America/New_York",
        send_day="mon",
        confirmation=confirmation,
        coordinator_email=coordinator,
        sender="Tandem <mentoring@uni.edu>",
    )
    create_cohort(engine, settings, now=created)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        return Program(engine, cohort.name, send_instants(cohort))


def outbox(engine: Engine, **where: object) -> list[OutboxMessage]:
    with Session(engine) as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.pk))
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list(session.exec(query).all())


def eml_headers(folder: Path) -> list[email.message.Message]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def day(instants: list[datetime], week: int, days: float = 0, hours: float = 0) -> datetime:
    return instants[week] + timedelta(days=days, hours=hours)


def run_due(engine: Engine, now: datetime, channel: DeliveryChannel, **options: Any) -> TickReport:
    """The tick as a deployment runs it: with the tests' link keys unless told otherwise."""
    from tandem.program import tick

    options.setdefault("link_keys", LINK_KEYS)
    return tick.run_due(engine, now, channel, **options)


def survey_form(survey: str, role: Role, rating: int = 5) -> dict[str, str]:
    """A complete, valid survey form for ``role``: every rating ``rating`` (one less before
    the program), yes to each yes/no item, a sentence for each written one."""
    from tandem.prompts.surveys import ItemKind, load_instrument

    form: dict[str, str] = {}
    for item in load_instrument(survey).items_for(role):
        if item.kind is ItemKind.RATING:
            low, high = item.min or 1, item.max or rating
            now = max(low, min(rating, high))
            form[item.id] = str(now)
            if item.retrospective:
                form[item.before_column] = str(max(low, now - 1))
        elif item.kind is ItemKind.YES_NO:
            form[item.id] = "yes"
        else:
            form[item.id] = "Agree on goals in writing at the first meeting."
    return form


SURVEY_LINK = re.compile(r"https?://\S+/survey/([A-Za-z0-9_-]{68})(?![A-Za-z0-9_-])")


def survey_tokens_in(row: OutboxMessage) -> list[str]:
    """The survey tokens in the plain text of one outbox message."""
    from tandem.program.outbox.store import unpack

    parsed = email.message_from_bytes(unpack(row.content), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    part = parsed.get_body(("plain",))
    assert part is not None
    return SURVEY_LINK.findall(str(part.get_content()))


def survey_tokens(engine: Engine, email_address: str, kind: str | None = None) -> list[str]:
    """The survey tokens in the messages to ``email_address`` (of one kind), oldest first."""
    rows = outbox(engine, recipient_email=email_address)
    return [t for row in rows if kind in (None, row.kind) for t in survey_tokens_in(row)]


def survey_export(path: Path, rows: list[dict[str, str]]) -> Path:
    """A survey tool's CSV export of ``rows`` (each: email, survey, answers by column)."""
    import csv

    columns = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
