"""Score and preference files: values, exact scaling, and exact error messages."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tandem.matcher import DenseScores, Objective, inputs, solve
from tandem.matcher.compat import FORBIDDEN, SCALE
from tandem.matcher.inputs import (
    MatcherInputError,
    _decimal_points,
    parse_preferences,
    parse_scores,
)

MENTEES = ["e1", "e2", "e3"]
CAPACITIES = {"m1": 1, "m2": 2}


def scores(text: str):
    return parse_scores(text, "scores.csv", mentee_ids=MENTEES, capacities=CAPACITIES)


def prefs(text: str):
    return parse_preferences(text, "prefs.csv", mentee_ids=MENTEES, capacities=CAPACITIES)


def test_scores_become_exact_points_and_absent_pairs_are_forbidden() -> None:
    source = scores("mentee_id,mentor_id,score\ne2,m1,87.5\ne1,m2,100\n e1 , m1 ,0.0001\n")
    assert source.scale == SCALE
    rows, cols, points = source.arcs()
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [0, 1, 0]
    assert points.tolist() == [1, 1_000_000, 875_000]
    assert source.block(0, 3).tolist() == [
        [1, 1_000_000],
        [875_000, FORBIDDEN],
        [FORBIDDEN, FORBIDDEN],
    ]


def test_more_decimals_give_a_finer_common_scale() -> None:
    source = scores("score,mentor_id,mentee_id\n33.333333,m1,e1\n66.6,m2,e1\n")
    assert source.scale == 10**6
    assert source.arcs()[2].tolist() == [33_333_333, 66_600_000]
    result = solve(source)
    assert result.scale == 10**6 and result.pairs[0].score == 66.6


def test_bad_score_rows_are_all_reported_with_row_column_and_expectation() -> None:
    text = (
        "mentee_id,mentor_id,score\n"
        "e1,m1,50\n"
        "e9,m1,abc\n"
        "e2,m7,101\n"
        "e1,m1,40\n"
        "e3,m2,-5\n"
        "e3,m1,1e2\n"
        "e2\n"
        "e2,m2,100.01\n"
    )
    with pytest.raises(MatcherInputError) as error:
        scores(text)
    assert str(error.value) == (
        "scores.csv: 7 problems\n"
        "  scores.csv, row 3, column \"mentee_id\": unknown mentee id 'e9'; use an id from the mentee roster\n"
        "  scores.csv, row 3, column \"score\": expected a decimal number ≥ 0 (any scale), got 'abc'\n"
        "  scores.csv, row 4, column \"mentor_id\": unknown mentor id 'm7'; use an id from the mentor roster\n"
        "  scores.csv, row 5: duplicate pair (e1, m1), first given in row 2; keep one row per pair\n"
        "  scores.csv, row 6, column \"score\": expected a decimal number ≥ 0 (any scale), got '-5'\n"
        "  scores.csv, row 7, column \"score\": expected a decimal number ≥ 0 (any scale), got '1e2'\n"
        "  scores.csv, row 8: expected 3 fields, found 1"
    )
    assert [(p.row, p.column) for p in error.value.problems][:2] == [
        (3, "mentee_id"),
        (3, "score"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            "scores.csv: the file is empty; expected the header "
            "mentee_id,mentor_id,score and one row per entry",
        ),
        (
            "mentee_id,mentor\ne1,m1\n",
            "scores.csv: 2 problems\n"
            '  scores.csv, row 1, column "mentor_id": missing column mentor_id; the header must name '
            "mentee_id,mentor_id,score\n"
            '  scores.csv, row 1, column "score": missing column score; the header must name '
            "mentee_id,mentor_id,score",
        ),
        (
            "mentee_id,mentor_id,score\n\n",
            "scores.csv: the file has a header but no rows; add one row per "
            "entry (mentee_id,mentor_id,score)",
        ),
    ],
)
def test_empty_and_headerless_score_files(text: str, message: str) -> None:
    with pytest.raises(MatcherInputError) as error:
        scores(text)
    assert str(error.value) == message


def test_long_error_lists_are_cut_with_a_count() -> None:
    text = "mentee_id,mentor_id,score\n" + "x,m1,1\n" * 60
    with pytest.raises(MatcherInputError) as error:
        scores(text)
    assert len(error.value.problems) == 60
    assert str(error.value).endswith("… and 10 more")


def test_parsed_scores_solve_like_the_dense_matrix() -> None:
    text = "mentee_id,mentor_id,score\ne1,m1,90\ne1,m2,80\ne2,m1,85\ne3,m2,10.5\n"
    dense = DenseScores(
        np.array([[900_000, 800_000], [850_000, -1], [-1, 105_000]]),
        MENTEES,
        list(CAPACITIES),
        list(CAPACITIES.values()),
    )
    assert solve(scores(text)).fingerprint() == solve(dense).fingerprint()


def test_preferences_for_both_sides_with_gaps_in_ranks() -> None:
    result = prefs(
        "participant_id,candidate_id,rank\ne1,m2,1\ne1,m1,5\nm1,e3,2\nm1,e1,1\ne2,m1,1\n"
    )
    assert result.mentee_ranking == {"e1": ("m2", "m1"), "e2": ("m1",), "e3": ()}
    assert result.mentor_ranking == {"m1": ("e1", "e3"), "m2": ()}
    assert result.capacities == CAPACITIES


def test_bad_preference_rows_are_all_reported() -> None:
    text = (
        "participant_id,candidate_id,rank\n"
        "e1,m1,1\n"
        "e1,m2,1\n"
        "e1,m1,2\n"
        "e2,e3,1\n"
        "x,m1,1\n"
        "m1,e1,0\n"
        "m1,e2,first\n"
        "m2,e1,1.5\n"
    )
    with pytest.raises(MatcherInputError) as error:
        prefs(text)
    assert str(error.value) == (
        "prefs.csv: 7 problems\n"
        '  prefs.csv, row 3, column "rank": e1 gives rank 1 twice (first in row 2); ranks must differ\n'
        '  prefs.csv, row 4, column "candidate_id": e1 ranks m1 again (first in row 2); keep one row\n'
        '  prefs.csv, row 5, column "candidate_id": expected a mentor id (participant e2 is a mentee), '
        "got 'e3'\n"
        "  prefs.csv, row 6, column \"participant_id\": unknown participant id 'x'; use a mentee or mentor id\n"
        "  prefs.csv, row 7, column \"rank\": expected a positive whole number (1 = most preferred), got '0'\n"
        '  prefs.csv, row 8, column "rank": expected a positive whole number (1 = most preferred), '
        "got 'first'\n"
        "  prefs.csv, row 9, column \"rank\": expected a positive whole number (1 = most preferred), got '1.5'"
    )


def test_preferences_need_distinct_ids_across_roles() -> None:
    with pytest.raises(MatcherInputError) as error:
        parse_preferences(
            "participant_id,candidate_id,rank\nm1,e1,1\n",
            "prefs.csv",
            mentee_ids=["e1", "m1"],
            capacities={"m1": 1},
        )
    assert "ids m1 belong to both a mentee and a mentor" in str(error.value)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.integers(0, 10**12 - 1), st.integers(0, 12)),
        min_size=1,
        max_size=3,
    ),
    st.booleans(),
)
def test_scaling_is_exact_on_both_parsing_paths(
    numbers: list[tuple[int, int, int]], padded: bool
) -> None:
    texts = []
    for whole, fraction, decimals in numbers:
        if whole == 100 or decimals == 0:
            texts.append(str(whole))
        else:
            texts.append(f"{whole}.{str(fraction).zfill(12)[:decimals]}")
    pad = " " if padded else ""  # spaces force the row-by-row path
    body = "".join(f"e1,{m},{pad}{t}\n" for m, t in zip(["m1", "m2", "m3"], texts, strict=False))
    source = parse_scores(
        "mentee_id,mentor_id,score\n" + body,
        "scores.csv",
        mentee_ids=MENTEES,
        capacities={"m1": 1, "m2": 1, "m3": 1},
    )
    expected = [int(Decimal(t) * source.scale) for t in texts]
    assert source.arcs()[2].tolist() == expected
    assert all(
        Decimal(p) / source.scale == Decimal(t) for p, t in zip(expected, texts, strict=True)
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(MENTEES), st.sampled_from(sorted(CAPACITIES)), st.integers(0, 10**6)
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda t: t[:2],
    ),
    st.booleans(),
)
def test_plain_quoted_and_reordered_files_parse_alike(
    rows: list[tuple[str, str, int]], extra_column: bool
) -> None:
    """The whole-file split (plain CSV), the CSV reader (quotes) and any column order agree."""
    values = [(a, b, f"{p // 10_000}.{p % 10_000:04d}") for a, b, p in rows]
    plain = "mentee_id,mentor_id,score\n" + "".join(f"{a},{b},{s}\n" for a, b, s in values)
    quoted = "mentee_id,mentor_id,score\n" + "".join(f'"{a}",{b},"{s}"\n' for a, b, s in values)
    note = ",note" if extra_column else ""
    reordered = f"score,mentee_id{note},mentor_id\n" + "".join(
        f"{s},{a}{',x' if extra_column else ''},{b}\n" for a, b, s in values
    )
    parsed = [scores(text) for text in (plain, quoted, reordered, plain.rstrip("\n"))]
    expected = sorted((MENTEES.index(a), sorted(CAPACITIES).index(b), p) for a, b, p in rows)
    for source in parsed:
        arcs = source.arcs()
        assert list(zip(*(x.tolist() for x in arcs), strict=True)) == expected
        assert source.scale == SCALE


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="0123456789.", max_size=14),
            st.from_regex(r"\A(100|[1-9]?[0-9])(\.[0-9]{0,11})?\Z"),
            st.sampled_from(["", ".", "5.", ".5", "007", "100.0001", "1e3", " 1", "١"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_whole_column_points_are_exact_or_refused(items: list[str]) -> None:
    """The whole-column conversion gives each score × 10**d exactly, d the most decimals
    (at least the default scale's), or refuses the column when any item is not a plain
    decimal with at most nine decimals (the row-by-row path then decides)."""
    got = _decimal_points("\n".join(items))

    def plain(item: str) -> bool:
        head, _, tail = item.partition(".")
        return (
            item.count(".") <= 1
            and (head + tail).isascii()
            and (head + tail).isdigit()
            and len(tail) <= 9
        )

    if not all(plain(item) for item in items):
        assert got is None
        return
    digits = max([4] + [len(i.partition(".")[2]) for i in items])
    if max(len(i.partition(".")[0]) for i in items) > 18 - digits:
        # Long runs of leading zeros may be refused (int64 place values); never misread.
        assume(got is not None)
    assert got is not None
    points, d = got
    assert d == digits
    assert points.tolist() == [int(Decimal(i) * 10**digits) for i in items]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.from_regex(r"\A(100|[1-9]?[0-9](\.[0-9]{0,9})?)\Z"), min_size=6, max_size=6),
    st.integers(1, 5),
)
def test_scores_converted_in_slices_share_one_scale(texts: list[str], size: int) -> None:
    pairs = [(e, m) for e in MENTEES for m in sorted(CAPACITIES)]
    text = "mentee_id,mentor_id,score\n" + "".join(
        f"{e},{m},{t}\n" for (e, m), t in zip(pairs, texts, strict=True)
    )
    whole = scores(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inputs, "_SLICE_ITEMS", size)
        sliced = scores(text)
    assert sliced.scale == whole.scale
    assert [x.tolist() for x in sliced.arcs()] == [x.tolist() for x in whole.arcs()]
    assert whole.arcs()[2].tolist() == [int(Decimal(t) * whole.scale) for t in texts]


def test_scores_on_any_scale_are_accepted() -> None:
    for text, read_as in [
        ("e1,m1,0.25\ne2,m2,1\n", [0.25, 1.0]),  # 0–1: read as given
        ("e1,m1,4.5\ne2,m2,5\n", [4.5, 5.0]),  # 0–5: read as given
        ("e1,m1,250\ne2,m2,1000\n", [25.0, 100.0]),  # 0–1000: read ÷ 10
        ('e1,m1,"12345.5"\ne2,m2,0\n', [12.3455, 0.0]),  # row by row; 0–100,000: ÷ 1000
    ]:
        source = scores("mentee_id,mentor_id,score\n" + text)
        assert (source.arcs()[2] / source.scale).tolist() == read_as, text


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), min_size=9, max_size=9),
    st.sampled_from(["0.0001", "0.05", "1", "3", "10", "7.5"]),
    st.sampled_from(["total", "maximin"]),
)
def test_the_optimum_does_not_depend_on_the_scores_scale(
    hundredths: list[int], factor: str, objective: str
) -> None:
    """Scores 0–100 and the same scores times a factor (0–0.01, 0–5, …, 0–1000) give
    matches of the same value: the same number matched and the same total (or worst pair)."""
    mentees, capacities = ["e1", "e2", "e3", "e4"], {"m1": 1, "m2": 2, "m3": 1}
    pairs = [(e, m) for e in mentees for m in sorted(capacities)][: len(hundredths)]
    base = {pair: Decimal(h) / 100 for pair, h in zip(pairs, hundredths, strict=True)}

    def match(scale: Decimal) -> list[tuple[str, str]]:
        text = "mentee_id,mentor_id,score\n" + "".join(
            f"{e},{m},{score * scale}\n" for (e, m), score in base.items()
        )
        source = parse_scores(text, "scores.csv", mentee_ids=mentees, capacities=capacities)
        result = solve(source, objective=Objective(objective))
        return [(p.mentee_id, p.mentor_id) for p in result.pairs]

    chosen, scaled = match(Decimal(1)), match(Decimal(factor))
    assert len(scaled) == len(chosen)
    if objective == "total":
        assert sum(base[p] for p in scaled) == sum(base[p] for p in chosen)
    else:
        assert min(base[p] for p in scaled) == min(base[p] for p in chosen)


def test_thousands_of_digits_are_refused_plainly() -> None:
    many = "9" * 5000
    with pytest.raises(MatcherInputError) as error:
        scores(f"mentee_id,mentor_id,score\ne1,m1,{many}\ne2,m1,1.{'5' * 19}\n")
    assert str(error.value) == (
        "scores.csv: 2 problems\n"
        '  scores.csv, row 2, column "score": expected a decimal number ≥ 0 (any scale), got '
        "'99999999999999999999'… (5000 characters)\n"
        '  scores.csv, row 3, column "score": expected a decimal number ≥ 0 (any scale), got '
        "'1.5555555555555555555' (more than 18 decimals)"
    )
    with pytest.raises(MatcherInputError) as error:
        prefs(f"participant_id,candidate_id,rank\ne1,m1,{many}\n")
    assert str(error.value) == (
        'prefs.csv, row 2, column "rank": expected a positive whole number (1 = most '
        "preferred), got '99999999999999999999'… (5000 characters)"
    )


def test_scores_whose_digits_do_not_fit_exact_points_are_refused_plainly() -> None:
    with pytest.raises(MatcherInputError) as error:
        scores("mentee_id,mentor_id,score\ne1,m1,999999999999999\ne2,m1,0.0001\n")
    assert str(error.value) == (
        'scores.csv, column "score": the scores need 19 significant digits together (the '
        "largest score's whole part and the finest score's decimals); round them to at most 18"
    )
