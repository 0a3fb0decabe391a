from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.program.outbox.mail import (
    Attachment,
    MailError,
    build_message,
    calendar_attachment,
    message_bytes,
    message_id_for,
    message_wire,
)

DATE = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
ICS = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


VALUES: dict[str, Any] = {
    "sender": "Tandem Mentoring <mentoring@example.org>",
    "recipient_name": "Zoë Ångström",
    "recipient_email": "zoe@example.org",
    "subject": "Week 3 — Writing your first paper",
    "text": "Hello Zoë,\n\nthis week: writing.\n",
    "html": "<p>Hello Zoë,</p><p>this week: writing.</p>",
    "message_key": "cohort-1/pair-17/week-3/weekly/mentee",
    "domain": "mentoring.example.org",
    "date": DATE,
}


def build(**overrides):
    return build_message(**(VALUES | overrides))


def parse(data: bytes):
    return message_from_bytes(data, policy=default)


def test_message_id_is_stable_and_derived_from_the_key():
    key = "cohort-1/pair-17/week-3/weekly/mentee"
    expected = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@mentoring.example.org>"
    assert message_id_for(key, "mentoring.example.org") == expected
    assert build()["Message-ID"] == expected
    assert build(subject="Other")["Message-ID"] == expected
    assert build(message_key="other")["Message-ID"] != expected


def test_alternative_text_and_html():
    parsed = parse(message_bytes(build()))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain == "Hello Zoë,\n\nthis week: writing.\n"
    assert "<p>Hello Zoë,</p>" in parsed.get_body(("html",)).get_content()
    assert parsed["Subject"] == "Week 3 — Writing your first paper"
    assert parsed["To"].addresses[0].display_name == "Zoë Ångström"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.org"
    assert parsed["From"] == "Tandem Mentoring <mentoring@example.org>"
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_date_is_the_one_passed_in():
    berlin = timezone(timedelta(hours=1))
    assert build()["Date"] == "Mon, 10 Mar 2025 07:00:00 +0000"
    assert build(date=DATE.astimezone(berlin))["Date"] == "Mon, 10 Mar 2025 08:00:00 +0100"
    assert parse(message_bytes(build()))["Date"].datetime == DATE


def test_same_input_gives_the_same_bytes():
    attachments = [calendar_attachment(ICS)]
    assert message_bytes(build(attachments=attachments)) == message_bytes(
        build(attachments=attachments)
    )
    assert message_bytes(build()) == message_bytes(build())
    assert build().as_bytes() == build().as_bytes()


def test_calendar_attachment():
    parsed = parse(message_bytes(build(attachments=[calendar_attachment(ICS)])))
    assert parsed.get_content_type() == "multipart/mixed"
    body, invite = list(parsed.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    assert invite.get_content_type() == "text/calendar"
    assert invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "invite.ics"
    assert invite.get_content().encode() == ICS
    assert parsed.get_body(("plain",)).get_content().startswith("Hello")


def test_lines_end_with_crlf():
    data = message_bytes(build(attachments=[calendar_attachment(ICS)], text="a\nb\rc\r\n"))
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.org"}, "line break"),
        ({"recipient_name": "Eve\nBcc: x@example.org"}, "line break"),
        ({"recipient_email": "not an address"}, "not an e-mail address"),
        ({"message_key": ""}, "message key is empty"),
        ({"domain": "bad domain"}, "not a host name"),
        ({"date": datetime(2025, 3, 10, 7, 0)}, "time-zone aware"),
    ],
)
def test_invalid_values_are_refused(overrides, message):
    with pytest.raises(MailError, match=message):
        build(**overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"recipient_name": "Mentor\nSubject: pwned"}, "the recipient's name contains a line"),
        ({"recipient_email": "ana@uni.edu\nBcc: x@y.org"}, "the recipient's address contains"),
        ({"recipient_email": "anä@uni.edu"}, "the recipient's address is not an e-mail"),
        ({"sender": "Ana Lopez <ana@uni.edu>, b@y.org"}, "the sender (the cohort's --sender)"),
        ({"reply_to": ("Ana Lopez", "josé@exämple.org")}, "the coordinator's address (Reply-To)"),
        ({"reply_to": ("Ana\rLopez", "ana@uni.edu")}, "the coordinator's name (Reply-To)"),
        ({"subject": "Hi Ana Lopez\r\nBcc: x@y.org"}, "the subject contains a line break"),
    ],
)
def test_a_refusal_names_the_part_and_never_quotes_its_value(overrides, message):
    """The reason is stored and shown to the coordinator: the values are personal data."""
    with pytest.raises(MailError, match="^" + re.escape(message)) as refused:
        build(**overrides)
    value = next(iter(overrides.values()))
    for part in value if isinstance(value, tuple) else (value,):
        for word in ("Ana", "ana@", "josé", "anä", "Mentor"):
            if word in part:
                assert word not in str(refused.value)


def test_attachment_validation():
    with pytest.raises(ValueError, match="bare ASCII file name"):
        Attachment(filename="../x.ics", maintype="text", subtype="calendar", data=b"")
    with pytest.raises(ValueError, match="MIME type token"):
        Attachment(filename="x.ics", maintype="text/plain", subtype="calendar", data=b"")


def summary(data: bytes) -> list[object]:
    """What a reader sees: every header decoded, every leaf part's content."""
    parsed = parse(data)
    seen: list[object] = [sorted((k, str(v)) for k, v in parsed.items())]
    for part in parsed.walk():
        seen.append(sorted((k, str(v)) for k, v in part.items()))
        if not part.is_multipart():
            content = part.get_content()
            seen.append(content.replace("\r\n", "\n") if isinstance(content, str) else content)
    return seen


VARIANTS: list[dict[str, Any]] = [
    {},
    {"attachments": [calendar_attachment(ICS)]},
    {"subject": ("A plain subject that is long enough to need folding " * 3).strip()},
    {"subject": "Woche 3 — Über das Schreiben " * 4},
    {"text": "plain ascii\n" + "x" * 2000 + "\n", "html": "<p>grüße</p>"},
    {"text": "From here on\n.a line with a dot\n", "reply_to": "Büro <office@example.org>"},
    {"recipient_name": 'Doe, "Jay"', "sender": "mentoring@example.org"},
]


@pytest.mark.parametrize("overrides", VARIANTS)
def test_fast_writer_and_standard_generator_agree(overrides):
    built = build(**overrides)
    fast = message_bytes(built)
    standard = built.as_bytes()
    assert summary(fast) == summary(standard)
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998
    assert fast.isascii()


def test_bodies_are_readable_when_ascii_else_base64():
    parsed = parse(message_bytes(build(text="Hello\n", html="<p>Grüße</p>")))
    plain, html = parsed.iter_parts()
    assert plain["Content-Transfer-Encoding"] == "7bit"
    assert html["Content-Transfer-Encoding"] == "base64"
    assert html.get_content() == "<p>Grüße</p>"


def test_other_messages_use_the_standard_generator():
    from email.message import EmailMessage
    from email.policy import SMTP

    other = EmailMessage(policy=SMTP)
    other["Subject"] = "Grüße"
    other.set_content("Hallo")
    assert message_bytes(other) == other.as_bytes()


def wire(**overrides):
    return message_wire(**(VALUES | overrides))


# message_wire has neither attachments nor Reply-To: the outbox uses build_message for those
DIRECT = [v for v in VARIANTS if not {"attachments", "reply_to"} & set(v)]


@pytest.mark.parametrize("overrides", DIRECT)
def test_direct_writer_gives_the_same_bytes(overrides):
    built = build(**overrides)
    assert wire(**overrides) == (str(built["Message-ID"]), message_bytes(built))


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
LINES = st.lists(
    st.one_of(TEXT, st.sampled_from(["", "x" * 998, "y" * 999, "ü" * 500])), max_size=5
).flatmap(lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda nl: nl.join(lines)))


@settings(max_examples=150, deadline=None)
@given(
    name=st.one_of(st.sampled_from(["Ana", 'Doe, "Jay"', "Zoë"]), TEXT),
    subject=st.one_of(TEXT, st.text(max_size=300)),
    text=LINES,
    html=LINES,
)
def test_direct_writer_agrees_with_building_the_message(name, subject, text, html):
    """For any input, the fast path gives exactly the bytes (or the error) of the long way."""
    values = {"recipient_name": name, "subject": subject, "text": text, "html": html}
    try:
        built = build(**values)
    except MailError as error:
        with pytest.raises(MailError, match="^" + re.escape(str(error)) + "$"):
            wire(**values)
        return
    assert wire(**values) == (str(built["Message-ID"]), message_bytes(built))
