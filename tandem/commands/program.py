"""`tandem cohort …`, `tandem pair …`, `tandem tick`, `tandem scheduler run`, `tandem checkin …`."""

from __future__ import annotations

import json
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from tandem.commands.common import (
    DEFAULT_DELIVERY,
    DeliveryOption,
    FormatOption,
    LinkKeysOption,
    NowOption,
    OutputFormat,
    database,
    echo_lines,
    lazy_module,
    link_keys_path,
    now_from,
    option_error,
    plural,
    progress_bar,
    render_rows,
    settings,
    warn_defaults,
)
from tandem.matcher.types import Role
from tandem.program.certify.key_names import DEFAULT_KEYS_FILE
from tandem.program.storage.enums import AddressBy
from tandem.prompts.resources import Resource

if TYPE_CHECKING:
    from tandem.program import checkins, cohort_list, cohorts, reports
    from tandem.program import rematch as rematching
    from tandem.program import tick as ticks
else:
    cohort_list = lazy_module("tandem.program.cohort_list")
    checkins = lazy_module("tandem.program.checkins")
    cohorts = lazy_module("tandem.program.cohorts")
    rematching = lazy_module("tandem.program.rematch")
    ticks = lazy_module("tandem.program.tick")
    reports = lazy_module("tandem.program.reports")

cohort_app = typer.Typer(
    help="Run guided programs: create cohorts, see how pairs are doing.", no_args_is_help=True
)
pair_app = typer.Typer(
    help="Change one pair: accept, decline, pause, resume, end, meeting slot.", no_args_is_help=True
)
checkin_app = typer.Typer(help="Record weekly check-ins.", no_args_is_help=True)
scheduler_app = typer.Typer(help="The unattended service that runs programs.", no_args_is_help=True)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class RoleChoice(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


def _time(value: str, option: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time of day; give e.g. 09:00", param_hint=option
        ) from None


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; give e.g. 2026-09-07", param_hint=option
        ) from None


def parse_resources(values: list[str]) -> dict[Resource, str]:
    resources: dict[Resource, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        key = name.strip().lower().replace("-", "_")
        if not sep or not text.strip() or key not in Resource.__members__.values():
            raise typer.BadParameter(
                f"expected NAME=TEXT with NAME one of {', '.join(r.value for r in Resource)}, "
                f"got {value!r}",
                param_hint="--resource",
            )
        resources[Resource(key)] = text.strip()
    return resources


COHORT_OPTIONS = {
    "name": "NAME",
    "start": "--start",
    "curriculum_dir": "--curriculum",
    "confirmation": "--require-both",
    "coordinator_email": "--coordinator",
    "resources": "--resource",
}
"""The option of each cohort setting not called ``--setting-name``."""


@cohort_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The cohort's name, e.g. 'Fall 2026'.")],
    cycle: Annotated[
        str, typer.Option(help="The matching cycle whose latest run gives the pairs.")
    ],
    start: Annotated[str, typer.Option(help="Start date (the introductions go out): YYYY-MM-DD.")],
    weeks: Annotated[
        int | None, typer.Option(help="Program length; default: the curriculum's.")
    ] = None,
    timezone: Annotated[str, typer.Option(help="The cohort's IANA time zone.")] = "UTC",
    send_day: Annotated[Weekday, typer.Option(help="Weekday the topics go out.")] = Weekday.MON,
    send_time: Annotated[str, typer.Option(help="Local time the topics go out (HH:MM).")] = "09:00",
    curriculum: Annotated[
        Path | None, typer.Option(help="A curriculum folder; default: the shipped one.")
    ] = None,
    require_both: Annotated[
        bool,
        typer.Option(
            "--require-both",
            help="Pairs start only when both accept (default: unless one declines).",
        ),
    ] = False,
    response_days: Annotated[int, typer.Option(help="Days to accept or decline the match.")] = 7,
    reminder_days: Annotated[
        int, typer.Option(help="Days after the topic to remind people who have not checked in.")
    ] = 3,
    grace_days: Annotated[
        int, typer.Option(help="A topic later than this is folded into the next one.")
    ] = 2,
    coordinator: Annotated[
        str | None,
        typer.Option(help="The coordinator's e-mail: the weekly digest, and Reply-To of messages."),
    ] = None,
    coordinator_name: Annotated[
        str | None, typer.Option(help="The coordinator's name, who signs the messages.")
    ] = None,
    salutation: Annotated[
        str, typer.Option(help="The greeting of messages; {name} is the person's name.")
    ] = "Hello {name}",
    address_by: Annotated[
        AddressBy, typer.Option(help="Call people by their first name or their full name.")
    ] = AddressBy.FIRST_NAME,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            help="Local help the weeks name, as NAME=TEXT (repeatable); NAME is one of: "
            + ", ".join(r.value for r in Resource)
            + '. Example: --resource ombuds="the Ombuds Office, ombuds@example.edu".',
        ),
    ] = None,
    sender: Annotated[str, typer.Option(help="The From address of program messages.")] = (
        "Tandem mentoring <mentoring@tandem.invalid>"
    ),
    base_url: Annotated[str, typer.Option(help="Where the check-in and response links point.")] = (
        "http://localhost:8000"
    ),
    now: NowOption = None,
) -> None:
    """Turn the latest match run of a cycle into a cohort of pairs (safe to repeat)."""
    try:
        config = cohorts.CohortSettings(
            name=name,
            cycle=cycle,
            start=_date(start, "--start"),
            weeks=weeks,
            timezone=timezone,
            send_day=send_day.value,
            send_time=_time(send_time, "--send-time"),
            curriculum_dir=curriculum,
            confirmation=cohorts.Confirmation.REQUIRE_BOTH
            if require_both
            else cohorts.Confirmation.OPT_OUT,
            response_days=response_days,
            reminder_days=reminder_days,
            grace_days=grace_days,
            coordinator_email=coordinator,
            coordinator_name=coordinator_name,
            salutation=salutation,
            address_by=address_by,
            resources=parse_resources(resource or []),
            sender=sender,
            base_url=base_url,
        )
    except ValidationError as error:
        raise option_error(error, COHORT_OPTIONS) from None
    with database(ctx) as db:
        created = cohorts.create_cohort(db, config, now=now_from(now))
    verb = "Created" if created.created else "Already exists (nothing changed):"
    local = ZoneInfo(created.timezone)
    first, last = created.first_send.astimezone(local), created.last_send.astimezone(local)
    typer.echo(
        f"{verb} cohort {created.name!r} from match run {created.run_id} ({created.method}): "
        f"{plural(created.pairs, 'pair')}, "
        f"{created.weeks} weeks, introductions {first:%a %Y-%m-%d %H:%M}, "
        f"last topic {last:%a %Y-%m-%d %H:%M} ({created.timezone} time)"
    )
    if created.created:
        warn_defaults(base_url, sender)


STATUS_COLUMNS = (
    "mentee_id",
    "mentee",
    "mentor_id",
    "mentor",
    "state",
    "track",
    "met/due",
    "last_checkin",
    "risk",
)


@cohort_app.command("status")
def status(
    ctx: typer.Context,
    name: str,
    at_risk_only: Annotated[
        bool, typer.Option("--at-risk", help="Only the pairs flagged at risk.")
    ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    now: NowOption = None,
) -> None:
    """Per pair: weeks met / due, last check-in, risk, state; open requests to pause or leave.

    Participants' open requests are listed under the table (a column in CSV and JSON);
    their reasons are on the pair's page in the console."""
    with database(ctx) as db:
        pairs = reports.cohort_status(db, name, now_from(now))
    if at_risk_only:
        pairs = [p for p in pairs if p.risk]
        if not pairs and fmt is OutputFormat.TABLE:
            typer.echo(f"No pair in {name!r} is flagged at risk.")
            return
    rows = [p.as_row() for p in pairs]
    if fmt is OutputFormat.CSV:
        for row, pair in zip(rows, pairs, strict=True):
            row["requests"] = "; ".join(str(r) for r in pair.requests)
    columns = (
        STATUS_COLUMNS
        if fmt is OutputFormat.TABLE
        else (*STATUS_COLUMNS[:6], "weeks_met", "weeks_due", "last_checkin", "requests", "risk")
    )
    render_rows(rows, columns, fmt, title=f"Cohort {name}")
    if fmt is OutputFormat.TABLE:
        at_risk = sum(1 for r in rows if r["risk"])
        states: dict[str, int] = {}
        for r in rows:
            states[str(r["state"])] = states.get(str(r["state"]), 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        typer.echo(f"{plural(len(rows), 'pair')} ({summary}); {at_risk} at risk")
        echo_lines(_request_lines([r for p in pairs for r in p.requests]))


def _request_lines(requests: list[reports.OpenRequest]) -> list[str]:
    """Open requests under the status table; their reasons are for the pair's page."""
    if not requests:
        return []
    lines = [f"Open requests ({len(requests)}; reasons on each pair's page in the console):"]
    for request in requests:
        who = request.participant_id
        if request.role == Role.MENTOR.value:
            who = f"{who}, mentor of {request.mentee_id},"
        lines.append(f"  {who} {request.asks}")
    return lines


@cohort_app.command("list")
def list_command(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Every cohort: name, cycle, start, weeks and its pairs by state."""
    with database(ctx) as db:
        summaries = cohort_list.list_cohorts(db)
    if fmt is OutputFormat.TABLE and not summaries:
        typer.echo("No cohorts yet; create one with `tandem cohort create`.")
        return
    rows = [s.as_row() for s in summaries]
    if fmt is not OutputFormat.JSON:
        for row, summary in zip(rows, summaries, strict=True):
            row["by_state"] = ", ".join(f"{n} {state}" for state, n in summary.pairs.items())
    render_rows(
        rows, ("name", "cycle", "start", "weeks", "timezone", "pairs", "by_state"), fmt, "Cohorts"
    )


@cohort_app.command("deliveries")
def deliveries(ctx: typer.Context, name: str, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Messages that failed, or are being retried, for the coordinator to follow up."""
    with database(ctx) as db:
        rows = reports.delivery_problems(db, name)
    if fmt is OutputFormat.TABLE and not rows:
        typer.echo(f"No delivery problems in {name!r}: no message failed or is being retried.")
        return
    render_rows(
        rows,
        ("recipient", "week", "kind", "status", "attempts", "error"),
        fmt,
        title="Delivery problems",
    )


@cohort_app.command("rematch")
def rematch(
    ctx: typer.Context,
    name: str,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            metavar="MENTEE:MENTOR",
            help="Never propose this mentor to this mentee (repeatable).",
        ),
    ] = None,
    now: NowOption = None,
) -> None:
    """Match freed mentees (declined or ended early) to mentors with spare places.

    Pairs that stand are untouched; nobody is proposed a partner they had before, nor one
    of the --exclude pairs; mentors' places in every running cohort count against their
    capacity."""
    exclusions = [rematching.parse_exclusion(text) for text in exclude or ()]
    with database(ctx) as db:
        result = rematching.rematch(db, name, now=now_from(now), exclude=exclusions)
    typer.echo(f"{plural(result.freed, 'freed mentee')}; {len(result.paired)} newly paired")
    echo_lines(f"  {mentee} with {mentor}" for mentee, mentor in result.paired)
    if result.still_unmatched:
        typer.echo(f"still without a mentor: {', '.join(result.still_unmatched)}")


PAIR_ACTIONS = {
    "accept": "Record acceptance of a proposed match.",
    "decline": "Decline a proposed match (frees the mentee for rematch). Needs --reason.",
    "pause": "Pause a pair: no messages until resumed (a paused proposal still takes answers).",
    "resume": "Resume a paused pair: it returns to the state it was paused from.",
    "end": "End a pair early. Needs --reason.",
}
"""One command per pair action (``cohorts.PairAction``), with its help."""


def pair_outcome(change: cohorts.PairChange, cohort: str) -> str:
    """What a pair command did and what happens next, in one line."""
    pair = f"the pair of mentee {change.mentee_id} and mentor {change.mentor_id}"
    action = cohorts.PairAction
    if change.action is action.ACCEPT:
        return _accepted(change, cohort)
    if not change.changed:
        return f"Nothing changed: {pair} is {change.state.value}"
    rematch = (
        f"mentee {change.mentee_id} can be paired again with `tandem cohort rematch {cohort!r}`"
    )
    if change.action is action.DECLINE:
        who = f"{_on_behalf(change)} declined" if change.role else "Declined"
        return f"{who}: {pair} will not go ahead; {rematch}"
    if change.action is action.END:
        return f"Ended {pair} early; {rematch}"
    if change.action is action.PAUSE:
        still = "; it is still a proposal: both can still answer it" if change.proposal else ""
        return (
            f"Paused {pair}: no messages until "
            f"`tandem pair resume {cohort!r} {change.mentee_id}`{still}"
        )
    if change.proposal:
        return f"Resumed {pair}: it is proposed again, {_waiting(change)}"
    return f"Resumed {pair}: it is active again and receives its weekly messages"


def _on_behalf(change: cohorts.PairChange) -> str:
    if change.role is Role.MENTOR:
        return f"Mentor {change.mentor_id}"
    if change.role is Role.MENTEE:
        return f"Mentee {change.mentee_id}"
    return f"Mentor {change.mentor_id} and mentee {change.mentee_id}"


def _waiting(change: cohorts.PairChange) -> str:
    """Whose answer a proposal waits for, until when, and what happens without it."""
    local = change.respond_by.astimezone(ZoneInfo(change.timezone))
    answers = {
        f"{Role.MENTOR.value}'s answer ({change.mentor_id})": change.mentor_response,
        f"{Role.MENTEE.value}'s answer ({change.mentee_id})": change.mentee_response,
    }
    missing = [who for who, answer in answers.items() if answer != cohorts.MatchResponse.ACCEPTED]
    if change.confirmation is cohorts.Confirmation.REQUIRE_BOTH:
        after = "the pair starts only if both accept by then"
    else:
        after = "unless someone declines by then, the pair starts"
    return (
        f"waiting for the {' and the '.join(missing)} until "
        f"{local:%a %Y-%m-%d %H:%M} ({change.timezone}); {after}"
    )


def _accepted(change: cohorts.PairChange, cohort: str) -> str:
    """What an acceptance did: started the pair, or what the pair waits for now."""
    state = change.state
    if not change.changed and not change.proposal:
        return f"Nothing to accept: the pair of mentee {change.mentee_id} is {state.value}"
    done = f"{_on_behalf(change)} {'accepted' if change.changed else 'had already accepted'}"
    if state is cohorts.PairState.ACTIVE:
        return f"{done}; both have accepted: the pair is active"
    resume = f"`tandem pair resume {cohort!r} {change.mentee_id}`"
    if not change.proposal:  # paused, and both have accepted
        return f"{done}; both have accepted: the pair is paused, and active once resumed ({resume})"
    paused = f" (the pair is paused until {resume})" if state is cohorts.PairState.PAUSED else ""
    return f"{done}; {_waiting(change)}{paused}"


def _pair_command(action: str) -> None:
    def command(
        ctx: typer.Context,
        cohort: Annotated[str, typer.Argument(help="The cohort's name.")],
        mentee_id: Annotated[
            str, typer.Argument(metavar="MENTEE_ID", help="The mentee's id (identifies the pair).")
        ],
        reason: Annotated[str | None, typer.Option(help="Why (recorded with the change).")] = None,
        role: Annotated[
            RoleChoice | None, typer.Option(help="On whose behalf (default: the coordinator).")
        ] = None,
        now: NowOption = None,
    ) -> None:
        with database(ctx) as db:
            change = cohorts.change_pair(
                db,
                cohort,
                mentee_id,
                cohorts.PairAction(action),
                actor=role.value if role else "coordinator",
                now=now_from(now),
                reason=reason,
                role=Role(role.value) if role else None,
            )
        typer.echo(pair_outcome(change, cohort))

    command.__doc__ = PAIR_ACTIONS[action]
    pair_app.command(action)(command)


for _action in PAIR_ACTIONS:
    _pair_command(_action)


@pair_app.command("slot")
def slot(
    ctx: typer.Context,
    cohort: str,
    mentee_id: Annotated[str, typer.Argument(metavar="MENTEE_ID")],
    day: Annotated[Weekday, typer.Option(help="Weekday the pair meets.")],
    at: Annotated[str, typer.Option("--time", help="Local meeting time (HH:MM).")],
    minutes: Annotated[int, typer.Option(help="Meeting length.")] = 45,
    timezone: Annotated[
        str | None, typer.Option(help="The slot's time zone (default: the cohort's).")
    ] = None,
    now: NowOption = None,
) -> None:
    """Record the pair's agreed weekly slot: weekly messages then carry an .ics invitation."""
    from tandem.prompts.render import format_date

    with database(ctx) as db:
        recorded = cohorts.set_meeting_slot(
            db,
            cohort,
            mentee_id,
            weekday=list(Weekday).index(day),
            at=_time(at, "--time"),
            minutes=minutes,
            timezone=timezone,
            now=now_from(now),
        )
    if recorded.invitation_week is None or recorded.invitation_day is None:
        when = "the pair has no weekly message left to carry an invitation"
    else:
        when = (
            f"the first invitation goes with the week {recorded.invitation_week} message "
            f"on {format_date(recorded.invitation_day)}"
        )
    typer.echo(f"Meeting slot set: {day.value} {at} for {minutes} minutes; {when}")


def tick(
    ctx: typer.Context,
    now: NowOption = None,
    delivery: DeliveryOption = DEFAULT_DELIVERY,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes that share a cohort's pairs (default: one per core for cohorts "
            "of 4,000 pairs or more, else 1).",
        ),
    ] = None,
    keys: LinkKeysOption = Path(DEFAULT_KEYS_FILE),
) -> None:
    """Do all due work once: lifecycle, risk flags, messages, reminders, surveys, digests, delivery."""
    from tandem.program.link_keys import read_link_keys
    from tandem.program.outbox.channels import channel_from_url

    channel = channel_from_url(delivery)
    link_keys = read_link_keys(link_keys_path(ctx, keys))
    bar, update = progress_bar()
    with database(ctx) as db, bar:
        report = ticks.run_due(
            db, now_from(now), channel, progress=update, workers=workers, link_keys=link_keys
        )
    echo_lines(report.lines())


def scheduler_run(
    ctx: typer.Context,
    delivery: DeliveryOption = DEFAULT_DELIVERY,
    every: Annotated[
        float, typer.Option(min=0.01, help="Minutes between ticks (fractions allowed).")
    ] = 5,
    keys: LinkKeysOption = Path(DEFAULT_KEYS_FILE),
) -> None:
    """Run the scheduler until SIGTERM/SIGINT; several may serve one database (one ticks)."""
    import logging

    from tandem.program.scheduler import run_scheduler

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from tandem.program.outbox.channels import channel_from_url

    channel_from_url(delivery)  # fail fast on a bad URL
    keys = link_keys_path(ctx, keys)
    run_scheduler(settings(ctx).db_url, delivery, every, str(keys.resolve()))


@checkin_app.command("add")
def checkin_add(
    ctx: typer.Context,
    cohort: str,
    mentee: Annotated[str, typer.Option(help="The mentee's id (identifies the pair).")],
    week: Annotated[int, typer.Option(help="Program week (1 …).")],
    role: Annotated[RoleChoice, typer.Option(help="Whose check-in this is.")],
    met: Annotated[bool, typer.Option("--met/--not-met", help="Did the pair meet this week?")],
    minutes: Annotated[int | None, typer.Option(help="How long they met.")] = None,
    mode: Annotated[str | None, typer.Option(help="video, phone, in_person or async.")] = None,
    topic: Annotated[str | None, typer.Option(help="What they discussed.")] = None,
    rating: Annotated[int | None, typer.Option(help="How it went, 1–5.")] = None,
    note: Annotated[
        str | None, typer.Option(help="For coordinators only; never in reports.")
    ] = None,
    now: NowOption = None,
) -> None:
    """Record one person's check-in for one week (repeat to correct it)."""
    answers = checkins.CheckinAnswers.parse(
        met=met, minutes=minutes, mode=mode, topic=topic, rating=rating, note=note
    )
    with database(ctx) as db:
        outcome = checkins.add_checkin(
            db, cohort, mentee, week, Role(role.value), answers, now=now_from(now)
        )
    typer.echo(f"Check-in {outcome}: week {week}, {role.value} of mentee {mentee}'s pair")


@checkin_app.command("import")
def checkin_import(
    ctx: typer.Context,
    cohort: str,
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV/XLSX/JSON: email, week, met; minutes, mode, topic, rating, note, "
            "q_<question id>; partner_email where a mentor has several mentees."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report; store nothing.")
    ] = False,
    now: NowOption = None,
) -> None:
    """Import check-ins exported from a survey tool (atomic; safe to repeat)."""
    with database(ctx) as db:
        report = checkins.import_checkins(db, cohort, path, now=now_from(now), dry_run=dry_run)
    typer.echo(
        f"{path.name}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged check-ins"
        + (" (dry run: nothing stored)" if dry_run else "")
    )


CHECKIN_COLUMNS = (
    "week",
    "mentee_id",
    "mentee",
    "mentor_id",
    "mentor",
    "role",
    "met",
    "minutes",
    "mode",
    "rating",
    "topic",
    "answers",
    "note",
    "source",
    "recorded_at",
)


@checkin_app.command("list")
def checkin_list(
    ctx: typer.Context,
    cohort: str,
    week: Annotated[int | None, typer.Option(help="Only this program week.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List recorded check-ins, notes included (for coordinators; reports never show notes)."""
    with database(ctx) as db:
        found = checkins.list_checkins(db, cohort, week)
    if fmt is OutputFormat.TABLE and found:
        render_rows(
            [_checkin_cells(r) for r in found],
            ("week", "pair", "role", "check-in", "note", "recorded"),
            fmt,
            title=f"Check-ins, {cohort}",
        )
        return
    rows = [r.as_row() for r in found]
    if fmt is not OutputFormat.JSON:
        for row in rows:
            answers = row["answers"]
            assert isinstance(answers, dict)
            row["answers"] = (
                ", ".join(f"{k}={v}" for k, v in answers.items())
                if fmt is OutputFormat.TABLE
                else json.dumps(answers, sort_keys=True)
                if answers
                else None
            )
    if fmt is OutputFormat.TABLE and not rows:
        typer.echo(f"No check-ins recorded in {cohort!r}" + (f" for week {week}" if week else ""))
        return
    render_rows(rows, CHECKIN_COLUMNS, fmt, title=f"Check-ins, {cohort}")


def _checkin_cells(row: checkins.CheckinRow) -> dict[str, object]:
    """A check-in as a table shows it: six columns that read at 100 columns (the pair on two
    lines, mentee then mentor; the answers in one cell; when, and how it came in)."""
    if row.met:
        said = ", ".join(
            part
            for part in (
                "met",
                f"{row.minutes} min" if row.minutes is not None else "",
                row.mode or "",
                f"rated {row.rating}" if row.rating is not None else "",
            )
            if part
        )
    else:
        said = "did not meet"
    lines = [said]
    if row.topic:
        lines.append(f"topic: {row.topic}")
    if row.answers:
        lines.append(", ".join(f"{k}={v}" for k, v in row.answers.items()))
    return {
        "week": row.week,
        "pair": f"{row.mentee_id} {row.mentee}\n{row.mentor_id} {row.mentor}",
        "role": row.role,
        "check-in": "\n".join(lines),
        "note": row.note,
        "recorded": f"{row.recorded_at:%Y-%m-%d %H:%M}\n{row.source}",
    }


def register(app: typer.Typer) -> None:
    app.add_typer(cohort_app, name="cohort")
    app.add_typer(pair_app, name="pair")
    app.add_typer(checkin_app, name="checkin")
    app.command("tick")(tick)
    scheduler_app.command("run")(scheduler_run)
    app.add_typer(scheduler_app, name="scheduler")
