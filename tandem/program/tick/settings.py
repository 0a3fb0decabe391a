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
    survey_days: int = 42
    """How long a survey link stays valid, from the message that carries it."""
    survey_reminder_after: timedelta = timedelta(days=4)
    """Whoever has not answered a survey this long after the message that carried its link
    was sent gets one reminder (four days: neither with the check-in reminder nor with the
    next week's topic)."""
    followup_after: timedelta = timedelta(weeks=13)
    """The follow-up survey goes out this long (about three months) after the program closes."""
    survey_late: timedelta = timedelta(days=14)
    """A follow-up invitation or a survey reminder is still sent this long after its time; a
    tick that comes later (the service was stopped for weeks) leaves it out."""
    parallel_pairs: int = 4000
    """From this many pairs in a cohort, a tick spreads the cohort's pairs over processes."""
    sync_every: int = 1000
    """Messages written to a file outbox between two syncs (and sent-markings)."""
    task_chunks: int = 8
    """Chunks handed to a worker process at a time."""
    delivery: DeliverySettings = field(default=DEFAULT_DELIVERY)
    """Delivery's lease on claimed messages and its retry limit."""

    def __post_init__(self) -> None:
        for name in (
            "chunk",
            "checkin_days",
            "survey_days",
            "parallel_pairs",
            "sync_every",
            "task_chunks",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TickSettings.{name} must be at least 1")
        for name in ("survey_reminder_after", "followup_after", "survey_late"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"TickSettings.{name} must be longer than zero")

    @property
    def survey_horizon(self) -> timedelta:
        """How long after a program closed the tick still has survey work for it: the
        follow-up and its reminder, each with its lateness allowed."""
        return self.followup_after + self.survey_reminder_after + 2 * self.survey_late


DEFAULT_SETTINGS = TickSettings()
