"""The ``tandem`` command: parse, call the library, render.

Command groups live in ``tandem/commands/``; each module there defines its commands on a
``typer.Typer`` and this module mounts them. Errors derived from :class:`TandemError` are
rendered here, once, for every command.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from tandem import __version__
from tandem.commands import common
from tandem.errors import TandemError


class _TandemGroup(TyperGroup):
    """Renders every TandemError once, for all commands: message to stderr, non-zero exit."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TandemError as error:
            typer.echo(f"Error: {error.message}", err=True)
            raise typer.Exit(code=error.exit_code) from error


app = typer.Typer(
    cls=_TandemGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Tandem runs research mentoring programs: import, match, guide, certify.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tandem {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: common.DbOption = common.DEFAULT_DB,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Tandem runs research mentoring programs: import, match, guide, certify."""
    ctx.obj = common.Settings(db_url=db)


def _mount() -> None:
    from tandem.commands import (
        certs,
        credentials,
        evaluation,
        match,
        privacy,
        program,
        prompts,
        roster,
        web,
    )

    roster.register(app)
    privacy.register(app, roster.participants_app)
    match.register(app)
    prompts.register(app)
    program.register(app)
    credentials.register(app)
    certs.register(app)
    web.register(app)
    evaluation.register(app)


_mount()


def main() -> None:
    """Console-script entry point."""
    try:
        sys.exit(app())
    finally:
        # The process ends next. Frozen objects are left out of the interpreter's last
        # garbage collection over everything the libraries made (about 0.07 s); atexit
        # handlers still run, and commands close their databases before they return.
        gc.freeze()


if __name__ == "__main__":
    main()
