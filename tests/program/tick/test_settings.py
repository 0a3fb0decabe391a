"""The tick's settings are passed in, not module globals: each one changes what it says."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, select

from tandem.program.outbox.channels import FileOutbox
from tandem.program.pairs import PairState
from tandem.program.storage.tables import Cohort, Pair
from tandem.program.tick import DEFAULT_SETTINGS, TickSettings, default_workers
from tests.program.helpers import day, make_program, run_due


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match=r"TickSettings\.chunk must be at least 1"):
        TickSettings(chunk=0)
    assert TickSettings() == DEFAULT_SETTINGS
    with pytest.raises(AttributeError):
        DEFAULT_SETTINGS.chunk = 2  # type: ignore[misc]


def test_close_after_decides_when_a_program_closes(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None, weeks=None)
    channel = FileOutbox(tmp_path / "outbox")
    two_days_on = day(program.instants, len(program.instants) - 1, days=2)
    assert run_due(engine, two_days_on, channel).completed == 0  # the default: a week
    quick = TickSettings(close_after=timedelta(days=1))
    assert run_due(engine, two_days_on, channel, settings=quick).completed == 2
    with Session(engine) as session:
        assert session.exec(select(Cohort)).one().completed_at == two_days_on
        assert {p.state for p in session.exec(select(Pair)).all()} == {PairState.COMPLETED}


def test_small_chunks_send_what_one_chunk_would(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=5)
    reports = [
        run_due(
            engine,
            day(program.instants, 1, hours=1),
            FileOutbox(tmp_path / "outbox"),
            settings=TickSettings(chunk=2, sync_every=1),
        ),
        run_due(
            engine,
            day(program.instants, 1, hours=2),
            FileOutbox(tmp_path / "outbox"),
        ),
    ]
    assert reports[0].enqueued == {"intro": 10, "weekly": 10, "survey": 10, "digest": 1}
    assert reports[0].delivered == 31
    assert sum(reports[1].enqueued.values()) == reports[1].delivered == 0


def test_default_workers_follow_the_parallel_threshold(engine: Engine) -> None:
    assert default_workers(engine, 3999) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    expected = (
        max(1, min(cores or 1, 8)) if engine.dialect.name != "sqlite" or engine.url.database else 1
    )
    assert default_workers(engine, 10, TickSettings(parallel_pairs=5)) == expected
    assert default_workers(create_engine("sqlite://"), 10**6) == 1  # in memory: one process
