"""`tandem cohort set`: change how a running cohort's messages are signed and addressed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from tandem.commands.common import (
    ActorOption,
    NowOption,
    actor_name,
    database,
    lazy_module,
    now_from,
    option_error,
)
from tandem.commands.program import COHORT_OPTIONS, parse_resources
from tandem.program.contact import printable
from tandem.prompts.resources import Resource

if TYPE_CHECKING:
    from tandem.program import cohort_settings, voice
else:
    cohort_settings = lazy_module("tandem.program.cohort_settings")
    voice = lazy_module("tandem.program.voice")

LABELS = {
    "sender": "sender",
    "coordinator_email": "coordinator",
    "coordinator_name": "coordinator name",
    "base_url": "base URL",
    "salutation": "salutation",
}
"""How each setting is named in what the command prints (a resource: ``resource NAME``)."""


def cohort_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The cohort's name.")],
    sender: Annotated[
        str | None, typer.Option(help="The From address of program messages.")
    ] = None,
    coordinator: Annotated[
        str | None,
        typer.Option(help="The coordinator's e-mail: the weekly digest, and Reply-To of messages."),
    ] = None,
    coordinator_name: Annotated[
        str | None,
        typer.Option(help='The coordinator\'s name, who signs the messages ("" for none).'),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Where the check-in and response links point.")
    ] = None,
    salutation: Annotated[
        str | None,
        typer.Option(help="The greeting of messages; {name} is the person's name."),
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            help="Local help the weeks name, as NAME=TEXT (repeatable; the other resources "
            "stay); NAME is one of: " + ", ".join(r.value for r in Resource) + ".",
        ),
    ] = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Change how a cohort's messages are signed, addressed and linked (safe to repeat).

    Only these settings change, by the same rules as at `tandem cohort create`; the start,
    weeks, send day and time, time zone and confirmation rule stay as created. Messages
    already in the outbox keep the old values; from the next tick, messages carry the new
    ones. A closed cohort may change them too (its follow-up survey is still to come)."""
    given: dict[str, Any] = {
        "sender": sender,
        "coordinator_email": coordinator,
        "coordinator_name": coordinator_name,
        "base_url": base_url,
        "salutation": salutation,
        "resources": parse_resources(resource) if resource else None,
    }
    given = {setting: value for setting, value in given.items() if value is not None}
    if not given:
        raise typer.BadParameter(
            "give at least one setting to change: --sender, --coordinator, --coordinator-name, "
            "--base-url, --salutation or --resource"
        )
    try:
        changes = voice.MessagingSettings(**given)
    except ValidationError as error:
        raise option_error(error, COHORT_OPTIONS) from None
    with database(ctx) as db:
        result = cohort_settings.change_messaging(
            db, name, changes, actor=actor or actor_name(), now=now_from(now)
        )
    if not result.changes:
        typer.echo(f"Nothing changed: cohort {result.cohort!r} already has these settings.")
        return
    typer.echo(f"Changed the settings of cohort {result.cohort!r}:")
    for change in result.changes:
        label = LABELS.get(change.setting) or change.setting.replace("resources.", "resource ")
        typer.echo(f"  {label}: {_shown(change.old)} → {_shown(change.new)}")
    links = next((c for c in result.changes if c.setting == "base_url"), None)
    typer.echo(
        "Messages already in the outbox keep the old values; from the next tick, messages "
        "carry the new ones."
    )
    if links:
        typer.echo(
            f"Links already sent still point at {_shown(links.old)}: keep that address "
            "serving `tandem serve` (or redirecting to the new one) until they expire."
        )


def _shown(value: str | None) -> str:
    return "(none)" if value is None else printable(value)


def register(cohort_app: typer.Typer) -> None:
    """Add ``set`` to the ``cohort`` commands."""
    cohort_app.command("set")(cohort_set)
