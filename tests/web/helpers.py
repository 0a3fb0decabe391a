"""A program with links, and a test client on the web app at a fixed instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.link_keys import link_secrets
from tandem.program.storage.tables import Cohort, Pair
from tandem.program.tokens import LinkSecrets, make_token
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
