"""The unattended service: APScheduler 3.x as a clock that calls :func:`run_due`.

The scheduler holds no program state. Its one job, added at every start, calls
``run_due(now)``; everything that matters (what was sent, what is due) is in Tandem's
tables, so a second scheduler, a cron ``tandem tick`` or a manual tick can never send a
message twice. Each process keeps its job in memory (APScheduler's job stores cannot be
shared between processes), so any number of schedulers may serve one database, on one host
or several: before each tick a scheduler takes the tick lock (:mod:`tick_lock`), and only
the holder ticks; when the holder dies, a survivor takes over at its next tick.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tandem.program.outbox.channels import channel_from_url
from tandem.program.storage.db import open_database, utcnow
from tandem.program.tick import run_due
from tandem.program.tick_lock import tick_lock

JOB_ID = "tandem-tick"
MISFIRE_GRACE_SECONDS = 15 * 60

logger = logging.getLogger(__name__)


def tick_job(db_url: str, delivery_url: str, keys_path: str | None = None) -> bool:
    """The scheduled job: tick if this process takes the tick lock; return whether it did.

    The link keys are read from ``keys_path`` at every tick, so a rotation is picked up.
    """
    from pathlib import Path

    from tandem.program.link_keys import read_link_keys

    engine = open_database(db_url)
    try:
        with tick_lock(engine) as held:
            if not held:
                logger.info("tick: skipped, another scheduler is ticking (pid %s)", os.getpid())
                return False
            logger.info("tick: started (pid %s holds the tick lock)", os.getpid())
            link_keys = read_link_keys(Path(keys_path)) if keys_path else None
            report = run_due(engine, utcnow(), channel_from_url(delivery_url), link_keys=link_keys)
            for line in report.lines():
                logger.info("tick: %s", line)
            return True
    finally:
        engine.dispose()


def build_scheduler(
    db_url: str, delivery_url: str, every_minutes: float = 5, keys_path: str | None = None
) -> BlockingScheduler:
    """A BlockingScheduler whose in-memory job ticks every ``every_minutes``."""
    scheduler = BlockingScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
        timezone="UTC",
    )
    scheduler.add_job(
        tick_job,
        trigger=IntervalTrigger(minutes=every_minutes, timezone="UTC"),
        args=[db_url, delivery_url, keys_path],
        id=JOB_ID,
        name="Tandem: do all due work",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        next_run_time=utcnow(),
    )
    return scheduler


def run_scheduler(
    db_url: str, delivery_url: str, every_minutes: float = 5, keys_path: str | None = None
) -> None:
    """Run until SIGTERM or SIGINT, then finish the running tick and stop."""
    open_database(db_url).dispose()  # schema up to date before the first job
    scheduler = build_scheduler(db_url, delivery_url, every_minutes, keys_path)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received signal %s: stopping after the running tick", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
