"""A command line that cannot be run as given is one line on stderr and exit 2, never
Typer's usage box; ``--help`` is Typer's own."""

from __future__ import annotations

import pytest

from tests.conftest import Tandem

CASES: list[tuple[list[str], str]] = [
    (
        ["tick", "--now", "garbage"],
        "--now: 'garbage' is not a date and time; give e.g. 2027-02-01T09:00 or 2027-02-01",
    ),
    (["participants", "list", "--role", "boss"], "--role: 'boss' is not one of 'mentor', 'mentee'"),
    (
        ["pair", "slot", "Fall", "E1", "--day", "funday", "--time", "09:00"],
        "--day: 'funday' is not one of 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'",
    ),
    (
        ["pair", "slot", "Fall", "E1", "--day", "mon", "--time", "noonish"],
        "--time: 'noonish' is not a time of day; give e.g. 09:00",
    ),
    (
        ["cohort", "create", "Fall", "--cycle", "2026", "--start", "soon"],
        "--start: 'soon' is not a date; give e.g. 2026-09-07",
    ),
    *(
        (["cohort", "create", "Fall", "--cycle", "2026", "--start", "2026-09-07", *extra], error)
        for extra, error in [
            (["--weeks", "100000"], "--weeks: input should be less than or equal to 104"),
            (
                ["--weeks", "99999999999999999999"],
                "--weeks: input should be less than or equal to 104",
            ),
            (["--weeks", "0"], "--weeks: input should be greater than or equal to 1"),
            (
                ["--response-days", "99999999999"],
                "--response-days: input should be less than or equal to 60",
            ),
            (["--grace-days", "-1"], "--grace-days: input should be greater than or equal to 0"),
        ]
    ),
    *(
        (
            ["cohort", "create", "Fall", "--cycle", "2026", "--start", start],
            f"--start: {start} is outside the range accepted, 1970-01-01 to 9000-12-31",
        )
        for start in ["0001-01-01", "9999-12-20", "1969-12-31", "9001-01-01"]
    ),
    (
        ["keys", "rotate-links", "--keep-days", "99999999999999999999"],
        "--keep-days: Input should be less than or equal to 3650",
    ),
    (["report", "Fall", "--format", "xlsx"], "--out: an XLSX workbook needs --out FILE.xlsx"),
    (
        ["participants", "list", "--bogus"],
        "No such option: --bogus; see `tandem participants list --help`",
    ),
    (["frobnicate"], "No such command 'frobnicate'; see `tandem --help`"),
    (["--bogus"], "No such option: --bogus; see `tandem --help`"),
    (
        ["certify", "grant", "Fall", "M1"],
        "Missing option '--reason'; see `tandem certify grant --help`",
    ),
]


@pytest.mark.parametrize(("arguments", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_command_line_that_cannot_run_is_one_line(
    tandem: Tandem, db_url: str, arguments: list[str], expected: str
) -> None:
    result = tandem(*arguments, db=db_url, expect=2)
    assert result.stdout == ""
    assert result.stderr == f"Error: {expected}\n"


def test_help_is_typers_own(tandem: Tandem) -> None:
    shown = tandem("participants", "list", "--help")
    assert "Usage:" in shown.stdout and "--role" in shown.stdout
    bare = tandem("match", "config", expect=None)
    assert "Usage:" in bare.output and "show" in bare.output


OUT_OF_RANGE_NOW = ["0001-01-01", "9999-12-31T23:59", "0001-01-01T00:00+14:00", "1969-12-31"]
COMMANDS_WITH_NOW = [
    ["tick"],
    ["match", "--cycle", "c"],
    ["cohort", "status", "Fall"],
    ["purge", "--dry-run"],
    ["verify", "cert.json"],
]


@pytest.mark.parametrize("now", OUT_OF_RANGE_NOW)
@pytest.mark.parametrize("command", COMMANDS_WITH_NOW, ids=" ".join)
def test_now_outside_the_dates_commands_can_work_with_is_one_line(
    tandem: Tandem, db_url: str, command: list[str], now: str
) -> None:
    result = tandem(*command, "--now", now, db=db_url, expect=2)
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: --now: {now!r} is outside the range accepted, 1970-01-01 to 9000-12-31 (UTC)\n"
    )


@pytest.mark.parametrize("now", ["1970-01-01", "9000-12-31T23:59:59.9", "9000-12-31T09:00+02:00"])
def test_now_at_the_ends_of_the_range_is_accepted(tandem: Tandem, db_url: str, now: str) -> None:
    assert "Would erase 0 people" in tandem("purge", "--dry-run", "--now", now, db=db_url).stdout


@pytest.mark.parametrize("months", ["99999999999999999999", "1201", "0"])
def test_a_retention_period_purge_cannot_work_out_is_one_line(
    tandem: Tandem, db_url: str, months: str
) -> None:
    result = tandem("purge", "--months", months, "--dry-run", db=db_url, expect=1)
    assert result.stderr == (
        f"Error: --months: {months} is outside the range accepted; give 1 to 1200 months "
        "(100 years)\n"
    )
