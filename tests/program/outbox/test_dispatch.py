"""Delivery from the outbox: claims with a lease, retries, giving up (settings passed in)."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.dispatch import DeliverySettings, claim_due, deliver_due
from tandem.program.outbox.smtp import SmtpChannel
from tandem.program.storage.enums import OutboxStatus
from tandem.program.tick import TickSettings
from tests.program.helpers import day, eml_headers, make_program, outbox, run_due


def unreachable_smtp() -> SmtpChannel:
    """A server that is down: a free port nobody listens on (a transient failure)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return SmtpChannel("127.0.0.1", port, security="none", timeout=5)


def test_a_claim_holds_for_its_lease_then_lapses(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    now = day(program.instants, 1, hours=1)
    run_due(engine, now, unreachable_smtp())  # enqueued; every delivery failed for now
    due = now + timedelta(hours=1)
    lease = DeliverySettings(lease=timedelta(minutes=3))
    first = claim_due(engine, due, "first", 100, lease)
    assert len(first) == len(outbox(engine)) > 0
    assert claim_due(engine, due + timedelta(minutes=2), "second", 100, lease) == []
    later = claim_due(engine, due + timedelta(minutes=4), "second", 100, lease)
    assert [i.pk for i in later] == [i.pk for i in first]
    assert {m.claim for m in outbox(engine)} == {"second"}


def test_transient_failures_are_retried_until_the_limit(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    now = day(program.instants, 1, hours=1)
    down = unreachable_smtp()
    # Every message is tried (no circuit breaker), to count each one's attempts.
    tireless = DeliverySettings(breaker_limit=100)
    first = run_due(engine, now, down, settings=TickSettings(delivery=tireless))
    count = len(outbox(engine))
    assert (first.delivered, first.retrying, first.failed) == (0, count, 0)
    short = DeliverySettings(retry_limit=timedelta(hours=12), breaker_limit=100)
    later = now + timedelta(days=1)
    patient = deliver_due(engine, later, down, settings=tireless)  # the default limit is a week
    assert (patient.retrying, patient.failed) == (count, 0)
    given_up = deliver_due(engine, later + timedelta(days=1), down, settings=short)
    assert (given_up.retrying, given_up.failed) == (0, count)
    failed = outbox(engine)
    assert {m.status for m in failed} == {OutboxStatus.FAILED}
    assert all((m.last_error or "").startswith("gave up after 3 attempts") for m in failed)


def test_delivery_marks_each_message_sent_once(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    now = day(program.instants, 1, hours=1)
    run_due(engine, now, unreachable_smtp())
    folder = FileOutbox(tmp_path / "outbox")
    report = deliver_due(engine, now + timedelta(hours=1), folder)
    assert report.delivered == len(outbox(engine))
    assert deliver_due(engine, now + timedelta(hours=2), folder).delivered == 0
    assert {m.status for m in outbox(engine)} == {"sent"}
    assert sorted(f["Message-ID"] for f in eml_headers(tmp_path / "outbox")) == sorted(
        m.message_id for m in outbox(engine)
    )


def test_a_message_retried_after_a_crash_is_recognised_by_its_file_name(
    engine: Engine, tmp_path: Path
) -> None:
    """The tick names what it writes at once exactly as a later delivery of the same rows
    does (every kind: introductions, topics, reminders, digests, the thank-you), so a
    tick that wrote its files and died before recording them sends nothing twice; and a
    file holds ids only, never a name or an address."""
    from sqlalchemy import update

    from tandem.program.storage.db import transaction
    from tandem.program.storage.tables import OutboxMessage

    program = make_program(engine, tmp_path, pairs=2)
    folder = tmp_path / "outbox"
    ticks = [day(program.instants, w, hours=1) for w in range(17)]
    ticks += [day(program.instants, 3, days=3, hours=1), day(program.instants, 16, days=8)]
    for now in sorted(ticks):
        run_due(engine, now, FileOutbox(folder))
    written = sorted(p.name for p in folder.glob("*.eml"))
    assert len(written) == len(outbox(engine))
    assert {m.kind for m in outbox(engine)} >= {
        "intro",
        "weekly",
        "reminder",
        "digest",
        "closing",
        "survey",
    }
    assert "2026-09-21_fall-2026_week-03_weekly_mentor-M001_" in "".join(written)
    assert not [n for n in written if "entor " in n or "@" in n or "uni" in n]
    # As if the tick had died after writing: every row pending again.
    with transaction(engine) as session:
        session.execute(update(OutboxMessage).values(status="pending", sent_at=None))
    after = day(program.instants, 16, days=9)
    again = deliver_due(engine, after, FileOutbox(folder))
    assert again.delivered == len(written)
    assert sorted(p.name for p in folder.glob("*.eml")) == written
    elsewhere = tmp_path / "elsewhere"
    with transaction(engine) as session:
        session.execute(update(OutboxMessage).values(status="pending", sent_at=None))
    deliver_due(engine, after, FileOutbox(elsewhere))
    assert sorted(p.name for p in elsewhere.glob("*.eml")) == written


def test_message_files_are_readable_by_their_owner_only(engine: Engine, tmp_path: Path) -> None:
    """A message holds names, addresses and personal links: mode 0600, as the database."""
    program = make_program(engine, tmp_path, pairs=1)
    folder = tmp_path / "outbox"
    run_due(engine, day(program.instants, 1, hours=1), FileOutbox(folder))
    modes = {path.stat().st_mode & 0o777 for path in folder.glob("*.eml")}
    assert modes == {0o600}
