"""The cohort report: participation, meetings, risk, competency gains, satisfaction,
intent to change and match quality — everything a coordinator and a funder ask for, as one
plain dictionary that every format (HTML, JSON, CSV, XLSX) renders.

The participation funnel counts mentees: *applied* (mentees in the match run the cohort
came from), *matched* (mentees with a pair in the cohort), *confirmed* (pairs that became
active), *completed* (pairs that finished the program); and, last, mentors *certified*
(certificates issued and not revoked). Retention is completed ÷ confirmed.

Survey figures follow :mod:`tandem.program.evaluation.aggregates`: a group with fewer than
five respondents is suppressed everywhere. Check-in notes never appear.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.errors import quoted
from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.cohorts import PairState, get_cohort, send_instants
from tandem.program.curricula import load_curriculum
from tandem.program.errors import ProgramError
from tandem.program.evaluation import aggregates
from tandem.program.evaluation.aggregates import MIN_GROUP
from tandem.program.evaluation.responses import StoredResponse, cohort_responses
from tandem.program.reports import meeting_weeks
from tandem.program.storage.tables import (
    Certificate,
    CheckIn,
    Cohort,
    MatchPair,
    MatchRun,
    Pair,
    Participant,
)
from tandem.prompts.curriculum import Competency
from tandem.prompts.surveys import SurveyName, load_instruments

REPORT_VERSION = 1


class FeedbackRefusedError(ProgramError):
    """Mentor feedback would expose a single mentee's answers, or there is none to give."""


def _weekly_meetings(
    session: Session, cohort: Cohort, pairs: list[Pair], now: datetime
) -> list[dict[str, Any]]:
    instants = send_instants(cohort)
    current = schedule.week_for(now, instants) or 0
    last_week = cohort.weeks if cohort.completed_at is not None else min(current, cohort.weeks)
    started = [p for p in pairs if p.activated_at is not None]
    met = meeting_weeks(session, [p.pk or 0 for p in started])
    ended_week = {
        p.pk: (schedule.week_for(p.ended_at, instants) or 0) if p.ended_at is not None else None
        for p in started
    }
    rows = []
    for week in range(1, last_week + 1):
        due = [
            p
            for p in started
            if p.first_week <= week
            and (
                ended_week[p.pk] is None
                or p.state == PairState.COMPLETED.value
                or week < (ended_week[p.pk] or 0)
            )
        ]
        count = sum(week in met[p.pk or 0] for p in due)
        row: dict[str, Any] = {"week": week, "pairs_due": len(due)}
        if len(due) < MIN_GROUP:
            rows.append(row | {"suppressed": True})
            continue
        rows.append(
            row | {"pairs_met": count, "rate": round(count / len(due), 4), "suppressed": False}
        )
    return rows


_RISK_KINDS = (
    ("no check-in", "no check-in filed for two weeks"),
    ("checked in: did not meet", "checked in, did not meet for two weeks"),
    ("checked in: have not met", "checked in, did not meet for two weeks"),
    ("no meeting", "no meeting in two consecutive weeks"),
    ("rated the mentoring", "low rating of the mentoring"),
    ("rated ", "low rating of a week's question"),
    ("match not yet confirmed", "match not yet confirmed"),
)
"""The reasons of the risk rules (:mod:`tandem.program.tick.reminders`), by how they begin,
as the report groups them."""


def _risk(pairs: list[Pair]) -> dict[str, Any]:
    live = [p for p in pairs if p.state in (PairState.ACTIVE.value, PairState.PROPOSED.value)]
    flagged = [p for p in live if p.risk]
    reasons: Counter[str] = Counter()
    for pair in flagged:
        kinds = {
            next((label for prefix, label in _RISK_KINDS if reason.startswith(prefix)), "other")
            for reason in pair.risk
        }
        reasons.update(kinds)
    return {
        "live_pairs": len(live),
        "at_risk": len(flagged),
        "reasons": dict(sorted(reasons.items())),
    }


def _match_quality(session: Session, run: MatchRun | None) -> dict[str, Any]:
    if run is None:
        return {"n": 0}
    scores = sorted(
        s for s in session.exec(select(MatchPair.score).where(MatchPair.run_pk == run.pk)).all()
    )
    if not scores:
        return {"n": 0, "method": run.method}
    low, high = 0.0, 100.0
    width = 10.0
    bins = [
        {
            "low": low + i * width,
            "high": low + (i + 1) * width,
            "count": sum(
                low + i * width <= s < low + (i + 1) * width or (i == 9 and s == high)
                for s in scores
            ),
        }
        for i in range(int((high - low) / width))
    ]
    return {
        "method": run.method,
        "n": len(scores),
        "min": round(scores[0], 2),
        "median": round(statistics.median(scores), 2),
        "mean": round(statistics.fmean(scores), 2),
        "max": round(scores[-1], 2),
        "histogram": bins,
        "unmatched": max(0, run.mentees_total - run.matched),
    }


def _funnel(
    session: Session, cohort: Cohort, pairs: list[Pair], run: MatchRun | None
) -> list[dict[str, Any]]:
    certified = session.exec(
        select(Certificate).where(
            Certificate.cohort_pk == cohort.pk, Certificate.status == "issued"
        )
    ).all()
    return [
        {"stage": "applied", "unit": "mentees", "count": run.mentees_total if run else 0},
        {"stage": "matched", "unit": "mentees", "count": len({p.mentee_pk for p in pairs})},
        {
            "stage": "confirmed",
            "unit": "mentees",
            "count": len({p.mentee_pk for p in pairs if p.activated_at is not None}),
        },
        {
            "stage": "completed",
            "unit": "mentees",
            "count": len({p.mentee_pk for p in pairs if p.state == PairState.COMPLETED.value}),
        },
        {"stage": "certified", "unit": "mentors", "count": len({c.mentor_pk for c in certified})},
    ]


def _checkins_by_week(session: Session, pairs: list[Pair]) -> list[dict[str, Any]]:
    rows = session.exec(
        select(CheckIn.week, CheckIn.role, CheckIn.met).where(
            col(CheckIn.pair_pk).in_([p.pk or 0 for p in pairs])
        )
    ).all()
    counts: dict[int, Counter[str]] = {}
    for week, role, met in rows:
        bucket = counts.setdefault(week, Counter())
        bucket[f"{role}_checkins"] += 1
        bucket["met_yes"] += bool(met)
    return [
        {
            "week": week,
            "mentor_checkins": counts[week]["mentor_checkins"],
            "mentee_checkins": counts[week]["mentee_checkins"],
            "reported_met": counts[week]["met_yes"],
        }
        for week in sorted(counts)
    ]


def cohort_report(engine: Engine, cohort_name: str, *, now: datetime) -> dict[str, Any]:
    """The whole report for a cohort as a JSON-ready dictionary (see the module doc).

    Raises CohortError for an unknown cohort.
    """
    instruments = load_instruments()
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pairs = list(
            session.exec(
                select(Pair).where(Pair.cohort_pk == cohort.pk).order_by(col(Pair.pk))
            ).all()
        )
        run = session.get(MatchRun, cohort.match_run_pk)
        responses = cohort_responses(session, cohort)
        funnel = _funnel(session, cohort, pairs, run)
        confirmed = funnel[2]["count"]
        completed = funnel[3]["count"]
        report: dict[str, Any] = {
            "report_version": REPORT_VERSION,
            "cohort": cohort.name,
            "generated_at": now.isoformat(),
            "weeks": cohort.weeks,
            "start_date": cohort.start_date.isoformat(),
            "closed": cohort.completed_at is not None,
            "min_group": MIN_GROUP,
            "responses": aggregates.response_counts(responses),
            "notes": [],
            "funnel": funnel,
            "retention": {
                "confirmed": confirmed,
                "completed": completed,
                "ended_early": sum(p.state == PairState.ENDED.value for p in pairs),
                "declined": sum(p.state == PairState.DECLINED.value for p in pairs),
                # While the program runs, pairs still going are neither kept nor lost yet.
                "rate": (
                    round(completed / confirmed, 4)
                    if confirmed and cohort.completed_at is not None
                    else None
                ),
            },
            "weekly_meeting_rate": _weekly_meetings(session, cohort, pairs, now),
            "checkins_by_week": _checkins_by_week(session, pairs),
            "pairs_at_risk": _risk(pairs),
            "competency_gains": aggregates.competency_gains(responses, instruments),
            "intent_to_change": aggregates.intent_to_change(responses),
            "satisfaction": aggregates.satisfaction(responses, instruments),
            "match_quality": _match_quality(session, run),
        }
    if not responses:
        report["notes"].append(
            "No survey responses yet: they arrive from the survey pages the messages link to, "
            "or with `tandem survey import`; then the report shows "
            "competency gains, satisfaction and intent to change."
        )
    if any(row["suppressed"] for row in report["competency_gains"]) and responses:
        report["notes"].append(
            f"Groups with fewer than {MIN_GROUP} respondents are suppressed to protect "
            "individual answers."
        )
    return report


# --------------------------------------------------------------------------- mentor feedback

MIN_MENTEES = 2
"""Mentor feedback needs at least this many mentee respondents, or it would expose one."""
LOWEST = 3
"""How many of the mentor's lowest-rated competencies the feedback points to weeks for."""


def _scores(
    responses: list[StoredResponse], role: Role, survey: SurveyName
) -> dict[int, dict[Competency, float]]:
    items = load_instruments()[SurveyName.CLOSING].competency_items(role)
    scores: dict[int, dict[Competency, float]] = {}
    for response in responses:
        if response.role is not role or response.survey is not survey:
            continue
        for competency, competency_items in items.items():
            value = aggregates.person_mean(response.answers, competency_items)
            if value is not None:
                scores.setdefault(response.participant_pk, {})[competency] = value
    return scores


def mentor_feedback(
    engine: Engine, cohort_name: str, mentor_id: str, *, now: datetime
) -> dict[str, Any]:
    """A mentor's own feedback: their mentees' closing ratings per competency beside the
    cohort's medians and their own self-assessment, and the curriculum weeks that address
    their lowest-rated competencies.

    Raises FeedbackRefusedError when fewer than two of their mentees answered (one
    mentee's answers would be exposed), and CohortError for an unknown cohort.
    """
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        mentor = session.exec(
            select(Participant).where(
                Participant.role == Role.MENTOR.value, Participant.external_id == mentor_id
            )
        ).first()
        in_cohort = (
            mentor is not None
            and session.exec(
                select(Pair).where(Pair.cohort_pk == cohort.pk, Pair.mentor_pk == mentor.pk)
            ).first()
        )
        if mentor is None or not in_cohort:
            raise FeedbackRefusedError(
                f'no mentor with id {quoted(mentor_id)} in cohort "{cohort.name}"; '
                f'see `tandem cohort status "{cohort.name}"` for the mentor ids'
            )
        responses = cohort_responses(session, cohort)
        curriculum = load_curriculum(cohort)
    mentee_scores = _scores(responses, Role.MENTEE, SurveyName.CLOSING)
    own_mentees = {
        r.participant_pk
        for r in responses
        if r.role is Role.MENTEE and r.survey is SurveyName.CLOSING and r.mentor_pk == mentor.pk
    }
    theirs = {pk: s for pk, s in mentee_scores.items() if pk in own_mentees}
    if len(theirs) < MIN_MENTEES:
        raise FeedbackRefusedError(
            f"mentor {mentor_id} has {len(theirs)} mentee response(s) to the closing survey; "
            f"feedback needs at least {MIN_MENTEES} so that no single mentee's answers are "
            "exposed"
        )
    own_closing = _scores(responses, Role.MENTOR, SurveyName.CLOSING).get(mentor.pk or 0, {})
    own_baseline = _scores(responses, Role.MENTOR, SurveyName.BASELINE).get(mentor.pk or 0, {})
    covered = curriculum.competencies_covered()
    rows = []
    for competency in Competency:
        values = [s[competency] for s in theirs.values() if competency in s]
        cohort_values = [s[competency] for s in mentee_scores.values() if competency in s]
        rows.append(
            {
                "competency": competency.value,
                "label": competency.label,
                "mentee_n": len(values),
                "mentee_mean": round(statistics.fmean(values), 2)
                if len(values) >= MIN_MENTEES
                else None,
                "cohort_median": round(statistics.median(cohort_values), 2)
                if len(cohort_values) >= MIN_GROUP
                else None,
                "self_closing": _opt(own_closing.get(competency)),
                "self_baseline": _opt(own_baseline.get(competency)),
            }
        )
    rated = sorted(
        (r for r in rows if r["mentee_mean"] is not None),
        key=lambda r: (r["mentee_mean"], r["competency"]),
    )
    lowest = [
        {
            "competency": r["competency"],
            "label": r["label"],
            "weeks": [
                {"week": w, "title": curriculum.week(w).title}
                for w in covered.get(Competency(str(r["competency"])), ())
            ],
        }
        for r in rated[:LOWEST]
    ]
    return {
        "cohort": cohort.name,
        "mentor_id": mentor_id,
        "generated_at": now.isoformat(),
        "mentee_respondents": len(theirs),
        "competencies": rows,
        "lowest": lowest,
    }


def _opt(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
