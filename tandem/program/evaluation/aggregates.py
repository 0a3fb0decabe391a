"""Survey aggregates for the cohort report: competency gains, satisfaction, intent to change.

Pure functions over :class:`~tandem.program.evaluation.responses.StoredResponse` values and
the instruments. **Privacy:** every group with fewer than :data:`MIN_GROUP` respondents is
suppressed — ``"suppressed": True`` and no figures at all, not even its means — and free
text is only ever returned as a sorted list, never beside a name or id.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from tandem.matcher.types import Role
from tandem.program.evaluation.responses import Answer, StoredResponse
from tandem.program.evaluation.statistics import wilcoxon_signed_rank
from tandem.prompts.curriculum import Competency
from tandem.prompts.surveys import Instrument, SurveyItem, SurveyName

MIN_GROUP = 5
"""Groups with fewer respondents than this are suppressed in every format."""

SATISFACTION_ITEMS = ("valuable_use", "would_recommend")
AGREE_FROM = 4
"""On the 1–5 agreement scale, 4 (agree) and 5 (strongly agree) count as agreeing."""


class Comparison(StrEnum):
    """Which ratings a competency gain compares."""

    RETROSPECTIVE = "retrospective"
    """The closing survey's "before the program" rating against its current rating."""
    BASELINE = "baseline"
    """The baseline survey against the closing survey, for people who answered both."""


GAIN_FIELDS = (
    "competency",
    "role",
    "comparison",
    "n",
    "before_mean",
    "after_mean",
    "statistic",
    "p_value",
    "effect_size",
    "ci_low",
    "ci_high",
    "suppressed",
)
_FIGURES = (*GAIN_FIELDS[4:-1], "median_difference", "test")
"""What a suppressed row drops: everything but its keys, its respondent count and the flag."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def person_mean(
    answers: Mapping[str, Answer], items: Sequence[SurveyItem], before: bool = False
) -> float | None:
    """The mean of a person's ratings on ``items`` (``<id>_before`` ones if ``before``),
    over the items they answered; None if they answered none."""
    values = [
        answers[key]
        for item in items
        if (key := item.before_column if before else item.id) in answers
        and not isinstance(answers[key], bool)
        and isinstance(answers[key], int | float)
    ]
    return _mean([float(v) for v in values]) if values else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def suppressed_row(base: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``base`` with every figure in ``fields`` removed and ``suppressed`` set."""
    return {**{k: v for k, v in base.items() if k not in fields}, "suppressed": True}


def competency_gains(
    responses: Sequence[StoredResponse],
    instruments: Mapping[SurveyName, Instrument],
    min_group: int = MIN_GROUP,
) -> list[dict[str, Any]]:
    """One row per competency × role × comparison (see :data:`GAIN_FIELDS`).

    Per person, a competency's score is the mean of its items they rated; the pairs of
    scores go through :func:`wilcoxon_signed_rank`. ``n`` is the number of people with
    both scores; below ``min_group`` the row keeps only its keys and ``suppressed``.
    """
    closing = instruments[SurveyName.CLOSING]
    by_survey: dict[tuple[SurveyName, int], StoredResponse] = {
        (r.survey, r.participant_pk): r for r in responses
    }
    rows: list[dict[str, Any]] = []
    for competency in Competency:
        for role in (Role.MENTOR, Role.MENTEE):
            items = closing.competency_items(role).get(competency, ())
            for comparison in Comparison:
                pairs: list[tuple[float, float]] = []
                for response in responses:
                    if response.survey is not SurveyName.CLOSING or response.role is not role:
                        continue
                    after = person_mean(response.answers, items)
                    if comparison is Comparison.RETROSPECTIVE:
                        before = person_mean(response.answers, items, before=True)
                    else:
                        baseline = by_survey.get((SurveyName.BASELINE, response.participant_pk))
                        before = person_mean(baseline.answers, items) if baseline else None
                    if before is not None and after is not None:
                        pairs.append((before, after))
                row: dict[str, Any] = {
                    "competency": competency.value,
                    "label": competency.label,
                    "role": role.value,
                    "comparison": comparison.value,
                    "n": len(pairs),
                }
                if len(pairs) < min_group:
                    rows.append(suppressed_row(row, _FIGURES))
                    continue
                before_values = [b for b, _ in pairs]
                after_values = [a for _, a in pairs]
                test = wilcoxon_signed_rank(before_values, after_values)
                row |= {
                    "before_mean": _round(_mean(before_values)),
                    "after_mean": _round(_mean(after_values)),
                    "statistic": test.statistic,
                    "p_value": _round(test.p_value, 6),
                    "effect_size": _round(test.effect_size),
                    "median_difference": _round(test.estimate),
                    "ci_low": _round(test.ci_low),
                    "ci_high": _round(test.ci_high),
                    "test": test.method,
                    "suppressed": False,
                }
                rows.append(row)
    return rows


def satisfaction(
    responses: Sequence[StoredResponse],
    instruments: Mapping[SurveyName, Instrument],
    min_group: int = MIN_GROUP,
) -> list[dict[str, Any]]:
    """Per satisfaction item and role: n, mean, median, share agreeing, distribution."""
    closing = instruments[SurveyName.CLOSING]
    rows = []
    for item_id in SATISFACTION_ITEMS:
        item = closing.item(item_id)
        if item is None or item.min is None or item.max is None:
            continue
        for role in (Role.MENTOR, Role.MENTEE):
            values = [
                int(r.answers[item_id])
                for r in responses
                if r.survey is SurveyName.CLOSING
                and r.role is role
                and isinstance(r.answers.get(item_id), int)
            ]
            row: dict[str, Any] = {"item": item_id, "text": item.text, "role": role.value}
            row["n"] = len(values)
            if len(values) < min_group:
                rows.append(suppressed_row(row, ("mean", "median", "agree_share", "distribution")))
                continue
            row |= {
                "mean": _round(_mean(values)),
                "median": statistics.median(values),
                "agree_share": _round(sum(v >= AGREE_FROM for v in values) / len(values)),
                "distribution": {
                    str(level): values.count(level) for level in range(item.min, item.max + 1)
                },
                "suppressed": False,
            }
            rows.append(row)
    return rows


def _yes_share(values: Sequence[bool], min_group: int, base: dict[str, Any]) -> dict[str, Any]:
    base = {**base, "n": len(values)}
    if len(values) < min_group:
        return suppressed_row(base, ("yes", "share"))
    return base | {
        "yes": sum(values),
        "share": _round(sum(values) / len(values)),
        "suppressed": False,
    }


def _texts(values: Sequence[Any], min_group: int) -> list[str] | None:
    texts = sorted(v.strip() for v in values if isinstance(v, str) and v.strip())
    return texts if len(texts) >= min_group else None


def intent_to_change(
    responses: Sequence[StoredResponse], min_group: int = MIN_GROUP
) -> dict[str, Any]:
    """Mentors' intent to change at the close and, three months on, whether they did.

    ``what_intended`` and ``what_changed`` are the free-text answers, sorted (so that no
    order ties them to a person), and only when at least ``min_group`` mentors wrote one.
    """
    closing = {
        r.participant_pk: r
        for r in responses
        if r.survey is SurveyName.CLOSING and r.role is Role.MENTOR
    }
    followup = {
        r.participant_pk: r
        for r in responses
        if r.survey is SurveyName.FOLLOWUP and r.role is Role.MENTOR
    }
    intended = {
        pk: bool(r.answers["intent_to_change"])
        for pk, r in closing.items()
        if isinstance(r.answers.get("intent_to_change"), bool)
    }
    changed = {
        pk: bool(r.answers["changed_mentoring"])
        for pk, r in followup.items()
        if isinstance(r.answers.get("changed_mentoring"), bool)
    }
    followed = [changed[pk] for pk, yes in intended.items() if yes and pk in changed]
    return {
        "intend": _yes_share(list(intended.values()), min_group, {"survey": "closing"}),
        "changed": _yes_share(list(changed.values()), min_group, {"survey": "followup"}),
        "changed_of_intending": _yes_share(followed, min_group, {"survey": "both"}),
        "what_intended": _texts(
            [r.answers.get("intent_what") for r in closing.values()], min_group
        ),
        "what_changed": _texts(
            [r.answers.get("changed_how") for r in followup.values()], min_group
        ),
    }


def response_counts(responses: Sequence[StoredResponse]) -> dict[str, dict[str, int]]:
    """How many people answered each survey, by role."""
    counts = {s.value: {r.value: 0 for r in (Role.MENTOR, Role.MENTEE)} for s in SurveyName}
    for response in responses:
        counts[response.survey.value][response.role.value] += 1
    return counts
