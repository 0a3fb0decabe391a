"""Paired comparisons for competency gains: the Wilcoxon signed-rank test, its effect size
and a confidence interval. Pure functions: numbers in, numbers out.

The test reproduces ``scipy.stats.wilcoxon(after, before)`` with its default settings
(scipy ≥ 1.13): differences of zero are dropped (``zero_method="wilcox"``), tied absolute
differences get average ranks, and the statistic is ``min(R+, R−)``. The p-value (two-sided)
comes from

- the exact null distribution when no difference is zero or tied and there are at most 50
  pairs;
- otherwise, with at most 13 pairs, every one of the ``2**n`` sign assignments (scipy's
  exact permutation test);
- otherwise the normal approximation with the tie-corrected variance and no continuity
  correction.

The effect size is the **matched-pairs rank-biserial correlation** (Kerby 2014):
``(R+ − R−) / (R+ + R−)`` over the non-zero differences, from −1 (everyone lower after) to
+1 (everyone higher after). The 95 % confidence interval is for the **Hodges–Lehmann**
estimate of the median difference: the Walsh averages ``(d_i + d_j) / 2`` (i ≤ j) of all
differences, cut at the signed-rank critical value — exact for up to 50 pairs, the normal
approximation above (Hollander & Wolfe's distribution-free interval; with ties it is
approximate). With fewer than 6 pairs no 95 % interval exists and the bounds are None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import product

EXACT_MAX = 50
"""Up to this many pairs (without ties or zeros) the exact null distribution is used."""
PERMUTATION_MAX = 13
"""Up to this many pairs (with ties or zeros) every sign assignment is enumerated."""
Z_975 = 1.959963984540054
"""The standard normal 97.5 % quantile."""


@dataclass(frozen=True)
class PairedTest:
    """The result of a paired comparison of ``after`` against ``before``."""

    n: int
    """Pairs compared (including pairs whose difference is zero)."""
    statistic: float | None
    """``min(R+, R−)``; None without any pair."""
    p_value: float | None
    """Two-sided; None when it is undefined (no pairs, or every difference zero on the
    normal approximation)."""
    effect_size: float | None
    """Matched-pairs rank-biserial correlation; None when every difference is zero."""
    estimate: float | None
    """Hodges–Lehmann median of the Walsh averages of the differences."""
    ci_low: float | None
    ci_high: float | None
    method: str
    """``exact``, ``permutation``, ``normal`` or ``none``."""


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) of ``values`` and the sizes of their tie groups."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties: list[int] = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        average = (start + end + 2) / 2
        for position in range(start, end + 1):
            ranks[order[position]] = average
        ties.append(end - start + 1)
        start = end + 1
    return ranks, ties


@cache
def _null_counts(n: int) -> tuple[int, ...]:
    """How many of the 2**n sign assignments of ranks 1..n give each value of R+."""
    counts = [1]
    for rank in range(1, n + 1):
        longer = [*counts, *([0] * rank)]
        for total, count in enumerate(counts):
            longer[total + rank] += count
        counts = longer
    return tuple(counts)


def _exact_p(r_plus: float, n: int) -> float:
    counts = _null_counts(n)
    total = 2**n
    upper = sum(counts[math.floor(r_plus) :]) / total
    lower = sum(counts[: math.ceil(r_plus) + 1]) / total
    return min(1.0, 2 * min(upper, lower))


def _permutation_p(differences: Sequence[float], ranks: Sequence[float]) -> float:
    """Two-sided p-value over every sign assignment of the non-zero differences.

    Ranks are doubled to integers so that the comparisons are exact.
    """
    doubled = [round(2 * r) for r in ranks]
    observed = sum(d for d, x in zip(doubled, differences, strict=True) if x > 0)
    below = above = 0
    for signs in product((0, 1), repeat=len(doubled)):
        value = sum(d for d, s in zip(doubled, signs, strict=True) if s)
        below += value <= observed
        above += value >= observed
    total = 2 ** len(doubled)
    return min(1.0, 2 * min(below, above) / total)


def _critical(n: int, variance: float) -> int | None:
    """The largest c with P(R+ ≤ c) ≤ 2.5 %, or None if even c = 0 is too likely."""
    if n <= EXACT_MAX:
        counts = _null_counts(n)
        total = 2**n
        cumulative = 0
        for value, count in enumerate(counts):
            cumulative += count
            if cumulative / total > 0.025:
                return value - 1 if value > 0 else None
        return None  # pragma: no cover - the loop always passes half the mass
    c = math.floor(n * (n + 1) / 4 - Z_975 * math.sqrt(variance))
    return c if c >= 0 else None


def wilcoxon_signed_rank(before: Sequence[float], after: Sequence[float]) -> PairedTest:
    """Compare paired ratings: ``after[i]`` against ``before[i]`` (see the module doc).

    Raises ValueError when the sequences differ in length.
    """
    if len(before) != len(after):
        raise ValueError(f"{len(before)} before and {len(after)} after values: pair them")
    differences = [a - b for a, b in zip(after, before, strict=True)]
    n = len(differences)
    if n == 0:
        return PairedTest(0, None, None, None, None, None, None, "none")
    nonzero = [d for d in differences if d != 0]
    count = len(nonzero)
    ranks, ties = _ranks([abs(d) for d in nonzero])
    r_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    r_minus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d < 0)
    statistic = float(min(r_plus, r_minus))
    variance = (count * (count + 1) * (2 * count + 1) - sum(t**3 - t for t in ties) / 2) / 24
    has_ties = any(t > 1 for t in ties)
    has_zeros = count < n
    p_value: float | None
    if n <= EXACT_MAX and not (has_ties or has_zeros):
        method, p_value = "exact", _exact_p(r_plus, count)
    elif n <= PERMUTATION_MAX:
        # scipy refuses a permutation test of a single observation.
        method = "permutation"
        p_value = _permutation_p(nonzero, ranks) if n > 1 else None
    else:
        method = "normal"
        if variance > 0:
            z = (r_plus - count * (count + 1) / 4) / math.sqrt(variance)
            p_value = math.erfc(abs(z) / math.sqrt(2))
        else:
            p_value = None
    effect = (r_plus - r_minus) / (r_plus + r_minus) if count else None
    walsh = sorted((differences[i] + differences[j]) / 2 for i in range(n) for j in range(i, n))
    middle = len(walsh) // 2
    estimate = walsh[middle] if len(walsh) % 2 else (walsh[middle - 1] + walsh[middle]) / 2
    full_variance = n * (n + 1) * (2 * n + 1) / 24
    critical = _critical(n, full_variance)
    low = walsh[critical] if critical is not None else None
    high = walsh[len(walsh) - 1 - critical] if critical is not None else None
    return PairedTest(
        n=n,
        statistic=statistic,
        p_value=p_value,
        effect_size=effect,
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        method=method,
    )
