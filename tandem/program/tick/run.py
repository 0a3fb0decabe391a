"""``run_due``: everything that is due at ``now``, for every running cohort."""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from tandem.program.link_keys import LinkKeyRing, require_link_keys
from tandem.program.outbox.channels import DeliveryChannel, guarded
from tandem.program.outbox.dispatch import deliver_due
from tandem.program.storage.tables import Cohort, Pair
from tandem.program.tick.cohort import CohortTick
from tandem.program.tick.report import Progress, TickReport
from tandem.program.tick.settings import DEFAULT_SETTINGS, TickSettings


def run_due(
    engine: Engine,
    now: datetime,
    channel: DeliveryChannel,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    settings: TickSettings = DEFAULT_SETTINGS,
    link_keys: LinkKeyRing | None = None,
) -> TickReport:
    """Do all the work due at ``now`` once (see :mod:`tandem.program.tick`).

    ``workers`` is how many processes share a cohort's pairs (rendering and building
    messages is CPU work): ``None`` picks one per available core for cohorts of at least
    ``settings.parallel_pairs`` pairs on a database that other processes can open, and one
    process otherwise. Each worker handles whole chunks of pairs exactly as a single
    process would; with a file outbox it also writes the messages it enqueued, and with
    any other channel the messages are delivered by this process afterwards. The outcome
    is the same with any number of workers (the database decides what is sent). A server
    that fails to connect or answer several times in a row is not tried again in this tick
    (``report.stopped`` says so); what it did not take stays pending for the next. Workers
    are forked while the calling process runs a single thread and started afresh
    (``spawn``) otherwise; as with any use of :mod:`multiprocessing`, a script that calls
    this with more than one worker guards its entry point with
    ``if __name__ == "__main__":``.

    ``link_keys`` sign the participants' links (see :mod:`tandem.program.link_keys`);
    a cohort made by an earlier version signs with the secret it kept, if there are none.

    Raises:
        LinkKeyError: a running cohort has no way to sign its links (checked first).
        DeliveryConfigError: the channel is misconfigured.
    """
    report = TickReport()
    # One breaker for the whole tick: a server that keeps timing out is given up on once.
    channel = guarded(channel, settings.delivery.breaker_limit)
    # Running cohorts, and closed ones that may still have survey messages due.
    ticked = col(Cohort.completed_at).is_(None) | (
        col(Cohort.completed_at) > now - settings.survey_horizon
    )
    with Session(engine) as session:
        cohorts = session.exec(
            select(Cohort.pk, func.count(col(Pair.pk)))
            .join(Pair, col(Pair.cohort_pk) == col(Cohort.pk), isouter=True)
            .where(ticked)
            .group_by(col(Cohort.pk))
            .order_by(col(Cohort.pk))
        ).all()
        running = session.exec(select(Cohort).where(ticked)).all()
        require_link_keys(list(running), link_keys)
    for cohort_pk, pairs in cohorts:
        assert cohort_pk is not None
        count = default_workers(engine, pairs, settings) if workers is None else workers
        tick = CohortTick(
            engine,
            cohort_pk,
            now,
            report,
            progress,
            channel,
            settings=settings,
            link_keys=link_keys,
        )
        tick.run(count)
    deliver_due(engine, now, channel, report=report, progress=progress, settings=settings.delivery)
    return report


def default_workers(engine: Engine, pairs: int, settings: TickSettings = DEFAULT_SETTINGS) -> int:
    """How many processes a tick uses for a cohort of ``pairs`` pairs by default."""
    if pairs < settings.parallel_pairs or not _reopenable(engine):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def _reopenable(engine: Engine) -> bool:
    """Whether another process can open the same database (not an in-memory SQLite)."""
    database = engine.url.database
    return engine.dialect.name != "sqlite" or bool(database and database != ":memory:")
