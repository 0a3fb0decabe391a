"""Faults in delivery never block a cohort: a message that cannot be built or sent fails
alone, and a server that never answers is given up on for the rest of the tick."""

from __future__ import annotations

import socket
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
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from tandem.program.outbox.channels import FileOutbox, PermanentDeliveryError
from tandem.program.outbox.smtp import SmtpChannel
from tandem.program.reports import delivery_problems, render_digest
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import OutboxStatus
from tandem.program.storage.tables import Cohort, OutboxMessage, Participant
from tests.conftest import Tandem
from tests.program.helpers import (
    day,
    eml_headers,
    link_key_file,
    make_program,
    outbox,
    run_due,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An SMTP handler that records each accepted message's Message-ID."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(
            str(message_from_bytes(envelope.content, policy=default)["Message-ID"])
        )
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


def spoil(engine: Engine, external_id: str, **values: str) -> None:
    """Write a value straight into the participant table, as data stored before the
    roster import refused it would be."""
    with transaction(engine) as session:
        session.execute(
            update(Participant).where(Participant.external_id == external_id).values(**values)  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------- bad messages


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("name", "Mentee\r\nBcc: everyone@example.org"),
        ("email", "mentée2@uni.edu"),
        ("email", "mentee2@uni.edu\nBcc: x@y.org"),
    ],
)
def test_a_message_that_cannot_be_built_fails_alone(
    engine: Engine, db_url: str, tmp_path: Path, tandem: Tandem, column: str, value: str
) -> None:
    program = make_program(engine, tmp_path, pairs=3)
    spoil(engine, "E002", **{column: value})
    folder = tmp_path / "outbox"
    now = day(program.instants, 1, hours=1)
    report = run_due(engine, now, FileOutbox(folder))
    failed = outbox(engine, status=OutboxStatus.FAILED)
    # The mentee's introduction, week-1 topic and baseline survey invitation fail; every
    # other message goes out.
    assert report.failed == 3 == len(failed)
    assert {(m.kind, m.recipient_role) for m in failed} == {
        ("intro", "mentee"),
        ("weekly", "mentee"),
        ("survey", "mentee"),
    }
    assert all((m.last_error or "").startswith("not built: ") for m in failed)
    # The reason says which part is wrong, never the stored value (personal data).
    part = "name" if column == "name" else "address"
    assert {m.last_error for m in failed} <= {
        f"not built: the recipient's {part} contains a line break: use a single line",
        f"not built: the recipient's {part} is not an e-mail address (ASCII, one '@'): fix it "
        "in the roster or the settings",
    }
    sent = outbox(engine, status=OutboxStatus.SENT)
    assert report.delivered == len(sent) == 3 * 2 * 3 + 1 - 3
    assert len(eml_headers(folder)) == len(sent)
    # A second tick neither retries nor repeats anything, and exits cleanly.
    again = run_due(engine, now + timedelta(hours=1), FileOutbox(folder))
    assert (again.delivered, again.failed, sum(again.enqueued.values())) == (0, 0, 0)
    # The coordinator sees them: in `tandem cohort deliveries` and in next week's digest.
    problems = delivery_problems(engine, program.name)
    assert [(p["status"], p["kind"]) for p in problems] == [
        ("failed", "intro"),
        ("failed", "weekly"),
        ("failed", "survey"),
    ]
    listed = tandem("cohort", "deliveries", program.name, "--format", "json", db=db_url)
    assert listed.output.count("not built") == 3
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        _, text, _ = render_digest(
            session, cohort, 2, program.instants[1], day(program.instants, 2)
        )
    assert text.count("not built") == 3


def test_tandem_tick_with_a_bad_row_exits_0_and_sends_the_rest(
    engine: Engine, db_url: str, tmp_path: Path, tandem: Tandem
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    spoil(engine, "M001", name="Mentor\rOne")
    now = day(program.instants, 1, hours=1).strftime("%Y-%m-%dT%H:%M")
    keys = link_key_file(tmp_path)
    out = tmp_path / "out"
    result = tandem("tick", "--now", now, "--delivery", f"file:{out}", "--keys", keys, db=db_url)
    assert "failed: 3" in result.output  # introduction, topic and survey invitation
    assert len(list((tmp_path / "out").glob("*.eml"))) == 2 * 2 * 3 + 1 - 3


def spoil_cohort(engine: Engine, **values: str) -> None:
    """Write a cohort setting straight into the table, as one stored before `tandem cohort
    create` refused it would be."""
    with transaction(engine) as session:
        session.execute(update(Cohort).values(**values))


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"coordinator_email": "josé@exämple.org"}, "the coordinator's address (Reply-To) is"),
        ({"coordinator_name": "Alex\nBcc: x@y.org"}, "the coordinator's name (Reply-To) contains"),
        ({"sender": "Tandem ‹tändem@x.org>"}, "the sender"),
        ({"sender": "Tandem\nBcc: x <t@x.org>"}, "the sender (the cohort's --sender) contains"),
        ({"sender": "not an address"}, "the sender's address is not an"),
        ({"base_url": "javascript:alert(1)"}, "the cohort's base URL (--base-url) is not"),
    ],
)
def test_a_cohort_setting_no_message_can_carry_fails_its_messages_and_the_tick_goes_on(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    tandem: Tandem,
    values: dict[str, str],
    reason: str,
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    spoil_cohort(engine, **values)
    now = day(program.instants, 1, hours=1).strftime("%Y-%m-%dT%H:%M")
    keys = link_key_file(tmp_path)
    out = tmp_path / "out"
    result = tandem("tick", "--now", now, "--delivery", f"file:{out}", "--keys", keys, db=db_url)
    failed = outbox(engine, status=OutboxStatus.FAILED)
    assert failed and f"failed: {len(failed)}" in result.output
    for message in failed:
        # (The digest goes to the coordinator: the recipient is the coordinator.)
        to_coordinator = message.kind == "digest" and "coordinator" in next(iter(values))
        said = "the recipient's" if to_coordinator else reason
        assert (message.last_error or "").startswith(f"not built: {said}")
        for value in values.values():  # the stored value is never quoted
            assert value not in (message.last_error or "")
            assert value.split("@")[0] not in (message.last_error or "")
    # Only the coordinator's digest, which holds no link, can go out with a bad base URL.
    sent = outbox(engine, status=OutboxStatus.SENT)
    assert [m.kind for m in sent] == (["digest"] if "base_url" in values else [])
    assert len(list(out.glob("*.eml"))) == len(sent)


def test_an_address_smtplib_refuses_fails_that_message_and_the_next_goes_out(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    channel = SmtpChannel("127.0.0.1", port, security="none", timeout=5)
    data = b"Message-ID: <a@x>\r\nSubject: hi\r\n\r\nhello\r\n"
    with channel.batch():
        with pytest.raises(PermanentDeliveryError, match="not plain ASCII on one line"):
            channel.send_raw("<a@x>", data, "t@uni.edu", "mentée@uni.edu")
        with pytest.raises(PermanentDeliveryError, match="not plain ASCII on one line"):
            channel.send_raw("<a@x>", data, "t@uni.edu", "a@uni.edu\r\nRCPT TO:<b@uni.edu>")
        channel.send_raw("<b@x>", data.replace(b"<a@x>", b"<b@x>"), "t@uni.edu", "ok@uni.edu")
    assert inbox.accepted == ["<b@x>"]


class Refusing(Inbox):
    """A server that refuses every recipient, quoting the address as real servers do."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def test_a_refusal_quoting_the_address_is_stored_without_it() -> None:
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = SmtpChannel("127.0.0.1", port, security="none", timeout=5)
        data = b"Message-ID: <a@x>\r\nSubject: hi\r\n\r\nhello\r\n"
        with pytest.raises(PermanentDeliveryError) as refused:
            channel.send_raw("<a@x>", data, "t@uni.edu", "Ada.Byron@uni.edu")
    finally:
        controller.stop()
    assert "ada.byron" not in str(refused.value).lower()
    assert "550 5.1.1 <<the recipient>>: Recipient address rejected" in str(refused.value)


# --------------------------------------------------------------------------- silent server


class SilentServer:
    """A server socket that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.connections: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        for connection in self.connections:
            connection.close()
        self.sock.close()


def test_a_server_that_never_answers_is_given_up_on_until_the_next_tick(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=6)
    now = day(program.instants, 1, hours=1)
    silent = SilentServer()
    try:
        started = time.monotonic()
        report = run_due(
            engine,
            now,
            SmtpChannel("127.0.0.1", silent.port, security="none", timeout=0.3),
        )
        elapsed = time.monotonic() - started
        tries = len(silent.connections)
    finally:
        silent.close()
    messages = outbox(engine)
    assert len(messages) == 6 * 2 * 3 + 1  # introductions, topics, survey invitations, digest
    # Three time-outs in a row, then no more connections: not one per message.
    assert tries == 3 and elapsed < 5
    assert (report.delivered, report.failed, report.retrying) == (0, 0, 3)
    assert (
        report.stopped is not None
        and "3 failed connections or time-outs in a row" in report.stopped
    )
    assert any(line.startswith("delivery stopped: 3 failed connections") for line in report.lines())
    assert {m.status for m in messages} == {OutboxStatus.PENDING}
    assert sum(m.attempts for m in messages) == 3
    assert all(m.claim is None for m in messages)
    # The next tick, against a server that works, delivers everything exactly once.
    inbox, port = Inbox(), silent.port
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        later = run_due(
            engine,
            now + timedelta(minutes=10),
            SmtpChannel("127.0.0.1", port, security="none", timeout=5),
        )
    finally:
        controller.stop()
    assert later.stopped is None and later.delivered == len(messages)
    assert Counter(inbox.accepted) == Counter(m.message_id for m in outbox(engine))
    assert {m.status for m in outbox(engine)} == {OutboxStatus.SENT}


def test_one_message_refused_does_not_trip_the_breaker(engine: Engine, tmp_path: Path) -> None:
    class Refusing(Inbox):
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address.startswith("mentee"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    program = make_program(engine, tmp_path, pairs=3)
    inbox, port = Refusing(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = SmtpChannel("127.0.0.1", port, security="none", timeout=5)
        report = run_due(engine, day(program.instants, 1, hours=1), channel)
    finally:
        controller.stop()
    assert report.stopped is None
    assert (report.delivered, report.failed) == (3 * 3 + 1, 3 * 3)
    with Session(engine) as session:
        assert (
            session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).all() == []
        )
