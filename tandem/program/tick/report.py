"""What one tick did, counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tandem.program.outbox.dispatch import DeliveryCounts, Progress

__all__ = ["Progress", "TickReport"]


@dataclass
class TickReport(DeliveryCounts):
    """What one tick did, for people and for tests."""

    activated: int = 0
    freed: int = 0
    completed: int = 0
    flagged: int = 0
    enqueued: Counter[str] = field(default_factory=Counter)
    expired: int = 0

    def merge(self, other: TickReport) -> None:
        """Add the counts of ``other`` (a worker's part of the same tick) to these."""
        counts = ("activated", "freed", "completed", "flagged", "expired")
        for name in (*counts, "delivered", "retrying", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.enqueued.update(other.enqueued)
        self.stopped = self.stopped or other.stopped

    def lines(self) -> list[str]:
        queued = ", ".join(f"{n} {k}" for k, n in sorted(self.enqueued.items())) or "none"
        return [
            f"pairs: {self.activated} activated, {self.freed} freed (not confirmed), "
            f"{self.completed} completed, {self.flagged} newly at risk",
            f"messages queued: {queued}; {self.expired} expired past the grace period",
            f"delivered: {self.delivered}; retrying later: {self.retrying}; failed: {self.failed}",
            *([f"delivery stopped: {self.stopped}"] if self.stopped else []),
        ]
