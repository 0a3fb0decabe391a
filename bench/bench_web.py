"""Benchmark: participants checking in through one `tandem serve`.

    python -m bench.bench_web [PARTICIPANTS] [--db URL] [--window SECONDS] [--burst]

Sets up a cohort of PARTICIPANTS / 2 active pairs (default 200 participants) on a new
SQLite file, or on the empty PostgreSQL database at URL (not timed), starts one
`tandem serve` process, and lets every participant check in with their week-1 link, each
in its own thread with its own connection:

- by default as people do: participants arrive spread evenly over WINDOW seconds
  (default 10), open the check-in page (GET), take 10 to 20 seconds to fill it in (every
  field, the week's own questions included), send it (POST) and land on the page that says it was saved (GET after the redirect). With
  the default window all of them have the form open at once;
- with --burst, every participant opens the page and sends the form at the same instant
  (a stress test: it measures queueing).

Prints the latency of each kind of request (p50, p99, max), the errors (any answer other
than 200 to a GET or 303 to the POST) and the lost submissions (a 303 whose check-in is
not in the database afterwards, or not with the values sent). Runs with one server
process, then with `--workers 2`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def _key_file(folder: Path) -> Path:
    """A new key file (mode 0600) with one link-signing key, as `tandem keys init` makes."""
    from tandem.program.link_keys import rotate_link_keys

    path = folder / "tandem-keys.json"
    path.touch(mode=0o600)
    path.write_text("{}", encoding="utf-8")
    rotate_link_keys(path, now=datetime.now(UTC))
    return path


def _tokens(url: str, keys: Path) -> list[tuple[int, str, str]]:
    """(pair, role, token) for every participant's week-1 link."""
    from sqlmodel import Session, col, select

    from tandem.program.link_keys import link_secrets, load_link_keys
    from tandem.program.storage.db import open_database
    from tandem.program.storage.tables import Cohort, Pair
    from tandem.program.tokens import make_token

    engine = open_database(url)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pairs = session.exec(select(Pair.pk).order_by(col(Pair.pk))).all()
    engine.dispose()
    expires = datetime.now(UTC) + timedelta(days=1)
    secrets = link_secrets(load_link_keys(keys), cohort)
    return [
        (pk or 0, role, make_token(secrets, pair_id=pk or 0, week=1, role=role, expires=expires))
        for pk in pairs
        for role in ("mentor", "mentee")
    ]


@dataclass(frozen=True)
class Visit:
    """When a participant arrives (seconds after the start) and how long they take to fill
    in the form; both zero in a burst."""

    arrive: float
    think: float


def _visits(count: int, window: float, burst: bool) -> list[Visit]:
    if burst:
        return [Visit(0.0, 0.0) for _ in range(count)]
    rng = random.Random(20261206)  # the same arrivals and pauses on every run
    return [Visit(window * n / count, rng.uniform(10.0, 20.0)) for n in range(count)]


def _timed(port: int, method: str, path: str, body: str | None = None) -> tuple[int, str, float]:
    """One request on a new connection, as a browser makes after a pause longer than the
    server keeps an idle connection open: (status, body, seconds)."""
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode("utf-8")
    finally:
        connection.close()
    return answer.status, text, time.perf_counter() - began


def _filled_in(page: str, csrf: str, minutes: int) -> dict[str, str]:
    """Every field of a check-in form answered, as a participant who answers it all does:
    the standard fields, and the week's own questions (the last choice of each radio
    group, text for the others)."""
    form = {"csrf": csrf, "met": "yes", "minutes": str(minutes), "mode": "video"}
    form |= {"rating": "4", "note": "We planned the next month."}
    for name, value in re.findall(r'type="radio" name="(q_\w+)" value="([^"]*)"', page):
        form[name] = value
    for name in re.findall(r'<textarea id="(q_\w+)"', page):
        form[name] = "Talked it through."
    return form


def _participant(
    port: int,
    token: str,
    minutes: int,
    visit: Visit,
    start: threading.Barrier,
    out: dict[str, Any],
) -> None:
    try:
        start.wait()
        time.sleep(visit.arrive)
        out["get_status"], body, out["get"] = _timed(port, "GET", f"/checkin/{token}")
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
        if out["get_status"] != 200 or found is None:
            return
        time.sleep(visit.think)
        form = urlencode(_filled_in(body, found.group(1), minutes))
        out["post_status"], _, out["post"] = _timed(port, "POST", f"/checkin/{token}", form)
        if out["post_status"] == 303 and visit.think:  # a browser follows the redirect
            saved = f"/checkin/{token}?saved=1"
            out["saved_status"], _, out["saved"] = _timed(port, "GET", saved)
    except OSError as error:
        out["error"] = repr(error)


def _quantiles(values: list[float]) -> str:
    if not values:
        return "no data"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


@contextmanager
def _database(folder: Path, server_url: str | None, pairs: int) -> Iterator[str]:
    """A new database holding the bench cohort: a SQLite file in ``folder``, or a new
    database on the PostgreSQL server at ``server_url`` (dropped afterwards)."""
    if server_url is None:
        yield setup(folder, pairs)
        return
    from sqlalchemy import create_engine, make_url, text

    name = f"tandem_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        yield setup(folder, pairs, url)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _serve(url: str, port: int, workers: int, keys: Path) -> subprocess.Popen[bytes]:
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
            "--keys",
            str(keys),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                os.killpg(server.pid, signal.SIGTERM)
                raise SystemExit("tandem serve did not start") from None
            time.sleep(0.2)


def _cpu_seconds(group: int) -> float:
    """CPU time (user and system) used so far by the processes of process group ``group``."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _stored(url: str) -> dict[tuple[int, str], int | None]:
    from sqlmodel import Session, select

    from tandem.program.storage.db import open_database
    from tandem.program.storage.tables import CheckIn

    engine = open_database(url)
    with Session(engine) as session:
        stored = {(c.pair_pk, c.role): c.minutes for c in session.exec(select(CheckIn)).all()}
    engine.dispose()
    return stored


def run(
    participants: int,
    *,
    workers: int = 1,
    server_url: str | None = None,
    window: float = 10.0,
    burst: bool = False,
) -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        _database(Path(scratch), server_url, participants // 2) as url,
    ):
        keys = _key_file(Path(scratch))
        links = _tokens(url, keys)
        visits = _visits(len(links), window, burst)
        port = _free_port()
        server = _serve(url, port, workers, keys)
        try:
            for _ in range(2 * workers):  # a server that has been up a while: caches warm
                _timed(port, "GET", "/")
                _timed(port, "GET", f"/checkin/{links[0][2]}")
            start = threading.Barrier(len(links))
            results: list[dict[str, Any]] = [{} for _ in links]
            threads = [
                threading.Thread(
                    target=_participant,
                    args=(port, token, 10 + n % 50, visits[n], start, results[n]),
                )
                for n, (_, _, token) in enumerate(links)
            ]
            cpu = _cpu_seconds(server.pid)
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            cpu = _cpu_seconds(server.pid) - cpu
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.communicate(timeout=30)
        stored = _stored(url)
    requests = sum(key in r for r in results for key in ("get", "post", "saved"))
    _report(links, results, stored, wall, workers, server_url, window, burst)
    print(
        f"  server CPU: {cpu:.1f} s for {requests} requests ({cpu / requests * 1000:.1f} ms each)"
    )


def _report(
    links: list[tuple[int, str, str]],
    results: list[dict[str, Any]],
    stored: dict[tuple[int, str], int | None],
    wall: float,
    workers: int,
    server_url: str | None,
    window: float,
    burst: bool,
) -> None:
    errors = [
        r
        for r in results
        if r.get("get_status") != 200
        or r.get("post_status") != 303
        or r.get("saved_status", 200) != 200
        or "error" in r
    ]
    accepted = [
        (pair, role, 10 + n % 50)
        for n, ((pair, role, _), r) in enumerate(zip(links, results, strict=True))
        if r.get("post_status") == 303
    ]
    lost = [a for a in accepted if stored.get((a[0], a[1])) != a[2]]
    database = "SQLite" if server_url is None else "PostgreSQL"
    how = "at once" if burst else f"arriving over {window:.0f} s, 10-20 s each on the form"
    print(
        f"{len(links)} participants {how}, against one `tandem serve --workers {workers}` "
        f"on {database} ({machine()})"
    )
    for label, key in (
        ("GET  /checkin/TOKEN (the form)", "get"),
        ("POST /checkin/TOKEN (sending it)", "post"),
        ("GET  /checkin/TOKEN?saved=1", "saved"),
    ):
        values = [float(r[key]) for r in results if key in r]
        if values:
            print(f"  {label}: {_quantiles(values)}")
    print(f"  all done in {wall:.1f} s; errors: {len(errors)}; lost submissions: {len(lost)}")
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"  load average afterwards (other work on the machine counts too): {load}")
    if errors:
        print(f"  first error: {errors[0]}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_web")
    parser.add_argument("participants", type=int, nargs="?", default=200)
    parser.add_argument("--db", help="a PostgreSQL server URL (default: a new SQLite file)")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args(argv)
    print(speed_line("before"))
    for workers in args.workers:
        run(
            args.participants,
            workers=workers,
            server_url=args.db,
            window=args.window,
            burst=args.burst,
        )
    print(speed_line("after"))


if __name__ == "__main__":
    main(sys.argv[1:])
