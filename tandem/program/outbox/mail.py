"""Building the e-mail messages the program sends; no clock, no network, no randomness.

A message is a ``multipart/alternative`` of a plain-text and an HTML body, wrapped in
``multipart/mixed`` when it carries attachments (a calendar invitation). Everything that
identifies a message is derived from its *message key*, a string the caller makes unique
per message (for example ``"cohort-3/pair-17/week-4/weekly/mentee"``):

* ``Message-ID: <first 32 hex digits of sha256(key)@domain>``, so a message rebuilt after
  a crash has the same Message-ID and duplicates can be recognised downstream;
* the MIME boundaries, so the same input gives the same bytes.

Speed matters here (one week of a large cohort is hundreds of thousands of messages), so
messages are assembled directly in wire form under the ``compat32`` policy: header values
are stored already encoded (RFC 2047 for non-ASCII text), bodies already transfer-encoded.
This is about twenty times faster than the ``EmailMessage`` content-manager API, and
:func:`message_bytes` writes such a message another ten times faster than the generic
generator. The result is still an ordinary :class:`~email.message.EmailMessage` that
``smtplib`` and the ``email`` parser handle as usual.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import format_datetime, formataddr, getaddresses

from pydantic import BaseModel, ConfigDict, field_validator

from tandem.program.errors import ProgramError

__all__ = [
    "WIRE_POLICY",
    "Attachment",
    "MailError",
    "build_message",
    "calendar_attachment",
    "check_mailbox",
    "message_bytes",
    "message_id_for",
    "message_wire",
]

#: The policy of built messages: stored header values are the literal wire text.
WIRE_POLICY = compat32.clone(linesep="\r\n", mangle_from_=False)

_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+$")
_PARAM_VALUE = re.compile(r"^[A-Za-z0-9!#$&^_.+/=-]*$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_NEWLINES = re.compile(r"\r\n|\r|\n")
_MAX_7BIT_LINE = 998
# Only the quoted form that build_message writes; anything else takes the generator.
_BOUNDARY = re.compile(r'^multipart/[a-z]+; boundary="([^"\\]+)"$')


class MailError(ProgramError):
    """A message cannot be built from the values given."""


class Attachment(BaseModel):
    """One attached file: its name, MIME type and bytes.

    ``params`` are extra Content-Type parameters (``(("method", "REQUEST"),)`` for an
    invitation), emitted in the order given. The body is always base64-encoded.
    """

    model_config = ConfigDict(frozen=True)

    filename: str
    maintype: str
    subtype: str
    data: bytes
    params: tuple[tuple[str, str], ...] = ()

    @field_validator("maintype", "subtype")
    @classmethod
    def _mime_token(cls, value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError(f"{value!r} is not a MIME type token")
        return value.lower()

    @field_validator("filename")
    @classmethod
    def _plain_filename(cls, value: str) -> str:
        if not _FILENAME.fullmatch(value):
            raise ValueError(
                f"attachment file name {value!r} must be a bare ASCII file name "
                "(letters, digits, '.', '_', '-', space)"
            )
        return value

    @field_validator("params")
    @classmethod
    def _plain_params(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for name, text in value:
            if not _TOKEN.fullmatch(name) or not _PARAM_VALUE.fullmatch(text):
                raise ValueError(f"Content-Type parameter {name}={text!r} is not a plain token")
        return value


def calendar_attachment(ics: bytes, *, method: str = "REQUEST") -> Attachment:
    """Return ``invite.ics`` as a ``text/calendar`` attachment with the iTIP ``method``."""
    return Attachment(
        filename="invite.ics",
        maintype="text",
        subtype="calendar",
        data=ics,
        params=(("charset", "utf-8"), ("method", method)),
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message_id_for(message_key: str, domain: str) -> str:
    """Return the Message-ID header value for ``message_key``: ``<32 hex digits@domain>``.

    The same key and domain always give the same Message-ID.

    Raises:
        MailError: the key is empty or the domain is not a host name.
    """
    return _identify(message_key, domain)[0]


def _identify(message_key: str, domain: str, date: datetime | None = None) -> tuple[str, str]:
    """(Message-ID, SHA-256 hex digest of the key): see :func:`message_id_for`; checks
    that ``date``, when given, is aware."""
    if not message_key:
        raise MailError("the message key is empty: give each message a unique, stable key")
    if not _DOMAIN.fullmatch(domain):
        raise MailError(
            "the Message-ID domain (the domain of the cohort's sender address) is not a "
            "host name: use the sending domain, for example 'mentoring.example.org'"
        )
    if date is not None and (date.tzinfo is None or date.utcoffset() is None):
        raise MailError(
            f"message date {date.isoformat()} must be time-zone aware: pass an aware UTC datetime"
        )
    digest = _digest(message_key)
    return f"<{digest[:32]}@{domain}>", digest


# What each part of an address header is called in an error: (the name, the address,
# the whole header value).
_RECIPIENT = ("recipient's name", "recipient's address", "recipient")
_SENDER = ("sender's name", "sender's address", "sender (the cohort's --sender)")
_REPLY_TO = (
    "coordinator's name (Reply-To)",
    "coordinator's address (Reply-To)",
    "Reply-To (the cohort's coordinator)",
)


def _headers(
    sender: str,
    recipient_name: str,
    recipient_email: str,
    subject: str,
    date: datetime,
    message_id: str,
    reply_to: str | tuple[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The headers of every message, in order, as wire text (Content-Type excepted)."""
    headers = [
        ("From", _parsed_mailbox(_SENDER, sender)),
        ("To", _mailbox(_RECIPIENT, recipient_name, recipient_email)),
    ]
    if isinstance(reply_to, tuple):
        headers.append(("Reply-To", _mailbox(_REPLY_TO, *reply_to)))
    elif reply_to is not None:
        headers.append(("Reply-To", _parsed_mailbox(_REPLY_TO, reply_to)))
    return [
        *headers,
        ("Subject", _text_header("subject", subject, "Subject")),
        ("Date", _date_header(date)),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-generated"),
        ("MIME-Version", "1.0"),
    ]


# The errors below say which part of a message is wrong, never its value: the values are
# names and addresses from the database, and the reason is stored and shown.


def _one_line(field: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise MailError(f"the {field} contains a line break: use a single line")
    return value


def _text_header(field: str, value: str, name: str) -> str:
    """Return ``value`` as header wire text: RFC 2047-encoded if needed, folded if long."""
    _one_line(field, value)
    if value.isascii() and len(name) + len(value) < 77:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep="\r\n")


def _mailbox(fields: tuple[str, str, str], name: str, address: str) -> str:
    """``name <address>`` as wire text; ``fields`` say what the name and the address are."""
    _one_line(fields[0], name)
    _one_line(fields[1], address)
    if not _ADDRESS.fullmatch(address):
        raise MailError(
            f"the {fields[1]} is not an e-mail address (ASCII, one '@'): fix it in the "
            "roster or the settings"
        )
    return formataddr((name, address), charset="utf-8")


@functools.lru_cache(maxsize=256)  # the sender is the same for a whole cohort
def _parsed_mailbox(fields: tuple[str, str, str], value: str) -> str:
    _one_line(fields[2], value)
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise MailError(f"the {fields[2]} must be exactly one address")
    name, address = parsed[0]
    return _mailbox(fields, name, address)


def check_mailbox(value: str) -> str:
    """``value`` (``"Name <address>"`` or an address) as a message's From would carry it.

    Raises:
        MailError: it is not exactly one ASCII address on one line.
    """
    return _parsed_mailbox(("name", "address", "value"), value)


def _part(
    content_type: str, encoding: str, payload: str, disposition: str | None = None
) -> Message:
    part = EmailMessage(policy=WIRE_POLICY)
    part["Content-Type"] = content_type
    part["Content-Transfer-Encoding"] = encoding
    if disposition is not None:
        part["Content-Disposition"] = disposition
    part.set_payload(payload)
    return part


def _body(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload) of a text body: 7bit if it can be, else base64."""
    if text.isascii() and (
        len(text) <= _MAX_7BIT_LINE or max(map(len, _lf(text).split("\n"))) <= _MAX_7BIT_LINE
    ):
        return "7bit", text
    data = _crlf(text).encode("utf-8")
    return "base64", base64.encodebytes(data).decode("ascii")


def _lf(text: str) -> str:
    """``text`` with every line break (CR LF, CR or LF) as LF."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _crlf(text: str) -> str:
    """``text`` with every line break (CR LF, CR or LF) as CR LF."""
    return _lf(text).replace("\n", "\r\n")


def _date_header(date: datetime) -> str:
    # Keyed on the offset too: equal instants in two time zones are equal datetimes.
    return _format_date(date, date.utcoffset())


@functools.lru_cache(maxsize=64)  # a week's messages share their Date
def _format_date(date: datetime, offset: object) -> str:
    del offset
    return format_datetime(date)


def _text_part(text: str, subtype: str) -> Message:
    return _part(f'text/{subtype}; charset="utf-8"', *_body(text))


def _attachment_part(attachment: Attachment) -> Message:
    params = "".join(f'; {name}="{value}"' for name, value in attachment.params)
    return _part(
        f"{attachment.maintype}/{attachment.subtype}{params}",
        "base64",
        base64.encodebytes(attachment.data).decode("ascii"),
        disposition=f'attachment; filename="{attachment.filename}"',
    )


def build_message(
    *,
    sender: str,
    recipient_name: str,
    recipient_email: str,
    subject: str,
    text: str,
    html: str,
    message_key: str,
    domain: str,
    date: datetime,
    attachments: Sequence[Attachment] = (),
    reply_to: str | tuple[str, str] | None = None,
) -> EmailMessage:
    """Return the complete message for one recipient.

    Args:
        sender: the From header, e.g. ``"Tandem Mentoring <mentoring@example.org>"``.
        recipient_name, recipient_email: the single recipient (To); the address is ASCII.
        subject: one line.
        text, html: the two renderings of the same content.
        message_key: unique and stable per message; determines Message-ID and boundaries.
        domain: the right-hand side of the Message-ID.
        date: the Date header; aware. Passed in, never read from the clock.
        attachments: e.g. :func:`calendar_attachment` of an invitation.
        reply_to: an optional Reply-To header: its value, or (name, address).

    The message carries ``Auto-Submitted: auto-generated`` so that auto-responders stay
    quiet. ASCII bodies with lines of at most 998 characters are sent as 7bit (readable in
    the ``.eml``), anything else as base64. Its policy is :data:`WIRE_POLICY`.

    Raises:
        MailError: a header value has a line break, an address or the domain is invalid,
            the key is empty, or ``date`` is naive.
    """
    message_id, digest = _identify(message_key, domain, date)
    message = EmailMessage(policy=WIRE_POLICY)
    for name, value in _headers(
        sender, recipient_name, recipient_email, subject, date, message_id, reply_to
    ):
        message[name] = value
    # Fixed boundaries derived from the key keep the bytes reproducible (the generator's
    # default is random). A body cannot contain them by chance: 7bit bodies would need to
    # contain this very digest, and base64 never contains '_'.
    alternative = f'multipart/alternative; boundary="=_alt_{digest[:40]}"'
    bodies: list[Message | str] = [_text_part(text, "plain"), _text_part(html, "html")]
    if not attachments:
        message["Content-Type"] = alternative
        message.set_payload(bodies)
        return message
    body = EmailMessage(policy=WIRE_POLICY)
    body["Content-Type"] = alternative
    body.set_payload(bodies)
    message["Content-Type"] = f'multipart/mixed; boundary="=_mix_{digest[:40]}"'
    parts: list[Message | str] = [body, *(_attachment_part(a) for a in attachments)]
    message.set_payload(parts)
    return message


def message_wire(
    *,
    sender: str,
    recipient_name: str,
    recipient_email: str,
    subject: str,
    text: str,
    html: str,
    message_key: str,
    domain: str,
    date: datetime,
    reply_to: str | tuple[str, str] | None = None,
) -> tuple[str, bytes]:
    """Return the Message-ID and the wire bytes of a message without attachments.

    The same as ``message_bytes(build_message(...))`` for the same arguments (and the same
    errors), written straight from strings without building the message objects: the
    fast path for filling the outbox. Anything the direct writer does not handle (a
    header that must be folded or is not ASCII after encoding) goes the long way.
    """
    message_id, digest = _identify(message_key, domain, date)
    boundary = f"=_alt_{digest[:40]}"
    headers = [
        *_headers(sender, recipient_name, recipient_email, subject, date, message_id, reply_to),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    out: list[str] = []
    for name, value in headers:
        if (
            not value.isascii()
            or "\n" in value
            or "\r" in value
            or len(value) > _MAX_7BIT_LINE - 80
        ):
            message = build_message(
                sender=sender,
                recipient_name=recipient_name,
                recipient_email=recipient_email,
                subject=subject,
                text=text,
                html=html,
                message_key=message_key,
                domain=domain,
                date=date,
                reply_to=reply_to,
            )
            return message_id, message_bytes(message)
        out.append(f"{name}: {value}\r\n")
    out.append("\r\n")
    for index, (body, subtype) in enumerate(((text, "plain"), (html, "html"))):
        encoding, payload = _body(body)
        out.append(f"--{boundary}\r\n" if index == 0 else f"\r\n--{boundary}\r\n")
        out.append(
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
        )
        out.append(_crlf(payload))
    out.append(f"\r\n--{boundary}--\r\n")
    return message_id, "".join(out).encode("ascii")


def message_bytes(message: Message) -> bytes:
    """Return the wire form of ``message`` with CRLF line endings.

    Messages from :func:`build_message` are written directly, about ten times faster than
    :meth:`~email.message.Message.as_bytes`; any other message (another policy, non-ASCII
    or over-long header text, a part without boundary) goes through the standard
    generator. Both give the same message when parsed.
    """
    if message.policy is WIRE_POLICY:
        chunks: list[str] = []
        if _write_wire(message, chunks):
            return "".join(chunks).encode("ascii")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _write_wire(part: Message, out: list[str]) -> bool:
    """Append ``part`` to ``out``; False when it needs the standard generator."""
    boundary: str | None = None
    for name, value in part.items():
        if not isinstance(value, str) or not value.isascii():
            return False
        if "\n" in value or "\r" in value or len(value) > _MAX_7BIT_LINE - 80:
            lines = _NEWLINES.split(value)
            if any(len(line) > _MAX_7BIT_LINE - len(name) - 2 for line in lines) or any(
                not line[:1].isspace() for line in lines[1:]
            ):
                return False
            value = "\r\n".join(lines)
        elif name.lower() == "content-type" and value.startswith("multipart/"):
            found = _BOUNDARY.search(value)
            boundary = found.group(1) if found else None
        out.append(f"{name}: {value}\r\n")
    out.append("\r\n")
    payload = part.get_payload()
    if isinstance(payload, list):
        if boundary is None:
            return False
        for index, child in enumerate(payload):
            out.append(f"--{boundary}\r\n" if index == 0 else f"\r\n--{boundary}\r\n")
            if not isinstance(child, Message) or not _write_wire(child, out):
                return False
        out.append(f"\r\n--{boundary}--\r\n")
        return True
    if not isinstance(payload, str) or not payload.isascii():
        return False
    out.append(_crlf(payload))
    return True
