"""``tandem serve`` (the web pages every message links to) and ``tandem coordinator add``."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from tandem.commands.common import (
    LinkKeysOption,
    NowOption,
    database,
    link_keys_path,
    now_from,
    settings,
)
from tandem.errors import TandemError
from tandem.program.certify.key_names import DEFAULT_KEYS_FILE

coordinator_app = typer.Typer(help="Coordinators who sign in to the web console.")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Processes serving requests (they share nothing but the database)."
        ),
    ] = 1,
    keys: LinkKeysOption = Path(DEFAULT_KEYS_FILE),
) -> None:
    """Serve the participants' link pages and the coordinator console.

    Stateless: run several on one database (behind one address) and they behave as one.
    """
    import uvicorn

    from tandem.program.casework import link_base_urls
    from tandem.program.link_keys import read_link_keys
    from tandem.web.app import app_for_serving

    url = settings(ctx).db_url
    link_keys = read_link_keys(link_keys_path(ctx, keys))  # fail fast on a bad key file
    with database(ctx) as db:
        bases = link_base_urls(db)
    check_address(host, port)
    typer.echo(f"Serving on http://{host}:{port}/ (console: http://{host}:{port}/console)")
    if bases:
        typer.echo("The cohorts' links expect this server at: " + ", ".join(bases))
    else:
        typer.echo("No cohorts yet: links will point at the cohort's --base-url.")
    if workers == 1:
        app = app_for_serving(url, link_keys=link_keys)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    os.environ["TANDEM_DB"] = url  # each worker process opens the same database
    os.environ["TANDEM_KEYS"] = str(keys.resolve())  # and reads the same key file
    uvicorn.run(
        "tandem.web.app:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )


def check_address(host: str, port: int) -> None:
    """Raise one clear TandemError if ``host:port`` cannot be listened on now (another
    program has the port, the address is not this machine's, the port is not permitted),
    so that `tandem serve` never says it serves when it cannot. The server binds as this
    probe does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror:
            raise TandemError(f"--host: {host!r} is not a known address") from None
        except OSError as error:
            raise TandemError(_bind_problem(host, port, error)) from None


def _bind_problem(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"--port: port {port} on {host} is in use by another program; stop it, or choose "
            "another port with --port"
        )
    if error.errno == errno.EACCES:
        return (
            f"--port: not permitted to listen on port {port} (ports below 1024 need "
            "administrator rights); choose another port with --port"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host: {host} is not an address of this machine"
    return f"cannot listen on {host}:{port} ({error.strerror or type(error).__name__})"


@coordinator_app.command("add")
def coordinator_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The coordinator's e-mail: their sign-in name.")],
    name: Annotated[
        str | None, typer.Option(help="Name shown in the console and the audit log.")
    ] = None,
    now: NowOption = None,
) -> None:
    """Add a coordinator (or set a new password). The password comes from
    TANDEM_COORDINATOR_PASSWORD, else a prompt; only its Argon2 hash is stored."""
    from tandem.program.coordinators import add_coordinator

    password = os.environ.get("TANDEM_COORDINATOR_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with database(ctx) as db:
        outcome = add_coordinator(db, email, password, name=name, now=now_from(now))
    typer.echo(f"Coordinator {email.strip().lower()} {outcome}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(coordinator_app, name="coordinator")
