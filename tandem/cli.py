"""The ``tandem`` command: parse, call the library, render.

Command groups live in ``tandem/commands/``; each module there defines its commands on a
``typer.Typer`` and this module mounts them. Errors derived from :class:`TandemError` are
rendered here, once, for every command.
"""

from __future__ import annotations

import gc
import inspect
import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from tandem import __version__
from tandem.commands import common
from tandem.errors import TandemError

USAGE_EXIT = 2
"""The exit code of a command line that cannot be run as given (as Click's own)."""

_click = sys.modules[typer.BadParameter.__module__]
"""The exceptions of the Click that Typer runs on (recent versions run on a copy of their
own), found through Typer's public ``BadParameter``."""
UsageError: type[Exception] = _click.UsageError


class _TandemGroup(TyperGroup):
    """Renders every error a person can fix once, for all commands, as one line on stderr
    and a non-zero exit: a TandemError, and a command line that cannot be run as given (an
    option's value that does not parse, a missing argument, an unknown option) in place of
    the usage box. ``--help`` is left as it is, but for its prose: each paragraph of a
    command's help is one line of text, wrapped to the terminal (Typer keeps a docstring's
    own line breaks after the first paragraph, which wrap badly on a narrow terminal)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        if parent is None:
            _reflow_help(self)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as error:
            _usage_error(error)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TandemError as error:
            typer.echo(f"Error: {error.message}", err=True)
            raise typer.Exit(code=error.exit_code) from error
        except UsageError as error:
            _usage_error(error)


def _reflow_help(command: Any) -> None:
    """Join the single line breaks within each paragraph of ``command``'s help and of its
    subcommands' (paragraphs stay apart; a paragraph starting with ``\\b`` is kept)."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(
            p if p.startswith("\b") else " ".join(p.split("\n")) for p in paragraphs
        )
    for sub in getattr(command, "commands", {}).values():
        _reflow_help(sub)


def _usage_error(error: Any) -> NoReturn:
    """Say what is wrong with the command line in one line and exit 2 (or show the help
    of a group given no command, as ``no_args_is_help`` asks)."""
    if isinstance(error, _click.NoArgsIsHelpError):
        raise error
    typer.echo(f"Error: {usage_message(error)}", err=True)
    raise typer.Exit(code=USAGE_EXIT) from None


def usage_message(error: Any) -> str:
    """One line: ``--role: 'boss' is not one of 'mentor', 'mentee'``; for a command line
    whose shape is wrong (a missing argument, an unknown option or command), also where
    the command's help is."""
    if isinstance(error, _click.BadParameter) and not isinstance(error, _click.MissingParameter):
        message = error.message.removeprefix("Value error, ").rstrip(".")
        hint = _param_hint(error)
        return f"{hint}: {message}" if hint else message
    message = " ".join(error.format_message().split()).rstrip(".")
    command = _command_path(error.ctx)
    return f"{message}; see `{command} --help`" if command else message


def _param_hint(error: Any) -> str | None:
    if isinstance(error.param_hint, str):
        return error.param_hint
    if error.param_hint is not None:
        return " / ".join(error.param_hint)
    if error.param is None:
        return None
    return str(error.param.opts[0] if error.param.opts else error.param.human_readable_name)


def _command_path(ctx: Any) -> str | None:
    """``tandem participants show``, whatever the program was called."""
    if ctx is None:
        return None
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["tandem", *reversed(names)])


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
        cohort_settings,
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
    cohort_settings.register(program.cohort_app)
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
