"""The command as a whole: every command documented, and a matching cycle end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from tandem.cli import app
from tandem.program.roster.parse import COMMON_COLUMNS, ROLE_COLUMNS
from tests.conftest import Tandem

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "examples"


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        found.append(((*path, name), command))
        found.extend(_commands(command, (*path, name)))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def command_reference() -> str:
    """The README's command table, generated from the command itself."""
    lines = ["| command | what it does |", "| --- | --- |"]
    for path, command in COMMANDS:
        if hasattr(command, "commands") and not command.invoke_without_command:
            continue
        summary = (command.help or "").strip().splitlines()[0]
        lines.append(f"| `tandem {' '.join(path)}` | {summary} |")
    return "\n".join(lines)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"tandem {' '.join(path)} has no help text"


def test_the_readme_lists_every_command() -> None:
    start, end = "<!-- commands:start -->\n", "\n<!-- commands:end -->"
    documented = README[README.index(start) + len(start) : README.index(end)]
    assert documented == command_reference(), "regenerate with: .venv/bin/python -m tests.test_cli"


def test_every_profile_column_is_documented() -> None:
    for column in (*COMMON_COLUMNS, *ROLE_COLUMNS["mentor"], *ROLE_COLUMNS["mentee"]):  # type: ignore[index]
        assert f"| `{column}` |" in README


def test_the_readme_starts_with_the_two_set_up_commands() -> None:
    block = README.split("```")[1]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == [
        "make demo",
        "make test",
    ]


def _run(*args: str, db_url: str) -> str:
    return Tandem()(*args, db=db_url).stdout


def test_a_matching_cycle_end_to_end_is_deterministic(db_url: str, tmp_path: Path) -> None:
    _run("import", "mentors", str(EXAMPLES / "mentors.csv"), db_url=db_url)
    _run("import", "mentees", str(EXAMPLES / "mentees.csv"), db_url=db_url)
    first, second = tmp_path / "first.csv", tmp_path / "second.json"
    out = _run(
        "match", "--cycle", "2027", "--out", str(first), "--now", "2027-01-20T12:00", db_url=db_url
    )
    assert "125 of 146 mentees matched" in out
    assert "Capacity shortfall: at least 21 more mentor places" in out
    _run(
        "match",
        "--cycle",
        "2027",
        "--out",
        str(tmp_path / "again.csv"),
        "--now",
        "2027-01-20T12:00",
        db_url=db_url,
    )
    assert first.read_bytes() == (tmp_path / "again.csv").read_bytes()
    header, *rows = first.read_text(encoding="utf-8").splitlines()
    assert header == "mentee_id,mentee,mentor_id,mentor,score,locked,reasons"
    assert len(rows) == 146
    _run(
        "match", "--cycle", "2027", "--out", str(second), "--now", "2027-01-20T12:00", db_url=db_url
    )
    explained = _run("match", "explain", "E001", "--mentor", "M002", db_url=db_url)
    assert (
        "Why this mentor" in explained
        and "Top alternatives" in explained
        and "Not M002" in explained
    )


def test_a_bad_config_is_reported_with_file_and_key(db_url: str, tmp_path: Path) -> None:
    _run("import", "mentors", str(EXAMPLES / "mentors.csv"), db_url=db_url)
    _run("import", "mentees", str(EXAMPLES / "mentees.csv"), db_url=db_url)
    config = tmp_path / "match.toml"
    config.write_text('[weights]\nresearch_areas = "high"\n', encoding="utf-8")
    result = Tandem()("match", "--cycle", "x", "--config", str(config), db=db_url, expect=1)
    assert result.stderr.startswith(
        'Error: match.toml: config key "weights.research_areas": expected'
    )


if __name__ == "__main__":
    start, end = "<!-- commands:start -->\n", "\n<!-- commands:end -->"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    (ROOT / "README.md").write_text(
        head + start + command_reference() + end + tail, encoding="utf-8"
    )


def test_scores_file_cannot_override_conflicts_or_self_pairs(db_url: str, tmp_path: Path) -> None:
    mentors = tmp_path / "mentors.csv"
    mentees = tmp_path / "mentees.csv"
    mentors.write_text(
        "id,name,email,capacity,excluded\nM1,Ada,ada@u.edu,1,\nM2,Bo,bo@u.edu,1,E2\n",
        encoding="utf-8",
    )
    mentees.write_text("id,name,email\nE1,Ada,ADA@u.edu\nE2,Cy,cy@u.edu\n", encoding="utf-8")
    scores = tmp_path / "scores.csv"
    scores.write_text(
        "mentee_id,mentor_id,score\nE1,M1,99\nE1,M2,10\nE2,M1,20\nE2,M2,90\n", encoding="utf-8"
    )
    _run("import", "mentors", str(mentors), db_url=db_url)
    _run("import", "mentees", str(mentees), db_url=db_url)
    out = tmp_path / "pairs.csv"
    _run("match", "--cycle", "s", "--scores", str(scores), "--out", str(out), db_url=db_url)
    rows = out.read_text(encoding="utf-8").splitlines()[1:]
    # E1 is Ada herself (same e-mail) and M2 excludes E2: only E1–M2 and E2–M1 remain.
    assert [row.split(",")[:5] for row in rows] == [
        ["E1", "Ada", "M2", "Bo", "10.0"],
        ["E2", "Cy", "M1", "Ada", "20.0"],
    ]


@pytest.mark.parametrize("side", ["mentee", "mentor"])
def test_stable_matching_from_the_command_has_no_blocking_pairs(
    db_url: str, tmp_path: Path, side: str
) -> None:
    _run("import", "mentors", str(EXAMPLES / "mentors.csv"), db_url=db_url)
    _run("import", "mentees", str(EXAMPLES / "mentees.csv"), db_url=db_url)
    out = _run("match", "--cycle", "s", "--method", "stable", "--optimal", side, db_url=db_url)
    assert "(stable)" in out
    assert "blocking pairs against the preferences: 0" in out


@pytest.mark.slow
def test_a_fresh_process_creates_the_database_and_imports(tmp_path: Path) -> None:
    """The command as a person runs it: a new process on a new database file."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for args in (
        ["init"],
        ["import", "mentors", str(EXAMPLES / "mentors.csv")],
        ["participants", "summary"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tandem.cli", "--db", url, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "48 mentors" in done.stdout
