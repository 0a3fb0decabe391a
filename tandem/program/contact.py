"""The rules for the names, addresses and links that messages carry, wherever they are given.

A roster's names and addresses (:mod:`tandem.program.roster.parse`) and a cohort's
settings (its sender, coordinator and base URL, :class:`tandem.program.cohorts.
CohortSettings`) are checked by the same functions, so that nothing is stored that a
message cannot carry. Each raises ValueError with the message a person reads; it quotes
the value only where the value was just given and cannot break the line it is shown on.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "MAX_NAME_LENGTH",
    "base_url",
    "cycle_name",
    "email_address",
    "one_line",
    "one_value",
    "person_name",
    "printable",
    "sender",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters, line breaks included, and the bidirectional embedding, override and
isolate controls (which can make a name read backwards on a certificate): never part of a
name, an id or an address. The joiners U+200C and U+200D, which Persian and Indic names
use, are kept."""
_LINE_BREAKS = "\n\r\u2028\u2029"


def printable(text: str) -> str:
    """``text`` as a document prints it: control characters (a name stored before they were
    refused) dropped, line breaks made spaces."""
    spaced = text
    for char in _LINE_BREAKS:
        spaced = spaced.replace(char, " ")
    return " ".join(_CONTROL.sub("", spaced).split())


def one_value(value: Any) -> str:
    """The text of one value (stripped); a list is refused."""
    if isinstance(value, list | tuple):
        raise ValueError(f"expected one value, got a list of {len(value)}")
    return str(value).strip()


def one_line(value: Any) -> str:
    """One line of text: a list or a control character (line break included) is refused."""
    text = one_value(value)
    found = _CONTROL.search(text)
    if found:
        char = found.group()
        if char in _LINE_BREAKS:
            what = "a line break"
        elif "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
            what = "a bidirectional control character"
        else:
            what = "a control character"
        raise ValueError(
            f"contains {what} (U+{ord(char):04X}); keep the value on one line, "
            "without control characters"
        )
    return text


def cycle_name(value: Any) -> str:
    """A matching cycle's name (``2028``, ``Spring 2027``): one line of 1 to 100 characters
    (a longer one is not echoed)."""
    text = one_value(value)
    if not text or len(text) > 100:
        raise ValueError(f"a cycle's name is 1 to 100 characters (got {len(text):,}), e.g. 2028")
    return one_line(text)


def email_address(value: Any) -> str:
    """An ASCII e-mail address (``name@university.edu``), normalised."""
    # Loaded here: only checking an address needs it, and the module takes a while.
    from email_validator import EmailNotValidError, validate_email

    text = one_line(value)
    if not text.isascii():
        raise ValueError(
            f"{text!r} has characters outside ASCII; internationalised addresses cannot be "
            "delivered yet: give an ASCII address (name@university.edu)"
        )
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(
            f"expected an e-mail address like name@university.edu, got {text!r}"
        ) from None


MAX_NAME_LENGTH = 200
"""The longest name a roster may give (in characters): every certificate, message and
table can show it whole; a longer one is refused with its row, not stored."""


def person_name(value: Any) -> str:
    """A person's name: one line, at most :data:`MAX_NAME_LENGTH` characters."""
    text = one_line(value)
    if len(text) > MAX_NAME_LENGTH:
        raise ValueError(
            f"the name has {len(text):,} characters; at most {MAX_NAME_LENGTH} are allowed "
            "(give the name as it should appear on a certificate)"
        )
    return text


def sender(value: Any) -> str:
    """The From of messages: ``Name <address>`` or an address, one line, the address ASCII
    (as every message carries it; a placeholder domain such as ``tandem.invalid`` is
    allowed, for a program that only writes a file outbox)."""
    from email.utils import getaddresses

    from tandem.program.outbox.mail import MailError, check_mailbox

    text = one_line(value)
    expected = "expected one address, as 'Name <name@university.edu>' or 'name@university.edu'"
    parsed = getaddresses([text])
    if len(parsed) != 1 or not parsed[0][1]:
        raise ValueError(expected)
    name, address = parsed[0]
    person_name(name)
    if not address.isascii():
        raise ValueError(
            "the address has characters outside ASCII; internationalised addresses cannot "
            "be delivered yet: give an ASCII address (name@university.edu)"
        )
    try:
        check_mailbox(text)
    except MailError:
        raise ValueError(expected) from None
    return text


def base_url(value: Any) -> str:
    """Where links point: an http or https URL with a host, without query or fragment;
    returned without a trailing ``/``."""
    text = one_line(value)
    problem = "expected an http or https URL with a host, e.g. https://mentoring.example.org"
    if not text.isascii() or any(c.isspace() for c in text):
        raise ValueError(f"{problem} (ASCII, no spaces)")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"{problem}, without '?' or '#'")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{problem}, without a user name or password")
    return text.rstrip("/")
