"""Errors raised by the matcher: bad configuration, bad score or preference input."""

from __future__ import annotations

from tandem.errors import TandemError


class MatcherError(TandemError):
    """Base class for matcher errors."""
