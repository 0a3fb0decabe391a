"""Helpers for the hostile-input tests: a whole-database dump and the CLI run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import SQLModel
from typer.testing import Result

from tests.conftest import Tandem


def dump_database(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: compared before and after."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).all()
            ]
            for table in SQLModel.metadata.sorted_tables
        }


def run_cli(db_url: str, *args: str | Path) -> Result:
    return Tandem().invoke(["--db", db_url, *(str(a) for a in args)])


def assert_one_error_line(result: Result, expected: str | None = None) -> None:
    """Exit non-zero, nothing on stdout, exactly one line on stderr, no traceback."""
    assert result.exit_code != 0, result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    if expected is not None:
        assert lines[0] == f"Error: {expected}"
