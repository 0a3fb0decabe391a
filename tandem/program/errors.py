"""Errors raised by the program layer (storage, import, cohorts, delivery, certificates)."""

from __future__ import annotations

from tandem.errors import TandemError


class ProgramError(TandemError):
    """Base class for program errors."""
