"""The outbox as a store: keys, complete rows, compression, insert-or-ignore."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.program.outbox.store import (
    insert_ignore,
    message_key,
    outbox_row,
    pack,
    unpack,
)
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind, OutboxStatus, RecipientRole
from tandem.program.storage.tables import Cohort, Pair
from tests.program.helpers import CREATED, make_program, outbox


def test_keys_name_the_cohort_pair_week_kind_and_recipient() -> None:
    assert message_key(3, 17, 2, MessageKind.WEEKLY, "mentee") == "c3/p17/w2/weekly/mentee"
    assert message_key(3, None, 2, MessageKind.DIGEST, RecipientRole.COORDINATOR) == (
        "c3/p0/w2/digest/coordinator"
    )


def test_packed_messages_unpack_and_rows_of_earlier_versions_still_read() -> None:
    data = b"Subject: hello\r\n\r\n" + b"the same line again\r\n" * 200
    assert unpack(pack(data)) == data
    assert len(pack(data)) < len(data) / 10
    assert unpack(zlib.compress(data)) == data  # rows written before Zstandard


def weekly_rows(engine: Engine, week: int) -> list[dict[str, object]]:
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pairs = session.exec(select(Pair)).all()
        due = CREATED + timedelta(weeks=week)
        return [
            outbox_row(
                cohort,
                pair.pk,
                week,
                MessageKind.WEEKLY,
                RecipientRole.MENTEE,
                (f"Mentee {pair.pk}", f"mentee{pair.pk}@uni.edu"),
                f"Week {week}",
                f"Topic of week {week}",
                f"<p>Topic of week {week}</p>",
                due,
                now=CREATED,
            )
            for pair in pairs
        ]


def test_a_row_holds_the_whole_message(engine: Engine, tmp_path: Path) -> None:
    make_program(engine, tmp_path, pairs=1)
    [row] = weekly_rows(engine, 1)
    assert row["key"] == f"c1/p{row['pair_pk']}/w1/weekly/mentee"
    assert row["status"] == OutboxStatus.PENDING == "pending"
    assert unpack(row["content"]) == row["data"]  # type: ignore[arg-type]
    message = message_from_bytes(row["data"], policy=default)
    assert message["Message-ID"] == row["message_id"]
    assert message["To"] == "Mentee 1 <mentee1@uni.edu>"


def test_inserting_again_skips_the_messages_that_exist(engine: Engine, tmp_path: Path) -> None:
    make_program(engine, tmp_path, pairs=3)
    first = weekly_rows(engine, 1)
    with transaction(engine) as session:
        inserted = insert_ignore(session, first[:2])
    assert [(key, kind) for _, key, kind in inserted] == [(r["key"], "weekly") for r in first[:2]]
    with transaction(engine) as session:
        again = insert_ignore(session, weekly_rows(engine, 1))
    assert [key for _, key, _ in again] == [first[2]["key"]]
    stored = outbox(engine)
    assert [m.key for m in stored] == [r["key"] for r in first]
    assert {(m.status, m.kind, m.recipient_role) for m in stored} == {
        ("pending", "weekly", "mentee")
    }
    assert {m.key: unpack(m.content) for m in stored} == {r["key"]: r["data"] for r in first}


def test_file_labels_name_day_cohort_week_kind_and_recipient_by_id_only() -> None:
    from datetime import UTC, datetime

    from tandem.program.outbox.store import file_label

    monday = datetime(2026, 9, 14, 13, 0, tzinfo=UTC)  # 09:00 in New York
    assert (
        file_label("Fall 2026", "America/New_York", monday, 5, "weekly", "mentor", "M003")
        == "2026-09-14_fall-2026_week-05_weekly_mentor-M003"
    )
    # The day is the cohort's: 01:00 UTC on Tuesday is still Monday in New York.
    late = datetime(2026, 9, 15, 1, 0, tzinfo=UTC)
    assert file_label("Fall 2026", "America/New_York", late, 5, "digest", "coordinator", None) == (
        "2026-09-14_fall-2026_week-05_digest_coordinator"
    )
    hostile = file_label(
        "../Ünï Cohort: 2026/../..", "UTC", monday, 0, "intro", "mentee", "../../etc/pass wd"
    )
    assert hostile == "2026-09-14_n-cohort-2026_week-00_intro_mentee-etc-pass-wd"
    # An id that is an e-mail address is personal data: a hash of it stands in for it.
    address = file_label("Fall 2026", "UTC", monday, 1, "weekly", "mentee", "ada@uni.edu")
    assert "ada" not in address and "uni" not in address
    assert address.startswith("2026-09-14_fall-2026_week-01_weekly_mentee-id-")
    long = file_label("F" * 300, "UTC", monday, 16, "certificate", "mentor", "M" * 128)
    assert long == f"2026-09-14_{'f' * 40}_week-16_certificate_mentor-{'M' * 40}"
    for label in (hostile, address, long):
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", label)
