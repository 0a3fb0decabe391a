"""The package's public surface: every name it lists loads, from the module that defines it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tandem.program.certify as certify


def test_every_public_name_loads_from_its_module() -> None:
    assert set(certify.__all__) == set(certify._MODULE_OF)
    for name in certify.__all__:
        value = getattr(certify, name)
        defined_in = getattr(value, "__module__", None)
        if defined_in is not None:
            assert defined_in.startswith("tandem.program.certify."), name


@pytest.mark.slow
def test_importing_the_package_loads_no_certification_module() -> None:
    # Every command module imports ``tandem.program.certify.key_names``, and so the package:
    # evaluation and issuing must wait until a command uses them.
    code = (
        "import sys, tandem.program.certify\n"
        "print(sorted(m for m in sys.modules if m.startswith('tandem.program.certify.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
