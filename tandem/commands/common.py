"""Options and rendering shared by every command group, defined once."""

from __future__ import annotations

import getpass
import importlib.util
import io
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tandem.errors import FileAccessError, TandemError

if TYPE_CHECKING:
    from sqlalchemy import Engine

DEFAULT_DB = "sqlite:///tandem.db"

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="TANDEM_DB",
        help="Database URL: sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/NAME.",
        show_default=True,
    ),
]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", help="table for people; json or csv for scripts."),
]


@dataclass(frozen=True)
class Settings:
    """What the root callback parsed, handed to every command through ``ctx.obj``."""

    db_url: str


@contextmanager
def database(ctx: typer.Context) -> Iterator[Engine]:
    """The database named by ``--db``, schema brought up to date, closed afterwards."""
    from tandem.program.storage.db import open_database

    engine = open_database(settings(ctx).db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


OUTPUT_WIDTH = 100
"""Columns of output when not on a terminal and ``COLUMNS`` is not set."""


def console(stderr: bool = False) -> Console:
    """A Rich console: a terminal's own width; elsewhere ``COLUMNS``, else 100 columns."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else OUTPUT_WIDTH
    return Console(stderr=stderr, width=width, highlight=False)


TEXT_COLUMNS = frozenset(
    {
        "answers",
        "by_state",
        "certificate",
        "check-in",
        "cohort",
        "competency",
        "decision",
        "details",
        "eligible",
        "error",
        "evidence",
        "institution",
        "kind of answer",
        "mentee",
        "mentor",
        "name",
        "note",
        "pair",
        "reason",
        "risk",
        "text",
        "topic",
        "unmet",
        "value",
    }
)
"""Table columns of prose (names, reasons, notes, topics): they wrap to fit the width.
Every other column holds ids, dates, numbers or single words and never wraps, so an id
or a date is never split across lines."""


def render_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: OutputFormat,
    title: str | None = None,
) -> None:
    """Print rows as a Rich table, JSON (a list of objects) or CSV (spreadsheet-safe).

    In a table an id column followed by the name it identifies (``mentee_id``,
    ``mentee``) share one column (``E001 Hana Nakamura``), and only the
    :data:`TEXT_COLUMNS` wrap, so a table reads at 100 columns.
    """
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=2))
        return
    if fmt is OutputFormat.CSV:
        from tandem.program.roster.files import write_csv_rows

        buffer = io.StringIO()
        write_csv_rows(buffer, columns, ([row.get(c) for c in columns] for row in rows))
        typer.echo(buffer.getvalue(), nl=False)
        return
    ids = {c for c in columns if c.endswith("_id") and c.removesuffix("_id") in columns}
    shown = [c for c in columns if c not in ids]
    table = Table(title=title)
    for column in shown:
        if column in TEXT_COLUMNS:
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, no_wrap=True)
    for row in rows:
        cells = []
        for column in shown:
            cell = _cell(row.get(column))
            if f"{column}_id" in ids:
                cell = " ".join(part for part in (_cell(row.get(f"{column}_id")), cell) if part)
            cells.append(cell)
        table.add_row(*cells)
    console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def echo_lines(lines: Iterable[str], err: bool = False) -> None:
    for line in lines:
        typer.echo(line, err=err)


EARLIEST_NOW = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_NOW = datetime(9001, 1, 1, tzinfo=UTC)
"""The instants ``--now`` accepts, from the first up to (not including) the second: far
enough from year 1 and 9999 that every date a command works out from it (a program's weeks,
a retention period, a key's lifetime) is still a date Python can hold."""


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    out_of_range = typer.BadParameter(
        f"{value!r} is outside the range accepted, {EARLIEST_NOW:%Y-%m-%d} to "
        f"{END_OF_NOW - timedelta(days=1):%Y-%m-%d} (UTC)",
        param_hint="--now",
    )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date and time; give e.g. 2027-02-01T09:00 or 2027-02-01",
            param_hint="--now",
        ) from None
    try:
        instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is a day before year 1 in UTC
        raise out_of_range from None
    if not EARLIEST_NOW <= instant < END_OF_NOW:
        raise out_of_range
    return instant


def _checked_now(value: str | None) -> str | None:
    """``--now`` is checked as the command line is read, before a command does any work."""
    _parse_now(value)
    return value


NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as if it were this instant (ISO date-time; UTC unless an offset is given). "
        "Default: the current time.",
        callback=_checked_now,
    ),
]


def now_from(value: str | None) -> datetime:
    """The instant a command acts at: ``--now`` or the clock (the CLI is allowed to read it)."""
    return _parse_now(value) or datetime.now(UTC)


DeliveryOption = Annotated[
    str,
    typer.Option(
        "--delivery",
        envvar="TANDEM_DELIVERY",
        help="Where messages go: file:FOLDER (one .eml per message) or "
        "smtp://USER@HOST:PORT?security=starttls&password_env=VAR (password from that variable).",
        show_default=True,
    ),
]
DEFAULT_DELIVERY = "file:outbox"


LinkKeysOption = Annotated[
    Path,
    typer.Option(
        "--keys",
        envvar="TANDEM_KEYS",
        help="Key file holding the keys that sign participants' links (mode 0600).",
        show_default=True,
    ),
]


def link_keys_path(ctx: typer.Context, keys: Path) -> Path:
    """``--keys`` of a command that signs or checks participants' links. A key file that
    ``--keys`` or TANDEM_KEYS names must exist; only the default one may be missing (a
    deployment whose cohorts keep their own secrets in the database)."""
    source = ctx.get_parameter_source("keys")
    if source is not None and source.name != "DEFAULT" and not keys.exists():
        given = "TANDEM_KEYS" if source.name == "ENVIRONMENT" else "--keys"
        raise TandemError(
            f"{given}: the key file {keys} does not exist; create it with "
            f"`tandem keys init --keys {keys}`"
        )
    return keys


def progress_bar() -> tuple[Progress, Callable[[str, int, int], None]]:
    """A transient Rich progress display and the ``progress(stage, done, total)`` callback
    that library functions take; one bar per stage."""
    err = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=err,
        disable=not err.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def lazy_module(name: str) -> ModuleType:
    """``name``, imported on first attribute access: command modules use it for library
    modules that take long to import, so that ``tandem --help`` and every other command
    start fast."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        # As a normal import would: ``import a.b`` then ``a.b.x`` must find ``b`` on ``a``.
        setattr(importlib.import_module(parent), child, module)
    loader.exec_module(module)
    return module


def actor_name() -> str:
    """Who runs the command, for the audit log: the login name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "coordinator"


ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar="TANDEM_ACTOR",
        help="Who is acting, for the audit log (default: the login name).",
    ),
]


# --- output files: every file a command writes goes through these -------------------------


def check_output_file(path: Path) -> None:
    """Raise one clear TandemError now if ``path`` cannot be written as a file (before any
    work is done or recorded): a folder, a folder that does not exist, a path through a
    file, a folder or file not permitted to write."""
    if path.is_dir():
        raise FileAccessError(path, IsADirectoryError(), writing=True)
    if not (path.exists() and not path.is_file()):  # a device or a pipe is written in place
        _check_parent(path, path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise FileAccessError(path, PermissionError(), writing=True)


def check_output_folder(path: Path) -> None:
    """As :func:`check_output_file`, for a folder a command writes its files into (created
    when missing; the folder above it must exist)."""
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise TandemError(
                f"{path}: not permitted to write in this folder; check its permissions"
            )
        return
    if path.exists():
        raise TandemError(f"{path}: is a file; give the path of a folder")
    _check_parent(path, path.parent)


def _check_parent(path: Path, parent: Path) -> None:
    if not parent.exists():
        raise FileAccessError(path, FileNotFoundError(), writing=True)
    if not parent.is_dir():
        raise FileAccessError(path, NotADirectoryError(), writing=True)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise TandemError(
            f"{path}: not permitted to write in the folder {parent}; check its permissions"
        )


@contextmanager
def output_file(path: Path, *, personal: bool) -> Iterator[BinaryIO]:
    """A binary file to write a command's output into, in place of ``path`` when the block
    ends without an error (and never otherwise: a failed command leaves no half-written
    file, and an earlier file stays as it was).

    ``personal``: the file holds personal data, and is created readable and writable by
    its owner only (mode 0600), as the database is. Raises one clear TandemError (never a
    traceback) when the file cannot be written: see :func:`check_output_file`.
    """
    check_output_file(path)
    mode = 0o600 if personal else 0o666
    if path.exists() and not path.is_file():
        # A device or a pipe (/dev/stdout, a named pipe) is written in place.
        with _writing(path), open(path, "wb") as device:
            yield device
        return
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with _writing(path):
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with _writing(path), os.fdopen(descriptor, "wb") as handle:
            yield handle
        with _writing(path):
            os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise FileAccessError(path, error, writing=True) from None


def write_output(path: Path, content: str | bytes, *, personal: bool) -> None:
    """Write a command's whole output file (text as UTF-8): see :func:`output_file`."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with output_file(path, personal=personal) as handle:
        handle.write(data)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 pair``, ``2 pairs``; ``words`` for an irregular plural (``person``, ``people``)."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def option_error(error: Any, options: Mapping[str, str]) -> typer.BadParameter:
    """A pydantic ValidationError of a command's settings as the one line a person reads:
    the first problem, named by its option (``options`` maps a field to its option when it
    is not ``--field-name``), without the value (it may not fit on one line)."""
    item = error.errors()[0]
    field = str(item["loc"][0]) if item["loc"] else ""
    message = str(item["msg"]).removeprefix("Value error, ").rstrip(".")
    message = message[:1].lower() + message[1:]
    option = options.get(field, "--" + field.replace("_", "-"))
    return typer.BadParameter(message, param_hint=option)


def warn_defaults(base_url: str, sender: str) -> None:
    """Warn (on stderr) when a new cohort's links and sender are the defaults meant for
    trying Tandem out: a real program's messages would link to this machine."""
    from tandem.program.voice import DEFAULT_BASE_URL, DEFAULT_SENDER

    unset = [
        option
        for option, value, default in (
            ("--base-url", base_url, DEFAULT_BASE_URL),
            ("--sender", sender, DEFAULT_SENDER),
        )
        if value == default
    ]
    if unset:
        typer.echo(
            f"warning: {' and '.join(unset)} left as the defaults for trying Tandem out "
            f"({DEFAULT_BASE_URL}, {DEFAULT_SENDER}); for a real program set "
            f"{'them' if len(unset) > 1 else 'it'} with `tandem cohort set`",
            err=True,
        )
