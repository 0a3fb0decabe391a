"""Why a mentee is left unmatched, as `tandem match` and `tandem match explain` say it: by
the run's method (a stable matching has no objective), and without "move to no one"."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Tandem

NOW = "2026-08-01T09:00"


def two_for_one_place(tandem: Tandem, db_url: str, tmp_path: Path) -> None:
    """One mentor with one place, two mentees who could both take it."""
    mentors = tmp_path / "mentors.csv"
    mentors.write_text(
        "id,name,email,capacity,career_stage,research_areas\n"
        "M1,Ada Byron,ada@uni.edu,1,senior_faculty,ecology\n",
        encoding="utf-8",
    )
    mentees = tmp_path / "mentees.csv"
    mentees.write_text(
        "id,name,email,career_stage,research_areas\n"
        "E1,Cleo Park,cleo@uni.edu,postdoc,ecology\n"
        "E2,Dev Rao,dev@uni.edu,postdoc,genomics\n",
        encoding="utf-8",
    )
    tandem("import", "mentors", mentors, "--now", NOW, db=db_url)
    tandem("import", "mentees", mentees, "--now", NOW, db=db_url)


OUTRANKED = "every mentor who could take this mentee is full with mentees they rank higher"


def test_a_stable_matching_gives_its_own_reason(
    tandem: Tandem, db_url: str, tmp_path: Path
) -> None:
    two_for_one_place(tandem, db_url, tmp_path)
    out = tmp_path / "pairs.json"
    run = tandem(
        "match", "--cycle", "s", "--method", "stable", "--out", out, "--now", NOW, db=db_url
    )
    assert "objective or group caps" not in run.stdout
    assert OUTRANKED in " ".join(run.stdout.split())
    (unmatched,) = json.loads(out.read_text())["unmatched"]
    assert unmatched == {
        "mentee_id": "E2",
        "reason": OUTRANKED,
        "cause": "outranked",
        "rule": None,
    }
    explained = " ".join(tandem("match", "explain", "E2", db=db_url).stdout.split())
    assert f"Mentee E2 (Dev Rao) is unmatched: {OUTRANKED}." in explained
    as_json = json.loads(tandem("match", "explain", "E2", "--format", "json", db=db_url).stdout)
    assert as_json["unmatched_reason"] == OUTRANKED
    assert as_json["mentee"]["unmatched"]["cause"] == "outranked"


def test_an_optimal_matching_says_the_mentors_are_full_and_who_would_be_left_out(
    tandem: Tandem, db_url: str, tmp_path: Path
) -> None:
    two_for_one_place(tandem, db_url, tmp_path)
    run = tandem("match", "--cycle", "o", "--now", NOW, db=db_url)
    assert "the one feasible mentor is full" in run.stdout
    explained = tandem("match", "explain", "E2", "--mentor", "M1", db=db_url).stdout
    assert "Mentee E2 (Dev Rao) is unmatched: the one feasible mentor is full." in explained
    assert "Not M1 (Ada Byron): score 16.67." in explained
    assert "E1 would be left without a mentor." in explained
    assert "no one" not in explained
