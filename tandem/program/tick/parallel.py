"""Spreading a cohort's pairs over worker processes.

Each worker handles whole chunks of pairs exactly as a single process would, with its own
engine; with a file outbox it also writes the messages it enqueued, and with any other
channel the messages are delivered by the calling process afterwards (see ``run_due``).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from tandem.program.outbox.channels import FileOutbox
from tandem.program.tick.report import TickReport
from tandem.program.tick.settings import TickSettings

if TYPE_CHECKING:
    from tandem.program.link_keys import LinkKeyRing
    from tandem.program.tick.cohort import CohortTick

_worker: CohortTick | None = None
"""The cohort's state in a worker process, set up once by :func:`_init_worker`."""


def run_parallel(tick: CohortTick, workers: int) -> None:
    """Hand ranges of ``tick``'s pairs to ``workers`` processes; merge their reports."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    bounds = tick.bounds()
    if not bounds:
        return
    url = tick.engine.url.render_as_string(hide_password=False)
    channel = tick.channel if isinstance(tick.channel, FileOutbox) else None
    # A fresh copy of this process (fork) starts at once; a new interpreter (spawn)
    # imports everything again. Fork is safe only while no other thread runs here.
    forkable = "fork" in multiprocessing.get_all_start_methods()
    method = "fork" if forkable and threading.active_count() == 1 else "spawn"
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(bounds)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(
            url,
            tick.cohort.pk or 0,
            tick.now,
            channel,
            tick.claim,
            tick.settings,
            tick.link_keys,
        ),
    )
    try:
        ranges = [(low, high) for low, high, _ in bounds]
        step = tick.settings.task_chunks
        futures = [
            pool.submit(_work, ranges[start : start + step])
            for start in range(0, len(ranges), step)
        ]
        pairs = 0
        for future in as_completed(futures):
            done, report = future.result()
            tick.report.merge(report)
            pairs += done
            if tick.progress:
                tick.progress("pairs", pairs, bounds[-1][2])
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _init_worker(
    url: str,
    cohort_pk: int,
    now: datetime,
    channel: FileOutbox | None,
    claim: str,
    settings: TickSettings,
    link_keys: LinkKeyRing | None = None,
) -> None:
    """Set up a worker process of a tick: its own engine and the cohort's state."""
    from tandem.program.storage.db import create_db_engine
    from tandem.program.tick.cohort import CohortTick

    global _worker
    _worker = CohortTick(
        create_db_engine(url),
        cohort_pk,
        now,
        TickReport(),
        None,
        channel,
        claim=claim,
        settings=settings,
        link_keys=link_keys,
    )


def _work(ranges: list[tuple[int, int]]) -> tuple[int, TickReport]:
    """In a worker: do some chunks (pairs after ``low`` up to ``high``); their counts."""
    assert _worker is not None, "the worker was not initialised"
    _worker.report = TickReport()
    done = 0
    for low, high in ranges:
        pairs = _worker.pairs_between(low, high)
        _worker.chunk(pairs)
        done += len(pairs)
    _worker.settle()
    return done, _worker.report
