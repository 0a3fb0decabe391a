"""Every command in the README's shell examples runs as written, in order, on a scratch
database and outbox (the README's own defaults, in a fresh working directory)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tandem.program.storage.enums import MessageKind
from tests.conftest import Tandem

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def serve_until_it_answers(args: list[str], folder: Path) -> None:
    """`tandem serve …` runs until stopped: start it as a person would, wait until its home
    page answers, then stop it (Ctrl-C) and check it stopped cleanly."""
    port = int(args[args.index("--port") + 1]) if "--port" in args else 8000
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    with subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        deadline = time.monotonic() + 60
        answered = False
        while not answered and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    answered = page.status == 200
            except OSError:
                time.sleep(0.2)
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    shown = shlex.join(["tandem", *args])
    assert answered, f"{shown} did not answer on port {port}:\n{output}"
    assert "Traceback" not in output, f"{shown}\n{output}"


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


def test_the_readme_names_every_message_kind() -> None:
    """The file outbox paragraph lists every kind a message file's name can carry."""
    start = README.index("the kinds are `intro`")
    sentence = README[start : README.index(". ", start)]
    assert re.findall(r"`([a-z_]+)`", sentence) == [k.value for k in MessageKind]


@pytest.mark.slow
def test_every_readme_command_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("TANDEM_")]:
        monkeypatch.delenv(name)
    runner = Tandem()
    for args in readme_commands():
        if args[:1] == ["serve"]:
            serve_until_it_answers(args, tmp_path)
            continue
        target = None
        if ">" in args:
            at = args.index(">")
            args, target = args[:at], args[at + 1]
        result = runner.invoke(args)
        shown = shlex.join(["tandem", *args])
        assert result.exit_code == 0, f"{shown}\n{result.output}"
        assert "Traceback" not in result.output, shown
        if target is not None:
            Path(target).write_text(result.stdout, encoding="utf-8")
