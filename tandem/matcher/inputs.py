"""Coordinators' score and preference files, parsed and checked (pure: text in, values out).

The caller reads the file and passes its text and name; every problem in the file is
reported at once, each with the file, the row (the header is row 1), the column and what
was expected.

Scores file: ``mentee_id,mentor_id,score`` with a non-negative decimal score on any scale
(0–1, 0–5, 0–100, 0–1000 …); pairs not listed are not allowed. Scores become integer points
by exact integer arithmetic on their digits: ``× SCALE``, or × a finer power of ten when the
file has more decimals, so the optimum stays exact. A file whose scores go above 100 is read
on 0–100 by moving the decimal point (÷ 10, ÷ 100 …): the points stay the same integers,
only their scale changes, so the optimum does not depend on the file's scale.

Preferences file: ``participant_id,candidate_id,rank``; 1 is most preferred, for both
mentees and mentors; lists may be incomplete.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import numpy as np

from tandem.errors import Problem, csv_error_message, describe_problems
from tandem.matcher.compat import SCALE
from tandem.matcher.errors import MatcherError
from tandem.matcher.sources import SparseScores
from tandem.matcher.stable import Preferences

SCORE_COLUMNS = ("mentee_id", "mentor_id", "score")
PREFERENCE_COLUMNS = ("participant_id", "candidate_id", "rank")
_SCALE_DIGITS = len(str(SCALE)) - 1
_MAX_DECIMALS = 18
"""Decimals a score may have: points stay within 64-bit integers."""
_MAX_WHOLE_DIGITS = 15
_MAX_POINTS = 10**18 - 1
"""Digits before the point of a score (any scale up to 10^15; more is refused plainly)."""


def _shown(text: str) -> str:
    """A cell as quoted in a message, cut short when it is long."""
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}… ({len(text)} characters)"


class MatcherInputError(MatcherError):
    """A score or preference file has problems; ``problems`` lists them all."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        super().__init__(describe_problems(self.problems))


def _records(
    text: str, file_name: str, columns: tuple[str, ...]
) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """Header positions and the non-blank data records, each with its row number."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    records: list[tuple[int, list[str]]] = []
    read = 0
    try:
        for row in reader:
            read += 1
            if len(row) > 1 or (row and row[0].strip()):
                records.append((read, row))
    except csv.Error as error:
        # The row being read when the csv module gave up is the one after the last read.
        message = csv_error_message(error)
        problem = Problem(file=file_name, row=read + 1, column=None, message=message)
        raise MatcherInputError(file_name, [problem]) from None
    expected = ",".join(columns)
    if not records:
        raise MatcherInputError(
            file_name,
            [
                Problem(
                    file=file_name,
                    row=None,
                    column=None,
                    message=f"the file is empty; expected the header {expected} and one row per entry",
                )
            ],
        )
    header_row, header = records[0]
    names = [name.strip().lower() for name in header]
    missing = [c for c in columns if c not in names]
    if missing:
        raise MatcherInputError(
            file_name,
            [
                Problem(
                    file=file_name,
                    row=header_row,
                    column=c,
                    message=f"missing column {c}; the header must name {expected}",
                )
                for c in missing
            ],
        )
    data = records[1:]
    if not data:
        raise MatcherInputError(
            file_name,
            [
                Problem(
                    file=file_name,
                    row=None,
                    column=None,
                    message=f"the file has a header but no rows; add one row per entry ({expected})",
                )
            ],
        )
    return {c: names.index(c) for c in columns}, data


_FAST_DIGITS = 9
"""Scores with up to this many decimals are converted whole-column (exact in int64)."""
_SLICE_ITEMS = 100_000
"""Scores converted per slice of the column."""


def _simple_columns(text: str, columns: tuple[str, ...]) -> list[list[str]] | None:
    """The named columns of a plain CSV (no quotes, no carriage returns, no blank lines,
    every row as wide as the header), split in C; None for anything else."""
    body = text.removeprefix("\ufeff").removesuffix("\n")
    if '"' in body or "\r" in body or not body:
        return None
    header, _, rest = body.partition("\n")
    names = [name.strip().lower() for name in header.split(",")]
    if not rest or any(c not in names for c in columns):
        return None
    n_fields = len(names)
    n_lines = rest.count("\n") + 1
    fields = rest.replace("\n", ",").split(",")
    if len(fields) != n_fields * n_lines:
        return None
    # Same count of fields overall; each line as wide as the header means the separators
    # run "," × (fields − 1) then "\n", line after line.
    raw = np.frombuffer(rest.encode("utf-8") + b"\n", dtype=np.uint8)
    is_newline = raw == ord("\n")
    separators = is_newline | (raw == ord(","))
    kinds = is_newline[separators].reshape(n_lines, n_fields)
    if not bool(kinds[:, -1].all()) or bool(kinds[:, :-1].any()):
        return None
    return [fields[names.index(c) :: n_fields] for c in columns]


def _indices(values: list[str], ids: Sequence[str]) -> np.ndarray | None:
    """Positions of ``values`` in ``ids``; None when one is not there."""
    at = {m: i for i, m in enumerate(ids)}
    try:
        return np.fromiter(map(at.__getitem__, values), np.int64, len(values))
    except KeyError:
        return None


def _decimal_points(column: str) -> tuple[np.ndarray, int] | None:
    """Exact points of a newline-joined column of scores, and the decimals ``d`` they count
    in (score × 10**d, with d the most decimals of any item and at least the default
    scale's); None when an item is not digits with at most one point, or has no digit, or
    has more than :data:`_FAST_DIGITS` decimals (the row-by-row path then says which row,
    or handles the finer scale).

    Each digit's place value comes from its distance to its item's point, and an item's
    digits are summed in int64: no floating point, so no rounding.
    """
    raw = np.frombuffer(column.encode("utf-8"), dtype=np.uint8)
    newline, dot = raw == ord("\n"), raw == ord(".")
    digit = (raw >= ord("0")) & (raw <= ord("9"))
    if raw.size == 0 or not bool((newline | dot | digit).all()):
        return None
    breaks = np.flatnonzero(newline)
    n_items = breaks.size + 1
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, raw.size]
    item = np.cumsum(newline, dtype=np.int32)
    dots = np.flatnonzero(dot)
    if bool((np.bincount(item[dots], minlength=n_items) > 1).any()):
        return None
    places = np.flatnonzero(digit)
    owner = item[places]
    counts = np.bincount(owner, minlength=n_items)
    if bool((counts == 0).any()):
        return None
    point = ends.copy()
    point[item[dots]] = dots
    d = max(_SCALE_DIGITS, int((ends - point - 1).max()))
    if d > _FAST_DIGITS or int((point - starts).max()) > 18 - d:
        return None
    # Places before the point count down to 10**0 at the units; after it, 10**-1 onwards.
    exponent = d + point[owner] - places - (places < point[owner])
    values = (raw[places] - ord("0")).astype(np.int64) * np.power(10, exponent, dtype=np.int64)
    points = np.add.reduceat(values, np.r_[0, np.cumsum(counts)[:-1]])
    return points, d


def _check_points_fit(points: Sequence[int], file_name: str) -> None:
    """Points are exact 64-bit integers: the largest score's digits and the finest
    score's decimals together must fit in them."""
    top = max(points, default=0)
    if top > _MAX_POINTS:
        raise MatcherInputError(
            file_name,
            [
                Problem(
                    file=file_name,
                    row=None,
                    column="score",
                    message=f"the scores need {len(str(top))} significant digits "
                    "together (the largest score's whole part and the finest score's "
                    "decimals); round them to at most 18",
                )
            ],
        )


def _on_0_to_100(points: Sequence[int] | np.ndarray, scale: int) -> int:
    """The scale at which ``points`` read as scores from 0 to 100: ``scale`` times the
    smallest power of ten that brings the largest score to 100 or below."""
    top = int(max(points, default=0))
    while top > 100 * scale:
        scale *= 10
    return scale


def _scores_fast(
    mentee_column: list[str],
    mentor_column: list[str],
    score_column: list[str],
    mentees: Sequence[str],
    mentors: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Whole-column parsing for a well-formed file; None when any row needs a closer look.

    Ids are looked up in one dict per role. Scores are checked and converted to exact
    points on the joined column (:func:`_decimal_points`); finer scores take the
    row-by-row path.
    """
    rows = _indices(mentee_column, mentees)
    cols = _indices(mentor_column, mentors)
    if rows is None or cols is None:
        return None
    # In slices, so that the byte-wise arrays stay small: then on one common scale.
    parts = []
    for start in range(0, len(score_column), _SLICE_ITEMS):
        part = _decimal_points("\n".join(score_column[start : start + _SLICE_ITEMS]))
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return None
    digits = max(d for _, d in parts)
    points = np.concatenate([p * 10 ** (digits - d) for p, d in parts])
    scale = _on_0_to_100(points, 10**digits)
    codes = np.sort(rows * max(len(mentors), 1) + cols)
    if bool((codes[1:] == codes[:-1]).any()):
        return None
    return rows, cols, points, scale


def parse_scores(
    text: str, file_name: str, *, mentee_ids: Sequence[str], capacities: Mapping[str, int]
) -> SparseScores:
    """The allowed pairs and their points from a scores CSV.

    ``capacities`` maps every mentor id to its capacity (its keys are the mentor ids).

    Raises:
        MatcherInputError: empty file, missing column, unknown mentee or mentor id,
            duplicate pair, or a score that is not a non-negative decimal number.
    """
    mentees, mentors = sorted(mentee_ids), sorted(capacities)
    caps = [capacities[m] for m in mentors]
    simple = _simple_columns(text, SCORE_COLUMNS)
    if simple is not None:
        fast = _scores_fast(simple[0], simple[1], simple[2], mentees, mentors)
        if fast is not None:
            rows_a, cols_a, points_a, scale_a = fast
            return SparseScores(mentees, mentors, caps, rows_a, cols_a, points_a, scale=scale_a)
    positions, data = _records(text, file_name, SCORE_COLUMNS)
    mentee_at = {m: i for i, m in enumerate(mentees)}
    mentor_at = {m: j for j, m in enumerate(mentors)}
    a, b, c = positions["mentee_id"], positions["mentor_id"], positions["score"]
    width = max(a, b, c) + 1
    if all(len(row) >= width for _, row in data):
        fast = _scores_fast(
            [r[a] for _, r in data],
            [r[b] for _, r in data],
            [r[c] for _, r in data],
            mentees,
            mentors,
        )
        if fast is not None:
            rows_a, cols_a, points_a, scale_a = fast
            return SparseScores(mentees, mentors, caps, rows_a, cols_a, points_a, scale=scale_a)
    problems: list[Problem] = []
    rows: list[int] = []
    cols: list[int] = []
    whole: list[int] = []
    fractions: list[str] = []
    numbers: list[int] = []
    for number, record in data:
        if len(record) < width:
            problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column=None,
                    message=f"expected {width} fields, found {len(record)}",
                )
            )
            continue
        mentee, mentor, score = record[a].strip(), record[b].strip(), record[c].strip()
        i, j = mentee_at.get(mentee, -1), mentor_at.get(mentor, -1)
        ok = True
        if i < 0:
            problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column="mentee_id",
                    message=f"unknown mentee id {mentee!r}; use an id from the mentee roster",
                )
            )
            ok = False
        if j < 0:
            problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column="mentor_id",
                    message=f"unknown mentor id {mentor!r}; use an id from the mentor roster",
                )
            )
            ok = False
        head, _, tail = score.partition(".")
        # The length first: int() of thousands of digits is refused by Python itself.
        numeric = (
            score.isascii()
            and (head + tail).isdigit()
            and len(head.lstrip("0")) <= _MAX_WHOLE_DIGITS
        )
        if not numeric or len(tail) > _MAX_DECIMALS:
            problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column="score",
                    message=f"expected a decimal number ≥ 0 (any scale), got {_shown(score)}"
                    + (f" (more than {_MAX_DECIMALS} decimals)" if numeric else ""),
                )
            )
            ok = False
        if ok:
            rows.append(i)
            cols.append(j)
            whole.append(int(head or 0))
            fractions.append(tail.rstrip("0"))
            numbers.append(number)
    digits = max(_SCALE_DIGITS, max((len(f) for f in fractions), default=0))
    scale = 10**digits
    points = [
        w * scale + (int(f.ljust(digits, "0")) if f else 0)
        for w, f in zip(whole, fractions, strict=True)
    ]
    scale = _on_0_to_100(points, scale)
    _check_points_fit(points, file_name)
    n_m = max(len(mentors), 1)
    codes = np.asarray(rows, dtype=np.int64) * n_m + np.asarray(cols, dtype=np.int64)
    sorted_codes = np.sort(codes)
    if bool((sorted_codes[1:] == sorted_codes[:-1]).any()):
        first_row: dict[int, int] = {}
        for code, number in zip(codes.tolist(), numbers, strict=True):
            if code in first_row:
                problems.append(
                    Problem(
                        file=file_name,
                        row=number,
                        column=None,
                        message=(
                            f"duplicate pair ({mentees[code // n_m]}, {mentors[code % n_m]}), "
                            f"first given in row {first_row[code]}; keep one row per pair"
                        ),
                    )
                )
            else:
                first_row[code] = number
    if problems:
        problems.sort(key=lambda p: (p.row or 0, SCORE_COLUMNS.index(p.column) if p.column else -1))
        raise MatcherInputError(file_name, problems)
    return SparseScores(mentees, mentors, caps, rows, cols, points, scale=scale)


def parse_preferences(
    text: str, file_name: str, *, mentee_ids: Sequence[str], capacities: Mapping[str, int]
) -> Preferences:
    """Both sides' ranked lists from a preferences CSV (1 = most preferred).

    A participant is a mentee or a mentor; the candidate must be on the other side. Ranks
    need not be consecutive: they only order one participant's list.

    Raises:
        MatcherInputError: empty file, missing column, unknown participant or candidate,
            a candidate on the same side, a rank that is not a positive integer, one
            participant giving the same rank twice or ranking the same candidate twice,
            or an id used by a mentee and a mentor at once.
    """
    positions, data = _records(text, file_name, PREFERENCE_COLUMNS)
    mentees, mentors = set(mentee_ids), set(capacities)
    problems: list[Problem] = []
    shared = sorted(mentees & mentors)
    if shared:
        problems.append(
            Problem(
                file=file_name,
                row=None,
                column=None,
                message=(
                    f"ids {', '.join(shared[:10])} belong to both a mentee and a mentor, so "
                    "a preference row cannot tell the sides apart; give each role its own id"
                ),
            )
        )
    a, b, c = (positions[k] for k in PREFERENCE_COLUMNS)
    width = max(a, b, c) + 1
    lists: dict[str, dict[int, str]] = {}
    seen_rank: dict[tuple[str, int], int] = {}
    seen_pair: dict[tuple[str, str], int] = {}
    for number, record in data:
        if len(record) < width:
            problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column=None,
                    message=f"expected {width} fields, found {len(record)}",
                )
            )
            continue
        who, whom, rank_text = record[a].strip(), record[b].strip(), record[c].strip()
        row_problems: list[Problem] = []
        other = mentors if who in mentees else mentees if who in mentors else None
        if other is None:
            row_problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column="participant_id",
                    message=f"unknown participant id {who!r}; use a mentee or mentor id",
                )
            )
        elif whom not in other:
            side = "mentor" if other is mentors else "mentee"
            role = "mentee" if side == "mentor" else "mentor"
            row_problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column="candidate_id",
                    message=f"expected a {side} id (participant {who} is a {role}), got {whom!r}",
                )
            )
        whole = rank_text.isascii() and rank_text.isdigit() and len(rank_text.lstrip("0")) <= 9
        rank = int(rank_text) if whole else 0
        if rank < 1:
            row_problems.append(
                Problem(
                    file=file_name,
                    row=number,
                    column="rank",
                    message="expected a positive whole number (1 = most preferred), "
                    f"got {_shown(rank_text)}",
                )
            )
        if not row_problems:
            if (who, whom) in seen_pair:
                row_problems.append(
                    Problem(
                        file=file_name,
                        row=number,
                        column="candidate_id",
                        message=f"{who} ranks {whom} again (first in row {seen_pair[who, whom]}); keep one row",
                    )
                )
            elif (who, rank) in seen_rank:
                row_problems.append(
                    Problem(
                        file=file_name,
                        row=number,
                        column="rank",
                        message=f"{who} gives rank {rank} twice (first in row {seen_rank[who, rank]}); ranks must differ",
                    )
                )
            else:
                seen_pair[who, whom] = number
                seen_rank[who, rank] = number
                lists.setdefault(who, {})[rank] = whom
        problems.extend(row_problems)
    if problems:
        raise MatcherInputError(file_name, problems)

    def ranked(who: str) -> tuple[str, ...]:
        by_rank = lists.get(who, {})
        return tuple(by_rank[r] for r in sorted(by_rank))

    return Preferences(
        mentee_ranking={m: ranked(m) for m in sorted(mentees)},
        mentor_ranking={m: ranked(m) for m in sorted(mentors)},
        capacities={m: int(capacities[m]) for m in sorted(mentors)},
    )
