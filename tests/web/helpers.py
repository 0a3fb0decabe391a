"""A program with links, and a test client on the web app at a fixed instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.link_keys import link_secrets
from tandem.program.storage.tables import Cohort, Pair, Participant
from tandem.program.tokens import LinkSecrets, make_survey_token, make_token
from tandem.web.app import create_app
from tandem.web.security import Limits
from tests.program.helpers import LINK_KEYS, Program, day, make_program


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Site:
    program: Program
    client: TestClient
    clock: Clock
    secret: LinkSecrets
    pairs: list[int]

    def token(self, pair: int, week: int, role: str, days: float = 7) -> str:
        return make_token(
            self.secret,
            pair_id=pair,
            week=week,
            role=role,
            expires=self.clock.now + timedelta(days=days),
        )

    def survey_token(self, email: str, survey: str, days: float = 42, **claims: Any) -> str:
        """A survey link's token for the participant with ``email`` (``claims`` override)."""
        with Session(self.program.engine) as session:
            person = session.exec(select(Participant).where(Participant.email == email)).one()
            cohort = session.exec(select(Cohort)).one()
        values: dict[str, Any] = {
            "cohort_pk": cohort.pk,
            "participant_pk": person.pk,
            "survey": survey,
            "role": person.role,
            "expires": self.clock.now + timedelta(days=days),
        }
        return make_survey_token(self.secret, **(values | claims))


def make_site(
    engine: Engine, tmp_path: Path, *, limits: Limits | None = None, pairs: int = 2
) -> Site:
    program = make_program(engine, tmp_path, pairs=pairs)
    clock = Clock(day(program.instants, 1, days=1))
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pks = [p for p in session.exec(select(Pair.pk).order_by(col(Pair.pk))).all() if p]
    app = create_app(engine=engine, clock=clock, limits=limits, link_keys=LINK_KEYS)
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    return Site(program, client, clock, link_secrets(LINK_KEYS, cohort), pks)


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
