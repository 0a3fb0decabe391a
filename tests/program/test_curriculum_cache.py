"""A cohort's curriculum is read once per process, and again as soon as a file changes."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from tandem.program.curricula import load_curriculum
from tandem.program.storage.tables import Cohort
from tandem.prompts.curriculum import DEFAULT_CURRICULUM, CurriculumError


def cohort_with(folder: Path | None) -> Cohort:
    return Cohort(
        name="Fall 2026",
        cycle="2026",
        match_run_pk=1,
        start_date=date(2026, 9, 7),
        weeks=16,
        timezone="America/New_York",
        send_weekday=0,
        send_time="09:00",
        curriculum_dir=str(folder) if folder else None,
    )


def test_the_shipped_curriculum_is_read_once() -> None:
    assert load_curriculum(cohort_with(None)) is load_curriculum(cohort_with(None))


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "curriculum"
    shutil.copytree(DEFAULT_CURRICULUM, folder)
    first = load_curriculum(cohort_with(folder))
    assert load_curriculum(cohort_with(folder)) is first
    week = folder / "week-01.toml"
    text = week.read_text(encoding="utf-8")
    title = first.week(1).title
    week.write_text(text.replace(title, "Getting started, our way", 1), encoding="utf-8")
    assert load_curriculum(cohort_with(folder)).week(1).title == "Getting started, our way"


def test_a_broken_file_is_reported_not_served_from_memory(tmp_path: Path) -> None:
    folder = tmp_path / "curriculum"
    shutil.copytree(DEFAULT_CURRICULUM, folder)
    load_curriculum(cohort_with(folder))
    (folder / "week-01.toml").write_text("title = [", encoding="utf-8")
    with pytest.raises(CurriculumError, match=r"week-01\.toml"):
        load_curriculum(cohort_with(folder))
