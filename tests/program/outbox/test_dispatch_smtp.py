"""Exactly-once dispatch checked at a real local SMTP server (aiosmtpd), by Message-ID.

These run on the storage backend under test, so CI's PostgreSQL pass runs them there too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from tandem.program.outbox.dispatch import DEFAULT_DELIVERY
from tandem.program.outbox.smtp import SmtpChannel
from tests.program.helpers import day, make_program, outbox, run_due

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An SMTP handler that records each accepted message's Message-ID."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.lock = threading.Lock()
        self.kill_pid: int | None = None
        self.kill_at: int | None = None
        self.delay = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            if self.kill_pid is not None and len(self.accepted) == self.kill_at:
                # The sender dies after sending DATA but before hearing "250": the message
                # was never accepted, exactly as a crash mid-dispatch looks to a server.
                os.kill(self.kill_pid, signal.SIGKILL)
                self.kill_pid = None
                return "451 sender vanished"
            self.accepted.append(str(message["Message-ID"]))
        if self.delay:
            time.sleep(self.delay)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def channel(port: int) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", port, security="none", timeout=10)


TICK = """
import sys, time
from datetime import datetime
from pathlib import Path
from tandem.program.storage.db import open_database
from tandem.program.outbox.smtp import SmtpChannel
from tests.program.helpers import run_due
db_url, port, now, barrier = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
engine = open_database(db_url)
while not barrier.exists():
    time.sleep(0.005)
run_due(engine, datetime.fromisoformat(now), SmtpChannel("127.0.0.1", port, security="none", timeout=10))
"""


def tick_process(db_url: str, port: int, now: str, barrier: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", TICK, db_url, str(port), now, str(barrier)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def expected_ids(engine: Engine) -> Counter[str]:
    return Counter(m.message_id for m in outbox(engine))


@pytest.mark.slow
def test_two_ticks_in_two_processes_at_once_send_nothing_twice(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    program = make_program(engine, tmp_path, pairs=12)
    now = day(program.instants, 1, hours=1).isoformat()
    barrier = tmp_path / "go"
    processes = [tick_process(db_url, port, now, barrier) for _ in range(2)]
    time.sleep(1.0)
    barrier.touch()
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    received = Counter(inbox.accepted)
    assert max(received.values()) == 1
    assert received == expected_ids(engine)
    # intros, week-1 topics and baseline survey invitations for 24 people, a digest
    assert len(received) == 12 * 2 * 3 + 1


@pytest.mark.slow
def test_sigkill_mid_dispatch_then_a_new_tick_loses_and_duplicates_nothing(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    program = make_program(engine, tmp_path, pairs=10)
    now = day(program.instants, 1, hours=1)
    barrier = tmp_path / "go"
    barrier.touch()
    process = tick_process(db_url, port, now.isoformat(), barrier)
    inbox.kill_pid, inbox.kill_at = process.pid, 17
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    assert len(inbox.accepted) == 17
    # The dead process's claim expires; the next tick takes over what it left.
    report = run_due(
        engine,
        now + DEFAULT_DELIVERY.lease + timedelta(minutes=1),
        channel(port),
    )
    assert report.delivered == len(expected_ids(engine)) - 17
    received = Counter(inbox.accepted)
    assert max(received.values()) == 1
    assert received == expected_ids(engine)
    assert all(m.status == "sent" for m in outbox(engine))


def test_an_smtp_server_that_is_down_and_comes_back_gets_every_message(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=3)
    port = free_port()
    now = day(program.instants, 1, hours=1)
    down = run_due(engine, now, channel(port))
    # Three refused connections in a row: the tick stops trying; nothing failed for good.
    assert (down.delivered, down.retrying, down.failed) == (0, 3, 0) and down.stopped
    assert {m.status for m in outbox(engine)} == {"pending"}
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        too_soon = run_due(engine, now + timedelta(seconds=30), channel(port))
        assert too_soon.delivered == len(outbox(engine)) - 3  # the three wait for their retry
        back = run_due(engine, now + timedelta(minutes=2), channel(port))
    finally:
        controller.stop()
    assert back.delivered == 3
    assert Counter(inbox.accepted) == expected_ids(engine)


def test_a_permanent_rejection_is_marked_failed_and_reported(
    engine: Engine, tmp_path: Path
) -> None:
    class Rejecting(Inbox):
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address.startswith("mentee2@"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    program = make_program(engine, tmp_path, pairs=2)
    inbox, port = Rejecting(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        report = run_due(engine, day(program.instants, 1, hours=1), channel(port))
    finally:
        controller.stop()
    failed = outbox(engine, status="failed")
    assert report.failed == 3 and {m.recipient_email for m in failed} == {"mentee2@uni.edu"}
    from tandem.program.reports import delivery_problems

    problems = delivery_problems(engine, "Fall 2026")
    assert [p["recipient"] for p in problems] == ["mentee2@uni.edu"] * 3
    assert all("550" in str(p["error"]) for p in problems)
