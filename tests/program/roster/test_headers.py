"""Headers as survey tools write them: a known field with a hint added is read as that
field; a column Tandem does not know is kept as a custom field, and the import says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Role
from tandem.program.roster import store as roster
from tandem.program.roster.files import InputFileError, normalize_column
from tandem.program.roster.parse import _close_term
from tandem.program.roster.validate import ROSTER_FIELDS, header_key
from tests.conftest import Tandem

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TOPICS = [t.value for t in MentoringTopic]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_header_with_a_hint_is_read_as_the_field_it_names(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mentors.csv",
        "ID,Full Name,Email Address,Capacity?,Research areas (separate with ;),"
        "Languages [comma-separated],Time zone:\n"
        'M1,Ada Byron,ada@uni.edu,2,ecology; genomics,"English, French",Europe/Berlin\n',
    )
    report = roster.import_roster(engine, path, Role.MENTOR, now=NOW)
    assert report.warnings == ()
    (person,) = roster.list_participants(engine)
    assert (person.capacity, person.research_areas, person.languages, person.timezone) == (
        2,
        ["ecology", "genomics"],
        ["english", "french"],
        "Europe/Berlin",
    )
    assert person.custom == {}


def test_an_unknown_column_is_kept_and_named_in_a_warning(
    db_url: str, engine: Engine, tmp_path: Path, tandem: Tandem
) -> None:
    path = write(
        tmp_path,
        "mentees.csv",
        "id,name,email,Reserch areas,Favourite colour\nE1,Cleo Park,cleo@uni.edu,ecology,teal\n",
    )
    result = tandem("import", "mentees", path, db=db_url)
    assert result.stderr.splitlines() == [
        'warning: mentees.csv, row 1: column "Reserch areas" is not a field Tandem knows; it is '
        "kept as a custom field, which matching uses only if a matching configuration names "
        'it; did you mean "research_areas"?',
        'warning: mentees.csv, row 1: column "Favourite colour" is not a field Tandem knows; '
        "it is kept as a custom field, which matching uses only if a matching configuration "
        "names it",
    ]
    assert result.stdout.startswith("mentees.csv: 1 added")
    (person,) = roster.list_participants(engine)
    assert person.custom == {"reserch_areas": "ecology", "favourite_colour": "teal"}
    assert person.research_areas == []


def test_two_hinted_headers_for_one_field_are_refused(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mentees.csv",
        "id,name,Email (work),Email (home)\nE1,Cleo,cleo@uni.edu,cleo@home.example\n",
    )
    with pytest.raises(InputFileError) as raised:
        roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    assert str(raised.value) == (
        'mentees.csv, row 1, column "email_(home)": column means the same as column '
        '"email_(work)"; keep one of them; nothing was imported'
    )


def test_a_missing_id_column_says_what_to_add(db_url: str, tmp_path: Path, tandem: Tandem) -> None:
    path = write(tmp_path, "mentors.csv", "name,email\nAda,ada@uni.edu\n")
    result = tandem("import", "mentors", path, db=db_url, expect=1)
    assert result.stderr == (
        'Error: mentors.csv, row 1, column "id": required column is missing; add a column '
        'headed "id"; nothing was imported\n'
    )


def test_one_problem_also_says_nothing_was_imported(
    db_url: str, tmp_path: Path, tandem: Tandem
) -> None:
    path = write(tmp_path, "mentors.csv", "id,name,email,capacity\nM1,Ada,ada@uni.edu,lots\n")
    result = tandem("import", "mentors", path, db=db_url, expect=1)
    assert result.stderr.endswith("got 'lots'; nothing was imported\n")


@pytest.mark.parametrize(
    ("written", "choices", "suggested"),
    [
        ("work life balance", TOPICS, "work_life_integration"),
        ("Work-life balance", TOPICS, "work_life_integration"),
        ("grant writting", TOPICS, "grant_writing"),
        ("time mgmt", TOPICS, "time_management"),
        ("mentoring up", TOPICS, None),
        ("writing", TOPICS, None),
        ("the and of", TOPICS, None),
        ("early career", [s.value for s in CareerStage], "early_career_faculty"),
        ("faculty", [s.value for s in CareerStage], None),
        ("video call", [m.value for m in MeetingMode], "video"),
    ],
)
def test_vocabulary_suggestions_come_from_spelling_or_shared_words(
    written: str, choices: list[str], suggested: str | None
) -> None:
    assert _close_term(written, choices) == suggested


def test_an_unknown_topic_with_shared_words_gets_its_suggestion(
    db_url: str, tmp_path: Path, tandem: Tandem
) -> None:
    path = write(
        tmp_path, "mentees.csv", "id,name,email,goals\nE1,Cleo,cleo@uni.edu,work life balance\n"
    )
    result = tandem("import", "mentees", path, db=db_url, expect=1)
    assert 'unknown mentoring topic "work life balance"; did you mean "work_life_integration"?' in (
        result.stderr
    )


hints = st.sampled_from(["(", "[", "{"]).flatmap(
    lambda opening: st.text(st.characters(exclude_characters="()[]{}"), max_size=20).map(
        lambda inside: opening + inside + {"(": ")", "[": "]", "{": "}"}[opening]
    )
)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(sorted(ROSTER_FIELDS)),
    hint=hints,
    punctuation=st.text(st.sampled_from("?:!.* "), max_size=3),
)
def test_any_hint_after_a_field_reads_as_the_field(field: str, hint: str, punctuation: str) -> None:
    header = field.replace("_", " ").title() + " " + hint + punctuation
    assert header_key(normalize_column(header)) == field


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_header_key_and_suggestions_never_fail_on_any_text(text: str) -> None:
    key = header_key(normalize_column(text))
    assert header_key(key) == key
    assert _close_term(text, TOPICS) in (None, *TOPICS)


def test_a_hostile_header_is_read_in_one_pass() -> None:
    import time

    started = time.perf_counter()
    assert header_key("(" * 100_000 + "x") == ""
    assert header_key("_" * 100_000 + "x") == "x"
    assert header_key("x" + "_!" * 100_000) == "x"
    assert header_key("(a)" * 50_000 + "capacity") == "capacity"
    assert time.perf_counter() - started < 2
