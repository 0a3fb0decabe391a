"""The tick: everything that is due, done once, computed from the database.

:func:`run_due` is what ``tandem tick`` and the scheduler call. It reads the state of every
running cohort and does what the clock says is due: activate or free proposed pairs
(``lifecycle``), flag pairs at risk and remind people to check in (``reminders``), enqueue
introductions and weekly topics (``messages``) and coordinator digests, close finished
programs (``digest``), and deliver pending messages (:mod:`tandem.program.outbox.dispatch`).
Large cohorts are spread over worker processes (``parallel``). It remembers nothing
between calls, so a tick at the same instant does nothing new, a late tick catches up, and
ticks in several processes at once never send a message twice:

* every message is first a row whose ``key`` is unique on (pair, week, kind, recipient),
  inserted with "insert or ignore" (:mod:`tandem.program.outbox.store`);
* delivery claims rows with a lease (a conditional UPDATE), and a row is marked sent only
  after the channel accepted it;
* pair transitions are conditional UPDATEs (``… WHERE state = 'proposed'``), made by
  :func:`tandem.program.pairs.transition`.

How the work is divided (chunk sizes, workers, syncs) and the program's fixed periods are
a :class:`TickSettings`, passed in; the default is what the CLI and the scheduler use.
"""

from __future__ import annotations

from tandem.program.tick.report import Progress, TickReport
from tandem.program.tick.run import default_workers, run_due
from tandem.program.tick.settings import DEFAULT_SETTINGS, TickSettings

__all__ = [
    "DEFAULT_SETTINGS",
    "Progress",
    "TickReport",
    "TickSettings",
    "default_workers",
    "run_due",
]
