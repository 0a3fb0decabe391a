"""``tandem prompts``: check, preview and document a curriculum of weekly topics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tandem.commands.common import check_output_file, lazy_module, write_output
from tandem.matcher.types import Role
from tandem.prompts.errors import CurriculumError, Problem

curriculum_module = lazy_module("tandem.prompts.curriculum")
render = lazy_module("tandem.prompts.render")

CurriculumOption = Annotated[
    Path | None,
    typer.Option(
        "--curriculum",
        help="A curriculum folder (curriculum.toml + week-NN.toml). Default: the shipped one.",
        file_okay=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``prompts`` command group to ``app``."""
    prompts = typer.Typer(
        no_args_is_help=True,
        help="Check, preview and document the weekly discussion topics.",
    )
    prompts.command("validate")(validate)
    prompts.command("show")(show)
    prompts.command("docs")(docs)
    app.add_typer(prompts, name="prompts")


def validate(
    directory: Annotated[
        Path | None,
        typer.Argument(help="The curriculum folder to check. Default: the shipped one."),
    ] = None,
) -> None:
    """Report every problem in a curriculum as FILE: FIELD: message; exit 1 if any."""
    try:
        curriculum = curriculum_module.load_curriculum(directory)
    except CurriculumError as error:
        for problem in error.problems:
            typer.echo(_located(directory, problem))
        raise typer.Exit(1) from None
    typer.echo(
        f"OK: {curriculum.weeks_total} weeks, tracks {', '.join(curriculum.track_ids)} "
        f"(default {curriculum.default_track})"
    )


def show(
    week: Annotated[int, typer.Option("--week", min=1, help="The week to render, from 1.")],
    track: Annotated[
        str | None, typer.Option("--track", help="The career-stage track. Default: the default.")
    ] = None,
    role: Annotated[Role, typer.Option("--role", help="Whose message to render.")] = Role.MENTEE,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML version.")] = False,
    curriculum_dir: CurriculumOption = None,
) -> None:
    """Render a week as the participant will see it, for the curriculum's sample pair."""
    curriculum = curriculum_module.load_curriculum(curriculum_dir)
    message = render.render_weekly(
        curriculum, week, track, role, render.preview_context(curriculum, week)
    )
    typer.echo(f"Subject: {message.subject}\n")
    typer.echo(message.html if html else message.text, nl=False)


def docs(
    out: Annotated[Path, typer.Option("--out", help="Where to write the overview.")] = Path(
        "docs/curriculum.md"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the file is not up to date; write nothing.")
    ] = False,
    curriculum_dir: CurriculumOption = None,
) -> None:
    """Write the curriculum overview (weeks, phases, competencies, tracks) as Markdown."""
    if not check:
        check_output_file(out)
    text = render.render_overview(curriculum_module.load_curriculum(curriculum_dir))
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            typer.echo(f"{out} is out of date: run `tandem prompts docs --out {out}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out} is up to date")
        return
    write_output(out, text, personal=False)
    typer.echo(f"Wrote {out}")


def _located(directory: Path | None, problem: Problem) -> str:
    """The problem with its file as the person typed the folder, so editors can jump to it."""
    if directory is None or problem.file == ".":
        return str(problem)
    return str(problem.model_copy(update={"file": str(directory / problem.file)}))
