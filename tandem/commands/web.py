"""``tandem serve`` (the web pages every message links to) and ``tandem coordinator add``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tandem.commands.common import LinkKeysOption, NowOption, database, now_from, settings
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
    link_keys = read_link_keys(keys)  # fail fast on a damaged or exposed key file
    with database(ctx) as db:
        bases = link_base_urls(db)
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
