"""`tandem serve` as a person runs it, and several app processes acting as one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tandem.program.coordinators import add_coordinator
from tandem.web.app import create_app
from tandem.web.security import Limits
from tests.program.helpers import LINK_KEYS
from tests.web.helpers import csrf_of, make_site

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_prints_where_links_point_and_serves_pages(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    make_site(engine, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "--db", db_url, "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert answer.status == 200
                    assert answer.headers["Referrer-Policy"] == "no-referrer"
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "tandem serve did not answer in 30 s"
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        out, _ = server.communicate(timeout=20)
    assert out.splitlines()[:2] == [
        f"Serving on http://127.0.0.1:{port}/ (console: http://127.0.0.1:{port}/console)",
        "The cohorts' links expect this server at: http://localhost:8000",
    ]


def test_two_processes_on_one_database_behave_as_one(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    site = make_site(engine, tmp_path, limits=Limits(per_link=3))
    other = TestClient(
        create_app(db_url, clock=site.clock, limits=Limits(per_link=3), link_keys=LINK_KEYS),
        follow_redirects=False,
    )
    token = site.token(site.pairs[0], 1, "mentor")
    # A form from one process is accepted by the other (one CSRF key, in the database) ...
    csrf = csrf_of(site.client.get(f"/checkin/{token}").text)
    assert other.post(f"/checkin/{token}", data={"met": "yes", "csrf": csrf}).status_code == 303
    # ... the rate limit counts both processes' requests ...
    assert site.client.get(f"/checkin/{token}").status_code == 200
    assert other.get(f"/checkin/{token}").status_code == 429
    # ... and a session opened by one is valid on the other.
    add_coordinator(engine, "ada@uni.edu", "correct horse battery", now=site.clock.now)
    form = site.client.get("/console/login")
    signed = site.client.post(
        "/console/login",
        data={
            "email": "ada@uni.edu",
            "password": "correct horse battery",
            "csrf": csrf_of(form.text),
        },
    )
    other.cookies.set("tandem_session", signed.cookies["tandem_session"])
    assert other.get("/console").status_code == 200
