"""`tandem participants export-person|erase|withdraw-consent|withdraw` and `tandem purge`."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tandem.commands.common import (
    ActorOption,
    NowOption,
    actor_name,
    check_output_file,
    database,
    lazy_module,
    now_from,
    write_output,
)
from tandem.errors import TandemError
from tandem.matcher.types import Role

if TYPE_CHECKING:
    from tandem.program import privacy, withdrawal
else:
    privacy = lazy_module("tandem.program.privacy")
    withdrawal = lazy_module("tandem.program.withdrawal")


class RoleChoice(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


IdArgument = Annotated[str, typer.Argument(help="The participant's id from their application.")]
OutboxOption = Annotated[
    Path | None,
    typer.Option(
        "--outbox",
        help="A file outbox the messages went to (tick --delivery file:FOLDER): delete the "
        "files of the messages emptied there too.",
    ),
]
RoleOption = Annotated[
    RoleChoice | None,
    typer.Option("--role", help="mentor or mentee: needed when the id names both."),
]


def _role(choice: RoleChoice | None) -> Role | None:
    return None if choice is None else Role(choice.value)


def export_person(
    ctx: typer.Context,
    participant_id: IdArgument,
    role: RoleOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here instead of printing it.")
    ] = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Everything stored about one person, as JSON (recorded in the audit log)."""
    if out is not None:
        check_output_file(out)
    with database(ctx) as engine:
        document = privacy.export_person(
            engine, participant_id, role=_role(role), actor=actor or actor_name(), now=now_from(now)
        )
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    write_output(out, text, personal=True)
    typer.echo(f"Wrote everything stored about {participant_id} to {out}")


def erase(
    ctx: typer.Context,
    participant_id: IdArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    role: RoleOption = None,
    revoke_certificates: Annotated[
        bool,
        typer.Option(
            "--revoke-certificates",
            help="Revoke their certificates too (default: they stay valid).",
        ),
    ] = False,
    outbox: OutboxOption = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Remove a person's personal data; keep de-identified rows for the statistics."""
    if outbox is not None:
        check_outbox(outbox)
    with database(ctx) as engine:
        erasure = privacy.erase_person(
            engine,
            participant_id,
            role=_role(role),
            reason=reason,
            actor=actor or actor_name(),
            now=now_from(now),
            revoke_certificates=revoke_certificates,
        )
    for line in erasure.lines():
        typer.echo(line)
    if outbox is not None:
        from tandem.program.outbox.channels import FileOutbox

        removed = FileOutbox(outbox).remove(erasure.message_ids)
        typer.echo(f"Message files deleted from {outbox}: {removed}.")


def withdraw_consent(
    ctx: typer.Context,
    participant_id: IdArgument,
    role: RoleOption = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Remove a person's identity attributes from storage and from future matching."""
    with database(ctx) as engine:
        removed = privacy.withdraw_consent(
            engine, participant_id, role=_role(role), actor=actor or actor_name(), now=now_from(now)
        )
    noun = "attribute" if removed == 1 else "attributes"
    typer.echo(f"Consent withdrawn for {participant_id}: {removed} identity {noun} removed.")


def withdraw(
    ctx: typer.Context,
    participant_id: IdArgument,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (ends their live pairs with this reason).")
    ],
    role: RoleOption = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Withdraw a participant: kept for history, never matched or messaged again."""
    with database(ctx) as engine:
        result = withdrawal.withdraw_participant(
            engine,
            participant_id,
            role=_role(role),
            reason=reason,
            actor=actor or actor_name(),
            now=now_from(now),
        )
    for line in result.lines():
        typer.echo(line)


def purge(
    ctx: typer.Context,
    months: Annotated[
        int,
        typer.Option(
            "--months",
            envvar="TANDEM_RETENTION_MONTHS",
            help="Erase people whose cohorts all closed more than this many months ago, "
            "and people never paired whose record last changed that long ago.",
        ),
    ] = 24,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List who would be erased; change nothing.")
    ] = False,
    outbox: OutboxOption = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Apply the retention rule: erase closed cohorts' personal data after N months."""
    if outbox is not None:
        check_outbox(outbox)
    with database(ctx) as engine:
        chosen = privacy.purge(
            engine, months=months, actor=actor or actor_name(), now=now_from(now), dry_run=dry_run
        )
    verb = "Would erase" if dry_run else "Erased"
    people = "person" if len(chosen) == 1 else "people"
    typer.echo(
        f"{verb} {len(chosen)} {people} (cohorts closed, or never paired and record unchanged, "
        f"more than {months} months ago)."
    )
    for candidate in chosen:
        cohorts = ", ".join(candidate.cohorts) or "never paired"
        typer.echo(f"  {candidate.role} {candidate.participant_id}: {cohorts}")
    if outbox is not None and not dry_run:
        from tandem.program.outbox.channels import FileOutbox

        removed = FileOutbox(outbox).remove(m for c in chosen for m in c.message_ids)
        typer.echo(f"Message files deleted from {outbox}: {removed}.")


def check_outbox(folder: Path) -> None:
    """One line now, before anything is erased, if ``folder`` is not a folder whose files
    can be deleted."""
    if not folder.is_dir():
        raise TandemError(f"--outbox {folder}: not a folder; give the file outbox's folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TandemError(
            f"--outbox {folder}: not permitted to delete files in this folder; check its "
            "permissions"
        )


def register(app: typer.Typer, participants_app: typer.Typer) -> None:
    """Add the data-rights commands to ``participants`` and ``purge`` to ``app``."""
    participants_app.command("export-person")(export_person)
    participants_app.command("erase")(erase)
    participants_app.command("withdraw-consent")(withdraw_consent)
    participants_app.command("withdraw")(withdraw)
    app.command("purge")(purge)
