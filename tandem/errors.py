"""The one base class for every error Tandem reports to a person.

Each package has its own ``errors.py`` whose classes derive from :class:`TandemError`. A
``TandemError`` carries a complete, human message (what went wrong, where, how to fix it);
the CLI prints it to stderr and exits non-zero. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class TandemError(Exception):
    """An expected failure whose message is meant for the person running Tandem."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
