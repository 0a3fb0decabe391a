"""Generate the invented sample roster in examples/ (deterministic: same files every run).

    .venv/bin/python examples/make_roster.py [MENTORS MENTEES [OUT_DIR]]

Every person, institution and e-mail address is invented. The files use every profile
column, so the demo and the docs exercise the whole data contract.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from tandem.matcher.types import MentoringTopic
from tandem.program.roster.parse import COMMON_COLUMNS

FIRST = [
    "Amara",
    "Ben",
    "Chen",
    "Dalia",
    "Elif",
    "Farid",
    "Grace",
    "Hugo",
    "Imani",
    "Jonas",
    "Keiko",
    "Luis",
    "Maya",
    "Nikhil",
    "Olga",
    "Priya",
    "Quentin",
    "Rosa",
    "Samir",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
    "Dmitri",
    "Esther",
    "Felipe",
    "Hana",
    "Ines",
    "Jamal",
    "Kirsten",
    "Leila",
    "Mateo",
    "Nadia",
    "Omar",
    "Paula",
    "Rafael",
    "Sofia",
    "Tomas",
    "Ugo",
    "Valentina",
    "Wanjiru",
    "Yara",
]
LAST = [
    "Abebe",
    "Alvarez",
    "Andersen",
    "Bakr",
    "Banerjee",
    "Castillo",
    "Chowdhury",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jansen",
    "Kaur",
    "Kowalski",
    "Larsen",
    "Mensah",
    "Moreau",
    "Nakamura",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Petrov",
    "Quispe",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Tanaka",
    "Torres",
    "Usman",
    "Vargas",
    "Weber",
    "Wright",
    "Yilmaz",
    "Zhou",
]

INSTITUTIONS = [
    ("Northlake University", "northlake.edu", "America/Chicago"),
    ("Coastal Institute of Technology", "coastal-tech.edu", "America/Los_Angeles"),
    ("Riverside State University", "riverside-state.edu", "America/New_York"),
    ("Hanseatic Research University", "hanseatic-uni.de", "Europe/Berlin"),
    ("University of the Lowlands", "lowlands-univ.nl", "Europe/Amsterdam"),
    ("Kestrel Medical College", "kestrel-med.ac.uk", "Europe/London"),
    ("Pacific Rim University", "pacificrim-u.ac.jp", "Asia/Tokyo"),
    ("Southern Cross Institute", "southerncross.edu.au", "Australia/Sydney"),
]

AREAS = {
    "Biology": ["genomics", "cell biology", "ecology", "neuroscience", "microbiology"],
    "Computer Science": [
        "machine learning",
        "data science",
        "human-computer interaction",
        "systems",
    ],
    "Public Health": ["epidemiology", "health equity", "global health", "biostatistics"],
    "Physics": ["condensed matter", "astrophysics", "quantum information"],
    "Psychology": ["cognitive science", "developmental psychology", "neuroscience"],
    "Chemistry": ["organic chemistry", "materials science", "biochemistry"],
}

PHRASES = {
    "genomics": "population genomics of adaptation and variant calling at scale",
    "cell biology": "how cells sense mechanical forces during tissue repair",
    "ecology": "plant–pollinator networks under a warming climate",
    "neuroscience": "circuit mechanisms of memory consolidation during sleep",
    "microbiology": "antibiotic tolerance in biofilm communities",
    "machine learning": "robust and interpretable machine learning for clinical data",
    "data science": "reproducible data pipelines and open research software",
    "human-computer interaction": "accessible interfaces designed with disabled users",
    "systems": "energy-efficient distributed systems and scheduling",
    "epidemiology": "infectious disease transmission models and surveillance",
    "health equity": "structural drivers of health disparities in rural communities",
    "global health": "maternal health interventions in low-resource settings",
    "biostatistics": "causal inference methods for observational health studies",
    "condensed matter": "emergent magnetism in layered quantum materials",
    "astrophysics": "galaxy formation in large cosmological simulations",
    "quantum information": "error correction for near-term quantum devices",
    "cognitive science": "how people learn abstract concepts from few examples",
    "developmental psychology": "language development in multilingual children",
    "organic chemistry": "catalytic methods for sustainable synthesis",
    "materials science": "polymer materials for battery electrolytes",
    "biochemistry": "protein folding and the enzymes that assist it",
}

GOALS = [topic.value for topic in MentoringTopic]
LANGUAGES = ["english", "spanish", "german", "mandarin", "french", "japanese", "hindi", "arabic"]
MODES = ["video", "phone", "in_person", "async"]
IDENTITY = ["first-generation", "woman in stem", "lgbtq+", "parent", "international", "veteran"]
MENTEE_STAGES = [
    "undergraduate",
    "graduate_student",
    "graduate_student",
    "postdoc",
    "postdoc",
    "early_career_faculty",
]
MENTOR_STAGES = [
    "postdoc",
    "early_career_faculty",
    "mid_career_faculty",
    "mid_career_faculty",
    "senior_faculty",
    "senior_faculty",
]

COMMON = list(COMMON_COLUMNS)


def _person(rng: random.Random, used: set[str], stage: str) -> dict[str, str]:
    while True:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if (first, last) not in used:
            used.add((first, last))  # type: ignore[arg-type]
            break
    institution, domain, zone = rng.choice(INSTITUTIONS)
    department = rng.choice(sorted(AREAS))
    areas = rng.sample(AREAS[department], k=min(len(AREAS[department]), rng.choice([1, 2, 2, 3])))
    interests = "; ".join(PHRASES[a] for a in areas[:2])
    languages = [
        "english",
        *rng.sample(
            [lang for lang in LANGUAGES if lang != "english"], k=rng.choice([0, 0, 1, 1, 2])
        ),
    ]
    consent = rng.random() < 0.35
    return {
        "name": f"{first} {last}",
        "email": f"{first}.{last}@{domain}".lower(),
        "career_stage": stage,
        "institution": institution,
        "department": department,
        "research_areas": ";".join(areas),
        "research_interests": f"I work on {interests}.",
        "timezone": zone if rng.random() < 0.9 else rng.choice(INSTITUTIONS)[2],
        "languages": ";".join(lang.capitalize() for lang in languages),  # as people write them
        "meeting_modes": ";".join(rng.sample(MODES, k=rng.choice([1, 2, 2, 3]))),
        "identity_consent": "yes" if consent else "no",
        "identity": ";".join(rng.sample(IDENTITY, k=rng.choice([1, 2]))) if consent else "",
    }


def make(
    mentor_count: int, mentee_count: int, seed: int = 2026
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(seed)
    used: set[str] = set()
    mentors = []
    for number in range(1, mentor_count + 1):
        person = _person(rng, used, rng.choice(MENTOR_STAGES))
        person.update(
            id=f"M{number:03d}",
            capacity=str(rng.choice([1, 2, 2, 3, 3, 4])),
            expertise=";".join(rng.sample(GOALS, k=rng.choice([3, 4, 5]))),
            identity_preferences="",
            excluded="",
            mentor_training=rng.choice(["yes", "yes", "yes", "no"]),
        )
        mentors.append(person)
    mentees = []
    for number in range(1, mentee_count + 1):
        person = _person(rng, used, rng.choice(MENTEE_STAGES))
        wants = person["identity"].split(";")[:1] if person["identity"] else []
        person.update(
            id=f"E{number:03d}",
            goals=";".join(rng.sample(GOALS, k=rng.choice([2, 3, 4]))),
            identity_preferences=";".join(wants),
            excluded="",
            cohort_preference=rng.choice(["spring", "spring", "fall"]),
        )
        mentees.append(person)
    # Conflicts of interest: a few mentees must not be paired with their own supervisor.
    for mentee in rng.sample(mentees, k=max(1, mentee_count // 12)):
        mentee["excluded"] = rng.choice(mentors)["id"]
    # A postdoc can be both: mentored by a senior colleague and mentoring a student.
    for mentor in [m for m in mentors if m["career_stage"] == "postdoc"][:2]:
        twin = dict(
            mentor,
            id=f"E{len(mentees) + 1:03d}",
            career_stage="postdoc",
            goals="career_planning;grant_writing;job_search",
            cohort_preference="spring",
            identity_preferences="",
        )
        for key in ("capacity", "expertise", "mentor_training"):
            twin.pop(key)
        mentees.append(twin)
    return mentors, mentees


def write(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def main() -> None:
    mentor_count = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    mentee_count = int(sys.argv[2]) if len(sys.argv) > 2 else 144
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).parent
    mentors, mentees = make(mentor_count, mentee_count)
    write(
        out / "mentors.csv",
        mentors,
        [*COMMON[:3], "capacity", *COMMON[3:], "expertise", "mentor_training"],
    )
    write(out / "mentees.csv", mentees, [*COMMON, "goals", "cohort_preference"])
    print(f"wrote {len(mentors)} mentors and {len(mentees)} mentees to {out}")


if __name__ == "__main__":
    main()
