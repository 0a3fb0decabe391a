"""The names issuer-key commands show before any key is read: the default key file and
the signature algorithms. Kept apart from :mod:`tandem.program.certify.issuer_keys` so that
starting the ``tandem`` command does not load the cryptography libraries."""

from __future__ import annotations

from enum import StrEnum

DEFAULT_KEYS_FILE = "tandem-keys.json"
"""Where the key ring lives when neither ``--keys`` nor ``TANDEM_KEYS`` names a file."""


class KeyAlgorithm(StrEnum):
    """JOSE signature algorithms the program signs with (RS256 is the interoperable one)."""

    RS256 = "RS256"
    EDDSA = "EdDSA"
