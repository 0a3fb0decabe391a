"""One-page certificates for people: HTML (Jinja2) and PDF (fpdf2).

Both show the certificate id and plain instructions for verifying the signed credential
file that accompanies them. The wording lives in ``templates/certificate.html.j2`` and
``templates/certificate.pdf.j2``; this module only lays it out.

The PDF uses the built-in Helvetica/Courier fonts unless a TrueType font file is given:
those cover Latin-1 only, so other characters are reduced to their closest Latin-1 form
(accents dropped, typographic punctuation simplified, otherwise ``?``). Pass ``font_path``
(for example a DejaVu Sans file) to print every character as written.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from tandem.program.certify.credentials import CertificateFacts, IssuerProfile, credential_filename
from tandem.program.errors import ProgramError

if TYPE_CHECKING:
    from fpdf import FPDF


class CertificateDocumentError(ProgramError):
    """A certificate document cannot be produced."""


class VerificationHint(BaseModel):
    """What a reader needs to verify: the signed file's name and where the keys are."""

    model_config = ConfigDict(frozen=True)

    credential_file: str = Field(min_length=1)
    jwks_url: str | None = None
    revocations_url: str | None = None


def verification_hint_for(
    facts: CertificateFacts, jwks_url: str | None = None, revocations_url: str | None = None
) -> VerificationHint:
    """The hint for ``facts``' credential file (named by :func:`credential_filename`)."""
    return VerificationHint(
        credential_file=credential_filename(facts.credential_id),
        jwks_url=jwks_url,
        revocations_url=revocations_url,
    )


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("tandem.program.certify", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render_certificate_html(
    facts: CertificateFacts, issuer: IssuerProfile, verification_hint: VerificationHint
) -> str:
    """The certificate as a self-contained one-page HTML document (A4 print layout)."""
    template = _ENV.get_template("certificate.html.j2")
    return template.render(facts=facts, issuer=issuer, hint=verification_hint)


# Style name -> (font family role, style, size in pt, line height in mm, alignment).
_STYLES: dict[str, tuple[str, str, float, float, str]] = {
    "issuer": ("sans", "B", 12, 7, "C"),
    "title": ("sans", "B", 22, 11, "C"),
    "body": ("sans", "", 11, 5.5, "C"),
    "name": ("sans", "B", 24, 13, "C"),
    "heading": ("sans", "B", 12, 8, "L"),
    "para": ("sans", "", 10.5, 5.5, "L"),
    "field": ("sans", "", 10.5, 5.5, "L"),
    "mono": ("mono", "", 10, 5.5, "L"),
    "small": ("sans", "", 9, 4.6, "L"),
    "gap": ("sans", "", 6, 4, "L"),
}
_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u0141": "L",  # letters NFKD does not decompose
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0131": "i",
        "\u0152": "OE",
        "\u0153": "oe",
    }
)


def _to_latin1(text: str) -> str:
    out = []
    for char in text.translate(_PUNCTUATION):
        try:
            char.encode("latin-1")
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        try:
            out.append(base.encode("latin-1").decode("latin-1") if base else "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out)


def _paragraphs(text: str) -> list[tuple[str, str]]:
    """Split the rendered PDF template into (style, text) paragraphs."""
    paragraphs: list[tuple[str, str]] = []
    for line in text.splitlines():
        style, sep, content = line.partition("|")
        if sep and style in _STYLES:
            paragraphs.append((style, content.strip()))
        elif line.strip() and paragraphs:  # a value that contained a line break
            last_style, last_text = paragraphs[-1]
            paragraphs[-1] = (last_style, f"{last_text} {line.strip()}")
    return paragraphs


def _layout(
    paragraphs: list[tuple[str, str]],
    facts: CertificateFacts,
    issuer: IssuerProfile,
    scale: float,
    font_path: Path | None,
) -> FPDF:
    from fpdf import FPDF  # imported here: fpdf takes a second to load, and few commands need it

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(f"{facts.achievement_name}: {facts.mentor_name}")
    pdf.set_author(issuer.name)
    pdf.set_subject(facts.credential_id)
    pdf.set_creator("Tandem")
    pdf.set_creation_date(facts.issued_at)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=15)
    families = {"sans": "Helvetica", "mono": "Courier"}
    if font_path is not None:
        for style in ("", "B"):
            pdf.add_font("certificate", style=style, fname=str(font_path))
        families = {"sans": "certificate", "mono": "certificate"}
    pdf.add_page()
    pdf.set_draw_color(29, 78, 137)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    for style_name, text in paragraphs:
        role, style, size, height, align = _STYLES[style_name]
        if style_name == "heading":
            pdf.ln(2 * scale)
        pdf.set_font(families[role], style=style, size=size * scale)
        shown = text if font_path is not None else _to_latin1(text)
        pdf.multi_cell(0, height * scale, shown, align=align, new_x="LMARGIN", new_y="NEXT")
    return pdf


def render_certificate_pdf(
    facts: CertificateFacts,
    issuer: IssuerProfile,
    verification_hint: VerificationHint,
    font_path: Path | None = None,
) -> bytes:
    """The certificate as a one-page A4 PDF.

    Long criteria are set in a smaller size until everything fits on one page. Raises
    :class:`CertificateDocumentError` if it still does not fit at 60 % of the normal size.
    """
    text = _ENV.get_template("certificate.pdf.j2").render(
        facts=facts, issuer=issuer, hint=verification_hint
    )
    paragraphs = _paragraphs(text)
    for scale in (1.0, 0.9, 0.8, 0.7, 0.6):
        pdf = _layout(paragraphs, facts, issuer, scale, font_path)
        if pdf.pages_count == 1:
            return bytes(pdf.output())
        if pdf.pages_count > 3:  # the height shrinks with scale squared: 0.6 fits < 2.8 pages
            break
    raise CertificateDocumentError(
        f"certificate {facts.credential_id} does not fit on one page even in small print; "
        "shorten the achievement description or the criteria narrative"
    )
