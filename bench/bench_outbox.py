"""Benchmark: one week's messages for many pairs written to the file outbox.

Builds each message with ``build_message`` (text + HTML; for every other pair an ``.ics``
invitation, made once per pair and attached to both of its messages), delivers it with
``FileOutbox``, and reports the time, the rate and the resident memory at checkpoints
(flat memory means nothing is kept per message).

    python -m bench.bench_outbox --count 100000            # durable (fsync), the default
    python -m bench.bench_outbox --count 100000 --no-fsync

The folder is a fresh temporary one, removed afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from tandem.program.calendar import Participant, meeting_invitation
from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.mail import build_message, calendar_attachment

NOW = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
TEXT = "Hello {name},\n\nthis week's topic is writing your first paper.\n" * 8
HTML = "<p>Hello {name},</p><p>this week's topic is <b>writing your first paper</b>.</p>" * 8
ORGANIZER = Participant(name="Tandem Mentoring", email="mentoring@example.org")


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def pair_messages(pair: int) -> list[EmailMessage]:
    """The week's two messages of one pair; every other pair has agreed a meeting slot."""
    attachments = []
    if pair % 2 == 0:
        ics = meeting_invitation(
            uid_key=f"pair-{pair}/week-3/meeting",
            sequence=0,
            summary="Tandem week 3",
            description="Discuss the week's topic.",
            start=NOW + timedelta(days=1, hours=7),
            duration=timedelta(minutes=45),
            tz="Europe/Berlin",
            organizer=ORGANIZER,
            attendees=[
                Participant(name=f"Mentor {pair}", email=f"mentor{pair}@example.org"),
                Participant(name=f"Mentee {pair}", email=f"mentee{pair}@example.org"),
            ],
            dtstamp=NOW,
        )
        attachments.append(calendar_attachment(ics))
    return [
        build_message(
            sender="Tandem Mentoring <mentoring@example.org>",
            recipient_name=f"{role.title()} {pair}",
            recipient_email=f"{role}{pair}@example.org",
            subject="Week 3: Writing your first paper",
            text=TEXT.format(name=f"{role.title()} {pair}"),
            html=HTML.format(name=f"{role.title()} {pair}"),
            message_key=f"cohort-1/pair-{pair}/week-3/weekly/{role}",
            domain="mentoring.example.org",
            date=NOW,
            attachments=attachments,
        )
        for role in ("mentor", "mentee")
    ]


def run(count: int, folder: Path, durable: bool) -> dict[str, object]:
    outbox = FileOutbox(folder, durable=durable)
    checkpoints = {count // 10, count // 2, count}
    memory: dict[int, float] = {}
    start = time.perf_counter()
    sent = 0
    with outbox.batch():
        for pair in range(count // 2):
            for message in pair_messages(pair):
                outbox.deliver(message)
                sent += 1
                if sent in checkpoints:
                    memory[sent] = round(rss_mib(), 1)
    elapsed = time.perf_counter() - start
    written = sum(1 for _ in folder.glob("*.eml"))
    return {
        "messages": sent,
        "files": written,
        "durable": durable,
        "seconds": round(elapsed, 2),
        "per_second": round(count / elapsed),
        "rss_mib_at": memory,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--no-fsync", action="store_true", help="skip fsync (not durable)")
    parser.add_argument("--keep", action="store_true", help="keep the outbox folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tandem-outbox-bench-"))
    try:
        result = run(args.count, folder, durable=not args.no_fsync)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
