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
    from tandem.program.evaluation import responses
    from tandem.prompts import surveys
else:
    from tandem.commands.common import lazy_module

    responses = lazy_module("tandem.program.evaluation.responses")
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


@survey_app.command("import")
def survey_import(
    ctx: typer.Context,
    cohort: str,
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV/XLSX/JSON: email, survey, role, mentee_id, then one column per item id "
            "(<id>_before for retrospective ratings)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report; store nothing.")
    ] = False,
    now: NowOption = None,
) -> None:
    """Import survey responses exported from a survey tool (atomic; safe to repeat)."""
    with database(ctx) as db:
        report = responses.import_responses(db, cohort, path, now=now_from(now), dry_run=dry_run)
    typer.echo(
        f"{path.name}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged survey responses"
        + (" (dry run: nothing stored)" if dry_run else "")
    )


def register(app: typer.Typer) -> None:
    app.add_typer(survey_app, name="survey")
