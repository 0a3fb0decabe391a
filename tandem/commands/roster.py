"""`tandem init`, `tandem import …`, `tandem participants …`."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tandem.commands.common import (
    FormatOption,
    NowOption,
    OutputFormat,
    console,
    database,
    echo_lines,
    lazy_module,
    now_from,
    output_file,
    plural,
    render_rows,
    settings,
)
from tandem.matcher.types import Role

if TYPE_CHECKING:
    from tandem.program import sharing
    from tandem.program.roster import store as roster
    from tandem.program.storage import db
else:
    db = lazy_module("tandem.program.storage.db")
    roster = lazy_module("tandem.program.roster.store")
    sharing = lazy_module("tandem.program.sharing")


class RoleChoice(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


FileArgument = Annotated[
    Path,
    typer.Argument(help="Applications file: .csv (UTF-8), .xlsx or .json.", show_default=False),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate and report; store nothing.")]

import_app = typer.Typer(
    help="Import mentor or mentee applications (atomic and safe to repeat).", no_args_is_help=True
)
participants_app = typer.Typer(help="Look at the stored roster.", no_args_is_help=True)


def init(ctx: typer.Context) -> None:
    """Create the database, or bring its schema up to date."""
    url = settings(ctx).db_url
    engine = db.create_db_engine(url)
    try:
        before = db.current_revision(engine)
        after = db.upgrade_schema(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"Database schema is up to date (revision {after}).")
    else:
        typer.echo(f"Database schema upgraded from {before or 'empty'} to revision {after}.")


CycleOption = Annotated[
    str | None,
    typer.Option(
        "--cycle",
        help="Record everyone in the file as applying to this cycle: "
        "`tandem match --cycle` then matches only its applicants.",
    ),
]


def _import(
    ctx: typer.Context,
    path: Path,
    role: Role,
    dry_run: bool,
    now: str | None = None,
    cycle: str | None = None,
) -> None:
    name = roster.check_cycle_name(cycle) if cycle is not None else None
    with database(ctx) as engine:
        report = roster.import_roster(
            engine, path, role, now=now_from(now), dry_run=dry_run, cycle=name
        )
    echo_lines((f"warning: {w}" for w in report.warnings), err=True)
    verb = "would change" if report.dry_run else "changed"
    typer.echo(
        f"{report.file}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged {role.value}s"
        + (" (dry run: nothing stored)" if report.dry_run else "")
    )
    for person_id, columns in report.changes.items():
        typer.echo(f"  {person_id}: {', '.join(columns)} {verb}")
    if report.not_in_file:
        typer.echo(
            f"  {plural(report.not_in_file, 'stored ' + role.value)} not in this file "
            f"{'was' if report.not_in_file == 1 else 'were'} kept unchanged"
        )
    if report.cycle is not None and not report.dry_run:
        typer.echo(f"  {plural(report.applied, 'new applicant')} to cycle {report.cycle}")


@import_app.command("mentors")
def import_mentors(
    ctx: typer.Context,
    path: FileArgument,
    dry_run: DryRun = False,
    cycle: CycleOption = None,
    now: NowOption = None,
) -> None:
    """Import mentor applications (id, name, email, capacity, …)."""
    _import(ctx, path, Role.MENTOR, dry_run, now, cycle)


@import_app.command("mentees")
def import_mentees(
    ctx: typer.Context,
    path: FileArgument,
    dry_run: DryRun = False,
    cycle: CycleOption = None,
    now: NowOption = None,
) -> None:
    """Import mentee applications (id, name, email, goals, …)."""
    _import(ctx, path, Role.MENTEE, dry_run, now, cycle)


LIST_COLUMNS = ("role", "id", "name", "career_stage", "institution", "timezone", "capacity")


def _public_fields(row: Any) -> dict[str, Any]:
    """A participant as shown to a coordinator. Identity attributes are never shown, only
    how many are stored (`tandem participants export-person`, the person's own export,
    has them); ``share`` is what the partner sees (None: the default, every field)."""
    data: dict[str, Any] = {
        "role": row.role,
        "id": row.external_id,
        "name": row.name,
        "email": row.email,
        "capacity": row.capacity,
        "career_stage": row.career_stage,
        "institution": row.institution,
        "department": row.department,
        "research_areas": row.research_areas,
        "research_interests": row.research_interests,
        ("expertise" if row.role == Role.MENTOR.value else "goals"): row.topics,
        "timezone": row.timezone,
        "languages": row.languages,
        "meeting_modes": row.meeting_modes,
        "excluded": row.excluded,
        "identity_consent": row.identity_consent,
        "identity_attributes": len(row.identity) + len(row.identity_preferences),
        "share": row.share,
    }
    data.update({k: v for k, v in row.custom.items() if k not in data})
    return data


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of :func:`_public_fields` as a person reads them in a table."""
    count = data["identity_attributes"]
    return {
        **data,
        "identity_attributes": (
            f"{count} stored, not shown (`tandem participants export-person` includes them)"
            if count
            else "none stored"
        ),
        "share": f"{sharing.describe_share(data['share'])} (what their partner sees)",
    }


@participants_app.command("list")
def list_participants(
    ctx: typer.Context,
    role: Annotated[RoleChoice | None, typer.Option(help="Only this role.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List stored participants (mentors first, sorted by id)."""
    with database(ctx) as engine:
        rows = roster.list_participants(engine, Role(role.value) if role else None)
    render_rows([_public_fields(r) for r in rows], LIST_COLUMNS, fmt, title="Participants")


@participants_app.command("show")
def show_participant(
    ctx: typer.Context,
    participant_id: Annotated[str, typer.Argument(metavar="ID", help="The participant's id.")],
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Show what is stored about one participant (identity attributes counted, not shown)."""
    with database(ctx) as engine:
        rows = [_public_fields(r) for r in roster.get_participant(engine, participant_id)]
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(rows, indent=2))
        return
    if fmt is OutputFormat.CSV:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        render_rows(rows, columns, fmt)
        return
    for data in rows:
        render_rows(
            [{"field": k, "value": v} for k, v in _shown(data).items()],
            ("field", "value"),
            fmt,
            title=f"{data['role']} {data['id']}",
        )


@participants_app.command("summary")
def summary(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Counts by role and career stage, total capacity (no personal data)."""
    with database(ctx) as engine:
        result = roster.summarize(engine)
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(asdict(result), indent=2))
        return
    out = console()
    out.print(
        f"Roster: {plural(result.mentors, 'mentor')} (capacity {result.mentor_capacity}), "
        f"{plural(result.mentees, 'mentee')}, {plural(result.institutions, 'institution')}, "
        f"{plural(result.time_zones, 'time zone')}"
    )
    if result.people_in_both_roles:
        both = result.people_in_both_roles
        out.print(
            f"{plural(both, 'person', 'people')} {'is' if both == 1 else 'are'} both mentor and mentee"
        )
    if result.mentees > result.mentor_capacity:
        short = result.mentees - result.mentor_capacity
        out.print(f"Mentor capacity is short by {plural(short, 'place')}")
    stages = sorted({s for counts in result.by_stage.values() for s in counts})
    render_rows(
        [
            {"career_stage": s, **{g: result.by_stage[g].get(s, 0) for g in result.by_stage}}
            for s in stages
        ],
        ("career_stage", "mentors", "mentees"),
        fmt,
        title="By career stage",
    )


@participants_app.command("export")
def export(
    ctx: typer.Context,
    role: Annotated[RoleChoice, typer.Argument(help="mentor or mentee")],
    out: Annotated[Path, typer.Argument(help="Output .csv or .xlsx file.")],
) -> None:
    """Write the stored roster of one role to a file that imports back unchanged.

    The file holds personal data: it is readable by its owner only (mode 0600)."""
    kind = roster.export_format(out)
    with output_file(out, personal=True) as handle, database(ctx) as engine:
        count = roster.export_roster(engine, Role(role.value), handle, kind)
    typer.echo(f"Wrote {count} {role.value}s to {out}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(import_app, name="import")
    app.add_typer(participants_app, name="participants")
