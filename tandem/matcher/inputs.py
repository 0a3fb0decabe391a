"""Coordinators' score and preference files, parsed and checked (pure: text in, values out).

The caller reads the file and passes its text and name; every problem in the file is
reported at once, each with the file, the row (the header is row 1), the column and what
was expected.

Scores file: ``mentee_id,mentor_id,score`` with a decimal score from 0 to 100; pairs not
listed are not allowed. Scores become integer points by exact integer arithmetic on their
digits: ``× SCALE``, or × a finer power of ten when the file has more decimals, so the
optimum stays exact.

Preferences file: ``participant_id,candidate_id,rank``; 1 is most preferred, for both
mentees and mentors; lists may be incomplete.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from tandem.matcher.compat import SCALE
from tandem.matcher.errors import MatcherError
from tandem.matcher.sources import SparseScores
from tandem.matcher.stable import Preferences

SCORE_COLUMNS = ("mentee_id", "mentor_id", "score")
PREFERENCE_COLUMNS = ("participant_id", "candidate_id", "rank")
MAX_LISTED = 50
"""Problems spelled out in one error message; the rest are counted."""
_SCALE_DIGITS = len(str(SCALE)) - 1


class InputProblem(BaseModel):
    """One thing wrong with an input file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    row: int | None
    column: str | None
    message: str

    def describe(self) -> str:
        where = [f"row {self.row}"] if self.row is not None else []
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class MatcherInputError(MatcherError):
    """A score or preference file has problems; ``problems`` lists them all."""

    def __init__(self, file: str, problems: Sequence[InputProblem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        lines = [problem.describe() for problem in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"… and {len(self.problems) - MAX_LISTED} more")
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{file} has {len(self.problems)} {noun}:\n  " + "\n  ".join(lines))


def _records(
    text: str, file_name: str, columns: tuple[str, ...]
) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """Header positions and the non-blank data records, each with its row number."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    records = [
        (n, row)
        for n, row in enumerate(reader, start=1)
        if len(row) > 1 or (row and row[0].strip())
    ]
    expected = ",".join(columns)
    if not records:
        raise MatcherInputError(
            file_name,
            [
                InputProblem(
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
                InputProblem(
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
                InputProblem(
                    file=file_name,
                    row=None,
                    column=None,
                    message=f"the file has a header but no rows; add one row per entry ({expected})",
                )
            ],
        )
    return {c: names.index(c) for c in columns}, data


_TWO_DOTS = re.compile(r"\.[0-9]*\.")
_EMPTY_ITEM = re.compile(r"(?:^|\n)\.?(?:\n|$)")
_NOT_DECIMAL = re.compile(r"[^0-9.\n]")
_DECIMALS = re.compile(r"\.([0-9]*)")
_FINER_THAN_SCALE = re.compile(r"\.[0-9]{" + str(_SCALE_DIGITS + 1) + ",}")
_FLOAT_EXACT_DIGITS = 9
"""Up to this many decimals, ``rint(float(s) × 10**d)`` is exact for 0 ≤ s ≤ 999 (below)."""


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
    """Positions of ``values`` in the sorted ``ids``; None when one is not there."""
    if not ids:
        return None
    table = np.array(ids)
    wanted = np.array(values)
    at = np.minimum(np.searchsorted(table, wanted), len(ids) - 1)
    if wanted.size and not bool((table[at] == wanted).all()):
        return None
    return at.astype(np.int64)


def _scores_fast(
    mentee_column: list[str],
    mentor_column: list[str],
    score_column: list[str],
    mentees: Sequence[str],
    mentors: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Whole-column parsing for a well-formed file; None when any row needs a closer look.

    Ids are looked up in the sorted id lists with one vectorised search. Scores are
    checked to be plain decimals (digits and at most one point) on the joined column, then
    converted in C: a double holds any such score ≤ 999 to within 2⁻⁴³, so after
    multiplying by ``10**d`` (d ≤ 9 decimals) the error stays below 10⁻³ and rounding to
    the nearest integer gives the exact points. Finer scores take the digit-by-digit path.
    """
    rows = _indices(mentee_column, mentees)
    cols = _indices(mentor_column, mentors)
    if rows is None or cols is None:
        return None
    column = "\n".join(score_column)
    if _NOT_DECIMAL.search(column) or _TWO_DOTS.search(column) or _EMPTY_ITEM.search(column):
        return None
    digits = _SCALE_DIGITS
    if _FINER_THAN_SCALE.search(column):
        digits = max(len(d) for d in _DECIMALS.findall(column))
    if digits > _FLOAT_EXACT_DIGITS:
        return None
    values = np.array(column.split("\n"), dtype=np.float64)
    if (values > 100).any():
        return None
    scale = 10**digits
    points = np.rint(values * scale).astype(np.int64)
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
            duplicate pair, or a score that is not a decimal number from 0 to 100.
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
    problems: list[InputProblem] = []
    rows: list[int] = []
    cols: list[int] = []
    whole: list[int] = []
    fractions: list[str] = []
    numbers: list[int] = []
    for number, record in data:
        if len(record) < width:
            problems.append(
                InputProblem(
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
                InputProblem(
                    file=file_name,
                    row=number,
                    column="mentee_id",
                    message=f"unknown mentee id {mentee!r}; use an id from the mentee roster",
                )
            )
            ok = False
        if j < 0:
            problems.append(
                InputProblem(
                    file=file_name,
                    row=number,
                    column="mentor_id",
                    message=f"unknown mentor id {mentor!r}; use an id from the mentor roster",
                )
            )
            ok = False
        head, _, tail = score.partition(".")
        if not (score.isascii() and (head + tail).isdigit()) or int(head or 0) > 100:
            problems.append(
                InputProblem(
                    file=file_name,
                    row=number,
                    column="score",
                    message=f"expected a decimal number from 0 to 100, got {score!r}",
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
    for k in [k for k, p in enumerate(points) if p > 100 * scale]:
        problems.append(
            InputProblem(
                file=file_name,
                row=numbers[k],
                column="score",
                message="expected a decimal number from 0 to 100, got a number above 100",
            )
        )
    n_m = max(len(mentors), 1)
    codes = np.asarray(rows, dtype=np.int64) * n_m + np.asarray(cols, dtype=np.int64)
    sorted_codes = np.sort(codes)
    if bool((sorted_codes[1:] == sorted_codes[:-1]).any()):
        first_row: dict[int, int] = {}
        for code, number in zip(codes.tolist(), numbers, strict=True):
            if code in first_row:
                problems.append(
                    InputProblem(
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
    problems: list[InputProblem] = []
    shared = sorted(mentees & mentors)
    if shared:
        problems.append(
            InputProblem(
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
                InputProblem(
                    file=file_name,
                    row=number,
                    column=None,
                    message=f"expected {width} fields, found {len(record)}",
                )
            )
            continue
        who, whom, rank_text = record[a].strip(), record[b].strip(), record[c].strip()
        row_problems: list[InputProblem] = []
        other = mentors if who in mentees else mentees if who in mentors else None
        if other is None:
            row_problems.append(
                InputProblem(
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
                InputProblem(
                    file=file_name,
                    row=number,
                    column="candidate_id",
                    message=f"expected a {side} id (participant {who} is a {role}), got {whom!r}",
                )
            )
        rank = int(rank_text) if rank_text.isascii() and rank_text.isdigit() else 0
        if rank < 1:
            row_problems.append(
                InputProblem(
                    file=file_name,
                    row=number,
                    column="rank",
                    message=f"expected a positive whole number (1 = most preferred), got {rank_text!r}",
                )
            )
        if not row_problems:
            if (who, whom) in seen_pair:
                row_problems.append(
                    InputProblem(
                        file=file_name,
                        row=number,
                        column="candidate_id",
                        message=f"{who} ranks {whom} again (first in row {seen_pair[who, whom]}); keep one row",
                    )
                )
            elif (who, rank) in seen_rank:
                row_problems.append(
                    InputProblem(
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
