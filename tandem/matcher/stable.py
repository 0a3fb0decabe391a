"""Stable matching: hospitals/residents deferred acceptance, and blocking pairs.

Mentors are the hospitals (with capacities), mentees the residents. Lists may be
incomplete; a pair is *acceptable* only when each side lists the other. A *blocking pair*
is an acceptable pair, not matched together, where the mentee is unmatched or prefers the
mentor to their own, and the mentor has room or prefers the mentee to their worst one.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from tandem.matcher.compat import CompatibilitySource
from tandem.matcher.matrix import in_chunks


class Proposer(StrEnum):
    """Which side proposes; that side gets its best stable matching."""

    MENTEES = "mentees"
    MENTORS = "mentors"


class Preferences(BaseModel):
    """Ranked lists, best first, for both sides, plus mentors' capacities.

    Every mentee has a (possibly empty) list; every mentor has a capacity and a (possibly
    empty) list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mentee_ranking: dict[str, tuple[str, ...]]
    mentor_ranking: dict[str, tuple[str, ...]]
    capacities: dict[str, int]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        mentors = set(self.capacities)
        if set(self.mentor_ranking) - mentors:
            raise ValueError("a mentor ranking belongs to a mentor without a capacity")
        for mentee, ranking in self.mentee_ranking.items():
            if set(ranking) - mentors:
                raise ValueError(f"mentee {mentee!r} ranks an unknown mentor")
            if len(set(ranking)) != len(ranking):
                raise ValueError(f"mentee {mentee!r} ranks a mentor twice")
        for mentor, ranking in self.mentor_ranking.items():
            if set(ranking) - set(self.mentee_ranking):
                raise ValueError(f"mentor {mentor!r} ranks an unknown mentee")
            if len(set(ranking)) != len(ranking):
                raise ValueError(f"mentor {mentor!r} ranks a mentee twice")
        return self

    def restricted(self, allowed: set[tuple[str, str]]) -> Preferences:
        """The same lists without pairs outside ``allowed`` ((mentee, mentor) tuples)."""
        return Preferences(
            mentee_ranking={
                i: tuple(j for j in r if (i, j) in allowed) for i, r in self.mentee_ranking.items()
            },
            mentor_ranking={
                j: tuple(i for i in r if (i, j) in allowed) for j, r in self.mentor_ranking.items()
            },
            capacities=self.capacities,
        )


def preferences_from_scores(source: CompatibilitySource) -> Preferences:
    """Both sides rank by score, higher first, ties by lower id; forbidden pairs unlisted."""
    mentees, mentors = source.mentee_ids, source.mentor_ids
    n_m = len(mentors)
    rows_l, cols_l, pts_l = [], [], []
    step = max(1, 4_000_000 // max(n_m, 1))
    for start in range(0, len(mentees), step):
        block = source.block(start, min(start + step, len(mentees)))
        r, c = np.nonzero(block >= 0)
        rows_l.append(r + start)
        cols_l.append(c)
        pts_l.append(block[r, c])
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
    cols = np.concatenate(cols_l) if cols_l else np.zeros(0, np.int64)
    pts = np.concatenate(pts_l) if pts_l else np.zeros(0, np.int64)
    by_mentee = np.lexsort((cols, -pts, rows))
    by_mentor = np.lexsort((rows, -pts, cols))
    mentee_ranking: dict[str, list[str]] = {m: [] for m in mentees}
    for i, j in zip(rows[by_mentee].tolist(), cols[by_mentee].tolist(), strict=True):
        mentee_ranking[mentees[i]].append(mentors[j])
    mentor_ranking: dict[str, list[str]] = {m: [] for m in mentors}
    for i, j in zip(rows[by_mentor].tolist(), cols[by_mentor].tolist(), strict=True):
        mentor_ranking[mentors[j]].append(mentees[i])
    return Preferences(
        mentee_ranking={k: tuple(v) for k, v in mentee_ranking.items()},
        mentor_ranking={k: tuple(v) for k, v in mentor_ranking.items()},
        capacities={m: int(c) for m, c in zip(mentors, source.capacities, strict=True)},
    )


def _ranks(ranking: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, int]]:
    return {who: {other: r for r, other in enumerate(lst)} for who, lst in ranking.items()}


def deferred_acceptance(prefs: Preferences, proposer: Proposer) -> dict[str, str]:
    """The proposer-optimal stable matching: mentee id → mentor id (matched mentees only).

    Proposals go in id order, so the run is deterministic (the result is unique anyway).
    """
    mentee_rank = _ranks(prefs.mentee_ranking)
    mentor_rank = _ranks(prefs.mentor_ranking)
    if proposer is Proposer.MENTEES:
        held: dict[str, list[tuple[int, str]]] = {j: [] for j in prefs.capacities}
        next_choice = dict.fromkeys(prefs.mentee_ranking, 0)
        free = deque(sorted(prefs.mentee_ranking))
        while free:
            mentee = free.popleft()
            ranking = prefs.mentee_ranking[mentee]
            while next_choice[mentee] < len(ranking):
                mentor = ranking[next_choice[mentee]]
                next_choice[mentee] += 1
                rank = mentor_rank.get(mentor, {}).get(mentee)
                if rank is None or prefs.capacities[mentor] == 0:
                    continue
                heap = held[mentor]
                if len(heap) < prefs.capacities[mentor]:
                    heapq.heappush(heap, (-rank, mentee))
                    break
                if -heap[0][0] > rank:
                    _, rejected = heapq.heapreplace(heap, (-rank, mentee))
                    free.append(rejected)
                    break
        return {mentee: mentor for mentor, heap in held.items() for _, mentee in heap}
    holder: dict[str, str] = {}
    room = dict(prefs.capacities)
    next_choice = dict.fromkeys(prefs.capacities, 0)
    queue = deque(sorted(prefs.capacities))
    while queue:
        mentor = queue.popleft()
        ranking = prefs.mentor_ranking.get(mentor, ())
        while room[mentor] > 0 and next_choice[mentor] < len(ranking):
            mentee = ranking[next_choice[mentor]]
            next_choice[mentor] += 1
            rank = mentee_rank[mentee].get(mentor)
            if rank is None:
                continue
            current = holder.get(mentee)
            if current is None or rank < mentee_rank[mentee][current]:
                holder[mentee] = mentor
                room[mentor] -= 1
                if current is not None:
                    room[current] += 1
                    queue.append(current)
    return dict(sorted(holder.items()))


def count_blocking_pairs(assignment: Mapping[str, str], prefs: Preferences) -> int:
    """How many acceptable pairs would both rather be together than with their partners.

    ``assignment`` maps mentee id → mentor id. A partner the other side did not list counts
    as worse than everyone listed.
    """
    mentor_rank = _ranks(prefs.mentor_ranking)
    load = dict.fromkeys(prefs.capacities, 0)
    worst = dict.fromkeys(prefs.capacities, -1)
    for mentee, mentor in assignment.items():
        load[mentor] += 1
        ranks = mentor_rank.get(mentor, {})
        worst[mentor] = max(worst[mentor], ranks.get(mentee, len(ranks)))
    count = 0
    for mentee, ranking in prefs.mentee_ranking.items():
        current = assignment.get(mentee)
        for mentor in ranking:
            if mentor == current:
                break
            rank = mentor_rank.get(mentor, {}).get(mentee)
            if rank is None:
                continue
            if load[mentor] < prefs.capacities[mentor] or rank < worst[mentor]:
                count += 1
    return count


BLOCKING_CHUNK_CELLS = 250_000
"""Pairs per chunk when counting blocking pairs from scores (about 2 MB of int64)."""


def count_blocking_pairs_by_scores(
    assignment: Mapping[str, str],
    source: CompatibilitySource,
    pair_points: Mapping[str, int] | None = None,
) -> int:
    """:func:`count_blocking_pairs` with :func:`preferences_from_scores`, vectorised.

    Reads ``source`` a chunk of rows at a time (two threads, as the optimizer does), so it
    works on the largest rosters. ``pair_points`` (mentee id → the points of their
    assigned pair, as the source gives them), when the caller has them, saves one pass
    over the source.
    """
    mentees, mentors = source.mentee_ids, source.mentor_ids
    n_e, n_m = len(mentees), len(mentors)
    if n_e == 0 or n_m == 0:
        return 0
    mentee_at = {m: i for i, m in enumerate(mentees)}
    mentor_at = {m: j for j, m in enumerate(mentors)}
    partner = np.full(n_e, -1, dtype=np.int64)
    for mentee, mentor in assignment.items():
        partner[mentee_at[mentee]] = mentor_at[mentor]
    caps = np.asarray(source.capacities, dtype=np.int64)
    load = np.bincount(partner[partner >= 0], minlength=n_m)
    # Preferences as keys, higher preferred, ties by lower index: a mentee ranks mentor j
    # by points × n_m + (n_m − 1 − j), a mentor ranks mentee i by points × n_e + (n_e − 1 − i).
    worst = np.full(n_m, np.iinfo(np.int64).max, dtype=np.int64)
    current_points = np.full(n_e, -1, dtype=np.int64)
    matched = np.flatnonzero(partner >= 0)
    step = max(1, BLOCKING_CHUNK_CELLS // n_m)
    if pair_points is not None:
        for mentee, points in pair_points.items():
            current_points[mentee_at[mentee]] = points
    else:
        for start in range(0, n_e, step):
            stop = min(start + step, n_e)
            block = source.block(start, stop)
            rows = matched[(matched >= start) & (matched < stop)]
            current_points[rows] = block[rows - start, partner[rows]]
    keys = current_points[matched] * n_e + (n_e - 1 - matched)
    np.minimum.at(worst, partner[matched], keys)
    worst[load < caps] = -1
    mentee_keys = np.where(partner >= 0, current_points * n_m + (n_m - 1 - partner), -1)
    # A pair can only block where its points reach both partners' (allowed pairs only):
    # those few cells are found with two comparisons per pair, then checked with the keys.
    mentee_floor = np.maximum(current_points, 0)
    mentor_floor = np.maximum(worst // n_e, 0)

    def blocking(start: int, stop: int) -> int:
        block = source.block(start, stop)
        maybe = block >= mentee_floor[start:stop, None]
        maybe &= block >= mentor_floor[None, :]
        cells = np.flatnonzero(maybe)
        rows, cols = np.divmod(cells, n_m)
        rows += start
        points = block.reshape(-1)[cells]
        wanted = points * n_m + (n_m - 1 - cols) > mentee_keys[rows]
        wanted &= points * n_e + (n_e - 1 - rows) > worst[cols]
        return int(np.count_nonzero(wanted))

    return sum(in_chunks(blocking, n_e, step))
