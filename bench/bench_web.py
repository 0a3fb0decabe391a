"""Benchmark: many participants submitting their check-ins at once to one `tandem serve`.

    python -m bench.bench_web [PARTICIPANTS]        (default: 200)

Runs twice: one server process, then `--workers 2` (two processes on one database).
Sets up a cohort of PARTICIPANTS / 2 active pairs on SQLite (not timed), starts one
`tandem serve` process, then every participant at the same moment opens their week-1
check-in link (GET) and sends the form (POST), each in its own thread with its own
connection. Prints the latency of both requests (p50, p99, max), the errors (any answer
other than 200 to the GET or 303 to the POST) and the lost submissions (a 303 whose
check-in is not in the database afterwards, or not with the values sent).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.bench_dispatch import setup
from bench.host import machine, speed_line

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tokens(url: str) -> list[tuple[int, str, str]]:
    """(pair, role, token) for every participant's week-1 link."""
    from sqlmodel import Session, col, select

    from tandem.program.storage.db import open_database
    from tandem.program.storage.tables import Cohort, Pair
    from tandem.program.tokens import make_token

    engine = open_database(url)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pairs = session.exec(select(Pair.pk).order_by(col(Pair.pk))).all()
    engine.dispose()
    expires = datetime.now(UTC) + timedelta(days=1)
    secret = bytes.fromhex(cohort.secret)
    return [
        (pk or 0, role, make_token(secret, pair_id=pk or 0, week=1, role=role, expires=expires))
        for pk in pairs
        for role in ("mentor", "mentee")
    ]


def _participant(
    port: int,
    token: str,
    minutes: int,
    start: threading.Barrier,
    out: dict[str, Any],
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        start.wait()
        began = time.perf_counter()
        connection.request("GET", f"/checkin/{token}")
        page = connection.getresponse()
        body = page.read().decode("utf-8")
        out["get"] = time.perf_counter() - began
        out["get_status"] = page.status
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
        if page.status != 200 or found is None:
            return
        form = urlencode({"csrf": found.group(1), "met": "yes", "minutes": str(minutes)})
        began = time.perf_counter()
        connection.request(
            "POST",
            f"/checkin/{token}",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = connection.getresponse()
        answer.read()
        out["post"] = time.perf_counter() - began
        out["post_status"] = answer.status
    except OSError as error:
        out["error"] = repr(error)
    finally:
        connection.close()


def _quantiles(values: list[float]) -> str:
    if not values:
        return "no data"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def run(participants: int, workers: int = 1) -> None:
    from sqlmodel import Session, select

    from tandem.program.storage.db import open_database
    from tandem.program.storage.tables import CheckIn

    with tempfile.TemporaryDirectory() as scratch:
        url = setup(Path(scratch), participants // 2)
        links = _tokens(url)
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tandem.cli",
                "--db",
                url,
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("tandem serve did not start") from None
                    time.sleep(0.2)
            start = threading.Barrier(len(links))
            results: list[dict[str, Any]] = [{} for _ in links]
            threads = [
                threading.Thread(
                    target=_participant, args=(port, token, 10 + n % 50, start, results[n])
                )
                for n, (_, _, token) in enumerate(links)
            ]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.communicate(timeout=30)
        engine = open_database(url)
        with Session(engine) as session:
            stored = {(c.pair_pk, c.role): c.minutes for c in session.exec(select(CheckIn)).all()}
        engine.dispose()
    errors = [
        r
        for r in results
        if r.get("get_status") != 200 or r.get("post_status") != 303 or "error" in r
    ]
    accepted = [
        (pair, role, 10 + n % 50)
        for n, ((pair, role, _), r) in enumerate(zip(links, results, strict=True))
        if r.get("post_status") == 303
    ]
    lost = [a for a in accepted if stored.get((a[0], a[1])) != a[2]]
    print(
        f"{len(links)} participants at once against one `tandem serve --workers {workers}` "
        f"on SQLite ({machine()})"
    )
    print(f"  GET  /checkin/TOKEN: {_quantiles([float(r['get']) for r in results if 'get' in r])}")
    print(
        f"  POST /checkin/TOKEN: {_quantiles([float(r['post']) for r in results if 'post' in r])}"
    )
    print(f"  all done in {wall:.1f} s; errors: {len(errors)}; lost submissions: {len(lost)}")
    if errors:
        print(f"  first error: {errors[0]}")


if __name__ == "__main__":
    print(speed_line("before"))
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    run(count, workers=1)
    run(count, workers=2)
    print(speed_line("after"))
