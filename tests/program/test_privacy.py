"""Data rights: export everything about a person, erase them, withdraw consent, purge.

The erasure test searches every table (message contents decompressed) for the person's
name and address afterwards, and checks that the cohort's figures still add up.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select
from sqlmodel import Session, col

from tandem.matcher.types import Role
from tandem.program.certify.audit import audit_log
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.cohorts import PairAction, change_pair
from tandem.program.outbox.channels import channel_from_url
from tandem.program.outbox.store import unpack
from tandem.program.privacy import (
    PrivacyError,
    erase_person,
    export_person,
    purge,
)
from tandem.program.roster.store import import_roster, load_profiles
from tandem.program.storage.tables import (
    CheckIn,
    Cohort,
    OutboxMessage,
    Pair,
    Participant,
    SurveyResponse,
)
from tests.conftest import Tandem
from tests.program.helpers import CREATED, LINK_KEYS, Program, day, make_program, run_due

NAME, EMAIL = "Mentee 1", "mentee1@uni.edu"


@pytest.fixture
def program(engine: Engine, tmp_path: Path) -> Program:
    program = make_program(engine, tmp_path, pairs=3)
    now = day(program.instants, 1, hours=1)
    run_due(engine, now, channel_from_url(f"file:{tmp_path / 'outbox'}"), link_keys=LINK_KEYS)
    for week in (1, 2):
        add_checkin(
            engine,
            program.name,
            "E001",
            week,
            Role.MENTEE,
            CheckinAnswers(met=True, minutes=40, rating=4, note=f"{NAME} talked about grants"),
            now=day(program.instants, week, days=3),
        )
    return program


def dump(engine: Engine) -> str:
    """Every value in every table as text, with message contents decompressed."""
    metadata = MetaData()
    metadata.reflect(engine)
    chunks: list[str] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).all():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(unpack(bytes(value)).decode("utf-8", "replace"))
                    else:
                        chunks.append(json.dumps(value, default=str))
    return "\n".join(chunks)


def counts(engine: Engine) -> dict[str, object]:
    with Session(engine) as session:
        pairs = session.exec(select(Pair.state)).all()  # type: ignore[call-overload]
        checkins = session.exec(select(CheckIn.met, CheckIn.minutes)).all()  # type: ignore[call-overload]
        return {
            "participants": len(session.exec(select(Participant.pk)).all()),  # type: ignore[call-overload]
            "pairs": sorted(str(s[0]) for s in pairs),
            "checkins": sorted((bool(c[0]), c[1]) for c in checkins),
            "messages": len(session.exec(select(OutboxMessage.pk)).all()),  # type: ignore[call-overload]
        }


def test_export_holds_everything_stored_about_the_person(
    engine: Engine, program: Program, tmp_path: Path, tandem: Tandem, db_url: str
) -> None:
    now = day(program.instants, 2, days=4)
    document = export_person(engine, "E001", role=None, actor="privacy office", now=now)
    assert document["profile"]["name"] == NAME and document["profile"]["email"] == EMAIL
    assert [p["partner_id"] for p in document["pairs"]] == ["M001"]
    assert [p["state"] for p in document["pairs"]] == ["proposed"]
    assert [c["note"] for c in document["checkins"]] == [f"{NAME} talked about grants"] * 2
    assert document["matches"][0]["mentor_id"] == "M001"
    assert document["messages"] and all(m["to"] == EMAIL for m in document["messages"])
    assert any("Hello Mentee," in m["text"] for m in document["messages"])  # by first name
    out = tmp_path / "E001.json"
    result = tandem("participants", "export-person", "E001", "--out", out, db=db_url)
    assert result.stdout == f"Wrote everything stored about E001 to {out}\n"
    assert json.loads(out.read_text())["profile"]["external_id"] == "E001"
    missing = tandem(
        "participants",
        "export-person",
        "E001",
        "--out",
        tmp_path / "no" / "x.json",
        db=db_url,
        expect=1,
    )
    assert missing.stderr == (
        f"Error: {tmp_path / 'no' / 'x.json'}: the folder {tmp_path / 'no'} does not exist; "
        "create it first\n"
    )
    entries = [e for e in audit_log(engine) if e.action == "export_person"]
    assert len(entries) == 2 and entries[0].actor == "privacy office"
    assert NAME not in json.dumps([e.details for e in entries]) + entries[0].subject.replace(
        "E001", ""
    )


def test_erasure_removes_every_trace_and_keeps_the_figures(
    engine: Engine, program: Program, tandem: Tandem, db_url: str
) -> None:
    now = day(program.instants, 2, days=4)
    refused = tandem("participants", "erase", "E001", "--reason", "asked", db=db_url, expect=1)
    assert refused.stderr == (
        "Error: E001's pair in Fall 2026 is still proposed: end the pair first "
        "(`tandem pair end`), then erase\n"
    )
    change_pair(
        engine, program.name, "E001", PairAction.END, actor="coord", now=now, reason="moved"
    )
    with Session(engine) as session:
        query = select(Participant).where(col(Participant.external_id) == "E001")
        person = session.execute(query).scalars().one()
        cohort = session.execute(select(Cohort)).scalars().one()
        session.add(
            SurveyResponse(
                cohort_pk=cohort.pk,
                participant_pk=person.pk,
                role="mentee",
                survey="closing",
                answers={"valuable": 6, "what_changed": "I finally wrote my first grant"},
                source="import",
                recorded_at=now,
            )
        )
        session.commit()
    before = counts(engine)
    assert NAME in dump(engine) and EMAIL in dump(engine)
    result = tandem(
        "participants",
        "erase",
        "E001",
        "--reason",
        "GDPR request 17",
        "--now",
        now.isoformat(),
        db=db_url,
    )
    assert result.stdout.splitlines()[0].startswith("Erased the mentee's personal data")
    after = dump(engine)
    assert NAME not in after and EMAIL not in after and "E001" not in after
    with Session(engine) as session:
        [response] = session.execute(select(SurveyResponse)).scalars().all()
    assert response.answers == {"valuable": 6}, result.stdout  # ratings stay, words go
    assert "my first grant" not in after
    assert "Mentee 2" in after and "mentor1@uni.edu" in after  # the partner and others stay
    assert counts(engine) == before
    [entry] = [e for e in audit_log(engine) if e.action == "erase_person"]
    assert entry.details["reason"] == "GDPR request 17" and entry.subject.startswith(
        "participant erased-"
    )
    # Erased people are never matched again; a second erasure is a clear error.
    mentees, _ = load_profiles(engine)
    assert [m.id for m in mentees] == ["E002", "E003"]
    again = tandem("participants", "erase", "E001", "--reason", "again", db=db_url, expect=1)
    assert again.stderr.startswith('Error: no participant with id "E001"')


def test_erasure_renames_earlier_audit_entries_and_deletes_outbox_files(
    engine: Engine, program: Program, tmp_path: Path, tandem: Tandem, db_url: str
) -> None:
    now = day(program.instants, 2, days=4)
    folder = tmp_path / "outbox"
    export_person(engine, "E001", role=None, actor="privacy office", now=now)
    change_pair(
        engine, program.name, "E001", PairAction.END, actor="coord", now=now, reason="moved"
    )
    files = sorted(folder.glob("*.eml"))
    # The pair's messages (each names the partner); other pairs' stay.
    pairs = [f for f in files if "_mentee-E001_" in f.name or "_mentor-M001_" in f.name]
    naming = [f for f in files if NAME in f.read_text() or EMAIL in f.read_text()]
    assert naming and set(naming) <= set(pairs) and len(pairs) < len(files)
    refused = tandem(
        "participants", "erase", "E001", "--reason", "asked", "--outbox", tmp_path / "none",
        db=db_url, expect=1,
    )  # fmt: skip
    assert refused.stderr == (
        f"Error: --outbox {tmp_path / 'none'}: not a folder; give the file outbox's folder\n"
    )
    assert "E001" in dump(engine)  # nothing was erased
    result = tandem(
        "participants", "erase", "E001", "--reason", "asked", "--outbox", folder,
        "--now", now.isoformat(), db=db_url,
    )  # fmt: skip
    assert result.stdout.splitlines()[-1] == (f"Message files deleted from {folder}: {len(pairs)}.")
    left = sorted(folder.glob("*.eml"))
    assert left == [f for f in files if f not in pairs]
    assert not any(NAME in f.read_text() or EMAIL in f.read_text() for f in left)
    assert "E001" not in dump(engine)  # the export's audit entry names the new id
    export = [e for e in audit_log(engine) if e.action == "export_person"]
    assert [e.subject for e in export] == [f"participant {erase_id(engine)}"]


def erase_id(engine: Engine) -> str:
    with Session(engine) as session:
        ids = session.exec(select(Participant.external_id)).all()  # type: ignore[call-overload]
    [erased] = [i[0] for i in ids if i[0].startswith("erased-")]
    return str(erased)


def test_withdrawing_consent_removes_identity_from_storage_and_matching(
    engine: Engine, tmp_path: Path, tandem: Tandem, db_url: str
) -> None:
    roster = tmp_path / "mentees.csv"
    roster.write_text(
        "id,name,email,identity_consent,identity,identity_preferences\n"
        "E1,Ada,ada@u.edu,yes,first-generation,first-generation\n",
        encoding="utf-8",
    )
    tandem("import", "mentees", roster, db=db_url)
    assert load_profiles(engine)[0][0].identity == ("first-generation",)
    result = tandem("participants", "withdraw-consent", "E1", db=db_url)
    assert result.stdout == "Consent withdrawn for E1: 2 identity attributes removed.\n"
    [mentee], _ = load_profiles(engine)
    assert mentee.identity == () and mentee.identity_preferences == ()
    assert "first-generation" not in dump(engine)


def test_purge_erases_only_cohorts_closed_long_enough_ago(
    engine: Engine, program: Program, tandem: Tandem, db_url: str, tmp_path: Path
) -> None:
    closed = day(program.instants, 16, days=7)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).scalars().one()  # type: ignore[call-overload]
        cohort.completed_at = closed
        session.add(cohort)
        session.commit()
    for mentee in ("E001", "E002", "E003"):
        change_pair(engine, program.name, mentee, PairAction.END, actor="c", now=closed, reason="x")
    # Never paired: E004 applied with the others; M004 applied after the cohort closed;
    # E005 applied with the others and applied again, unchanged, to a later cycle.
    people = tmp_path / "later"
    people.mkdir()
    mentee = "id,name,email\nE004,Mentee 4,mentee4@uni.edu\nE005,Mentee 5,mentee5@uni.edu\n"
    (people / "mentees.csv").write_text(mentee, encoding="utf-8")
    (people / "mentors.csv").write_text("id,name,email\nM004,Mentor 4,m4@uni.edu\n")
    import_roster(engine, people / "mentees.csv", Role.MENTEE, now=CREATED)
    import_roster(engine, people / "mentors.csv", Role.MENTOR, now=closed + timedelta(days=300))
    (people / "mentees.csv").write_text(mentee.replace("E004,Mentee 4,mentee4@uni.edu\n", ""))
    import_roster(
        engine, people / "mentees.csv", Role.MENTEE, now=closed + timedelta(days=90), cycle="2028"
    )
    soon = (closed + timedelta(days=100)).isoformat()
    late = (closed + timedelta(days=800)).isoformat()
    early = tandem("purge", "--months", "24", "--dry-run", "--now", soon, db=db_url)
    assert early.stdout == (
        "Would erase 0 people (cohorts closed, or never paired and record unchanged, more than "
        "24 months ago).\n"
    )
    dry = tandem("purge", "--months", "24", "--dry-run", "--now", late, db=db_url)
    assert dry.stdout.splitlines() == [
        "Would erase 7 people (cohorts closed, or never paired and record unchanged, more "
        "than 24 months ago).",
        *(f"  mentee E00{n}: Fall 2026" for n in (1, 2, 3)),
        "  mentee E004: never paired",
        *(f"  mentor M00{n}: Fall 2026" for n in (1, 2, 3)),
    ]
    assert NAME in dump(engine)
    folder = tmp_path / "outbox"
    files = sorted(folder.glob("*.eml"))
    done = tandem("purge", "--months", "24", "--now", late, "--outbox", folder, db=db_url)
    left = sorted(folder.glob("*.eml"))
    assert done.stdout.splitlines()[-1] == (
        f"Message files deleted from {folder}: {len(files) - len(left)}."
    )
    # What stays names no participant: the coordinator's digest, in counts.
    assert [f.name.split("_")[3] for f in left] == ["digest"]
    assert not re.search(r"Ment(or|ee) \d|ment(or|ee)\d@", left[0].read_text())
    assert NAME not in dump(engine) and "Mentor 3" not in dump(engine)
    assert "Mentee 4" not in dump(engine) and "mentee4@uni.edu" not in dump(engine)
    assert "Mentor 4" in dump(engine) and "Mentee 5" in dump(engine)  # changed since
    assert sorted(
        {e.details["reason"] for e in audit_log(engine) if e.action == "erase_person"}
    ) == [
        "retention: 24 months after Fall 2026 closed",
        "retention: never paired, record unchanged for 24 months",
    ]
    again = tandem("purge", "--months", "24", "--now", late, db=db_url)
    assert again.stdout.startswith("Erased 0 people")
    later = (closed + timedelta(days=1100)).isoformat()
    last = tandem("purge", "--months", "24", "--now", later, db=db_url)
    assert last.stdout.splitlines()[1:] == [
        "  mentee E005: never paired",
        "  mentor M004: never paired",
    ]
    assert "Mentor 4" not in dump(engine) and "Mentee 5" not in dump(engine)
    with pytest.raises(PrivacyError, match="give 1 to 1200 months"):
        purge(engine, months=0, actor="x", now=closed, dry_run=True)
    with pytest.raises(PrivacyError, match="say why"):
        erase_person(engine, "E001", role=None, reason=" ", actor="x", now=closed)


def test_a_person_in_both_roles_is_exported_whole_and_their_other_record_named_on_erasure(
    engine: Engine, program: Program, tmp_path: Path, tandem: Tandem, db_url: str
) -> None:
    now = day(program.instants, 2, days=4)
    mentors = tmp_path / "also-mentors.csv"
    mentors.write_text(
        "id,name,email,capacity,career_stage\n"
        "M004,Mentee 1,Mentee1@uni.edu,1,senior_faculty\n"  # E001, applying as a mentor too
        "E002,Mentee 2,mentee2@uni.edu,1,senior_faculty\n",  # E002, with the same id
        encoding="utf-8",
    )
    import_roster(engine, mentors, Role.MENTOR, now=now)
    out = tmp_path / "E001.json"
    tandem("participants", "export-person", "E001", "--out", out, db=db_url)
    document = json.loads(out.read_text())
    [other] = document["same_person_other_records"]
    assert (other["role"], other["id"]) == ("mentor", "M004")
    assert other["export"]["profile"]["external_id"] == "M004"
    assert other["export"]["pairs"] == [] and other["export"]["messages"] == []
    assert [e.subject for e in audit_log(engine) if e.action == "export_person"] == [
        "participant E001",
        "participant M004",
    ]
    refused = tandem("participants", "export-person", "E002", db=db_url, expect=1)
    assert "say which with --role mentor or --role mentee" in refused.stderr
    mentee = tandem("participants", "export-person", "E002", "--role", "mentee", db=db_url)
    records = json.loads(mentee.stdout)["same_person_other_records"]
    assert [(r["role"], r["id"]) for r in records] == [("mentor", "E002")]
    assert json.loads(mentee.stdout)["profile"]["role"] == "mentee"

    change_pair(engine, program.name, "E001", PairAction.END, actor="c", now=now, reason="x")
    erase = ["participants", "erase", "--reason", "asked", "--now", now.isoformat()]
    result = tandem(*erase, "E001", db=db_url)
    assert result.stdout.splitlines()[2:] == [
        "The same address is also mentor M004, which is kept: erase it too with "
        "`tandem participants erase M004 --role mentor --reason …`."
    ]
    kept = dump(engine)
    assert "E001" not in kept and "M004" in kept and "Mentee1@uni.edu" in kept
    with Session(engine) as session:
        to = session.exec(select(OutboxMessage.recipient_email)).all()  # type: ignore[call-overload]
    assert EMAIL not in {t[0] for t in to}  # the mentee record's messages are emptied
    second = tandem(*erase, "M004", "--role", "mentor", db=db_url)
    assert len(second.stdout.splitlines()) == 2  # nothing more to name
    assert NAME not in dump(engine) and EMAIL not in dump(engine).lower()
