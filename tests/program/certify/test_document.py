"""One-page HTML and PDF certificates with the id and how to verify."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tandem.program.certify.credentials import CertificateFacts, IssuerProfile
from tandem.program.certify.document import (
    MAX_PRINTED_NAME,
    CertificateDocumentError,
    VerificationHint,
    render_certificate_html,
    render_certificate_pdf,
    verification_hint_for,
)
from tandem.program.roster.parse import MAX_NAME_LENGTH

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


NEEDS_POPPLER = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) is not installed",
)


def pdf_text(pdf: bytes) -> str:
    """The text a PDF reader extracts (pdftotext), lines joined by spaces."""
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    text = done.stdout.decode("utf-8")
    # pdftotext marks right-to-left runs with embedding controls: compare the letters.
    return " ".join(text.translate(dict.fromkeys(range(0x202A, 0x202F))).split())


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


@NEEDS_POPPLER
def test_pdf_is_one_page_with_the_id_and_instructions() -> None:
    pdf = render_certificate_pdf(make_facts(), ISSUER, HINT)
    assert pdf.startswith(b"%PDF-")
    assert page_count(pdf) == 1
    text = pdf_text(pdf)
    assert CREDENTIAL_ID in text
    assert "Ada Lovelace" in text
    assert "How to verify this certificate" in text
    assert "tandem verify 6f1c6a4e-2f1b-4c55-9d57-1b8c2d0e9a11.jwt" in text


def test_html_declares_utf8_and_fonts_for_every_script() -> None:
    html = render_certificate_html(make_facts(mentor_name="محمد عبد الله"), ISSUER, HINT)
    assert '<meta charset="utf-8">' in html
    for family in ('"Noto Sans"', '"Noto Sans Arabic"', '"Noto Sans CJK SC"', "sans-serif"):
        assert family in html
    assert '<div class="name" dir="auto">محمد عبد الله</div>' in html
    assert "<bdi>محمد عبد الله</bdi>" in html


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


@NEEDS_POPPLER
@pytest.mark.parametrize(
    "name",
    [
        "李小龙",
        "山田太郎",
        "김민준",
        "محمد عبد الله",
        "Анна Павлова",
        "Αλέξανδρος",
        "דוד כהן",
        "Łukasz Żółć – “Ada”",
        "ભાવેશ પટેલ",
        "முத்துக்குமார்",
        "శ్రీనివాస్",
        "ಕೃಷ್ಣ",
        "චාමින්ද",
        "สมชาย ใจดี",
        "ສົມພອນ",
        "សុខា",
        "አበበ ቢቂላ",
        "ნინო",
        "Արամ",
    ],
)
def test_pdf_prints_names_in_every_script(name: str) -> None:
    facts = make_facts(mentor_name=name, criteria_narrative="Line one\nline two")
    pdf = render_certificate_pdf(facts, ISSUER, HINT)
    assert page_count(pdf) == 1
    text = pdf_text(pdf)
    assert f"This certifies that {name} has earned" in text
    assert f"names {CREDENTIAL_ID} and {name}." in text
    assert "Line one line two" in text


def test_pdf_embeds_only_the_fonts_the_text_needs() -> None:
    latin = render_certificate_pdf(make_facts(), ISSUER, HINT)
    chinese = render_certificate_pdf(make_facts(mentor_name="李小龙"), ISSUER, HINT)
    assert b"+NotoSansBold" in latin
    assert b"DroidSansFallback" not in latin
    assert b"DroidSansFallback" in chinese
    assert len(chinese) < 60_000  # fonts are subset to the glyphs used


@pytest.mark.parametrize(
    ("name", "font"),
    [
        ("Ravi शर्मा", b"NotoSansDevanagari"),
        ("रवि शर्मा", b"NotoSansDevanagari"),
        ("সৌমিত্র চট্টোপাধ্যায়", b"NotoSansBengali"),
        ("ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ", b"NotoSansGurmukhi"),
        ("ସୁଭାଷ", b"NotoSansOriya"),
        ("ശ്രീലക്ഷ്മി", b"NotoSansMalayalam"),
        ("အောင်ဆန်း", b"NotoSansMyanmar"),
    ],
)
def test_pdf_embeds_the_font_of_each_script(name: str, font: bytes) -> None:
    """Names that are shaped and printed but that text extraction does not give back
    verbatim (a vowel sign before its consonant, a space added after a change of font),
    so the font is what is checked here."""
    pdf = render_certificate_pdf(make_facts(mentor_name=name), ISSUER, HINT)
    assert font in pdf
    assert b"DroidSansFallback" not in pdf


def test_pdf_refuses_characters_no_font_has() -> None:
    facts = make_facts(mentor_name="Ada \U00013000 Lovelace")  # an Egyptian hieroglyph
    with pytest.raises(CertificateDocumentError) as info:
        render_certificate_pdf(facts, ISSUER, HINT)
    assert str(info.value) == (
        "the certificate fonts have no glyph for U+13000 (EGYPTIAN HIEROGLYPH A001); correct "
        "the name in the roster (tandem import) and issue the certificate again"
    )


@NEEDS_POPPLER
def test_pdf_sets_a_long_name_smaller_on_one_page() -> None:
    name = " ".join(["Wolfeschlegelsteinhausenbergerdorff"] * 8)[:MAX_PRINTED_NAME]
    pdf = render_certificate_pdf(make_facts(mentor_name=name), ISSUER, HINT)
    assert page_count(pdf) == 1
    assert name.split()[-1] in pdf_text(pdf)
    wide = "龍" * MAX_PRINTED_NAME  # the widest characters, as many as allowed
    assert page_count(render_certificate_pdf(make_facts(mentor_name=wide), ISSUER, HINT)) == 1


def test_pdf_refuses_a_name_longer_than_a_certificate_shows() -> None:
    with pytest.raises(CertificateDocumentError) as info:
        render_certificate_pdf(make_facts(mentor_name="A" * 5000), ISSUER, HINT)
    assert str(info.value) == (
        f"certificate {CREDENTIAL_ID}: the mentor's name has 5,000 characters, more than a "
        "certificate can show (300); shorten it in the roster and import it again"
    )


def test_roster_refuses_names_a_certificate_cannot_show() -> None:
    assert MAX_NAME_LENGTH <= MAX_PRINTED_NAME


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed")
def test_pdf_renders_as_exactly_one_image(tmp_path: Path) -> None:
    pdf_path = tmp_path / "certificate.pdf"
    pdf_path.write_bytes(render_certificate_pdf(make_facts(), ISSUER, HINT))
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(pdf_path), str(tmp_path / "page")], check=True
    )
    assert len(list(tmp_path.glob("page*.png"))) == 1


def test_fonts_parsed_once_a_process_give_the_pdf_fpdf2_gives_parsing_them_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each document gets its own copy of the fonts parsed once (its own widths, glyphs
    used and subset): the same bytes, document after document, in every script."""
    from tandem.program.certify import document

    names = ["Ada Lovelace", "Ада Ловелас عائشة 李小龙 דוד", "Grace Hopper"]
    cached = [render_certificate_pdf(make_facts(mentor_name=n), ISSUER, HINT) for n in names * 2]
    assert document._parsed_font.cache_info().hits > 0
    assert cached[: len(names)] == cached[len(names) :]

    def parse_each_time(pdf: Any, family: str, style: str, path: str) -> None:
        pdf.add_font(family, style=style, fname=path)

    monkeypatch.setattr(document, "_add_font", parse_each_time)
    assert [
        render_certificate_pdf(make_facts(mentor_name=n), ISSUER, HINT) for n in names
    ] == cached[: len(names)]
