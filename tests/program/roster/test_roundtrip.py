"""Property: any valid roster survives import → store → export → import unchanged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlmodel import Session

from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Role
from tandem.program.roster import store as roster
from tandem.program.storage.tables import Participant

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LATER = datetime(2026, 3, 2, tzinfo=UTC)

text = (
    st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters=";"
        ),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
tags = st.lists(text.map(lambda t: " ".join(t.lower().split())), max_size=3, unique=True)


@st.composite
def people(draw: st.DrawFn, role: Role) -> list[dict[str, object]]:
    count = draw(st.integers(1, 6))
    rows = []
    for number in range(count):
        consent = draw(st.booleans())
        row: dict[str, object] = {
            "id": f"P{number}",
            "name": draw(text),
            "email": f"p{number}@uni{draw(st.integers(0, 3))}.edu",
            "career_stage": draw(st.sampled_from([None, *CareerStage])),
            "institution": draw(st.one_of(st.none(), text)),
            "research_areas": draw(tags),
            "research_interests": draw(st.one_of(st.just(""), text)),
            "timezone": draw(st.sampled_from([None, "UTC", "Europe/Berlin", "Asia/Tokyo"])),
            "languages": draw(tags),
            "meeting_modes": draw(st.lists(st.sampled_from(list(MeetingMode)), unique=True)),
            "identity_consent": consent,
            "identity": draw(tags) if consent else [],
            "topics": draw(
                st.lists(st.sampled_from(list(MentoringTopic)), unique=True, max_size=4)
            ),
            "field": draw(st.one_of(st.none(), text)),
        }
        if role is Role.MENTOR:
            row["capacity"] = draw(st.integers(0, 6))
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, object]], role: Role) -> str:
    topic_column = "expertise" if role is Role.MENTOR else "goals"
    columns = [
        "id",
        "name",
        "email",
        "career_stage",
        "institution",
        "research_areas",
        "research_interests",
        "timezone",
        "languages",
        "meeting_modes",
        "identity_consent",
        "identity",
        topic_column,
        "field",
    ]
    if role is Role.MENTOR:
        columns.append("capacity")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = dict(row, **{topic_column: row["topics"]})
        cells = []
        for column in columns:
            value = values.get(column)
            if isinstance(value, list):
                value = ";".join(str(v) for v in value)
                if ";" not in value and "," in value:  # as export writes it: not comma-split
                    value += ";"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            cells.append("" if value is None else str(value))
        writer.writerow(cells)
    return out.getvalue()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_roster_round_trips_through_store_and_export(
    engine: Engine, tmp_path: Path, data: st.DataObject
) -> None:
    role = data.draw(st.sampled_from(list(Role)))
    rows = data.draw(people(role))
    with Session(engine) as session:
        session.exec(delete(Participant))
        session.commit()
    source = tmp_path / "in.csv"
    source.write_text(to_csv(rows, role), encoding="utf-8")
    roster.import_roster(engine, source, role, now=NOW)
    stored = [r.model_dump() for r in roster.list_participants(engine)]
    profiles = {p.id: p for p in (roster.load_profiles(engine)[role is Role.MENTOR])}
    for row in rows:
        profile = profiles[str(row["id"])]
        assert profile.name == row["name"]
        assert list(profile.topics) == row["topics"]
        assert list(profile.research_areas) == row["research_areas"]
        assert profile.custom_value("field") == row["field"]
        if role is Role.MENTOR:
            assert profile.capacity == row["capacity"]

    exported = tmp_path / "out.csv"
    with exported.open("wb") as handle:
        roster.export_roster(engine, role, handle, roster.export_format(exported))
    report = roster.import_roster(engine, exported, role, now=LATER)
    assert report.added == () and report.updated == ()
    assert [r.model_dump() for r in roster.list_participants(engine)] == stored
