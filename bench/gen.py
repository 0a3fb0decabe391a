"""Generated rosters and score files for benchmarks: independent or "popular mentors".

Everything is seeded explicitly. Independent scores are uniform on 0–100 (two decimals);
"popular mentors" scores add a per-mentor popularity to per-pair noise, so that everyone
wants the same mentors (the case where greedy and naive pruning go wrong).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import numpy as np

from tandem.matcher.compat import SCALE
from tandem.matcher.sources import DenseScores

FORBIDDEN_SHARE = 0.02
"""Share of pairs a hard rule forbids."""


class Kind(StrEnum):
    INDEPENDENT = "independent"
    POPULAR = "popular"


def mentee_ids(n: int) -> list[str]:
    return [f"e{i:06d}" for i in range(n)]


def mentor_ids(n: int) -> list[str]:
    return [f"m{j:06d}" for j in range(n)]


def capacities(n_mentors: int, seed: int) -> np.ndarray:
    """Capacities 1–6."""
    return np.random.default_rng([seed, 1]).integers(1, 7, n_mentors)


def score_rows(
    rng: np.random.Generator, popularity: np.ndarray, rows: int, kind: Kind
) -> np.ndarray:
    """Scores in hundredths (0–10,000) for ``rows`` mentees, as int32."""
    n_m = popularity.size
    if kind is Kind.INDEPENDENT:
        hundredths = rng.integers(0, 10_001, (rows, n_m), dtype=np.int32)
    else:
        noise = rng.integers(0, 4_001, (rows, n_m), dtype=np.int32)
        hundredths = np.minimum(noise + popularity[None, :], 10_000).astype(np.int32)
    return hundredths


def dense_scores(n_mentees: int, n_mentors: int, kind: Kind, seed: int = 0) -> DenseScores:
    """A dense source held as int32 points (SCALE per 1.0), 2 % of pairs forbidden."""
    rng = np.random.default_rng([seed, 2])
    popularity = rng.integers(0, 6_001, n_mentors, dtype=np.int32)
    matrix = np.empty((n_mentees, n_mentors), dtype=np.int32)
    step = max(1, 2_000_000 // max(n_mentors, 1))
    for start in range(0, n_mentees, step):
        stop = min(start + step, n_mentees)
        block = score_rows(rng, popularity, stop - start, kind) * np.int32(SCALE // 100)
        block[rng.random((stop - start, n_mentors)) < FORBIDDEN_SHARE] = -1
        matrix[start:stop] = block
    return DenseScores(
        matrix, mentee_ids(n_mentees), mentor_ids(n_mentors), capacities(n_mentors, seed)
    )


def write_score_files(
    folder: Path, n_mentees: int, n_mentors: int, per_mentee: int, kind: Kind, seed: int = 0
) -> None:
    """``scores.csv`` (``per_mentee`` listed mentors each), ``mentees.csv``, ``mentors.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 3])
    popularity = rng.integers(0, 6_001, n_mentors, dtype=np.int32)
    mentees, mentors = mentee_ids(n_mentees), mentor_ids(n_mentors)
    weights = (popularity + 1.0) / (popularity + 1.0).sum() if kind is Kind.POPULAR else None
    with (folder / "scores.csv").open("w", encoding="utf-8") as out:
        out.write("mentee_id,mentor_id,score\n")
        for i in range(n_mentees):
            chosen = np.sort(rng.choice(n_mentors, size=per_mentee, replace=False, p=weights))
            hundredths = score_rows(rng, popularity[chosen], 1, kind)[0]
            out.write(
                "".join(
                    f"{mentees[i]},{mentors[j]},{h // 100}.{h % 100:02d}\n"
                    for j, h in zip(chosen.tolist(), hundredths.tolist(), strict=True)
                )
            )
    (folder / "mentees.csv").write_text(
        "mentee_id\n" + "".join(f"{m}\n" for m in mentees), encoding="utf-8"
    )
    caps = capacities(n_mentors, seed)
    (folder / "mentors.csv").write_text(
        "mentor_id,capacity\n"
        + "".join(f"{m},{c}\n" for m, c in zip(mentors, caps.tolist(), strict=True)),
        encoding="utf-8",
    )
