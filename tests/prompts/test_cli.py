"""``tandem prompts``: exact output of validate, show and docs."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Tandem
from tests.prompts.helpers import edit


def test_validate_the_shipped_curriculum(tandem: Tandem) -> None:
    result = tandem("prompts", "validate", expect=None)
    assert result.exit_code == 0
    assert result.output == "OK: 16 weeks, tracks faculty, postdoc, student (default student)\n"


def test_validate_prints_every_problem_with_its_file_and_exits_1(
    tandem: Tandem, copy_default: Path
) -> None:
    (copy_default / "week-07.toml").unlink()
    edit(copy_default / "week-03.toml", 'phase = "alignment"', 'phase = "closre"')
    result = tandem("prompts", "validate", str(copy_default), expect=None)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{copy_default / 'curriculum.toml'}: weeks: week 7 has no file: create week-07.toml "
        "or lower weeks (now 16)",
        f"{copy_default / 'week-03.toml'}: phase: unknown phase 'closre' (did you mean "
        "'closure'?); use one of: alignment, cultivation, closure",
    ]


def test_validate_reports_a_week_file_python_cannot_parse_in_one_line(
    tandem: Tandem, copy_default: Path
) -> None:
    week = copy_default / "week-03.toml"
    week.write_text(week.read_text(encoding="utf-8") + "a = " + "[" * 5000, encoding="utf-8")
    result = tandem("prompts", "validate", str(copy_default), expect=1)
    assert (
        result.output == f"{week}: (file): is not valid TOML: arrays or tables nested too deeply\n"
    )
    week.write_text("zz = " + "9" * 5000 + "\n", encoding="utf-8")
    result = tandem("prompts", "validate", str(copy_default), expect=1)
    assert result.output == (
        f"{week}: (file): is not valid TOML: a number has more than 4,300 digits\n"
    )


def test_show_renders_a_week_for_the_sample_pair(tandem: Tandem) -> None:
    result = tandem("prompts", "show", "--week", "4", "--track", "postdoc", expect=None)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[:3] == [
        "Subject: Spring Research Mentoring Cohort, week 4 of 16: A development plan for the "
        "move to independence (with Morgan)",
        "",
        "Hello Jordan,",
    ]
    assert "Questions for you, as the mentee" in lines


def test_show_renders_html_for_the_mentor(tandem: Tandem) -> None:
    result = tandem("prompts", "show", "--week", "16", "--role", "mentor", "--html", expect=None)
    assert result.exit_code == 0
    assert "<p>Hello Morgan,</p>" in result.output
    assert "What did you learn about yourself as a mentor" in result.output


def test_show_an_unknown_track_raises_the_curriculum_error(tandem: Tandem) -> None:
    result = tandem("prompts", "show", "--week", "1", "--track", "resident", expect=1)
    assert result.stderr.startswith("Error: ") and "no track 'resident'" in result.stderr


def test_docs_writes_then_checks(tandem: Tandem, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "curriculum.md"
    out.parent.mkdir()
    stale = tandem("prompts", "docs", "--out", str(out), "--check", expect=None)
    assert stale.exit_code == 1
    assert f"{out} is out of date: run `tandem prompts docs --out {out}`" in stale.output
    written = tandem("prompts", "docs", "--out", str(out), expect=None)
    assert (written.exit_code, written.output) == (0, f"Wrote {out}\n")
    fresh = tandem("prompts", "docs", "--out", str(out), "--check", expect=None)
    assert (fresh.exit_code, fresh.output) == (0, f"{out} is up to date\n")


def test_every_command_has_help(tandem: Tandem) -> None:
    for command in ("validate", "show", "docs"):
        result = tandem("prompts", command, "--help", expect=None)
        assert result.exit_code == 0
        assert "Usage:" in result.output
