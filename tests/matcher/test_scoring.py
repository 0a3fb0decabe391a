from datetime import UTC, datetime

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings

from tandem.matcher.compat import FORBIDDEN, SCALE, CompatibilitySource
from tandem.matcher.compatibility import ProfileCompatibility
from tandem.matcher.config import (
    ConfigError,
    CustomCriterion,
    CustomMatch,
    MatchConfig,
    RulesConfig,
    TimezoneSettings,
    Weights,
)
from tandem.matcher.errors import MatcherError
from tandem.matcher.text import TextEmbedder, TfidfEmbedder, tokenize
from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic

from .strategies import REFERENCE_INSTANT, configs, mentee, mentor, rosters

SEPTEMBER = datetime(2026, 9, 1, 12, tzinfo=UTC)
JANUARY = datetime(2026, 1, 15, 12, tzinfo=UTC)
NO_RULES = RulesConfig(shared_language=False, mentor_more_senior=False)


def only(name: str, **extra) -> MatchConfig:
    """A configuration scoring a single criterion, with no hard rule on."""
    weights = Weights(**{field: 1.0 if field == name else 0.0 for field in Weights.model_fields})
    return MatchConfig(weights=weights, **{"rules": NO_RULES, **extra})


def compat_of(a, b, config, instant=SEPTEMBER, **kw):
    return ProfileCompatibility([a], [b], config, instant, **kw)


def component(name, a, b, config=None, **kw):
    compat = compat_of(a, b, config or only(name), **kw)
    return compat.components(a.id, b.id).get(name)


def test_is_a_compatibility_source():
    compat = compat_of(mentee("e1"), mentor("r1", capacity=3), only("goals"))
    assert isinstance(compat, CompatibilitySource)
    assert compat.mentee_ids == ("e1",)
    assert compat.mentor_ids == ("r1",)
    assert compat.capacities.tolist() == [3]
    assert compat.capacities.dtype == np.int64
    assert compat.block(0, 1).dtype == np.int64


def test_ids_are_sorted():
    compat = ProfileCompatibility(
        [mentee("e2"), mentee("e10"), mentee("e1")],
        [mentor("r2"), mentor("r1")],
        only("goals"),
    )
    assert compat.mentee_ids == ("e1", "e10", "e2")
    assert compat.mentor_ids == ("r1", "r2")


def test_research_areas_fraction_of_mentee_areas_shared():
    a = mentee("e1", research_areas=("genomics", "Statistics", "ecology"))
    b = mentor("r1", research_areas=("statistics ", "GENOMICS", "chemistry", "physics"))
    compat = compat_of(a, b, only("research_areas"))
    assert compat.components("e1", "r1") == pytest.approx({"research_areas": 2 / 3})
    assert compat.points("e1", "r1") == round(2 / 3 * 100 * SCALE)
    assert compat.reasons("e1", "r1") == {
        "research_areas": "shares 2 research areas: genomics; statistics"
    }


def test_research_interests_tfidf_cosine():
    a = mentee("e1", research_interests="Coral reef ecology and ocean warming")
    same = mentor("r1", research_interests="coral reef ecology and ocean warming")
    other = mentor("r2", research_interests="Quantum field theory")
    compat = ProfileCompatibility([a], [same, other], only("research_interests"))
    assert compat.components("e1", "r1")["research_interests"] == pytest.approx(1.0, abs=1e-6)
    assert compat.components("e1", "r2")["research_interests"] == 0.0
    assert compat.reasons("e1", "r1")["research_interests"] == "research interests 100% similar"


def test_goals_fraction_covered_by_expertise():
    a = mentee("e1", topics=(MentoringTopic.GRANT_WRITING, MentoringTopic.PUBLISHING))
    b = mentor("r1", topics=(MentoringTopic.PUBLISHING, MentoringTopic.TEACHING))
    compat = compat_of(a, b, only("goals"))
    assert compat.components("e1", "r1") == {"goals": 0.5}
    assert compat.points("e1", "r1") == 50 * SCALE
    assert compat.reasons("e1", "r1")["goals"] == "covers 1 of 2 goals: publishing"


@pytest.mark.parametrize(
    ("mentor_stage", "expected"),
    [
        (CareerStage.EARLY_CAREER_FACULTY, 1.0),  # 2 ahead: the ideal gap
        (CareerStage.POSTDOC, 2 / 3),
        (CareerStage.MID_CAREER_FACULTY, 2 / 3),
        (CareerStage.GRADUATE_STUDENT, 1 / 3),
        (CareerStage.UNDERGRADUATE, 0.0),  # behind the mentee
    ],
)
def test_career_stage_peaks_at_the_ideal_gap(mentor_stage, expected):
    a = mentee("e1", career_stage=CareerStage.GRADUATE_STUDENT)
    b = mentor("r1", career_stage=mentor_stage)
    assert component("career_stage", a, b) == pytest.approx(expected)


def test_career_stage_reason():
    a = mentee("e1", career_stage=CareerStage.POSTDOC)
    b = mentor("r1", career_stage=CareerStage.SENIOR_FACULTY)
    compat = compat_of(a, b, only("career_stage"))
    assert compat.reasons("e1", "r1")["career_stage"] == (
        "mentor is 3 stages ahead (postdoc → senior faculty; ideal 2)"
    )


@pytest.mark.parametrize(
    ("instant", "expected", "reason"),
    [
        # Berlin UTC+2, Kolkata UTC+5:30: 3.5 h apart, 4.5 of 8 working hours shared.
        (SEPTEMBER, 4.5 / 8, "4.5 h of shared working hours (UTC+02:00 and UTC+05:30)"),
        # In winter Berlin is UTC+1: 4.5 h apart.
        (JANUARY, 3.5 / 8, "3.5 h of shared working hours (UTC+01:00 and UTC+05:30)"),
    ],
)
def test_timezone_overlap_at_the_reference_instant(instant, expected, reason):
    a = mentee("e1", timezone="Europe/Berlin")
    b = mentor("r1", timezone="Asia/Kolkata")
    compat = compat_of(a, b, only("timezone"), instant)
    assert compat.components("e1", "r1") == pytest.approx({"timezone": expected})
    assert compat.reasons("e1", "r1")["timezone"] == reason


def test_timezone_overlap_wraps_around_midnight():
    # Auckland (UTC+12 in September) and Honolulu (UTC-10) are 22 h apart, i.e. 2 h.
    a = mentee("e1", timezone="Pacific/Auckland")
    b = mentor("r1", timezone="Pacific/Honolulu")
    assert component("timezone", a, b) == pytest.approx(6 / 8)


def test_reference_instant_from_config():
    config = only("timezone", timezone=TimezoneSettings(reference_instant=JANUARY))
    a = mentee("e1", timezone="Europe/Berlin")
    b = mentor("r1", timezone="Asia/Kolkata")
    compat = ProfileCompatibility([a], [b], config)
    assert compat.components("e1", "r1") == pytest.approx({"timezone": 3.5 / 8})


def test_time_zones_need_a_reference_instant():
    with pytest.raises(MatcherError, match="reference_instant"):
        ProfileCompatibility(
            [mentee("e1", timezone="UTC")], [mentor("r1", timezone="UTC")], only("timezone")
        )


def test_unknown_time_zone_names_the_profile():
    with pytest.raises(MatcherError, match='profile "r1": unknown time zone "Mars/Olympus"'):
        compat_of(mentee("e1"), mentor("r1", timezone="Mars/Olympus"), only("timezone"))


def test_language_shared_or_not():
    a = mentee("e1", languages=("English", "Spanish"))
    assert component("language", a, mentor("r1", languages=("spanish",))) == 1.0
    assert component("language", a, mentor("r1", languages=("german",))) == 0.0
    compat = compat_of(a, mentor("r1", languages=("spanish",)), only("language"))
    assert compat.reasons("e1", "r1")["language"] == "shares a language: spanish"


def test_meeting_mode_fraction_of_mentee_modes():
    a = mentee("e1", meeting_modes=(MeetingMode.VIDEO, MeetingMode.IN_PERSON))
    b = mentor("r1", meeting_modes=(MeetingMode.IN_PERSON,))
    assert component("meeting_mode", a, b) == 0.5
    compat = compat_of(a, b, only("meeting_mode"))
    assert compat.reasons("e1", "r1")["meeting_mode"] == "can both meet by in person"


def test_identity_counted_only_when_both_consented():
    a = mentee("e1", identity_consent=True, identity_preferences=("Parent", "first generation"))
    consented = mentor("r1", identity_consent=True, identity=("parent", "woman in science"))
    not_consented = mentor("r1")
    assert component("identity", a, consented) == 0.5
    assert component("identity", a, not_consented) is None
    assert component("identity", mentee("e1"), consented) is None
    compat = compat_of(a, consented, only("identity"))
    assert compat.reasons("e1", "r1")["identity"] == "matches 1 of 2 identity preferences"


@pytest.mark.parametrize(
    ("match", "same", "different"), [("equal", 1.0, 0.0), ("different", 0.0, 1.0)]
)
def test_custom_criterion(match, same, different):
    weights = Weights(**dict.fromkeys(Weights.model_fields, 0.0))
    config = MatchConfig(
        weights=weights,
        rules=NO_RULES,
        custom_criteria=(CustomCriterion(column="field", match=CustomMatch(match), weight=2),),
    )
    a = mentee("e1", custom=(("field", "Biology"),))
    assert (
        component("custom:field", a, mentor("r1", custom=(("field", "biology"),)), config) == same
    )
    assert (
        component("custom:field", a, mentor("r1", custom=(("field", "chem"),)), config) == different
    )
    assert component("custom:field", a, mentor("r1"), config) is None


def test_custom_column_must_exist():
    config = MatchConfig(custom_criteria=(CustomCriterion(column="feild"),))
    with pytest.raises(ConfigError) as info:
        compat_of(mentee("e1", custom=(("field", "x"),)), mentor("r1"), config)
    assert str(info.value) == (
        'config key "custom_criteria[1].column": no profile has a column "feild"; '
        'did you mean "field"?'
    )


def test_score_is_the_weighted_mean_of_known_components():
    weights = Weights(**{**dict.fromkeys(Weights.model_fields, 0.0), "goals": 3.0, "language": 1.0})
    config = MatchConfig(weights=weights, rules=NO_RULES)
    a = mentee("e1", topics=(MentoringTopic.TEACHING,), languages=("english",))
    b = mentor("r1", topics=(MentoringTopic.TEACHING,), languages=("french",))
    compat = compat_of(a, b, config)
    assert compat.points("e1", "r1") == 75 * SCALE
    assert compat.score("e1", "r1") == 75.0


def test_missing_data_is_neutral_not_a_penalty():
    weights = Weights(
        **{**dict.fromkeys(Weights.model_fields, 0.0), "goals": 3.0, "research_areas": 1.0}
    )
    config = MatchConfig(weights=weights, rules=NO_RULES)
    a = mentee("e1", topics=(MentoringTopic.TEACHING,))  # no research areas
    b = mentor("r1", topics=(MentoringTopic.TEACHING,), research_areas=("genomics",))
    compat = compat_of(a, b, config)
    assert compat.components("e1", "r1") == {"goals": 1.0}
    assert compat.points("e1", "r1") == 100 * SCALE


def test_pair_with_nothing_known_scores_zero():
    compat = compat_of(mentee("e1"), mentor("r1"), MatchConfig(rules=NO_RULES))
    assert compat.components("e1", "r1") == {}
    assert compat.points("e1", "r1") == 0


def test_forbidden_pair_still_has_a_score_for_explanations():
    a = mentee("e1", topics=(MentoringTopic.TEACHING,), career_stage=CareerStage.POSTDOC)
    b = mentor("r1", topics=(MentoringTopic.TEACHING,), career_stage=CareerStage.POSTDOC)
    config = only("goals", rules=RulesConfig(mentor_more_senior=True))
    compat = compat_of(a, b, config)
    assert compat.points("e1", "r1") == FORBIDDEN
    assert compat.score("e1", "r1") == 100.0


class FixedEmbedder:
    """A dense stand-in for a sentence-embedding model."""

    def embed(self, texts):
        vectors = {"a": [1.0, 0.0], "b": [0.6, 0.8], "c": [-1.0, 0.0], "": [0.0, 0.0]}
        return np.array([vectors[t] for t in texts], dtype=np.float32)


def test_a_dense_embedder_plugs_in():
    assert isinstance(FixedEmbedder(), TextEmbedder)
    mentors = [mentor(f"r{t}", research_interests=t) for t in ("a", "b", "c", "")]
    compat = ProfileCompatibility(
        [mentee("e1", research_interests="a")],
        mentors,
        only("research_interests"),
        embedder=FixedEmbedder(),
    )
    values = [compat.components("e1", m.id).get("research_interests") for m in mentors]
    assert values == pytest.approx([1.0, 0.6, 0.0, None])
    # Mentor ids sort as r (empty text), ra, rb, rc.
    assert compat.block(0, 1).tolist() == [[0, 100 * SCALE, 60 * SCALE, 0]]


def test_tfidf_embedding():
    texts = ["Single-cell genomics", "genomics of coral reefs", ""]
    vectors = TfidfEmbedder().embed(texts)
    assert sp.issparse(vectors)
    assert vectors.shape[0] == 3
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    assert norms == pytest.approx([1.0, 1.0, 0.0])
    assert tokenize("Single-cell RNA-seq, 3D models") == ["single", "cell", "rna", "seq", "models"]
    again = TfidfEmbedder().embed(texts)
    assert (vectors != again).nnz == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rosters(max_mentees=12, max_mentors=7))
def test_two_builds_give_identical_blocks(data):
    mentees, mentors = data
    config = MatchConfig()
    first = ProfileCompatibility(mentees, mentors, config, REFERENCE_INSTANT)
    second = ProfileCompatibility(list(reversed(mentees)), mentors, config, REFERENCE_INSTANT)
    n = len(first.mentee_ids)
    assert np.array_equal(first.block(0, n), second.block(0, n))
    # Blocks of any size tile the whole matrix.
    tiles = np.vstack([first.block(s, s + 3) for s in range(0, n, 3)])
    assert np.array_equal(tiles, first.block(0, n))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=rosters(max_mentees=8, max_mentors=6, popular=True).flatmap(
        lambda r: configs(r[0], r[1]).map(lambda c: (r, c))
    )
)
def test_block_points_match_the_components(data):
    (mentees, mentors), config = data
    compat = ProfileCompatibility(mentees, mentors, config, REFERENCE_INSTANT)
    block = compat.block(0, len(compat.mentee_ids))
    for i, a in enumerate(compat.mentee_ids):
        for j, b in enumerate(compat.mentor_ids):
            details = compat.component_details(a, b)
            weight = sum(w for _, w, v in details if v is not None)
            total = sum(w * v for _, w, v in details if v is not None)
            expected = 100 * SCALE * total / weight if weight else 0.0
            assert 0 <= compat.score(a, b) <= 100
            if block[i, j] != FORBIDDEN:
                assert abs(block[i, j] - expected) <= 1
