"""The baseline: read a scores CSV, solve with OR-Tools min-cost flow, write the pairs.

Usage: python bench/minimal_flow.py FOLDER OUT.csv — FOLDER holds scores.csv, mentors.csv
(mentor_id,capacity) and mentees.csv. Same objective as the matcher: most pairs, then the
largest total. No validation, no proof, no result object: the floor to compare against.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from ortools.graph.python import min_cost_flow


def main(folder: Path, out: Path) -> None:
    with (folder / "mentors.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    mentor_at = {r[0]: j for j, r in enumerate(rows)}
    caps = np.array([int(r[1]) for r in rows], dtype=np.int64)
    with (folder / "scores.csv").open(encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        records = list(reader)
    mentee_at: dict[str, int] = {}
    tails = np.array([mentee_at.setdefault(r[0], len(mentee_at)) for r in records], np.int64)
    heads = np.array([mentor_at[r[1]] for r in records], np.int64)
    points = np.array([round(float(r[2]) * 10_000) for r in records], np.int64)
    n_e, n_m = len(mentee_at), len(mentor_at)
    sink = 1 + n_e + n_m
    solver = min_cost_flow.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([1 + tails, np.zeros(n_e, np.int64), 1 + n_e + np.arange(n_m)]).astype(
            np.int32
        ),
        np.concatenate([1 + n_e + heads, 1 + np.arange(n_e), np.full(n_m, sink)]).astype(np.int32),
        np.concatenate([np.ones(len(records) + n_e, np.int64), caps]),
        np.concatenate([-points, np.zeros(n_e + n_m, np.int64)]),
    )
    solver.set_nodes_supplies(np.array([0, sink], np.int32), np.array([n_e, -n_e], np.int64))
    if solver.solve_max_flow_with_min_cost() != solver.OPTIMAL:
        raise SystemExit("not optimal")
    chosen = np.flatnonzero(solver.flows(arcs[: len(records)]) > 0)
    mentees = list(mentee_at)
    mentors = list(mentor_at)
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mentee_id", "mentor_id", "points"])
        writer.writerows(
            (mentees[tails[k]], mentors[heads[k]], int(points[k])) for k in chosen.tolist()
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
