"""What a command needs before it starts (its database URL, the key file it is given, the
address it serves on) is checked first and reported in one line, never a traceback, never
a password."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import Tandem
from tests.program.roster.hostile import assert_one_error_line, run_cli

URL_FORMS = "use postgresql+psycopg://USER@HOST:PORT/NAME or sqlite:///FILE.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://foo", "--db: 'postgres://' is not a database URL Tandem knows; "),
        ("postgres://bob:s3cret@db/x", "--db: 'postgres://' is not a database URL Tandem knows; "),
        ("mysql://bob:s3cret@db/x", "--db: 'mysql://' is not a database URL Tandem knows; "),
        ("garbage", "--db: not a database URL; "),
        ("bob:s3cret@db/x", "--db: not a database URL; "),
        (
            "postgresql+nosuchdriver://bob:s3cret@db/x",
            "--db: 'postgresql+nosuchdriver://' is not a database URL Tandem knows; ",
        ),
    ],
)
def test_a_database_url_tandem_does_not_know_is_one_line(url: str, expected: str) -> None:
    result = run_cli(url, "participants", "list")
    assert_one_error_line(result, expected + URL_FORMS)
    assert "s3cret" not in result.output


def test_a_missing_driver_is_named(tmp_path: Path) -> None:
    result = run_cli("postgresql+pg8000://bob:s3cret@db/x", "participants", "list")
    assert_one_error_line(
        result, "--db: the driver for 'postgresql+pg8000://' is not installed; " + URL_FORMS
    )


def test_a_key_file_given_but_missing_is_said_so(
    tandem: Tandem, db_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    expected = (
        f"the key file {missing} does not exist; create it with `tandem keys init --keys {missing}`"
    )
    given = tandem("tick", "--keys", missing, db=db_url, expect=1)
    assert given.stderr == f"Error: --keys: {expected}\n"
    from_environment = tandem("tick", db=db_url, env={"TANDEM_KEYS": str(missing)}, expect=1)
    assert from_environment.stderr == f"Error: TANDEM_KEYS: {expected}\n"
    scheduler = tandem("scheduler", "run", "--keys", missing, db=db_url, expect=1)
    assert scheduler.stderr == f"Error: --keys: {expected}\n"
    served = tandem("serve", "--keys", missing, db=db_url, expect=1)
    assert served.stderr == f"Error: --keys: {expected}\n"
    assert not missing.exists()


def test_serve_on_a_busy_port_says_so_before_serving(
    tandem: Tandem, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(uvicorn, "run", never)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = tandem("serve", "--port", str(port), db=db_url, expect=1)
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: --port: port {port} on 127.0.0.1 is in use by another program; stop it, or "
        "choose another port with --port\n"
    )


def test_serve_on_an_address_not_this_machines_is_one_line(
    tandem: Tandem, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    result = tandem("serve", "--host", "no-such-host.invalid", db=db_url, expect=1)
    assert result.stderr == "Error: --host: 'no-such-host.invalid' is not a known address\n"
