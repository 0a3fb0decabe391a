"""One-page HTML and PDF certificates with the id and how to verify."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import zlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tandem.program.certify.credentials import CertificateFacts, IssuerProfile
from tandem.program.certify.document import (
    CertificateDocumentError,
    VerificationHint,
    render_certificate_html,
    render_certificate_pdf,
    verification_hint_for,
)

ISSUER = IssuerProfile(
    id="https://mentoring.example.edu/issuer",
    name="Example University Research Mentoring Program",
    url="https://mentoring.example.edu",
)
CREDENTIAL_ID = "urn:uuid:6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11"


def make_facts(**changes: Any) -> CertificateFacts:
    values: dict[str, Any] = {
        "credential_id": CREDENTIAL_ID,
        "mentor_name": "Ada Lovelace",
        "mentor_email": "ada@example.edu",
        "email_salt": "salt",
        "achievement_id": "https://mentoring.example.edu/achievements/mentor",
        "achievement_name": "Certified Research Mentor",
        "achievement_description": "Completed the 16-week guided research mentoring program.",
        "criteria_narrative": "Met with the assigned mentee in at least 12 of 16 weeks.",
        "cohort_name": "Spring 2026",
        "program_start": date(2026, 1, 12),
        "program_end": date(2026, 5, 1),
        "weeks_met": 14,
        "weeks_total": 16,
        "issued_at": datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
    }
    values.update(changes)
    return CertificateFacts(**values)


HINT = VerificationHint(
    credential_file="6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11.jwt",
    jwks_url="https://mentoring.example.edu/.well-known/jwks.json",
    revocations_url="https://mentoring.example.edu/revocations.jwt",
)


def pdf_text(pdf: bytes) -> str:
    """The text drawn by every content stream (fpdf2 writes it as ``(...) Tj``)."""
    chunks: list[str] = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        body = match.group(1)
        with contextlib.suppress(zlib.error):
            body = zlib.decompress(body)
        chunks.extend(m.decode("latin-1") for m in re.findall(rb"\((.*?)\) ?Tj", body))
    return " ".join(chunks).replace("\\(", "(").replace("\\)", ")")


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


def test_hint_names_the_credential_file() -> None:
    hint = verification_hint_for(make_facts(), jwks_url=HINT.jwks_url)
    assert hint.credential_file == "6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11.jwt"


def test_html_has_the_id_and_how_to_verify() -> None:
    html = render_certificate_html(make_facts(), ISSUER, HINT)
    assert html.startswith("<!DOCTYPE html>")
    assert CREDENTIAL_ID in html
    assert "Ada Lovelace" in html
    assert "How to verify this certificate" in html
    assert (
        "tandem verify 6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11.jwt --jwks KEYS.json "
        "--revocations REVOCATIONS.jwt" in html
    )
    assert HINT.jwks_url is not None
    assert HINT.jwks_url in html
    assert "14 of 16" in html
    assert "ada@example.edu" not in html


def test_html_escapes_names() -> None:
    html = render_certificate_html(make_facts(mentor_name="<b>Eve</b> & Co"), ISSUER, HINT)
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; Co" in html
    assert "<b>Eve" not in html


def test_pdf_is_one_page_with_the_id_and_instructions() -> None:
    pdf = render_certificate_pdf(make_facts(), ISSUER, HINT)
    assert pdf.startswith(b"%PDF-")
    assert page_count(pdf) == 1
    text = pdf_text(pdf)
    assert CREDENTIAL_ID in text
    assert "Ada Lovelace" in text
    assert "How to verify this certificate" in text
    assert "tandem verify 6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11.jwt" in text


def test_pdf_is_deterministic() -> None:
    assert render_certificate_pdf(make_facts(), ISSUER, HINT) == render_certificate_pdf(
        make_facts(), ISSUER, HINT
    )


def test_pdf_shrinks_long_criteria_to_one_page_and_refuses_absurd_ones() -> None:
    long = " ".join(["Met the mentee weekly and kept a written record of goals."] * 40)
    pdf = render_certificate_pdf(make_facts(criteria_narrative=long), ISSUER, HINT)
    assert page_count(pdf) == 1
    with pytest.raises(CertificateDocumentError, match="does not fit on one page"):
        render_certificate_pdf(make_facts(criteria_narrative=long * 10), ISSUER, HINT)


def test_pdf_survives_names_outside_latin1() -> None:
    facts = make_facts(mentor_name="Łukasz Żółć – 李雷", criteria_narrative="Line one\nline two")
    text = pdf_text(render_certificate_pdf(facts, ISSUER, HINT))
    assert "Lukasz Zólc - ??" in text
    assert "Line one line two" in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed")
def test_pdf_renders_as_exactly_one_image(tmp_path: Path) -> None:
    pdf_path = tmp_path / "certificate.pdf"
    pdf_path.write_bytes(render_certificate_pdf(make_facts(), ISSUER, HINT))
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(pdf_path), str(tmp_path / "page")], check=True
    )
    assert len(list(tmp_path.glob("page*.png"))) == 1
