"""Reading and writing the spreadsheets coordinators exchange with Tandem (CSV, XLSX, JSON).

Reading turns a file into :class:`RawRow` records (column → text, with the row number a
person sees in a spreadsheet: the header is row 1). Writing neutralises cells that a
spreadsheet would execute as a formula.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tandem.program.errors import ProgramError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as possible."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f'column "{self.column}"')
        return f"{', '.join(where)}: {self.message}"


class InputFileError(ProgramError):
    """An input file has problems; ``problems`` lists every one found, in file order."""

    def __init__(self, problems: Sequence[Problem], headline: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        first = headline or (
            f"{self.problems[0].file}: {count} problem{'s' if count != 1 else ''}; "
            "nothing was imported"
        )
        super().__init__("\n".join([first, *(f"  {p}" for p in self.problems)]))


@dataclass(frozen=True)
class RawRow:
    """One data row: its number as a person sees it and its non-empty cells by column."""

    number: int
    cells: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    file: str
    columns: tuple[str, ...]
    rows: tuple[RawRow, ...]
    problems: tuple[Problem, ...] = ()
    """Rows that could not be split into cells (ragged rows), reported with the others."""


def normalize_column(name: str) -> str:
    """Header spellings fold to one form: ``"Career Stage"`` → ``career_stage``."""
    return "_".join(name.strip().lower().replace("-", " ").split())


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe.

    A value that already looks neutralised gets one too, so :func:`unneutralize` is its
    exact inverse.
    """
    if value.startswith(_FORMULA_PREFIXES) or unneutralize(value) != value:
        return "'" + value
    return value


def unneutralize(value: str) -> str:
    """Undo :func:`neutralize`, so Tandem's own exports import back unchanged."""
    if len(value) >= 2 and value[0] == "'" and value[1:].startswith(_FORMULA_PREFIXES):
        return value[1:]
    return value


def read_table(path: Path) -> Table:
    """Read a CSV, XLSX or JSON file of records.

    Raises InputFileError naming the file (and row) for an unreadable, empty, non-UTF-8,
    ragged or wrongly shaped file.
    """
    name = path.name
    if not path.exists():
        raise InputFileError([Problem(name, f"file not found: {path}")])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(name, path.read_bytes())
    if suffix == ".xlsx":
        return _read_xlsx(name, path)
    if suffix == ".json":
        return _read_json(name, path.read_bytes())
    raise InputFileError(
        [Problem(name, f"unsupported file type {suffix or '(none)'!r}; use .csv, .xlsx or .json")]
    )


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(
            [
                Problem(
                    name,
                    f"file is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
                    "save it as 'CSV UTF-8' from your spreadsheet program",
                )
            ]
        ) from exc


def _header(name: str, raw: Sequence[Any]) -> tuple[str, ...]:
    columns = [normalize_column(str(c)) if c is not None else "" for c in raw]
    problems = []
    seen: dict[str, int] = {}
    for index, column in enumerate(columns, start=1):
        if not column:
            problems.append(Problem(name, f"header cell {index} is empty; name the column", 1))
        elif column in seen:
            problems.append(
                Problem(name, f"column appears twice (cells {seen[column]} and {index})", 1, column)
            )
        else:
            seen[column] = index
    if problems:
        raise InputFileError(problems)
    return tuple(columns)


def _empty_file(name: str) -> InputFileError:
    return InputFileError(
        [Problem(name, "file is empty; expected a header row (id, name, email, …) and data rows")]
    )


def _header_only(name: str) -> InputFileError:
    return InputFileError([Problem(name, "file has a header row but no data rows")])


def _read_csv(name: str, data: bytes) -> Table:
    text = _decode(name, data)
    if not text.strip():
        raise _empty_file(name)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise InputFileError(
            [Problem(name, f"not a valid CSV file: {exc}", reader.line_num)]
        ) from exc
    columns = _header(name, records[0])
    rows = []
    problems = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            problems.append(
                Problem(
                    name,
                    f"row has {len(record)} cells but the header has {len(columns)}; "
                    "check for a missing or extra comma (quote cells that contain commas)",
                    number,
                )
            )
            continue
        cells = {c: unneutralize(v.strip()) for c, v in zip(columns, record, strict=True)}
        rows.append(RawRow(number, {c: v for c, v in cells.items() if v != ""}))
    return _table(name, columns, rows, problems)


def _table(
    name: str, columns: tuple[str, ...], rows: list[RawRow], problems: list[Problem]
) -> Table:
    if not rows:
        raise InputFileError(problems) if problems else _header_only(name)
    return Table(name, columns, tuple(rows), tuple(problems))


def _xlsx_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(name: str, path: Path) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputFileError([Problem(name, f"not a readable .xlsx workbook: {exc}")]) from exc
    try:
        sheet = workbook.worksheets[0]
        records = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    while records and all(v is None or str(v).strip() == "" for v in records[-1]):
        records.pop()
    if not records:
        raise _empty_file(name)
    header = list(records[0])
    while header and (header[-1] is None or str(header[-1]).strip() == ""):
        header.pop()
    columns = _header(name, header)
    rows = []
    problems = []
    for number, record in enumerate(records[1:], start=2):
        values = [v for v in record]
        if any(v is not None and str(v).strip() for v in values[len(columns) :]):
            problems.append(
                Problem(name, f"row has values beyond the {len(columns)} named columns", number)
            )
            continue
        cells = {
            c: unneutralize(_xlsx_text(v))
            for c, v in zip(columns, values[: len(columns)], strict=False)
            if v is not None and _xlsx_text(v) != ""
        }
        if cells:
            rows.append(RawRow(number, cells))
    return _table(name, columns, rows, problems)


def _read_json(name: str, data: bytes) -> Table:
    text = _decode(name, data)
    if not text.strip():
        raise _empty_file(name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            [Problem(name, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
        ) from exc
    shape = "expected a JSON array of objects, one per person"
    if not isinstance(document, list):
        raise InputFileError([Problem(name, f"{shape}; got {_json_kind(document)}")])
    if not document:
        raise _header_only(name)
    rows = []
    problems = []
    columns: dict[str, None] = {}
    for number, record in enumerate(document, start=1):
        if not isinstance(record, dict):
            problems.append(Problem(name, f"{shape}; item is {_json_kind(record)}", number))
            continue
        cells: dict[str, Any] = {}
        for key, value in record.items():
            column = normalize_column(str(key))
            columns.setdefault(column, None)
            if isinstance(value, dict):
                problems.append(
                    Problem(
                        name, "expected text, a number or a list; got an object", number, column
                    )
                )
            elif value is None or value == "" or value == []:
                continue
            elif isinstance(value, list):
                cells[column] = [str(v).strip() for v in value]
            elif isinstance(value, bool):
                cells[column] = "yes" if value else "no"
            else:
                cells[column] = unneutralize(str(value).strip())
        rows.append(RawRow(number, cells))
    if problems:
        raise InputFileError(problems)
    return Table(name, tuple(columns), tuple(rows))


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    for kind, text in kinds.items():
        if isinstance(value, kind):
            return text
    return "null" if value is None else "a number"


def write_csv_rows(out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV with every text cell neutralised against formula injection."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_export_cell(v) for v in row])


def write_xlsx_rows(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """An XLSX workbook with one sheet; text cells neutralised against formula injection."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("tandem")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_export_cell(v) for v in row])
    workbook.save(path)


def _export_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        value = ";".join(str(v) for v in value)
    return neutralize(str(value))
