"""`tandem survey …` (the evaluation instruments and their responses) and `tandem report …`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tandem.commands.common import (
    FormatOption,
    NowOption,
    OutputFormat,
    database,
    now_from,
    render_rows,
)

if TYPE_CHECKING:
    from tandem.prompts import surveys
else:
    from tandem.commands.common import lazy_module

    surveys = lazy_module("tandem.prompts.surveys")

survey_app = typer.Typer(
    help="Evaluation surveys: show the instruments, import responses.", no_args_is_help=True
)

SHOW_COLUMNS = ("id", "competency", "role", "kind", "min", "max", "retrospective", "text")


@survey_app.command("show")
def survey_show(
    name: Annotated[str, typer.Argument(help="baseline, closing or followup.")],
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Print one survey instrument: its items, who answers them, and their scales."""
    instrument = surveys.load_instrument(name)
    if fmt is OutputFormat.JSON:
        import json

        typer.echo(json.dumps(instrument.as_dict(), indent=2, ensure_ascii=False))
        return
    render_rows(
        [item.as_dict() for item in instrument.items],
        SHOW_COLUMNS,
        fmt,
        title=f"{instrument.title} ({instrument.id.value})",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(survey_app, name="survey")


__all__ = ["NowOption", "Path", "database", "now_from", "register"]
