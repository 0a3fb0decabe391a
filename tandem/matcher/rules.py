"""Hard rules as labelled data, written once and used three ways (over the encodings of
:mod:`encoding`).

Each rule in :data:`HARD_RULES` has a label (``same_institution``, ``capacity`` …) and
defines, in one class:

* :meth:`HardRule.forbids` — the reference check of one (mentee, mentor) pair;
* :meth:`HardRule.mask` — the same check over a block of mentee rows × every mentor,
  vectorised over the encodings of a :class:`Roster` (the compatibility blocks use it);
* :meth:`HardRule.cohort_violations` — checks that need the whole assignment
  (capacity, group caps, locked pairs present).

:func:`validate_assignment` re-checks any result against all of them and returns the
labels broken; explanations name the rule that forbids a pair. A rule whose data is
missing on either side of a pair passes, except ``eligibility`` (a missing value is not
eligible).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import ClassVar

import numpy as np

from tandem.matcher.config import ConfigError, MatchConfig, SameInstitution
from tandem.matcher.encoding import (
    STAGES,
    BoolArray,
    EqualityFactor,
    Factor,
    LockedFactor,
    PairFactor,
    Roster,
    TableFactor,
    Violation,
    column_values,
    flag_table,
    is_eligible,
    normalize_value,
    padded,
    timezone_difference,
)
from tandem.matcher.errors import MatcherError
from tandem.matcher.types import Profile


class HardRule(ABC):
    """One hard rule: a label, a meaning, a pair check, its vectorised form, cohort checks.

    :meth:`forbids` is the reference definition; :meth:`vector` states the same rule as a
    :data:`Factor` over the roster's encodings (tests check that the two agree).
    """

    label: ClassVar[str]
    meaning: ClassVar[str]
    checked_per_pair: ClassVar[bool] = True
    """False when the validator checks the rule on the whole assignment instead."""

    def active(self, config: MatchConfig) -> bool:
        """Whether the configuration switches the rule on."""
        return True

    @abstractmethod
    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        """The reference check: does the rule forbid this pair?"""

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        """Why the rule forbids this pair, in the pair's own terms (for explanations);
        only meaningful when :meth:`forbids` is true."""
        return self.meaning

    def vector(self, roster: Roster) -> Factor | None:
        """The rule over every pair of the roster (True = forbidden); None: cohort-only."""
        return None

    def mask(self, roster: Roster, start: int, stop: int) -> BoolArray:
        """:meth:`forbids` for mentees ``start:stop`` × every mentor (True = forbidden)."""
        factor = self.vector(roster) if self.active(roster.config) else None
        if factor is None:
            return np.zeros((stop - start, len(roster.mentors)), dtype=bool)
        return factor.block(start, stop).astype(bool)

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        """Violations visible only on the whole assignment."""
        return []


class SelfPair(HardRule):
    label = "self_pair"
    meaning = "a person is never their own mentor (same e-mail, or the same id in both roles)"

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return mentee.person_key == mentor.person_key or mentee.id == mentor.id

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return "the same person" + (
            " (same e-mail)" if mentee.person_key == mentor.person_key else " (same id)"
        )

    def vector(self, roster: Roster) -> Factor:
        by_key: defaultdict[str, list[int]] = defaultdict(list)
        by_id: defaultdict[str, list[int]] = defaultdict(list)
        for j, mentor in enumerate(roster.mentors):
            by_key[mentor.person_key].append(j)
            by_id[mentor.id].append(j)
        cells = {
            (i, j)
            for i, mentee in enumerate(roster.mentees)
            for j in (*by_key.get(mentee.person_key, ()), *by_id.get(mentee.id, ()))
        }
        return PairFactor(roster.cells_matrix(cells))


class Excluded(HardRule):
    label = "excluded"
    meaning = "neither side lists the other's id among the people they do not want"

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return mentor.id in mentee.excluded or mentee.id in mentor.excluded

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        if mentor.id in mentee.excluded:
            return f"mentee {mentee.id} lists {mentor.id} in excluded"
        return f"mentor {mentor.id} lists {mentee.id} in excluded"

    def vector(self, roster: Roster) -> Factor:
        pairs = [(a.id, x) for a in roster.mentees for x in a.excluded]
        pairs += [(x, b.id) for b in roster.mentors for x in b.excluded]
        return PairFactor(roster.pair_matrix(pairs))


class Eligibility(HardRule):
    label = "eligibility"
    meaning = "both profiles pass every configured eligibility rule for their role"

    def active(self, config: MatchConfig) -> bool:
        return bool(config.rules.eligibility)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        config = roster.config
        return not (is_eligible(mentee, config) and is_eligible(mentor, config))

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        failing = [
            f"{rule.role.value} {profile.id} has no {rule.column} in {', '.join(rule.equals)}"
            for profile in (mentee, mentor)
            for rule in roster.config.rules.eligibility
            if rule.role is profile.role
            and not {normalize_value(rule.column, v) for v in rule.equals}
            & set(column_values(profile, rule.column))
        ]
        return "; ".join(failing) or self.meaning

    def vector(self, roster: Roster) -> Factor:
        a, b = roster.eligible
        return flag_table(a, b, [[True, True], [True, False]])


class SameInstitutionRule(HardRule):
    label = "same_institution"
    meaning = "pairs from one institution are forbidden, or required, as configured"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.same_institution is not SameInstitution.ALLOWED

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        a, b = column_values(mentee, "institution"), column_values(mentor, "institution")
        if not a or not b or not self.active(roster.config):
            return False
        same = a == b
        if roster.config.rules.same_institution is SameInstitution.FORBIDDEN:
            return same
        return not same

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        if roster.config.rules.same_institution is SameInstitution.FORBIDDEN:
            return "both at the same institution (same_institution = forbidden)"
        return "at different institutions (same_institution = required)"

    def vector(self, roster: Roster) -> Factor:
        a, b = roster.value_codes("institution")
        forbidden = roster.config.rules.same_institution is SameInstitution.FORBIDDEN
        return EqualityFactor(a, b, when_equal=forbidden)


class MaxTimezoneDifference(HardRule):
    label = "max_timezone_difference"
    meaning = "the two UTC offsets differ by at most the configured number of hours"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.max_timezone_difference is not None

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        limit = roster.config.rules.max_timezone_difference
        a, b = roster.offset(mentee), roster.offset(mentor)
        if limit is None or a is None or b is None:
            return False
        return timezone_difference(a, b) > limit

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        a, b = roster.offset(mentee), roster.offset(mentor)
        limit = roster.config.rules.max_timezone_difference
        if a is None or b is None or limit is None:
            return self.meaning
        return f"UTC offsets {timezone_difference(a, b):g} hours apart, more than {limit:g}"

    def vector(self, roster: Roster) -> Factor:
        limit = roster.config.rules.max_timezone_difference
        assert limit is not None
        a, b, differences = roster.offset_codes
        return TableFactor(a, b, padded(differences > limit, False))


class SharedLanguage(HardRule):
    label = "shared_language"
    meaning = "the pair shares at least one language"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.shared_language

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        if not self.active(roster.config):
            return False
        a, b = column_values(mentee, "languages"), column_values(mentor, "languages")
        return bool(a) and bool(b) and not set(a) & set(b)

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        a, b = column_values(mentee, "languages"), column_values(mentor, "languages")
        return f"no shared language (mentee: {', '.join(a)}; mentor: {', '.join(b)})"

    def vector(self, roster: Roster) -> Factor:
        a, b, shared, nonempty = roster.language_sets
        known = nonempty[:, None] & nonempty[None, :]
        return TableFactor(a, b, known & ~shared)


class MentorMoreSenior(HardRule):
    label = "mentor_more_senior"
    meaning = "the mentor is at least the configured number of career stages ahead"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.mentor_more_senior

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        if not self.active(roster.config):
            return False
        if mentee.career_stage is None or mentor.career_stage is None:
            return False
        gap = mentor.career_stage.rank - mentee.career_stage.rank
        return gap < roster.config.rules.min_stage_gap

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        if mentee.career_stage is None or mentor.career_stage is None:
            return self.meaning
        need = roster.config.rules.min_stage_gap
        return (
            f"mentor is {mentor.career_stage.label}, mentee {mentee.career_stage.label}; "
            f"the mentor must be at least {need} stage{'' if need == 1 else 's'} ahead"
        )

    def vector(self, roster: Roster) -> Factor:
        a, b = roster.stage_codes
        ranks = np.arange(STAGES)
        behind = (ranks[None, :] - ranks[:, None]) < roster.config.rules.min_stage_gap
        return TableFactor(a, b, padded(behind, False))


class ForbiddenPair(HardRule):
    label = "forbidden_pair"
    meaning = "the coordinator ruled the pair out (rules.forbidden_pairs)"

    def active(self, config: MatchConfig) -> bool:
        return bool(config.rules.forbidden_pairs)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return (mentee.id, mentor.id) in roster.forbidden

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return f'["{mentee.id}", "{mentor.id}"] is in rules.forbidden_pairs'

    def vector(self, roster: Roster) -> Factor:
        return PairFactor(roster.pair_matrix(roster.forbidden))


class LockedPair(HardRule):
    label = "locked_pair"
    meaning = (
        "a mentee the coordinator locked to a mentor (rules.locked_pairs) is paired with "
        "that mentor and no one else"
    )

    def active(self, config: MatchConfig) -> bool:
        return bool(config.rules.locked_pairs)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        locked = roster.locked.get(mentee.id)
        return locked is not None and locked != mentor.id

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return f"mentee {mentee.id} is locked to mentor {roster.locked.get(mentee.id)}"

    def vector(self, roster: Roster) -> Factor:
        return LockedFactor(roster.locked_columns, len(roster.mentors))

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        present = {(a.id, b.id) for a, b in pairs}
        return [
            Violation(
                label=self.label,
                mentee_id=a,
                mentor_id=b,
                detail=f'locked pair ("{a}", "{b}") is missing from the assignment',
            )
            for a, b in sorted(roster.locked.items())
            if (a, b) not in present
        ]


class Capacity(HardRule):
    label = "capacity"
    meaning = "a mentor has at most `capacity` mentees (a mentor with capacity 0 has none)"
    checked_per_pair = False

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return mentor.capacity == 0

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return f"mentor {mentor.id} has capacity {mentor.capacity}"

    def vector(self, roster: Roster) -> Factor:
        a = np.zeros(len(roster.mentees), dtype=bool)
        return flag_table(a, roster.capacities == 0, [[False, True], [False, True]])

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        load = Counter(b.id for _, b in pairs)
        violations = []
        for mentor_id, count in sorted(load.items()):
            capacity = roster.mentors[roster.mentor_index[mentor_id]].capacity
            if count > capacity:
                violations.append(
                    Violation(
                        label=self.label,
                        mentee_id=None,
                        mentor_id=mentor_id,
                        detail=f'mentor "{mentor_id}" has {count} mentees, capacity {capacity}',
                    )
                )
        return violations


class GroupCapRule(HardRule):
    label = "group_cap"
    meaning = "a mentor has at most `max_per_mentor` mentees sharing a value of the column"
    checked_per_pair = False

    def active(self, config: MatchConfig) -> bool:
        return bool(config.group_caps)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return False

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        violations = []
        for cap in roster.config.group_caps:
            groups: Counter[tuple[str, str]] = Counter()
            for mentee, mentor in pairs:
                for value in column_values(mentee, cap.column):
                    groups[(mentor.id, value)] += 1
            for (mentor_id, value), count in sorted(groups.items()):
                if count > cap.max_per_mentor:
                    violations.append(
                        Violation(
                            label=self.label,
                            mentee_id=None,
                            mentor_id=mentor_id,
                            detail=(
                                f'mentor "{mentor_id}" has {count} mentees with {cap.column} '
                                f'"{value}", at most {cap.max_per_mentor} allowed'
                            ),
                        )
                    )
        return violations


class OneMentorPerMentee(HardRule):
    label = "one_mentor_per_mentee"
    meaning = "a mentee has at most one mentor"
    checked_per_pair = False

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return False

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        mentors: defaultdict[str, list[str]] = defaultdict(list)
        for a, b in pairs:
            mentors[a.id].append(b.id)
        return [
            Violation(
                label=self.label,
                mentee_id=mentee_id,
                mentor_id=None,
                detail=f'mentee "{mentee_id}" has {len(ids)} mentors: ' + ", ".join(sorted(ids)),
            )
            for mentee_id, ids in sorted(mentors.items())
            if len(ids) > 1
        ]


HARD_RULES: tuple[HardRule, ...] = (
    SelfPair(),
    Excluded(),
    Eligibility(),
    SameInstitutionRule(),
    MaxTimezoneDifference(),
    SharedLanguage(),
    MentorMoreSenior(),
    ForbiddenPair(),
    LockedPair(),
    Capacity(),
    GroupCapRule(),
    OneMentorPerMentee(),
)
"""Every hard rule, in the order explanations and violations list them."""

RULES_BY_LABEL: Mapping[str, HardRule] = {rule.label: rule for rule in HARD_RULES}
PAIR_RULES: tuple[HardRule, ...] = tuple(
    r for r in HARD_RULES if not isinstance(r, GroupCapRule | OneMentorPerMentee)
)
"""The rules that can forbid a single pair (and so appear in the block mask)."""


def active_pair_rules(config: MatchConfig) -> tuple[HardRule, ...]:
    return tuple(rule for rule in PAIR_RULES if rule.active(config))


def forbidding_rules(mentee: Profile, mentor: Profile, roster: Roster) -> list[str]:
    """Labels of the active rules that forbid this pair, in :data:`HARD_RULES` order."""
    return [
        rule.label
        for rule in active_pair_rules(roster.config)
        if rule.forbids(mentee, mentor, roster)
    ]


def forbidding_reasons(mentee: Profile, mentor: Profile, roster: Roster) -> list[str]:
    """Each active rule that forbids this pair, as ``label: why``, in :data:`HARD_RULES`
    order (``capacity: mentor M004 has capacity 0``)."""
    return [
        f"{rule.label}: {rule.why(mentee, mentor, roster)}"
        for rule in active_pair_rules(roster.config)
        if rule.forbids(mentee, mentor, roster)
    ]


def check_locked_pairs(roster: Roster) -> None:
    """Raise :class:`ConfigError` when a locked pair cannot be honoured, naming the rule."""
    key = "rules.locked_pairs"
    load: Counter[str] = Counter()
    pairs: list[tuple[Profile, Profile]] = []
    for mentee_id, mentor_id in roster.config.rules.locked_pairs:
        where = f'config key "{key}": locked pair ["{mentee_id}", "{mentor_id}"]'
        if mentee_id not in roster.mentee_index:
            raise ConfigError(f'{where}: no mentee has id "{mentee_id}"', key=key)
        if mentor_id not in roster.mentor_index:
            raise ConfigError(f'{where}: no mentor has id "{mentor_id}"', key=key)
        mentee = roster.mentees[roster.mentee_index[mentee_id]]
        mentor = roster.mentors[roster.mentor_index[mentor_id]]
        broken = forbidding_rules(mentee, mentor, roster)
        if broken:
            rule = RULES_BY_LABEL[broken[0]]
            raise ConfigError(
                f'{where} is forbidden by hard rule "{rule.label}" ({rule.meaning}); '
                "remove the lock or change the rule",
                key=key,
            )
        load[mentor_id] += 1
        pairs.append((mentee, mentor))
    for rule in (RULES_BY_LABEL["capacity"], RULES_BY_LABEL["group_cap"]):
        if rule.active(roster.config):
            violations = rule.cohort_violations(pairs, roster)
            if violations:
                raise ConfigError(
                    f'config key "{key}": the locked pairs alone break hard rule '
                    f'"{rule.label}": {violations[0].detail}; remove a lock or raise the limit',
                    key=key,
                )


def validate_assignment(
    pairs: Iterable[tuple[str, str]] | Mapping[str, str | None],
    mentees: Iterable[Profile],
    mentors: Iterable[Profile],
    config: MatchConfig,
    reference_instant: datetime | None = None,
    *,
    roster: Roster | None = None,
) -> list[Violation]:
    """Every hard rule that an assignment breaks (empty when it is valid).

    ``pairs`` is a list of (mentee id, mentor id) or a mapping mentee id → mentor id (None:
    unmatched). Pair rules are checked per pair (except capacity, checked on the whole),
    then capacity, group caps, locked pairs present and one mentor per mentee. Violations
    come in :data:`HARD_RULES` order, then by ids. Raises :class:`MatcherError` for an id
    that is not in the roster. ``roster``, when the caller already built it from the same
    profiles, config and instant (for scoring), saves encoding them again.
    """
    if roster is None:
        roster = Roster(mentees, mentors, config, reference_instant)
    items = (
        [(a, b) for a, b in pairs.items() if b is not None]
        if isinstance(pairs, Mapping)
        else list(pairs)
    )
    resolved: list[tuple[Profile, Profile]] = []
    for mentee_id, mentor_id in items:
        if mentee_id not in roster.mentee_index:
            raise MatcherError(f'the assignment names unknown mentee "{mentee_id}"')
        if mentor_id not in roster.mentor_index:
            raise MatcherError(f'the assignment names unknown mentor "{mentor_id}"')
        resolved.append(
            (
                roster.mentees[roster.mentee_index[mentee_id]],
                roster.mentors[roster.mentor_index[mentor_id]],
            )
        )
    resolved.sort(key=lambda p: (p[0].id, p[1].id))
    violations: list[Violation] = []
    for rule in HARD_RULES:
        if not rule.active(config):
            continue
        if rule.checked_per_pair:
            violations += [
                Violation(
                    label=rule.label,
                    mentee_id=a.id,
                    mentor_id=b.id,
                    detail=f'pair ("{a.id}", "{b.id}") breaks {rule.label}: {rule.meaning}',
                )
                for a, b in resolved
                if rule.forbids(a, b, roster)
            ]
        violations += rule.cohort_violations(resolved, roster)
    return violations
