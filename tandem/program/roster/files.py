"""Reading and writing the spreadsheets coordinators exchange with Tandem (CSV, XLSX, JSON).

Reading turns a file into :class:`RawRow` records (column → text, with the row number a
person sees in a spreadsheet: the header is row 1). Writing neutralises cells that a
spreadsheet would execute as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tandem.errors import Problem, csv_error_message, describe_problems, os_error_message
from tandem.program.errors import ProgramError


class InputFileError(ProgramError):
    """An input file has problems; ``problems`` lists every one found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(describe_problems(self.problems, "nothing was imported"))


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
    headers: Mapping[str, str] = field(default_factory=dict)
    """Each column's header as the file writes it (``Research areas (separate with ;)``
    for ``research_areas_(separate_with_;)``), for messages."""


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


MAX_ROWS = 250_000
"""Data rows one file may hold; a larger file is refused before it fills memory."""
MAX_COLUMNS = 256
"""Columns one file may hold."""
MAX_XLSX_BYTES = 1 << 30
"""What an .xlsx workbook may unpack to (its parts' declared sizes, summed): a few
kilobytes can otherwise unpack to gigabytes."""


@dataclass(frozen=True)
class TableStream:
    """A file's header read, its rows still to come: ``items`` yields each data row, and a
    :class:`Problem` for a row that cannot be split into cells, in file order. Iterating
    raises InputFileError for a problem that ends the reading (a broken file, too many
    rows) and, at the end, when the file had no data rows."""

    file: str
    columns: tuple[str, ...]
    items: Iterator[RawRow | Problem]
    headers: Mapping[str, str] = field(default_factory=dict)
    """Each column's header as the file writes it, for messages."""


def read_table(path: Path) -> Table:
    """Read a CSV, XLSX or JSON file of records, all of it (see :func:`stream_table`)."""
    stream = stream_table(path)
    rows: list[RawRow] = []
    problems: list[Problem] = []
    for item in stream.items:
        if isinstance(item, RawRow):
            rows.append(item)
        else:
            problems.append(item)
    return Table(stream.file, stream.columns, tuple(rows), tuple(problems), stream.headers)


def stream_table(path: Path) -> TableStream:
    """Read the header of a CSV, XLSX or JSON file of records; its rows as they come.

    Raises InputFileError naming the file (and row and column) for a missing, unreadable,
    empty, non-UTF-8, ragged, oversized or wrongly shaped file; always one problem per thing
    wrong, never an exception from a parser.
    """
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".json"):
        raise InputFileError(
            [
                Problem(
                    name,
                    None,
                    None,
                    f"unsupported file type {suffix or '(none)'!r}; use .csv, .xlsx or .json",
                )
            ]
        )
    try:
        if suffix == ".xlsx":
            return _read_xlsx(name, path)
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError([Problem(name, None, None, os_error_message(exc))]) from None
    if suffix == ".csv":
        return _read_csv(name, data)
    return _read_json(name, data)


def _at_least_one_row(name: str, items: Iterator[RawRow | Problem]) -> Iterator[RawRow | Problem]:
    """``items``, then InputFileError if none was a row: the problems, or "no data rows"."""
    problems: list[Problem] = []
    any_row = False
    for item in items:
        if isinstance(item, RawRow):
            any_row = True
        elif not any_row:
            problems.append(item)
        yield item
    if not any_row:
        raise InputFileError(problems) if problems else _header_only(name)


def _too_many_rows(name: str, row: int) -> InputFileError:
    return InputFileError(
        [
            Problem(
                name,
                row,
                None,
                f"more than {MAX_ROWS:,} data rows; split the file, or remove empty rows "
                "that still hold a value",
            )
        ]
    )


def _too_many_columns(name: str, row: int, count: int) -> InputFileError:
    return InputFileError(
        [
            Problem(
                name,
                row,
                None,
                f"{count:,} cells in one row; at most {MAX_COLUMNS} columns are allowed",
            )
        ]
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
                    None,
                    None,
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
            problems.append(
                Problem(name, 1, None, f"header cell {index} is empty; name the column")
            )
        elif column in seen:
            problems.append(
                Problem(name, 1, column, f"column appears twice (cells {seen[column]} and {index})")
            )
        else:
            seen[column] = index
    if problems:
        raise InputFileError(problems)
    return tuple(columns)


def _written(columns: Sequence[str], raw: Sequence[Any]) -> dict[str, str]:
    """Each column's header as written, its spaces collapsed."""
    return {column: " ".join(str(cell).split()) for column, cell in zip(columns, raw, strict=False)}


def _empty_file(name: str) -> InputFileError:
    return InputFileError(
        [
            Problem(
                name,
                None,
                None,
                "file is empty; expected a header row (id, name, email, …) and data rows",
            )
        ]
    )


def _header_only(name: str) -> InputFileError:
    return InputFileError([Problem(name, None, None, "file has a header row but no data rows")])


def _line_breaks(name: str, text: str) -> str:
    """The text with one kind of line break: a file of bare carriage returns (old Mac
    files) is read as lines; a bare carriage return among ordinary line breaks is a broken
    cell, reported once with its row."""
    bare = _BARE_CR.search(text)
    if bare is None:
        return text
    if "\n" not in text:
        return text.replace("\r", "\n")
    row = text.count("\n", 0, bare.start()) + 1
    raise InputFileError(
        [
            Problem(
                name,
                row,
                None,
                "a carriage return inside the row (a cell holds a line break); remove it, "
                "or save the file again with ordinary line endings",
            )
        ]
    )


_BARE_CR = re.compile(r"\r(?!\n)")


def _read_csv(name: str, data: bytes) -> TableStream:
    text = _decode(name, data)
    del data
    if not text.strip():
        raise _empty_file(name)
    text = _line_breaks(name, text)
    reader = csv.reader(io.StringIO(text, newline=""))
    del text

    def problem(error: csv.Error) -> InputFileError:
        return InputFileError([Problem(name, reader.line_num, None, csv_error_message(error))])

    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise problem(exc) from None
    if header is None:
        raise _empty_file(name)
    if len(header) > MAX_COLUMNS:
        raise _too_many_columns(name, 1, len(header))
    columns = _header(name, header)

    def items() -> Iterator[RawRow | Problem]:
        try:
            for number, record in enumerate(reader, start=2):
                if len(record) > MAX_COLUMNS:
                    raise _too_many_columns(name, number, len(record))
                if not any(cell.strip() for cell in record):
                    continue
                if number > MAX_ROWS + 1:
                    raise _too_many_rows(name, number)
                if len(record) != len(columns):
                    joined = any("\n" in cell or "\r" in cell for cell in record)
                    hint = (
                        'check for a quote (") that is never closed: it joins the lines after '
                        "it into one cell"
                        if joined
                        else "check for a missing or extra comma (quote cells that contain commas)"
                    )
                    yield Problem(
                        name,
                        number,
                        None,
                        f"row has {len(record)} cells but the header has {len(columns)}; {hint}",
                    )
                    continue
                cells = {c: unneutralize(v.strip()) for c, v in zip(columns, record, strict=True)}
                yield RawRow(number, {c: v for c, v in cells.items() if v != ""})
        except csv.Error as exc:
            raise problem(exc) from None

    return TableStream(name, columns, _at_least_one_row(name, items()), _written(columns, header))


def _xlsx_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_NO_SAVED_VALUE = object()
"""A formula cell whose workbook holds no computed value (never opened and saved)."""


_UNREADABLE_XLSX = "not a readable .xlsx workbook; save it again from your spreadsheet program"


def _check_unpacked_size(name: str, path: Path) -> None:
    """Refuse a file that is not a zip archive, or unpacks to more than MAX_XLSX_BYTES."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise InputFileError([Problem(name, None, None, _UNREADABLE_XLSX)]) from None
    if unpacked > MAX_XLSX_BYTES:
        raise InputFileError(
            [
                Problem(
                    name,
                    None,
                    None,
                    f"the workbook unpacks to {unpacked:,} bytes (at most {MAX_XLSX_BYTES:,}); "
                    "save the roster alone in a new workbook, or as CSV",
                )
            ]
        )


def _row_values(name: str, cells: Any) -> tuple[int, dict[int, Any]]:
    """One parsed sheet row's non-blank cells (column number → value) and its number;
    a cell beyond MAX_ROWS or MAX_COLUMNS stops the reading with a problem."""
    values: dict[int, Any] = {}
    number = 0
    for cell in cells:
        value = cell["value"]
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        number = cell["row"]
        if number > MAX_ROWS + 1:
            raise _too_many_rows(name, number)
        if cell["column"] > MAX_COLUMNS:
            raise _too_many_columns(name, number, cell["column"])
        values[cell["column"]] = value
    return number, values


def _xlsx_cells(name: str, path: Path) -> Iterator[tuple[int, dict[int, Any]]]:
    """The first sheet's cells that hold a value, row by row: (row number, column number
    → value), with :data:`_NO_SAVED_VALUE` for a formula without a saved result.

    Streams the sheet's XML, so memory follows the cells that are really there: the
    sheet's declared dimensions are never used, and a value beyond :data:`MAX_ROWS` or
    :data:`MAX_COLUMNS` stops the reading with a problem.
    """
    from openpyxl import load_workbook
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class CellParser(WorkSheetParser):
        # Cached values are read (data_only), but a formula cell without one is marked.
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            if cell["value"] is None and element.find(FORMULA_TAG) is not None:
                cell["value"] = _NO_SAVED_VALUE
            return cell

    unreadable = _UNREADABLE_XLSX
    _check_unpacked_size(name, path)
    # Anything the workbook's parts make openpyxl or the XML parser raise means the
    # same to a person: the file is not a workbook Tandem can read.
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except OSError:
        raise
    except Exception:
        raise InputFileError([Problem(name, None, None, unreadable)]) from None
    try:
        if not workbook.worksheets:
            raise InputFileError([Problem(name, None, None, "the workbook has no sheets")])
        # A read-only sheet's XML source and the workbook's formats: openpyxl's own
        # iterators pad every row to the declared dimensions, which a file can set to
        # 16,384 columns × 1,048,576 rows.
        sheet: Any = workbook.worksheets[0]
        book: Any = workbook
        try:
            with sheet._get_source() as source:
                parser = CellParser(
                    source,
                    sheet._shared_strings,
                    data_only=True,
                    epoch=book.epoch,
                    date_formats=book._date_formats,
                    timedelta_formats=book._timedelta_formats,
                )
                for _, cells in parser.parse():
                    number, values = _row_values(name, cells)
                    if values:
                        yield number, values
        except InputFileError:
            raise
        except Exception:
            raise InputFileError([Problem(name, None, None, unreadable)]) from None
    finally:
        workbook.close()


def _read_xlsx(name: str, path: Path) -> TableStream:
    records = iter(_xlsx_cells(name, path))
    first = next(records, None)
    if first is None:
        raise _empty_file(name)
    header_row, header_cells = first
    if header_row != 1:
        raise InputFileError(
            [Problem(name, 1, None, "the first row is empty; put the column names in row 1")]
        )
    header = [header_cells.get(k) for k in range(1, max(header_cells) + 1)]
    header = [None if v is _NO_SAVED_VALUE else v for v in header]
    columns = _header(name, header)

    def items() -> Iterator[RawRow | Problem]:
        for number, values in records:
            if max(values) > len(columns):
                yield Problem(
                    name, number, None, f"row has values beyond the {len(columns)} named columns"
                )
                continue
            cells: dict[str, Any] = {}
            unsaved = False
            for index, value in sorted(values.items()):
                column = columns[index - 1]
                if value is _NO_SAVED_VALUE:
                    unsaved = True
                    yield Problem(
                        name,
                        number,
                        column,
                        "the cell is a formula with no saved value; open the workbook in a "
                        "spreadsheet program and save it, or paste the values as text",
                    )
                    continue
                text = _xlsx_text(value)
                if text != "":
                    cells[column] = unneutralize(text)
            if cells and not unsaved:
                # A row with an unsaved formula is not validated: its empty cell would be
                # reported a second time, as missing.
                yield RawRow(number, cells)

    return TableStream(name, columns, _at_least_one_row(name, items()), _written(columns, header))


class _JsonObject(list[tuple[str, Any]]):
    """A JSON object as its key–value pairs in file order, so that a key given twice is
    seen rather than silently replaced."""


class _JsonNumber(str):
    """A JSON number as written: never converted, so 5,000 digits or 1e308 stay text for
    the cell parsers to refuse plainly."""


def _json_document(name: str, text: str) -> Any:
    """The parsed document; numbers stay as written (text), objects are :class:`_JsonObject`."""
    try:
        return json.loads(
            text,
            object_pairs_hook=_JsonObject,
            parse_int=_JsonNumber,
            parse_float=_JsonNumber,
            parse_constant=_JsonNumber,
        )
    except json.JSONDecodeError as exc:
        raise InputFileError(
            [
                Problem(
                    name,
                    None,
                    None,
                    f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                )
            ]
        ) from None
    except RecursionError:
        raise InputFileError(
            [
                Problem(
                    name,
                    None,
                    None,
                    "JSON nested too deeply; expected an array of objects, one per person",
                )
            ]
        ) from None


def _read_json(name: str, data: bytes) -> TableStream:
    text = _decode(name, data)
    if not text.strip():
        raise _empty_file(name)
    document = _json_document(name, text)
    del text
    shape = "expected a JSON array of objects, one per person"
    if not isinstance(document, list) or isinstance(document, _JsonObject):
        raise InputFileError([Problem(name, None, None, f"{shape}; got {_json_kind(document)}")])
    if not document:
        raise _header_only(name)
    if len(document) > MAX_ROWS:
        raise _too_many_rows(name, MAX_ROWS + 1)
    columns: dict[str, str] = {}
    for number, record in enumerate(document, start=1):
        if isinstance(record, _JsonObject):
            if len(record) > MAX_COLUMNS:
                raise _too_many_columns(name, number, len(record))
            for key, _ in record:
                columns.setdefault(normalize_column(key), " ".join(key.split()))

    def items() -> Iterator[RawRow | Problem]:
        for number, record in enumerate(document, start=1):
            if not isinstance(record, _JsonObject):
                yield Problem(name, number, None, f"{shape}; item is {_json_kind(record)}")
                continue
            row = _json_row(name, number, record)
            # A row with a problem here is not validated: its cells are not what was meant.
            if isinstance(row, RawRow):
                yield row
            else:
                yield from row

    return TableStream(name, tuple(columns), _at_least_one_row(name, items()), columns)


def _json_row(name: str, number: int, record: Any) -> RawRow | list[Problem]:
    """One JSON object as a row, or the problems that keep it from being one."""
    problems: list[Problem] = []
    cells: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for key, value in record:
        column = normalize_column(key)
        if column in keys:
            problems.append(
                Problem(
                    name,
                    number,
                    column,
                    f'keys "{keys[column]}" and "{key}" name the same column; keep one',
                )
            )
            continue
        keys[column] = key
        if value is None or value == "" or value == []:
            continue
        cell, problem = _json_cell(value)
        if problem is not None:
            problems.append(Problem(name, number, column, problem))
        else:
            cells[column] = cell
    return problems or RawRow(number, cells)


def _json_cell(value: Any) -> tuple[Any, str | None]:
    """A JSON value as a cell (text, or a list of text), or what is wrong with it."""
    if isinstance(value, _JsonObject):
        return None, "expected text, a number or a list; got an object"
    if isinstance(value, list):
        if any(isinstance(v, list) or v is None for v in value):
            return None, "expected a list of text or numbers; got a list holding " + (
                "null" if None in value else "lists or objects"
            )
        return [_json_scalar(v) for v in value], None
    return unneutralize(_json_scalar(value)), None


def _json_scalar(value: str | bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value.strip()


def _json_kind(value: Any) -> str:
    kinds = {
        _JsonObject: "an object",
        list: "an array",
        _JsonNumber: "a number",
        str: "a string",
        bool: "true/false",
    }
    for kind, text in kinds.items():
        if isinstance(value, kind):
            return text
    return "null"


def write_csv_rows(out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV with every text cell neutralised against formula injection."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_export_cell(v) for v in row])


def write_xlsx_rows(out: IO[bytes], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """An XLSX workbook with one sheet; text cells neutralised against formula injection."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("tandem")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_export_cell(v) for v in row])
    workbook.save(out)


def _export_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        value = ";".join(str(v) for v in value)
        if len(value) and ";" not in value and "," in value:
            # One item with a comma: a cell without ";" is read back split on commas.
            value += ";"
    return neutralize(str(value))
