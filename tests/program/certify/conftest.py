"""Fixtures of the certification tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tandem.program.certify.issuer_keys import KeyAlgorithm, KeyRing, init_keyring


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return init_keyring(
        tmp_path / "keys.json", KeyAlgorithm.EDDSA, now=datetime(2026, 8, 1, tzinfo=UTC)
    )
