"""Benchmark: one week's dispatch for N active pairs into the file outbox, on SQLite.

    python -m bench.bench_dispatch [PAIRS ...]      (default: 10000 100000)

Each size is set up in one process (roster, match run, cohort — not timed) and dispatched
in a fresh one: one `run_due` at the send instant of week 2, which renders, enqueues and
delivers one topic to every mentor and mentee (2 × PAIRS .eml files, synced to disk in
batches); the set-up records everyone's baseline survey response, so that the week's
first topic brings no survey invitation. From 4,000 pairs a tick spreads the pairs over worker processes, one per core
(``--workers``-like override: ``TANDEM_BENCH_WORKERS``). Prints wall time, CPU seconds
(the process and its workers), messages per second and the peak RSS of the dispatch
process and of its largest worker. Target: 100,000 pairs in ≤ 60 s on 2 cores, with
memory flat in the number of pairs.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.host import machine, speed_line


def setup(folder: Path, pairs: int, url: str | None = None) -> str:
    """A cohort of ``pairs`` active pairs in a new SQLite file in ``folder``, or on the
    (empty) database at ``url``; returns the database URL."""
    from sqlalchemy import insert, update
    from sqlmodel import select

    from tandem.program.cohorts import CohortSettings, create_cohort
    from tandem.program.storage.db import open_database, transaction
    from tandem.program.storage.tables import (
        Cohort,
        MatchPair,
        MatchRun,
        Pair,
        Participant,
        SurveyResponse,
    )

    url = url or f"sqlite:///{folder / 'bench.db'}"
    engine = open_database(url)
    now = datetime(2026, 8, 1, tzinfo=UTC)
    stages = ["graduate_student", "postdoc", "early_career_faculty"]
    with transaction(engine) as session:
        people = []
        for n in range(pairs):
            people.append(
                {
                    "role": "mentor",
                    "external_id": f"M{n:06d}",
                    "name": f"Mentor Number {n}",
                    "email": f"mentor{n}@bench.example.org",
                    "email_key": f"mentor{n}@bench.example.org",
                    "capacity": 1,
                    "career_stage": "senior_faculty",
                }
            )
            people.append(
                {
                    "role": "mentee",
                    "external_id": f"E{n:06d}",
                    "name": f"Mentee Number {n}",
                    "email": f"mentee{n}@bench.example.org",
                    "email_key": f"mentee{n}@bench.example.org",
                    "career_stage": stages[n % 3],
                }
            )
        defaults = {
            "research_areas": [],
            "research_interests": "",
            "topics": [],
            "languages": [],
            "meeting_modes": [],
            "excluded": [],
            "identity_consent": False,
            "identity": [],
            "identity_preferences": [],
            "custom": {},
            "created_at": now,
            "updated_at": now,
        }
        for start in range(0, len(people), 5000):
            session.execute(
                insert(Participant), [{**defaults, **p} for p in people[start : start + 5000]]
            )
        run = MatchRun(
            cycle="bench",
            created_at=now,
            tandem_version="bench",
            method="optimal",
            objective="total",
            config_toml="",
            mentees_total=pairs,
            matched=pairs,
            total_score=0.0,
        )
        session.add(run)
        session.flush()
        rows: list[dict[str, object]] = [
            {
                "run_pk": run.pk,
                "mentee_id": f"E{n:06d}",
                "mentor_id": f"M{n:06d}",
                "score": 50.0,
                "reasons": [],
            }
            for n in range(pairs)
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(MatchPair), rows[start : start + 5000])
    settings = CohortSettings(
        name="Bench",
        cycle="bench",
        start=date(2026, 9, 6),
        timezone="UTC",
        send_day="mon",
        sender="Tandem <mentoring@bench.example.org>",
    )
    create_cohort(engine, settings, now=now)
    with transaction(engine) as session:
        session.execute(update(Pair).values(state="active", activated_at=now))
        # Everyone answered the baseline survey already: week 2's topic is the first these
        # pairs get, which would otherwise bring the baseline's invitation too, and the
        # benchmark measures one week's topics (the check for it is still made).
        cohort_pk = session.exec(select(Cohort.pk)).one()
        answered: list[dict[str, object]] = [
            {
                "cohort_pk": cohort_pk,
                "participant_pk": pk,
                "role": role,
                "survey": "baseline",
                "answers": {},
                "source": "import",
                "recorded_at": now,
            }
            for pk, role in session.exec(select(Participant.pk, Participant.role)).all()
        ]
        for start in range(0, len(answered), 5000):
            session.execute(insert(SurveyResponse), answered[start : start + 5000])
    engine.dispose()
    return url


def dispatch(url: str, outbox: Path, workers: int | None = None) -> dict[str, float]:
    from sqlmodel import Session, select

    from tandem.program.cohorts import send_instants
    from tandem.program.outbox.channels import FileOutbox
    from tandem.program.storage.db import open_database
    from tandem.program.storage.tables import Cohort, Pair
    from tandem.program.tick import run_due

    engine = open_database(url)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        instants = send_instants(cohort)
        pairs = len(session.exec(select(Pair.pk)).all())
    from tandem.program.tick import default_workers

    before = _cpu()
    started = time.perf_counter()
    from tandem.program.link_keys import LinkKeyRing, new_link_key

    key = new_link_key(instants[0])  # in a deployment, from the key file
    link_keys = LinkKeyRing(active_kid=key.kid, keys=(key,))
    report = run_due(
        engine,
        instants[2] + timedelta(hours=1),
        FileOutbox(outbox),
        workers=workers,
        link_keys=link_keys,
    )
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "cpu": _cpu() - before,
        "workers": workers or default_workers(engine, pairs),
        "delivered": report.delivered,
        "peak_mib": own,
        "worker_peak_mib": helpers,
    }


def _cpu() -> float:
    """CPU seconds of this process and its finished worker processes."""
    own, workers = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def child_setup(pairs: int, folder: str) -> None:
    """Set-up in its own process, so the dispatch process's memory is its own."""
    started = time.perf_counter()
    url = setup(Path(folder), pairs)
    print(json.dumps({"url": url, "setup_seconds": time.perf_counter() - started}))


def child_dispatch(url: str, folder: str) -> None:
    import os

    workers = int(os.environ.get("TANDEM_BENCH_WORKERS", "0")) or None
    result = dispatch(url, Path(folder) / "outbox", workers)
    files = sum(1 for _ in (Path(folder) / "outbox").glob("*.eml"))
    print(json.dumps({"files": files, **result}))


def settle_disk(limit: float = 180.0) -> None:
    """Flush, then wait (up to ``limit`` seconds) until the disk is idle: deleting the
    previous size's files and writing the set-up's database keep a virtual disk busy for
    a while, and a dispatch timed meanwhile measures that, not the engine. Uses Linux's
    pressure stall information where there is one."""
    import os

    os.sync()
    pressure = Path("/proc/pressure/io")
    if not pressure.exists():
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        some = pressure.read_text().splitlines()[0]  # "some avg10=0.00 avg60=… …"
        if float(some.split()[1].removeprefix("avg10=")) < 1.0:
            return
        time.sleep(5)


def _run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print(machine(), flush=True)
    print(speed_line("before"), flush=True)
    print(
        f"{'pairs':>8} {'messages':>9} {'workers':>8} {'dispatch s':>11} {'CPU s':>7} "
        f"{'msg/s':>8} {'peak RSS MiB':>13} {'worker MiB':>11} {'set-up s':>9}"
    )
    for pairs in sizes:
        with tempfile.TemporaryDirectory() as folder:
            prepared = _run(
                f"from bench.bench_dispatch import child_setup; child_setup({pairs}, {folder!r})"
            )
            settle_disk()
            r = _run(
                f"from bench.bench_dispatch import child_dispatch; child_dispatch({prepared['url']!r}, {folder!r})"
            )
            r["setup_seconds"] = prepared["setup_seconds"]
        delivered, seconds = int(str(r["delivered"])), float(str(r["seconds"]))
        assert r["files"] == delivered == 2 * pairs, r
        print(
            f"{pairs:>8} {delivered:>9} {r['workers']!s:>8} {seconds:>11.1f} "
            f"{float(str(r['cpu'])):>7.1f} {delivered / seconds:>8.0f} "
            f"{float(str(r['peak_mib'])):>13.0f} {float(str(r['worker_peak_mib'])):>11.0f} "
            f"{float(str(r['setup_seconds'])):>9.1f}"
        )
    print(speed_line("after"), flush=True)


if __name__ == "__main__":
    main()
