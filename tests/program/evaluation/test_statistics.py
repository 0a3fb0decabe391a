"""The signed-rank test equals scipy's on known data, ties and zero differences included."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from scipy.stats import wilcoxon

from tandem.program.evaluation.statistics import wilcoxon_signed_rank


def _scipy(before: list[float], after: list[float]) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = wilcoxon(after, before)
    return float(result.statistic), float(result.pvalue)


CASES: dict[str, tuple[list[float], list[float]]] = {
    # no ties, no zeros: the exact distribution
    "exact": ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [2.1, 4.3, 3.2, 7.4, 4.6, 9.5, 12.7]),
    # ties and a zero, few pairs: every sign assignment
    "permutation": ([3, 4, 4, 5, 2, 3, 4, 5], [5, 5, 4, 6, 4, 5, 6, 7]),
    # ties and zeros, 20 pairs: the normal approximation
    "normal": (
        [3, 4, 4, 5, 2, 3, 4, 5, 3, 3, 4, 4, 5, 2, 3, 4, 5, 3, 6, 6],
        [5, 5, 4, 6, 4, 5, 6, 7, 4, 3, 5, 6, 6, 3, 3, 5, 6, 4, 6, 7],
    ),
    # means of two items (halves), mostly gains
    "halves": (
        [3.5, 4.0, 2.5, 5.0, 4.5, 3.0, 3.5, 4.0, 2.0, 5.5, 3.0, 4.0, 4.5, 3.5, 2.5],
        [5.0, 5.5, 4.0, 5.0, 6.0, 4.5, 3.0, 5.5, 3.5, 6.0, 4.5, 5.0, 6.0, 5.0, 4.0],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_equal_to_scipy_on_known_data(name: str) -> None:
    before, after = CASES[name]
    mine = wilcoxon_signed_rank(before, after)
    statistic, p_value = _scipy(before, after)
    assert mine.statistic == statistic
    assert mine.p_value == pytest.approx(p_value, rel=1e-9)
    assert mine.method == name if name != "halves" else mine.method == "normal"


def test_known_values_by_hand() -> None:
    # worked out on paper:
    before = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    after = [2.0, 4.5, 3.25, 7.5, 4.0, 9.875]
    # d = 1, 2.5, 0.25, 3.5, -1, 3.875 → |d| ranks: 0.25→1, 1→2.5, 1→2.5, 2.5→4, 3.5→5,
    # 3.875→6 (a tie, so scipy enumerates signs); R− = 2.5, R+ = 18.5
    result = wilcoxon_signed_rank(before, after)
    assert result.statistic == 2.5
    assert result.effect_size == pytest.approx((18.5 - 2.5) / 21)
    assert result.method == "permutation"
    # R+ ≥ 18.5 for 4 of the 64 sign assignments (R− ∈ {0, 1, 2.5, 2.5}), so p = 2·4/64
    assert result.p_value == pytest.approx(8 / 64)


def _random_samples(
    seed: int, count: int, sizes: list[int]
) -> list[tuple[list[float], list[float]]]:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        n = rng.choice(sizes)
        shape = rng.choice(["continuous", "likert", "halves"])
        if shape == "continuous":
            before = [rng.gauss(4, 1) for _ in range(n)]
            after = [b + rng.gauss(0.3, 1) for b in before]
        elif shape == "likert":
            before = [float(rng.randint(1, 7)) for _ in range(n)]
            after = [float(rng.randint(1, 7)) for _ in range(n)]
        else:
            before = [rng.randint(2, 14) / 2 for _ in range(n)]
            after = [rng.randint(2, 14) / 2 for _ in range(n)]
        samples.append((before, after))
    return samples


# scipy's permutation test (small samples with ties) takes about a second each: few of those.
@pytest.mark.parametrize(
    ("seed", "count", "sizes"),
    [(20270201, 150, [14, 25, 50, 51, 80]), (20270202, 6, [2, 5, 9, 13])],
    ids=["larger", "small"],
)
def test_random_samples_match_scipy(seed: int, count: int, sizes: list[int]) -> None:
    for before, after in _random_samples(seed, count, sizes):
        mine = wilcoxon_signed_rank(before, after)
        statistic, p_value = _scipy(before, after)
        assert mine.statistic == statistic
        if math.isnan(p_value):
            assert mine.p_value is None
        else:
            assert mine.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-12)


def test_every_difference_zero() -> None:
    for n in (3, 20):
        result = wilcoxon_signed_rank([4.0] * n, [4.0] * n)
        statistic, p_value = _scipy([4.0] * n, [4.0] * n)
        assert result.statistic == statistic == 0
        assert result.effect_size is None
        assert result.estimate == 0
        if math.isnan(p_value):
            assert result.p_value is None
        else:
            assert result.p_value == p_value


def test_rank_biserial_is_one_when_everyone_gains() -> None:
    result = wilcoxon_signed_rank([1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12])
    assert result.effect_size == 1.0
    assert result.statistic == 0


def test_hodges_lehmann_interval_is_exact_for_small_samples() -> None:
    # differences 1..10: Walsh averages are the 55 values (i + j) / 2; for n = 10 the exact
    # critical value is 8 (P(R+ ≤ 8) = 0.0244, P(R+ ≤ 9) = 0.0322), so the interval runs
    # from the 9th smallest to the 9th largest Walsh average.
    before = [0.0] * 10
    after = [float(i) for i in range(1, 11)]
    result = wilcoxon_signed_rank(before, after)
    walsh = sorted((a + b) / 2 for i, a in enumerate(after) for b in after[i:])
    assert result.estimate == 5.5
    assert (result.ci_low, result.ci_high) == (walsh[8], walsh[-9])
    assert result.ci_low is not None and result.ci_low < 5.5 < (result.ci_high or 0)


def test_no_interval_below_six_pairs() -> None:
    result = wilcoxon_signed_rank([1, 2, 3, 4, 5], [2, 3, 4, 5, 6])
    assert (result.ci_low, result.ci_high) == (None, None)


def test_unpaired_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="3 before and 2 after values"):
        wilcoxon_signed_rank([1, 2, 3], [1, 2])
