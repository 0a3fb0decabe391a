"""Compatibility scores: the registry of scorers (see :mod:`compatibility` for the source).

Every scorer gives each (mentee, mentor) pair a component in 0–1, or marks it unknown
when the data it needs is missing on either side. A pair's score is the weighted mean of
its known components (the weight of an unknown component is left out of that pair's
mean), scaled to 0–100; a pair with no known component scores 0. Integer points are
``round(score × SCALE)``; a pair that a hard rule forbids is :data:`~compat.FORBIDDEN`.

Scorers work on blocks of mentee rows against every mentor with sparse incidence
matrices, matrix products and lookup tables prepared once per cycle, so 20,000 × 5,000
pairs can be scored block by block in bounded memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tandem.matcher.compat import IntArray
from tandem.matcher.config import CustomCriterion, CustomMatch
from tandem.matcher.encoding import (
    STAGES,
    BoolArray,
    EqualityFactor,
    Roster,
    Rows,
    TableFactor,
    column_values,
    flag_table,
    incidence,
    padded,
)
from tandem.matcher.text import TextEmbedder, TfidfEmbedder
from tandem.matcher.types import Profile, normalize_tag

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
Component = tuple[FloatArray, BoolArray]
"""A scorer's block: values in 0–1 and where they are known."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _format_offset(hours: float) -> str:
    sign = "+" if hours >= 0 else "-"
    minutes = round(abs(hours) * 60)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, eq=False)
class LinearFactor:
    """Values as dot products of a mentee row and a mentor column of features.

    ``clip`` caps negative products at 0 (dense embeddings can be anti-correlated).
    """

    mentee: sp.csr_array | Float32Array
    mentor_t: sp.csr_array | Float32Array
    clip: bool = False

    def block(self, start: int, stop: int) -> Float32Array:
        return self.take(slice(start, stop))

    def take(self, rows: Rows) -> Float32Array:
        """The values of the selected mentee rows × every mentor."""
        product: Any = self.mentee[rows] @ self.mentor_t
        dense = product.toarray() if sp.issparse(product) else product
        values = np.asarray(dense, dtype=np.float32)
        return np.maximum(values, 0.0) if self.clip else values

    @cached_property
    def _mentor_rows(self) -> sp.csr_array:
        """The mentor features one row per mentor, for per-pair products."""
        return sp.csr_array(sp.csr_array(self.mentor_t).T)

    def pairs(self, rows: IntArray, cols: IntArray) -> Float32Array:
        """The values of the pairs ``(rows[k], cols[k])``: one dot product each."""
        if sp.issparse(self.mentee):
            left = sp.csr_array(self.mentee[rows])
            right = self._mentor_rows[cols]
            values = np.asarray(left.multiply(right).sum(axis=1), dtype=np.float32).reshape(-1)
        else:
            mentee = np.asarray(self.mentee, dtype=np.float32)[rows]
            mentor = np.asarray(self.mentor_t, dtype=np.float32)[:, cols].T
            values = np.einsum("ij,ij->i", mentee, mentor)
        return np.maximum(values, 0.0) if self.clip else values


ValueFactor = TableFactor | EqualityFactor | LinearFactor


@dataclass(frozen=True, eq=False)
class ScorerTerms:
    """A scorer's vectorised form: its values (0 wherever unknown) and where it is known."""

    values: ValueFactor
    known: TableFactor


Terms = tuple[list[Sequence[str]], IntArray]
"""Distinct term lists and, per profile, the index of its own among them."""


def _terms(
    profiles: Sequence[Profile],
    key: Callable[[Profile], object],
    terms: Callable[[Profile], Sequence[str]],
) -> Terms:
    """``terms`` of every profile, computed once per distinct ``key`` object.

    ``terms(p)`` must depend only on ``key(p)``. Objects are told apart by identity, which
    costs nothing to compare: profiles loaded from storage share their equal tuples, so a
    large roster has a few hundred distinct values where it has thousands of profiles
    (equal values that are separate objects are merely computed again).
    """
    at: dict[int, int] = {}
    distinct: list[Sequence[str]] = []
    index: list[int] = []
    for profile in profiles:
        # The profiles hold every key object, so no id is reused while this runs.
        ident = id(key(profile))
        position = at.get(ident)
        if position is None:
            position = at[ident] = len(distinct)
            distinct.append(terms(profile))
        index.append(position)
    return distinct, np.array(index, dtype=np.int64)


def _coverage(mentee_terms: Terms, mentor_terms: Terms, dense: bool = False) -> ScorerTerms:
    """Fraction of each mentee's terms that the mentor also has, as a linear factor."""
    (a_sets, a_at), (b_sets, b_at) = mentee_terms, mentor_terms
    vocabulary = sorted({t for ts in (*a_sets, *b_sets) for t in ts})
    # The incidence of the distinct term lists, one row per profile by row look-up.
    a = sp.csr_array(incidence(a_sets, vocabulary)[a_at])
    b = sp.csr_array(incidence(b_sets, vocabulary)[b_at])
    a_size = np.diff(a.indptr)
    b_size = np.diff(b.indptr)
    scaled = sp.csr_array(sp.diags_array(1.0 / np.maximum(a_size, 1)).astype(np.float32) @ a)
    values = (
        LinearFactor(scaled.toarray(), np.ascontiguousarray(b.T.toarray()))
        if dense
        else LinearFactor(scaled, sp.csr_array(b.T))
    )
    return ScorerTerms(values, flag_table(a_size > 0, b_size > 0, [[False, False], [False, True]]))


def _research_areas(profile: Profile) -> object:
    return profile.research_areas


def _topics(profile: Profile) -> object:
    return profile.topics


def _meeting_modes(profile: Profile) -> object:
    return profile.meeting_modes


class Scorer(ABC):
    """One criterion of compatibility, prepared once for a roster.

    Subclasses set ``name`` (the key in ``[weights]`` and in the registry), build their
    :class:`ScorerTerms` in ``__init__`` and implement :meth:`reason`.
    """

    name: ClassVar[str]
    terms: ScorerTerms

    def __init__(self, roster: Roster, weight: float) -> None:
        self.roster = roster
        self.weight = weight

    @property
    def component(self) -> str:
        """The component's name in scores and explanations."""
        return self.name

    def block(self, start: int, stop: int) -> Component:
        """Components of mentees ``start:stop`` × every mentor, and where they are known."""
        known = self.terms.known.block(start, stop).astype(bool)
        values = np.asarray(self.terms.values.block(start, stop), dtype=np.float64)
        return np.where(known, values, 0.0), known

    def pairs(self, rows: IntArray, cols: IntArray) -> Component:
        """Components of the pairs ``(rows[k], cols[k])`` (mentee and mentor indices), and
        where they are known; one value per pair, without scoring whole rows."""
        known = self.terms.known.pairs(rows, cols).astype(bool)
        values = np.asarray(self.terms.values.pairs(rows, cols), dtype=np.float64)
        return np.where(known, values, 0.0), known

    @abstractmethod
    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        """Why the pair got ``value`` (None: the component is unknown), in a few words."""


class ResearchAreas(Scorer):
    """Fraction of the mentee's research areas (tags) that the mentor shares.

    A mentee with two areas that the mentor both lists scores 1, however many other areas
    the mentor has (Jaccard would punish broad mentors).
    """

    name = "research_areas"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)

        def areas(profile: Profile) -> Sequence[str]:
            return column_values(profile, "research_areas")

        self.terms = _coverage(
            _terms(roster.mentees, _research_areas, areas),
            _terms(roster.mentors, _research_areas, areas),
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None:
            return "research areas missing on one side (not counted)"
        shared = sorted(
            set(column_values(mentee, "research_areas"))
            & set(column_values(mentor, "research_areas"))
        )
        if not shared:
            return "no shared research areas"
        return f"shares {_plural(len(shared), 'research area')}: " + "; ".join(shared)


class ResearchInterests(Scorer):
    """Cosine similarity of the free-text research interests (TF-IDF by default).

    The embedder is fit on the mentees' and mentors' texts of the cycle together; a
    negative similarity (possible with dense embeddings) counts as 0.
    """

    name = "research_interests"

    def __init__(self, roster: Roster, weight: float, embedder: TextEmbedder | None = None) -> None:
        super().__init__(roster, weight)
        texts = [p.research_interests for p in (*roster.mentees, *roster.mentors)]
        vectors = (embedder or TfidfEmbedder()).embed(texts)
        n = len(roster.mentees)
        values: LinearFactor
        if sp.issparse(vectors):
            csr = sp.csr_array(vectors, dtype=np.float32)
            values = LinearFactor(csr[:n], sp.csr_array(csr[n:].T))
            present = np.diff(csr.indptr) > 0
        else:
            dense = np.asarray(vectors, dtype=np.float32)
            values = LinearFactor(dense[:n], np.ascontiguousarray(dense[n:].T), clip=True)
            present = np.abs(dense).sum(axis=1) > 0
        known = flag_table(present[:n], present[n:], [[False, False], [False, True]])
        self.terms = ScorerTerms(values, known)

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None:
            return "research interests missing on one side (not counted)"
        return f"research interests {value:.0%} similar"


class Goals(Scorer):
    """Fraction of the mentee's goals that the mentor lists as expertise."""

    name = "goals"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)

        def topics(profile: Profile) -> Sequence[str]:
            return [t.value for t in profile.topics]

        self.terms = _coverage(
            _terms(roster.mentees, _topics, topics),
            _terms(roster.mentors, _topics, topics),
            dense=True,
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None:
            return "goals or expertise missing (not counted)"
        goals = set(mentee.topics)
        covered = sorted(t.label for t in goals & set(mentor.topics))
        if not covered:
            return f"covers none of the mentee's {_plural(len(goals), 'goal')}"
        return f"covers {len(covered)} of {_plural(len(goals), 'goal')}: " + "; ".join(covered)


class CareerStageGap(Scorer):
    """1 when the mentor is ``ideal_gap`` stages ahead, falling linearly to 0 at
    ``tolerance`` stages away from that gap (a mentor behind the mentee scores low)."""

    name = "career_stage"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)
        settings = roster.config.career_stage
        ranks = np.arange(STAGES)
        gap = ranks[None, :] - ranks[:, None]
        table = np.clip(1.0 - np.abs(gap - settings.ideal_gap) / settings.tolerance, 0.0, 1.0)
        a, b = roster.stage_codes
        self.terms = ScorerTerms(
            TableFactor(a, b, padded(table, 0.0)),
            TableFactor(a, b, padded(np.ones((STAGES, STAGES), dtype=bool), False)),
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None or mentee.career_stage is None or mentor.career_stage is None:
            return "career stage missing on one side (not counted)"
        gap = mentor.career_stage.rank - mentee.career_stage.rank
        ideal = self.roster.config.career_stage.ideal_gap
        where = (
            f"{_plural(gap, 'stage')} ahead"
            if gap > 0
            else ("at the same stage" if gap == 0 else f"{_plural(-gap, 'stage')} behind")
        )
        return (
            f"mentor is {where} ({mentee.career_stage.label} → {mentor.career_stage.label}; "
            f"ideal {ideal})"
        )


class TimezoneOverlap(Scorer):
    """Shared working hours / length of the working day, from UTC offsets read at the
    reference instant; working hours are the same local hours for everyone."""

    name = "timezone"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)
        settings = roster.config.timezone
        self.day = settings.working_hours_end - settings.working_hours_start
        a, b, d = roster.offset_codes
        overlap = np.maximum(0.0, self.day - d) + np.maximum(0.0, self.day - (24.0 - d))
        values = np.minimum(overlap, self.day) / self.day
        self.terms = ScorerTerms(
            TableFactor(a, b, padded(values, 0.0)),
            TableFactor(a, b, padded(np.ones(d.shape, dtype=bool), False)),
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        a, b = self.roster.offset(mentee), self.roster.offset(mentor)
        if value is None or a is None or b is None:
            return "time zone missing on one side (not counted)"
        hours = value * self.day
        return (
            f"{hours:.1f} h of shared working hours ({_format_offset(a)} and {_format_offset(b)})"
        )


class Language(Scorer):
    """1 when the pair shares at least one language, else 0."""

    name = "language"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)
        a, b, shared, nonempty = roster.language_sets
        self.terms = ScorerTerms(
            TableFactor(a, b, shared.astype(np.float64)),
            TableFactor(a, b, nonempty[:, None] & nonempty[None, :]),
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None:
            return "languages missing on one side (not counted)"
        shared = sorted(
            set(column_values(mentee, "languages")) & set(column_values(mentor, "languages"))
        )
        return "shares " + ("a language: " + "; ".join(shared) if shared else "no language")


class MeetingModes(Scorer):
    """Fraction of the mentee's meeting modes that the mentor also accepts."""

    name = "meeting_mode"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)

        def modes(profile: Profile) -> Sequence[str]:
            return [m.value for m in profile.meeting_modes]

        self.terms = _coverage(
            _terms(roster.mentees, _meeting_modes, modes),
            _terms(roster.mentors, _meeting_modes, modes),
            dense=True,
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None:
            return "meeting modes missing on one side (not counted)"
        shared = sorted(
            m.value.replace("_", " ") for m in set(mentee.meeting_modes) & set(mentor.meeting_modes)
        )
        if not shared:
            return "no common way to meet"
        return "can both meet by " + "; ".join(shared)


class Identity(Scorer):
    """Fraction of the mentee's identity preferences present in the mentor's identity.

    Counted only when both consented to identity matching and both lists are non-empty;
    otherwise the component is unknown (neutral). Reasons never name identity terms.
    """

    name = "identity"

    def __init__(self, roster: Roster, weight: float) -> None:
        super().__init__(roster, weight)

        def wanted(profile: Profile) -> object:
            return profile.identity_preferences if profile.identity_consent else None

        def has(profile: Profile) -> object:
            return profile.identity if profile.identity_consent else None

        def wanted_terms(profile: Profile) -> Sequence[str]:
            preferences = profile.identity_preferences if profile.identity_consent else ()
            return sorted({normalize_tag(t) for t in preferences})

        def has_terms(profile: Profile) -> Sequence[str]:
            identity = profile.identity if profile.identity_consent else ()
            return sorted({normalize_tag(t) for t in identity})

        self.terms = _coverage(
            _terms(roster.mentees, wanted, wanted_terms),
            _terms(roster.mentors, has, has_terms),
        )

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        if value is None:
            return "identity matching not consented on both sides (not counted)"
        n = len({normalize_tag(t) for t in mentee.identity_preferences})
        return f"matches {round(value * n)} of {_plural(n, 'identity preference')}"


class CustomScorer(Scorer):
    """An extra column compared by equality (``match = "equal"``) or difference."""

    name = "custom"

    def __init__(self, roster: Roster, criterion: CustomCriterion) -> None:
        super().__init__(roster, criterion.weight)
        self.criterion = criterion
        a, b = roster.value_codes(criterion.column)
        self.terms = ScorerTerms(
            EqualityFactor(a, b, when_equal=criterion.match is CustomMatch.EQUAL),
            flag_table(a >= 0, b >= 0, [[False, False], [False, True]]),
        )

    @property
    def component(self) -> str:
        return self.criterion.name

    def reason(self, mentee: Profile, mentor: Profile, value: float | None) -> str:
        column = self.criterion.column
        if value is None:
            return f"{column} missing on one side (not counted)"
        a = "; ".join(column_values(mentee, column))
        b = "; ".join(column_values(mentor, column))
        return f'same {column}: "{a}"' if a == b else f'different {column}: "{a}" and "{b}"'


SCORERS: Mapping[str, type[Scorer]] = {
    cls.name: cls
    for cls in (
        ResearchAreas,
        ResearchInterests,
        Goals,
        CareerStageGap,
        TimezoneOverlap,
        Language,
        MeetingModes,
        Identity,
    )
}
"""Built-in scorers by name (the keys of ``[weights]``); custom criteria come from the
configuration's ``[[custom_criteria]]`` and are named ``custom:COLUMN``."""
