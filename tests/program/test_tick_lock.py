"""Several schedulers on one database: one ticks at a time, and a survivor takes over.

Real processes, a real SMTP server (aiosmtpd) and the storage backend under test, so CI's
PostgreSQL pass runs the three-scheduler test against PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from tandem.program.outbox.dispatch import DEFAULT_DELIVERY
from tandem.program.tick_lock import tick_lock
from tests.program.helpers import LINK_KEYS, link_key_file, make_program, run_due
from tests.program.outbox.test_dispatch_smtp import ROOT, Inbox, channel, expected_ids, free_port

pytestmark = pytest.mark.slow

HOLD = """
import sys, time
from tandem.program.storage.db import open_database
from tandem.program.tick_lock import tick_lock
with tick_lock(open_database(sys.argv[1])) as held:
    print("held" if held else "refused", flush=True)
    time.sleep(600)
"""


def test_the_tick_lock_is_exclusive_and_freed_when_its_holder_dies(
    engine: Engine, db_url: str
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with tick_lock(engine) as held:
            assert held is False
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10  # the server notices the closed connection
        while True:
            with tick_lock(engine) as held:
                if held or time.monotonic() > deadline:
                    break
            time.sleep(0.1)
        assert held is True
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


class Scheduler:
    """A `tandem scheduler run` process whose log lines are collected as they come."""

    def __init__(
        self, db_url: str, port: int, every_minutes: float, on_start: object, keys: Path
    ) -> None:
        env = {
            **os.environ,
            "TANDEM_DB": db_url,
            "TANDEM_DELIVERY": f"smtp://127.0.0.1:{port}?security=none",
            "TANDEM_KEYS": str(keys),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tandem.cli", "scheduler", "run", "--every", str(every_minutes)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self.on_start = on_start
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line))
            if "tick: started" in line and callable(self.on_start):
                self.on_start(self.process.pid)

    def ticks_after(self, instant: float) -> int:
        return sum(1 for at, line in self.lines if at > instant and "tick: started" in line)

    def tick_spans(self) -> list[tuple[str, str]]:
        """(start, end) of each tick by the log's own clock; an unfinished tick ends at "~"."""
        spans: list[tuple[str, str]] = []
        for _, line in self.lines:
            stamp = line[:23]
            if "tick: started" in line:
                spans.append((stamp, "~"))
            elif "tick: delivered" in line and spans and spans[-1][1] == "~":
                spans[-1] = (spans[-1][0], stamp)
        return spans

    @property
    def log(self) -> str:
        return "".join(line for _, line in self.lines)


def test_three_schedulers_one_ticks_and_a_survivor_takes_over_when_it_is_killed(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    today = datetime.now(UTC)
    monday = (today - timedelta(days=today.weekday())).date()
    make_program(engine, tmp_path, pairs=10, start=monday, created=today - timedelta(days=30))
    inbox, port = Inbox(), free_port()
    inbox.delay = 0.05  # a dispatch that takes long enough to be killed in the middle
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    every = 0.05  # minutes: a tick every 3 s
    first_leader: list[int] = []

    def started(pid: int) -> None:
        if not first_leader:
            first_leader.append(pid)
            # The SMTP server kills the ticking process as its 6th message arrives.
            inbox.kill_pid, inbox.kill_at = pid, 5

    keys = link_key_file(tmp_path)
    schedulers = [Scheduler(db_url, port, every, started, keys) for _ in range(3)]
    try:
        deadline = time.monotonic() + 90
        while inbox.kill_pid is not None or not first_leader:
            assert time.monotonic() < deadline, "\n---\n".join(s.log for s in schedulers)
            time.sleep(0.05)
        killed_at = time.monotonic()
        leader = next(s for s in schedulers if s.process.pid == first_leader[0])
        assert leader.process.wait(timeout=30) == -signal.SIGKILL
        survivors = [s for s in schedulers if s is not leader]
        # A survivor ticks within two tick intervals (plus start-up slack for a busy machine).
        while not any(s.ticks_after(killed_at) for s in survivors):
            assert time.monotonic() < killed_at + 2 * every * 60 + 20, "no survivor ticked"
            time.sleep(0.1)
        time.sleep(2 * every * 60)
        # What the dead process had claimed is released when its claim expires.
        finish = run_due(
            engine,
            datetime.now(UTC) + DEFAULT_DELIVERY.lease + timedelta(minutes=1),
            channel(port),
            link_keys=LINK_KEYS,
        )
        assert finish.failed == 0
        for survivor in survivors:
            survivor.process.send_signal(signal.SIGTERM)
        for survivor in survivors:
            assert survivor.process.wait(timeout=60) == 0, survivor.log
    finally:
        for scheduler in schedulers:
            if scheduler.process.poll() is None:
                scheduler.process.kill()
            scheduler.process.wait()
        controller.stop()
        for scheduler in schedulers:
            scheduler.reader.join(timeout=10)
            assert scheduler.process.stdout is not None
            scheduler.process.stdout.close()
    received = Counter(inbox.accepted)
    assert len(received) >= 6 and max(received.values()) == 1
    assert received == expected_ids(engine)
    for survivor in survivors:
        assert "Traceback" not in survivor.log, survivor.log
    # Never two ticks at once: every tick ends before another process's tick starts.
    # The killed leader's last tick ended with it.
    spans = sorted(
        (start, end, n)
        for n, s in enumerate(schedulers)
        for start, end in s.tick_spans()
        if not (s is leader and end == "~")
    )
    assert any(s.tick_spans() for s in survivors), "the survivors never ticked"
    for (_, end, n), (start, _, m) in itertools.pairwise(spans):
        assert n == m or end <= start, spans
