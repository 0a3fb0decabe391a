"""The errors of mentor certification: one base class, :class:`CertificationError`."""

from __future__ import annotations

from collections.abc import Sequence

from tandem.program.errors import ProgramError

__all__ = [
    "CertificationError",
    "RulesError",
]


class CertificationError(ProgramError):
    """A certification operation cannot be carried out as asked."""


class RulesError(CertificationError):
    """A certification rules file is not valid; the message names each wrong key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''} in the certification rules"]
        lines += [f"  {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))
