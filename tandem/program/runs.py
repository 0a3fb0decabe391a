"""Matching cycles: load the roster, run the matcher, store the run, explain it.

This is the one place where stored rows become matcher inputs and matcher results become
rows. The matcher itself (``tandem.matcher``) never sees the database or a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

import tandem
from tandem.matcher import (
    GroupCap,
    MatchConfig,
    MatcherError,
    MatchResult,
    Method,
    Objective,
    Preferences,
    Profile,
    Proposer,
    Role,
    SparseScores,
    UnmatchedCause,
    config_to_toml,
    default_config,
    load_config,
    parse_preferences,
    parse_scores,
    solve,
    solve_stable,
)
from tandem.program.errors import ProgramError
from tandem.program.roster.files import write_csv_rows
from tandem.program.roster.store import load_profiles
from tandem.program.runtime import paused_gc
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import MatchPair, MatchRun

if TYPE_CHECKING:
    # Scoring profiles and explaining pairs load SciPy: only runs from profiles need them.
    from tandem.matcher import ProfileCompatibility
    from tandem.matcher.explain import UnmatchedReason

Progress = Callable[[str, int, int], None]


class MatchingError(ProgramError):
    """A matching cycle cannot run as asked."""


@dataclass(frozen=True)
class MatchRequest:
    """What `tandem match` was asked to do. File contents are read by the caller."""

    cycle: str
    config_text: str | None = None
    config_name: str = "default_config.toml"
    scores: tuple[str, str] | None = None
    """(file name, text) of a coordinator's scores CSV."""
    preferences: tuple[str, str] | None = None
    """(file name, text) of a preferences CSV."""
    method: Method = Method.OPTIMAL
    optimal_side: Proposer = Proposer.MENTEES
    objective: Objective | None = None


@dataclass(frozen=True)
class MatchSummary:
    run_id: int
    cycle: str
    method: str
    objective: str | None
    mentees: int
    mentors: int
    capacity: int
    matched: int
    total_score: float
    scores: dict[str, float]
    """min, quartiles, median and max of the matched pairs' scores."""
    mentor_load: dict[str, int]
    """"load/capacity" → number of mentors."""
    unmatched: list[dict[str, Any]]
    """Each unmatched mentee with the reason."""
    shortfall: int
    """Places missing: mentees left out because every mentor they may have is full."""
    proof: dict[str, Any]
    blocking_pairs: int
    timings: dict[str, float]
    rows: list[dict[str, Any]]


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def profiles_hash(profiles: Sequence[Profile]) -> str:
    """sha256 of the profiles as one JSON list of their fields, keys sorted: the text of
    ``json.dumps(TypeAdapter(list[Profile]).dump_python(profiles, mode="json"),
    sort_keys=True)``, which stored runs hold."""
    # The fields as they are: json.dumps writes enum members (str enums) as their values
    # and tuples as arrays, exactly as the JSON-mode dump gives them, without its copies.
    return _sha(json.dumps([vars(p) for p in profiles], sort_keys=True))


def _config(request: MatchRequest) -> MatchConfig:
    """The run's configuration: the given TOML (else the default), with the requested
    objective in place of the configured one. Raises ConfigError naming the wrong key."""
    config = (
        load_config(request.config_text, request.config_name)
        if request.config_text
        else default_config()
    )
    if request.objective is not None:
        config = config.model_copy(
            update={
                "optimizer": config.optimizer.model_copy(update={"objective": request.objective})
            }
        )
    return config


def _group_cap(config: MatchConfig, mentees: Sequence[Profile]) -> GroupCap | None:
    """The configuration's one group cap with each mentee's group, or None.

    Raises MatchingError for more than one ``[[group_caps]]`` entry.
    """
    if not config.group_caps:
        return None
    if len(config.group_caps) > 1:
        raise MatchingError(
            "only one [[group_caps]] entry is supported per run; keep the most important one"
        )
    cap = config.group_caps[0]
    from tandem.matcher import column_values

    groups = {}
    for mentee in mentees:
        values = column_values(mentee, cap.column)
        if values:
            groups[mentee.id] = values[0]
    return GroupCap(column=cap.column, per_mentor=cap.max_per_mentor, mentee_groups=groups)


def _scores_source(
    request: MatchRequest,
    mentees: Sequence[Profile],
    mentors: Sequence[Profile],
    config: MatchConfig,
) -> SparseScores:
    """A coordinator's scores, less the pairs that no score may override.

    The file decides which pairs are allowed and how good they are; the rules about people
    still hold: nobody is paired with themself, ``excluded`` conflicts of interest, and the
    configuration's forbidden pairs.
    """
    import numpy as np

    assert request.scores is not None
    name, text = request.scores
    capacities = {m.id: m.capacity for m in mentors}
    source = parse_scores(text, name, mentee_ids=[m.id for m in mentees], capacities=capacities)
    mentee_at = {m: i for i, m in enumerate(source.mentee_ids)}
    mentor_at = {m: j for j, m in enumerate(source.mentor_ids)}
    by_key: dict[str, list[int]] = {}
    for mentor in mentors:
        by_key.setdefault(mentor.person_key, []).append(mentor_at[mentor.id])
    forbidden: set[tuple[int, int]] = set()
    for mentee in mentees:
        i = mentee_at[mentee.id]
        forbidden.update((i, j) for j in by_key.get(mentee.person_key, []))
        if mentee.id in mentor_at:
            forbidden.add((i, mentor_at[mentee.id]))
        forbidden.update((i, mentor_at[o]) for o in mentee.excluded if o in mentor_at)
    for mentor in mentors:
        j = mentor_at[mentor.id]
        forbidden.update((mentee_at[o], j) for o in mentor.excluded if o in mentee_at)
    forbidden.update(
        (mentee_at[a], mentor_at[b])
        for a, b in config.rules.forbidden_pairs
        if a in mentee_at and b in mentor_at
    )
    if not forbidden:
        return source
    rows, cols, points = source.arcs()
    width = len(source.mentor_ids)
    codes = np.array(sorted(i * width + j for i, j in forbidden), dtype=np.int64)
    keep = ~np.isin(rows.astype(np.int64) * width + cols, codes)
    return SparseScores(
        source.mentee_ids,
        source.mentor_ids,
        source.capacities,
        rows[keep],
        cols[keep],
        points[keep],
        scale=source.scale,
    )


def run_match(
    engine: Engine, request: MatchRequest, *, now: datetime, progress: Progress | None = None
) -> MatchSummary:
    """Run one matching cycle on the stored roster and store it as a match run.

    Raises MatcherError subclasses for a bad configuration, scores or preferences file
    (each naming the file, row, column or key), MatchingError for an empty roster.
    """
    with paused_gc():
        return _run_match(engine, request, now=now, progress=progress)


def _run_match(
    engine: Engine, request: MatchRequest, *, now: datetime, progress: Progress | None
) -> MatchSummary:
    """The matching cycle's steps in order, each timed: load the stored roster, build the
    matcher's input, solve, validate, explain, store; then summarise the stored run."""
    started = time.perf_counter()
    mentees, mentors = _load_roster(engine, request.cycle)
    config = _config(request)
    loaded = time.perf_counter()
    matcher_input = _matcher_input(request, config, mentees, mentors, now)
    prepared = time.perf_counter()
    result = _solve(request, config, mentees, matcher_input, progress)
    solved = time.perf_counter()
    _validate(result, config, mentees, mentors, matcher_input, now)
    reasons, unmatched = _explain(request, result, matcher_input)
    explained = time.perf_counter()
    timings = {
        "load": round(loaded - started, 3),
        "score": round(prepared - loaded, 3),
        "solve": round(solved - prepared, 3),
        "explain": round(explained - solved, 3),
    }
    proof = (
        result.proof.model_dump(mode="json")
        if result.proof
        else {"kind": "stable matching (no objective)"}
    )
    run_id = _store(
        engine, request, config, mentees, mentors, result, reasons, unmatched, proof, timings, now
    )
    return _summary(run_id, request, result, mentees, mentors, reasons, unmatched, proof, timings)


def _load_roster(engine: Engine, cycle: str) -> tuple[list[Profile], list[Profile]]:
    """The cycle's mentees and mentors as matcher profiles (see :func:`cycle_roster`).

    Raises MatchingError when either side of the roster is empty.
    """
    mentees, mentors = cycle_roster(engine, cycle)
    if not mentees or not mentors:
        raise MatchingError(
            "the roster needs mentors and mentees: `tandem import mentors|mentees FILE` first"
        )
    return mentees, mentors


def cycle_roster(engine: Engine, cycle: str) -> tuple[list[Profile], list[Profile]]:
    """Who a match of ``cycle`` considers: the people who applied to it (in a role with
    applications; else everyone), never the withdrawn; each mentor's capacity less the
    places they hold in cohorts of other cycles that are still running."""
    from tandem.program.rematch import mentor_load
    from tandem.program.storage.tables import Participant

    mentees, mentors = load_profiles(engine, cycle)
    with Session(engine) as session:
        load = mentor_load(session, except_cycle=cycle)
        ids = (
            {
                pk: external_id
                for pk, external_id in session.exec(
                    select(Participant.pk, Participant.external_id).where(
                        col(Participant.pk).in_(list(load)),
                        Participant.role == Role.MENTOR.value,
                    )
                ).all()
            }
            if load
            else {}
        )
    held = {ids[pk]: n for pk, n in load.items() if pk in ids}
    mentors = [
        m.model_copy(update={"capacity": max(0, m.capacity - held[m.id])}) if m.id in held else m
        for m in mentors
    ]
    return mentees, mentors


@dataclass(frozen=True)
class _MatcherInput:
    """What the matcher is given: the compatibility source and any preferences."""

    source: ProfileCompatibility | SparseScores
    compat: ProfileCompatibility | None
    """The profiles' compatibility, when the run scores profiles (no scores file)."""
    preferences: Preferences | None


def _matcher_input(
    request: MatchRequest,
    config: MatchConfig,
    mentees: Sequence[Profile],
    mentors: Sequence[Profile],
    now: datetime,
) -> _MatcherInput:
    """The matcher's input: the coordinator's scores file, or the profiles scored under
    ``config`` at ``now``; and the preferences file, when given.

    Raises MatcherError subclasses for a scores or preferences file that does not fit the
    roster (naming the file, row and column).
    """
    compat: ProfileCompatibility | None = None
    source: ProfileCompatibility | SparseScores
    if request.scores is not None:
        source = _scores_source(request, mentees, mentors, config)
    else:
        from tandem.matcher import ProfileCompatibility

        compat = ProfileCompatibility(mentees, mentors, config, now)
        source = compat
    preferences: Preferences | None = None
    if request.preferences is not None:
        name, text = request.preferences
        preferences = parse_preferences(
            text,
            name,
            mentee_ids=[m.id for m in mentees],
            capacities={m.id: m.capacity for m in mentors},
        )
    return _MatcherInput(source=source, compat=compat, preferences=preferences)


def _solve(
    request: MatchRequest,
    config: MatchConfig,
    mentees: Sequence[Profile],
    matcher_input: _MatcherInput,
    progress: Progress | None,
) -> MatchResult:
    """The pairs, by the requested method: a stable matching, or the optimal assignment
    under the configuration's objective, group cap, locked pairs and candidate pruning.

    Raises MatchingError for more than one group cap, MatcherError subclasses for locked
    pairs or preferences the matcher cannot honour.
    """
    if request.method is Method.STABLE:
        return solve_stable(
            matcher_input.source,
            preferences=matcher_input.preferences,
            proposer=request.optimal_side,
            progress=progress,
        )
    return solve(
        matcher_input.source,
        objective=config.optimizer.objective,
        group_caps=_group_cap(config, mentees),
        locked_pairs=list(config.rules.locked_pairs),
        candidates_per_mentee=config.optimizer.candidates_per_mentee,
        candidates_per_mentor=config.optimizer.candidates_per_mentor,
        preferences=matcher_input.preferences,
        progress=progress,
    )


def _validate(
    result: MatchResult,
    config: MatchConfig,
    mentees: Sequence[Profile],
    mentors: Sequence[Profile],
    matcher_input: _MatcherInput,
    now: datetime,
) -> None:
    """Check the pairs against every hard rule, independently of the solver.

    Runs only when the profiles were scored: a scores file itself decides which pairs are
    allowed. Raises MatcherError (an internal error) naming each broken rule.
    """
    if matcher_input.compat is None:
        return
    from tandem.matcher import validate_assignment

    violations = validate_assignment(
        [(p.mentee_id, p.mentor_id) for p in result.pairs],
        mentees,
        mentors,
        config,
        now,
        roster=matcher_input.compat.roster,
    )
    if violations:
        raise MatcherError(
            "internal error: the match breaks hard rules: " + "; ".join(str(v) for v in violations)
        )


def _explain(
    request: MatchRequest, result: MatchResult, matcher_input: _MatcherInput
) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """Each matched mentee's reasons (by mentee id), and each unmatched mentee with why.

    Scored profiles give each pair's top reasons; a scores file is its own reason.
    """
    compat = matcher_input.compat
    if compat is not None:
        from tandem.matcher import top_reasons_for_pairs

        pair_ids = [(p.mentee_id, p.mentor_id) for p in result.pairs]
        reasons = dict(
            zip(
                (p.mentee_id for p in result.pairs),
                top_reasons_for_pairs(compat, pair_ids),
                strict=True,
            )
        )
    else:
        from_file = [f"score from {request.scores[0]}"] if request.scores else []
        reasons = {p.mentee_id: from_file for p in result.pairs}
    assignment = {p.mentee_id: p.mentor_id for p in result.pairs}
    return reasons, _unmatched(request, matcher_input, assignment, result.unmatched_mentee_ids)


def _store(
    engine: Engine,
    request: MatchRequest,
    config: MatchConfig,
    mentees: Sequence[Profile],
    mentors: Sequence[Profile],
    result: MatchResult,
    reasons: dict[str, list[str]],
    unmatched: list[dict[str, Any]],
    proof: dict[str, Any],
    timings: dict[str, float],
    now: datetime,
) -> int:
    """Store the run, with hashes of its inputs, and its pairs in one transaction; returns
    the run's id."""
    inputs = {
        "mentees": profiles_hash(mentees),
        "mentors": profiles_hash(mentors),
        "config": _sha(config_to_toml(config)),
    }
    if request.scores:
        inputs["scores"] = _sha(request.scores[1])
    if request.preferences:
        inputs["preferences"] = _sha(request.preferences[1])
    with transaction(engine) as session:
        run = MatchRun(
            cycle=request.cycle,
            created_at=now,
            tandem_version=tandem.__version__,
            method=request.method.value,
            objective=result.objective.value if result.objective else "stable",
            config_toml=config_to_toml(config),
            inputs=inputs,
            mentees_total=len(mentees),
            matched=result.matched_count,
            total_score=result.total_score,
            min_score=(result.min_points / result.scale) if result.min_points is not None else None,
            blocking_pairs=result.blocking_pairs,
            proof=proof,
            timings={**timings, **{t.phase: round(t.seconds, 3) for t in result.timings}},
            unmatched=unmatched,
        )
        session.add(run)
        session.flush()
        assert run.pk is not None
        if result.pairs:
            # One executemany on the table: no ORM object, nor ORM bulk bookkeeping, per pair.
            session.execute(
                insert(MatchPair.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "run_pk": run.pk,
                        "mentee_id": p.mentee_id,
                        "mentor_id": p.mentor_id,
                        "score": p.score,
                        "reasons": reasons[p.mentee_id],
                    }
                    for p in result.pairs
                ],
            )
        return run.pk


def _unmatched(
    request: MatchRequest,
    matcher_input: _MatcherInput,
    assignment: dict[str, str],
    mentee_ids: Sequence[str],
) -> list[dict[str, Any]]:
    """Each unmatched mentee with why, as the run stores it: ``reason`` (for people),
    ``cause`` and ``rule`` (see :class:`~tandem.matcher.UnmatchedCause`)."""
    compat = matcher_input.compat
    if request.method is Method.STABLE:
        from tandem.matcher import stable_unmatched_reasons

        whys = stable_unmatched_reasons(
            matcher_input.source, assignment, mentee_ids, matcher_input.preferences
        )
    elif compat is None:
        return [
            {"mentee_id": m, "reason": "no allowed pair in the scores file had room"}
            for m in mentee_ids
        ]
    else:
        from tandem.matcher import unmatched_reasons

        whys = unmatched_reasons(compat, assignment, mentee_ids)
    return [
        {
            "mentee_id": why.mentee_id,
            "reason": unmatched_text(why),
            "cause": why.cause.value,
            "rule": why.rule,
        }
        for why in whys
    ]


def unmatched_text(why: UnmatchedReason) -> str:
    """Why a mentee is unmatched, for people: one clause (no capital, no full stop)."""
    mentors = f"{why.allowed} feasible mentor{'' if why.allowed == 1 else 's'}"
    if why.cause is UnmatchedCause.RULE:
        if why.rule is None:
            return "no mentor may take this mentee (no allowed pair)"
        return (
            f"no mentor passes rule {why.rule} ({why.eliminated} of {why.mentors} mentors "
            "excluded by it)"
        )
    if why.cause is UnmatchedCause.FULL:
        return "the one feasible mentor is full" if why.allowed == 1 else f"all {mentors} are full"
    if why.cause is UnmatchedCause.OUTRANKED:
        return "every mentor who could take this mentee is full with mentees they rank higher"
    if why.cause is UnmatchedCause.UNRANKED:
        return (
            f"none of the {mentors} is on this mentee's preference list with the mentee on theirs"
        )
    return f"{mentors}, but the objective or group caps left this mentee out"


def _summary(
    run_id: int,
    request: MatchRequest,
    result: MatchResult,
    mentees: Sequence[Profile],
    mentors: Sequence[Profile],
    reasons: dict[str, list[str]],
    unmatched: list[dict[str, Any]],
    proof: dict[str, Any],
    timings: dict[str, float],
) -> MatchSummary:
    scores = sorted(p.score for p in result.pairs)
    distribution: dict[str, float] = {}
    if scores:
        quartiles = (
            statistics.quantiles(scores, n=4, method="inclusive")
            if len(scores) > 1
            else [scores[0]] * 3
        )
        distribution = {
            "min": round(scores[0], 2),
            "q1": round(quartiles[0], 2),
            "median": round(quartiles[1], 2),
            "q3": round(quartiles[2], 2),
            "max": round(scores[-1], 2),
        }
    load = Counter(p.mentor_id for p in result.pairs)
    mentor_load = Counter(f"{load.get(m.id, 0)}/{m.capacity}" for m in mentors)
    names = {("mentee", p.id): p.name for p in mentees} | {
        ("mentor", p.id): p.name for p in mentors
    }
    rows = [
        {
            **row,
            "mentee": names.get(("mentee", row["mentee_id"]), ""),
            "mentor": names.get(("mentor", row["mentor_id"]), ""),
            "reasons": "; ".join(reasons.get(row["mentee_id"], [])),
        }
        for row in result.to_rows()
    ]
    reason_by_id = {u["mentee_id"]: u["reason"] for u in unmatched}
    for row in rows:
        if not row["mentor_id"]:
            row["reasons"] = reason_by_id.get(row["mentee_id"], "")
    return MatchSummary(
        run_id=run_id,
        cycle=request.cycle,
        method=request.method.value,
        objective=result.objective.value if result.objective else None,
        mentees=len(mentees),
        mentors=len(mentors),
        capacity=sum(m.capacity for m in mentors),
        matched=result.matched_count,
        total_score=round(result.total_score, 4),
        scores=distribution,
        mentor_load=dict(sorted(mentor_load.items())),
        unmatched=unmatched,
        shortfall=sum(1 for u in unmatched if u.get("cause") == UnmatchedCause.FULL.value),
        proof=proof,
        blocking_pairs=result.blocking_pairs,
        timings={**timings, **{t.phase: round(t.seconds, 3) for t in result.timings}},
        rows=rows,
    )


OUTPUT_COLUMNS = ("mentee_id", "mentee", "mentor_id", "mentor", "score", "locked", "reasons")
"""Columns of ``--out``: who with whom, by id and name, and why (no solver internals)."""


RESULT_FORMATS = ("csv", "json")
"""The file types a match run's pairs are written to (``--out``), by extension."""


def result_format(path: Path) -> str:
    """``csv`` or ``json``, by the output file's name; raises MatchingError for another
    (checked before a match runs)."""
    kind = path.suffix.lower().removeprefix(".")
    if kind not in RESULT_FORMATS:
        raise MatchingError(f"cannot write {path.name}: use a .csv or .json file name")
    return kind


def result_file(summary: MatchSummary, kind: str) -> bytes:
    """The pairs as ``kind`` (csv or json, see :func:`result_format`); the same inputs
    give the same bytes."""
    if kind == "json":
        document = {
            "cycle": summary.cycle,
            "method": summary.method,
            "objective": summary.objective,
            "matched": summary.matched,
            "mentees": summary.mentees,
            "total_score": summary.total_score,
            "pairs": [{c: row[c] for c in OUTPUT_COLUMNS} for row in summary.rows],
            "unmatched": summary.unmatched,
            "proof": summary.proof,
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    out = io.StringIO()
    write_csv_rows(out, OUTPUT_COLUMNS, ([row[c] for c in OUTPUT_COLUMNS] for row in summary.rows))
    return out.getvalue().encode("utf-8")
