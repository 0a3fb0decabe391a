"""``change_messaging``: a running cohort's messaging settings change in one transaction,
with one audit entry that names the settings but no person."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.program.cohort_settings import SettingChange, change_messaging
from tandem.program.cohorts import CohortError
from tandem.program.storage.tables import AuditEntry, Cohort
from tandem.program.voice import MessagingSettings
from tandem.prompts.resources import Resource
from tests.program.helpers import CREATED, make_program


def _cohort(engine: Engine) -> Cohort:
    with Session(engine) as session:
        return session.exec(select(Cohort)).one()


def _audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry)).all())


def test_only_the_settings_given_change_and_one_entry_records_them(
    engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, 1)
    change_messaging(
        engine,
        "Fall 2026",
        MessagingSettings(resources={Resource.OMBUDS: "the Ombuds Office"}),
        actor="alex",
        now=CREATED,
    )
    changes = MessagingSettings(
        coordinator_name="Sam Lee",
        salutation=" Dear {name} ",
        resources={Resource.COUNSELLING: "the Counselling Service"},
    )
    result = change_messaging(engine, "Fall 2026", changes, actor="alex", now=CREATED)
    assert result.changes == (
        SettingChange("coordinator_name", None, "Sam Lee"),
        SettingChange("salutation", "Hello {name}", "Dear {name}"),
        SettingChange("resources.counselling", None, "the Counselling Service"),
    )
    cohort = _cohort(engine)
    assert cohort.sender == "Tandem <mentoring@uni.edu>"  # not given: kept
    assert cohort.coordinator_email == "coordinator@uni.edu"
    assert cohort.resources == {
        "counselling": "the Counselling Service",
        "ombuds": "the Ombuds Office",
    }
    entries = _audit(engine)
    assert len(entries) == 2
    assert entries[-1].details == {
        "cohort": "Fall 2026",
        "changed": ["coordinator_name", "salutation", "resources.counselling"],
        "salutation": {"old": "Hello {name}", "new": "Dear {name}"},
    }


def test_values_the_cohort_has_already_change_and_record_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, 1)
    same = MessagingSettings(sender="Tandem <mentoring@uni.edu>", salutation="Hello {name}")
    result = change_messaging(engine, "Fall 2026", same, actor="alex", now=CREATED)
    assert result.changes == ()
    assert _audit(engine) == []


def test_an_unknown_cohort_is_refused(engine: Engine, tmp_path: Path) -> None:
    make_program(engine, tmp_path, 1)
    with pytest.raises(CohortError, match='no cohort named "Spring"'):
        change_messaging(
            engine, "Spring", MessagingSettings(salutation="Hi {name}"), actor="a", now=CREATED
        )
    assert _audit(engine) == []
