"""`tandem match`, `tandem match explain`, `tandem match config show`."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tandem.commands.common import (
    NowOption,
    OutputFormat,
    check_output_file,
    console,
    database,
    lazy_module,
    now_from,
    plural,
    progress_bar,
    render_rows,
    write_output,
)
from tandem.errors import FileAccessError
from tandem.matcher import (
    MatcherError,
    Method,
    Objective,
    default_config,
    load_config,
)
from tandem.matcher.config import config_to_commented_toml

if TYPE_CHECKING:
    from tandem.program import explanations
    from tandem.program import runs as matching
else:
    matching = lazy_module("tandem.program.runs")
    explanations = lazy_module("tandem.program.explanations")


class ExplainFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class Side(StrEnum):
    MENTEE = "mentee"
    MENTOR = "mentor"


match_app = typer.Typer(
    help="Match mentees to mentors: optimal (min-cost flow, with a proof) or stable.",
    invoke_without_command=True,
)
UNMATCHED_SHOWN = 25
"""Unmatched mentees listed on screen; the output file has every one."""

config_app = typer.Typer(help="The matching configuration.", no_args_is_help=True)


def _read(path: Path | None) -> tuple[str, str] | None:
    if path is None:
        return None
    try:
        return path.name, path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FileAccessError(path, exc) from None
    except UnicodeDecodeError:
        raise MatcherError(f"{path.name}: file is not UTF-8; save it as UTF-8 text") from None


ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="A TOML matching configuration.")
]


@match_app.callback()
def match(
    ctx: typer.Context,
    cycle: Annotated[str | None, typer.Option(help="The matching cycle's name, e.g. 2026.")] = None,
    config: ConfigOption = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="CSV mentee_id,mentor_id,score: your own compatibility, any scale ≥ 0 "
            "(above 100 it is read ÷ 10, ÷ 100 … onto 0–100)."
        ),
    ] = None,
    preferences: Annotated[
        Path | None, typer.Option(help="CSV participant_id,candidate_id,rank (1 = best).")
    ] = None,
    method: Annotated[
        Method, typer.Option(help="optimal (best total) or stable.")
    ] = Method.OPTIMAL,
    optimal: Annotated[
        Side,
        typer.Option("--optimal", help="For --method stable: whose optimal stable matching."),
    ] = Side.MENTEE,
    objective: Annotated[
        Objective | None, typer.Option(help="total, or maximin (best worst pair first).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the pairs to F.csv or F.json.")] = None,
    now: NowOption = None,
) -> None:
    """Run a matching cycle on the stored roster and store it."""
    if ctx.invoked_subcommand is not None:
        return
    if cycle is None:
        raise typer.BadParameter("name the matching cycle: --cycle NAME", param_hint="--cycle")
    from tandem.program.roster.store import check_cycle_name

    cycle = check_cycle_name(cycle)
    from tandem.matcher import Proposer

    request = matching.MatchRequest(
        cycle=cycle,
        config_text=(_read(config) or (None, None))[1],
        config_name=config.name if config else "default_config.toml",
        scores=_read(scores),
        preferences=_read(preferences),
        method=method,
        optimal_side=Proposer.MENTEES if optimal is Side.MENTEE else Proposer.MENTORS,
        objective=objective,
    )
    if out is not None:
        kind = matching.result_format(out)
        check_output_file(out)
    bar, progress = progress_bar()

    with database(ctx) as engine, bar:
        summary = matching.run_match(engine, request, now=now_from(now), progress=progress)
    if out is not None:
        write_output(out, matching.result_file(summary, kind), personal=True)
    out_console = console()
    out_console.print(
        f"Match run {summary.run_id} for cycle {summary.cycle!r} ({summary.method}"
        + (f", objective {summary.objective}" if summary.objective else "")
        + f"): {summary.matched} of {summary.mentees} mentees matched; "
        f"{summary.mentors} mentors with {summary.capacity} places"
    )
    if summary.scores:
        s = summary.scores
        out_console.print(
            f"Scores: total {summary.total_score:.2f}; min {s['min']}, q1 {s['q1']}, median {s['median']}, "
            f"q3 {s['q3']}, max {s['max']}"
        )
    kind = summary.proof.get("kind", "")
    out_console.print(
        f"Optimality: {kind}; blocking pairs against the preferences: {summary.blocking_pairs}"
    )
    render_rows(
        [{"load/capacity": k, "mentors": v} for k, v in summary.mentor_load.items()],
        ("load/capacity", "mentors"),
        _table(),
        title="Mentor load",
    )
    if summary.unmatched:
        shown = summary.unmatched[:UNMATCHED_SHOWN]
        render_rows(shown, ("mentee_id", "reason"), _table(), title="Unmatched mentees")
        if len(summary.unmatched) > len(shown):
            more = len(summary.unmatched) - len(shown)
            where = f" (all in {out})" if out else "; use --out FILE for all of them"
            out_console.print(f"… and {more} more unmatched mentees{where}")
    if summary.shortfall:
        out_console.print(
            f"Capacity shortfall: at least {plural(summary.shortfall, 'more mentor place')} "
            "would be needed"
        )
    if out is not None:
        out_console.print(f"Pairs written to {out}")


def _table() -> OutputFormat:
    return OutputFormat.TABLE


@match_app.command("explain")
def explain_command(
    ctx: typer.Context,
    mentee_id: Annotated[str, typer.Argument(metavar="MENTEE_ID")],
    mentor: Annotated[str | None, typer.Option(help="Also explain why not this mentor.")] = None,
    cycle: Annotated[str | None, typer.Option(help="The cycle (default: the latest run).")] = None,
    fmt: Annotated[
        ExplainFormat, typer.Option("--format", help="table for people; json for scripts.")
    ] = ExplainFormat.TABLE,
    as_json: Annotated[
        bool, typer.Option("--json", hidden=True, help="The same as --format json.")
    ] = False,
) -> None:
    """Why this mentor (score components), why not another, and the top alternatives."""
    with database(ctx) as engine:
        result = explanations.explain(engine, mentee_id, mentor_id=mentor, cycle=cycle)
    if as_json or fmt is ExplainFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "run": result.run_id,
                    "cycle": result.cycle,
                    "roster_changed": result.roster_changed,
                    "mentee": result.mentee.model_dump(mode="json"),
                    "why_not": result.why_not.model_dump(mode="json") if result.why_not else None,
                    "mentee_names": result.mentee_names,
                    "mentor_names": result.mentor_names,
                    "unmatched_reason": result.unmatched_reason,
                },
                indent=2,
            )
        )
        return
    out = console()
    if result.roster_changed:
        out.print("Note: the roster changed since this run; the explanation uses today's profiles.")
    info = result.mentee

    def mentor_text(mentor_id: str) -> str:
        name = result.mentor_names.get(mentor_id)
        return f"{mentor_id} ({name})" if name else mentor_id

    mentee_text = f"{info.mentee_id} ({result.mentee_names.get(info.mentee_id, '')})".replace(
        " ()", ""
    )
    if info.pair is not None and info.mentor_id is not None:
        out.print(
            f"Mentee {mentee_text} is paired with {mentor_text(info.mentor_id)} "
            f"(score {info.pair.score:.2f} of 100)."
        )
        render_rows(
            [
                {
                    "criterion": c.name,
                    "weight": c.weight,
                    "value": "n/a" if c.value is None else f"{c.value:.2f}",
                    "reason": c.reason,
                }
                for c in info.pair.components
            ],
            ("criterion", "weight", "value", "reason"),
            _table(),
            title="Why this mentor",
        )
    elif result.unmatched_reason is not None:
        out.print(f"Mentee {mentee_text} is unmatched: {result.unmatched_reason}.")
    if info.alternatives:
        render_rows(
            [
                {
                    "mentor_id": a.mentor_id,
                    "mentor": result.mentor_names.get(a.mentor_id, ""),
                    "score": f"{a.score:.2f}",
                    "has room": "yes" if a.spare_capacity else "no",
                }
                for a in info.alternatives
            ],
            ("mentor_id", "mentor", "score", "has room"),
            _table(),
            title="Top alternatives",
        )
    if result.why_not is not None:
        w = result.why_not
        if w.forbidden_by:
            rules = w.forbidden_because or w.forbidden_by
            out.print(f"Not {mentor_text(w.mentor_id)}: forbidden by {'; '.join(rules)}.")
        else:
            against = (
                f" ({w.score_difference:+.2f} against the assigned mentor)"
                if w.score_difference is not None
                else ""
            )
            out.print(f"Not {mentor_text(w.mentor_id)}: score {w.score:.2f}{against}.")
            if w.swap is not None:
                moved = (
                    _displaced(w.swap.displaced_mentee_id, w.swap.displaced_to, mentor_text)
                    if w.swap.displaced_mentee_id
                    else "; the mentor has room"
                )
                out.print(
                    f"Swapping would change the cohort's total by {w.swap.change:+.2f}{moved}."
                )


def _displaced(mentee_id: str, mentor_id: str | None, mentor_text: Callable[[str], str]) -> str:
    """What happens to the mentee a swap moves out of the mentor's places."""
    if mentor_id is None:
        return f"; {mentee_id} would be left without a mentor"
    return f"; {mentee_id} would move to {mentor_text(mentor_id)}"


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the configuration in force (the default, or --config FILE validated)."""
    read = _read(config)
    loaded = load_config(read[1], read[0]) if read else default_config()
    source = config.name if config else "default_config.toml (the shipped defaults)"
    typer.echo(config_to_commented_toml(loaded, source), nl=False)


def register(app: typer.Typer) -> None:
    match_app.add_typer(config_app, name="config")
    app.add_typer(match_app, name="match")
