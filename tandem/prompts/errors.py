"""Errors raised by the curriculum: problems in its files, and failures while rendering.

Every problem names the file (relative to the curriculum folder) and the field inside it,
so that a coordinator can go straight to the line to fix. The validator collects all of
them at once instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from tandem.errors import TandemError


class Problem(BaseModel):
    """One thing wrong with a curriculum: where it is and what to do about it.

    ``file`` is relative to the curriculum folder (``week-03.toml``,
    ``templates/weekly.txt.j2``); ``field`` is a dotted path inside it with 1-based list
    positions (``variants.postdoc.mentor_questions[2]``), or ``(file)`` when the problem
    is the file as a whole.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class CurriculumError(TandemError):
    """A curriculum that cannot be loaded or a message that cannot be rendered.

    ``problems`` holds every problem found, in a stable order (the manifest first, then
    the week files in order, then templates).
    """

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        if len(self.problems) == 1:
            where = f" (curriculum {source})" if source else ""
            message = f"{self.problems[0]}{where}"
        else:
            where = f" in the curriculum {source}" if source else ""
            lines = [f"{len(self.problems)} problems{where}:"]
            lines.extend(f"  {problem}" for problem in self.problems)
            message = "\n".join(lines)
        super().__init__(message)
