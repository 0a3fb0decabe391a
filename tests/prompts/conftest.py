from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from tandem.prompts.curriculum import DEFAULT_CURRICULUM, Curriculum, load_curriculum
from tandem.prompts.render import MessageContext


@pytest.fixture(scope="session")
def curriculum() -> Curriculum:
    return load_curriculum()


@pytest.fixture
def copy_default(tmp_path: Path) -> Path:
    """A writable copy of the shipped curriculum."""
    target = tmp_path / "curriculum"
    shutil.copytree(DEFAULT_CURRICULUM, target)
    return target


@pytest.fixture
def context() -> MessageContext:
    return MessageContext(
        mentor_name="Dr. Ana Souza",
        mentee_name="Kwame Mensah",
        cohort_name="Autumn Cohort",
        week_start=date(2026, 9, 7),
        week_end=date(2026, 9, 13),
        checkin_url="https://tandem.example.org/checkin/abc123",
    )
