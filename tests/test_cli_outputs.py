"""Every file a command writes (``--out``): a path that cannot be written is one line and a
non-zero exit, before any work; files holding personal data are readable by their owner
only; a command that fails leaves no file behind."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Tandem

Arguments = Callable[[Path], list[str | Path]]

FILE_OUTPUTS: list[tuple[str, Arguments]] = [
    ("participants export", lambda out: ["participants", "export", "mentor", out]),
    (
        "participants export-person",
        lambda out: ["participants", "export-person", "E1", "--out", out],
    ),
    ("match", lambda out: ["match", "--cycle", "2026", "--out", out]),
    ("report (html)", lambda out: ["report", "Fall", "--out", out]),
    ("report (xlsx)", lambda out: ["report", "Fall", "--format", "xlsx", "--out", out]),
    ("report (csv)", lambda out: ["report", "Fall", "--format", "csv", "--out", out]),
    ("report (json)", lambda out: ["report", "Fall", "--format", "json", "--out", out]),
    ("report mentor", lambda out: ["report", "mentor", "Fall", "M1", "--out", out]),
    ("keys export-jwks", lambda out: ["keys", "export-jwks", "--out", out]),
    ("certs export-revocations", lambda out: ["certs", "export-revocations", "--out", out]),
    ("prompts docs", lambda out: ["prompts", "docs", "--out", out]),
]
SUFFIX = {
    "participants export": ".csv",
    "match": ".csv",
    "report (html)": ".html",
    "report (xlsx)": ".xlsx",
    "report (csv)": ".csv",
    "report mentor": ".html",
}


def one_error_line(tandem: Tandem, db_url: str, arguments: list[str | Path]) -> str:
    result = tandem(*arguments, db=db_url, expect=None)
    assert result.exit_code != 0, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(("case", "arguments"), FILE_OUTPUTS, ids=[c[0] for c in FILE_OUTPUTS])
@pytest.mark.parametrize("wrong", ["missing folder", "a folder", "through a file", "read-only"])
def test_every_output_file_that_cannot_be_written_is_one_line(
    tandem: Tandem, db_url: str, tmp_path: Path, case: str, arguments: Arguments, wrong: str
) -> None:
    name = "out" + SUFFIX.get(case, ".json")
    if wrong == "missing folder":
        out = tmp_path / "no" / name
        expected = f"Error: {out}: the folder {tmp_path / 'no'} does not exist; create it first"
    elif wrong == "a folder":
        out = tmp_path / name
        out.mkdir()
        expected = f"Error: {out}: is a folder; give the path of a file"
    elif wrong == "through a file":
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / name
        expected = f"Error: {out}: part of the path is a file, not a folder; check the path"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write anywhere")
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
        out = folder / name
        expected = (
            f"Error: {out}: not permitted to write in the folder {folder}; check its permissions"
        )
    assert one_error_line(tandem, db_url, arguments(out)) == expected
    assert not out.is_file()


@pytest.mark.parametrize("wrong", ["missing folder", "a file"])
def test_the_certificate_folder_that_cannot_be_made_is_one_line(
    tandem: Tandem, db_url: str, tmp_path: Path, wrong: str
) -> None:
    if wrong == "missing folder":
        out = tmp_path / "no" / "certificates"
        expected = f"Error: {out}: the folder {tmp_path / 'no'} does not exist; create it first"
    else:
        out = tmp_path / "certificates"
        out.write_text("x")
        expected = f"Error: {out}: is a file; give the path of a folder"
    arguments: list[str | Path] = ["certify", "Fall", "--out", out]
    assert one_error_line(tandem, db_url, arguments) == expected


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_personal_data_files_are_private_and_public_ones_are_not(
    tandem: Tandem, db_url: str, tmp_path: Path
) -> None:
    from tests.program.helpers import roster_files

    mentors, _ = roster_files(tmp_path, 1)
    tandem("import", "mentors", mentors, db=db_url)
    roster = tmp_path / "roster.csv"
    roster.write_text("an older export, readable by everyone\n")
    roster.chmod(0o644)
    tandem("participants", "export", "mentor", roster, db=db_url)
    assert mode(roster) == 0o600
    assert roster.read_text().startswith("id,name,email")
    person = tmp_path / "person.json"
    tandem("participants", "export-person", "M001", "--out", person, db=db_url)
    assert mode(person) == 0o600
    keys = tmp_path / "keys.json"
    tandem("keys", "init", "--keys", keys)
    jwks = tmp_path / "jwks.json"
    tandem("keys", "export-jwks", "--keys", keys, "--out", jwks)
    assert mode(jwks) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_a_command_that_fails_leaves_no_file(tandem: Tandem, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = tandem("report", "No such cohort", "--out", out, db=db_url, expect=1)
    assert result.stderr.startswith("Error: ")
    assert not out.exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_folder_not_permitted_is_one_line_even_for_root(
    tandem: Tandem, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tandem.commands import common

    monkeypatch.setattr(common.os, "access", lambda path, mode: Path(path) != tmp_path)
    out = tmp_path / "jwks.json"
    line = one_error_line(tandem, db_url, ["keys", "export-jwks", "--out", out])
    assert line == (
        f"Error: {out}: not permitted to write in the folder {tmp_path}; check its permissions"
    )


def test_a_write_that_fails_midway_is_one_line_and_leaves_nothing(
    tandem: Tandem, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from tandem.commands import common

    def full(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    keys = tmp_path / "keys.json"
    tandem("keys", "init", "--keys", keys)
    monkeypatch.setattr(common.os, "replace", full)
    out = tmp_path / "jwks.json"
    line = one_error_line(tandem, db_url, ["keys", "export-jwks", "--keys", keys, "--out", out])
    assert line == f"Error: {out}: cannot be written (No space left on device)"
    assert sorted(p.name for p in tmp_path.iterdir() if "jwks" in p.name) == []


def test_a_named_pipe_is_written_in_place(tandem: Tandem, db_url: str, tmp_path: Path) -> None:
    import threading

    keys = tmp_path / "keys.json"
    tandem("keys", "init", "--keys", keys)
    pipe = tmp_path / "jwks.pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    tandem("keys", "export-jwks", "--keys", keys, "--out", pipe)
    reader.join(timeout=10)
    assert received and received[0].startswith(b'{\n  "keys"')
    assert stat.S_ISFIFO(pipe.stat().st_mode)
