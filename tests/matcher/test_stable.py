"""Deferred acceptance against brute-force enumeration of all stable matchings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.matcher import DenseScores, Preferences, Proposer, solve, solve_stable
from tandem.matcher.errors import MatcherError
from tandem.matcher.explain import stable_unmatched_reasons
from tandem.matcher.result import Algorithm, UnmatchedCause
from tandem.matcher.stable import (
    count_blocking_pairs,
    deferred_acceptance,
    preferences_from_scores,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def preference_games(draw) -> Preferences:
    """Up to 5 mentees and 3 mentors with capacities 0–2 and incomplete lists."""
    mentees = [f"e{i}" for i in range(draw(st.integers(0, 5)))]
    mentors = [f"m{j}" for j in range(draw(st.integers(1, 3)))]

    def ranking(options: list[str]) -> tuple[str, ...]:
        chosen = draw(st.lists(st.sampled_from(options), unique=True)) if options else []
        return tuple(chosen)

    return Preferences(
        mentee_ranking={m: ranking(mentors) for m in mentees},
        mentor_ranking={m: ranking(mentees) for m in mentors},
        capacities={m: draw(st.integers(0, 2)) for m in mentors},
    )


def position(ranking: tuple[str, ...], who: str) -> int:
    """Rank in a list; someone unlisted is worse than everyone listed."""
    return ranking.index(who) if who in ranking else len(ranking)


def blocking(assignment: dict[str, str], prefs: Preferences) -> int:
    """The definition, spelled out independently of the library."""
    count = 0
    for mentee, ranking in prefs.mentee_ranking.items():
        for mentor in ranking:
            if mentee not in prefs.mentor_ranking.get(mentor, ()):
                continue
            if assignment.get(mentee) == mentor:
                continue
            current = assignment.get(mentee)
            mentee_wants = current is None or position(ranking, mentor) < position(ranking, current)
            mine = [e for e, m in assignment.items() if m == mentor]
            mentor_list = prefs.mentor_ranking[mentor]
            mentor_wants = len(mine) < prefs.capacities[mentor] or any(
                position(mentor_list, mentee) < position(mentor_list, e) for e in mine
            )
            count += mentee_wants and mentor_wants
    return count


def stable_matchings(prefs: Preferences) -> list[dict[str, str]]:
    """Every matching of mutually acceptable pairs within capacity with no blocking pair."""
    mentees = sorted(prefs.mentee_ranking)
    options = [
        [None, *[j for j in prefs.mentee_ranking[i] if i in prefs.mentor_ranking.get(j, ())]]
        for i in mentees
    ]
    found = []
    for choice in itertools.product(*options):
        assignment = {i: j for i, j in zip(mentees, choice, strict=True) if j is not None}
        load: dict[str, int] = {}
        for j in assignment.values():
            load[j] = load.get(j, 0) + 1
        if any(n > prefs.capacities[j] for j, n in load.items()):
            continue
        if blocking(assignment, prefs) == 0:
            found.append(assignment)
    return found


def extreme(prefs: Preferences, matchings: list[dict[str, str]], best: bool) -> dict[str, str]:
    """Each mentee's best (or worst) partner over all stable matchings."""
    out = {}
    for mentee, ranking in prefs.mentee_ranking.items():
        partners = [m[mentee] for m in matchings if mentee in m]
        if partners:
            pick = min if best else max
            out[mentee] = pick(partners, key=ranking.index)
    return out


@FAST
@given(preference_games())
def test_deferred_acceptance_finds_the_extreme_stable_matchings(prefs: Preferences) -> None:
    matchings = stable_matchings(prefs)
    assert matchings  # a stable matching always exists
    mentee_side = deferred_acceptance(prefs, Proposer.MENTEES)
    mentor_side = deferred_acceptance(prefs, Proposer.MENTORS)
    assert count_blocking_pairs(mentee_side, prefs) == 0
    assert count_blocking_pairs(mentor_side, prefs) == 0
    assert mentee_side == extreme(prefs, matchings, best=True)
    assert mentor_side == extreme(prefs, matchings, best=False)


@FAST
@given(preference_games(), st.data())
def test_count_blocking_pairs_follows_the_definition(
    prefs: Preferences, data: st.DataObject
) -> None:
    assignment: dict[str, str] = {}
    for mentee in sorted(prefs.mentee_ranking):
        mentor = data.draw(st.sampled_from([None, *sorted(prefs.capacities)]))
        if mentor is not None:
            assignment[mentee] = mentor
    # Capacities are not enforced here: counting must still follow the definition.
    over = any(list(assignment.values()).count(m) > c for m, c in prefs.capacities.items())
    if not over:
        assert count_blocking_pairs(assignment, prefs) == blocking(assignment, prefs)


def scores_source(seed: int, n_e: int = 5, n_m: int = 3) -> DenseScores:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, (n_e, n_m)) * 100_000  # many ties: broken by id
    scores[rng.random((n_e, n_m)) < 0.25] = -1
    return DenseScores(
        scores,
        [f"e{i}" for i in range(n_e)],
        [f"m{j}" for j in range(n_m)],
        rng.integers(0, 3, n_m),
    )


@pytest.mark.parametrize("seed", range(20))
def test_stable_from_scores_matches_brute_force(seed: int) -> None:
    source = scores_source(seed)
    prefs = preferences_from_scores(source)
    matchings = stable_matchings(prefs)
    for proposer, best, algorithm in [
        (Proposer.MENTEES, True, Algorithm.DEFERRED_ACCEPTANCE_MENTEES),
        (Proposer.MENTORS, False, Algorithm.DEFERRED_ACCEPTANCE_MENTORS),
    ]:
        result = solve_stable(source, proposer=proposer)
        assert result.blocking_pairs == 0
        assert result.algorithm is algorithm and result.objective is None
        got = {p.mentee_id: p.mentor_id for p in result.pairs}
        assert got == extreme(prefs, matchings, best=best)
        assert all(p.points >= 0 for p in result.pairs)


def test_preferences_from_scores_rank_by_score_then_id() -> None:
    source = DenseScores(
        np.array([[300, 500, 300], [-1, 100, 100]]), ["b", "a"], ["z", "x", "y"], [1, 1, 1]
    )
    prefs = preferences_from_scores(source)
    assert prefs.mentee_ranking == {"a": ("x", "y"), "b": ("x", "y", "z")}
    assert prefs.mentor_ranking == {"x": ("b", "a"), "y": ("b", "a"), "z": ("b",)}


def test_given_preferences_are_restricted_to_allowed_pairs() -> None:
    source = DenseScores(np.array([[-1, 10], [20, 30]]), ["a", "b"], ["x", "y"], [1, 1])
    prefs = Preferences(
        mentee_ranking={"a": ("x", "y"), "b": ("x", "y")},
        mentor_ranking={"x": ("a", "b"), "y": ("b", "a")},
        capacities={"x": 1, "y": 1},
    )
    result = solve_stable(source, preferences=prefs)
    assert [(p.mentee_id, p.mentor_id) for p in result.pairs] == [("a", "y"), ("b", "x")]
    assert result.blocking_pairs == 0
    # The optimizer's result is judged against the same preferences when given them.
    optimal = solve(source, preferences=prefs)
    assert [(p.mentee_id, p.mentor_id) for p in optimal.pairs] == [("a", "y"), ("b", "x")]
    with pytest.raises(MatcherError, match="differ from the roster"):
        solve_stable(source, preferences=prefs.model_copy(update={"capacities": {"x": 2, "y": 1}}))


def test_stable_is_deterministic() -> None:
    source = scores_source(3, 30, 8)
    assert solve_stable(source).fingerprint() == solve_stable(source).fingerprint()


@st.composite
def stable_games(draw) -> tuple[DenseScores, Preferences | None]:
    """Up to 5 mentees and 3 mentors, some pairs forbidden; sometimes given preferences."""
    n_e, n_m = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    points = draw(
        st.lists(
            st.lists(st.sampled_from([-1, 0, 100, 200, 300]), min_size=n_m, max_size=n_m),
            min_size=n_e,
            max_size=n_e,
        )
    )
    mentees, mentors = [f"e{i}" for i in range(n_e)], [f"m{j}" for j in range(n_m)]
    capacities = [draw(st.integers(0, 2)) for _ in mentors]
    source = DenseScores(np.array(points, dtype=np.int64), mentees, mentors, capacities)
    if not draw(st.booleans()):
        return source, None

    def ranking(options: list[str]) -> tuple[str, ...]:
        return tuple(draw(st.lists(st.sampled_from(options), unique=True)))

    prefs = Preferences(
        mentee_ranking={m: ranking(mentors) for m in mentees},
        mentor_ranking={m: ranking(mentees) for m in mentors},
        capacities=dict(zip(mentors, capacities, strict=True)),
    )
    return source, prefs


@FAST
@given(stable_games(), st.sampled_from(list(Proposer)))
def test_an_unmatched_mentee_of_a_stable_matching_is_explained_truthfully(
    game: tuple[DenseScores, Preferences | None], proposer: Proposer
) -> None:
    """Every reason is checked against its definition: rule (no allowed mentor), unranked
    (no allowed mentor listed both ways), outranked (every mentor who could take the mentee
    is full with mentees they rank higher)."""
    source, given_prefs = game
    result = solve_stable(source, preferences=given_prefs, proposer=proposer)
    assignment = {p.mentee_id: p.mentor_id for p in result.pairs}
    used = preferences_from_scores(source) if given_prefs is None else given_prefs
    reasons = stable_unmatched_reasons(source, assignment, result.unmatched_mentee_ids, given_prefs)
    for why in reasons:
        i = source.mentee_ids.index(why.mentee_id)
        row = source.block(i, i + 1)[0]
        allowed = [source.mentor_ids[j] for j in range(len(source.mentor_ids)) if row[j] >= 0]
        assert why.allowed == len(allowed)
        acceptable = [
            m
            for m in allowed
            if given_prefs is None
            or (
                m in given_prefs.mentee_ranking[why.mentee_id]
                and why.mentee_id in given_prefs.mentor_ranking[m]
            )
        ]
        if not allowed:
            assert why.cause is UnmatchedCause.RULE
        elif not acceptable:
            assert why.cause is UnmatchedCause.UNRANKED
        else:
            assert why.cause is UnmatchedCause.OUTRANKED
            ranks = used.mentor_ranking
            for mentor in acceptable:
                held = [e for e, m in assignment.items() if m == mentor]
                assert len(held) == used.capacities[mentor]
                assert all(
                    position(ranks[mentor], e) < position(ranks[mentor], why.mentee_id)
                    for e in held
                )
