"""The matcher's public surface: every name it lists loads, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tandem.matcher as matcher


def test_every_public_name_loads() -> None:
    assert set(matcher.__all__) == set(matcher._MODULE_OF)
    for name in matcher.__all__:
        assert getattr(matcher, name) is not None, name


@pytest.mark.slow
def test_the_vocabularies_load_without_the_solvers() -> None:
    code = (
        "import sys\n"
        "from tandem.matcher import Method, Objective, load_config\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'ortools') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
