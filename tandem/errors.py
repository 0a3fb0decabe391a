"""The one base class for every error Tandem reports to a person.

Each package has its own ``errors.py`` whose classes derive from :class:`TandemError`. A
``TandemError`` carries a complete, human message (what went wrong, where, how to fix it);
the CLI prints it to stderr and exits non-zero. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path


class TandemError(Exception):
    """An expected failure whose message is meant for the person running Tandem."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as possible.

    ``row`` is the row a person sees in a spreadsheet (the header is row 1); ``column`` is
    the column's name. Rendered as ``file, row 3, column "email": message``.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f'column "{self.column}"')
        return f"{', '.join(where)}: {self.message}"


MAX_LISTED = 50
"""Problems spelled out in one error message; the rest are counted."""


def describe_problems(problems: Sequence[Problem], outcome: str = "") -> str:
    """The one rendering of a file's problems: a single problem is one line (``file, row
    3, column "x": message; outcome``); several get a headline (``file: 3 problems;
    outcome``) and one indented line each, at most :data:`MAX_LISTED` of them."""
    if len(problems) == 1:
        return f"{problems[0]}; {outcome}" if outcome else str(problems[0])
    files = list(dict.fromkeys(p.file for p in problems))
    headline = f"{', '.join(files)}: {len(problems)} problems"
    lines = [headline + (f"; {outcome}" if outcome else "")]
    lines.extend(f"  {problem}" for problem in problems[:MAX_LISTED])
    if len(problems) > MAX_LISTED:
        lines.append(f"  … and {len(problems) - MAX_LISTED} more")
    return "\n".join(lines)


class FileAccessError(TandemError):
    """A file named on the command line cannot be read or written (missing, a folder,
    not permitted, …); the message names the file and what to do."""

    def __init__(self, path: PathLike[str] | str, error: OSError, *, writing: bool = False) -> None:
        if writing and type(error) is FileNotFoundError:
            # Named: "the folder reports/2026 does not exist", not just "a folder".
            folder = Path(path).parent
            super().__init__(f"{path}: the folder {folder} does not exist; create it first")
            return
        super().__init__(f"{path}: {os_error_message(error, writing=writing)}")


def os_error_message(error: OSError, *, writing: bool = False) -> str:
    """Why a file could not be read (or written) and how to fix it, in one phrase. The
    operating system's own message is not repeated: it may name other paths."""
    if isinstance(error, IsADirectoryError):
        return "is a folder; give the path of a file"
    if isinstance(error, FileNotFoundError):
        if writing:
            return "the folder to write into does not exist; create it first"
        return "file not found; check the path"
    if isinstance(error, NotADirectoryError):
        return "part of the path is a file, not a folder; check the path"
    if isinstance(error, PermissionError):
        return f"not permitted to {'write' if writing else 'read'} this file; check its permissions"
    verb = "written" if writing else "read"
    return f"cannot be {verb} ({error.strerror or type(error).__name__})"


def csv_error_message(error: csv.Error) -> str:
    """What the csv module could not read, in one phrase: a cell over its size limit (most
    often the rest of the file after a quote that is never closed), or its own words."""
    if str(error).startswith("field larger than field limit"):
        return (
            f"a cell is longer than {csv.field_size_limit():,} characters; check for a "
            'quote (") that is never closed'
        )
    return f"not a valid CSV file: {error}"


TOML_ERRORS = (ValueError, RecursionError)
"""What reading a TOML text can raise for its content: a syntax error (a ValueError), an
integer too long to convert (a ValueError), nesting too deep, a file that is not UTF-8."""


def toml_error_message(error: Exception) -> str:
    """Why a text is not TOML, in one phrase: every TOML reader says it alike."""
    import tomllib  # only a reader that failed needs it

    if isinstance(error, tomllib.TOMLDecodeError):
        return f"not valid TOML: {error}"
    if isinstance(error, RecursionError):
        return "not valid TOML: arrays or tables nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not valid TOML: save it as UTF-8"
    return "not valid TOML: a number has more than 4,300 digits"  # int() refuses more


def json_error_message(error: ValueError) -> str:
    """Why a text is not JSON, in one phrase without Python's advice: where the parser
    stopped, or a number too long to read."""
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}, column {error.colno}"
    text = str(error)
    if "integer string conversion" in text:
        return "a number has more than 4,300 digits"
    return (text.strip().splitlines() or [type(error).__name__])[0][:200]


def quoted(value: str, limit: int = 60) -> str:
    """``value`` as an error message quotes what a person typed: in double quotes when it
    is short and printable, else escaped and cut (a pasted page or a line break must not
    become the message)."""
    if len(value) <= limit and value.isprintable():
        return f'"{value}"'
    shown = repr(value[:limit])[1:-1]
    return f'"{shown}…" ({len(value):,} characters)' if len(value) > limit else f'"{shown}"'
