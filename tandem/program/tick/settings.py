"""The tick's tuning: how much work goes into one transaction, one process, one sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tandem.program.outbox.dispatch import DEFAULT_DELIVERY, DeliverySettings


@dataclass(frozen=True)
class TickSettings:
    """How a tick divides its work, and the program's fixed periods.

    The defaults are what ``tandem tick`` and the scheduler use; tests pass smaller
    chunks to exercise several chunks and worker tasks with a few pairs.
    """

    chunk: int = 500
    """Pairs handled per transaction: memory stays flat in the number of pairs."""
    close_after: timedelta = timedelta(days=7)
    """A program closes this long after its final week's message."""
    checkin_days: int = 21
    """How long a weekly check-in link stays valid: the week itself and two more."""
    parallel_pairs: int = 4000
    """From this many pairs in a cohort, a tick spreads the cohort's pairs over processes."""
    sync_every: int = 1000
    """Messages written to a file outbox between two syncs (and sent-markings)."""
    task_chunks: int = 8
    """Chunks handed to a worker process at a time."""
    delivery: DeliverySettings = field(default=DEFAULT_DELIVERY)
    """Delivery's lease on claimed messages and its retry limit."""

    def __post_init__(self) -> None:
        for name in ("chunk", "checkin_days", "parallel_pairs", "sync_every", "task_chunks"):
            if getattr(self, name) < 1:
                raise ValueError(f"TickSettings.{name} must be at least 1")


DEFAULT_SETTINGS = TickSettings()
