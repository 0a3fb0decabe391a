"""Delivering what a tick just enqueued, straight from memory.

The rows are committed first (the outbox pattern) and claimed by the tick when inserted,
so no other process can deliver them; a row another process inserted first was not
inserted by this tick and is not its to deliver.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from sqlalchemy import Engine

from tandem.program.outbox.channels import DeliveryChannel, FileOutbox
from tandem.program.outbox.dispatch import (
    DeliveryCounts,
    DeliveryItem,
    Outcome,
    deliver_items,
    record_outcomes,
    write_fresh,
)
from tandem.program.tick.settings import TickSettings


class FreshDelivery:
    """The messages one tick (or one worker of it) enqueued and has yet to deliver."""

    def __init__(
        self,
        engine: Engine,
        channel: DeliveryChannel | None,
        now: datetime,
        claim: str,
        settings: TickSettings,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.now = now
        self.claim = claim
        self.settings = settings
        self._fresh: list[DeliveryItem] = []
        self._unsynced: list[tuple[DeliveryItem, Outcome]] = []
        self._settling: threading.Thread | None = None
        self._settle_error: BaseException | None = None

    def add(self, item: DeliveryItem) -> None:
        """Remember a message this tick inserted (and claimed) for delivery."""
        self._fresh.append(item)

    def deliver(self, report: DeliveryCounts) -> bool:
        """Hand the messages added since the last call to the channel; True if there were.

        With a file outbox the files are written at once and recorded as sent once they
        are on disk (see :meth:`settle`); with any other channel each is delivered and
        recorded as :func:`~tandem.program.outbox.dispatch.deliver_items` does.
        """
        fresh, self._fresh = self._fresh, []
        if self.channel is None or not fresh:
            return False
        if isinstance(self.channel, FileOutbox):
            self._write_files(self.channel, fresh, report)
        else:
            deliver_items(
                self.engine,
                self.channel,
                fresh,
                self.now,
                report,
                self.claim,
                self.settings.delivery,
            )
        return True

    def settle(self, report: DeliveryCounts) -> None:
        """Wait until the messages written so far are on disk and recorded."""
        if self._unsynced and isinstance(self.channel, FileOutbox):
            self._record_in_background(self.channel, report)
        self._join_settling()

    def _write_files(
        self, outbox: FileOutbox, items: list[DeliveryItem], report: DeliveryCounts
    ) -> None:
        """Write a chunk's messages to the file outbox; record them once they are on disk.

        Making the files durable (one ``sync`` for up to ``settings.sync_every`` messages)
        and recording them as sent happen in a background thread while the tick goes on
        building messages; :meth:`settle` waits for it. A message is still marked sent
        only after its file is on disk.
        """
        with outbox.batch(sync=False):
            # These rows were inserted by this tick: no earlier delivery of them exists, and
            # a file of the same name is from another database's run (replaced).
            self._unsynced += [
                (dataclasses.replace(item, data=b""), write_fresh(outbox, item)) for item in items
            ]
        if len(self._unsynced) >= self.settings.sync_every:
            self._record_in_background(outbox, report)

    def _record_in_background(self, outbox: FileOutbox, report: DeliveryCounts) -> None:
        self._join_settling()
        outcomes, self._unsynced = self._unsynced, []
        self._settling = threading.Thread(
            target=self._record_durable, args=(outbox, outcomes, report), daemon=True
        )
        self._settling.start()

    def _record_durable(
        self,
        outbox: FileOutbox,
        outcomes: list[tuple[DeliveryItem, Outcome]],
        report: DeliveryCounts,
    ) -> None:
        try:
            outbox.sync()
            record_outcomes(self.engine, outcomes, self.now, report, self.settings.delivery)
        except BaseException as error:  # handed to the tick's thread by settle()
            self._settle_error = error

    def _join_settling(self) -> None:
        if self._settling is not None:
            self._settling.join()
            self._settling = None
        if self._settle_error is not None:
            error, self._settle_error = self._settle_error, None
            raise error
