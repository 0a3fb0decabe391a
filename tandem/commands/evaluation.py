"""`tandem survey …` (the evaluation instruments and their responses) and `tandem report …`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tandem.commands.common import (
    FormatOption,
    NowOption,
    OutputFormat,
    check_output_file,
    database,
    now_from,
    render_rows,
    write_output,
)

if TYPE_CHECKING:
    from tandem.program.evaluation import render, report, responses
    from tandem.prompts import surveys
else:
    from tandem.commands.common import lazy_module

    render = lazy_module("tandem.program.evaluation.render")
    report = lazy_module("tandem.program.evaluation.report")
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
    title = f"{instrument.title} ({instrument.id.value})"
    if fmt is OutputFormat.TABLE:
        # Five columns that read at 100: the competency in words, the scale with the kind.
        rows = [
            {
                "id": item.id,
                "competency": item.competency.value.replace("_", " ") if item.competency else "",
                "role": item.role.value,
                "kind of answer": item.kind.value.replace("_", " or ")
                + (f" {item.min}–{item.max}" if item.min is not None else "")
                + (", retrospective" if item.retrospective else ""),
                "text": item.text,
            }
            for item in instrument.items
        ]
        render_rows(rows, ("id", "competency", "role", "kind of answer", "text"), fmt, title)
        return
    render_rows([item.as_dict() for item in instrument.items], SHOW_COLUMNS, fmt, title=title)


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


class _ReportGroup(TyperGroup):
    """``tandem report COHORT`` is short for ``tandem report cohort COHORT``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["cohort", *args]
        return super().parse_args(ctx, args)


report_app = typer.Typer(
    cls=_ReportGroup,
    help="Evaluation reports: the cohort report (tandem report COHORT) and mentor feedback.",
    no_args_is_help=True,
)


class ReportFormat(StrEnum):
    HTML = "html"
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


EXTENSIONS = {
    ".html": ReportFormat.HTML,
    ".htm": ReportFormat.HTML,
    ".json": ReportFormat.JSON,
    ".csv": ReportFormat.CSV,
    ".xlsx": ReportFormat.XLSX,
}
"""The report formats by ``--out``'s file name extension."""


def report_format(
    fmt: ReportFormat | None, out: Path | None, allowed: tuple[ReportFormat, ...]
) -> ReportFormat:
    """The format to write: ``--format`` when given, else the one ``--out``'s extension
    names (``html`` when printing). One line, before any work, when the extension is not
    one of ``allowed``'s or disagrees with ``--format``, so that ``--out r.xlsx`` never
    holds a page."""
    if out is None:
        return fmt or ReportFormat.HTML
    by_name = EXTENSIONS.get(out.suffix.lower())
    if by_name is None or by_name not in allowed:
        names = [e for e, f in EXTENSIONS.items() if f in allowed and e != ".htm"]
        listed = ", ".join(names[:-1]) + " or " + names[-1]
        raise typer.BadParameter(
            f"{out.name}: the format follows the file name; end it in {listed}",
            param_hint="--out",
        )
    if fmt is not None and fmt is not by_name:
        raise typer.BadParameter(
            f"--format {fmt.value} does not match the file name {out.name}; make them agree "
            "(or leave out --format)",
            param_hint="--out",
        )
    return by_name


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    write_output(out, text, personal=True)
    typer.echo(f"Wrote {out}", err=True)


@report_app.command("cohort")
def report_cohort(
    ctx: typer.Context,
    cohort: str,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            help="html (a page), json, csv (long form), xlsx. Default: --out's extension "
            "(.html, .json, .csv, .xlsx), else html.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (needed for xlsx).")
    ] = None,
    now: NowOption = None,
) -> None:
    """The cohort report: participation, meetings, competency gains, satisfaction, intent."""
    fmt = report_format(fmt, out, tuple(ReportFormat))
    if fmt is ReportFormat.XLSX and out is None:
        raise typer.BadParameter("an XLSX workbook needs --out FILE.xlsx", param_hint="--out")
    if out is not None:
        check_output_file(out)
    with database(ctx) as db:
        data = report.cohort_report(db, cohort, now=now_from(now))
    content = render.report_file(data, fmt.value)
    if out is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    write_output(out, content, personal=True)
    typer.echo(f"Wrote {out}", err=True)


@report_app.command("mentor")
def report_mentor(
    ctx: typer.Context,
    cohort: str,
    mentor_id: Annotated[str, typer.Argument(help="The mentor's id from the roster.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the page to this file.")] = None,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            help="html (a page) or json. Default: --out's extension (.html, .json), else html.",
            show_default=False,
        ),
    ] = None,
    now: NowOption = None,
) -> None:
    """One mentor's feedback: their mentees' ratings beside the cohort's, weeks to revisit."""
    if fmt not in (None, ReportFormat.HTML, ReportFormat.JSON):
        raise typer.BadParameter("mentor feedback is html or json", param_hint="--format")
    fmt = report_format(fmt, out, (ReportFormat.HTML, ReportFormat.JSON))
    if out is not None:
        check_output_file(out)
    with database(ctx) as db:
        data = report.mentor_feedback(db, cohort, mentor_id, now=now_from(now))
    if fmt is ReportFormat.JSON:
        import json

        _write(json.dumps(data, indent=2, ensure_ascii=False) + "\n", out)
    else:
        _write(render.render_mentor_html(data), out)


def register(app: typer.Typer) -> None:
    app.add_typer(survey_app, name="survey")
    app.add_typer(report_app, name="report")
