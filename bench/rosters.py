"""Generated application rosters (the import format of README "Profile columns").

Two kinds, seeded explicitly:

* ``independent``: every profile draws its department, research areas, goals, stage,
  time zone, languages and meeting modes independently, so each mentee's best mentors are
  spread over the whole roster;
* ``popular``: a few "star" mentors (2 % of them) cover a handful of hot research areas and
  the most wanted goals, are senior, and speak English; 80 % of mentees list those areas
  and goals, so most mentees' best mentors are the same few (the case that defeats greedy
  matching and naive pruning).

Ids, capacities (1–6) and the mentee/mentor order agree with :mod:`bench.gen`, so a
scores file written by :func:`bench.gen.write_score_files` fits the same roster.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.gen import Kind, capacities, mentee_ids, mentor_ids
from tandem.matcher.types import MentoringTopic
from tandem.program.roster.parse import COMMON_COLUMNS, IDENTITY_COLUMNS

DEPARTMENTS = {
    "Biology": ["genomics", "cell biology", "ecology", "neuroscience", "microbiology"],
    "Computer Science": ["machine learning", "data science", "hci", "systems", "security"],
    "Public Health": ["epidemiology", "health equity", "global health", "biostatistics"],
    "Physics": ["condensed matter", "astrophysics", "quantum information", "optics"],
    "Psychology": ["cognitive science", "developmental psychology", "social psychology"],
    "Chemistry": ["organic chemistry", "materials science", "biochemistry", "catalysis"],
    "Earth Science": ["climate", "hydrology", "geophysics", "oceanography"],
    "Mathematics": ["probability", "optimization", "topology", "number theory"],
    "Economics": ["labor economics", "development economics", "econometrics"],
    "Engineering": ["robotics", "control", "signal processing", "energy systems"],
    "Medicine": ["oncology", "cardiology", "immunology", "clinical trials"],
    "Linguistics": ["phonology", "syntax", "sociolinguistics", "computational linguistics"],
}
HOT_AREAS = ["machine learning", "genomics", "climate", "immunology"]
WORDS = [
    "models",
    "data",
    "networks",
    "methods",
    "theory",
    "experiments",
    "imaging",
    "sequencing",
    "simulation",
    "inference",
    "learning",
    "dynamics",
    "structure",
    "evolution",
    "signals",
    "populations",
    "measurement",
    "causal",
    "spatial",
    "temporal",
    "scalable",
    "robust",
    "interpretable",
    "adaptive",
    "bayesian",
    "stochastic",
    "molecular",
    "cellular",
    "clinical",
    "environmental",
    "social",
    "cognitive",
    "quantum",
    "statistical",
    "computational",
    "experimental",
    "field",
    "survey",
    "longitudinal",
    "community",
    "policy",
    "health",
    "energy",
    "materials",
    "sensors",
    "mechanisms",
    "pathways",
    "circuits",
    "markets",
    "language",
    "behavior",
    "systems",
]
GOALS = [topic.value for topic in MentoringTopic]
HOT_GOALS = ["grant_writing", "publishing", "career_planning"]
LANGUAGES = ["english", "spanish", "german", "mandarin", "french", "japanese", "hindi"]
MODES = ["video", "phone", "in_person", "async"]
ZONES = [
    "America/Chicago",
    "America/Los_Angeles",
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
]
MENTEE_STAGES = ["undergraduate", "graduate_student", "postdoc", "early_career_faculty"]
MENTEE_STAGE_P = [0.2, 0.45, 0.25, 0.1]
MENTOR_STAGES = ["postdoc", "early_career_faculty", "mid_career_faculty", "senior_faculty"]
MENTOR_STAGE_P = [0.15, 0.25, 0.3, 0.3]
INSTITUTIONS = 40
STAR_SHARE = 0.02
"""Share of mentors who are "stars" in the popular kind."""
HOT_MENTEE_SHARE = 0.8

COMMON = [c for c in COMMON_COLUMNS if c not in ("identity_consent", *IDENTITY_COLUMNS)]
"""The roster columns without the opt-in identity ones (the benchmark has none)."""
MENTOR_COLUMNS = [*COMMON[:3], "capacity", *COMMON[3:], "expertise"]
MENTEE_COLUMNS = [*COMMON, "goals"]


def _pick(rng: np.random.Generator, items: list[str], low: int, high: int) -> list[str]:
    k = int(rng.integers(low, high + 1))
    return [
        items[i] for i in sorted(rng.choice(len(items), size=min(k, len(items)), replace=False))
    ]


def _person(rng: np.random.Generator, pid: str, role: str, stage: str) -> dict[str, str]:
    department = sorted(DEPARTMENTS)[int(rng.integers(len(DEPARTMENTS)))]
    areas = _pick(rng, DEPARTMENTS[department], 1, 3)
    words = [WORDS[i] for i in rng.choice(len(WORDS), size=5, replace=False)]
    extra = _pick(rng, LANGUAGES[1:], 0, 1) if rng.random() < 0.5 else []
    return {
        "id": pid,
        "name": f"{role.title()} {pid}",
        "email": f"{pid}@inst{int(rng.integers(INSTITUTIONS)):02d}.example.edu",
        "career_stage": stage,
        "institution": f"Institute {int(rng.integers(INSTITUTIONS)):02d}",
        "department": department,
        "research_areas": ";".join(areas),
        "research_interests": f"I work on {' '.join(areas)} with {' '.join(words)}.",
        "timezone": ZONES[int(rng.integers(len(ZONES)))],
        "languages": ";".join(["english", *extra] if rng.random() < 0.97 else extra or ["spanish"]),
        "meeting_modes": ";".join(_pick(rng, MODES, 1, 3)),
        "excluded": "",
    }


def make_rosters(
    n_mentees: int, n_mentors: int, kind: Kind, seed: int = 0
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(mentors, mentees) as rows of the import format, deterministic for a seed."""
    rng = np.random.default_rng([seed, 4])
    caps = capacities(n_mentors, seed)
    stars = set()
    if kind is Kind.POPULAR:
        count = max(1, round(n_mentors * STAR_SHARE))
        stars = {int(j) for j in rng.choice(n_mentors, size=count, replace=False)}
    mentors = []
    mentor_stage = rng.choice(len(MENTOR_STAGES), size=n_mentors, p=MENTOR_STAGE_P)
    for j, pid in enumerate(mentor_ids(n_mentors)):
        star = j in stars
        stage = "senior_faculty" if star else MENTOR_STAGES[int(mentor_stage[j])]
        person = _person(rng, pid, "mentor", stage)
        person["capacity"] = str(int(caps[j]))
        expertise = _pick(rng, GOALS, 3, 6)
        if star:
            person["research_areas"] = ";".join(HOT_AREAS)
            person["research_interests"] += " " + " ".join(HOT_AREAS) + "."
            person["languages"] = "english"
            person["meeting_modes"] = ";".join(MODES)
            expertise = sorted(set(expertise) | set(HOT_GOALS))
        elif kind is Kind.POPULAR:
            kept = [a for a in person["research_areas"].split(";") if a not in HOT_AREAS]
            person["research_areas"] = ";".join(kept or ["topology"])
        person["expertise"] = ";".join(expertise)
        mentors.append(person)
    mentees = []
    mentee_stage = rng.choice(len(MENTEE_STAGES), size=n_mentees, p=MENTEE_STAGE_P)
    all_mentors = mentor_ids(n_mentors)
    for i, pid in enumerate(mentee_ids(n_mentees)):
        person = _person(rng, pid, "mentee", MENTEE_STAGES[int(mentee_stage[i])])
        goals = _pick(rng, GOALS, 2, 4)
        if kind is Kind.POPULAR and rng.random() < HOT_MENTEE_SHARE:
            hot = _pick(rng, HOT_AREAS, 1, 2)
            person["research_areas"] = ";".join(hot)
            person["research_interests"] = f"I want to learn {' '.join(hot)}."
            goals = sorted(set(goals[:1]) | set(HOT_GOALS[:2]))
        person["goals"] = ";".join(goals)
        if rng.random() < 0.05:
            person["excluded"] = all_mentors[int(rng.integers(n_mentors))]
        mentees.append(person)
    return mentors, mentees


def write_rosters(folder: Path, n_mentees: int, n_mentors: int, kind: Kind, seed: int = 0) -> None:
    """``mentors.csv`` and ``mentees.csv`` in the import format."""
    folder.mkdir(parents=True, exist_ok=True)
    mentors, mentees = make_rosters(n_mentees, n_mentors, kind, seed)
    for name, rows, columns in (
        ("mentors.csv", mentors, MENTOR_COLUMNS),
        ("mentees.csv", mentees, MENTEE_COLUMNS),
    ):
        with (folder / name).open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
