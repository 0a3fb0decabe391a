"""Every command in the README's shell examples runs as written, in order, on a scratch
database and outbox (the README's own defaults, in a fresh working directory)."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tandem.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands(text: str = README) -> list[list[str]]:
    """The ``tandem …`` lines of the README's plain code blocks, in order, as arguments:
    continuation lines joined, comments dropped; ``> FILE`` stays as two arguments."""
    commands = []
    for block in text.split("```")[1::2]:
        if block.split("\n", 1)[0].strip():  # a block with a language (toml, …) is not shell
            continue
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["tandem"]:
                commands.append(words[1:])
    return commands


def test_the_readme_commands_are_found() -> None:
    commands = readme_commands()
    assert ["import", "mentors", "examples/mentors.csv"] in commands
    assert readme_commands('```\ntandem a "b c" \\\n  --d # e\nmake x\n```\n') == [
        ["a", "b c", "--d"]
    ]


@pytest.mark.slow
def test_every_readme_command_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("TANDEM_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()
    for args in readme_commands():
        target = None
        if ">" in args:
            at = args.index(">")
            args, target = args[:at], args[at + 1]
        result = runner.invoke(app, args)
        shown = shlex.join(["tandem", *args])
        assert result.exit_code == 0, f"{shown}\n{result.output}"
        assert "Traceback" not in result.output, shown
        if target is not None:
            Path(target).write_text(result.stdout, encoding="utf-8")
